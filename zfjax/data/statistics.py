"""The training split's mean image and RGB covariance, computed once and cached.

One streaming pass over the training split gives the per-pixel mean image
(subtracted from every input, ZF §3) and the covariance of RGB pixel values
(for AlexNet's PCA colour shift). Both are cached as .npy files beside the
prepared data and read from there afterwards; written under temporary names
and renamed, so processes racing to cache the same file are safe.
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import tensorflow_datasets as tfds

from zfjax.data import builders
from zfjax.data import crops
from zfjax.data.tf_setup import tf
from zfjax.errors import ZfjaxError


def _paths(builder: tfds.core.DatasetBuilder, train_split: str,
           resize_size: int) -> tuple[str, str]:
  prefix = os.path.join(builder.data_dir,
                        f'zfjax_{train_split}_{resize_size}')
  return prefix + '_mean.npy', prefix + '_rgb_cov.npy'


def _save(path: str, array: np.ndarray) -> None:
  tmp = f'{path}.tmp-{uuid.uuid4().hex}'
  with tf.io.gfile.GFile(tmp, 'wb') as f:
    np.save(f, array)
  tf.io.gfile.rename(tmp, path, overwrite=True)


def _load(path: str) -> np.ndarray:
  with tf.io.gfile.GFile(path, 'rb') as f:
    return np.load(f)


def mean_and_covariance(builder: tfds.core.DatasetBuilder, train_split: str,
                        resize_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(mean image (R, R, 3) float32 0..255, RGB covariance (3, 3) in [0, 1]
  units) of `train_split` of the prepared `builder`, its central squares
  resized to R = `resize_size`."""
  mean_path, cov_path = _paths(builder, train_split, resize_size)
  if tf.io.gfile.exists(mean_path) and tf.io.gfile.exists(cov_path):
    return _load(mean_path), _load(cov_path)
  decode, size = builders.decoder(builder, resize_size), resize_size
  ds = builders.read(builder, train_split, 0,
                     builders.split_size(builder, train_split))
  ds = ds.map(lambda ex: decode(ex['image']),
              num_parallel_calls=builders.AUTOTUNE)

  def moments(images):
    images = tf.cast(images, tf.float64)
    pixels = tf.reshape(images, [-1, 3]) / 255.0
    return (tf.reduce_sum(images, axis=0),
            tf.matmul(pixels, pixels, transpose_a=True),
            tf.shape(images, out_type=tf.int64)[0])

  ds = ds.batch(64).map(moments,
                        num_parallel_calls=builders.AUTOTUNE).prefetch(2)
  image_sum, outer_sum, count = np.zeros((size, size, 3)), np.zeros((3, 3)), 0
  for image_batch_sum, outer, n in ds.as_numpy_iterator():
    image_sum += image_batch_sum
    outer_sum += outer
    count += n
  if count == 0:
    raise ZfjaxError(f'the {train_split} split of {builder.name} is empty')
  pixel_mean = image_sum.mean(axis=(0, 1)) / count / 255.0
  cov = outer_sum / (count * size * size) - np.outer(pixel_mean, pixel_mean)
  mean = (image_sum / count).astype(np.float32)
  _save(mean_path, mean)
  _save(cov_path, cov)
  return mean, cov


def color_pca(covariance: np.ndarray) -> crops.ColorPCA:
  """Eigen-decomposition of an RGB covariance, components by falling
  variance."""
  values, vectors = np.linalg.eigh(covariance)
  return crops.ColorPCA(values[::-1].copy(), vectors[:, ::-1].copy())
