"""Back to the pixels from one activation: ZF's deconvnet (§2.1), the
gradient and guided backpropagation, as one backward pass with three rules.

Going down from a chosen conv layer, the layer table is walked in reverse:
  Conv    -> the rule's ReLU step (if the layer has a ReLU), then filter the
             signal with the layer's transposed filters (flipped vertically
             and horizontally, in/out channels swapped):
             `layers.conv2d_transpose`;
  MaxPool -> unpool with that image's switches from the forward trace (the
             max-pool's gradient, under every rule);
  LRN     -> deconvnet: identity (ZF pass contrast normalisation through
             unchanged, they do not invert it); gradient and guided: LRN's
             true backward at its traced input (`layers.lrn_vjp`);
  AdaptiveAvgPool -> the adjoint of the average (each value spread evenly
             over its bin), as unpooling is max-pooling's adjoint; averaging
             has no switches to keep. In torchvision's AlexNet it sits above
             every conv layer, so projections never pass through it.
The rules differ at the ReLU only (Mahendran & Vedaldi, "Salient
deconvolutional networks", ECCV 2016), s being the signal coming down and
a > 0 where the ReLU's forward input was positive:
  'deconvnet'  relu(s)             rectify the signal (ZF);
  'gradient'   s * [a > 0]         the exact gradient (Simonyan et al. 2013);
  'guided'     relu(s) * [a > 0]   guided backpropagation (Springenberg et
                                   al. 2014).
The deconvnet seeds the chosen unit with its own activation (ZF); gradient
and guided seed it with 1, so that 'gradient' is exactly d(activation) /
d(image) (a scalar factor: the same picture after
`grids.normalize_for_display`). No biases are used on the way down. A
projection is not a sample from the model; it shows which structures of
this image drove the activation.

Everything here is a pure function of (params, trace) and jit/vmap-friendly:
thousands of projections run as a few large batched programs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zfjax.networks import layers
from zfjax.networks import models
from zfjax.errors import ZfjaxError
from zfjax.networks.specs import LRN, Conv, MaxPool, Spec, input_shapes, layer_shapes
from zfjax.networks.specs import AdaptiveAvgPool, receptive_fields

__all__ = ['RULES', 'backproject', 'route', 'project', 'project_units',
           'project_map', 'strongest_position', 'project_strongest',
           'Strongest', 'receptive_boxes', 'check_conv_layer', 'check_rule']

RULES = ('deconvnet', 'gradient', 'guided')


def check_conv_layer(spec: Spec, layer: str) -> Conv:
  """The Conv record named `layer`; a ZfjaxError naming the conv layers
  for any other name."""
  if layer not in spec.conv_names:
    known = layer in [l.name for l in spec.layers]
    what = 'is not a conv layer' if known else 'has no layer'
    subject = (f"layer '{layer}' of spec '{spec.name}' {what}" if known else
               f"spec '{spec.name}' {what} '{layer}'")
    raise ZfjaxError(f"{subject}; choose a conv layer: "
                     f"{', '.join(spec.conv_names)}")
  return spec.layer(layer)


def check_rule(rule: str) -> str:
  """`rule` if it is one of RULES; a ZfjaxError otherwise."""
  if rule not in RULES:
    raise ZfjaxError(f"unknown projection rule '{rule}'; choose one of "
                     f"{', '.join(RULES)}")
  return rule


def _image_size(trace: models.Trace, spec: Spec, layer: str,
                image_size: int | None) -> int:
  """The traced images' side: `image_size`, else the one the trace
  records, else (a trace made without it) the spec's native size; checked
  against the trace's activations up to `layer`."""
  size = next(s for s in (image_size, trace.image_size, spec.image_size)
              if s is not None)
  if not _fits(trace, spec, layer, size):
    # Strided layers map several input sizes to one shape, so a trace that
    # does not record its size cannot tell it.
    raise ZfjaxError(
        f"the trace's activations do not have the shapes of {size}-pixel "
        f'images; pass image_size= the size of the traced images')
  return size


