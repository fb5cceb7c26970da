"""Which TFDS builder a config reads, preparing it, and reading its records.

The data sets: ImageNet 2012 (TFDS `imagenet2012`, prepared once from the
two official tars in the manual dir), Caltech-256 (this project's builder,
from its tar), Caltech-101 and PASCAL VOC 2012 (TFDS downloads them), and
the built-in `zfjax_shapes` and `zfjax_shapes_novel` (rendered on first
use). Each can also be read in its stored form (`config.stored_images`:
every image's central square resized to resize_size once, JPEG). Records
come with their position in the split (`index`); images stay encoded
until the pipeline decodes the ones it needs.
"""

from __future__ import annotations

import logging
import os

import jax
import numpy as np
import tensorflow_datasets as tfds

from zfjax.data import crops
from zfjax.data import shapes
from zfjax.data import shapes_dataset
from zfjax.data import stored_dataset
from zfjax.data import tf_setup
from zfjax.data.tf_setup import tf
from zfjax.errors import ZfjaxError

log = logging.getLogger(__name__)

IMAGENET_TARS = ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar')
DATASETS = ('imagenet2012', 'zfjax_shapes', 'zfjax_shapes_novel',
            'caltech101', 'caltech256', 'voc/2012')
# Data sets prepared from archives the user downloads (TFDS manual dir), and
# how messages name them.
MANUAL_ARCHIVES = {'imagenet2012': IMAGENET_TARS,
                   'caltech256': ('256_ObjectCategories.tar',)}
_TITLES = {'imagenet2012': 'ImageNet 2012', 'caltech256': 'Caltech-256',
           'caltech101': 'Caltech-101', 'voc/2012': 'PASCAL VOC 2012'}
AUTOTUNE = tf.data.AUTOTUNE



def check_config(config) -> None:
  if config.dataset not in DATASETS:
    raise ZfjaxError(f'config.dataset must be one of {DATASETS}, got '
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
  command = f'python -m zfjax prepare --dataset={config.dataset}'
  if config.get('stored_images'):
    command += ' --stored'
    if config.resize_size != (256 if config.dataset == 'imagenet2012' else 64):
      command += f' --resize_size={config.resize_size}'
  if config.data_dir:
    command += f' --data_dir={config.data_dir}'
  if config.get('manual_dir'):
    command += f' --manual_dir={config.manual_dir}'
  return command


def prepared(config) -> tfds.core.DatasetBuilder:
  """The prepared TFDS builder of what `config` reads: the data set, or
  its stored form (`config.stored_images`); renders zfjax_shapes (and
  stores it) if not there yet."""
  if not config.get('stored_images'):
    return prepared_source(config)
  check_config(config)
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
                                    s.seed, data_dir=config.data_dir,
                                    world=shapes.World.of(s))
  else:
    source = tfds.builder(config.dataset, data_dir=config.data_dir)
  return stored_dataset.builder(source, config.resize_size,
                                data_dir=config.data_dir, read=read)


def _prepare_stored(config) -> None:
  """Writes the stored form of `config`'s data set from the prepared set."""
  source = prepared_source(config)
  size = config.resize_size
  decode = decoder(source, size, tf.uint8)

  def read_split(split):
    ds = read(source, split, 0, split_size(source, split), ordered=True)
    return ds.map(lambda ex: {'image': decode(ex['image']),
                              'label': ex['label'], 'index': ex['index']},
                  num_parallel_calls=AUTOTUNE, deterministic=True)

  log.info('writing the %d-px stored form of %s into %s', size,
           config.dataset, config.data_dir or tfds.core.constants.DATA_DIR)
  with tf_setup.quiet_tfds():
    _stored_builder(config, read_split).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))


def prepared_source(config) -> tfds.core.DatasetBuilder:
  """The prepared TFDS builder of the data set; renders zfjax_shapes if not
  there yet."""
  check_config(config)
  if config.dataset in ('zfjax_shapes', 'zfjax_shapes_novel'):
    s = config.shapes
    builder = shapes_dataset.builder(
        s.image_size, s.num_train, s.num_eval, s.seed,
        data_dir=config.data_dir, novel=config.dataset == 'zfjax_shapes_novel',
        world=shapes.World.of(s))
    with tf_setup.quiet_tfds():
      prepared = builder.is_prepared()
    if not prepared:
      log.info('rendering the built-in data set %s (%d + %d images of %d '
               'px; once) into %s', config.dataset, s.num_train, s.num_eval,
               s.image_size, builder.data_dir)
      with tf_setup.quiet_tfds():
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                try_download_gcs=False))
    return builder
  if config.dataset == 'caltech256':
    from zfjax.data import caltech256  # pylint: disable=g-import-not-at-top
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


