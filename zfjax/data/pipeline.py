"""The input pipeline: one `DataSource` per config, built once, yields batches.

  source = pipeline.DataSource(config)        # the builder, prepared
  source.info                                 # classes, split sizes
  for batch in source.train_batches(epoch=0, seed=0): ...
  for batch in source.eval_batches('validation', batch_size=256): ...
  batch = source.load_examples('validation', [3, 7])

Preprocessing is the paper's (ZF §3, `crops`): the central square resized to
`resize_size`, the training split's mean image subtracted, random crops and
flips (and AlexNet's PCA colour shift) in training, the centre crop or the
10 crops in evaluation. Images are float32 NHWC in pixel units (0..255
before the mean subtraction), or with `on_device=True` uint8 pixels and
their draws for the jitted steps to finish (`preprocess`).

Config keys (an ml_collections.ConfigDict; `default_data_config` builds one):
  dataset:        one of `builders.DATASETS`.
  data_dir:       TFDS data directory; None = TFDS's (~/tensorflow_datasets).
  manual_dir:     where the data set's archives are (ImageNet's two tars,
                  Caltech-256's); None or absent = <data_dir>/downloads/manual.
  resize_size:    side of the resized central square (256; for zfjax_shapes
                  its rendered size, 64).
  crop_size:      side of the crops fed to the model (224; for zfjax_shapes
                  56, the same 7/8 of the square).
  batch_size:     global batch size, split evenly over the JAX processes.
  pca_augment:    add AlexNet's PCA colour shift in training.
  train_split, eval_split: 'train', 'validation'.
  shuffle_buffer: examples in the shuffle buffer (after file shuffling).
  stored_images:  read the stored form (every central square resized once,
                  JPEG; `python -m zfjax prepare --stored` makes it).
  shapes:         zfjax_shapes only: image_size, num_train, num_eval, seed,
                  and the world's num_classes, occluders, dark_details and
                  face_breeds (`shapes.World`).
  mean_rgb:       a per-channel mean subtracted instead of the mean image
                  (a converted torchvision model); optional.

Each JAX process reads its own part of a split; in training every process
reads the epoch's one shuffled stream and decodes only its rows of each
global batch (`host_rows`), so batches do not depend on the process count.
"""

from __future__ import annotations

import functools
from typing import Iterator, NamedTuple, Sequence

import jax
import ml_collections
import numpy as np

from zfjax.data import builders
from zfjax.data import crops
from zfjax.data import images as images_lib
from zfjax.data import preprocess
from zfjax.data import statistics
from zfjax.data.tf_setup import tf
from zfjax.errors import ZfjaxError


class Batch(NamedTuple):
  """One batch of preprocessed examples.

  images: (B, crop, crop, 3) float32, mean-subtracted, 0..255 pixel scale;
    with ten crops (B, 10, crop, crop, 3), crops ordered as `crops.ten_crops`.
    With `on_device=True`: a `preprocess.Crops` (uint8 crops and their
    draws) or, for ten crops, a `preprocess.Squares` (uint8 resized
    squares), which the jitted steps finish (`preprocess.finish`).
  labels: (B,) int32; (B, C) 0/1 int32 for a multi-label set.
  mask: (B,) bool, False on padding rows (evaluation only).
  index: (B,) int64 position of the example in its split, -1 on padding.
  """
  images: np.ndarray
  labels: np.ndarray
  mask: np.ndarray
  index: np.ndarray


class DatasetInfo(NamedTuple):
  name: str
  num_classes: int
  class_names: tuple[str, ...]
  split_sizes: dict[str, int]
  image_size: int  # the crop size fed to the model
  # Several labels per image (VOC): Batch.labels are then (B, C) 0/1 int32.
  multi_label: bool = False


class RawExamples(NamedTuple):
  """zfjax_shapes examples as stored: no resize, crop or mean subtraction.

  images: (N, S, S, 3) uint8; labels: (N,) int32; boxes: (N, 4) int32 object
  boxes and part_boxes: (N, shapes.MAX_PARTS, 4) int32 part boxes, rows in
  `shapes.PART_NAMES[label]` order padded with -1, all pixel (y0, x0, y1, x1)
  with exclusive ends; index: (N,) int64.
  """
  images: np.ndarray
  labels: np.ndarray
  boxes: np.ndarray
  part_boxes: np.ndarray
  index: np.ndarray