def _fits(trace: models.Trace, spec: Spec, layer: str, size: int) -> bool:
  """Whether `size`-pixel images give the trace's conv shapes up to
  `layer`."""
  try:
    expect = layer_shapes(spec, size)
  except ZfjaxError:  # too small for the spec
    return False
  for name in spec.conv_names:
    # A partial trace may keep only what one projection reads (as
    # `topk.project_tops` passes): check the layers it holds.
    if (name in trace.activations and
        tuple(trace.activations[name].shape[1:]) != expect[name]):
      return False
    if name == layer:
      break
  return True


def route(params: models.Params, trace: models.Trace, spec: Spec,
          layer: str, rule: str = 'deconvnet') -> dict[str, jax.Array]:
  """What the backward pass from `layer` reads below it, for the N traced
  images: per MaxPool its switches (N, Ho, Wo, C) int8; for the rules
  'gradient' and 'guided' also per Conv with a ReLU where its forward
  input was positive (N, H, W, C) bool (its traced activation > 0), and per
  LRN its input (N, H, W, C) float32 (from `trace.outputs` where the trace
  kept it, else recomputed from the traced conv activation below it).
  """
  check_rule(rule)
  down = _down_from(spec, layer)
  reads = {r.name: trace.switches[r.name] for r in down
           if isinstance(r, MaxPool)}
  if rule == 'deconvnet':
    return reads
  for record in down:
    if isinstance(record, Conv) and record.relu:
      reads[record.name] = trace.activations[record.name] > 0
    elif isinstance(record, LRN):
      reads[record.name] = _layer_input(params, trace, spec, record.name)
  return reads


def _layer_input(params: models.Params, trace: models.Trace, spec: Spec,
                 name: str) -> jax.Array:
  """The input of layer `name`: kept in the trace, or the layers between
  the nearest traced conv activation below it and it (pools, LRNs) run
  again on that activation."""
  names = [l.name for l in spec.layers]
  i = names.index(name)
  if trace.outputs and names[i - 1] in trace.outputs:
    return trace.outputs[names[i - 1]]
  convs = [j for j in range(i) if isinstance(spec.layers[j], Conv)]
  if not convs:
    raise ZfjaxError(f"spec '{spec.name}': {name} has no conv layer below it "
                     f'whose activation gives its input')
  x = trace.activations[names[convs[-1]]]
  if convs[-1] + 1 < i:
    x = models.forward_from(params, x, spec, names[convs[-1] + 1],
                            until=names[i - 1])[0]
  return x


def _relu_step(signal: jax.Array, live: jax.Array | None,
               rule: str) -> jax.Array:
  """The signal coming down through a ReLU under `rule`; live: where the
  ReLU's forward input was positive (unused by the deconvnet)."""
  if rule != 'gradient':
    signal = layers.relu(signal)
  return signal if rule == 'deconvnet' else jnp.where(live, signal, 0)


def _step_down(params: models.Params, record, signal: jax.Array,
               read: jax.Array | None, *, rule: str,
               input_hw: tuple[int, int], windowed: bool) -> jax.Array:
  """One layer down: `signal` (N, h, w, C) at the output of `record` to its
  input (N, *input_hw, Cin). read: the record's entry of `route` for the
  same N. windowed: the signal is a window of the maps, so no padding is
  read (the caller zeroes what falls outside the maps)."""
  if isinstance(record, Conv):
    if record.relu:
      signal = _relu_step(signal, read, rule)
    return layers.conv2d_transpose(
        signal, params[record.name]['kernel'].astype(signal.dtype),
        stride=record.stride, padding=0 if windowed else record.padding,
        groups=record.groups, input_hw=input_hw)
  if isinstance(record, MaxPool):
    return layers.unpool(signal, read, input_hw=input_hw,
                         window=record.window, stride=record.stride,
                         padding=(0, 0) if windowed else record.padding)
  if isinstance(record, LRN):
    if rule == 'deconvnet':
      return signal
    return layers.lrn_vjp(read, signal, size=record.size, k=record.k,
                          alpha=record.alpha, beta=record.beta)
  if isinstance(record, AdaptiveAvgPool):
    return layers.adaptive_avg_unpool(signal, input_hw=input_hw)
  raise ZfjaxError(f'cannot project through {record.name}, a '
                   f'{type(record).__name__} layer')


