"""The one data module: TFDS input pipelines with the paper's preprocessing.

Two data sets: ImageNet 2012 (TFDS `imagenet2012`, prepared once from the two
official tar files) and the built-in `zfjax_shapes` (rendered on first use,
see `shapes`). Preprocessing, as Krizhevsky et al. and Zeiler & Fergus §3:
take the central square of the image and resize it to `resize_size` (the
same as resizing the smaller side and centre-cropping), subtract the
per-pixel mean image of the training split, then
  training: a random `crop_size` crop and a random horizontal flip, plus
    AlexNet's PCA colour shift when `pca_augment` is set;
  evaluation: the centre crop, or the 10 crops (below).
Images are float32 NHWC in pixel units (0..255 before the mean subtraction).

Config keys (an ml_collections.ConfigDict; `default_data_config` builds one):
  dataset:        'imagenet2012' or 'zfjax_shapes'.
  data_dir:       TFDS data directory; None = TFDS's (~/tensorflow_datasets).
  manual_dir:     where ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar
                  are; None or absent = <data_dir>/downloads/manual.
  resize_size:    side of the resized central square (256; for zfjax_shapes
                  its rendered size, 64).
  crop_size:      side of the crops fed to the model (224; for zfjax_shapes
                  56, the same 7/8 of the square, so training crops translate
                  the image by up to 8 pixels).
  batch_size:     global batch size, split evenly over the JAX processes.
  pca_augment:    add AlexNet's PCA colour shift in training.
  train_split, eval_split: 'train', 'validation'.
  shuffle_buffer: examples in the shuffle buffer (after file shuffling).
  stored_images:  read the stored form of the data set (every image's
                  central square resized to resize_size once, JPEG quality
                  `stored_dataset.QUALITY`, 4:4:4) instead of resizing every
                  epoch;
                  `python -m zfjax.input_pipeline --stored` prepares it.
  shapes:         zfjax_shapes only: image_size, num_train, num_eval, seed.

The mean image and the RGB covariance (for the PCA shift) are computed once,
streaming over the training split, and cached as .npy files beside the
prepared data. Each JAX process reads its own contiguous part of a split.
`python -m zfjax.input_pipeline --dataset=imagenet2012` prepares a data set
and its statistics ahead of time.
"""

from __future__ import annotations

import argparse
import os
import uuid
from typing import Iterator, NamedTuple, Sequence

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from zfjax import preprocess  # noqa: E402
from zfjax import shapes_dataset  # noqa: E402
from zfjax import stored_dataset  # noqa: E402
from zfjax.errors import ZfjaxError  # noqa: E402

# TFDS's use of deprecated tf.data calls would warn on every first read.
tf.get_logger().setLevel('ERROR')
try:
  # tf.data must leave the accelerators to JAX.
  tf.config.set_visible_devices([], 'GPU')
except RuntimeError:
  pass  # TensorFlow was initialised before this import; its setting stands.

IMAGENET_TARS = ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar')
# AlexNet's standard deviation of the PCA colour coefficients alpha_i.
PCA_STD = 0.1
_DATASETS = ('imagenet2012', 'zfjax_shapes', 'zfjax_shapes_novel',
             'caltech101', 'caltech256', 'voc/2012')
# Data sets prepared from archives the user downloads (TFDS manual dir), and
# how messages name them.
MANUAL_ARCHIVES = {'imagenet2012': IMAGENET_TARS,
                   'caltech256': ('256_ObjectCategories.tar',)}
_TITLES = {'imagenet2012': 'ImageNet 2012', 'caltech256': 'Caltech-256',
           'caltech101': 'Caltech-101', 'voc/2012': 'PASCAL VOC 2012'}
_AUTOTUNE = tf.data.AUTOTUNE


