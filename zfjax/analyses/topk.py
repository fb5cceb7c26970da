"""The k strongest activations of every feature map across a data set.

`scan` streams batches once and keeps, per feature map of each requested
conv layer, the k largest activations -- at most one per image, the image's
maximum over the map's positions (ZF Fig. 2), and only where the map fires
(maximum > 0) -- with the image's index in its split and the position. The
running state is (C, k) per layer, so memory does not grow with the data
set. `top_patches` then reloads those images,
projects each activation through the deconvnet and crops the same window
around its receptive field from the projection and from the image.
"""

from __future__ import annotations

import functools
from typing import Callable, Iterable, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from zfjax.analyses import deconv
from zfjax.networks import models
from zfjax import progress
from zfjax.errors import ZfjaxError
from zfjax.networks.specs import Spec, receptive_fields


class TopActivations(NamedTuple):
  """The k strongest images of each of the C maps of one layer.

  All (C, k), strongest first; ties go to the image seen first. value:
  float32 activation (the map's maximum in that image), -inf in slots not
  filled (fewer than k images in which the map fires, i.e. has a maximum
  > 0); index: int64 position of the image in its split, -1 in unfilled
  slots; y, x: int32 position of that maximum in the map (first maximum in
  row-major order).
  """
  value: np.ndarray
  index: np.ndarray
  y: np.ndarray
  x: np.ndarray


class ImageBatch(Protocol):
  """What `scan` reads from a batch (e.g. an `pipeline.Batch`)."""
  images: np.ndarray  # (B, S, S, 3) float32
  mask: np.ndarray  # (B,) bool, False on padding
  index: np.ndarray  # (B,) int position in the split


def _empty(channels: int, k: int) -> TopActivations:
  return TopActivations(jnp.full((channels, k), -jnp.inf, jnp.float32),
                        jnp.full((channels, k), -1, jnp.int32),
                        jnp.zeros((channels, k), jnp.int32),
                        jnp.zeros((channels, k), jnp.int32))


