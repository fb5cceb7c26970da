"""`python -m zfjax summary SPEC`: per-layer output shape, parameters,
multiply-adds and receptive field of a layer table."""

from __future__ import annotations

import argparse
import sys

from zfjax.errors import ZfjaxError


def main(argv: list[str] | None = None) -> int:
  from zfjax.networks import specs, summary  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      prog='python -m zfjax summary', description=__doc__.split('\n')[0][:-1])
  parser.add_argument('spec', help=f'one of {", ".join(specs.SPECS)}')
  parser.add_argument('--image_size', type=int,
                      help='input side in pixels (default: the spec\'s)')
  parser.add_argument('--num_classes', type=int, default=1000)
  args = parser.parse_args(argv)
  try:
    spec = specs.get_spec(args.spec, args.num_classes)
    print(summary.format_summary(spec, summary.summarize(spec,
                                                         args.image_size),
                                 args.image_size))
  except ZfjaxError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0