class Batch(NamedTuple):
  """One batch of preprocessed examples.

  images: (B, crop, crop, 3) float32, mean-subtracted, 0..255 pixel scale;
    with ten crops (B, 10, crop, crop, 3), crops ordered as `TEN_CROPS`.
    With `on_device=True`: a `preprocess.Crops` (uint8 crops and their
    draws) or, for ten crops, a `preprocess.Squares` (uint8 resized
    squares), which the jitted steps finish (`preprocess.finish`).
  labels: (B,) int32.
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


class ColorPCA(NamedTuple):
  """Principal components of RGB pixel values scaled to [0, 1]."""
  eigenvalues: np.ndarray   # (3,) variances, descending
  eigenvectors: np.ndarray  # (3, 3), column i is p_i


def default_data_config(dataset: str = 'zfjax_shapes') -> ml_collections.ConfigDict:
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
                 'seed': 0},
  })


# --------------------------------------------------------------------------
# Per-example preprocessing: functions of tensors, usable outside tf.data.


def decode_square(encoded: tf.Tensor, resize_size: int, image_format: str,
                  stored_size: int | None = None,
                  dtype: tf.DType = tf.float32) -> tf.Tensor:
  """Encoded image -> its central square resized, (R, R, 3) float32 0..255.

  JPEGs are decoded with the crop fused in, so the discarded sides of the
  image are never decoded, and with the accurate integer IDCT, libjpeg's
  default (TensorFlow's is the fast one), which gives the pixels other
  decoders give. The resize is antialiased: dearer (bilinear without it
  runs about 1.6 times as fast) but free of the aliasing that the
  architecture study (ZF Fig. 6) looks for in the filters. `stored_size`:
  the side of the images when all are squares of that size (zfjax_shapes,
  stored forms); at R they are used as they are. `dtype` tf.uint8 rounds
  the resized pixels to the nearest integer (what `on_device` pipelines
  send).
  """
  if stored_size == resize_size:
    if image_format == 'jpeg':
      image = tf.io.decode_jpeg(encoded, channels=3,
                                dct_method='INTEGER_ACCURATE')
    else:
      image = tf.io.decode_png(encoded, channels=3)
    image.set_shape([resize_size, resize_size, 3])
    return tf.cast(image, dtype)
  if image_format == 'jpeg':
    shape = tf.image.extract_jpeg_shape(encoded)
    side = tf.minimum(shape[0], shape[1])
    window = tf.stack([(shape[0] - side) // 2, (shape[1] - side) // 2,
                       side, side])
    image = tf.io.decode_and_crop_jpeg(encoded, window, channels=3,
                                       dct_method='INTEGER_ACCURATE')
  else:
    image = tf.io.decode_png(encoded, channels=3)
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    image = image[top:top + side, left:left + side]
  image = tf.image.resize(image, [resize_size, resize_size], antialias=True)
  if dtype == tf.uint8:
    return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
  return image


def _crop(image: tf.Tensor, mean: tf.Tensor, top, left,
          size: int) -> tf.Tensor:
  return (image[top:top + size, left:left + size]
          - mean[top:top + size, left:left + size])


def train_draws(seed: tf.Tensor, resize_size: int, crop_size: int,
                pca: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """The random choices of one training example, from its stateless seed.

  Returns (offset (2,) int32 top-left of the crop, uniform over the
  R - C + 1 positions per axis; flip () bool, probability 1/2; alpha (3,)
  float32 PCA coefficients ~ N(0, PCA_STD), zeros unless `pca`).
  """
  crop_seed, flip_seed, pca_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3))
  reach = resize_size - crop_size + 1
  offset = tf.random.stateless_uniform([2], crop_seed, 0, reach, tf.int32)
  flip = tf.random.stateless_uniform([], flip_seed) < 0.5
  if pca:
    alpha = tf.random.stateless_normal([3], pca_seed, stddev=PCA_STD)
  else:
    alpha = tf.zeros([3], tf.float32)
  return offset, flip, alpha


def train_crop(image: tf.Tensor, mean: tf.Tensor, seed: tf.Tensor,
               crop_size: int, pca: ColorPCA | None = None) -> tf.Tensor:
  """Random crop and flip of one (R, R, 3) image, mean subtracted.

  Args:
    image: (R, R, 3) float32 from `decode_square`.
    mean: (R, R, 3) the mean image.
    seed: (2,) int, the stateless seed of this example (`train_draws`).
    crop_size: C.
    pca: when given, add sum_i alpha_i lambda_i p_i with alpha_i ~ N(0, 0.1)
      (in [0, 1] units, so times 255 here) to every pixel.

  Returns:
    (C, C, 3) float32.
  """
  offset, flip, alpha = train_draws(seed, image.shape[0], crop_size,
                                    pca is not None)
  out = _crop(image, mean, offset[0], offset[1], crop_size)
  out = tf.cond(flip, lambda: out[:, ::-1], lambda: out)
  if pca is not None:
    shift = tf.linalg.matvec(tf.constant(pca.eigenvectors, tf.float32),
                             alpha * tf.constant(pca.eigenvalues, tf.float32))
    out = out + 255.0 * shift
  return out


def centre_crop(image: tf.Tensor, mean: tf.Tensor,
                crop_size: int) -> tf.Tensor:
  """(R, R, 3) -> (C, C, 3), the central crop, mean subtracted."""
  offset = (image.shape[0] - crop_size) // 2
  return _crop(image, mean, offset, offset, crop_size)


# One definition for the host and the device (`preprocess.ten_crops`).
ten_crop_offsets = preprocess.ten_crop_offsets


def ten_crops(image: tf.Tensor, mean: tf.Tensor, crop_size: int) -> tf.Tensor:
  """(R, R, 3) -> (10, C, C, 3): `ten_crop_offsets` then their mirrors."""
  crops = tf.stack([_crop(image, mean, top, left, crop_size) for top, left in
                    ten_crop_offsets(image.shape[0], crop_size)])
  return tf.concat([crops, crops[:, :, ::-1]], axis=0)


# --------------------------------------------------------------------------
# Data sets.


def _check_config(config) -> None:
  if config.dataset not in _DATASETS:
    raise ZfjaxError(f'config.dataset must be one of {_DATASETS}, got '
                     f'{config.dataset!r}')
  if not 0 < config.crop_size <= config.resize_size:
    raise ZfjaxError(f'config.crop_size ({config.crop_size}) must be positive '
                     f'and at most config.resize_size ({config.resize_size})')
  if config.batch_size <= 0 or config.batch_size % jax.process_count():
    raise ZfjaxError(f'config.batch_size ({config.batch_size}) must be a '
                     f'positive multiple of the {jax.process_count()} processes')


def _missing_tars(config) -> tuple[str, list[str]]:
  """(manual dir, the data set's archives not in it)."""
  manual_dir = config.get('manual_dir')
  if not manual_dir:
    data_dir = config.data_dir or tfds.core.constants.DATA_DIR
    manual_dir = os.path.join(os.path.expanduser(data_dir), 'downloads',
                              'manual')
  manual_dir = os.fspath(manual_dir)
  return manual_dir, [t for t in MANUAL_ARCHIVES[config.dataset]
                      if not tf.io.gfile.exists(os.path.join(manual_dir, t))]


def _prepare_command(config) -> str:
  command = f'python -m zfjax.input_pipeline --dataset={config.dataset}'
  if config.get('stored_images'):
    command += ' --stored'
    if config.resize_size != default_data_config(config.dataset).resize_size:
      command += f' --resize_size={config.resize_size}'
  if config.data_dir:
    command += f' --data_dir={config.data_dir}'
  if config.get('manual_dir'):
    command += f' --manual_dir={config.manual_dir}'
  return command


def _builder(config) -> tfds.core.DatasetBuilder:
  """The prepared TFDS builder of what `config` reads: the data set, or
  its stored form (`config.stored_images`); renders zfjax_shapes (and
  stores it) if not there yet."""
  if not config.get('stored_images'):
    return _source_builder(config)
  _check_config(config)
  stored = _stored_builder(config)
  if not stored.is_prepared():
    if config.dataset != 'zfjax_shapes':
      raise ZfjaxError(
          f'the stored {config.resize_size}-px form of {config.dataset} is '
          f'not prepared; run `{_prepare_command(config)}`')
    _prepare_stored(config)
    stored = _stored_builder(config)  # with the info written by preparing
  return stored


def _stored_builder(config, read=None) -> stored_dataset.ZfjaxStoredSquares:
  if config.dataset == 'zfjax_shapes':
    s = config.shapes
    source = shapes_dataset.builder(s.image_size, s.num_train, s.num_eval,
                                    s.seed, data_dir=config.data_dir)
  else:
    source = tfds.builder(config.dataset, data_dir=config.data_dir)
  return stored_dataset.builder(source, config.resize_size,
                                data_dir=config.data_dir, read=read)


def _prepare_stored(config) -> None:
  """Writes the stored form of `config`'s data set from the prepared set."""
  source = _source_builder(config)
  size = config.resize_size
  decode = _decoder(source, size, tf.uint8)

  def read(split):
    ds = _read(source, split, 0, _split_size(source, split), ordered=True)
    return ds.map(lambda ex: {'image': decode(ex['image']),
                              'label': ex['label'], 'index': ex['index']},
                  num_parallel_calls=_AUTOTUNE, deterministic=True)

  _stored_builder(config, read).download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))


