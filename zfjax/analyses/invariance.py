"""Invariance to vertical translation, scale and rotation (ZF Fig. 5).

For each image and each step of a transformation we measure how far the
feature vectors of a low and a high layer move, and the probability of the
true class. The transformed images come either from image resampling (any
image: `transform_images`) or, for the built-in data set, from re-rendering
the scene with its object moved (`render_transformed`), which keeps the
background fixed and introduces no resampling blur or empty corners.

Distance normalisation: for layer l, d = ||f_l(T x) - f_l(x)||_2 /
||f_l(x)||_2, the Euclidean distance between the flattened feature vectors
relative to the length of the original's. It is 0 for the identity, and 1
means a change as large as the feature vector itself, so layers with very
different numbers of units and scales share one axis. Features are the
traced activations of `models.forward_trace` (conv: rectified output before
pooling; fc: after the ReLU).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from zfjax.networks import models
from zfjax.data import images as images_lib
from zfjax.data import shapes
from zfjax import progress as progress_lib
from zfjax.errors import ZfjaxError
from zfjax.networks.specs import Spec

TRANSFORMS = ('translate', 'scale', 'rotate')
UNITS = {'translate': 'pixels down', 'scale': 'scale factor',
         'rotate': 'degrees counter-clockwise'}


class InvarianceCurves(NamedTuple):
  """One transformation swept over N images in S steps.

  transform: 'translate' | 'scale' | 'rotate'.
  amounts: (S,) float, in UNITS[transform] (the identity is 0, 1, 0).
  layers: (L,) layer names.
  distance: (L, N, S) float32, relative feature distance (module docstring).
  p_true: (N, S) float32, softmax probability of labels[n].
  top_label: (N, S) int32, the most probable class.
  labels: (N,) int32.
  """
  transform: str
  amounts: np.ndarray
  layers: tuple[str, ...]
  distance: np.ndarray
  p_true: np.ndarray
  top_label: np.ndarray
  labels: np.ndarray


def default_amounts(transform: str, image_size: int) -> np.ndarray:
  """Fig. 5's ranges in 13 steps: about +-27% of the image vertically in
  whole pixels (+-60 px at 224), scale 0.6 to 1.8 (the paper goes 1 to 1.8),
  rotation 0 to 360 degrees."""
  check_transform(transform)
  if transform == 'translate':
    step = max(1, round(0.27 * image_size / 6))  # whole pixels, 10 at 224
    return np.arange(-6, 7) * float(step)
  if transform == 'scale':
    return np.round(np.linspace(0.6, 1.8, 13), 2)
  return np.arange(0.0, 361.0, 30.0)


def check_transform(transform: str) -> None:
  if transform not in TRANSFORMS:
    raise ZfjaxError(f"unknown transformation '{transform}'; choose one of "
                     f"{', '.join(TRANSFORMS)}")


def default_layers(spec: Spec) -> tuple[str, ...]:
  """The paper's layers 1 and 7: the first traced layer and the top one."""
  traced = models.traced_layers(spec)
  return tuple(dict.fromkeys((traced[0], traced[-1])))


def _source_coordinates(transform: str, amount: jax.Array, h: int, w: int):
  """For every output pixel, the input (row, column) it is sampled from.

  Pixel centres are at integer coordinates and the image centre at
  ((h - 1) / 2, (w - 1) / 2), the fixed point of scaling and rotation.
  """
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                            jnp.arange(w, dtype=jnp.float32), indexing='ij')
  cy, cx = (h - 1) / 2, (w - 1) / 2
  if transform == 'translate':
    return rows - amount, cols
  if transform == 'scale':
    return cy + (rows - cy) / amount, cx + (cols - cx) / amount
  theta = jnp.deg2rad(amount)
  # A counter-clockwise turn on screen (rows point down); inverse mapping.
  dy, dx = rows - cy, cols - cx
  return (cy + dy * jnp.cos(theta) + dx * jnp.sin(theta),
          cx - dy * jnp.sin(theta) + dx * jnp.cos(theta))


def transform_images(images: np.ndarray, amounts: np.ndarray, *,
                     transform: str, mean: np.ndarray | float = 0.0
                     ) -> np.ndarray:
  """Every image under every amount: (N, H, W, 3) -> (N, S, H, W, 3).

  images: mean-subtracted model inputs; mean: the mean image they had
  subtracted, broadcastable to (H, W, 3). The transformation moves the
  actual pixels (image + mean), bilinearly resampled; where a pixel comes
  from outside the image it becomes the mean, so the result is again a
  mean-subtracted image with 0 outside. The identity reproduces the input
  exactly.
  """
  check_transform(transform)
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ZfjaxError(f'images must be (N, H, W, 3), got {images.shape}')
  amounts = np.asarray(amounts, np.float32)
  if transform == 'scale' and (amounts <= 0).any():
    raise ZfjaxError(f'scale factors must be positive, got {amounts}')
  mean = np.broadcast_to(np.asarray(mean, np.float32), images.shape[1:])
  return np.asarray(_transform_images(images, amounts, mean,
                                      transform=transform))


