"""What the `visualize.py` commands share once they run: maps, scans,
images, arrays.

A command's `run(args, run, out_dir)` gets the parsed options (`options`
defines the shared ones), the `workdirs.TrainedRun` (loaded once, with its
preprocessing and class names; `run.data` is its data set, built on first
use) and the folder to write into (`outputs.Staging`), writes its files and
returns their paths. Command modules import this inside their run
functions: it loads NumPy, JAX and TensorFlow.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
import pathlib
from typing import Iterator, NamedTuple

import numpy as np

from zfjax.analyses import deconv
from zfjax.analyses import topk
from zfjax.data import pipeline
from zfjax.errors import ZfjaxError
from zfjax.figures import grids
from zfjax.training import workdirs

Paths = list[pathlib.Path]
log = logging.getLogger(__name__)


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
  if args.maps > num_maps:
    log.warning('%s has %d maps: showing all of them (--maps %d)', layer,
                num_maps, args.maps)
  # Seeded by the layer's position too, so adding a layer to --layers does
  # not change the maps chosen in the others.
  rng = np.random.default_rng([args.seed, spec.conv_names.index(layer)])
  return np.sort(rng.choice(num_maps, min(args.maps, num_maps),
                            replace=False))


# ------------------------------------------------------------------ scans


def split_size(data: pipeline.DataSource, split: str) -> int:
  """The number of examples of `split`; a ZfjaxError for an unknown or an
  empty split (nothing to show)."""
  sizes = data.info.split_sizes
  if split not in sizes:
    raise ZfjaxError(f"split '{split}' is not in {data.info.name}; choose one "
                     f"of {', '.join(sizes)}")
  if not sizes[split]:
    raise ZfjaxError(f"split '{split}' of {data.info.name} has no examples; "
                     f"choose another with --split")
  return sizes[split]


def split_batches(data: pipeline.DataSource, split: str, batch_size: int,
                  limit: int | None) -> tuple[Iterator, int]:
  """This split's evaluation batches, the first `limit` examples only
  (masked beyond), and their number, for the progress bar."""
  size = split_size(data, split)
  count = size if limit is None else min(limit, size)
  total = math.ceil(count / batch_size)
  batches = itertools.islice(data.eval_batches(split, batch_size=batch_size),
                             total)
  if count == size:
    return batches, total
  return (b._replace(mask=b.mask & (np.asarray(b.index) < count))
          for b in batches), total


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


class FileScan:
  """Batches of image files preprocessed like evaluation inputs, index =
  position in `paths`; files that cannot be decoded are skipped with a
  warning naming each (their rows masked out), and `finish()` says how
  many and fails if no file was read."""

  def __init__(self, run: workdirs.TrainedRun, paths: list[str],
               batch_size: int, limit: int | None, *, warn: bool = True):
    self.run, self.paths, self.batch_size = run, paths[:limit], batch_size
    self.warn = warn  # False: a later pass over files already warned of
    self.total = math.ceil(len(self.paths) / batch_size)
    self.read, self.skipped, self.alpha = 0, 0, []

  def __iter__(self) -> Iterator[pipeline.Batch]:
    size = self.batch_size
    for start in range(0, len(self.paths), size):
      chunk = self.paths[start:start + size]
      loaded = self.run.preprocessing.from_files(chunk, skip_unreadable=True)
      for path, why in loaded.skipped if self.warn else ():
        log.warning('skipping %s', why)
      self.read += len(loaded.paths)
      self.skipped += len(loaded.skipped)
      self.alpha += loaded.alpha
      rows = np.array([chunk.index(p) for p in loaded.paths], np.int64)
      images = np.zeros((size,) + loaded.images.shape[1:], np.float32)
      images[rows] = loaded.images
      mask = np.zeros(size, bool)
      mask[rows] = True
      yield pipeline.Batch(images, np.zeros(size, np.int32), mask,
                           np.arange(start, start + size))

  def finish(self) -> None:
    if self.warn:
      warn_alpha(self.alpha)
    if self.skipped and self.warn:
      log.warning('%d of %d image files could not be read and were '
                  'skipped', self.skipped, self.skipped + self.read)
    if not self.read:
      raise ZfjaxError(f'none of the {len(self.paths)} image files could be '
                       f'read; see the warnings above')


def warn_alpha(paths: list[str]) -> None:
  """One warning for every image whose alpha channel was dropped."""
  if paths:
    shown = ', '.join(paths[:3]) + (f' and {len(paths) - 3} more'
                                    if len(paths) > 3 else '')
    log.warning('the alpha channel of %s is ignored (the model reads RGB; '
                'transparent pixels show their stored colour)', shown)


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
  path.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(path, **arrays)
  return path


# ------------------------------------------------------------ chosen images


class ChosenImages(NamedTuple):
  """Model inputs (N, C, C, 3), their true classes (N,) int32 or None
  (files without --labels: the analysis takes the model's prediction), and
  a name per image for file names."""
  images: np.ndarray
  labels: np.ndarray | None
  names: list[str]


def _unique(names: list[str]) -> list[str]:
  """Names for files: a name given twice becomes name, name-2, ..."""
  seen: dict[str, int] = {}
  out = []
  for name in names:
    seen[name] = seen.get(name, 0) + 1
    out.append(name if seen[name] == 1 else f'{name}-{seen[name]}')
  return out


def chosen_images(args: argparse.Namespace,
                  run: workdirs.TrainedRun) -> ChosenImages:
  """The images a command's --files or --split/--indices name."""
  if args.files:
    loaded = run.preprocessing.from_files(args.files)
    warn_alpha(list(loaded.alpha))
    labels = args.labels
    if labels is not None:
      if len(labels) != len(args.files):
        raise ZfjaxError(f'give one --labels entry (class index) per image '
                         f'file; {len(args.files)} files, labels {labels}')
      classes = len(run.class_names)
      if max(labels) >= classes:
        raise ZfjaxError(f'--labels are class indices 0..{classes - 1}; got '
                         f'{labels}')
      labels = np.asarray(labels, np.int32)
    return ChosenImages(loaded.images, labels, _unique(
        [os.path.splitext(os.path.basename(p))[0] for p in args.files]))
  if args.labels is not None:
    raise ZfjaxError('--labels name the classes of --files images; the '
                     'split\'s images have their own')
  split = args.split or run.config.eval_split
  split_size(run.data, split)
  batch = run.data.load_examples(split, args.indices)
  return ChosenImages(np.asarray(batch.images, np.float32),
                      np.asarray(batch.labels, np.int32),
                      [f'{split}_{i}' for i in args.indices])