def _source_builder(config) -> tfds.core.DatasetBuilder:
  """The prepared TFDS builder of the data set; renders zfjax_shapes if not
  there yet."""
  _check_config(config)
  if config.dataset in ('zfjax_shapes', 'zfjax_shapes_novel'):
    s = config.shapes
    builder = shapes_dataset.builder(
        s.image_size, s.num_train, s.num_eval, s.seed,
        data_dir=config.data_dir, novel=config.dataset == 'zfjax_shapes_novel')
    if not builder.is_prepared():
      builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
          try_download_gcs=False))
    return builder
  if config.dataset == 'caltech256':
    from zfjax import caltech256  # pylint: disable=g-import-not-at-top
    builder = caltech256.Caltech256(data_dir=config.data_dir)
  else:
    builder = tfds.builder(config.dataset, data_dir=config.data_dir)
  if not builder.is_prepared():
    title = _TITLES[config.dataset]
    if config.dataset not in MANUAL_ARCHIVES:
      raise ZfjaxError(f'{title} is not prepared: run '
                       f'`{_prepare_command(config)}` (TFDS downloads it)')
    manual_dir, missing = _missing_tars(config)
    if missing:
      raise ZfjaxError(f'{title} is not prepared: put {" and ".join(missing)}'
                       f' in {manual_dir}, then run `{_prepare_command(config)}`')
    raise ZfjaxError(f'{title} is not prepared: the tars are in '
                     f'{manual_dir}; run `{_prepare_command(config)}`')
  return builder


