"""Grids (pixel sizes, contents) and the visualize.py commands end to end."""

import argparse
import pathlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.image
import ml_collections
import numpy as np
import pytest

from zfjax import grids
from zfjax import models
from zfjax import specs
from zfjax.errors import ZfjaxError

# ------------------------------------------------------------------- grids


def test_contrast_stretch_per_item_and_shared():
  x = np.array([[[-2.0, 0.0, 1.0]], [[0.0, 0.5, 0.25]]])
  np.testing.assert_array_equal(grids.contrast_stretch(x),
                                [[[0, 128, 191]], [[128, 255, 191]]])
  np.testing.assert_array_equal(grids.contrast_stretch(x, per_item=False),
                                [[[0, 128, 191]], [[128, 159, 143]]])


def test_top9_grid_pixel_size_and_placement():
  rng = np.random.default_rng(0)
  maps, p = 5, 7
  proj = rng.integers(0, 256, (maps, 9, p, p, 3), dtype=np.uint8)
  patch = rng.integers(0, 256, (maps, 9, p, p, 3), dtype=np.uint8)
  block = grids.top9_block(proj[0], patch[0])
  bh = 3 * p + 2 * grids.GAP
  bw = 2 * bh + grids.BLOCK_GAP
  assert block.shape == (bh, bw, 3)
  # Cell (row 1, col 2) of each 3x3 block is image 5 of the top-9.
  r0, c0 = p + grids.GAP, 2 * (p + grids.GAP)
  np.testing.assert_array_equal(block[r0:r0 + p, c0:c0 + p], proj[0, 5])
  c1 = bh + grids.BLOCK_GAP + c0
  np.testing.assert_array_equal(block[r0:r0 + p, c1:c1 + p], patch[0, 5])
  image = grids.top9_grid(proj, patch, cols=2)
  assert image.shape == (3 * bh + 2 * grids.BLOCK_GAP,
                         2 * bw + grids.BLOCK_GAP, 3)
  # Map 3 sits at block row 1, column 1.
  top, left = bh + grids.BLOCK_GAP, bw + grids.BLOCK_GAP
  np.testing.assert_array_equal(image[top:top + p, left:left + p], proj[3, 0])
  # Fewer than 9 images leave background cells.
  short = grids.top9_block(proj[0, :4], patch[0, :4])
  assert short.shape == block.shape
  assert np.all(short[2 * (p + grids.GAP):, :p] == grids.BACKGROUND)


def test_filter_grid_and_stats():
  rng = np.random.default_rng(1)
  kernel = rng.normal(size=(5, 5, 3, 10)) * 0.1
  kernel[..., 2] *= 1e-3  # dead
  kernel[..., 7] *= 10  # dominant
  stats = grids.filter_stats(kernel)
  assert np.flatnonzero(stats.dead).tolist() == [2]
  assert np.flatnonzero(stats.dominant).tolist() == [7]
  np.testing.assert_allclose(stats.rms[4], np.sqrt(np.mean(kernel[..., 4] ** 2)))
  image = grids.filter_grid(kernel, min_pixels=20)
  cell = 5 * 4  # upscaled by ceil(20 / 5)
  assert image.shape == (3 * cell + 2 * grids.GAP, 4 * cell + 3 * grids.GAP, 3)
  dead = image[0:cell, 2 * (cell + grids.GAP):2 * (cell + grids.GAP) + cell]
  assert np.all(np.abs(dead.astype(int) - 128) <= 1)  # shared scale: grey
  strong = image[cell + grids.GAP:2 * cell + grids.GAP,
                 3 * (cell + grids.GAP):3 * (cell + grids.GAP) + cell]
  assert strong.min() == 0 or strong.max() == 255
  alone = grids.filter_grid(kernel, per_filter=True, min_pixels=20)
  dead = alone[0:cell, 2 * (cell + grids.GAP):2 * (cell + grids.GAP) + cell]
  assert dead.min() == 0 or dead.max() == 255  # stretched on its own


def test_write_png_keeps_pixels(tmp_path):
  image = np.random.default_rng(2).integers(0, 256, (13, 21, 3), np.uint8)
  path = grids.write_png(tmp_path / 'a.png', image)
  back = matplotlib.image.imread(path)
  np.testing.assert_array_equal(np.round(back[..., :3] * 255), image)
  captioned = matplotlib.image.imread(
      grids.write_png(tmp_path / 'b.png', image, caption='conv1'))
  assert captioned.shape[1] == 21 and captioned.shape[0] > 13
