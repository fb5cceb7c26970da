"""Helpers the tests of several folders share: the checkout's root, made
data (solid-colour JPEGs, mock TFDS builders) and a check of the one-line
error for a missing archive."""

import io
import math
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from zfjax.data import pipeline as ip
from zfjax.errors import ZfjaxError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# torchvision's alexnet() state dict, written out from its source.
TORCHVISION_SHAPES = {
    'features.0.weight': (64, 3, 11, 11), 'features.0.bias': (64,),
    'features.3.weight': (192, 64, 5, 5), 'features.3.bias': (192,),
    'features.6.weight': (384, 192, 3, 3), 'features.6.bias': (384,),
    'features.8.weight': (256, 384, 3, 3), 'features.8.bias': (256,),
    'features.10.weight': (256, 256, 3, 3), 'features.10.bias': (256,),
    'classifier.1.weight': (4096, 9216), 'classifier.1.bias': (4096,),
    'classifier.4.weight': (4096, 4096), 'classifier.4.bias': (4096,),
    'classifier.6.weight': (1000, 4096), 'classifier.6.bias': (1000,),
}


def assert_missing_archive_error(dataset, data_dir, archives):
  """`dataset` with nothing in `data_dir` fails in one line that names the
  archives, the directory to put them in and the command to prepare it."""
  config = ip.default_data_config(dataset)
  config.data_dir = str(data_dir)
  with pytest.raises(ZfjaxError) as error:
    ip.DataSource(config).info
  message = str(error.value)
  assert '\n' not in message
  for part in (*archives, str(data_dir / 'downloads' / 'manual'),
               f'python -m zfjax prepare --dataset={dataset}'):
    assert part in message


def jpeg(color, shape):
  image = Image.new('RGB', (shape[1], shape[0]), tuple(int(c) for c in color))
  buffer = io.BytesIO()
  image.save(buffer, format='JPEG', quality=95)
  return buffer.getvalue()


def colors(n, seed):
  rng = np.random.default_rng(seed)
  levels = np.array([20, 60, 100, 140, 180, 220])
  picks = rng.choice(levels.size**3, n, replace=False)
  return levels[np.stack(np.unravel_index(picks, (levels.size,) * 3), axis=1)]


def mock_builder(name, splits, examples, tmp_path_factory):
  """A data dir with `name`'s metadata and `splits` sizes; as_dataset
  serves `examples[split]` (dicts of lists)."""
  data_dir = str(tmp_path_factory.mktemp(name.replace('/', '_')))
  builder = tfds.builder(name, data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(name=s, shard_lengths=[n], num_bytes=0)
      for s, n in splits.items()]))
  pathlib.Path(builder.data_dir).mkdir(parents=True)
  builder.info.write_to_directory(builder.data_dir)
  tag = name.split('/')[0]

  def as_dataset(self, split, decoders=None, read_config=None,
                 shuffle_files=False):
    del self, decoders, read_config, shuffle_files
    split = str(split)
    ex = dict(examples[split])
    n = len(ex['image'])
    ex['tfds_id'] = [f'{tag}-{split}.tfrecord-00000-of-00001__{i}'
                     for i in range(n)]
    if 'labels' in ex:  # ragged: one list of classes per image
      ragged = tf.ragged.constant(ex.pop('labels'), dtype=tf.int64)
      base = tf.data.Dataset.from_tensor_slices(ex)
      labels = tf.data.Dataset.from_tensor_slices(ragged)
      return tf.data.Dataset.zip((base, labels)).map(
          lambda e, l: {**e, 'labels': l})
    return tf.data.Dataset.from_tensor_slices(ex)

  return data_dir, tfds.testing.mock_data(
      policy=tfds.testing.MockPolicy.USE_FILES, data_dir=data_dir,
      as_dataset_fn=as_dataset)


def random_state_dict(seed=0):
  """He-scaled random weights and small random biases, float32."""
  rng = np.random.default_rng(seed)
  state = {}
  for name, shape in TORCHVISION_SHAPES.items():
    if name.endswith('weight'):
      fan_in = int(np.prod(shape[1:]))
      state[name] = (rng.standard_normal(shape, np.float32)
                     * np.float32(math.sqrt(2.0 / fan_in)))
    else:
      state[name] = 0.1 * rng.standard_normal(shape).astype(np.float32)
  return state
