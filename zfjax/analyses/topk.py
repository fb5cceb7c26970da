"""The k strongest activations of every feature map across a data set.

`scan` streams batches once and keeps, per feature map of each requested
conv layer, the k largest activations -- at most one per image, the image's
maximum over the map's positions (ZF Fig. 2), and only where the map fires
(maximum > 0) -- with the image's index in its split and the position. The
running state is (C, k) per layer, so memory does not grow with the data
set; `scan_with_maxima` also keeps every image's maximum of every map (how
often and how strongly each unit fires: N x C numbers per layer).
`project_tops` then reloads those images, each once for every map and
layer that lists it, projects each activation to pixel space (the
deconvnet, or the gradient or guided backpropagation: `deconv.RULES`) and
crops the same window around its receptive field from the projection and
from the image (`top_patches`: one layer; `project_tops_by_rule`: several
rules from the same loads and forward passes).
"""

from __future__ import annotations

import functools
from typing import Callable, Iterable, Mapping, NamedTuple, Protocol, Sequence

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


class ImageMaxima(NamedTuple):
  """Each scanned image's maximum over the positions of every map.

  index: (N,) int64 positions of the N scanned images in their split,
  ascending; values: per layer (N, C) float32, image n's maximum of map c
  (0 where the map is silent: activations are rectified).
  """
  index: np.ndarray
  values: dict[str, np.ndarray]


@functools.partial(jax.jit, static_argnames=('spec', 'layers'))
def _scan_step(params, images, mask, index, top, spec, layers):
  _, trace = models.forward_trace(params, images, spec, switches=False)
  acts = {name: trace.activations[name] for name in layers}
  maxima = {name: a.max(axis=(1, 2)) for name, a in acts.items()}
  return ({name: merge(top[name], a, mask, index) for name, a in acts.items()},
          maxima)


def scan(params: models.Params, spec: Spec, batches: Iterable[ImageBatch],
         layers: Iterable[str], k: int = 9, *,
         total: int | None = None) -> dict[str, TopActivations]:
  """One pass over `batches`: per layer name, its `TopActivations`.

  batches: any iterable of objects with images (B, S, S, 3) float32 NHWC
  (any S the spec accepts), mask (B,) and index (B,), e.g.
  `DataSource.eval_batches`. `total` (number of batches) sizes the
  progress bar.
  """
  return _scan(params, spec, batches, layers, k, total, keep_maxima=False)[0]


def scan_with_maxima(params: models.Params, spec: Spec,
                     batches: Iterable[ImageBatch], layers: Iterable[str],
                     k: int = 9, *, total: int | None = None
                     ) -> tuple[dict[str, TopActivations], ImageMaxima]:
  """`scan`, and from the same pass every image's maximum of every map
  (`ImageMaxima`: how often and how strongly each unit fires)."""
  return _scan(params, spec, batches, layers, k, total, keep_maxima=True)


def _scan(params, spec, batches, layers, k, total, *, keep_maxima):
  layers = tuple(dict.fromkeys(layers))
  top = {name: _empty(deconv.check_conv_layer(spec, name).features, k)
         for name in layers}
  index, maxima = [], {name: [] for name in layers}
  for batch in progress.bar(batches, total=total, desc='top-k scan',
                            unit='batch'):
    top, batch_maxima = _scan_step(
        params, jnp.asarray(batch.images), jnp.asarray(batch.mask, bool),
        jnp.asarray(batch.index, jnp.int32), top, spec, layers)
    if keep_maxima:
      # On the host: (N, C) per layer grows with the data set, the top-k
      # does not.
      keep = np.asarray(batch.mask, bool)
      index.append(np.asarray(batch.index, np.int64)[keep])
      for name in layers:
        maxima[name].append(np.asarray(batch_maxima[name])[keep])
  top = {name: TopActivations(np.asarray(t.value), np.asarray(t.index,
                                                               np.int64),
                              np.asarray(t.y), np.asarray(t.x))
         for name, t in top.items()}
  if not keep_maxima:
    return top, None
  index = np.concatenate(index) if index else np.zeros(0, np.int64)
  order = np.argsort(index, kind='stable')
  return top, ImageMaxima(index[order], {
      name: (np.concatenate(m) if m else np.zeros(
          (0, top[name].value.shape[0]), np.float32))[order]
      for name, m in maxima.items()})


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
  `TopActivations`; projections: (M, k, P, P, 3) float32 raw projections
  (under the rule they were asked for) cropped to the unit's
  `patch_windows` (zero in unfilled slots); patches: (M, k, P, P, 3) uint8
  image crops of the same windows (grey in unfilled slots); windows:
  (M, k, 4) pixel boxes (y0, x0, y1, x1) of the crops.
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
                grey: int = 128, rule: str = 'deconvnet') -> TopPatches:
  """Projects and crops the top-k of the given maps of `layer` under
  `rule` (`deconv.RULES`): one layer of `project_tops`."""
  return project_tops(params, spec, {layer: top}, {layer: channels}, load,
                      image_size=image_size, chunk_size=chunk_size,
                      load_size=load_size, grey=grey, rule=rule)[layer]