def _split_size(builder, split: str) -> int:
  if split not in builder.info.splits:
    raise ZfjaxError(f'{builder.name} has splits {sorted(builder.info.splits)}, '
                     f'not {split!r}; fix config.train_split/eval_split')
  return builder.info.splits[split].num_examples


def _decoder(builder, resize_size: int, dtype: tf.DType = tf.float32):
  """encoded -> (R, R, 3) `dtype` for the images of `builder`."""
  feature = builder.info.features['image']
  fmt, stored = feature.encoding_format or 'jpeg', feature.shape[0]
  return lambda encoded: decode_square(encoded, resize_size, fmt, stored,
                                       dtype)


def _host_range(num_examples: int) -> tuple[int, int]:
  """This process's contiguous part [start, stop) of a split."""
  index, count = jax.process_index(), jax.process_count()
  return num_examples * index // count, num_examples * (index + 1) // count


def _read(builder, split: str, start: int, stop: int, *, shuffle_seed=None,
          ordered: bool = False):
  """Records [start, stop) of a split, image still encoded, with 'index'.

  With `shuffle_seed` the files are read in a shuffled order (training),
  except for zfjax_shapes, which is stored in index order and whose few files
  are left to the shuffle buffer. `ordered`: one file at a time, so records
  come in index order.
  """
  num_examples = _split_size(builder, split)
  if (start, stop) != (0, num_examples):
    split = f'{split}[{start}:{stop}]'
  read_config = tfds.ReadConfig(add_tfds_id=True, try_autocache=False,
                                shuffle_seed=shuffle_seed)
  if ordered:
    read_config.interleave_cycle_length = 1
  shuffle_files = shuffle_seed is not None and not builder.info.disable_shuffling
  ds = builder.as_dataset(
      split=split, shuffle_files=shuffle_files,
      decoders={'image': tfds.decode.SkipDecoding()}, read_config=read_config)
  base_split = split.split('[')[0]
  shard_starts = tf.constant(np.concatenate(
      [[0], np.cumsum(builder.info.splits[base_split].shard_lengths)[:-1]]),
                             tf.int64)

  def with_index(example):
    # tfds_id is '<name>-<split>.<format>-<shard>-of-<n>__<record in shard>'.
    tfds_id = example.pop('tfds_id')
    shard = tf.strings.regex_replace(tfds_id, r'^.*-(\d+)-of-\d+__\d+$', r'\1')
    record = tf.strings.regex_replace(tfds_id, r'^.*__(\d+)$', r'\1')
    example['index'] = (tf.gather(shard_starts, tf.strings.to_number(shard, tf.int64))
                        + tf.strings.to_number(record, tf.int64))
    return example

  return ds.map(with_index, num_parallel_calls=_AUTOTUNE)


def _stats_paths(builder, config) -> tuple[str, str]:
  prefix = os.path.join(builder.data_dir,
                        f'zfjax_{config.train_split}_{config.resize_size}')
  return prefix + '_mean.npy', prefix + '_rgb_cov.npy'