def backproject(params: models.Params, reads: dict[str, jax.Array],
                spec: Spec, layer: str, maps: jax.Array,
                image_size: int, *, dtype=None,
                rule: str = 'deconvnet') -> jax.Array:
  """Projects maps of `layer` down to pixel space under `rule`.

  maps: (N, H, W, C) signals at the output of conv layer `layer` (after its
  ReLU, before any pooling); reads: what `route` gives for the same N
  images (for the deconvnet: per MaxPool below `layer` its switches).
  Returns (N, S, S, 3) for S = `image_size` pixels, in the units of the
  image (pixel values per unit of the seed times filter weights).
  dtype: compute in this dtype (e.g. jnp.bfloat16, for display only: see
  `project_units`); the result has the dtype of `maps`.
  """
  check_conv_layer(spec, layer)
  check_rule(rule)
  in_shapes = input_shapes(spec, image_size)
  x = maps if dtype is None else maps.astype(dtype)
  for record in _down_from(spec, layer):
    x = _step_down(params, record, x, reads.get(record.name), rule=rule,
                   input_hw=in_shapes[record.name][:2], windowed=False)
  return x.astype(maps.dtype)


def _seed(acts: jax.Array, rule: str) -> jax.Array:
  """The value a unit starts the backward with: its activation for the
  deconvnet (ZF), 1 for the gradient rules (d activation / d activation)."""
  return acts if rule == 'deconvnet' else jnp.ones_like(acts)


def _unit_seeds(acts: jax.Array, channel: jax.Array, y: jax.Array,
                x: jax.Array) -> jax.Array:
  """(N, H, W, C) maps that keep only acts[n, y[n], x[n], channel[n]]."""
  _, h, w, c = acts.shape
  keep = (jax.nn.one_hot(y, h, dtype=bool)[:, :, None, None]
          & jax.nn.one_hot(x, w, dtype=bool)[:, None, :, None]
          & jax.nn.one_hot(channel, c, dtype=bool)[:, None, None, :])
  return jnp.where(keep, acts, 0)


def _down_from(spec: Spec, layer: str) -> list:
  """spec's layers from `layer` down to the first, the deconvnet's order."""
  names = [l.name for l in spec.layers]
  return list(reversed(spec.layers[:names.index(layer) + 1]))


@functools.partial(jax.jit, static_argnames=('spec', 'layer', 'image_size',
                                             'dtype', 'rule'))
