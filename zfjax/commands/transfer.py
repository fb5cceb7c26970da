r"""`python -m zfjax transfer PROTOCOL`: the paper's transfer protocols
(ZF §5.2, Tables 4, 5, 7, Fig. 9), one command each.

  # Table 4: 15 and 30 images per class, 5 random splits, pretrained and
  # from scratch; mean per-class accuracy +- std over the splits
  python -m zfjax transfer caltech101 --from_workdir workdir/zfnet \
      --out workdir/caltech101
  # Table 5 and Fig. 9: 15/30/45/60 per class, and the curve over 1-60
  python -m zfjax transfer caltech256 --from_workdir workdir/zfnet \
      --out workdir/caltech256 --counts 1,2,3,5,10,15,20,30,45,60
  # Table 7: softmax on train, AP per class and mean on validation, plus a
  # per-class sigmoid (logistic) head on the same cached features
  python -m zfjax transfer voc2012 --from_workdir workdir/zfnet \
      --out workdir/voc2012
  # The built-in analogue (minutes on a CPU)
  python -m zfjax transfer shapes_novel --from_workdir workdir/synthetic \
      --out workdir/novel

Every run is a training run in its own workdir under --out (rerunning
resumes, finished runs are only evaluated) with the architecture and input
size of the --from_workdir run. `--noscratch` or `--nopretrained` runs one
kind only (the scratch runs need no --from_workdir). Writes `results.csv`
(one row per run), `summary.csv` (mean and std per count and kind) and
`fig9.png` for the Caltech and built-in protocols, `voc_ap.csv` for VOC;
prints the tables. A signal stops the protocol with the signal's status
after saving the running run's checkpoint.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Sequence

from zfjax.errors import ZfjaxError

PROTOCOLS = ('caltech101', 'caltech256', 'voc2012', 'shapes_novel')


def _ints(text: str) -> tuple[int, ...]:
  try:
    return tuple(int(x) for x in text.split(',') if x)
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'expected comma-separated integers, got {text!r}') from None


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m zfjax transfer',
      description='ZF §5.2 transfer protocols (Tables 4, 5, 7; Fig. 9).',
      epilog=__doc__.split('\n\n', 1)[1],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('protocol', choices=PROTOCOLS)
  parser.add_argument('--from_workdir', default=None,
                      help='the trained run whose layers 1-7 are kept '
                      '(needed unless --nopretrained)')
  parser.add_argument('--out', required=True, help='a directory for the runs')
  parser.add_argument('--counts', type=_ints, default=None,
                      help='training images per class, e.g. 15,30')
  parser.add_argument('--splits', type=int, default=None,
                      help='random splits per count')
  parser.add_argument('--noscratch', action='store_true',
                      help='skip the from-scratch runs')
  parser.add_argument('--nopretrained', action='store_true',
                      help='skip the pretrained runs (Caltech-style '
                      'protocols): only the from-scratch ones')
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--manual_dir', default=None)
  parser.add_argument('--num_epochs', type=int, default=None)
  args = parser.parse_args(argv)
  # pylint: disable=g-import-not-at-top
  from zfjax.analyses import transfer_protocols as protocols
  from zfjax.figures import plots
  from zfjax.figures import tables
  # pylint: enable=g-import-not-at-top
  overrides = {'data_dir': args.data_dir, 'manual_dir': args.manual_dir,
               'num_epochs': args.num_epochs}
  try:
    pretrained = args.protocol == 'voc2012' or not args.nopretrained
    if pretrained and args.from_workdir is None:
      raise ZfjaxError(f'{args.protocol} needs --from_workdir, the trained '
                       f'run to transfer from' + (
                           '' if args.protocol == 'voc2012' else
                           ' (or --nopretrained for the scratch runs only)'))
    if not pretrained and args.noscratch:
      raise ZfjaxError('--nopretrained with --noscratch leaves no run; drop '
                       'one of them')
    if args.protocol == 'voc2012':
      result = protocols.run_voc(args.from_workdir, args.out, **overrides)
      tables.write_voc_ap(os.path.join(args.out, 'voc_ap.csv'), result)
      print(tables.format_voc(result))
      print(f'wrote voc_ap.csv in {args.out}')
      return 0
    counts = args.counts or protocols.DEFAULT_COUNTS[args.protocol]
    splits = args.splits or protocols.DEFAULT_SPLITS[args.protocol]

    def report(r):
      print(f'{r.kind:<10} {r.images_per_class:>3} images/class  split '
            f'{r.split_index}: mean per-class accuracy '
            f'{100 * r.accuracy:.1f} %', flush=True)

    results = protocols.run_caltech_like(
        args.protocol, args.from_workdir, args.out, counts, splits,
        scratch=not args.noscratch, pretrained=pretrained, on_result=report,
        **overrides)
  except protocols.RunStopped as e:
    return 128 + signal.Signals[e.signal].value
  except ZfjaxError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  rows = protocols.summarise(results)
  tables.write_transfer_results(args.out, results, rows)
  plots.transfer_curve(os.path.join(args.out, 'fig9.png'), rows,
                       f'{args.protocol}: mean per-class accuracy over '
                       f'{splits} splits')
  print(tables.format_transfer_summary(rows))
  print(f'wrote results.csv, summary.csv and fig9.png in {args.out}')
  return 0
