"""The real TFDS imagenet2012 builder on a miniature pair of ILSVRC2012 tars.

The tars have the official layout: the train tar holds one tar per synset
(n01440764.tar holding n01440764_<k>.JPEG), the validation tar holds
ILSVRC2012_val_<8 digits>.JPEG, whose labels TFDS takes from its bundled
list in file-name order. Every JPEG is one solid colour, so a preprocessed
image tells which file it came from and thus which label it must carry.
"""

import io
import socket
import tarfile

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from zfjax.commands import prepare
from zfjax.data import pipeline as ip
from zfjax.errors import ZfjaxError

_SYNSETS = ('n01440764', 'n01530575', 'n15075141')  # first, 10th, last
_TRAIN_PER_SYNSET = 2
_NUM_VAL = 5


def _lines(relative):
  return tfds.core.tfds_path(relative).read_text().split()


def _jpeg(color, shape):
  image = Image.new('RGB', (shape[1], shape[0]), tuple(int(c) for c in color))
  buffer = io.BytesIO()
  image.save(buffer, format='JPEG', quality=95)
  return buffer.getvalue()


def _add(tar, name, data):
  info = tarfile.TarInfo(name)
  info.size = len(data)
  tar.addfile(info, io.BytesIO(data))


def _colors(n, seed):
  """n distinct colours on a grid of levels 40 apart: never confused."""
  rng = np.random.default_rng(seed)
  levels = np.array([20, 60, 100, 140, 180, 220])
  picks = rng.choice(levels.size**3, n, replace=False)
  return levels[np.stack(np.unravel_index(picks, (levels.size,) * 3), axis=1)]


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
  """Writes the tars; returns (config, truth) with truth[split] a list of
  (colour, label) per file."""
  root = tmp_path_factory.mktemp('ilsvrc')
  manual = root / 'manual'
  manual.mkdir()
  names = _lines('datasets/imagenet2012/labels.txt')
  val_synsets = _lines('datasets/imagenet2012/validation_labels.txt')
  colors = _colors(len(_SYNSETS) * _TRAIN_PER_SYNSET + _NUM_VAL, seed=0)
  shapes = [(48, 64), (64, 40), (40, 40), (36, 70)]
  truth = {'train': [], 'validation': []}
  k = 0
  with tarfile.open(manual / 'ILSVRC2012_img_train.tar', 'w') as train:
    for synset in _SYNSETS:
      inner = io.BytesIO()
      with tarfile.open(fileobj=inner, mode='w') as tar:
        for j in range(_TRAIN_PER_SYNSET):
          _add(tar, f'{synset}_{j + 1}.JPEG', _jpeg(colors[k], shapes[k % 4]))
          truth['train'].append((colors[k], names.index(synset)))
          k += 1
      _add(train, f'{synset}.tar', inner.getvalue())
  with tarfile.open(manual / 'ILSVRC2012_img_val.tar', 'w') as val:
    for i in range(_NUM_VAL):
      _add(val, f'ILSVRC2012_val_{i + 1:08d}.JPEG',
           _jpeg(colors[k], shapes[k % 4]))
      truth['validation'].append((colors[k], names.index(val_synsets[i])))
      k += 1
  config = ip.default_data_config('imagenet2012')
  config.data_dir, config.manual_dir = str(root / 'tfds'), str(manual)
  config.resize_size, config.crop_size, config.batch_size = 32, 28, 2
  return config, truth


def _identify(images, config, truth):
  """Label of the file each centre crop came from, found by its colour."""
  colors = np.array([c for c, _ in truth], float)
  mean_colors = ip.DataSource(config).preprocessing.to_display(images).reshape(len(images), -1, 3).mean(1)
  nearest = np.abs(mean_colors[:, None] - colors[None]).max(-1).argmin(1)
  assert np.abs(mean_colors - colors[nearest]).max() < 4
  return nearest