def project_units(params: models.Params, trace: models.Trace, spec: Spec,
                  layer: str, image: jax.Array, channel: jax.Array,
                  y: jax.Array, x: jax.Array, *,
                  image_size: int | None = None, dtype=None,
                  rule: str = 'deconvnet') -> jax.Array:
  """Projections of M chosen activations of `layer`, any mix of images.

  trace: from `models.forward_trace` on N images of S pixels; S is the
  one the trace records (`image_size` overrides it). image, channel, y, x:
  int arrays (M,); selection m is activation (y[m], x[m], channel[m]) of
  image image[m] of the trace.
  Each is seeded alone (every other activation of the layer zero), with
  its own value for the deconvnet and 1 for 'gradient' and 'guided' (see
  the module docstring), and taken down under `rule`. Returns (M, S, S, 3)
  float32 pixel-space projections; under 'gradient', d activation / d image.
  Where a unit reaches less than the whole image (ZFNet's conv5 at 224
  pixels: 139 x 139), each layer is computed only in the window the unit
  reaches, under every rule: the same numbers (tested) for a fraction of
  the work.
  dtype=jnp.bfloat16 runs the backward in bfloat16, for display only:
  after `grids.normalize_for_display` the tests hold it within 2 grey
  levels of float32 (within 1% of the largest |projection|).
  """
  check_conv_layer(spec, layer)
  check_rule(rule)
  size = _image_size(trace, spec, layer, image_size)
  acts = _seed(trace.activations[layer][image], rule)
  reads = route(params, trace, spec, layer, rule)
  windows = _windows(spec, layer, size)
  if windows is None:
    return backproject(params, {name: r[image] for name, r in reads.items()},
                       spec, layer, _unit_seeds(acts, channel, y, x), size,
                       dtype=dtype, rule=rule)
  value = acts[jnp.arange(acts.shape[0]), y, x, channel]
  corners = jax.vmap(functools.partial(_corners, spec, layer))(y, x)
  chosen = _read_windows(reads, spec, layer, windows, image, corners)
  return jax.vmap(functools.partial(
      _project_window, params, spec=spec, layer=layer, image_size=size,
      windows=windows, dtype=dtype, rule=rule))(chosen, corners, value,
                                                channel)


def _corners(spec: Spec, layer: str, y: jax.Array, x: jax.Array
             ) -> jax.Array:
  """(L + 1, 2): the (top, left) corner of one unit's window at the output
  of each layer from `layer` down (seed layer first), then at the image;
  in each map's unpadded coordinates, so possibly outside it."""
  top, left = y, x
  corners = [(top, left)]
  for record in _down_from(spec, layer):
    if isinstance(record, (Conv, MaxPool)):
      before = (record.padding if isinstance(record, Conv)
                else record.padding[0])
      top = record.stride * top - before
      left = record.stride * left - before
    corners.append((top, left))
  return jnp.array(corners)


def _read_windows(reads: dict[str, jax.Array], spec: Spec, layer: str,
                  windows: tuple[int, ...], image: jax.Array,
                  corners: jax.Array) -> dict[str, jax.Array]:
  """Per layer of `reads` (from `route`), the (M, n, n, C) window of each
  unit at that layer's output (n its side there): switches, ReLU masks,
  LRN inputs (an LRN's input has its output's cells).

  The traced images' arrays stay unbatched, each unit slicing its window
  out of its image's. The slices are made in a loop over the units, whose
  output XLA keeps: sliced inside the projection's fused loops they would
  cost every cell a gather per window cell.
  """
  sides = (1,) + windows  # window sides at each record's output
  read = [(i, record.name) for i, record in enumerate(_down_from(spec, layer))
          if record.name in reads]
  padded = {}
  for i, name in read:
    n = sides[i]
    # Padded by the window's side, every corner slices in bounds; what the
    # padding gives is zeroed with the signal outside the maps.
    padded[name] = jnp.pad(reads[name], ((0, 0), (n, n), (n, n), (0, 0)))

  def one(unit):
    image, corners = unit
    return {name: jax.lax.dynamic_slice(
        padded[name],
        (image, corners[i, 0] + sides[i], corners[i, 1] + sides[i], 0),
        (1, sides[i], sides[i], padded[name].shape[-1]))[0]
            for i, name in read}

  return jax.lax.map(one, (image, corners), batch_size=_UNITS_PER_SLICE_LOOP)


_UNITS_PER_SLICE_LOOP = 32


def _windows(spec: Spec, layer: str, image_size: int) -> tuple[int, ...] | None:
  """Side of the window that one unit of `layer` reaches at the input of
  each layer from `layer` down (seed layer first), or None where the
  windowed projection does not apply: a layer below with no window form
  (AdaptiveAvgPool), or a unit that reaches the whole image anyway."""
  side, sides = 1, []
  for record in _down_from(spec, layer):
    if isinstance(record, Conv):
      side = record.stride * (side - 1) + record.kernel
    elif isinstance(record, MaxPool):
      side = record.stride * (side - 1) + record.window
    elif not isinstance(record, LRN):
      return None
    sides.append(side)
  return tuple(sides) if side < image_size else None