def split_size(builder, split: str) -> int:
  if split not in builder.info.splits:
    raise ZfjaxError(f'{builder.name} has splits {sorted(builder.info.splits)}, '
                     f'not {split!r}; fix config.train_split/eval_split')
  return builder.info.splits[split].num_examples


def decoder(builder, resize_size: int, dtype: tf.DType = tf.float32):
  """encoded -> (R, R, 3) `dtype` for the images of `builder`."""
  feature = builder.info.features['image']
  fmt, stored = feature.encoding_format or 'jpeg', feature.shape[0]
  return lambda encoded: crops.decode_square(encoded, resize_size, fmt, stored,
                                       dtype)


def host_range(num_examples: int) -> tuple[int, int]:
  """This process's contiguous part [start, stop) of a split."""
  index, count = jax.process_index(), jax.process_count()
  return num_examples * index // count, num_examples * (index + 1) // count


def read(builder, split: str, start: int, stop: int, *, shuffle_seed=None,
          ordered: bool = False):
  """Records [start, stop) of a split, image still encoded, with 'index'.

  With `shuffle_seed` the files are read in a shuffled order (training),
  except for zfjax_shapes, which is stored in index order and whose few files
  are left to the shuffle buffer. `ordered`: one file at a time, so records
  come in index order.
  """
  num_examples = split_size(builder, split)
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

  return ds.map(with_index, num_parallel_calls=AUTOTUNE)




def label_feature(builder) -> tuple[tfds.features.ClassLabel, bool]:
  """(the class label feature, whether an image has several): VOC lists
  the classes of its objects in 'labels'; the others have one 'label'."""
  features = builder.info.features
  if 'label' in features:
    return features['label'], False
  return features['labels'].feature, True


def label_fn(builder):
  """example -> () int32 label, or (C,) 0/1 int32 for multi-label sets."""
  feature, multi = label_feature(builder)
  if not multi:
    return lambda ex: tf.cast(ex['label'], tf.int32)
  return lambda ex: tf.minimum(tf.reduce_sum(tf.one_hot(
      ex['labels'], feature.num_classes, dtype=tf.int32), axis=0), 1)


def select(builder, split: str, indices) -> tuple[tf.data.Dataset, np.ndarray]:
  """The records of a split at `indices` (any order, repeats allowed).

  Streams the smallest range of the split that holds them and keeps the
  wanted records before decoding. Returns the records in index order and
  the unique sorted indices.
  """
  indices = np.asarray(indices, np.int64).reshape(-1)
  num_examples = split_size(builder, split)
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
  ds = read(builder, split, lo, hi).filter(
      lambda ex: tf.gather(keep, ex['index'] - lo))
  return ds, wanted


def gather(ds: tf.data.Dataset, wanted: np.ndarray, indices) -> dict:
  """Stacks the examples of `ds` (one per wanted index) in `indices` order."""
  parts = list(ds.batch(256).prefetch(AUTOTUNE).as_numpy_iterator())
  stacked = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  order = np.argsort(stacked['index'])
  rows = order[np.searchsorted(wanted, np.asarray(indices, np.int64).reshape(-1))]
  return {k: v[rows] for k, v in stacked.items()}


def prepare(config) -> None:
  """Prepares the data set of `config` (`pipeline.prepare` also caches its
  statistics).

  ImageNet: from the two tars in the manual dir (hours: 1.28 M JPEGs);
  Caltech-256 from its tar in the manual dir; Caltech-101 and VOC 2012 are
  downloaded by their TFDS builders (the one step that goes online). With
  `config.stored_images`, then also its stored form (each image's central
  square resized to resize_size once, JPEG).
  """
  check_config(config)
  if config.dataset in MANUAL_ARCHIVES:
    manual_dir, missing = _missing_tars(config)
    if missing:
      raise ZfjaxError(f'put {" and ".join(missing)} in {manual_dir} (or pass '
                       f'--manual_dir) to prepare {_TITLES[config.dataset]}')
    if config.dataset == 'caltech256':
      from zfjax.data import caltech256  # pylint: disable=g-import-not-at-top
      builder = caltech256.Caltech256(data_dir=config.data_dir)
    else:
      builder = tfds.builder(config.dataset, data_dir=config.data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir, try_download_gcs=False))
  elif config.dataset in _TITLES:
    tfds.builder(config.dataset, data_dir=config.data_dir).download_and_prepare()
  if config.get('stored_images') and not _stored_builder(config).is_prepared():
    _prepare_stored(config)