def default_data_config(dataset: str = 'zfjax_shapes'
                        ) -> ml_collections.ConfigDict:
  """The data keys of a config, with the paper's values for ImageNet."""
  photos = not dataset.startswith('zfjax_shapes')
  return ml_collections.ConfigDict({
      'dataset': dataset,
      'data_dir': None,
      'manual_dir': None,
      'resize_size': 256 if photos else 64,
      'crop_size': 224 if photos else 56,
      'batch_size': 128,
      'pca_augment': False,
      'train_split': 'train',
      'eval_split': 'validation',
      'shuffle_buffer': 10_000,
      'stored_images': False,
      'shapes': {'image_size': 64, 'num_train': 20_000, 'num_eval': 2_000,
                 'seed': 0, 'num_classes': 12, 'occluders': 0.0,
                 'dark_details': False, 'face_breeds': False},
  })


def imagenet_class_names() -> tuple[str, ...]:
  """ImageNet 2012's classes by index, the first WordNet synonym of each
  ('tench', 'goldfish', ...): TFDS ships them, so no data set is needed."""
  # pylint: disable-next=g-import-not-at-top
  from tensorflow_datasets.datasets.siscore import labels
  return tuple(name.split(',')[0] for name in labels.IMAGENET_LABELS_LIST)


def host_rows(batch_size: int, process_index: int,
              process_count: int) -> tuple[int, int]:
  """This process's rows [start, stop) of every global training batch.

  Every process reads the same shuffled stream of a training epoch (still
  encoded) and decodes only its rows, so the global batches, their crops and
  their order do not depend on the number of processes.
  """
  per_host = batch_size // process_count
  return process_index * per_host, (process_index + 1) * per_host


def _epoch_seeds(seed: int, epoch: int) -> tuple[int, int]:
  """(shuffle seed, per-example key) of one epoch, the same on every
  process."""
  # The trailing 0 was the process index when each host shuffled its own
  # part; it keeps the orders of one-process runs as they were.
  state = np.random.SeedSequence([seed, epoch, 0])
  shuffle_seed, key = state.generate_state(2, np.uint64) >> np.uint64(1)
  return int(shuffle_seed), int(key)


def _own_rows(batch_size: int):
  """A tf.data predicate on (position in the epoch, example): whether the
  example is in this process's rows of its global batch."""
  start, stop = host_rows(batch_size, jax.process_index(),
                          jax.process_count())

  def own(position, ex):
    del ex
    row = position % batch_size
    return (row >= start) & (row < stop)
  return own


def _batches(ds: tf.data.Dataset) -> Iterator[Batch]:
  for ex in ds.prefetch(builders.AUTOTUNE).as_numpy_iterator():
    if 'offset' in ex:
      images = preprocess.Crops(ex['image'], ex['offset'], ex['flip'],
                                ex['alpha'])
    elif 'square' in ex:
      images = preprocess.Squares(ex['square'])
    else:
      images = ex['image']
    yield Batch(images, ex['label'], ex['mask'], ex['index'])


def _uint8_crop(square: tf.Tensor, offset, crop_size: int) -> dict:
  """The fields of a `preprocess.Crops` row: the uint8 crop at `offset`."""
  top, left = offset[0], offset[1]
  return {'image': square[top:top + crop_size, left:left + crop_size],
          'offset': tf.cast(offset, tf.int32)}


