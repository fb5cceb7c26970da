"""The input pipeline against numpy references.

zfjax_shapes (a small variant, prepared for real) checks exact pixels: its
images are lossless and need no resize. ImageNet runs end to end under
`tfds.testing.mock_data` with JPEGs this file makes, decoded for reference
by PIL.
"""

import io
import pathlib

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from zfjax.data import pipeline as ip
from zfjax.data import shapes
from zfjax.errors import ZfjaxError

from shared import assert_missing_archive_error

SIZE, CROP, NUM_TRAIN, NUM_EVAL = 32, 28, 60, 26


@pytest.fixture(scope='module')
def config(tmp_path_factory):
  c = ip.default_data_config('zfjax_shapes')
  c.data_dir = str(tmp_path_factory.mktemp('tfds'))
  c.shapes.image_size, c.shapes.num_train, c.shapes.num_eval = (
      SIZE, NUM_TRAIN, NUM_EVAL)
  c.resize_size, c.crop_size, c.batch_size, c.shuffle_buffer = SIZE, CROP, 12, 64
  return c


def _raw(split, n):
  return np.stack([shapes.example(split, i, SIZE)[0] for i in range(n)]
                  ).astype(np.float32)


@pytest.fixture(scope='module')
def reference(config):
  """Raw images of both splits and the numpy mean of the training split."""
  train = _raw('train', NUM_TRAIN)
  return {'train': train, 'validation': _raw('validation', NUM_EVAL),
          'mean': train.astype(np.float64).mean(axis=0)}


def _find_crop(image, square, step=1):
  """The crop of `square` closest to `image`, brute force over every
  position and both orientations: ((top, left, flipped), mean abs error).

  `step` subsamples the pixels compared, for speed on large crops.
  """
  crop = image.shape[0]
  reach = square.shape[0] - crop + 1
  best, where = np.inf, None
  for top in range(reach):
    for left in range(reach):
      window = square[top:top + crop, left:left + crop]
      for flipped in (False, True):
        candidate = window[:, ::-1] if flipped else window
        err = np.abs(candidate[::step, ::step] - image[::step, ::step]).mean()
        if err < best:
          best, where = err, (top, left, flipped)
  return where, best


def test_dataset_info(config):
  info = ip.DataSource(config).info
  assert info.name == 'zfjax_shapes'
  assert info.num_classes == len(info.class_names) == shapes.NUM_CLASSES
  assert info.class_names == shapes.CLASS_NAMES
  assert info.split_sizes == {'train': NUM_TRAIN, 'validation': NUM_EVAL}
  assert info.image_size == CROP
  assert ip.DataSource(config).steps_per_epoch() == NUM_TRAIN // 12


def test_mean_image_is_the_numpy_mean(config, reference):
  mean = ip.DataSource(config).mean_image
  assert mean.shape == (SIZE, SIZE, 3) and mean.dtype == np.float32
  np.testing.assert_allclose(mean, reference['mean'], atol=1e-3)
  # Cached beside the prepared data, and read from there afterwards.
  cached = list(pathlib.Path(config.data_dir).rglob('*_mean.npy'))
  assert len(cached) == 1 and cached[0].parent.name == '1.0.0'
  np.testing.assert_array_equal(np.load(cached[0]), mean)
  np.save(cached[0], mean + 1)
  try:
    np.testing.assert_array_equal(ip.DataSource(config).mean_image, mean + 1)
  finally:
    np.save(cached[0], mean)


def test_colour_pca_matches_numpy(config, reference):
  pixels = reference['train'].reshape(-1, 3).astype(np.float64) / 255
  values, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False, bias=True))
  pca = ip.DataSource(config).color_pca
  np.testing.assert_allclose(pca.eigenvalues, values[::-1], rtol=1e-6)
  for i in range(3):  # eigenvectors up to sign
    np.testing.assert_allclose(np.abs(pca.eigenvectors[:, i] @ vectors[:, 2 - i]),
                               1, atol=1e-6)


