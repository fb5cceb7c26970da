"""`visualize.py occlusion` (ZF Fig. 7): a grey square slid over each image."""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from zfjax.analyses import occlusion
from zfjax.commands import common
from zfjax.figures import grids
from zfjax.figures import plots
from zfjax.figures import tables
from zfjax.training import workdirs


def add_arguments(parser: argparse.ArgumentParser) -> None:
  common.add_image_choice(parser, '0,1,2')
  parser.add_argument('--size', type=int, help='square side in pixels '
                      '(default: 50 at 224, scaled to the input size)')
  parser.add_argument('--stride', type=int, help='square step in pixels '
                      '(default: 8 at 224, scaled)')
  parser.add_argument('--layer', help='conv layer of panels (b), (c) '
                      '(default: the last conv layer)')
  parser.add_argument('--chunk_size', type=int, default=32,
                      help='occluded images per jitted call (memory bound)')


def occlusion_command(args: argparse.Namespace, run: workdirs.TrainedRun,
                      out_dir: pathlib.Path) -> common.Paths:
  """ZF Fig. 7 per image: (a) the image with the square, (b) total activation
  of the strongest map of the top conv layer per square position, (c) that
  map's deconvnet projection, (d) p(true class), (e) the most probable label.
  Also occlusion.csv with every position's numbers."""
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
  paths = [pathlib.Path(plots.occlusion_figure(
      out_dir / f'occlusion_{name}.png', occluded[n], result, n,
      projections[n], run.class_names, worst[n],
      true_label=chosen.labels is not None))
           for n, name in enumerate(chosen.names)]
  paths.append(pathlib.Path(tables.write_occlusion_csv(
      out_dir / 'occlusion.csv', result, chosen.names)))
  if args.npz:
    paths.append(common.save_npz(out_dir / 'occlusion.npz',
                                 **result._asdict()))
  return paths