def test_prepare_from_the_tars_without_network(imagenet, monkeypatch):
  config, truth = imagenet
  with pytest.raises(ZfjaxError, match='the tars are in'):
    ip.DataSource(config).info

  attempts = []
  def no_network(*args, **kwargs):
    attempts.append(args)
    raise OSError('network access in a test')
  monkeypatch.setattr(socket.socket, 'connect', no_network)
  monkeypatch.setattr(socket, 'create_connection', no_network)
  assert prepare.main(['--dataset=imagenet2012', f'--data_dir={config.data_dir}',
           f'--manual_dir={config.manual_dir}']) == 0
  assert not attempts
  monkeypatch.undo()

  info = ip.DataSource(config).info
  assert info.split_sizes == {'train': 6, 'validation': 5}
  assert info.num_classes == 1000 and info.image_size == 28

  # Every validation example once, each with its file's label.
  batches = list(ip.DataSource(config).eval_batches('validation', batch_size=4))
  assert [int(b.mask.sum()) for b in batches] == [4, 1]
  seen = []
  for b in batches:
    rows = b.mask
    files = _identify(b.images[rows], config, truth['validation'])
    np.testing.assert_array_equal(
        b.labels[rows], [truth['validation'][f][1] for f in files])
    seen.extend(files)
  assert sorted(seen) == list(range(_NUM_VAL))

  # Training: 3 batches of 2 cover the 6 files once, labels right.
  files = []
  for b in ip.DataSource(config).train_batches(epoch=0, seed=0):
    # Any crop of a solid image, flipped or not, is its centre crop.
    f = _identify(b.images, config, truth['train'])
    np.testing.assert_array_equal(b.labels, [truth['train'][i][1] for i in f])
    files.extend(f)
  assert sorted(files) == list(range(6))

  # load_examples finds the same images at the same indices.
  order = np.concatenate([b.index[b.mask] for b in batches])
  images = np.concatenate([b.images[b.mask] for b in batches])
  loaded = ip.DataSource(config).load_examples('validation', order[::-1])
  np.testing.assert_array_equal(loaded.images, images[::-1])

  # The mean image of solid images is their mean colour everywhere.
  mean = ip.DataSource(config).mean_image
  expected = np.mean([c for c, _ in truth['train']], axis=0)
  assert np.abs(mean - expected).max() < 3


def test_stored_squares_from_the_tars(imagenet):
  """One command writes the stored 32-px form; it reads as the per-epoch
  path does (solid colours survive JPEG within 2 grey levels)."""
  config, truth = imagenet
  stored = config.copy_and_resolve_references()
  stored.stored_images = True
  with pytest.raises(ZfjaxError, match='--stored --resize_size=32'):
    ip.DataSource(stored).info
  assert prepare.main(['--dataset=imagenet2012', f'--data_dir={config.data_dir}',
           f'--manual_dir={config.manual_dir}', '--stored',
           '--resize_size=32']) == 0
  info = ip.DataSource(stored).info
  assert info.split_sizes == {'train': 6, 'validation': 5}

  for split in ('train', 'validation'):
    a = list(ip.DataSource(config).eval_batches(split, batch_size=4, ten_crop=True,
                             on_device=True))
    b = list(ip.DataSource(stored).eval_batches(split, batch_size=4, ten_crop=True,
                             on_device=True))
    for x, y in zip(a, b):
      np.testing.assert_array_equal(x.index, y.index)
      np.testing.assert_array_equal(x.labels, y.labels)
      assert y.images.pixels.shape[1:] == (32, 32, 3)
      assert np.abs(x.images.pixels.astype(int)
                    - y.images.pixels.astype(int))[x.mask].max() <= 2
  # Each stored validation example is its own file, with its label.
  batches = list(ip.DataSource(stored).eval_batches('validation', batch_size=5))
  files = _identify(batches[0].images, stored, truth['validation'])
  assert sorted(files) == list(range(_NUM_VAL))
  np.testing.assert_array_equal(
      batches[0].labels, [truth['validation'][f][1] for f in files])
  files = []
  for b in ip.DataSource(stored).train_batches(epoch=0, seed=0, on_device=True):
    assert b.images.pixels.dtype == np.uint8
    colours = b.images.pixels.reshape(len(b.labels), -1, 3).mean(1)
    f = np.abs(colours[:, None] - np.array(
        [c for c, _ in truth['train']], float)[None]).max(-1).argmin(1)
    np.testing.assert_array_equal(b.labels, [truth['train'][i][1] for i in f])
    files.extend(f)
  assert sorted(files) == list(range(6))
