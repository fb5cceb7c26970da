"""`visualize.py claims`: the paper's findings measured on this run, each
against a criterion fixed in advance (`zfjax.analyses.claims`)."""

from __future__ import annotations

import argparse
import os
import pathlib

from zfjax.commands import options

# The analyses (JAX, TensorFlow) are imported when the command runs, so
# that `--help` answers at once.


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument(
      '--claims', type=int, nargs='+', choices=range(1, 8),
      default=list(range(1, 8)),
      metavar='N', help='which claims to measure (default: all seven: '
      '1 Fig. 2, 2 Fig. 4, 3 Fig. 5, 4 Fig. 6, 5 Fig. 7, 6 Table 1, '
      '7 §5.2)')
  # Content: which runs claim 4 compares is what its row shows.
  parser.add_argument(
      '--siblings', nargs='+', default=[], metavar='WORKDIR',
      help='claim 4 (Fig. 6): runs of the same data set with another first '
      'layer or without clipping (configs/synthetic_fidelity.py variants)')
  options.neutral(parser.add_argument(
      '--transfer_dir', help='claim 7: where its transfer runs are trained '
      '(default: claims_transfer/ in the --out folder; rerunning reuses '
      'them)'))


def claims_command(args: argparse.Namespace, run,
                   out_dir: pathlib.Path) -> list[pathlib.Path]:
  """Measures the paper's findings on this run (Figs. 2, 4-7, Table 1,
  §5.2), each against a criterion fixed in advance; prints the scorecard
  and writes claims.csv and claims.png. Claims this run cannot be measured
  on say what they need."""
  # pylint: disable=g-import-not-at-top
  from zfjax.analyses import scorecard
  from zfjax.figures import plots
  from zfjax.figures import tables
  from zfjax.training import workdirs
  # pylint: enable=g-import-not-at-top
  # A sibling that is not a run is a mistyped path: said before any work.
  siblings = [workdirs.load_run(path) for path in args.siblings]

  def report(verdict):
    print(f'claim {verdict.claim}: {verdict.status}: {verdict.measured}',
          flush=True)

  # out_dir is a staging folder inside --out, emptied when the files are
  # published: the transfer runs, reused by reruns, live beside it.
  transfer_dir = args.transfer_dir or os.fspath(out_dir.parent /
                                                'claims_transfer')
  verdicts = scorecard.measure(run, args.claims, siblings=siblings,
                               transfer_dir=transfer_dir, on_verdict=report)
  print(tables.format_claims(verdicts))
  title = (f'{os.path.basename(os.path.normpath(run.workdir))}: '
           f'{run.spec.name} on {run.config.dataset}, epoch {run.epoch}; '
           f'{tables.count_claims(verdicts)}')
  return [pathlib.Path(tables.write_claims_csv(out_dir / 'claims.csv',
                                               verdicts)),
          pathlib.Path(plots.claims_page(out_dir / 'claims.png', verdicts,
                                         title))]