def _save(path: str, array: np.ndarray) -> None:
  """Writes atomically: processes racing to cache the same file are safe."""
  tmp = f'{path}.tmp-{uuid.uuid4().hex}'
  with tf.io.gfile.GFile(tmp, 'wb') as f:
    np.save(f, array)
  tf.io.gfile.rename(tmp, path, overwrite=True)


def _load(path: str) -> np.ndarray:
  with tf.io.gfile.GFile(path, 'rb') as f:
    return np.load(f)


def _statistics(config) -> tuple[np.ndarray, np.ndarray]:
  """(mean image (R, R, 3) float32, RGB covariance (3, 3) in [0, 1] units).

  Computed in one streaming pass over the training split the first time and
  read from the cache afterwards.
  """
  builder = _builder(config)
  mean_path, cov_path = _stats_paths(builder, config)
  if tf.io.gfile.exists(mean_path) and tf.io.gfile.exists(cov_path):
    return _load(mean_path), _load(cov_path)
  decode, size = _decoder(builder, config.resize_size), config.resize_size
  ds = _read(builder, config.train_split, 0,
             _split_size(builder, config.train_split))
  ds = ds.map(lambda ex: decode(ex['image']), num_parallel_calls=_AUTOTUNE)

  def moments(images):
    images = tf.cast(images, tf.float64)
    pixels = tf.reshape(images, [-1, 3]) / 255.0
    return (tf.reduce_sum(images, axis=0),
            tf.matmul(pixels, pixels, transpose_a=True),
            tf.shape(images, out_type=tf.int64)[0])

  ds = ds.batch(64).map(moments, num_parallel_calls=_AUTOTUNE).prefetch(2)
  image_sum, outer_sum, count = np.zeros((size, size, 3)), np.zeros((3, 3)), 0
  for image_batch_sum, outer, n in ds.as_numpy_iterator():
    image_sum += image_batch_sum
    outer_sum += outer
    count += n
  if count == 0:
    raise ZfjaxError(f'the {config.train_split} split of {builder.name} is empty')
  pixel_mean = image_sum.mean(axis=(0, 1)) / count / 255.0
  cov = outer_sum / (count * size * size) - np.outer(pixel_mean, pixel_mean)
  mean = (image_sum / count).astype(np.float32)
  _save(mean_path, mean)
  _save(cov_path, cov)
  return mean, cov


def mean_image(config) -> np.ndarray:
  """The per-pixel mean of the training split: (R, R, 3) float32, 0..255.

  A run with `config.mean_rgb` set (a converted torchvision model, whose
  training subtracted a per-channel mean) uses that constant image instead,
  and needs no data set for it.
  """
  if config.get('mean_rgb') is not None:
    return np.broadcast_to(np.asarray(config.mean_rgb, np.float32),
                           (config.resize_size, config.resize_size, 3))
  return _statistics(config)[0]


def class_names(config) -> tuple[str, ...]:
  """A readable name per class index: for ImageNet 2012 the first WordNet
  synonym of each class ('tench', 'goldfish', ...; TFDS ships them, so no
  prepared data set is needed), otherwise the data set's label names."""
  if config.dataset == 'imagenet2012':
    # pylint: disable-next=g-import-not-at-top
    from tensorflow_datasets.datasets.siscore import labels
    return tuple(name.split(',')[0] for name in labels.IMAGENET_LABELS_LIST)
  return dataset_info(config).class_names


def color_pca(config) -> ColorPCA:
  """Eigen-decomposition of the training split's RGB covariance."""
  values, vectors = np.linalg.eigh(_statistics(config)[1])
  return ColorPCA(values[::-1].copy(), vectors[:, ::-1].copy())


def _label_feature(builder) -> tuple[tfds.features.ClassLabel, bool]:
  """(the class label feature, whether an image has several): VOC lists
  the classes of its objects in 'labels'; the others have one 'label'."""
  features = builder.info.features
  if 'label' in features:
    return features['label'], False
  return features['labels'].feature, True


def _label_fn(builder):
  """example -> () int32 label, or (C,) 0/1 int32 for multi-label sets."""
  feature, multi = _label_feature(builder)
  if not multi:
    return lambda ex: tf.cast(ex['label'], tf.int32)
  return lambda ex: tf.minimum(tf.reduce_sum(tf.one_hot(
      ex['labels'], feature.num_classes, dtype=tf.int32), axis=0), 1)


def dataset_info(config) -> DatasetInfo:
  builder = _builder(config)
  label, multi_label = _label_feature(builder)
  return DatasetInfo(
      name=config.dataset,
      num_classes=label.num_classes,
      class_names=tuple(label.names),
      split_sizes={name: split.num_examples
                   for name, split in builder.info.splits.items()},
      image_size=config.crop_size,
      multi_label=multi_label)


