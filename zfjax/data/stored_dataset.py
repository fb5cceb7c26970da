"""TFDS builder of a data set's stored form: squares resized once, as JPEG.

The paper's preprocessing starts by resizing each image's central square to
256x256. Doing that every epoch makes the input pipeline decode the full
image (ImageNet's are about 500x375) and resize it each time; the stored
form does it once, at preparation, and keeps the result as a JPEG of
quality `QUALITY` without chroma subsampling (4:4:4), so that training and
evaluation decode small images and skip the resize.

One builder per (source data set and version, resize size, quality), in
<data_dir>/zfjax_stored_squares/<source>_<R>px_q<Q>/1.0.0/. Examples keep
their source's split and position (shuffling disabled), so position i of a
split is the source's example i. Features:
  image  (R, R, 3) uint8 as JPEG
  label  the source's class label
Built from the prepared source by `pipeline.prepare` (`--stored`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from absl import logging
from zfjax.data.tf_setup import tf
import tensorflow_datasets as tfds

# JPEG quality of the stored squares (with 4:4:4 chroma). Measured on the
# built-in data set: decoded pixels 2.8 grey levels from the source's on
# average (99th percentile 10) at 3.8 KB per 64x64 image; quality 100 gives
# 0.5 at 8.5 KB (benchmarks/README.md).
QUALITY = 95


@dataclasses.dataclass(eq=False)
class StoredConfig(tfds.core.BuilderConfig):
  resize_size: int = 256
  quality: int = QUALITY


class ZfjaxStoredSquares(tfds.core.GeneratorBasedBuilder):
  """A source data set's central squares, resized once and stored as JPEG."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}

  def __init__(self, *, source: tfds.core.DatasetBuilder,
               read: Callable[[str], tf.data.Dataset] | None = None,
               **kwargs):
    """source: the data set's builder (prepared before this one is built);
    read(split): its examples in index order, 'image' an (R, R, 3) uint8
    square, with 'label' and 'index' (only needed to build)."""
    self._source, self._read_source = source, read
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.resize_size
    return tfds.core.DatasetInfo(
        builder=self,
        description=(f'The central squares of {self._source.info.full_name}, '
                     f'resized to {size}x{size} and stored as JPEG of '
                     f'quality {self.builder_config.quality} (4:4:4).'),
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(size, size, 3),
                                         encoding_format='jpeg'),
            'label': tfds.features.ClassLabel(
                names=self._source.info.features['label'].names),
        }),
        supervised_keys=('image', 'label'),
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split)
            for split in self._source.info.splits}

  def _generate_examples(self, split: str):
    quality = self.builder_config.quality
    ds = self._read_source(split).map(
        lambda ex: {'image': tf.io.encode_jpeg(
            ex['image'], quality=quality, chroma_downsampling=False),
                    'label': ex['label'], 'index': ex['index']},
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    for position, ex in enumerate(ds.prefetch(tf.data.AUTOTUNE)
                                  .as_numpy_iterator()):
      if ex['index'] != position:
        raise RuntimeError(f'{split}: example {ex["index"]} read at '
                           f'position {position}')
      yield position, {'image': ex['image'], 'label': ex['label']}


def builder(source: tfds.core.DatasetBuilder, resize_size: int, *,
            data_dir: str | None = None,
            read: Callable[[str], tf.data.Dataset] | None = None
            ) -> ZfjaxStoredSquares:
  """The stored form of `source` at `resize_size` (maybe not prepared)."""
  name = source.info.full_name.replace('/', '_').replace('.', '-')
  config = StoredConfig(
      name=f'{name}_{resize_size}px_q{QUALITY}',
      description=f'{source.info.full_name} at {resize_size}px, JPEG '
                  f'quality {QUALITY}',
      resize_size=resize_size, quality=QUALITY)
  # TFDS warns about every config it does not list; that is expected here.
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)
  try:
    return ZfjaxStoredSquares(source=source, read=read, config=config,
                              data_dir=data_dir)
  finally:
    logging.set_verbosity(verbosity)
