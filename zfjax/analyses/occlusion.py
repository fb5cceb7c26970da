"""Occlusion sensitivity (ZF §4.2, Fig. 7).

A grey square slides over the image; for every position of the square we
record the classifier's probability of the true class, its most probable
label, and the total activation of one feature map (by default the map of the
last convolutional layer that responds most strongly to the unoccluded
image). Everything runs as one jitted program that is vmapped over occluder
positions and evaluated chunk by chunk, so memory stays bounded however many
positions there are (224 pixels at stride 1 is 30,625 per image).

Geometry: the square's top-left corner visits rows (and columns) 0, stride,
2 * stride, ... up to the first one at or past `H - size`; the last row of
squares may therefore hang over the far edge by less than `stride` pixels
and is clipped there. This keeps the grid regular and covers every pixel.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from zfjax.analyses import deconv
from zfjax.analyses import incremental
from zfjax.networks import models
from zfjax import progress as progress_lib
from zfjax.errors import ZfjaxError
from zfjax.networks.specs import Conv, Spec

# ZF Fig. 7 does not give the square; 50 px at stride 8 on 224 px images is
# this project's reference setting, scaled for other image sizes.
_REFERENCE_SIZE, _REFERENCE_STRIDE, _REFERENCE_IMAGE = 50, 8, 224


class OcclusionResult(NamedTuple):
  """Maps indexed by occluder position; N images, Py x Px square positions.

  p_true: (N, Py, Px) float32, softmax probability of `labels[n]` with the
    square at (ys[i], xs[j]).
  top_label: (N, Py, Px) int32, the most probable class there.
  map_activation: (N, Py, Px) float32, sum over all spatial positions of the
    rectified activation of map `channel[n]` of `layer` (before pooling).
  heat: (N, H, W) float32, per pixel the mean of `p_true` over every square
    position that covers the pixel (for overlays on the image).
  ys, xs: (Py,), (Px,) int32, top row / left column of each square, pixels.
  size: the square's side in pixels.
  layer: the feature layer of `map_activation`.
  channel: (N,) int32, the feature map used for each image.
  labels: (N,) int32, the class whose probability `p_true` holds.
  clean_p_true, clean_label, clean_activation: (N,) the same three
    quantities on the unoccluded images.
  projection: (N, H, W, 3) float32 deconvnet projection of each image's
    whole tracked map (Fig. 7 (c)), or None unless asked for.
  """
  p_true: np.ndarray
  top_label: np.ndarray
  map_activation: np.ndarray
  heat: np.ndarray
  ys: np.ndarray
  xs: np.ndarray
  size: int
  layer: str
  channel: np.ndarray
  labels: np.ndarray
  clean_p_true: np.ndarray
  clean_label: np.ndarray
  clean_activation: np.ndarray
  projection: np.ndarray | None = None


# The fields of an `OcclusionResult` with one row per image.
_PER_IMAGE = ('p_true', 'top_label', 'map_activation', 'heat', 'channel',
              'labels', 'clean_p_true', 'clean_label', 'clean_activation',
              'projection')


def select(result: OcclusionResult, indices) -> OcclusionResult:
  """The result of images `indices` (a sequence of positions) only."""
  indices = np.asarray(indices, np.int64)
  return result._replace(**{
      name: np.asarray(getattr(result, name))[indices] for name in _PER_IMAGE
      if getattr(result, name) is not None})


def default_square(image_size: int) -> tuple[int, int]:
  """(size, stride) in pixels: 50 and 8 at 224 pixels, scaled otherwise."""
  scale = image_size / _REFERENCE_IMAGE
  return (max(1, round(_REFERENCE_SIZE * scale)),
          max(1, round(_REFERENCE_STRIDE * scale)))


def square_positions(image_size: int, size: int, stride: int) -> np.ndarray:
  """Top rows (or left columns) of the squares along one axis, int32 pixels.

  0, stride, 2 * stride, ... up to the first start >= image_size - size, so
  that every pixel is covered by at least one square.
  """
  if not 1 <= size <= image_size:
    raise ZfjaxError(f'occluder size must be between 1 and the image size '
                     f'{image_size}, got {size}')
  if stride < 1:
    raise ZfjaxError(f'occluder stride must be at least 1, got {stride}')
  count = -(-(image_size - size) // stride) + 1
  return (np.arange(count) * stride).astype(np.int32)


def fill_box(image: jax.Array, box: jax.Array, fill: jax.Array) -> jax.Array:
  """`image` (H, W, 3) with the pixels of `box` = (y0, x0, y1, x1), end
  exclusive, set to `fill` (broadcastable to (H, W, 3)).

  The box may be traced and may reach past the image (that part is dropped),
  so this works under vmap over boxes.
  """
  rows = jnp.arange(image.shape[0])
  cols = jnp.arange(image.shape[1])
  inside = (((rows >= box[0]) & (rows < box[2]))[:, None]
            & ((cols >= box[1]) & (cols < box[3]))[None, :])
  return jnp.where(inside[:, :, None], jnp.broadcast_to(fill, image.shape),
                   image)


def pixel_average(values: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                  size: int, image_hw: tuple[int, int]) -> np.ndarray:
  """Per pixel, the mean of `values` (N, Py, Px) over the squares covering it.

  Square (i, j) covers rows [ys[i], ys[i] + size) and columns [xs[j], xs[j] +
  size). Returns (N, H, W) float32; pixels no square covers are NaN.
  """
  h, w = image_hw
  rows = ((np.arange(h)[None, :] >= ys[:, None])
          & (np.arange(h)[None, :] < ys[:, None] + size)).astype(np.float64)
  cols = ((np.arange(w)[None, :] >= xs[:, None])
          & (np.arange(w)[None, :] < xs[:, None] + size)).astype(np.float64)
  # Coverage is separable, so sums over squares are two matrix products.
  total = np.einsum('yh,nyx,xw->nhw', rows, values.astype(np.float64), cols)
  count = np.einsum('yh,xw->hw', rows, cols)
  with np.errstate(invalid='ignore', divide='ignore'):
    return (total / count).astype(np.float32)


@functools.partial(jax.jit, static_argnames=('spec', 'layer', 'zone',
                                             'switches'))
def _clean_pass(params, images, spec: Spec, layer: str,
                zone: incremental.Zone | None, switches: bool = False):
  """The one forward pass of the unoccluded images: softmax, the tracked
  layer's maps, the zone's maps the incremental sweep starts from, and
  (with `switches`) the pooling switches the projection panel needs."""
  keep = () if zone is None else zone.names
  logits, trace = models.forward_trace(params, images, spec,
                                       switches=switches, keep=keep)
  clean = () if zone is None else incremental.zone_maps(trace, zone)
  # The projection reads every conv layer's maps up to `layer`.
  activations = trace.activations if switches else {
      layer: trace.activations[layer]}
  return (jax.nn.softmax(logits), clean,
          models.Trace(activations, trace.switches,
                       image_size=trace.image_size))


@functools.partial(jax.jit, static_argnames=('spec', 'layer', 'size', 'zone',
                                             'chunk'))
def _occluded_chunk(params, images, labels, channels, fill, clean, jobs,
                    starts, index, *, spec: Spec, layer: str, size: int,
                    zone: incremental.Zone | None, chunk: int):
  """Per job of chunk `index` (jobs: image index, top row, left column):
  p(label), top label and the total activation of the image's chosen map,
  each (chunk,). All inputs stay on the device for the whole sweep.

  starts: per job the incremental windows (`incremental.Plan.starts`);
  zone None recomputes every layer.
  """
  jobs = lax.dynamic_slice_in_dim(jobs, index * chunk, chunk)
  starts = lax.dynamic_slice_in_dim(starts, index * chunk, chunk)

  def one(job, start):
    n = job[0]
    box = jnp.stack([job[1], job[2], job[1] + size, job[2] + size])
    occluded = fill_box(images[n], box, fill)
    if zone is None:
      logits, trace = models.forward_trace(params, occluded[None], spec,
                                           switches=False)
    else:
      logits, trace = incremental.forward(
          params, occluded, tuple(m[n] for m in clean), start, spec, zone)
    probs = jax.nn.softmax(logits[0])
    fmap = jnp.take(trace.activations[layer][0], channels[n], axis=-1)
    return probs[labels[n]], jnp.argmax(probs).astype(jnp.int32), fmap.sum()

  return jax.vmap(one)(jobs, starts)


def _spatial_layer(spec: Spec, layer: str | None) -> str:
  if layer is None:
    if not spec.conv_names:
      raise ZfjaxError(f"spec '{spec.name}' has no convolutional layer")
    return spec.conv_names[-1]
  if not isinstance(spec.layer(layer), Conv):
    raise ZfjaxError(f"layer '{layer}' of spec '{spec.name}' is not a "
                     f"convolution; choose one of {', '.join(spec.conv_names)}")
  return layer


def strongest_channel(activations: jax.Array) -> np.ndarray:
  """Per image the map with the largest single activation, (N,) int32.

  activations: (N, H, W, C) rectified conv outputs.
  """
  return np.asarray(jnp.argmax(activations.max(axis=(1, 2)), axis=-1),
                    np.int32)


def occlusion_sweep(params: models.Params, images: jax.Array, spec: Spec, *,
                    labels: np.ndarray | None = None,
                    size: int | None = None, stride: int | None = None,
                    fill: float | np.ndarray = 0.0, layer: str | None = None,
                    channel: int | np.ndarray | None = None,
                    chunk_size: int = 32, exact_incremental: bool = True,
                    project: bool = False,
                    progress: bool = False) -> OcclusionResult:
  """Occlusion maps for `images` (N, H, W, 3), mean-subtracted pixel units.

  labels: (N,) true classes; None takes each image's unoccluded prediction.
  size, stride: the square and its step in pixels (default `default_square`).
  fill: the square's content in the images' units, a scalar or an array
    broadcastable to (H, W, 3); 0 is the mean image, i.e. mean grey.
  layer: conv layer whose map is tracked (default: the last one).
  channel: map index, one for all images or (N,); default per image the map
    with the strongest single activation on the unoccluded image.
  chunk_size: occluded images evaluated per call of the jitted program; peak
    memory is about chunk_size forward passes whatever the number of positions.
    The positions are split into equal chunks of at most this size, so the
    last chunk pads by fewer than one job per chunk.
  exact_incremental: compute the clean image's lower layers once and, per
    square, recompute only the windows of them that the square reaches
    (`incremental`; the same numbers to float rounding); False runs the
    whole forward pass per square.
  project: also project each image's tracked map to pixels (Fig. 7 (c),
    `deconv.project_map`) from the same clean forward pass.
  """
  images = jnp.asarray(images, jnp.float32)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ZfjaxError(f'images must be (N, H, W, 3), got shape '
                     f'{tuple(images.shape)}')
  n, h, w, _ = images.shape
  default_size, default_stride = default_square(min(h, w))
  size = default_size if size is None else int(size)
  stride = default_stride if stride is None else int(stride)
  ys = square_positions(h, size, stride)
  xs = square_positions(w, size, stride)
  if chunk_size < 1:
    raise ZfjaxError(f'chunk_size must be at least 1, got {chunk_size}')
  layer = _spatial_layer(spec, layer)

  grid_n, grid_y, grid_x = np.meshgrid(np.arange(n), ys, xs, indexing='ij')
  jobs = np.stack([grid_n.ravel(), grid_y.ravel(), grid_x.ravel()],
                  axis=1).astype(np.int32)
  plan = None
  if exact_incremental:
    plan = incremental.plan(
        spec, (h, w), np.concatenate([jobs[:, 1:], jobs[:, 1:] + size], 1),
        stop_before=layer)
  zone = None if plan is None else plan.zone
  starts = (np.zeros((len(jobs), 0, 2), np.int32) if plan is None
            else plan.starts)

  probs, clean, trace = _clean_pass(params, images, spec, layer, zone,
                                    switches=project)
  acts = trace.activations[layer]
  clean_label = np.asarray(jnp.argmax(probs, axis=-1), np.int32)
  labels = clean_label if labels is None else np.asarray(labels, np.int32)
  if labels.shape != (n,) or labels.min() < 0 or (
      labels.max() >= spec.num_classes):
    raise ZfjaxError(f'labels must be {n} class indices in [0, '
                     f'{spec.num_classes}), got {labels!r}')
  num_maps = acts.shape[-1]
  if channel is None:
    channels = strongest_channel(acts)
  else:
    channels = np.broadcast_to(np.asarray(channel, np.int32), (n,)).copy()
    if channels.min() < 0 or channels.max() >= num_maps:
      raise ZfjaxError(f"channel must be in [0, {num_maps}) for layer "
                       f"'{layer}', got {channel!r}")
  fill = jnp.broadcast_to(jnp.asarray(fill, jnp.float32), (h, w, 3))
  clean_activation = np.asarray(
      acts.sum(axis=(1, 2))[np.arange(n), channels], np.float32)

  total = len(jobs)
  count = -(-total // min(chunk_size, total))
  chunk = -(-total // count)  # equal chunks: the last pads < count jobs
  # Repeat the last job so every chunk has one shape: one compilation.
  pad = count * chunk - total
  jobs = np.concatenate([jobs, np.repeat(jobs[-1:], pad, axis=0)])
  starts = np.concatenate([starts, np.repeat(starts[-1:], pad, axis=0)])
  # Everything goes to the device once; the loop only enqueues programs
  # (no transfer or wait per chunk) and waits two chunks behind for the
  # progress bar, so the device never idles on the host.
  args = (params, images, jnp.asarray(labels), jnp.asarray(channels), fill,
          clean, jnp.asarray(jobs), jnp.asarray(starts))
  indices = list(jnp.arange(count, dtype=jnp.int32))
  outputs = []
  with progress_lib.bar(total=count, desc='occlusion', unit='chunk',
                        disable=not progress) as bar:
    for i, index in enumerate(indices):
      outputs.append(_occluded_chunk(*args, index, spec=spec, layer=layer,
                                     size=size, zone=zone, chunk=chunk))
      if i >= 2:
        jax.block_until_ready(outputs[i - 2])
        bar.update()
    jax.block_until_ready(outputs)
    bar.update(count - bar.n)
  projection = None
  if project:
    projection = np.asarray(deconv.project_map(
        params, trace, spec, layer, jnp.asarray(channels), image_size=h))
  grid = (n, len(ys), len(xs))
  p_true, top_label, activation = (
      np.asarray(jnp.concatenate(out))[:total].reshape(grid)
      for out in zip(*outputs))
  return OcclusionResult(
      p_true=p_true.astype(np.float32),
      top_label=top_label.astype(np.int32),
      map_activation=activation.astype(np.float32),
      heat=pixel_average(p_true, ys, xs, size, (h, w)),
      ys=ys, xs=xs, size=size, layer=layer, channel=channels, labels=labels,
      clean_p_true=np.asarray(probs)[np.arange(n), labels],
      clean_label=clean_label, clean_activation=clean_activation,
      projection=projection)


def worst_boxes(result: OcclusionResult) -> np.ndarray:
  """Per image the square where p(true class) is lowest: (N, 4) int32
  (y0, x0, y1, x1), end exclusive, possibly reaching past the image."""
  n = len(result.p_true)
  flat = result.p_true.reshape(n, -1).argmin(-1)
  y0 = result.ys[flat // len(result.xs)]
  x0 = result.xs[flat % len(result.xs)]
  return np.stack([y0, x0, y0 + result.size, x0 + result.size],
                  axis=1).astype(np.int32)