def steps_per_epoch(config) -> int:
  """Training steps in one epoch: train examples // global batch size."""
  builder = _builder(config)
  steps = _split_size(builder, config.train_split) // config.batch_size
  if steps == 0:
    raise ZfjaxError(f'config.batch_size ({config.batch_size}) exceeds the '
                     f'{config.train_split} split of {config.dataset}')
  return steps


def _epoch_seeds(seed: int, epoch: int) -> tuple[int, int]:
  """(shuffle seed, per-example key) of one epoch, the same on every
  process."""
  # The trailing 0 was the process index when each host shuffled its own
  # part; it keeps the orders of one-process runs as they were.
  state = np.random.SeedSequence([seed, epoch, 0])
  shuffle_seed, key = state.generate_state(2, np.uint64) >> np.uint64(1)
  return int(shuffle_seed), int(key)


def host_rows(batch_size: int, process_index: int,
              process_count: int) -> tuple[int, int]:
  """This process's rows [start, stop) of every global training batch.

  Every process reads the same shuffled stream of a training epoch (still
  encoded) and decodes only its rows, so the global batches, their crops and
  their order do not depend on the number of processes.
  """
  per_host = batch_size // process_count
  return process_index * per_host, (process_index + 1) * per_host


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
  for ex in ds.prefetch(_AUTOTUNE).as_numpy_iterator():
    if 'offset' in ex:
      images = preprocess.Crops(ex['image'], ex['offset'], ex['flip'],
                                ex['alpha'])
    elif 'square' in ex:
      images = preprocess.Squares(ex['square'])
    else:
      images = ex['image']
    yield Batch(images, ex['label'], ex['mask'], ex['index'])


def device_statistics(config) -> preprocess.Statistics:
  """What the steps need to finish `on_device` batches: the mean image and,
  with `pca_augment`, the colour PCA."""
  pca = color_pca(config) if config.pca_augment else None
  return preprocess.statistics(mean_image(config),
                               *(pca if pca is not None else ()))


def _uint8_crop(square: tf.Tensor, offset, crop_size: int) -> dict:
  """The fields of a `preprocess.Crops` row: the uint8 crop at `offset`."""
  top, left = offset[0], offset[1]
  return {'image': square[top:top + crop_size, left:left + crop_size],
          'offset': tf.cast(offset, tf.int32)}


def train_batches(config, *, epoch: int, seed: int, skip_batches: int = 0,
                  on_device: bool = False) -> Iterator[Batch]:
  """One epoch of this process's part of the training split.

  Yields `steps_per_epoch(config)` batches of batch_size // process_count
  examples: process p's rows of each global batch (`host_rows`). The global
  batches take the epoch's shuffled order `batch_size` at a time, every
  example at most once (the order's last split_size % batch_size are left
  out). The order, crops, flips and colour shifts depend only on
  (seed, epoch), not on the number of processes, so skipping `skip_batches`
  gives exactly the batches an uninterrupted epoch yields after them; the
  skipped examples and other processes' rows are not decoded. `on_device`:
  images are `preprocess.Crops`, the uint8 crops (resized pixels rounded)
  with their draws, for the step to finish; `preprocess.finish_crops` of them
  equals the float images of the same pixels.
  """
  builder = _builder(config)
  mean = tf.constant(mean_image(config))
  pca = color_pca(config) if config.pca_augment else None
  steps = steps_per_epoch(config)
  per_host = config.batch_size // jax.process_count()
  shuffle_seed, key = _epoch_seeds(seed, epoch)
  decode = _decoder(builder, config.resize_size,
                    tf.uint8 if on_device else tf.float32)
  label = _label_fn(builder)

  def finish(position, ex):
    image = decode(ex['image'])
    example_seed = tf.stack([tf.constant(key, tf.int64), position])
    if on_device:
      offset, flip, alpha = train_draws(example_seed, config.resize_size,
                                        config.crop_size, pca is not None)
      out = {**_uint8_crop(image, offset, config.crop_size), 'flip': flip,
             'alpha': alpha}
    else:
      out = {'image': train_crop(image, mean, example_seed, config.crop_size,
                                 pca)}
    return {**out, 'label': label(ex),
            'mask': tf.constant(True), 'index': ex['index']}

  ds = _read(builder, config.train_split, 0,
             _split_size(builder, config.train_split),
             shuffle_seed=shuffle_seed)
  ds = ds.shuffle(config.shuffle_buffer, seed=shuffle_seed,
                  reshuffle_each_iteration=False)
  ds = ds.take(steps * config.batch_size).enumerate().skip(
      skip_batches * config.batch_size)
  ds = ds.filter(_own_rows(config.batch_size))
  ds = ds.map(finish, num_parallel_calls=_AUTOTUNE, deterministic=True)
  return _batches(ds.batch(per_host, drop_remainder=True))


