"""The options the command lines share, parsed before anything heavy loads.

This module imports the standard library only: every `visualize.py`
command's `add_arguments` uses it, and `visualize.py --help` or a typo must
answer without starting NumPy's, JAX's or TensorFlow's imports (a command
imports what it runs inside its run function).

Conventions every command follows (`tests/commands/test_bad_inputs.py`
checks them):

  * a bad value is refused by the option's type where argparse can tell
    (`positive`, `int_list`, `percentage`), in one `error:` line;
  * an option that does not change what a file shows (speed, memory, where
    files go) is marked `neutral(...)`; every other option given with a
    value other than its default is written into the output file names
    (`outputs.content_tag`), so that a rerun with other options never
    replaces earlier figures.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
  """argparse with a one-line error: `error: <what>; see <prog> --help`,
  exit status 2 (argparse's own prints its usage block first)."""

  def error(self, message: str) -> NoReturn:
    print(f'error: {message}; see `{self.prog} --help`', file=sys.stderr)
    sys.exit(2)


def neutral(action: argparse.Action) -> argparse.Action:
  """Marks an option that leaves the output files' content unchanged (chunk
  sizes, where files go): it stays out of their names."""
  action.neutral = True
  return action


def is_neutral(action: argparse.Action) -> bool:
  return getattr(action, 'neutral', False)


# ------------------------------------------------------------- option types


def int_list(text: str) -> list[int]:
  """Comma-separated integers, each at least 0 (indices, maps, classes)."""
  try:
    values = [int(t) for t in text.split(',') if t.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'expected comma-separated integers, got {text!r}') from None
  if not values:
    raise argparse.ArgumentTypeError('expected at least one integer')
  negative = [v for v in values if v < 0]
  if negative:
    raise argparse.ArgumentTypeError(
        f'expected integers from 0 up, got {negative}')
  return values


def int_list_or_empty(text: str) -> list[int]:
  """`int_list`, or [] for an empty value (`--indices ""`: none)."""
  return int_list(text) if text.strip() else []


def _convert(text: str, kind, what: str):
  try:
    return kind(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f'expected {what}, got {text!r}'
                                     ) from None


def positive(text: str) -> int:
  """An integer of at least 1 (sizes, counts: 0 would be empty work)."""
  value = _convert(text, int, 'an integer')
  if value < 1:
    raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
  return value


def nonnegative(text: str) -> int:
  """An integer of at least 0 (0: off)."""
  value = _convert(text, int, 'an integer')
  if value < 0:
    raise argparse.ArgumentTypeError(f'must be at least 0, got {value}')
  return value


def percentage(text: str) -> float:
  value = _convert(text, float, 'a number')
  if not 0 <= value < 100:
    raise argparse.ArgumentTypeError(f'a percentage in [0, 100), got {text}')
  return value


# ---------------------------------------------------------- maps and layers


def add_map_choice(parser: argparse.ArgumentParser, maps: int,
                   for_what: str = '') -> None:
  """--layers, and the maps shown per layer (`for_what`: where, for the
  help): --maps, --channels, --seed."""
  # Each layer's maps go to a file of its own (named after the layer), and
  # the maps drawn for a layer do not depend on the others listed.
  neutral(parser.add_argument(
      '--layers', nargs='+', metavar='LAYER',
      help='conv layers to show, one file each (default: every conv layer '
      'of the spec)'))
  parser.add_argument(
      '--maps', type=positive, default=maps,
      help=f'feature maps per layer{for_what}, a random subset drawn with '
      f'--seed (default {maps}; at most the layer\'s number of maps)')
  parser.add_argument(
      '--channels', type=int_list, metavar='C,C,...',
      help='these feature maps instead of a random subset (every listed '
      'layer must have them)')
  parser.add_argument('--seed', type=int, default=0,
                      help='seed of the random subset of maps')


# ------------------------------------------------------------------ scans


def add_scan(parser: argparse.ArgumentParser, split_help: str) -> None:
  parser.add_argument('--split', help=split_help)
  parser.add_argument(
      '--limit', type=positive,
      help='scan only the first N examples of the split (or files)')
  neutral(parser.add_argument(
      '--batch_size', type=positive,
      help='images per scan batch (default: config.eval_batch_size)'))
  neutral(parser.add_argument(
      '--chunk_size', type=positive, default=32,
      help='images projected per deconvnet call (memory vs speed)'))
  parser.add_argument(
      '--saturate', type=percentage, default=0.5,
      help='percent of each projection\'s non-zero values shown saturated '
      '(default 0.5; 0: scale by the largest value)')


# The ways back to the pixels (`deconv.RULES`; repeated here so that parsing
# loads no JAX, a test keeps the two equal).
RULES = ('deconvnet', 'gradient', 'guided')


def add_rule(parser: argparse.ArgumentParser) -> None:
  """--rule: the backward rule of the projections."""
  parser.add_argument(
      '--rule', choices=RULES, default='deconvnet',
      help='the way back to the pixels: deconvnet (ZF, the default), '
      'gradient (the exact gradient of the unit, Simonyan et al. 2013) or '
      'guided (guided backpropagation, Springenberg et al. 2014)')


# ------------------------------------------------------------ chosen images


def add_image_choice(parser: argparse.ArgumentParser, default_indices: str,
                     *, split: bool = True, what: str | None = None,
                     none: bool = False) -> None:
  """--split (unless the command has its own), --indices (`what` they
  choose, for the help; `none`: an empty value chooses none), --files and
  --labels."""
  if split:
    parser.add_argument('--split', help='split of the run\'s data set '
                        '(default: config.eval_split)')
  parser.add_argument('--indices', default=default_indices,
                      type=int_list_or_empty if none else int_list,
                      metavar='I,I,...',
                      help=what or f'examples of the split (default '
                      f'{default_indices})')
  parser.add_argument('--files', nargs='+', metavar='IMAGE',
                      help='your JPEG/PNG files instead (centre-cropped like '
                      'evaluation inputs; the run\'s data set is not needed)')
  parser.add_argument('--labels', type=int_list, metavar='L,L,...',
                      help='true class index of each --files image (default: '
                      'the model\'s prediction on it, titled "predicted")')
