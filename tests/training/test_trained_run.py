"""`zfjax.load_run(workdir)` is all an analysis of your own images needs:
`run.inputs` turns files or uint8 pixels into model inputs exactly as the
run's validation images were made (checked against a hand-made crop)."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

import zfjax


@pytest.fixture(scope='module')
def run(tiny_run):
  return zfjax.load_run(str(tiny_run))


def _by_hand(run, pixels):
  """The centre crop of pixels already at the resize size, less the mean."""
  r, c = run.config.resize_size, run.config.crop_size
  assert pixels.shape[:2] == (r, r)
  m = (r - c) // 2
  return pixels[m:m + c, m:m + c].astype(np.float32) - run.preprocessing.mean[
      m:m + c, m:m + c]


def test_inputs_from_files_and_pixels(run, tmp_path):
  rng = np.random.default_rng(0)
  r = run.config.resize_size
  square = rng.integers(0, 256, (r, r, 3), np.uint8)
  # A wide image whose central square is `square`: the sides are cut off.
  wide = np.concatenate([rng.integers(0, 256, (r, 8, 3), np.uint8), square,
                         rng.integers(0, 256, (r, 9, 3), np.uint8)], axis=1)
  Image.fromarray(square).save(tmp_path / 'square.png')
  Image.fromarray(wide).save(tmp_path / 'wide.png')
  want = _by_hand(run, square)
  from_files = run.inputs([tmp_path / 'square.png', str(tmp_path / 'wide.png')])
  assert from_files.shape == (2, run.config.crop_size, run.config.crop_size, 3)
  np.testing.assert_allclose(from_files[0], want, atol=1e-3)
  np.testing.assert_allclose(from_files[1], want, atol=1e-3)
  np.testing.assert_allclose(run.inputs(str(tmp_path / 'square.png'))[0],
                             want, atol=1e-3)
  # uint8 arrays: one, a batch, or a list of different sizes.
  np.testing.assert_allclose(run.inputs(square)[0], want, atol=1e-3)
  np.testing.assert_allclose(run.inputs(square[None].repeat(2, 0)),
                             [want, want], atol=1e-3)
  np.testing.assert_allclose(run.inputs([wide, square]), [want, want],
                             atol=1e-3)
  # And back to pixels.
  np.testing.assert_array_equal(run.display(from_files[0]),
                                square[2:-2, 2:-2])


def test_pixels_of_another_size_resize_as_files_do(run, tmp_path):
  big = np.random.default_rng(1).integers(0, 256, (50, 70, 3), np.uint8)
  Image.fromarray(big).save(tmp_path / 'big.png')
  np.testing.assert_allclose(run.inputs(big), run.inputs(tmp_path / 'big.png'),
                             atol=1e-3)


def test_what_a_run_holds(run):
  assert run.spec.name == 'zfnet_small' and run.epoch == 2
  assert len(run.class_names) == run.spec.num_classes == 12


def test_initial_params_are_where_training_started(tiny_run, tmp_path):
  """A run trained at rate 1e-12 (so neither gradients nor weight decay
  move it measurably) ends at the params `initial_params` draws again from
  its config (another seed's differ by the weights' scale, 0.06); a
  trained run has moved away from them."""
  # pylint: disable-next=g-import-not-at-top
  from configs import tiny
  from zfjax.training import trainer  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  config.data_dir = str(tiny_run.parent / 'tfds')
  config.ten_crop_eval = False
  config.learning_rate = 1e-12
  config.num_epochs = 1
  trainer.train_and_evaluate(config, str(tmp_path / 'still'))
  still = zfjax.load_run(str(tmp_path / 'still'))
  assert still.step == 16
  initial = still.initial_params()
  assert set(initial) == set(still.params)
  for name, layer in still.params.items():
    for key, value in layer.items():
      np.testing.assert_allclose(np.asarray(initial[name][key]),
                                 np.asarray(value), rtol=0, atol=1e-6,
                                 err_msg=name)
  trained = zfjax.load_run(str(tiny_run))
  moved = trained.initial_params()['conv1']['kernel']
  assert np.abs(np.asarray(moved)
                - np.asarray(trained.params['conv1']['kernel'])).max() > 1e-3


def test_no_initial_params_where_the_run_did_not_draw_them(run):
  """A converted model (its one checkpoint at step 0) and a transfer run
  (its source's layers copied in) did not start from their own draw."""
  assert dataclasses.replace(run, step=0).initial_params() is None
  config = run.config.copy_and_resolve_references()
  config.transfer.from_workdir = '/some/source'
  assert dataclasses.replace(run, config=config).initial_params() is None