def _eval_example(config, builder, mean, ten_crop: bool,
                  on_device: bool = False):
  decode = _decoder(builder, config.resize_size,
                    tf.uint8 if on_device else tf.float32)
  crop = config.crop_size
  mid = (config.resize_size - crop) // 2
  label = _label_fn(builder)

  def finish(ex):
    image = decode(ex['image'])
    if on_device and ten_crop:
      out = {'square': image}
    elif on_device:
      out = {**_uint8_crop(image, tf.constant([mid, mid]), crop),
             'flip': tf.constant(False), 'alpha': tf.zeros([3], tf.float32)}
    else:
      out = {'image': ten_crops(image, mean, crop) if ten_crop
                      else centre_crop(image, mean, crop)}
    return {**out, 'label': label(ex),
            'mask': tf.constant(True), 'index': ex['index']}

  return finish


def eval_batches(config, split: str, *, batch_size: int,
                 ten_crop: bool = False,
                 on_device: bool = False) -> Iterator[Batch]:
  """Every example of this process's part of `split` exactly once, in order.

  `batch_size` is global: each of the P processes yields batches of
  batch_size // P, and all yield the same number of them, ceil(largest part
  / (batch_size // P)); rows past the end of the part are padding, with mask
  False, label 0, index -1 and zero images. `on_device`: images are
  `preprocess.Crops` of the centre crops, or with `ten_crop`
  `preprocess.Squares`, for the evaluation step to finish.
  """
  if batch_size <= 0 or batch_size % jax.process_count():
    raise ZfjaxError(f'eval batch_size ({batch_size}) must be a positive '
                     f'multiple of the {jax.process_count()} processes')
  builder = _builder(config)
  mean = tf.constant(mean_image(config))
  num_examples = _split_size(builder, split)
  per_host = batch_size // jax.process_count()
  start, stop = _host_range(num_examples)
  largest = -(-num_examples // jax.process_count())
  num_batches = -(-largest // per_host)
  ds = _read(builder, split, start, stop).map(
      _eval_example(config, builder, mean, ten_crop, on_device),
      num_parallel_calls=_AUTOTUNE, deterministic=True)
  padding = tf.data.Dataset.from_tensors({
      k: tf.zeros(spec.shape, spec.dtype) for k, spec in
      ds.element_spec.items()}).map(
          lambda ex: {**ex, 'mask': tf.constant(False),
                      'index': tf.constant(-1, tf.int64)})
  ds = ds.concatenate(padding.repeat(num_batches * per_host - (stop - start)))
  return _batches(ds.batch(per_host, drop_remainder=True))


def _select(builder, split: str, indices) -> tuple[tf.data.Dataset, np.ndarray]:
  """The records of a split at `indices` (any order, repeats allowed).

  Streams the smallest range of the split that holds them and keeps the
  wanted records before decoding. Returns the records in index order and
  the unique sorted indices.
  """
  indices = np.asarray(indices, np.int64).reshape(-1)
  num_examples = _split_size(builder, split)
  if indices.size == 0:
    raise ZfjaxError('no indices to load')
  if indices.min() < 0 or indices.max() >= num_examples:
    raise ZfjaxError(f'indices must be in [0, {num_examples}) for the '
                     f'{split} split, got [{indices.min()}, {indices.max()}]')
  wanted = np.unique(indices)
  lo, hi = int(wanted[0]), int(wanted[-1]) + 1
  keep = np.zeros(hi - lo, bool)
  keep[wanted - lo] = True
  keep = tf.constant(keep)
  ds = _read(builder, split, lo, hi).filter(
      lambda ex: tf.gather(keep, ex['index'] - lo))
  return ds, wanted


def _gather(ds: tf.data.Dataset, wanted: np.ndarray, indices) -> dict:
  """Stacks the examples of `ds` (one per wanted index) in `indices` order."""
  parts = list(ds.batch(256).prefetch(_AUTOTUNE).as_numpy_iterator())
  stacked = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  order = np.argsort(stacked['index'])
  rows = order[np.searchsorted(wanted, np.asarray(indices, np.int64).reshape(-1))]
  return {k: v[rows] for k, v in stacked.items()}


def load_examples(config, split: str, indices: Sequence[int]) -> Batch:
  """The evaluation (centre crop) inputs of `split` at `indices`, in order.

  Exactly the images `eval_batches` yields for those indices; mask all True.
  """
  builder = _builder(config)
  mean = tf.constant(mean_image(config))
  ds, wanted = _select(builder, split, indices)
  ds = ds.map(_eval_example(config, builder, mean, False),
              num_parallel_calls=_AUTOTUNE)
  ex = _gather(ds, wanted, indices)
  return Batch(ex['image'], ex['label'], ex['mask'], ex['index'])


def load_raw_examples(config, split: str, indices: Sequence[int]) -> RawExamples:
  """zfjax_shapes examples of `split` at `indices` as stored, with boxes."""
  if config.dataset != 'zfjax_shapes':
    raise ZfjaxError('object and part boxes exist only for zfjax_shapes; set '
                     "config.dataset = 'zfjax_shapes'")
  builder = _source_builder(config)
  ds, wanted = _select(builder, split, indices)
  ds = ds.map(lambda ex: {**ex, 'image': tf.io.decode_png(ex['image'], 3)},
              num_parallel_calls=_AUTOTUNE)
  ex = _gather(ds, wanted, indices)
  return RawExamples(ex['image'], ex['label'].astype(np.int32), ex['bbox'],
                     ex['part_boxes'], ex['index'])


def to_display(images: np.ndarray, config) -> np.ndarray:
  """Undoes the mean subtraction of centre crops: (..., C, C, 3) -> uint8."""
  mean = mean_image(config)
  offset = (config.resize_size - config.crop_size) // 2
  crop = mean[offset:offset + config.crop_size,
              offset:offset + config.crop_size]
  return np.clip(np.rint(np.asarray(images) + crop), 0, 255).astype(np.uint8)


def prepare(config) -> None:
  """Prepares the data set of `config` and caches its statistics.

  ImageNet: from the two tars in the manual dir (hours: 1.28 M JPEGs);
  Caltech-256 from its tar in the manual dir; Caltech-101 and VOC 2012 are
  downloaded by their TFDS builders (the one step that goes online). With
  `config.stored_images`, then also its stored form (each image's central
  square resized to resize_size once, JPEG) and that form's statistics.
  """
  _check_config(config)
  if config.dataset in MANUAL_ARCHIVES:
    manual_dir, missing = _missing_tars(config)
    if missing:
      raise ZfjaxError(f'put {" and ".join(missing)} in {manual_dir} (or pass '
                       f'--manual_dir) to prepare {_TITLES[config.dataset]}')
    if config.dataset == 'caltech256':
      from zfjax import caltech256  # pylint: disable=g-import-not-at-top
      builder = caltech256.Caltech256(data_dir=config.data_dir)
    else:
      builder = tfds.builder(config.dataset, data_dir=config.data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir, try_download_gcs=False))
  elif config.dataset in _TITLES:
    tfds.builder(config.dataset, data_dir=config.data_dir).download_and_prepare()
  if config.get('stored_images') and not _stored_builder(config).is_prepared():
    _prepare_stored(config)
  _statistics(config)


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(
      prog='python -m zfjax.input_pipeline',
      description='Prepare a data set and cache its mean image.')
  parser.add_argument('--dataset', choices=_DATASETS, default='zfjax_shapes')
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--manual_dir', default=None)
  parser.add_argument(
      '--stored', action='store_true',
      help='also write the stored form (central squares resized to '
           '--resize_size once, JPEG) that config.stored_images reads')
  parser.add_argument('--resize_size', type=int, default=None,
                      help='side of the stored squares (default: 256 for '
                           'imagenet2012, 64 for zfjax_shapes)')
  args = parser.parse_args(argv)
  config = default_data_config(args.dataset)
  config.data_dir, config.manual_dir = args.data_dir, args.manual_dir
  config.stored_images = args.stored
  if args.resize_size is not None:
    config.resize_size = args.resize_size
    config.crop_size = min(config.crop_size, args.resize_size)
  try:
    prepare(config)
  except ZfjaxError as e:
    raise SystemExit(f'error: {e}') from None
  print(f'{args.dataset} is ready: {dataset_info(config).split_sizes}')


if __name__ == '__main__':
  main()