def test_eval_centre_and_ten_crops(config, reference):
  mean, offset, far = reference['mean'], (SIZE - CROP) // 2, SIZE - CROP
  centre = list(ip.DataSource(config).eval_batches('validation', batch_size=8))
  ten = list(ip.DataSource(config).eval_batches('validation', batch_size=8, ten_crop=True))
  assert len(centre) == len(ten) == 4  # ceil(26 / 8)
  expected_offsets = [(offset, offset), (0, 0), (0, far), (far, 0), (far, far)]
  for b, t in zip(centre, ten):
    assert b.images.shape == (8, CROP, CROP, 3)
    assert t.images.shape == (8, 10, CROP, CROP, 3)
    for row in np.flatnonzero(b.mask):
      i = b.index[row]
      assert b.labels[row] == i % shapes.NUM_CLASSES
      square = reference['validation'][i] - mean
      np.testing.assert_allclose(
          b.images[row], square[offset:offset + CROP, offset:offset + CROP],
          atol=1e-3)
      for k, (top, left) in enumerate(expected_offsets):
        crop = square[top:top + CROP, left:left + CROP]
        np.testing.assert_allclose(t.images[row, k], crop, atol=1e-3)
        np.testing.assert_allclose(t.images[row, 5 + k], crop[:, ::-1],
                                   atol=1e-3)


