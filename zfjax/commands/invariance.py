"""`visualize.py invariance` (ZF Fig. 5): feature distances and p(true
class) under vertical translation, scaling and rotation."""

from __future__ import annotations

import argparse
import pathlib

from zfjax.commands import options

# `invariance.TRANSFORMS`, written out so that parsing loads no JAX (a test
# keeps the two the same).
TRANSFORMS = ('translate', 'scale', 'rotate')


def add_arguments(parser: argparse.ArgumentParser) -> None:
  options.add_image_choice(parser, '0,1,2,3,4')
  parser.add_argument('--transforms', nargs='+', default=list(TRANSFORMS),
                      choices=TRANSFORMS,
                      help='which sweeps (default: all three)')
  parser.add_argument('--layers', nargs='+', metavar='LAYER',
                      help='feature layers (default: the first and the top '
                      'hidden layer, the paper\'s 1 and 7)')
  parser.add_argument('--method', choices=('render', 'resample'),
                      help='render: redraw the built-in scenes with the '
                      'object moved (default for zfjax_shapes); resample: '
                      'transform the image pixels (default otherwise)')


def invariance_command(args: argparse.Namespace, run,
                       out_dir: pathlib.Path) -> list:
  """ZF Fig. 5: relative feature distance at two layers and p(true class)
  against vertical translation, scale and rotation; invariance.png and
  invariance.csv."""
  # pylint: disable=g-import-not-at-top
  from zfjax.analyses import invariance
  from zfjax.commands import common
  from zfjax.errors import ZfjaxError
  from zfjax.figures import plots
  from zfjax.figures import tables
  from zfjax.networks import models
  # pylint: enable=g-import-not-at-top
  if args.layers:
    models.check_traced_layers(run.spec, args.layers)
  config, prep = run.config, run.preprocessing
  builtin = config.dataset == 'zfjax_shapes'
  method = args.method or ('render' if builtin and not args.files
                           else 'resample')
  if method == 'render' and (args.files or not builtin):
    raise ZfjaxError('--method render redraws built-in scenes; use '
                     '--method resample for image files or other data sets')
  if method == 'resample':
    chosen = common.chosen_images(args, run)
    images, labels, names = chosen
  else:
    if args.labels is not None:
      raise ZfjaxError('--labels name the classes of --files images; the '
                       'split\'s images have their own')
    split = args.split or config.eval_split
    names = [f'{split}_{i}' for i in args.indices]
  curves, strips = [], []
  for transform in args.transforms:
    amounts = invariance.default_amounts(transform, config.crop_size)
    if method == 'render':
      # The generator redraws the scenes: no data set is read.
      images, moved, labels = invariance.render_transformed(
          config, prep, split, args.indices, transform, amounts)
    else:
      # Every input, file or split, had the centre of the mean removed.
      moved = invariance.transform_images(images, amounts,
                                          transform=transform,
                                          mean=prep.mean_crop)
    curves.append(invariance.invariance_curves(
        run.params, run.spec, images, moved, labels,
        transform=transform, amounts=amounts, layers=args.layers,
        progress=True))
    steps = plots.strip_steps(len(amounts), 5)
    strips.append(prep.to_display(moved[0, steps]))
  paths = [pathlib.Path(plots.invariance_figure(
      out_dir / 'invariance.png', curves, strips, names)),
           pathlib.Path(tables.write_invariance_csv(
               out_dir / 'invariance.csv', curves, names))]
  for curve in curves:
    summary = ', '.join(
        f'{layer} {curve.distance[k].mean(0).max():.2f}'
        for k, layer in enumerate(curve.layers))
    print(f'{curve.transform}: largest mean distance {summary}; mean '
          f'p(true) {curve.p_true.mean(0).min():.2f} to '
          f'{curve.p_true.mean(0).max():.2f}')
  return paths
