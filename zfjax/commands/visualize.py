r"""Figures of a trained run, written as PNGs into WORKDIR/figures/.

  python visualize.py --workdir workdir/synthetic top9         # ZF Fig. 2
  python visualize.py --workdir DIR top9 --layers conv1 conv5 --maps 9
  python visualize.py --workdir DIR top9 --image_dir my_photos/
  python visualize.py --workdir DIR filters                    # ZF Fig. 6
  python visualize.py --workdir DIR evolution --epochs 1 2 5   # ZF Fig. 4
  python visualize.py --workdir DIR occlusion --files dog.jpg  # ZF Fig. 7
  python visualize.py --workdir DIR invariance                 # ZF Fig. 5
  python visualize.py --workdir DIR correspondence             # ZF Table 1
  python visualize.py --workdir DIR claims                     # scorecard

The run's config and its newest checkpoint (or --epoch) are read from the
workdir, which also holds what your own images need (the mean image, the
class names): --files and --image_dir work without the run's data set.
--npz also saves the raw arrays. `COMMAND --help` lists a command's options.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from zfjax.errors import ZfjaxError

# Each command is a `common.Command` in the module named here, loaded when
# it runs, so that `--help` answers before TensorFlow and JAX are imported.
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
    'claims': ('the paper\'s findings, each against a fixed criterion',
               'zfjax.commands.claims', 'add_arguments', 'claims_command'),
}


def _module(name: str):
  import importlib  # pylint: disable=g-import-not-at-top
  return importlib.import_module(COMMANDS[name][1])


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='visualize.py', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--workdir', required=True,
                      help="a training run's workdir (train.py --workdir)")
  # --epoch and --npz are accepted before or after the command; after it,
  # SUPPRESS leaves the value from before alone unless the option is given.
  shared = argparse.ArgumentParser(add_help=False)
  for target, unset in ((parser, None), (shared, argparse.SUPPRESS)):
    target.add_argument('--epoch', type=int, default=unset,
                        help='use the end-of-epoch checkpoint of this epoch '
                        '(default: the newest checkpoint)')
    target.add_argument('--npz', action='store_true',
                        default=unset or False,
                        help='also save the raw arrays as .npz')
  commands = parser.add_subparsers(dest='command', required=True,
                                   metavar='COMMAND')
  for name, (help_text, _, add_arguments, run) in COMMANDS.items():
    module = _module(name)
    sub = commands.add_parser(name, help=help_text, parents=[shared],
                              description=getattr(module, run).__doc__)
    getattr(module, add_arguments)(sub)
  return parser


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  # pylint: disable-next=g-import-not-at-top
  from zfjax.training import workdirs
  try:
    run = workdirs.load_run(args.workdir, epoch=args.epoch)
    out_dir = pathlib.Path(args.workdir) / 'figures'
    out_dir.mkdir(parents=True, exist_ok=True)
    command = getattr(_module(args.command), COMMANDS[args.command][3])
    paths = command(args, run, out_dir)
  except ZfjaxError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  for path in paths:
    print(path)
  return 0
