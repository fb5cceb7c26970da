"""`python -m zfjax convert alexnet-owt-7be5be79.pth OUTDIR`: torchvision's
pretrained AlexNet as a workdir that visualize.py reads (`networks.convert`
says how the conversion is exact)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from zfjax.errors import ZfjaxError


def workdir_config(converted):
  """The config.json of a converted workdir: every key's default (the
  ImageNet run's), with torchvision's evaluation preprocessing (256 ->
  centre 224) and per-channel mean."""
  from zfjax.training import defaults  # pylint: disable=g-import-not-at-top
  config = defaults.base_config()
  config.model = converted.spec.name
  config.num_classes = converted.spec.num_classes
  config.eval_batch_size = 64
  config.mean_rgb = tuple(float(m) for m in converted.mean)
  return config


def write_workdir(converted, workdir: str) -> None:
  """`converted` (a `networks.convert.Converted`) as a new workdir: its
  params, ImageNet's class names, torchvision's mean as the mean image."""
  # pylint: disable=g-import-not-at-top
  from zfjax.data import pipeline
  from zfjax.training import workdirs
  # pylint: enable=g-import-not-at-top
  size = int(workdir_config(converted).resize_size)
  workdirs.create(workdir, converted.params, workdir_config(converted),
                  np.broadcast_to(converted.mean, (size, size, 3)),
                  pipeline.imagenet_class_names())


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m zfjax convert',
      description='Convert torchvision\'s pretrained AlexNet '
      '(alexnet-owt-7be5be79.pth) into a zfjax workdir for visualize.py.')
  parser.add_argument('pth', help='the .pth file of torchvision\'s alexnet()')
  parser.add_argument('workdir', help='new directory to write')
  args = parser.parse_args(argv)
  from zfjax.networks import convert, models  # pylint: disable=g-import-not-at-top
  try:
    converted = convert.torchvision_alexnet(convert.read_pth(args.pth))
    write_workdir(converted, args.workdir)
  except ZfjaxError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'{args.workdir}: {converted.spec.name}, '
        f'{models.param_count(converted.params):,} parameters; try '
        f'`python visualize.py --workdir {args.workdir} filters`')
  return 0
