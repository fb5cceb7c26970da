"""`zfjax.load_run(workdir)` is all an analysis of your own images needs:
`run.inputs` turns files or uint8 pixels into model inputs exactly as the
run's validation images were made (checked against a hand-made crop)."""

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