def _project_window(params: models.Params, chosen: dict[str, jax.Array],
                    corners: jax.Array, value: jax.Array, channel: jax.Array,
                    *, spec: Spec, layer: str, image_size: int,
                    windows: tuple[int, ...], dtype, rule: str) -> jax.Array:
  """`backproject` of one unit's seed, computed only inside the window of
  each layer's input that the unit reaches: (S, S, 3), equal to the whole
  computation (everything outside the windows is zero there).

  chosen: what the backward reads in the unit's window at each layer's
  output (`_read_windows`); corners: the window's corners (`_corners`);
  value: the unit's seed, channel its map. Windows may stick out of their
  maps: what lands outside is zeroed after every layer, as the whole
  computation crops it.
  """
  in_shapes = input_shapes(spec, image_size)
  depth = spec.layer(layer).features
  out_dtype = jnp.result_type(value)
  signal = jnp.zeros((1, 1, 1, depth), dtype or out_dtype)
  signal = signal.at[0, 0, 0, channel].set(value.astype(signal.dtype))
  for i, (record, side) in enumerate(zip(_down_from(spec, layer), windows)):
    read = chosen.get(record.name)
    signal = _step_down(params, record, signal,
                        None if read is None else read[None], rule=rule,
                        input_hw=(side, side), windowed=True)
    top, left = corners[i + 1, 0], corners[i + 1, 1]
    h, w = in_shapes[record.name][:2]
    rows = top + jnp.arange(side)
    cols = left + jnp.arange(side)
    inside = (((rows >= 0) & (rows < h))[:, None]
              & ((cols >= 0) & (cols < w))[None, :])
    signal = jnp.where(inside[None, :, :, None], signal, 0)
  # Into the image: each pixel reads its cell of the window (zeroed above
  # where it falls outside the image), or is zero where the window does not
  # reach; pasting the window into a zeroed canvas with a window's margin
  # all round would write 5x the image's pixels.
  side = windows[-1]
  rows = jnp.arange(image_size) - top
  cols = jnp.arange(image_size) - left
  reached = (((rows >= 0) & (rows < side))[:, None]
             & ((cols >= 0) & (cols < side))[None, :])
  picked = signal[0][jnp.clip(rows, 0, side - 1)][:, jnp.clip(cols, 0,
                                                              side - 1)]
  return jnp.where(reached[:, :, None], picked, 0).astype(out_dtype)


def project(params: models.Params, trace: models.Trace, spec: Spec,
            layer: str, channel: jax.Array, y: jax.Array, x: jax.Array, *,
            image_size: int | None = None,
            rule: str = 'deconvnet') -> jax.Array:
  """One projection per traced image: (N, S, S, 3) float32.

  channel, y, x: int arrays (N,), the activation of `layer` to project for
  each of the N traced images (seeded alone; see `project_units`), under
  `rule`. For several selections per image, `jax.vmap` over channel/y/x
  with the trace held fixed, or use `project_units`.
  """
  n = trace.activations[check_conv_layer(spec, layer).name].shape[0]
  return project_units(params, trace, spec, layer, jnp.arange(n),
                       jnp.asarray(channel), jnp.asarray(y), jnp.asarray(x),
                       image_size=image_size, rule=check_rule(rule))


@functools.partial(jax.jit, static_argnames=('spec', 'layer', 'image_size',
                                             'rule'))