class DataSource:
  """The data a config reads, built once: its prepared TFDS builder (the
  built-in set rendered, a stored form made, on first use), the training
  split's mean image and colour statistics (computed once and cached beside
  the data), and batches of it.

  The trainer makes one per run and reads every batch from it; a transfer
  run's cached inputs (`training.transfer`) offer the same interface:
  `info`, `mean_image`, `statistics()`, `steps_per_epoch()`,
  `train_batches(...)`, `eval_batches(...)`.
  """

  def __init__(self, config: ml_collections.ConfigDict):
    builders.check_config(config)
    self.config = config
    self.builder = builders.prepared(config)

  # ------------------------------------------------------------ what it is

  @functools.cached_property
  def info(self) -> DatasetInfo:
    label, multi_label = builders.label_feature(self.builder)
    return DatasetInfo(
        name=self.config.dataset,
        num_classes=label.num_classes,
        class_names=tuple(label.names),
        split_sizes={name: split.num_examples
                     for name, split in self.builder.info.splits.items()},
        image_size=self.config.crop_size,
        multi_label=multi_label)

  @functools.cached_property
  def _moments(self) -> tuple[np.ndarray, np.ndarray]:
    return statistics.mean_and_covariance(
        self.builder, self.config.train_split, self.config.resize_size)

  @functools.cached_property
  def mean_image(self) -> np.ndarray:
    """The per-pixel mean of the training split: (R, R, 3) float32, 0..255.

    A config with `mean_rgb` set (a converted torchvision model, whose
    training subtracted a per-channel mean) gives that constant image.
    """
    if self.config.get('mean_rgb') is not None:
      return np.broadcast_to(
          np.asarray(self.config.mean_rgb, np.float32),
          (self.config.resize_size, self.config.resize_size, 3))
    return self._moments[0]

  @functools.cached_property
  def color_pca(self) -> crops.ColorPCA:
    """Eigen-decomposition of the training split's RGB covariance."""
    return statistics.color_pca(self._moments[1])

  @property
  def preprocessing(self) -> images_lib.Preprocessing:
    """How this data's images become model inputs (and back)."""
    return images_lib.Preprocessing(self.config.resize_size,
                                    self.config.crop_size, self.mean_image)

  def statistics(self) -> preprocess.Statistics:
    """What the steps need to finish `on_device` batches: the mean image
    and, with `pca_augment`, the colour PCA."""
    pca = self.color_pca if self.config.pca_augment else None
    return preprocess.statistics(self.mean_image,
                                 *(pca if pca is not None else ()))

  def steps_per_epoch(self) -> int:
    """Training steps in one epoch: train examples // global batch size."""
    config = self.config
    steps = builders.split_size(self.builder,
                                config.train_split) // config.batch_size
    if steps == 0:
      raise ZfjaxError(f'config.batch_size ({config.batch_size}) exceeds the '
                       f'{config.train_split} split of {config.dataset}')
    return steps

  def split_size(self, split: str) -> int:
    """Examples in `split`; a one-line error naming the splits there are."""
    return builders.split_size(self.builder, split)

  # --------------------------------------------------------------- batches

  def train_batches(self, *, epoch: int, seed: int, skip_batches: int = 0,
                    on_device: bool = False) -> Iterator[Batch]:
    """One epoch of this process's part of the training split.

    Yields `steps_per_epoch()` batches of batch_size // process_count
    examples: process p's rows of each global batch (`host_rows`). The
    global batches take the epoch's shuffled order `batch_size` at a time,
    every example at most once (the order's last split_size % batch_size are
    left out). The order, crops, flips and colour shifts depend only on
    (seed, epoch), not on the number of processes, so skipping
    `skip_batches` gives exactly the batches an uninterrupted epoch yields
    after them; the skipped examples and other processes' rows are not
    decoded. `on_device`: images are `preprocess.Crops`, the uint8 crops
    (resized pixels rounded) with their draws, for the step to finish;
    `preprocess.finish_crops` of them equals the float images of the same
    pixels.
    """
    config, builder = self.config, self.builder
    mean = None if on_device else tf.constant(self.mean_image)
    pca = self.color_pca if config.pca_augment else None
    steps = self.steps_per_epoch()
    per_host = config.batch_size // jax.process_count()
    shuffle_seed, key = _epoch_seeds(seed, epoch)
    decode = builders.decoder(builder, config.resize_size,
                              tf.uint8 if on_device else tf.float32)
    label = builders.label_fn(builder)

    def finish(position, ex):
      image = decode(ex['image'])
      example_seed = tf.stack([tf.constant(key, tf.int64), position])
      if on_device:
        offset, flip, alpha = crops.train_draws(
            example_seed, config.resize_size, config.crop_size,
            pca is not None)
        out = {**_uint8_crop(image, offset, config.crop_size), 'flip': flip,
               'alpha': alpha}
      else:
        out = {'image': crops.train_crop(image, mean, example_seed,
                                         config.crop_size, pca)}
      return {**out, 'label': label(ex),
              'mask': tf.constant(True), 'index': ex['index']}

    size = builders.split_size(builder, config.train_split)
    ds = builders.read(builder, config.train_split, 0, size,
                       shuffle_seed=shuffle_seed)
    ds = ds.shuffle(config.shuffle_buffer, seed=shuffle_seed,
                    reshuffle_each_iteration=False)
    ds = ds.take(steps * config.batch_size).enumerate().skip(
        skip_batches * config.batch_size)
    ds = ds.filter(_own_rows(config.batch_size))
    ds = ds.map(finish, num_parallel_calls=builders.AUTOTUNE,
                deterministic=True)
    return _batches(ds.batch(per_host, drop_remainder=True))

  def _eval_example(self, ten_crop: bool, on_device: bool = False):
    config = self.config
    decode = builders.decoder(self.builder, config.resize_size,
                              tf.uint8 if on_device else tf.float32)
    mean = None if on_device else tf.constant(self.mean_image)
    crop = config.crop_size
    mid = (config.resize_size - crop) // 2
    label = builders.label_fn(self.builder)

    def finish(ex):
      image = decode(ex['image'])
      if on_device and ten_crop:
        out = {'square': image}
      elif on_device:
        out = {**_uint8_crop(image, tf.constant([mid, mid]), crop),
               'flip': tf.constant(False), 'alpha': tf.zeros([3], tf.float32)}
      else:
        out = {'image': crops.ten_crops(image, mean, crop) if ten_crop
                        else crops.centre_crop(image, mean, crop)}
      return {**out, 'label': label(ex),
              'mask': tf.constant(True), 'index': ex['index']}

    return finish

  def eval_batches(self, split: str, *, batch_size: int,
                   ten_crop: bool = False,
                   on_device: bool = False) -> Iterator[Batch]:
    """Every example of this process's part of `split` exactly once, in
    order.

    `batch_size` is global: each of the P processes yields batches of
    batch_size // P, and all yield the same number of them, ceil(largest
    part / (batch_size // P)); rows past the end of the part are padding,
    with mask False, label 0, index -1 and zero images. `on_device`: images
    are `preprocess.Crops` of the centre crops, or with `ten_crop`
    `preprocess.Squares`, for the evaluation step to finish.
    """
    if batch_size <= 0 or batch_size % jax.process_count():
      raise ZfjaxError(f'eval batch_size ({batch_size}) must be a positive '
                       f'multiple of the {jax.process_count()} processes')
    num_examples = builders.split_size(self.builder, split)
    per_host = batch_size // jax.process_count()
    start, stop = builders.host_range(num_examples)
    largest = -(-num_examples // jax.process_count())
    num_batches = -(-largest // per_host)
    ds = builders.read(self.builder, split, start, stop).map(
        self._eval_example(ten_crop, on_device),
        num_parallel_calls=builders.AUTOTUNE, deterministic=True)
    padding = tf.data.Dataset.from_tensors({
        k: tf.zeros(spec.shape, spec.dtype) for k, spec in
        ds.element_spec.items()}).map(
            lambda ex: {**ex, 'mask': tf.constant(False),
                        'index': tf.constant(-1, tf.int64)})
    ds = ds.concatenate(padding.repeat(num_batches * per_host
                                       - (stop - start)))
    return _batches(ds.batch(per_host, drop_remainder=True))

  # ------------------------------------------------------------ examples

  def load_examples(self, split: str, indices: Sequence[int]) -> Batch:
    """The evaluation (centre crop) inputs of `split` at `indices`, in
    order: exactly the images `eval_batches` yields for those indices; mask
    all True."""
    ds, wanted = builders.select(self.builder, split, indices)
    ds = ds.map(self._eval_example(False),
                num_parallel_calls=builders.AUTOTUNE)
    ex = builders.gather(ds, wanted, indices)
    return Batch(ex['image'], ex['label'], ex['mask'], ex['index'])

  def load_raw_examples(self, split: str,
                        indices: Sequence[int]) -> RawExamples:
    """zfjax_shapes examples of `split` at `indices` as stored, with
    boxes."""
    if self.config.dataset != 'zfjax_shapes':
      raise ZfjaxError('object and part boxes exist only for zfjax_shapes; '
                       "set config.dataset = 'zfjax_shapes'")
    builder = builders.prepared_source(self.config)
    ds, wanted = builders.select(builder, split, indices)
    ds = ds.map(lambda ex: {**ex, 'image': tf.io.decode_png(ex['image'], 3)},
                num_parallel_calls=builders.AUTOTUNE)
    ex = builders.gather(ds, wanted, indices)
    return RawExamples(ex['image'], ex['label'].astype(np.int32), ex['bbox'],
                       ex['part_boxes'], ex['index'])


def prepare(config: ml_collections.ConfigDict) -> DataSource:
  """Prepares the data set of `config` (`builders.prepare`) and caches its
  mean image and colour statistics; returns its source."""
  builders.prepare(config)
  source = DataSource(config)
  if config.get('mean_rgb') is None:
    source.color_pca  # pylint: disable=pointless-statement
  return source
