r"""Figures of a trained run, written as PNGs into WORKDIR/figures/ (or --out).

  python visualize.py --workdir workdir/synthetic top9         # ZF Fig. 2
  python visualize.py --workdir DIR top9 --layers conv1 conv5 --maps 9
  python visualize.py --workdir DIR top9 --image_dir my_photos/
  python visualize.py --workdir DIR filters                    # ZF Fig. 6
  python visualize.py --workdir DIR evolution --epochs 1 2 5   # ZF Fig. 4
  python visualize.py --workdir DIR occlusion --files dog.jpg  # ZF Fig. 7
  python visualize.py --workdir DIR invariance                 # ZF Fig. 5
  python visualize.py --workdir DIR correspondence             # ZF Table 1
  python visualize.py --workdir DIR stimulus --layers conv5    # ZF §1.1
  python visualize.py --workdir DIR top9 --rule guided         # other rules
  python visualize.py --workdir DIR atlas                      # all of them
  python visualize.py --workdir DIR claims                     # scorecard

The run's config and its newest checkpoint (or --epoch) are read from the
workdir, which also holds what your own images need (the mean image, the
class names): --files and --image_dir work without the run's data set.
--npz also saves the raw arrays. `COMMAND --help` lists a command's options.

Options that change what a file shows are written into its name (top9 --maps 9
writes top9_conv5_maps9.png beside top9_conv5.png), with a .json record of the
exact command beside it. A command writes nothing until it has finished; a bad
input is one `error:` line and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pathlib
import sys

from zfjax.commands import options
from zfjax.commands import outputs
from zfjax.errors import ZfjaxError

# name -> (help, module, its add-arguments function, its run function).
# Each module imports only the standard library and `options` at its top
# and what it runs inside its run function, so that `--help` and a typo
# answer before NumPy, TensorFlow and JAX load (tests/test_startup.py).
COMMANDS = {
    'top9': ('ZF Fig. 2: top-9 projections and patches per map',
             'zfjax.commands.top9', 'add_top9_arguments', 'top9'),
    'filters': ('ZF Fig. 6: first-layer filters, dead and dominant',
                'zfjax.commands.filters', 'add_arguments', 'filters'),
    'evolution': ('ZF Fig. 4: strongest projection per kept epoch',
                  'zfjax.commands.top9', 'add_evolution_arguments',
                  'evolution'),
    'occlusion': ('ZF Fig. 7: occlusion sensitivity, five panels',
                  'zfjax.commands.occlusion', 'add_arguments',
                  'occlusion_command'),
    'invariance': ('ZF Fig. 5: translation, scale, rotation curves',
                   'zfjax.commands.invariance', 'add_arguments',
                   'invariance_command'),
    'correspondence': ('ZF Table 1: part correspondence',
                       'zfjax.commands.correspondence', 'add_arguments',
                       'correspondence_command'),
    'stimulus': ('ZF §1.1: optimised stimulus per unit (gradient ascent)',
                 'zfjax.commands.stimulus', 'add_arguments',
                 'stimulus_command'),
    'atlas': ('every unit as a browsable static site (Fig. 2, 4-7)',
              'zfjax.commands.atlas', 'add_arguments', 'atlas'),
    'claims': ('the paper\'s findings, each against a fixed criterion',
               'zfjax.commands.claims', 'add_arguments', 'claims_command'),
}
PROG = 'visualize.py'


def _module(name: str):
  return importlib.import_module(COMMANDS[name][1])


def build_parser() -> argparse.ArgumentParser:
  parser = options.Parser(
      prog=PROG, description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  options.neutral(parser.add_argument(
      '--workdir', required=True,
      help="a training run's workdir (train.py --workdir)"))
  # --epoch, --npz and --out are accepted before or after the command;
  # after it, SUPPRESS leaves the value from before alone unless given.
  shared = argparse.ArgumentParser(add_help=False)
  for target, unset in ((parser, None), (shared, argparse.SUPPRESS)):
    target.add_argument('--epoch', type=int, default=unset,
                        help='use the end-of-epoch checkpoint of this epoch '
                        '(default: the newest checkpoint)')
    options.neutral(target.add_argument(
        '--npz', action='store_true', default=unset or False,
        help='also save the raw arrays as .npz'))
    options.neutral(target.add_argument(
        '--out', metavar='DIR', default=unset,
        help='folder for the files (default: WORKDIR/figures); each file '
        'is named after the options that changed its content and has a '
        '.json record of the command beside it'))
  commands = parser.add_subparsers(dest='command', required=True,
                                   metavar='COMMAND')
  for name, (help_text, _, add_arguments, run) in COMMANDS.items():
    module = _module(name)
    sub = commands.add_parser(name, help=help_text, parents=[shared],
                              description=getattr(module, run).__doc__)
    getattr(module, add_arguments)(sub)
  return parser


def _actions(parser: argparse.ArgumentParser, command: str):
  """The options of the top level and of `command`, in that order."""
  sub = next(a for a in parser._actions  # pylint: disable=protected-access
             if isinstance(a, argparse._SubParsersAction))  # pylint: disable=protected-access
  return (list(parser._actions)  # pylint: disable=protected-access
          + list(sub.choices[command]._actions))  # pylint: disable=protected-access


class _Lines(logging.Formatter):
  """`warning: ...` for zfjax's warnings, the bare message for its info."""

  def format(self, record: logging.LogRecord) -> str:
    message = record.getMessage()
    if record.levelno >= logging.WARNING:
      return f'{record.levelname.lower()}: {message}'
    return message


class _Stderr(logging.StreamHandler):
  """Writes to whatever sys.stderr is when a record comes (main() may run
  more than once in a process, under different redirections)."""

  def __init__(self):
    super().__init__()
    self.setFormatter(_Lines())

  @property
  def stream(self):
    return sys.stderr

  @stream.setter
  def stream(self, value):
    del value


def _log_to_stderr() -> None:
  logger = logging.getLogger('zfjax')
  if not any(isinstance(h, _Stderr) for h in logger.handlers):
    logger.addHandler(_Stderr())
    logger.propagate = False
  logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  parser = build_parser()
  args = parser.parse_args(argv)
  tag = outputs.content_tag(_actions(parser, args.command), args)
  _log_to_stderr()
  # pylint: disable-next=g-import-not-at-top
  from zfjax.training import workdirs
  try:
    run = workdirs.load_run(args.workdir, epoch=args.epoch)
    module = _module(args.command)
    command = getattr(module, COMMANDS[args.command][3])
    if getattr(module, 'WRITES_A_FOLDER', False):
      # The atlas: --out is the site's folder, swapped in whole when built.
      site = pathlib.Path(args.out or os.path.join(args.workdir, 'atlas'))
      workdirs.check_writable(site.parent, 'pass --out DIR to build the '
                              'site elsewhere')
      paths = command(args, run, site)
    else:
      out_dir = pathlib.Path(args.out or os.path.join(args.workdir,
                                                      'figures'))
      workdirs.check_writable(out_dir, 'pass --out DIR to write the figures '
                              'elsewhere')
      with outputs.Staging(out_dir) as staging:
        written = command(args, run, staging.path)
        paths = staging.publish(written, tag, outputs.record(
            PROG, argv, args, run.epoch, run.step))
  except (ZfjaxError, OSError) as e:  # OSError: a full disk, say
    print(f'error: {e}', file=sys.stderr)
    return 2
  for path in paths:
    print(path)
  return 0