@functools.partial(jax.jit, static_argnames=('transform',))
def _transform_images(images, amounts, mean, *, transform: str):
  _, h, w, _ = images.shape

  def resample(pixels, src_y, src_x):
    return jnp.stack([
        jax.scipy.ndimage.map_coordinates(pixels[..., c], [src_y, src_x],
                                          order=1, mode='nearest')
        for c in range(3)], axis=-1)

  def one(image, amount):
    src_y, src_x = _source_coordinates(transform, amount, h, w)
    # Resampling is linear: moving image and mean apart equals moving their
    # sum, and keeps the identity exact in floating point.
    moved = (resample(image, src_y, src_x)
             + (resample(mean, src_y, src_x) - mean))
    inside = ((src_y > -0.5) & (src_y < h - 0.5) & (src_x > -0.5)
              & (src_x < w - 0.5))
    return jnp.where(inside[..., None], moved, 0.0)

  per_amount = jax.vmap(one, in_axes=(None, 0))
  return jax.vmap(per_amount, in_axes=(0, None))(images, amounts)


@functools.partial(jax.jit, static_argnames=('spec', 'layers'))
def _measure(params, images, spec: Spec, layers: tuple[str, ...]):
  logits, trace = models.forward_trace(params, images, spec)
  n = images.shape[0]
  return (jax.nn.softmax(logits),
          tuple(trace.activations[l].reshape(n, -1) for l in layers))


def invariance_curves(params: models.Params, spec: Spec,
                      originals: np.ndarray, transformed: np.ndarray,
                      labels: np.ndarray | None, *, transform: str,
                      amounts: np.ndarray,
                      layers: tuple[str, ...] | None = None,
                      chunk_size: int = 32,
                      progress: bool = False) -> InvarianceCurves:
  """Distances and p(true class) along one transformation.

  originals: (N, H, W, 3) untransformed model inputs; transformed: (N, S, H,
  W, 3), step s transformed by amounts[s]; labels: (N,) true classes, or
  None for the model's prediction on each original. Forward passes run
  `chunk_size` images at a time.
  """
  check_transform(transform)
  layers = models.check_traced_layers(
      spec, default_layers(spec) if layers is None else layers)
  n, s = transformed.shape[:2]
  amounts = np.asarray(amounts, np.float32)
  base_probs, base = _measure(params, jnp.asarray(originals), spec, layers)
  if labels is None:
    labels = np.asarray(base_probs).argmax(-1)
  labels = np.asarray(labels, np.int32)
  if originals.shape[0] != n or amounts.shape != (s,) or labels.shape != (n,):
    raise ZfjaxError(f'need originals (N, H, W, 3), transformed (N, S, H, W, '
                     f'3), labels (N,) and amounts (S,); got '
                     f'{originals.shape}, {transformed.shape}, '
                     f'{labels.shape}, {amounts.shape}')
  flat = transformed.reshape((n * s,) + transformed.shape[2:])
  probs, feats = [], [[] for _ in layers]
  for start in progress_lib.trange(0, n * s, chunk_size, desc=transform,
                                   disable=not progress):
    p, f = _measure(params, jnp.asarray(flat[start:start + chunk_size]), spec,
                    layers)
    probs.append(np.asarray(p))
    for out, value in zip(feats, f):
      out.append(np.asarray(value))
  probs = np.concatenate(probs).reshape(n, s, -1)
  distance = []
  for original, moved in zip(base, feats):
    original = np.asarray(original, np.float64)[:, None]
    moved = np.concatenate(moved).reshape(n, s, -1).astype(np.float64)
    norm = np.maximum(np.linalg.norm(original, axis=-1), 1e-12)
    distance.append(np.linalg.norm(moved - original, axis=-1) / norm)
  return InvarianceCurves(
      transform=transform, amounts=amounts, layers=layers,
      distance=np.array(distance, np.float32),
      p_true=np.take_along_axis(probs, labels[:, None, None], -1)[..., 0],
      top_label=probs.argmax(-1).astype(np.int32), labels=labels)


def render_transformed(config, preprocessing: images_lib.Preprocessing,
                       split: str, indices: Sequence[int],
                       transform: str, amounts: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Built-in examples re-rendered with their object transformed.

  Only the object moves (background and noise stay), by `amounts` in model
  input pixels (translate), factors (scale) or degrees (rotate), about the
  object's own centre. Returns (originals (N, C, C, 3), transformed (N, S,
  C, C, 3), labels (N,)) as evaluation inputs (`preprocessing`). The
  generator re-creates the scenes from (seed, split, index): no data set
  is read.
  """
  check_transform(transform)
  if config.dataset != 'zfjax_shapes':
    raise ZfjaxError('re-rendering needs the built-in data set; use '
                     'transform_images for other images')
  size, seed = config.shapes.image_size, config.shapes.seed
  # Translations are given in model pixels; the scene is drawn at `size`.
  to_render = size / config.resize_size
  originals, moved, labels = [], [], []
  for index in indices:
    _, label, scene = shapes.example(split, int(index), size, seed=seed,
                                     world=shapes.World.of(config.shapes))
    originals.append(shapes.render(scene, size).image)
    steps = []
    for amount in np.asarray(amounts, np.float64):
      kwargs = {'translate': {'dy': amount * to_render},
                'scale': {'scale': amount},
                'rotate': {'angle_deg': amount}}[transform]
      steps.append(shapes.render(scene, size, **kwargs).image)
    moved.append(steps)
    labels.append(label)
  return (preprocessing.from_squares(np.stack(originals)),
          preprocessing.from_squares(np.stack(moved)),
          np.array(labels, np.int32))
