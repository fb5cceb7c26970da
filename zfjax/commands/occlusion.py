"""`visualize.py occlusion` (ZF Fig. 7): a grey square slid over each image."""

from __future__ import annotations

import argparse
import pathlib

from zfjax.commands import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
  options.add_image_choice(parser, '0,1,2')
  # Every file is one image's, named after it: which images were chosen
  # does not change what an image's files show.
  for action in parser._actions:  # pylint: disable=protected-access
    if action.dest in ('split', 'indices', 'files'):
      options.neutral(action)
  parser.add_argument('--size', type=options.positive,
                      help='square side in pixels (default: 50 at 224, '
                      'scaled to the input size)')
  parser.add_argument('--stride', type=options.positive,
                      help='square step in pixels (default: 8 at 224, '
                      'scaled)')
  parser.add_argument('--layer', help='conv layer of panels (b), (c) '
                      '(default: the last conv layer)')
  options.neutral(parser.add_argument(
      '--chunk_size', type=options.positive, default=32,
      help='occluded images per jitted call (memory bound)'))


def occlusion_command(args: argparse.Namespace, run,
                      out_dir: pathlib.Path) -> list:
  """ZF Fig. 7 per image: (a) the image with the square, (b) total activation
  of the strongest map of the top conv layer per square position, (c) that
  map's deconvnet projection, (d) p(true class) ("predicted" class for
  files without --labels), (e) the most probable label. Per image a PNG
  and a CSV with every position's numbers."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from zfjax.analyses import deconv
  from zfjax.analyses import occlusion
  from zfjax.commands import common
  from zfjax.figures import grids
  from zfjax.figures import plots
  from zfjax.figures import tables
  # pylint: enable=g-import-not-at-top
  if args.layer is not None:
    deconv.check_conv_layer(run.spec, args.layer)
  chosen = common.chosen_images(args, run)
  images = chosen.images
  # One clean forward pass serves the labels (the model's prediction where
  # no true class is given), the tracked maps and the projection panel.
  result = occlusion.occlusion_sweep(
      run.params, images, run.spec, labels=chosen.labels, size=args.size,
      stride=args.stride, layer=args.layer, chunk_size=args.chunk_size,
      project=True, progress=True)
  projections = grids.normalize_for_display(result.projection)
  worst = occlusion.worst_boxes(result)
  # Panel (a) shows the very input the model saw with that square.
  occluded = run.preprocessing.to_display(np.stack([
      occlusion.fill_box(images[n], worst[n], 0.0)
      for n in range(len(images))]))
  paths = []
  for n, name in enumerate(chosen.names):
    stem = out_dir / f'occlusion_{name}'
    paths.append(pathlib.Path(plots.occlusion_figure(
        f'{stem}.png', occluded[n], result, n, projections[n],
        run.class_names, worst[n], true_label=chosen.labels is not None)))
    one = occlusion.select(result, [n])
    paths.append(pathlib.Path(tables.write_occlusion_csv(
        f'{stem}.csv', one, [name])))
    if args.npz:
      paths.append(common.save_npz(pathlib.Path(f'{stem}.npz'),
                                   **one._asdict()))
  return paths
