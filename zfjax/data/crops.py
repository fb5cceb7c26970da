"""Per-example preprocessing as TensorFlow functions (ZF §3, Krizhevsky et al.).

Take the central square of an image and resize it to `resize_size` (the same
as resizing the smaller side and centre-cropping), subtract the per-pixel
mean image of the training split, then
  training: a random `crop_size` crop and a random horizontal flip, plus
    AlexNet's PCA colour shift when asked;
  evaluation: the centre crop, or the 10 crops (corners and centre, each
    mirrored).
Functions of tensors, usable inside and outside tf.data; images are
float32 (H, W, 3) in pixel units (0..255 before the mean subtraction).
`preprocess` finishes the same crops on the device from uint8 pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from zfjax.data import preprocess
from zfjax.data.tf_setup import tf

# AlexNet's standard deviation of the PCA colour coefficients alpha_i.
PCA_STD = 0.1


class ColorPCA(NamedTuple):
  """Principal components of RGB pixel values scaled to [0, 1]."""
  eigenvalues: np.ndarray   # (3,) variances, descending
  eigenvectors: np.ndarray  # (3, 3), column i is p_i



def decode_square(encoded: tf.Tensor, resize_size: int, image_format: str,
                  stored_size: int | None = None,
                  dtype: tf.DType = tf.float32) -> tf.Tensor:
  """Encoded image -> its central square resized, (R, R, 3) float32 0..255.

  JPEGs are decoded with the crop fused in, so the discarded sides of the
  image are never decoded, and with the accurate integer IDCT, libjpeg's
  default (TensorFlow's is the fast one), which gives the pixels other
  decoders give. The resize is antialiased: dearer (bilinear without it
  runs about 1.6 times as fast) but free of the aliasing that the
  architecture study (ZF Fig. 6) looks for in the filters. `stored_size`:
  the side of the images when all are squares of that size (zfjax_shapes,
  stored forms); at R they are used as they are. `dtype` tf.uint8 rounds
  the resized pixels to the nearest integer (what `on_device` pipelines
  send).
  """
  if stored_size == resize_size:
    if image_format == 'jpeg':
      image = tf.io.decode_jpeg(encoded, channels=3,
                                dct_method='INTEGER_ACCURATE')
    else:
      image = tf.io.decode_png(encoded, channels=3)
    image.set_shape([resize_size, resize_size, 3])
    return tf.cast(image, dtype)
  if image_format == 'jpeg':
    shape = tf.image.extract_jpeg_shape(encoded)
    side = tf.minimum(shape[0], shape[1])
    window = tf.stack([(shape[0] - side) // 2, (shape[1] - side) // 2,
                       side, side])
    image = tf.io.decode_and_crop_jpeg(encoded, window, channels=3,
                                       dct_method='INTEGER_ACCURATE')
  else:
    image = tf.io.decode_png(encoded, channels=3)
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    image = image[top:top + side, left:left + side]
  image = tf.image.resize(image, [resize_size, resize_size], antialias=True)
  if dtype == tf.uint8:
    return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
  return image


def _crop(image: tf.Tensor, mean: tf.Tensor, top, left,
          size: int) -> tf.Tensor:
  return (image[top:top + size, left:left + size]
          - mean[top:top + size, left:left + size])


def train_draws(seed: tf.Tensor, resize_size: int, crop_size: int,
                pca: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """The random choices of one training example, from its stateless seed.

  Returns (offset (2,) int32 top-left of the crop, uniform over the
  R - C + 1 positions per axis; flip () bool, probability 1/2; alpha (3,)
  float32 PCA coefficients ~ N(0, PCA_STD), zeros unless `pca`).
  """
  crop_seed, flip_seed, pca_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3))
  reach = resize_size - crop_size + 1
  offset = tf.random.stateless_uniform([2], crop_seed, 0, reach, tf.int32)
  flip = tf.random.stateless_uniform([], flip_seed) < 0.5
  if pca:
    alpha = tf.random.stateless_normal([3], pca_seed, stddev=PCA_STD)
  else:
    alpha = tf.zeros([3], tf.float32)
  return offset, flip, alpha


def train_crop(image: tf.Tensor, mean: tf.Tensor, seed: tf.Tensor,
               crop_size: int, pca: ColorPCA | None = None) -> tf.Tensor:
  """Random crop and flip of one (R, R, 3) image, mean subtracted.

  Args:
    image: (R, R, 3) float32 from `decode_square`.
    mean: (R, R, 3) the mean image.
    seed: (2,) int, the stateless seed of this example (`train_draws`).
    crop_size: C.
    pca: when given, add sum_i alpha_i lambda_i p_i with alpha_i ~ N(0, 0.1)
      (in [0, 1] units, so times 255 here) to every pixel.

  Returns:
    (C, C, 3) float32.
  """
  offset, flip, alpha = train_draws(seed, image.shape[0], crop_size,
                                    pca is not None)
  out = _crop(image, mean, offset[0], offset[1], crop_size)
  out = tf.cond(flip, lambda: out[:, ::-1], lambda: out)
  if pca is not None:
    shift = tf.linalg.matvec(tf.constant(pca.eigenvectors, tf.float32),
                             alpha * tf.constant(pca.eigenvalues, tf.float32))
    out = out + 255.0 * shift
  return out


def centre_crop(image: tf.Tensor, mean: tf.Tensor,
                crop_size: int) -> tf.Tensor:
  """(R, R, 3) -> (C, C, 3), the central crop, mean subtracted."""
  offset = (image.shape[0] - crop_size) // 2
  return _crop(image, mean, offset, offset, crop_size)


def ten_crops(image: tf.Tensor, mean: tf.Tensor, crop_size: int) -> tf.Tensor:
  """(R, R, 3) -> (10, C, C, 3): `preprocess.ten_crop_offsets` (one
  definition for the host and the device) then their mirrors."""
  crops = tf.stack([_crop(image, mean, top, left, crop_size) for top, left in
                    preprocess.ten_crop_offsets(image.shape[0], crop_size)])
  return tf.concat([crops, crops[:, :, ::-1]], axis=0)
