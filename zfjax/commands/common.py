"""What the `visualize.py` commands share: options, images, outputs.

A command is a `Command(help, add_arguments, run)`: `add_arguments(parser)`
adds its options to its argparse sub-parser; `run(args, run, out_dir)` gets
the parsed options, the `workdirs.TrainedRun` (loaded once, with its
preprocessing and class names; `run.data` is its data set, built on first
use) and the output directory, writes its files and returns their paths.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import pathlib
from typing import Callable, Iterator, NamedTuple

import numpy as np

from zfjax.analyses import deconv
from zfjax.analyses import topk
from zfjax.data import pipeline
from zfjax.errors import ZfjaxError
from zfjax.figures import grids
from zfjax.training import workdirs

Paths = list[pathlib.Path]


class Command(NamedTuple):
  help: str
  add_arguments: Callable[[argparse.ArgumentParser], None]
  run: Callable[[argparse.Namespace, workdirs.TrainedRun, pathlib.Path],
                Paths]


# ------------------------------------------------------------- option types


def int_list(text: str) -> list[int]:
  try:
    return [int(t) for t in text.split(',') if t.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'expected comma-separated integers, got {text!r}') from None


def percentage(text: str) -> float:
  value = float(text)
  if not 0 <= value < 100:
    raise argparse.ArgumentTypeError(f'a percentage in [0, 100), got {text}')
  return value


# ---------------------------------------------------------- maps and layers


def add_map_choice(parser: argparse.ArgumentParser, maps: int,
                   for_what: str = '') -> None:
  """--layers, and the maps shown per layer (`for_what`: where, for the
  help): --maps, --channels, --seed."""
  parser.add_argument(
      '--layers', nargs='+', metavar='LAYER',
      help='conv layers to show (default: every conv layer of the spec)')
  parser.add_argument(
      '--maps', type=int, default=maps,
      help=f'feature maps per layer{for_what}, a random subset drawn with '
      f'--seed (default {maps})')
  parser.add_argument(
      '--channels', type=int_list, metavar='C,C,...',
      help='these feature maps instead of a random subset (every listed '
      'layer must have them)')
  parser.add_argument('--seed', type=int, default=0,
                      help='seed of the random subset of maps')


def conv_layers(args: argparse.Namespace, spec) -> list[str]:
  layers = args.layers or list(spec.conv_names)
  for layer in layers:
    deconv.check_conv_layer(spec, layer)
  return layers


def channels(args: argparse.Namespace, spec, layer: str) -> np.ndarray:
  """The listed maps, or a sorted random subset seeded by (seed, layer)."""
  num_maps = spec.layer(layer).features
  if args.channels:
    bad = [c for c in args.channels if not 0 <= c < num_maps]
    if bad:
      raise ZfjaxError(f'{layer} has maps 0..{num_maps - 1}; --channels '
                       f'{bad} do not exist')
    return np.asarray(args.channels)
  if args.maps < 1:
    raise ZfjaxError(f'--maps must be at least 1, got {args.maps}')
  # Seeded by the layer's position too, so adding a layer to --layers does
  # not change the maps chosen in the others.
  rng = np.random.default_rng([args.seed, spec.conv_names.index(layer)])
  return np.sort(rng.choice(num_maps, min(args.maps, num_maps),
                            replace=False))


# ------------------------------------------------------------------ scans


def add_scan(parser: argparse.ArgumentParser, split_help: str) -> None:
  parser.add_argument('--split', help=split_help)
  parser.add_argument(
      '--limit', type=int,
      help='scan only about the first N examples of the split (whole batches)')
  parser.add_argument(
      '--batch_size', type=int,
      help='images per scan batch (default: config.eval_batch_size)')
  parser.add_argument(
      '--chunk_size', type=int, default=32,
      help='images projected per deconvnet call (memory vs speed)')
  parser.add_argument(
      '--saturate', type=percentage, default=0.5,
      help='percent of each projection\'s non-zero values shown saturated '
      '(default 0.5; 0: scale by the largest value)')


def split_batches(data: pipeline.DataSource, split: str, batch_size: int,
                  limit: int | None) -> tuple[Iterator, int]:
  """This split's evaluation batches (the first ~limit examples) and their
  number, for the progress bar."""
  sizes = data.info.split_sizes
  if split not in sizes:
    raise ZfjaxError(f"split '{split}' is not in {data.info.name}; choose one "
                     f"of {', '.join(sizes)}")
  count = sizes[split] if limit is None else min(limit, sizes[split])
  total = math.ceil(count / batch_size)
  batches = data.eval_batches(split, batch_size=batch_size)
  return itertools.islice(batches, total), total


def split_loader(run: workdirs.TrainedRun, split: str) -> topk.ImageLoader:
  """Images of the run's `split` by index: (model inputs, display uint8)."""
  def load(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    batch = run.data.load_examples(split, indices)
    return (np.asarray(batch.images),
            run.preprocessing.to_display(batch.images))
  return load


_IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')


def image_files(image_dir: str) -> list[str]:
  """The JPEG and PNG files directly in `image_dir`, sorted by name (an
  image's index in the top-k is its position in this list)."""
  if not os.path.isdir(image_dir):
    raise ZfjaxError(f'--image_dir {image_dir} is not a directory')
  paths = sorted(os.path.join(image_dir, name) for name in os.listdir(image_dir)
                 if name.lower().endswith(_IMAGE_SUFFIXES))
  if not paths:
    raise ZfjaxError(f'{image_dir} holds no .jpg, .jpeg or .png files')
  return paths


def file_batches(run: workdirs.TrainedRun, paths: list[str], batch_size: int,
                 limit: int | None) -> tuple[Iterator, int]:
  """Batches of image files preprocessed like evaluation inputs, index =
  position in `paths`; the last batch is padded (mask False)."""
  paths = paths[:limit]
  total = math.ceil(len(paths) / batch_size)

  def batches():
    for start in range(0, len(paths), batch_size):
      chunk = paths[start:start + batch_size]
      images = run.preprocessing.from_files(chunk).images
      pad = batch_size - len(chunk)
      yield pipeline.Batch(
          np.concatenate([images, np.zeros((pad,) + images.shape[1:],
                                           images.dtype)]),
          np.zeros(batch_size, np.int32),
          np.arange(batch_size) < len(chunk),
          np.arange(start, start + batch_size))
  return batches(), total


def file_loader(run: workdirs.TrainedRun,
                paths: list[str]) -> topk.ImageLoader:
  def load(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = run.preprocessing.from_files([paths[i] for i in indices]).images
    return images, run.preprocessing.to_display(images)
  return load


def show(projections: np.ndarray, saturate: float) -> np.ndarray:
  """(..., P, P, 3) raw projections to display uint8, each on its own."""
  shape = projections.shape
  return grids.normalize_for_display(
      projections.reshape((-1,) + shape[-3:]),
      saturate=saturate).reshape(shape)


def save_npz(path: pathlib.Path, **arrays) -> pathlib.Path:
  np.savez_compressed(path, **arrays)
  return path


# ------------------------------------------------------------ chosen images


def add_image_choice(parser: argparse.ArgumentParser, default_indices: str,
                     *, split: bool = True, what: str | None = None) -> None:
  """--split (unless the command has its own), --indices (`what` they
  choose, for the help), --files and --labels."""
  if split:
    parser.add_argument('--split', help='split of the run\'s data set '
                        '(default: config.eval_split)')
  parser.add_argument('--indices', type=int_list, default=default_indices,
                      metavar='I,I,...',
                      help=what or f'examples of the split (default '
                      f'{default_indices})')
  parser.add_argument('--files', nargs='+', metavar='IMAGE',
                      help='your JPEG/PNG files instead (centre-cropped like '
                      'evaluation inputs; the run\'s data set is not needed)')
  parser.add_argument('--labels', type=int_list, metavar='L,L,...',
                      help='true class index of each --files image (default: '
                      'the model\'s prediction on it)')


class ChosenImages(NamedTuple):
  """Model inputs (N, C, C, 3), their true classes (N,) int32 or None
  (files without --labels: the analysis takes the model's prediction), and
  a name per image for file names."""
  images: np.ndarray
  labels: np.ndarray | None
  names: list[str]


def chosen_images(args: argparse.Namespace,
                  run: workdirs.TrainedRun) -> ChosenImages:
  """The images a command's --files or --split/--indices name."""
  if args.files:
    loaded = run.preprocessing.from_files(args.files)
    labels = args.labels
    if labels is not None:
      if len(labels) != len(args.files):
        raise ZfjaxError(f'give one --labels entry (class index) per image '
                         f'file; {len(args.files)} files, labels {labels}')
      labels = np.asarray(labels, np.int32)
    return ChosenImages(loaded.images, labels,
                        [os.path.splitext(os.path.basename(p))[0]
                         for p in args.files])
  split = args.split or run.config.eval_split
  batch = run.data.load_examples(split, args.indices)
  return ChosenImages(np.asarray(batch.images, np.float32),
                      np.asarray(batch.labels, np.int32),
                      [f'{split}_{i}' for i in args.indices])
