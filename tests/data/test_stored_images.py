"""The stored form of a data set (squares resized once, JPEG quality 95,
4:4:4) against the per-epoch path, on a small built-in set."""

import numpy as np
import pytest

from zfjax.data import pipeline as ip
from zfjax.data import preprocess
from zfjax.data import stored_dataset

# Measured on the built-in images (sharp edges over textured clutter, the
# hard case for JPEG): mean |difference| 2.8 grey levels, 99th percentile
# 10, maximum 25 (200 images).
MEAN_TOLERANCE = 4.0
P99_TOLERANCE = 14


@pytest.fixture(scope='module')
def configs(tmp_path_factory):
  """(per-epoch config, stored config) of 240 + 60 built-in images."""
  config = ip.default_data_config('zfjax_shapes')
  config.data_dir = str(tmp_path_factory.mktemp('tfds'))
  config.shapes.num_train, config.shapes.num_eval = 240, 60
  config.batch_size, config.shuffle_buffer = 40, 240
  stored = config.copy_and_resolve_references()
  stored.stored_images = True
  return config, stored


def test_stored_squares_decode_to_the_per_epoch_pixels(configs):
  config, stored = configs
  assert stored_dataset.QUALITY == 95
  # The first use of the built-in set prepares its stored form.
  info = ip.DataSource(stored).info
  assert info.split_sizes == ip.DataSource(config).info.split_sizes
  assert info.class_names == ip.DataSource(config).info.class_names
  diffs = []
  for split in ('train', 'validation'):
    a = list(ip.DataSource(config).eval_batches(split, batch_size=50, ten_crop=True,
                             on_device=True))
    b = list(ip.DataSource(stored).eval_batches(split, batch_size=50, ten_crop=True,
                             on_device=True))
    assert len(a) == len(b)
    for x, y in zip(a, b):
      # Example i of the stored form is example i of the data set.
      np.testing.assert_array_equal(x.index, y.index)
      np.testing.assert_array_equal(x.labels, y.labels)
      diffs.append(np.abs(x.images.pixels.astype(int)
                          - y.images.pixels.astype(int))[x.mask])
  diffs = np.concatenate(diffs)
  assert diffs.size == 300 * 64 * 64 * 3
  assert 0 < diffs.mean() <= MEAN_TOLERANCE
  assert np.percentile(diffs, 99) <= P99_TOLERANCE


def test_stored_training_batches_draw_the_same_examples_and_crops(configs):
  config, stored = configs
  a = list(ip.DataSource(config).train_batches(epoch=2, seed=1, on_device=True))
  b = list(ip.DataSource(stored).train_batches(epoch=2, seed=1, on_device=True))
  assert len(a) == len(b) == ip.DataSource(stored).steps_per_epoch() == 6
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x.index, y.index)
    np.testing.assert_array_equal(x.labels, y.labels)
    np.testing.assert_array_equal(x.images.offset, y.images.offset)
    np.testing.assert_array_equal(x.images.flip, y.images.flip)
  # Host-side (float) batches read the stored form too.
  host = next(ip.DataSource(stored).train_batches(epoch=2, seed=1))
  stats = ip.DataSource(stored).statistics()
  np.testing.assert_allclose(preprocess.finish(b[0].images, stats, 56),
                             host.images, atol=1e-3)
