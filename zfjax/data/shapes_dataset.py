"""TFDS builder of the built-in data set `zfjax_shapes` (see `shapes`).

Needs no download: `download_and_prepare()` renders every example from its
seed. The config (image size, split sizes, seed) is part of the config name,
so each variant is prepared once into its own directory of the data dir:
<data_dir>/zfjax_shapes/<64px_train20000_val2000_seed0_23e1c212>/1.0.0/; a
world other than the default adds its knobs (`_c24_occ0.5`), and the last
8 hex digits (`renders_digest`) change whenever the code would draw the
variant differently, so that a directory prepared by an older catalogue is
never read as this one.

Features per example:
  image       (S, S, 3) uint8, stored as PNG (lossless: the stored pixels
              are exactly `shapes.example(split, index, S, seed=seed,
              world=world)[0]`)
  label       class index, names `shapes.class_names(num_classes=N)`
  bbox        (4,) int32 object box, pixel (y0, x0, y1, x1), exclusive ends
  part_boxes  (MAX_PARTS, 4) int32, rows in `shapes.PART_NAMES[label]` order,
              -1 rows after the class's parts
Examples are stored in index order (shuffling disabled), so position i of a
split is example i.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import subprocess
import sys

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from zfjax import progress
from zfjax.data import shapes

# Examples per chunk a worker process renders: large enough that the
# inter-process traffic is small, small enough to balance the load.
_CHUNK = 250
# The directory holding the zfjax package, for the workers' imports.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(shapes.__file__))))


@dataclasses.dataclass(eq=False)
class ShapesConfig(tfds.core.BuilderConfig):
  image_size: int = 64
  num_train: int = 20_000
  num_eval: int = 2_000
  seed: int = 0
  novel: bool = False  # the novel classes (shapes.NOVEL_CLASS_NAMES)
  world: shapes.World = shapes.World()


def renders_digest(image_size: int, seed: int, novel: bool = False,
                   world: shapes.World = shapes.World()) -> str:
  """8 hex digits that change whenever the code draws this variant's
  examples differently: a hash of its first training example of every
  class, as stored (PNG bytes, label, boxes), and of the class and part
  names.

  Part of the prepared directory's name, so that a catalogue or renderer
  changed since a variant was prepared renders it afresh instead of
  serving the old pixels under the new code's class names.
  """
  count = world.class_count(novel)
  digest = hashlib.sha256(json.dumps(
      [shapes.class_names(novel, count), shapes.part_names(novel)[:count]]
  ).encode())
  for png, label, box, part_boxes in shapes.encoded_examples(
      'train', range(count), image_size=image_size, seed=seed, novel=novel,
      world=world):
    digest.update(png + np.int32(label).tobytes() + box.tobytes()
                  + part_boxes.tobytes())
  return digest.hexdigest()[:8]


def _config(image_size: int, num_train: int, num_eval: int,
            seed: int, novel: bool = False,
            world: shapes.World = shapes.World()) -> ShapesConfig:
  prefix = 'novel_' if novel else ''
  # The default world keeps the names (and prepared directories) it had
  # before worlds had knobs.
  # Each set is named by the knobs that draw it.
  world = world.novel_set() if novel else world.trained_set()
  knobs = world.knobs()
  suffix = ''.join(text for key, text in (
      ('num_classes', f'_c{world.num_classes}'),
      ('novel_classes', f'_c{world.novel_classes}'),
      ('occluders', f'_occ{world.occluders:g}'),
      ('dark_details', '_dark'), ('face_breeds', '_breeds'))
                   if key in knobs)
  return ShapesConfig(
      name=(f'{prefix}{image_size}px_train{num_train}_val{num_eval}'
            f'_seed{seed}{suffix}_'
            + renders_digest(image_size, seed, novel, world)),
      description=f'{image_size}x{image_size} images, {num_train} train and '
                  f'{num_eval} validation examples, seed {seed}'
                  + (f', {world.novel_classes} novel classes' if novel else
                     f', {world.num_classes} classes')
                  + (f', occluders in {world.occluders:.0%} of the images'
                     if world.occluders else '')
                  + (', details darker than bodies' if world.dark_details
                     else '')
                  + (', cat and bear faces as breeds of the round face'
                     if world.face_breeds else ''),
      image_size=image_size, num_train=num_train, num_eval=num_eval,
      seed=seed, novel=novel, world=world)


class ZfjaxShapes(tfds.core.GeneratorBasedBuilder):
  """Objects made of named parts over clutter, rendered from a seed."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  BUILDER_CONFIGS = [_config(64, 20_000, 2_000, 0)]

  def _info(self) -> tfds.core.DatasetInfo:
    size, novel = self.builder_config.image_size, self.builder_config.novel
    world = self.builder_config.world
    names = shapes.class_names(novel, world.class_count(novel))
    return tfds.core.DatasetInfo(
        builder=self,
        description=(
            'Procedural objects made of named parts (some face-like) at '
            'random position, scale, rotation and colour over textured '
            'clutter, with object and part boxes. Parts per class: '
            + '; '.join(f'{c}: {", ".join(p)}' for c, p in
                        zip(names, shapes.part_names(novel)))),
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(size, size, 3),
                                         encoding_format='png'),
            'label': tfds.features.ClassLabel(names=names),
            'bbox': tfds.features.Tensor(shape=(4,), dtype=np.int32),
            'part_boxes': tfds.features.Tensor(shape=(shapes.MAX_PARTS, 4),
                                               dtype=np.int32),
        }),
        supervised_keys=('image', 'label'),
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    config = self.builder_config
    return {
        'train': self._generate_examples('train', config.num_train),
        'validation': self._generate_examples('validation', config.num_eval),
    }

  def _generate_examples(self, split: str, num_examples: int):
    config = self.builder_config
    shapes.check_image_size(config.image_size)
    config.world.check()
    for start, encoded in _render(split, num_examples, config):
      for index, (png, label, box, part_boxes) in enumerate(encoded, start):
        yield index, {'image': png, 'label': label, 'bbox': box,
                      'part_boxes': part_boxes}