@pytest.mark.parametrize('batch_size', [1, 8, 13, 26, 40])
def test_eval_counts_every_example_once(config, batch_size):
  batches = list(ip.DataSource(config).eval_batches('validation', batch_size=batch_size))
  assert len(batches) == -(-NUM_EVAL // batch_size)
  index = np.concatenate([b.index for b in batches])
  mask = np.concatenate([b.mask for b in batches])
  np.testing.assert_array_equal(index[mask], np.arange(NUM_EVAL))
  assert (index[~mask] == -1).all()
  assert mask[:NUM_EVAL].all() and not mask[NUM_EVAL:].any()
  padding = np.concatenate([b.images for b in batches])[~mask]
  assert (padding == 0).all()


def test_eval_shards_over_processes(config, monkeypatch):
  """3 processes: disjoint parts, together every example exactly once, and
  the same number of equal-size batches on each."""
  monkeypatch.setattr(jax, 'process_count', lambda: 3)
  seen, counts = [], set()
  for p in range(3):
    monkeypatch.setattr(jax, 'process_index', lambda p=p: p)
    batches = list(ip.DataSource(config).eval_batches('validation', batch_size=6))
    counts.add(len(batches))
    assert all(b.images.shape[0] == 2 for b in batches)
    seen.append(np.concatenate([b.index[b.mask] for b in batches]))
  assert counts == {-(-9 // 2)}  # largest part 9 examples, 2 per batch
  np.testing.assert_array_equal(np.sort(np.concatenate(seen)),
                                np.arange(NUM_EVAL))


def test_train_crops_are_random_crops_and_flips(config, reference):
  mean = reference['mean']
  batches = list(ip.DataSource(config).train_batches(epoch=0, seed=3))
  assert len(batches) == ip.DataSource(config).steps_per_epoch()
  positions, flips = set(), set()
  for b in batches:
    assert b.images.shape == (12, CROP, CROP, 3)
    assert b.mask.all()
    for image, label, i in zip(b.images, b.labels, b.index):
      assert label == i % shapes.NUM_CLASSES
      (top, left, flipped), err = _find_crop(
          image, reference['train'][i] - mean)
      assert err < 1e-3
      positions.add((top, left))
      flips.add(flipped)
  assert flips == {False, True}
  assert len(positions) > 8
  index = np.concatenate([b.index for b in batches])
  assert len(set(index)) == len(index) == NUM_TRAIN // 12 * 12


def test_train_is_deterministic_and_resumable(config):
  def run(**kwargs):
    return list(ip.DataSource(config).train_batches(**kwargs))
  first = run(epoch=1, seed=0)
  again = run(epoch=1, seed=0)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.index, b.index)
  resumed = run(epoch=1, seed=0, skip_batches=2)
  assert len(resumed) == len(first) - 2
  for a, b in zip(first[2:], resumed):
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
  other_epoch = run(epoch=2, seed=0)
  other_seed = run(epoch=1, seed=1)
  assert not np.array_equal(first[0].index, other_epoch[0].index)
  assert not np.array_equal(first[0].index, other_seed[0].index)


def test_train_shards_over_processes(config, monkeypatch):
  """Process p gets rows [6p, 6p + 6) of each one-process batch of 12."""
  whole = list(ip.DataSource(config).train_batches(epoch=0, seed=0))
  monkeypatch.setattr(jax, 'process_count', lambda: 2)
  parts = []
  for p in range(2):
    monkeypatch.setattr(jax, 'process_index', lambda p=p: p)
    batches = list(ip.DataSource(config).train_batches(epoch=0, seed=0))
    assert len(batches) == NUM_TRAIN // 12
    assert all(b.images.shape[0] == 6 for b in batches)
    for mine, one in zip(batches, whole):
      np.testing.assert_array_equal(mine.index, one.index[6 * p:6 * p + 6])
    parts.append(set(np.concatenate([b.index for b in batches])))
  assert not parts[0] & parts[1]


def test_pca_colour_shift(config):
  plain = ip.DataSource(config).train_batches(epoch=0, seed=5)
  config = config.copy_and_resolve_references()
  config.pca_augment = True
  shifted = ip.DataSource(config).train_batches(epoch=0, seed=5)
  pca = ip.DataSource(config).color_pca
  alphas = []
  for a, b in zip(plain, shifted):
    delta = b.images - a.images  # same crops and flips, plus the shift
    shift = delta[:, :1, :1, :]
    np.testing.assert_allclose(delta, np.broadcast_to(shift, delta.shape),
                               atol=1e-3)
    # shift = 255 * sum_i alpha_i lambda_i p_i; solve for alpha.
    alphas.append(shift.reshape(-1, 3) / 255 @ pca.eigenvectors
                  / pca.eigenvalues)
  alphas = np.concatenate(alphas)
  assert 0.05 < alphas.std() < 0.16 and abs(alphas.mean()) < 0.05


def test_load_examples_and_display(config, reference):
  indices = [7, 3, 25, 7, 13]  # from index 3: a range read, not the split
  batch = ip.DataSource(config).load_examples('validation', indices)
  np.testing.assert_array_equal(batch.index, indices)
  offset = (SIZE - CROP) // 2
  for image, i in zip(batch.images, indices):
    expected = (reference['validation'][i] - reference['mean'])[
        offset:offset + CROP, offset:offset + CROP]
    np.testing.assert_allclose(image, expected, atol=1e-3)
  display = ip.DataSource(config).preprocessing.to_display(batch.images)
  assert display.dtype == np.uint8
  np.testing.assert_array_equal(
      display, reference['validation'][indices, offset:offset + CROP,
                                       offset:offset + CROP].astype(np.uint8))


def test_raw_examples_carry_ground_truth_boxes(config, reference):
  indices = [3, 41, 0]
  raw = ip.DataSource(config).load_raw_examples('train', indices)
  for k, i in enumerate(indices):
    _, label, scene = shapes.example('train', i, SIZE)
    truth = shapes.render(scene, SIZE)
    np.testing.assert_array_equal(raw.images[k], reference['train'][i])
    assert raw.labels[k] == label and raw.index[k] == i
    np.testing.assert_array_equal(raw.boxes[k], truth.box)
    names = shapes.PART_NAMES[label]
    for j, name in enumerate(names):
      np.testing.assert_array_equal(raw.part_boxes[k, j], truth.parts[name])
    assert (raw.part_boxes[k, len(names):] == -1).all()


def test_config_errors(config, tmp_path):
  bad = config.copy_and_resolve_references()
  bad.dataset = 'mnist'
  with pytest.raises(ZfjaxError, match='config.dataset'):
    ip.DataSource(bad).info
  bad = config.copy_and_resolve_references()
  bad.crop_size = SIZE + 1
  with pytest.raises(ZfjaxError, match='crop_size'):
    ip.DataSource(bad).info
  with pytest.raises(ZfjaxError, match='splits'):
    list(ip.DataSource(config).eval_batches('test', batch_size=4))
  novel = config.copy_and_resolve_references()
  novel.dataset = 'zfjax_shapes_novel'  # rendered, but without part boxes
  with pytest.raises(ZfjaxError, match='only for zfjax_shapes'):
    ip.DataSource(novel).load_raw_examples('train', [0])


def test_missing_imagenet_names_the_tars_and_the_directory(tmp_path):
  assert_missing_archive_error(
      'imagenet2012', tmp_path,
      ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar'))


# ------------------------------------------------------------------------
# ImageNet under tfds.testing.mock_data.

_MOCK_SIZES = {'train': [(256, 320), (300, 256), (256, 256), (256, 290),
                         (280, 256), (330, 256)],
               'validation': [(256, 256), (320, 256), (256, 288), (256, 300),
                              (260, 256)]}


def _mock_images(split):
  """Smooth random JPEGs, smaller side 256 so the resize is the identity
  and the reference needs no resampler. Without chroma subsampling a crop
  fused into the decoding gives exactly the pixels of a full decoding."""
  rng = np.random.default_rng(0 if split == 'train' else 1)
  out = []
  for h, w in _MOCK_SIZES[split]:
    coarse = rng.uniform(0, 255, (h // 16, w // 16, 3)).astype(np.uint8)
    image = Image.fromarray(coarse).resize((w, h), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', quality=95, subsampling=0)
    out.append(buffer.getvalue())
  return out


def _pil_square(jpeg):
  image = np.asarray(Image.open(io.BytesIO(jpeg)).convert('RGB'), np.float64)
  h, w, _ = image.shape
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  return image[top:top + side, left:left + side]


def _fake_as_dataset(self, split, decoders=None, read_config=None,
                     shuffle_files=False):
  """Replaces reading the TFDS files: our JPEGs, still encoded, with ids."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  del self, decoders, read_config, shuffle_files
  name = str(split)
  assert '[' not in name, 'one process reads whole splits'
  images = _mock_images(name)
  n = len(images)
  return tf.data.Dataset.from_tensor_slices({
      'image': images,
      'label': np.arange(n, dtype=np.int64) * 7,
      'file_name': [f'{name}_{i}.JPEG' for i in range(n)],
      'tfds_id': [f'imagenet2012-{name}.tfrecord-00000-of-00001__{i}'
                  for i in range(n)],
  })


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
  """A config for ImageNet mocked from metadata written here (no download)."""
  data_dir = str(tmp_path_factory.mktemp('imagenet'))
  builder = tfds.builder('imagenet2012', data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(name=name, shard_lengths=[len(sizes)], num_bytes=0)
      for name, sizes in _MOCK_SIZES.items()]))
  pathlib.Path(builder.data_dir).mkdir(parents=True)
  builder.info.write_to_directory(builder.data_dir)
  c = ip.default_data_config('imagenet2012')
  c.data_dir, c.batch_size, c.shuffle_buffer = data_dir, 4, 16
  with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_FILES,
                              data_dir=data_dir,
                              as_dataset_fn=_fake_as_dataset):
    yield c


def test_imagenet_mock_end_to_end(imagenet):
  squares = {s: [_pil_square(j) for j in _mock_images(s)] for s in _MOCK_SIZES}
  info = ip.DataSource(imagenet).info
  assert info.num_classes == 1000 and info.class_names[0] == 'n01440764'
  assert info.split_sizes == {'train': 6, 'validation': 5}
  assert info.image_size == 224

  mean = ip.DataSource(imagenet).mean_image
  expected_mean = np.mean(squares['train'], axis=0)
  np.testing.assert_allclose(mean, expected_mean, atol=1e-3)

  batches = list(ip.DataSource(imagenet).train_batches(epoch=0, seed=0))
  assert len(batches) == 1 and batches[0].images.shape == (4, 224, 224, 3)
  b = batches[0]
  assert len(set(b.index)) == 4
  for image, label, i in zip(b.images, b.labels, b.index):
    assert label == 7 * i
    square = squares['train'][i] - mean
    (top, left, flipped), _ = _find_crop(image, square, step=7)
    window = square[top:top + 224, left:left + 224]
    window = window[:, ::-1] if flipped else window
    np.testing.assert_allclose(image, window, atol=1e-3)

  evals = list(ip.DataSource(imagenet).eval_batches('validation', batch_size=4,
                               ten_crop=True))
  assert [b.mask.tolist() for b in evals] == [[True] * 4, [True] + [False] * 3]
  np.testing.assert_array_equal(evals[1].index, [4, -1, -1, -1])
  for b in evals:
    for row in np.flatnonzero(b.mask):
      square = squares['validation'][b.index[row]] - mean
      for k, (top, left) in enumerate([(16, 16), (0, 0), (0, 32), (32, 0),
                                       (32, 32)]):
        crop = square[top:top + 224, left:left + 224]
        np.testing.assert_allclose(b.images[row, k], crop, atol=1e-3)
        np.testing.assert_allclose(b.images[row, 5 + k], crop[:, ::-1],
                                   atol=1e-3)
