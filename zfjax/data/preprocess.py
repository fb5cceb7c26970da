"""The end of the paper's preprocessing, on the device (no TensorFlow).

The input pipeline (`pipeline.DataSource`, `on_device=True`) sends uint8 pixels
and the random draws of each example; these functions, traced into the
jitted train and evaluation steps, finish the job exactly as the host-side
functions of `crops` (`train_crop`, `centre_crop`, `ten_crops`) do
it from the same pixels and draws:
  subtract the mean image at the crop's offset, flip, add AlexNet's PCA
  colour shift (training); cut and mirror the 10 crops (evaluation).
Four times fewer bytes cross the host-device link than float32 crops, and
the arithmetic runs where it is cheap.

Outputs are float32 NHWC in pixel units (0..255 minus the mean).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

class Crops(NamedTuple):
  """Crops as they leave the host: uint8 pixels and the draws that finish
  them. Leading axis B (examples) on every field.

  pixels: (B, C, C, 3) uint8, the crop of the resized (R, R, 3) square,
    not flipped, mean not subtracted.
  offset: (B, 2) int32 (top, left) of the crop in the square, to find the
    mean image's part.
  flip: (B,) bool, mirror horizontally.
  alpha: (B, 3) float32 PCA colour coefficients alpha_i (zeros: no shift).
  """
  pixels: np.ndarray | jax.Array
  offset: np.ndarray | jax.Array
  flip: np.ndarray | jax.Array
  alpha: np.ndarray | jax.Array


class Squares(NamedTuple):
  """Whole resized squares for the 10-crop test: pixels (B, R, R, 3) uint8."""
  pixels: np.ndarray | jax.Array


class Statistics(NamedTuple):
  """What finishing needs from the training split.

  mean: (R, R, 3) float32 mean image, 0..255.
  pca_shift: (3, 3) float32, column i = 255 * lambda_i * p_i (eigenvalue
    times eigenvector of the RGB covariance in [0, 1] units), so the colour
    shift of coefficients alpha is pca_shift @ alpha in pixel units.
  """
  mean: np.ndarray | jax.Array
  pca_shift: np.ndarray | jax.Array


def statistics(mean: np.ndarray, eigenvalues: np.ndarray | None = None,
               eigenvectors: np.ndarray | None = None) -> Statistics:
  """`Statistics` from the mean image and the colour PCA (None: no shift)."""
  if eigenvalues is None:
    shift = np.zeros((3, 3), np.float32)
  else:
    shift = (255.0 * np.asarray(eigenvectors, np.float32)
             * np.asarray(eigenvalues, np.float32)[None, :])
  return Statistics(np.asarray(mean, np.float32), shift.astype(np.float32))


def ten_crop_offsets(resize_size: int,
                     crop_size: int) -> tuple[tuple[int, int], ...]:
  """(top, left) of the 5 crops: centre, top-left, top-right, bottom-left,
  bottom-right. The 10 crops are these, then the same 5 mirrored."""
  far, mid = resize_size - crop_size, (resize_size - crop_size) // 2
  return ((mid, mid), (0, 0), (0, far), (far, 0), (far, far))


def _mean_at(mean: jax.Array, offset: jax.Array, size: int) -> jax.Array:
  """(R, R, 3), (2,) -> the (size, size, 3) part of the mean at offset."""
  return jax.lax.dynamic_slice(mean, (offset[0], offset[1], 0),
                               (size, size, 3))


def finish_crops(crops: Crops, stats: Statistics) -> jax.Array:
  """uint8 crops and draws -> (B, C, C, 3) float32 network inputs.

  Equals `crops.train_crop` (and `centre_crop` for offsets at the
  centre, flip False, alpha 0) on the same pixels and draws.
  """
  size = crops.pixels.shape[1]
  mean = jnp.asarray(stats.mean, jnp.float32)
  x = (crops.pixels.astype(jnp.float32)
       - jax.vmap(lambda o: _mean_at(mean, o, size))(crops.offset))
  x = jnp.where(crops.flip[:, None, None, None], x[:, :, ::-1], x)
  shift = jnp.asarray(crops.alpha, jnp.float32) @ jnp.asarray(
      stats.pca_shift, jnp.float32).T
  return x + shift[:, None, None, :]


def ten_crops(squares: Squares, stats: Statistics,
              crop_size: int) -> jax.Array:
  """uint8 squares (B, R, R, 3) -> (B, 10, C, C, 3) float32: the crops at
  `ten_crop_offsets`, then their mirrors, mean subtracted (as
  `crops.ten_crops`)."""
  x = squares.pixels.astype(jnp.float32) - jnp.asarray(stats.mean,
                                                        jnp.float32)
  c = crop_size
  crops = jnp.stack([x[:, t:t + c, l:l + c] for t, l in
                     ten_crop_offsets(x.shape[1], c)], axis=1)
  return jnp.concatenate([crops, crops[:, :, :, ::-1]], axis=1)


def finish(images, stats: Statistics | None, crop_size: int) -> jax.Array:
  """Network inputs from what the pipeline sent: float32 images pass
  through; `Crops` -> (B, C, C, 3); `Squares` -> (B, 10, C, C, 3)."""
  if isinstance(images, Crops):
    return finish_crops(images, stats)
  if isinstance(images, Squares):
    return ten_crops(images, stats, crop_size)
  return images