class _Plan(NamedTuple):
  """One layer's selections for `project_tops`, flattened (M * k,)."""
  channels: np.ndarray  # (M,) the maps asked for
  sel: TopActivations  # (M * k,) each
  chan: np.ndarray  # (M * k,) the map of each selection
  windows: np.ndarray  # (M * k, 4)
  by_image: np.ndarray  # filled selections, by increasing image index
  side: int  # P


def _plan(spec: Spec, layer: str, top: TopActivations, channels, size: int
          ) -> _Plan:
  deconv.check_conv_layer(spec, layer)
  channels = np.asarray(list(channels), np.int64)
  num_maps = top.value.shape[0]
  if np.any((channels < 0) | (channels >= num_maps)):
    raise ZfjaxError(f'{layer} has maps 0..{num_maps - 1}; got '
                     f'{channels.tolist()}')
  sel = TopActivations(*(a[channels].ravel() for a in top))
  filled = np.flatnonzero(sel.index >= 0)
  return _Plan(channels, sel, np.repeat(channels, top.value.shape[1]),
               patch_windows(spec, layer, sel.y, sel.x, size),
               filled[np.argsort(sel.index[filled], kind='stable')],
               min(receptive_fields(spec)[layer].size, size))


_trace = jax.jit(models.forward_trace, static_argnums=2)


def _padded(a: np.ndarray, start: int, size: int) -> np.ndarray:
  """a[start:start + size], its last row repeated up to `size` rows (one
  shape for every call of a compiled program)."""
  part = np.asarray(a[start:start + size])
  return np.concatenate([part, np.repeat(part[-1:], size - len(part), 0)])


def _group_trace(params, images: np.ndarray, spec: Spec, batch: int
                 ) -> models.Trace:
  """The forward trace of `images`, `batch` images per call (the last
  padded: one compiled program), as one trace of len(images) images."""
  parts = [_trace(params, jnp.asarray(_padded(images, start, batch)), spec)[1]
           for start in range(0, len(images), batch)]
  return jax.tree.map(lambda *a: jnp.concatenate(a)[:len(images)], *parts)


def _part(trace: models.Trace, spec: Spec, layer: str,
          images: np.ndarray, rule: str) -> models.Trace:
  """What a projection from `layer` under `rule` reads of `trace` (its
  activations, the switches below it; for the gradient rules also the
  activations below it: `deconv.route`), for the traced images `images` in
  that order: one shape per chunk of selections, so that one compiled
  projection per layer serves traces of any number of images."""
  below = spec.layers[:[l.name for l in spec.layers].index(layer)]
  pick = jnp.asarray(images)
  acts = [layer] + ([] if rule == 'deconvnet' else
                    [l.name for l in below if l.name in trace.activations])
  return models.Trace(
      {name: trace.activations[name][pick] for name in acts},
      {l.name: trace.switches[l.name][pick] for l in below
       if l.name in trace.switches})


