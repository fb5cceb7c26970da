"""`visualize.py filters` (ZF Fig. 6): the first layer's filters, with the
counts of dead and dominant ones, and, for a run trained from its own
initialisation, what training added to each filter (the kernel less its
initial value, `filters.learned_part`): a filter that stopped learning
shows there as a flat cell long before its RMS counts it dead."""

from __future__ import annotations

import argparse
import pathlib


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument(
      '--per_filter', action='store_true',
      help='stretch each filter on its own (default: one scale for all, so '
      'dead filters look grey and dominant ones stand out)')
  parser.add_argument('--dead_ratio', type=float, default=0.1,
                      help='dead: RMS below this times the median RMS')
  parser.add_argument('--dominant_ratio', type=float, default=3.0,
                      help='dominant: RMS above this times the median RMS')


def filters(args: argparse.Namespace, run, out_dir: pathlib.Path) -> list:
  """ZF Fig. 6: the first conv layer's filters, with dead/dominant counts."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from zfjax.analyses import filters as filters_lib
  from zfjax.commands import common
  from zfjax.figures import grids
  # pylint: enable=g-import-not-at-top
  layer = run.spec.conv_names[0]
  kernel = np.asarray(run.params[layer]['kernel'])
  stats = filters_lib.filter_stats(kernel, dead_ratio=args.dead_ratio,
                                   dominant_ratio=args.dominant_ratio)
  caption = (f'{run.spec.name} epoch {run.epoch} {layer}: '
             f'{len(stats.rms)} filters, {int(stats.dead.sum())} dead, '
             f'{int(stats.dominant.sum())} dominant; median RMS '
             f'{np.median(stats.rms):.3g}')
  print(caption)
  paths = [pathlib.Path(grids.write_png(
      out_dir / f'filters_{layer}.png',
      grids.filter_grid(kernel, per_filter=args.per_filter), caption))]
  arrays = {'kernel': kernel, **stats._asdict()}
  initial = run.initial_params()
  if initial is not None:
    start = np.asarray(initial[layer]['kernel'])
    learned = filters_lib.learned_part(kernel, start,
                                       little_ratio=args.dead_ratio)
    caption = (f'{run.spec.name} epoch {run.epoch} {layer} less its '
               f'initial weights (what training added): '
               f'{int(learned.little.sum())} of {len(learned.change)} changed '
               f'under {args.dead_ratio:g}x the median change; median '
               f'{np.median(learned.still_initial):.0%} of the energy still '
               f'initial')
    print(caption)
    paths.append(pathlib.Path(grids.write_png(
        out_dir / f'filters_{layer}_change.png',
        grids.filter_grid(kernel - start, per_filter=args.per_filter),
        caption)))
    arrays.update(initial=start, **learned._asdict())
  if args.npz:
    paths.append(common.save_npz(out_dir / f'filters_{layer}.npz', **arrays))
  return paths