def merge(top: TopActivations, acts: jax.Array, mask: jax.Array,
          index: jax.Array) -> TopActivations:
  """The running top-k after one more batch of activations.

  top: (C, k) arrays; acts: (B, H, W, C) activations of B images; mask: (B,)
  bool, padding rows never enter; index: (B,) int32 image indices. An image
  enters a map's list only where that map fires in it (maximum > 0): a map
  that is zero everywhere says nothing about the image.
  """
  b, h, w, c = acts.shape
  k = top.value.shape[1]
  flat = acts.reshape(b, h * w, c)
  best = flat.max(axis=1)  # (B, C)
  fired = mask[:, None] & (best > 0)
  where = flat.argmax(axis=1)
  # The running entries come first so that lax.top_k, which prefers lower
  # positions among equal values, keeps earlier images on ties.
  values = jnp.concatenate([top.value, jnp.where(fired, best, -jnp.inf).T],
                           axis=1)
  order = jax.lax.top_k(values, k)[1]
  pick = lambda old, new: jnp.take_along_axis(  # noqa: E731
      jnp.concatenate([old, new.T], axis=1), order, axis=1)
  return TopActivations(
      jnp.take_along_axis(values, order, axis=1),
      pick(top.index, jnp.where(fired, index[:, None], -1)),
      pick(top.y, (where // w).astype(jnp.int32)),
      pick(top.x, (where % w).astype(jnp.int32)))


@functools.partial(jax.jit, static_argnames=('spec', 'layers'))
def _scan_step(params, images, mask, index, top, spec, layers):
  _, trace = models.forward_trace(params, images, spec, switches=False)
  return {name: merge(top[name], trace.activations[name], mask, index)
          for name in layers}


def scan(params: models.Params, spec: Spec, batches: Iterable[ImageBatch],
         layers: Iterable[str], k: int = 9, *,
         total: int | None = None) -> dict[str, TopActivations]:
  """One pass over `batches`: per layer name, its `TopActivations`.

  batches: any iterable of objects with images (B, S, S, 3) float32 NHWC
  (any S the spec accepts), mask (B,) and index (B,), e.g.
  `DataSource.eval_batches`. `total` (number of batches) sizes the
  progress bar.
  """
  layers = tuple(dict.fromkeys(layers))
  top = {name: _empty(deconv.check_conv_layer(spec, name).features, k)
         for name in layers}
  for batch in progress.bar(batches, total=total, desc='top-k scan',
                            unit='batch'):
    top = _scan_step(params, jnp.asarray(batch.images),
                     jnp.asarray(batch.mask, bool),
                     jnp.asarray(batch.index, jnp.int32), top, spec, layers)
  return {name: TopActivations(np.asarray(t.value), np.asarray(t.index,
                                                                np.int64),
                               np.asarray(t.y), np.asarray(t.x))
          for name, t in top.items()}


def patch_windows(spec: Spec, layer: str, y: np.ndarray, x: np.ndarray,
                  image_size: int | None = None) -> np.ndarray:
  """Square crop windows inside the image around units (y, x) of `layer`.

  Returns (M, 4) int (y0, x0, y1, x1), end exclusive, all of side
  P = min(receptive-field size, image size): the unit's receptive field,
  shifted inside the image where it reaches past a border. Each window
  holds the unit's (clipped) receptive field, and hence its whole
  projection; at borders it shows image context where the field had
  padding.
  """
  size = spec.image_size if image_size is None else image_size
  deconv.check_conv_layer(spec, layer)
  rf = receptive_fields(spec)[layer]
  side = min(rf.size, size)
  y0 = np.clip(rf.start + np.asarray(y, np.int64) * rf.jump, 0, size - side)
  x0 = np.clip(rf.start + np.asarray(x, np.int64) * rf.jump, 0, size - side)
  return np.stack([y0, x0, y0 + side, x0 + side], axis=-1)


def crop(images: np.ndarray, windows: np.ndarray) -> np.ndarray:
  """images (M, S, S, C), windows (M, 4) of one side P -> (M, P, P, C)."""
  return np.stack([image[y0:y1, x0:x1]
                   for image, (y0, x0, y1, x1) in zip(images, windows)])


class TopPatches(NamedTuple):
  """The projected and cropped top-k of M maps of one layer.

  channels: (M,) map numbers; value, index, y, x: (M, k) as in
  `TopActivations`; projections: (M, k, P, P, 3) float32 raw deconvnet
  projections cropped to the unit's `patch_windows` (zero in unfilled
  slots); patches: (M, k, P, P, 3) uint8 image crops of the same windows
  (grey in unfilled slots); windows: (M, k, 4) pixel boxes (y0, x0, y1,
  x1) of the crops.
  """
  channels: np.ndarray
  value: np.ndarray
  index: np.ndarray
  y: np.ndarray
  x: np.ndarray
  projections: np.ndarray
  patches: np.ndarray
  windows: np.ndarray


# index array (n,) -> (model input float32 (n, S, S, 3), display uint8 ditto)
ImageLoader = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def top_patches(params: models.Params, spec: Spec, layer: str,
                top: TopActivations, channels: Iterable[int],
                load: ImageLoader, *, image_size: int | None = None,
                chunk_size: int = 32, load_size: int = 512,
                grey: int = 128) -> TopPatches:
  """Projects and crops the top-k of the given maps of `layer`.

  The images are reloaded by `load`, `load_size` selections per call in
  increasing image index, so a loader that streams the range of the split
  holding the asked indices reads the split about once in all, and memory
  holds one load of full images plus the crops. Each image is run forward
  and its stored activation projected with every other activation of the
  layer zeroed, `chunk_size` images per deconvnet call.
  """
  deconv.check_conv_layer(spec, layer)
  size = spec.image_size if image_size is None else image_size
  channels = np.asarray(list(channels), np.int64)
  num_maps = top.value.shape[0]
  if np.any((channels < 0) | (channels >= num_maps)):
    raise ZfjaxError(f'{layer} has maps 0..{num_maps - 1}; got '
                     f'{channels.tolist()}')
  sel = TopActivations(*(a[channels].ravel() for a in top))
  k = top.value.shape[1]
  chan = np.repeat(channels, k)
  windows = patch_windows(spec, layer, sel.y, sel.x, size)
  p = min(receptive_fields(spec)[layer].size, size)
  projections = np.zeros((len(chan), p, p, 3), np.float32)
  patches = np.full((len(chan), p, p, 3), grey, np.uint8)
  filled = np.flatnonzero(sel.index >= 0)
  by_image = filled[np.argsort(sel.index[filled], kind='stable')]
  for start in progress.trange(0, len(by_image), load_size, unit='load',
                              desc=f'projecting {layer} top-{k}'):
    rows = by_image[start:start + load_size]
    images, display = load(sel.index[rows])
    proj = deconv.project_in_chunks(params, images, spec, layer, chan[rows],
                                    sel.y[rows], sel.x[rows],
                                    chunk_size=chunk_size)
    projections[rows] = crop(proj, windows[rows])
    patches[rows] = crop(display, windows[rows])
  shape = (len(channels), k)
  return TopPatches(channels, *(a.reshape(shape) for a in sel),
                    projections.reshape(shape + (p, p, 3)),
                    patches.reshape(shape + (p, p, 3)),
                    windows.reshape(shape + (4,)))