def _render(split: str, num_examples: int, config: ShapesConfig):
  """(first index, `shapes.encoded_examples` list) per chunk, in order.

  The chunks are rendered by worker processes, `python -m zfjax.data.shapes`,
  which import numpy alone: multiprocessing's spawned workers would import
  the caller's main module (TensorFlow, JAX: seconds each), and forking a
  process that runs TensorFlow and JAX threads is unsafe.
  """
  starts = range(0, num_examples, _CHUNK)
  count = min(os.cpu_count() or 1, len(starts), 8)
  path = os.environ.get('PYTHONPATH')
  env = dict(os.environ, PYTHONPATH=_ROOT + (os.pathsep + path if path else ''))
  workers = [subprocess.Popen(
      [sys.executable, '-m', 'zfjax.data.shapes', split, str(config.image_size),
       str(config.seed), str(num_examples), str(_CHUNK), str(k), str(count),
       json.dumps(config.world._asdict())]
      + (['novel'] if config.novel else []),
      stdout=subprocess.PIPE, env=env) for k in range(count)]
  try:
    with progress.bar(total=num_examples, desc=f'rendering {split}',
                      unit='image') as bar:
      for i, start in enumerate(starts):
        try:
          encoded = pickle.load(workers[i % count].stdout)
        except EOFError:
          raise RuntimeError('a zfjax.data.shapes worker died; its error is '
                             'printed above') from None
        yield start, encoded
        bar.update(len(encoded))
  finally:  # also when TFDS stops early: no worker outlives the generation
    for worker in workers:
      worker.kill()
      worker.wait()
      worker.stdout.close()


def builder(image_size: int = 64, num_train: int = 20_000,
            num_eval: int = 2_000, seed: int = 0, *,
            data_dir: str | None = None, novel: bool = False,
            world: shapes.World = shapes.World()) -> ZfjaxShapes:
  """The builder of one variant of the set (not prepared yet, maybe);
  `novel`: of the novel classes (the transfer experiment's target set)."""
  world.check()
  config = _config(image_size, num_train, num_eval, seed, novel, world)
  # TFDS refuses a custom config that shares a predefined one's name.
  config = ZfjaxShapes.builder_configs.get(config.name, config)
  # TFDS warns about every config it does not list and every variant not
  # prepared yet; both are expected here.
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)
  try:
    return ZfjaxShapes(config=config, data_dir=data_dir)
  finally:
    logging.set_verbosity(verbosity)
