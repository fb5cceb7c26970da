"""The transfer data sets without downloads: Caltech-256 prepared by the
project's TFDS builder from a miniature archive in the official layout, and
Caltech-101 and VOC 2012 through their TFDS builders under
`tfds.testing.mock_data`, all through the one input pipeline and into a
transfer run's cached inputs.

Every JPEG is one solid colour from a grid 40 levels apart, so a
preprocessed image tells which file it came from and what its label must
be.
"""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from shared import assert_missing_archive_error, colors as _colors, jpeg as _jpeg, mock_builder as _mock
from zfjax.commands import prepare
from zfjax.data import pipeline as ip
from zfjax.training import transfer
from zfjax.analyses import transfer_protocols
from zfjax.errors import ZfjaxError


def _add(tar, name, data):
  info = tarfile.TarInfo(name)
  info.size = len(data)
  tar.addfile(info, io.BytesIO(data))


def _small(config):
  config.resize_size, config.crop_size = 32, 28
  config.batch_size, config.eval_batch_size = 2, 8
  return config


# ------------------------------------------------------------ Caltech-256

_C256_CLASSES = {1: 'ak47', 2: 'american-flag', 257: 'clutter'}
_PER_CLASS = 3


@pytest.fixture(scope='module')
def caltech256(tmp_path_factory):
  """The archive in the manual dir; returns (config, {colour: label})."""
  root = tmp_path_factory.mktemp('caltech256')
  manual = root / 'manual'
  manual.mkdir()
  colors = iter(_colors(len(_C256_CLASSES) * _PER_CLASS, 0))
  truth = {}
  with tarfile.open(manual / '256_ObjectCategories.tar', 'w') as tar:
    for number, name in _C256_CLASSES.items():
      for k in range(_PER_CLASS):
        color = next(colors)
        truth[tuple(color)] = number - 1
        _add(tar, f'256_ObjectCategories/{number:03d}.{name}/'
             f'{number:03d}_{k + 1:04d}.jpg', _jpeg(color, (40 + 5 * k, 48)))
    # Not images of the set: skipped.
    _add(tar, '256_ObjectCategories/RENAME2', b'x')
    _add(tar, '256_ObjectCategories/greg/notes.txt', b'x')
  config = _small(ip.default_data_config('caltech256'))
  config.data_dir, config.manual_dir = str(root / 'tfds'), str(manual)
  return config, truth


def test_caltech256_missing_archive_is_one_line(tmp_path):
  assert_missing_archive_error('caltech256', tmp_path,
                               ('256_ObjectCategories.tar',))


def test_caltech256_from_the_archive(caltech256, tmp_path):
  config, truth = caltech256
  assert prepare.main(['--dataset=caltech256', f'--data_dir={config.data_dir}',
           f'--manual_dir={config.manual_dir}']) == 0
  info = ip.DataSource(config).info
  assert info.num_classes == 257 and not info.multi_label
  assert (info.class_names[0], info.class_names[1],
          info.class_names[256]) == ('ak47', 'american-flag', 'clutter')
  assert info.split_sizes == {'train': len(truth)}
  seen = []
  for batch in ip.DataSource(config).eval_batches('train', batch_size=4):
    for image, label, index in zip(batch.images[batch.mask],
                                   batch.labels[batch.mask],
                                   batch.index[batch.mask]):
      mean = ip.DataSource(config).mean_image[2:30, 2:30]
      color = tuple(np.rint((image + mean).mean(axis=(0, 1))).astype(int))
      nearest = min(truth, key=lambda c: np.abs(np.subtract(c, color)).sum())
      assert np.abs(np.subtract(nearest, color)).max() <= 3
      assert truth[nearest] == label
      seen.append(int(index))
  assert sorted(seen) == list(range(len(truth)))

  # A scratch transfer run over it: 1 training image per class from the one
  # split, the other 2 to test, inputs cached once.
  tconfig = transfer_protocols.transfer_config(
      'caltech256_1_scratch', data_dir=config.data_dir,
      manual_dir=config.manual_dir, resize_size=32, crop_size=28)
  data = transfer.TransferData(tconfig, str(tmp_path))
  assert data.info.split_sizes == {'train': 3, 'test': 6}
  assert sorted(data.train.labels.tolist()) == [0, 1, 256]


# ------------------------------------------------------------ TFDS mocks


