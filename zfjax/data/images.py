"""A run's images as model inputs and back, without its data set.

A trained run preprocesses every image the same way (ZF §3): the central
square resized to R = `resize_size`, the centre crop of C = `crop_size`,
the training split's mean image (R, R, 3) subtracted. `Preprocessing`
holds those three, which a workdir stores (`config.json`,
`mean_image.npy`), so that your own photos become inputs exactly as the
validation images did, on a machine that does not have the data set:

  prep = Preprocessing(256, 224, mean)
  loaded = prep.from_files(['dog.jpg', 'cat.png'])   # (2, 224, 224, 3)
  shown = prep.to_display(loaded.images)             # uint8 again

Decoding and resizing use TensorFlow (imported on first use) with the data
pipeline's own functions, so a file gives the pixels the pipeline would.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import numpy as np

from zfjax.errors import ZfjaxError


class LoadedImages(NamedTuple):
  """Image files preprocessed like evaluation inputs (centre crop).

  images: (N, C, C, 3) float32 mean-subtracted.
  scale: (N,) model pixels per file pixel; shift: (N, 2) so that a file
  pixel coordinate (y, x) lands at (y, x) * scale - shift in the model input.
  """
  images: np.ndarray
  scale: np.ndarray
  shift: np.ndarray


def _image_format(encoded: bytes, path: str) -> str:
  if encoded[:2] == b'\xff\xd8':
    return 'jpeg'
  if encoded[:8] == b'\x89PNG\r\n\x1a\n':
    return 'png'
  raise ZfjaxError(f'{path} is neither JPEG nor PNG; convert it first')


class Preprocessing(NamedTuple):
  """How a run turns images into model inputs: resize_size R, crop_size C
  and the mean image (R, R, 3) float32 in 0..255 pixel units."""
  resize_size: int
  crop_size: int
  mean: np.ndarray

  @property
  def margin(self) -> int:
    """Pixels between the resized square's edge and the centre crop."""
    return (self.resize_size - self.crop_size) // 2

  @property
  def mean_crop(self) -> np.ndarray:
    """The centre (C, C, 3) of the mean image: what a centre crop lost."""
    m, c = self.margin, self.crop_size
    return np.asarray(self.mean[m:m + c, m:m + c], np.float32)

  def to_display(self, inputs: np.ndarray) -> np.ndarray:
    """Centre-crop inputs (..., C, C, 3) -> uint8 pixels (the mean added
    back, rounded, clipped to 0..255)."""
    return np.clip(np.rint(np.asarray(inputs) + self.mean_crop), 0,
                   255).astype(np.uint8)

  def from_squares(self, squares: np.ndarray) -> np.ndarray:
    """Square uint8 images (..., S, S, 3) -> inputs (..., C, C, 3) float32:
    resized to R if S differs (antialiased, as the pipeline), centre crop,
    mean subtracted."""
    squares = np.asarray(squares)
    lead, size = squares.shape[:-3], squares.shape[-2]
    flat = squares.reshape((-1,) + squares.shape[-3:]).astype(np.float32)
    if size != self.resize_size:
      from zfjax.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
      flat = tf.image.resize(flat, [self.resize_size] * 2,
                             antialias=True).numpy()
    m, c = self.margin, self.crop_size
    out = flat[:, m:m + c, m:m + c] - self.mean_crop
    return out.reshape(lead + out.shape[1:]).astype(np.float32)

  def from_files(self, paths: Sequence[str]) -> LoadedImages:
    """JPEG or PNG files -> inputs as the pipeline makes them: the central
    square resized to R, the centre crop of C, the mean subtracted. An
    RGBA or grey file is read as RGB."""
    # pylint: disable-next=g-import-not-at-top
    from zfjax.data import crops
    from zfjax.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
    resize, crop = self.resize_size, self.crop_size
    images, scales, shifts = [], [], []
    for path in paths:
      if not os.path.isfile(path):
        raise ZfjaxError(f'image file {path} does not exist')
      with open(path, 'rb') as f:
        encoded = f.read()
      image_format = _image_format(encoded, path)
      try:
        shape = tf.io.decode_image(encoded, channels=3,
                                   expand_animations=False).shape
        square = crops.decode_square(tf.constant(encoded), resize,
                                     image_format)
      except tf.errors.InvalidArgumentError:
        raise ZfjaxError(f'{path} is not a readable {image_format.upper()} '
                         f'image (truncated or damaged)') from None
      side = min(shape[0], shape[1])
      images.append(np.asarray(square)[self.margin:self.margin + crop,
                                       self.margin:self.margin + crop]
                    - self.mean_crop)
      scale = resize / side
      scales.append(scale)
      shifts.append([(shape[0] - side) // 2 * scale + self.margin,
                     (shape[1] - side) // 2 * scale + self.margin])
    return LoadedImages(np.stack(images).astype(np.float32),
                        np.array(scales), np.array(shifts))