def project_tops(params: models.Params, spec: Spec,
                 tops: Mapping[str, TopActivations],
                 channels: Mapping[str, Iterable[int]], load: ImageLoader, *,
                 image_size: int | None = None, chunk_size: int = 32,
                 load_size: int = 512, grey: int = 128,
                 desc: str = 'projecting', rule: str = 'deconvnet'
                 ) -> dict[str, TopPatches]:
  """`project_tops_by_rule` for one rule: per layer its `TopPatches`."""
  return project_tops_by_rule(
      params, spec, tops, channels, load, image_size=image_size,
      chunk_size=chunk_size, load_size=load_size, grey=grey, desc=desc,
      rules=(rule,))[rule]


def project_tops_by_rule(params: models.Params, spec: Spec,
                         tops: Mapping[str, TopActivations],
                         channels: Mapping[str, Iterable[int]],
                         load: ImageLoader, *, rules: Sequence[str],
                         image_size: int | None = None, chunk_size: int = 32,
                         load_size: int = 512, grey: int = 128,
                         desc: str = 'projecting'
                         ) -> dict[str, dict[str, TopPatches]]:
  """Projects and crops the top-k of the given maps of several layers,
  under each of `rules` (`deconv.RULES`).

  tops: per conv layer its `TopActivations` (C, k); channels: per layer
  the maps to project. Every image that any of them lists is loaded once
  by `load`, in groups of at most `load_size` distinct images in
  increasing index (a loader that streams the range of the split holding
  the asked indices reads the split about once in all), run forward once
  (`chunk_size` images per call), and every selection of every layer that
  falls on it is projected from that trace under every rule, with every
  other activation of its layer zeroed (`deconv.project_units`,
  `chunk_size` selections per call on the part of the trace they read: one
  compiled program per layer and rule for every group and every call).
  Memory holds one group of images and its trace plus the crops. Returns
  per rule, per layer its `TopPatches` (the rules share the patches).
  """
  for rule in rules:
    deconv.check_rule(rule)
  size = spec.image_size if image_size is None else image_size
  plans = {layer: _plan(spec, layer, top, channels[layer], size)
           for layer, top in tops.items()}
  projected = {(rule, layer): np.zeros((len(p.chan), p.side, p.side, 3),
                                       np.float32)
               for rule in rules for layer, p in plans.items()}
  patches = {layer: np.full((len(p.chan), p.side, p.side, 3), grey, np.uint8)
             for layer, p in plans.items()}
  needed = np.unique(np.concatenate(
      [p.sel.index[p.by_image] for p in plans.values()] + [[]]).astype(
          np.int64))
  with progress.bar(total=len(needed), desc=desc, unit='image') as bar:
    for start in range(0, len(needed), load_size):
      ids = needed[start:start + load_size]
      images, display = load(ids)
      trace = _group_trace(params, images, spec, chunk_size)
      for layer, p in plans.items():
        keys = p.sel.index[p.by_image]
        rows = p.by_image[np.searchsorted(keys, ids[0]):
                          np.searchsorted(keys, ids[-1], side='right')]
        local = np.searchsorted(ids, p.sel.index[rows])
        for c in range(0, len(rows), chunk_size):
          pick = [_padded(a, c, chunk_size)
                  for a in (local, p.chan[rows], p.sel.y[rows],
                            p.sel.x[rows])]
          part = rows[c:c + chunk_size]
          for rule in rules:
            out = np.asarray(deconv.project_units(
                params, _part(trace, spec, layer, pick[0], rule), spec,
                layer, jnp.arange(chunk_size), *map(jnp.asarray, pick[1:]),
                image_size=size, rule=rule))[:len(part)]
            projected[rule, layer][part] = crop(out, p.windows[part])
        if len(rows):
          patches[layer][rows] = crop(display[local], p.windows[rows])
      bar.update(len(ids))
  out = {rule: {} for rule in rules}
  for layer, p in plans.items():
    shape = (len(p.channels), tops[layer].value.shape[1])
    for rule in rules:
      out[rule][layer] = TopPatches(
          p.channels, *(a.reshape(shape) for a in p.sel),
          projected[rule, layer].reshape(shape + (p.side, p.side, 3)),
          patches[layer].reshape(shape + (p.side, p.side, 3)),
          p.windows.reshape(shape + (4,)))
  return out