def test_caltech101_through_the_pipeline_and_a_split(tmp_path_factory,
                                                     tmp_path):
  # 3 classes x 4 images in train and 2 in test; colour i of class c.
  colors = _colors(18, 1)
  labels = {'train': [0, 1, 5] * 4, 'test': [0, 1, 5] * 2}
  starts = {'train': 0, 'test': 12}
  examples = {s: {'image': [_jpeg(colors[starts[s] + i], (36, 40))
                            for i in range(len(l))],
                  'label': np.array(l, np.int64)}
              for s, l in labels.items()}
  data_dir, mock = _mock('caltech101', {'train': 12, 'test': 6}, examples,
                         tmp_path_factory)
  with mock:
    config = transfer_protocols.transfer_config(
        'caltech101_3_scratch', data_dir=data_dir, resize_size=32,
        crop_size=28)
    config.transfer.test_per_class = 2
    info = ip.DataSource(config).info
    assert info.num_classes == 102 and not info.multi_label
    data = transfer.TransferData(config, str(tmp_path))
    # 3 of each class's 6 pooled images train, 2 of the other 3 test.
    assert np.bincount(data.train.labels).tolist() == [3, 3, 0, 0, 0, 3]
    assert np.bincount(data.test.labels).tolist() == [2, 2, 0, 0, 0, 2]
    pooled = np.concatenate([colors[:12], colors[12:]])
    pooled_labels = np.array(labels['train'] + labels['test'])
    mean = ip.DataSource(config).mean_image[2:30, 2:30]
    used = []
    for examples_, count in ((data.train, 9), (data.test, 6)):
      batch = examples_.batch(np.arange(count), np.zeros(count, int))
      for image, label in zip(batch.images, batch.labels):
        color = (image + mean).mean(axis=(0, 1))
        k = int(np.argmin(np.abs(pooled - color).sum(axis=1)))
        assert np.abs(pooled[k] - color).max() <= 3
        assert pooled_labels[k] == label
        used.append(k)
    assert len(set(used)) == 15  # no image both trains and tests

    # Epochs are a function of (seed, epoch): a resumed epoch skips to the
    # same batches; every example once per epoch (3 batches of 3).
    config.batch_size = 3
    epoch = lambda e, skip=0: list(data.train_batches(  # noqa: E731
        epoch=e, seed=0, skip_batches=skip))
    full, resumed = epoch(1), epoch(1, skip=2)
    assert len(full) == 3 and len(resumed) == 1
    np.testing.assert_array_equal(full[2].images, resumed[0].images)
    assert sorted(np.concatenate([b.index for b in full])) == list(range(9))
    assert not all(np.array_equal(a.index, b.index)
                   for a, b in zip(full, epoch(0)))


def test_voc_labels_are_multi_hot_and_expanded(tmp_path_factory, tmp_path):
  colors = _colors(7, 2)
  names = {'train': [[0], [3, 14], [14, 14, 3], [7]],
           'validation': [[0, 7], [19], [3]]}
  examples = {}
  for s, start in (('train', 0), ('validation', 4)):
    examples[s] = {'image': [_jpeg(colors[start + i], (30, 34))
                             for i in range(len(names[s]))],
                   'labels': names[s]}
  data_dir, mock = _mock('voc/2012', {'train': 4, 'validation': 3}, examples,
                         tmp_path_factory)
  with mock:
    config = ip.default_data_config('voc/2012')
    config.data_dir = data_dir
    config = _small(config)
    info = ip.DataSource(config).info
    assert info.multi_label and info.num_classes == 20
    assert info.class_names[0] == 'aeroplane'
    batch = next(ip.DataSource(config).eval_batches('train', batch_size=4))
    expected = np.zeros((4, 20), int)
    for row, classes in enumerate(names['train']):
      expected[row, classes] = 1
    np.testing.assert_array_equal(batch.labels[np.argsort(batch.index)],
                                  expected)

    tconfig = transfer_protocols.transfer_config(
        'voc2012', data_dir=data_dir, resize_size=32, crop_size=28)
    tconfig.transfer.from_workdir = None  # the images themselves
    tconfig.transfer.images_per_class = None
    data = transfer.TransferData(tconfig, str(tmp_path))
    # One training example per (image, class): 1 + 2 + 2 + 1.
    assert sorted(data.train.labels.tolist()) == [0, 3, 3, 7, 14, 14]
    assert data.test_images.labels.shape == (3, 20)
    with pytest.raises(ZfjaxError, match='several labels'):
      tconfig.transfer.images_per_class = 1
      transfer.TransferData(tconfig, str(tmp_path))


def _block_image(position: int) -> bytes:
  """A black 30x30 JPEG with one red or green 4x5 block in its left half:
  20 positions whose images, and their mirrors, cover disjoint pixels."""
  row, col, channel = position % 5, (position // 5) % 2, position // 10
  image = np.zeros((30, 30, 3), np.uint8)
  image[3 + 5 * row:7 + 5 * row, 3 + 6 * col:8 + 6 * col, channel] = 255
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='JPEG', quality=95)
  return buffer.getvalue()


def test_voc_sigmoid_head_ranks_separable_images_first(tmp_path_factory,
                                                       tmp_path):
  # Image c shows class c (every fourth also class c + 1) and the
  # validation images are the same files. Inputs with disjoint supports
  # are linearly separable under any labelling, so each class's
  # independent logistic regression ranks its positives first: AP 1.
  labels = [[c] + ([(c + 1) % 20] if c % 4 == 0 else []) for c in range(20)]
  examples = {s: {'image': [_block_image(c) for c in range(20)],
                  'labels': labels} for s in ('train', 'validation')}
  data_dir, mock = _mock('voc/2012', {'train': 20, 'validation': 20},
                         examples, tmp_path_factory)
  with mock:
    config = transfer_protocols.transfer_config(
        'voc2012', data_dir=data_dir, resize_size=32, crop_size=28)
    config.transfer.from_workdir = None  # the images themselves
    config.transfer.images_per_class = None
    ap = transfer_protocols.sigmoid_head_ap(
        transfer.TransferData(config, str(tmp_path)))
  np.testing.assert_allclose(ap, np.ones(20))
