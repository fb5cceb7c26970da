"""`python -m zfjax prepare --dataset=NAME`: prepare a data set ahead of time
(ImageNet and Caltech-256 from their archives in the manual dir, the
built-in set rendered, the stored form with --stored) and cache its mean
image and colour statistics."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from zfjax.errors import ZfjaxError

# The data sets `data.builders.DATASETS` knows (listed here so that --help
# answers without importing TensorFlow).
DATASETS = ('imagenet2012', 'zfjax_shapes', 'zfjax_shapes_novel',
            'caltech101', 'caltech256', 'voc/2012')


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m zfjax prepare',
      description='Prepare a data set and cache its mean image.')
  parser.add_argument('--dataset', choices=DATASETS, default='zfjax_shapes')
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--manual_dir', default=None)
  parser.add_argument(
      '--stored', action='store_true',
      help='also write the stored form (central squares resized to '
           '--resize_size once, JPEG) that config.stored_images reads')
  parser.add_argument('--resize_size', type=int, default=None,
                      help='side of the stored squares (default: 256 for '
                           'photos, 64 for zfjax_shapes)')
  args = parser.parse_args(argv)
  from zfjax.data import pipeline  # pylint: disable=g-import-not-at-top
  config = pipeline.default_data_config(args.dataset)
  config.data_dir, config.manual_dir = args.data_dir, args.manual_dir
  config.stored_images = args.stored
  if args.resize_size is not None:
    config.resize_size = args.resize_size
    config.crop_size = min(config.crop_size, args.resize_size)
  try:
    source = pipeline.prepare(config)
  except ZfjaxError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'{args.dataset} is ready: {source.info.split_sizes}')
  return 0