def project_map(params: models.Params, trace: models.Trace, spec: Spec,
                layer: str, channel: jax.Array, *,
                image_size: int | None = None,
                rule: str = 'deconvnet') -> jax.Array:
  """Projections of whole feature maps: (N, S, S, 3) float32.

  channel: int (N,) or a scalar; for image n the whole map channel[n] of
  `layer` is kept and every other map zeroed (ZF Fig. 7 (c)): each unit
  seeded with its activation for the deconvnet, with 1 for 'gradient'
  (which gives d(sum of the map) / d image) and 'guided'.
  """
  check_conv_layer(spec, layer)
  size = _image_size(trace, spec, layer, image_size)
  acts = trace.activations[layer]
  keep = jax.nn.one_hot(jnp.broadcast_to(channel, acts.shape[:1]),
                        acts.shape[-1], dtype=bool)[:, None, None, :]
  return backproject(params, route(params, trace, spec, layer, rule), spec,
                     layer, jnp.where(keep, _seed(acts, rule), 0), size,
                     rule=rule)


def strongest_position(trace: models.Trace, layer: str,
                       channel: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Where map `channel` (int (N,) or scalar) of `layer` peaks in each image.

  Returns (y, x), int32 (N,) each; ties go to the first maximum in
  row-major order.
  """
  if layer not in trace.activations:
    raise ZfjaxError(f"layer '{layer}' has no traced activation; choose one "
                     f"of {', '.join(trace.activations)}")
  acts = trace.activations[layer]
  if acts.ndim != 4:
    raise ZfjaxError(f"layer '{layer}' is not spatial; choose a conv layer")
  n, _, w, c = acts.shape
  channel = jnp.broadcast_to(jnp.asarray(channel), (n,))
  maps = jnp.take_along_axis(acts, channel[:, None, None, None], axis=3)
  flat = jnp.argmax(maps.reshape(n, -1), axis=1)
  return (flat // w).astype(jnp.int32), (flat % w).astype(jnp.int32)


class Strongest(NamedTuple):
  """Each image's strongest unit of a layer and its projection.

  projection: (N, S, S, 3) float32 signed, pixel units (show it with
  `grids.normalize_for_display`); channel, y, x: (N,) int32, the unit;
  value: (N,) float32, its activation.
  """
  projection: np.ndarray
  channel: np.ndarray
  y: np.ndarray
  x: np.ndarray
  value: np.ndarray


@functools.partial(jax.jit, static_argnames=('spec', 'layer'))
def _strongest(params, images, spec: Spec, layer: str):
  _, trace = models.forward_trace(params, images, spec)
  acts = trace.activations[layer]
  n, _, w, c = acts.shape
  flat = jnp.argmax(acts.reshape(n, -1), axis=1)
  y, x, channel = flat // (w * c), flat // c % w, flat % c
  value = acts.reshape(n, -1)[jnp.arange(n), flat]
  projection = project(params, trace, spec, layer, channel, y, x)
  return projection, channel, y, x, value


def project_strongest(params: models.Params, images: jax.Array, spec: Spec,
                      layer: str) -> Strongest:
  """Each image's strongest unit of conv `layer` (its largest activation
  over every map and position) projected down to the pixels: ZF Fig. 2's
  cells for images of your own. images: (N, S, S, 3) model inputs."""
  check_conv_layer(spec, layer)
  return Strongest(*(np.asarray(a) for a in _strongest(
      params, jnp.asarray(images, jnp.float32), spec, layer)))


def receptive_boxes(spec: Spec, layer: str, y: np.ndarray, x: np.ndarray,
                    image_size: int | None = None) -> np.ndarray:
  """Pixel boxes (M, 4) int (y0, x0, y1, x1), end exclusive, of units (y, x).

  The box holds every input pixel unit (y, x) of `layer` can see, and hence
  every pixel its projection can touch; clipped to the image. Vectorised
  `specs.receptive_box`.
  """
  size = spec.image_size if image_size is None else image_size
  fields = receptive_fields(spec)
  check_conv_layer(spec, layer)
  rf = fields[layer]
  y0 = rf.start + np.asarray(y, np.int64) * rf.jump
  x0 = rf.start + np.asarray(x, np.int64) * rf.jump
  return np.clip(np.stack([y0, x0, y0 + rf.size, x0 + rf.size], axis=-1), 0,
                 size)
