"""Every analysis of `visualize.py` on a converted torchvision AlexNet
workdir (random weights) and the user's own image files, with no data set.

The workdir's crop is shrunk to 99 pixels (pool5 gives 2x2 maps, which the
adaptive pooling spreads to 6x6) so that the commands run in seconds; the
numbers they write are checked against direct forward passes.
"""

import csv
import json
import pathlib

import jax
import matplotlib.image
import numpy as np
import pytest

from zfjax.commands import visualize
from shared import random_state_dict
from zfjax.networks import convert
from zfjax.networks import models
from zfjax.training import workdirs
from zfjax.commands import convert as convert_command

CROP = 99


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  path = tmp_path_factory.mktemp('pretrained') / 'alexnet'
  converted = convert.torchvision_alexnet(random_state_dict(2))
  convert_command.write_workdir(converted, str(path))
  # Smaller inputs for speed: the config and the mean image the workdir
  # holds for them.
  config_file = path / workdirs.CONFIG_FILE
  config = json.loads(config_file.read_text())
  config.update(resize_size=112, crop_size=CROP, eval_batch_size=2)
  config_file.write_text(json.dumps(config))
  workdirs.save_mean_image(str(path), np.broadcast_to(converted.mean,
                                                      (112, 112, 3)))
  return path


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory):
  path = tmp_path_factory.mktemp('photos')
  rng = np.random.default_rng(0)
  for i in range(3):  # not square: the central square is used
    image = rng.uniform(0, 1, (120 + 10 * i, 140, 3)).astype(np.float32)
    image[30:70, 40:90] = [1.0, 0.3 * i, 0.1]
    matplotlib.image.imsave(path / f'photo{i}.png', image)
  (path / 'notes.txt').write_text('not an image')
  return path


@pytest.fixture(scope='module')
def model(workdir):
  return workdirs.load_run(str(workdir))


def _inputs(model, paths):
  return model.preprocessing.from_files([str(p) for p in paths]).images


def test_class_names_and_mean_need_no_data_set(model):
  names = model.class_names
  assert len(names) == 1000
  assert (names[0], names[1], names[999]) == ('tench', 'goldfish',
                                              'toilet tissue')
  mean = model.preprocessing.mean
  assert mean.shape == (112, 112, 3)
  np.testing.assert_allclose(mean[5, 7], [123.675, 116.28, 103.53],
                             rtol=1e-6)


def test_top9_over_an_image_dir(workdir, image_dir, model):
  assert visualize.main(['--workdir', str(workdir), 'top9', '--image_dir',
                         str(image_dir), '--layers', 'conv2', '--channels',
                         '3,100', '--k', '2', '--npz']) == 0
  stem = f'top9_conv2_channels3-100_k2_image_dir-{image_dir.name}'
  result = np.load(workdir / 'figures' / f'{stem}.npz')
  files = sorted(image_dir.glob('*.png'))
  images = _inputs(model, files)
  _, trace = models.forward_trace(model.params, images, model.spec)
  acts = np.asarray(trace.activations['conv2'])
  for row, channel in enumerate((3, 100)):
    best = acts[..., channel].reshape(len(files), -1).max(axis=1)
    order = np.argsort(-best, kind='stable')[:2]
    np.testing.assert_array_equal(result['index'][row], order)
    np.testing.assert_allclose(result['value'][row], best[order], rtol=1e-5)
  assert (workdir / 'figures' / f'{stem}.png').stat().st_size > 0


def test_image_dir_errors(workdir, tmp_path, capsys):
  for folder in (tmp_path / 'absent', tmp_path):
    assert visualize.main(['--workdir', str(workdir), 'top9', '--image_dir',
                           str(folder)]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err[0].startswith('error: ') and 'is not a directory' in err[0]
  assert err[1].startswith('error: ') and 'holds no .jpg' in err[1]


def test_occlusion_on_files(workdir, image_dir, model):
  photo = image_dir / 'photo1.png'
  assert visualize.main(['--workdir', str(workdir), 'occlusion', '--files',
                         str(photo), '--labels', '7', '--size', '40',
                         '--stride', '30']) == 0
  stem = workdir / 'figures' / 'occlusion_photo1_labels7_size40_stride30'
  with open(f'{stem}.csv') as f:
    rows = list(csv.DictReader(f))
  # Corners 0, 30, 60 (60 + 40 >= 99) on both axes.
  assert len(rows) == 9
  image = _inputs(model, [photo])[0]
  row = rows[5]
  y0, x0 = int(row['y0']), int(row['x0'])
  occluded = image.copy()
  occluded[y0:y0 + 40, x0:x0 + 40] = 0.0  # the mean, after subtraction
  probs = jax.nn.softmax(models.apply(model.params, occluded[None],
                                      model.spec))[0]
  assert float(row['p_true']) == pytest.approx(float(probs[7]), abs=1e-5)
  assert int(row['top_label']) == int(np.argmax(probs))
  assert pathlib.Path(f'{stem}.png').exists()


def test_invariance_on_files(workdir, image_dir, model):
  files = [str(p) for p in sorted(image_dir.glob('*.png'))[:2]]
  assert visualize.main(['--workdir', str(workdir), 'invariance', '--files',
                         *files, '--transforms', 'translate', '--labels',
                         '0,1']) == 0
  tag = 'files-photo0-photo1_labels0-1_transforms-translate'
  with open(workdir / 'figures' / f'invariance_{tag}.csv') as f:
    rows = [r for r in csv.DictReader(f) if float(r['amount']) == 0]
  images = _inputs(model, files)
  probs = np.asarray(jax.nn.softmax(models.apply(model.params, images,
                                                 model.spec)))
  assert len(rows) == 2
  for i, row in enumerate(rows):  # no translation: no change
    assert float(row['distance_conv1']) == pytest.approx(0.0, abs=1e-6)
    assert float(row['p_true']) == pytest.approx(probs[i, i], abs=1e-5)


def test_filters(workdir, model, capsys):
  assert visualize.main(['--workdir', str(workdir), 'filters', '--npz']) == 0
  assert 'conv1: 64 filters' in capsys.readouterr().out
  saved = np.load(workdir / 'figures' / 'filters_conv1.npz')  # all defaults
  np.testing.assert_array_equal(saved['kernel'],
                                np.asarray(model.params['conv1']['kernel']))
