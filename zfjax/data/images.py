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

  images: (N, C, C, 3) float32 mean-subtracted, one per file read.
  scale: (N,) model pixels per file pixel; shift: (N, 2) so that a file
  pixel coordinate (y, x) lands at (y, x) * scale - shift in the model input.
  paths: the N files read, in order. skipped: (path, why) of each file that
  could not be decoded (only with `skip_unreadable`). alpha: the files
  whose alpha channel was dropped (the model reads RGB).
  """
  images: np.ndarray
  scale: np.ndarray
  shift: np.ndarray
  paths: tuple[str, ...] = ()
  skipped: tuple[tuple[str, str], ...] = ()
  alpha: tuple[str, ...] = ()


def _image_format(encoded: bytes, path: str) -> str:
  if encoded[:2] == b'\xff\xd8':
    return 'jpeg'
  if encoded[:8] == b'\x89PNG\r\n\x1a\n':
    return 'png'
  raise ZfjaxError(f'{path} is neither JPEG nor PNG; convert it first')


def _first_line(error: Exception) -> str:
  """TensorFlow's decoding errors carry a long op trace after the reason."""
  text = getattr(error, 'message', None) or str(error)
  return text.strip().splitlines()[0].rstrip(' .;') if text.strip() else (
      type(error).__name__)


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

  def from_pixels(self, pixels) -> np.ndarray:
    """uint8 images of any size -> inputs (N, C, C, 3) float32, as
    `from_files` makes them from files with those pixels: the central
    square resized to R (antialiased), the centre crop, the mean
    subtracted. pixels: (H, W, 3) or (N, H, W, 3) uint8, or a list of
    (H, W, 3) arrays of different sizes; a grey (H, W) or (H, W, 1) image
    is repeated to RGB."""
    if isinstance(pixels, np.ndarray) and pixels.ndim == 4:
      items = list(pixels)
    elif isinstance(pixels, np.ndarray):
      items = [pixels]
    else:
      items = [np.asarray(p) for p in pixels]
    if not items:
      raise ZfjaxError('no images given')
    squares = []
    for item in items:
      item = np.asarray(item)
      if item.ndim == 2:
        item = item[..., None]
      if item.ndim != 3 or item.shape[-1] not in (1, 3):
        raise ZfjaxError(f'expected (H, W, 3) uint8 pixels, got an array '
                         f'of shape {item.shape}')
      if item.shape[-1] == 1:
        item = np.repeat(item, 3, axis=-1)
      h, w = item.shape[:2]
      side = min(h, w)
      top, left = (h - side) // 2, (w - side) // 2
      square = item[top:top + side, left:left + side].astype(np.float32)
      if side != self.resize_size:
        from zfjax.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
        square = tf.image.resize(square, [self.resize_size] * 2,
                                 antialias=True).numpy()
      squares.append(square)
    m, c = self.margin, self.crop_size
    return (np.stack(squares)[:, m:m + c, m:m + c]
            - self.mean_crop).astype(np.float32)

  def from_files(self, paths: Sequence[str], *,
                 skip_unreadable: bool = False) -> LoadedImages:
    """JPEG or PNG files -> inputs as the pipeline makes them: the central
    square resized to R, the centre crop of C, the mean subtracted. A grey
    file is read as RGB, an RGBA one without its alpha (listed in
    `alpha`). A file that cannot be decoded (truncated, not an image) is a
    ZfjaxError naming it, or with `skip_unreadable` is left out and listed
    in `skipped`."""
    # pylint: disable-next=g-import-not-at-top
    from zfjax.data import crops
    from zfjax.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
    resize, crop = self.resize_size, self.crop_size
    images, scales, shifts, read, skipped, alpha = [], [], [], [], [], []
    for path in paths:
      if not os.path.isfile(path):
        raise ZfjaxError(f'image file {path} does not exist')
      try:
        with open(path, 'rb') as f:
          encoded = f.read()
        image_format = _image_format(encoded, path)
        # Decoded whole, so that a truncated file is found here.
        shape = tf.io.decode_image(encoded, expand_animations=False).shape
        square = crops.decode_square(tf.constant(encoded), resize,
                                     image_format)
      except (ZfjaxError, tf.errors.OpError, OSError) as e:
        why = (str(e) if isinstance(e, ZfjaxError) else
               f'{path} cannot be decoded ({_first_line(e)}); replace or '
               f'remove the file')
        if not skip_unreadable:
          raise ZfjaxError(why) from None
        skipped.append((path, why))
        continue
      if shape[-1] in (2, 4):
        alpha.append(path)
      side = min(shape[0], shape[1])
      images.append(np.asarray(square)[self.margin:self.margin + crop,
                                       self.margin:self.margin + crop]
                    - self.mean_crop)
      scale = resize / side
      scales.append(scale)
      shifts.append([(shape[0] - side) // 2 * scale + self.margin,
                     (shape[1] - side) // 2 * scale + self.margin])
      read.append(path)
    images = (np.stack(images).astype(np.float32) if images else
              np.zeros((0, crop, crop, 3), np.float32))
    return LoadedImages(images, np.array(scales), np.array(shifts).reshape(
        -1, 2), tuple(read), tuple(skipped), tuple(alpha))
