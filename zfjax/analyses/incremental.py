"""Exact incremental forward passes of images changed inside one box.

An occluder square changes only a window of each early layer's output (at
224 pixels, square 50, stride 8: about 6% of ZFNet's conv1 outputs and 15%
of conv2's). The clean image's maps are computed once; for each box, the
lower layers ("the zone") recompute only the output window that the box can
reach, written into the clean map, and the layers above the zone run in
full (`models.forward_from`). Each window is the layer itself run by
`models.forward_from` on a slice of its padded input, with the padding
taken out of the layer record, so the numbers are those of the plain
forward pass up to float rounding.

Geometry (host side, numpy): a layer with kernel k, stride s and padding lo
before reads padded rows [o * s, o * s + k) for output row o, so changed
input rows [a, b) change output rows o with o * s - lo < b and
o * s - lo + k > a. The window is the largest such range over all boxes;
its start is clamped so that it stays inside the map.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from zfjax.networks import models
from zfjax.networks.specs import LRN, Conv, MaxPool, Spec, layer_shapes


class Zone(NamedTuple):
  """The lower layers computed on windows; static (hashable) for jit.

  names: the zone's layers, bottom up (Conv, MaxPool and LRN only).
  windows: per layer the (rows, columns) of its output window.
  pads: per layer (before, after) padding and the value it pads with
    (0 for convolutions, -inf for pooling; LRN needs none).
  valid_spec: the spec with the zone layers' padding set to zero, run on
    windows of already padded maps.
  resume: the first layer above the zone, run on whole maps.
  """
  names: tuple[str, ...]
  windows: tuple[tuple[int, int], ...]
  pads: tuple[tuple[int, int, float], ...]
  valid_spec: Spec
  resume: str


class Plan(NamedTuple):
  """A zone and, per box, the top-left output cell of each layer's window.

  starts: (B, len(zone.names), 2) int32, rows then columns.
  """
  zone: Zone
  starts: np.ndarray


def _geometry(record) -> tuple[int, int, int, int]:
  """(kernel, stride, pad before, pad after) of a Conv or MaxPool."""
  if isinstance(record, Conv):
    return record.kernel, record.stride, record.padding, record.padding
  return record.window, record.stride, *record.padding


def _reach(lo_in: np.ndarray, hi_in: np.ndarray, record,
           out_size: int) -> tuple[np.ndarray, np.ndarray]:
  """Output cells [lo, hi) that read any of the input cells [lo_in, hi_in)."""
  if isinstance(record, LRN):
    return lo_in, hi_in
  k, s, before, _ = _geometry(record)
  lo = np.maximum(0, (lo_in + before - k) // s + 1)
  hi = np.minimum(out_size, -(-(hi_in + before) // s))
  return lo, hi


def plan(spec: Spec, image_hw: tuple[int, int], boxes: np.ndarray, *,
         stop_before: str | None = None,
         max_fraction: float = 0.5) -> Plan | None:
  """The zone of `spec` for changes inside `boxes` (B, 4) (y0, x0, y1, x1).

  Boxes are in pixels, end exclusive, and may reach past the image. The zone
  is the longest run of Conv/MaxPool/LRN layers from the bottom, ending
  before `stop_before` and before the first convolution whose window would
  hold more than `max_fraction` of its outputs (where recomputing the whole
  map costs about as much). None when the zone would be empty.
  """
  shapes = layer_shapes(spec, image_hw[0])
  if image_hw[0] != image_hw[1]:
    # Rows and columns have the same geometry only on square inputs.
    width_shapes = layer_shapes(spec, image_hw[1])
  else:
    width_shapes = shapes
  boxes = np.asarray(boxes, np.int64)
  rows = (np.clip(boxes[:, 0], 0, image_hw[0]),
          np.clip(boxes[:, 2], 0, image_hw[0]))
  cols = (np.clip(boxes[:, 1], 0, image_hw[1]),
          np.clip(boxes[:, 3], 0, image_hw[1]))
  names, windows, pads, starts = [], [], [], []
  for record in spec.layers:
    if (record.name == stop_before
        or not isinstance(record, (Conv, MaxPool, LRN))
        or (not names and isinstance(record, LRN))):
      break
    out_h, out_w = shapes[record.name][0], width_shapes[record.name][1]
    rows = _reach(*rows, record, out_h)
    cols = _reach(*cols, record, out_w)
    window = (int(np.max(rows[1] - rows[0])), int(np.max(cols[1] - cols[0])))
    if isinstance(record, Conv) and (
        window[0] * window[1] > max_fraction * out_h * out_w):
      break
    names.append(record.name)
    windows.append(window)
    if isinstance(record, LRN):
      pads.append((0, 0, 0.0))
    else:
      _, _, before, after = _geometry(record)
      pads.append((before, after,
                   0.0 if isinstance(record, Conv) else -np.inf))
    starts.append(np.stack([np.clip(rows[0], 0, out_h - window[0]),
                            np.clip(cols[0], 0, out_w - window[1])], -1))
  # A zone must end below some layer that runs on whole maps.
  if not names or len(names) == len(spec.layers):
    return None
  unpadded = []
  for record in spec.layers:
    if record.name in names and isinstance(record, Conv):
      record = dataclasses.replace(record, padding=0)
    elif record.name in names and isinstance(record, MaxPool):
      record = dataclasses.replace(record, padding=(0, 0))
    unpadded.append(record)
  zone = Zone(tuple(names), tuple(windows), tuple(pads),
              dataclasses.replace(spec, layers=tuple(unpadded)),
              spec.layers[len(names)].name)
  return Plan(zone, np.stack(starts, 1).astype(np.int32))


def _pad(x: jax.Array, pad: tuple[int, int, float]) -> jax.Array:
  before, after, value = pad
  return jnp.pad(x, ((0, 0), (before, after), (before, after), (0, 0)),
                 constant_values=value)


def clean_maps(params: models.Params, images: jax.Array, spec: Spec,
               zone: Zone) -> tuple[jax.Array, ...]:
  """Per zone layer its output on the clean `images` (N, H, W, 3), whole:
  `zone_maps` of their trace."""
  return zone_maps(models.forward_trace(params, images, spec, switches=False,
                                        keep=zone.names)[1], zone)


def zone_maps(trace: models.Trace, zone: Zone) -> tuple[jax.Array, ...]:
  """Per zone layer its output, from a trace that kept them
  (`models.forward_trace(..., keep=zone.names)`)."""
  return tuple(trace.outputs[name] for name in zone.names)


def forward(params: models.Params, image: jax.Array, clean: tuple[jax.Array,
                                                                 ...],
            starts: jax.Array, spec: Spec,
            zone: Zone) -> tuple[jax.Array, models.Trace]:
  """Logits (1, classes) and the above-zone `Trace` of one changed image.

  image: (H, W, 3), the clean image changed only inside the box that
  `starts` (len(zone.names), 2), one row of `Plan.starts`, was planned for;
  clean: `clean_maps` of the clean image, without the batch axis. Equal to
  `models.forward_trace(params, image[None], spec, switches=False)` up to
  float rounding.
  """
  x = _pad(image[None], zone.pads[0])  # the zone's padded input, whole
  window = start = None
  for z, name in enumerate(zone.names):
    record = spec.layer(name)
    if isinstance(record, LRN):
      window = models.forward_from(params, window, zone.valid_spec, name,
                                   until=name)[0]
      continue
    if z > 0:
      before = zone.pads[z][0]
      x = lax.dynamic_update_slice(
          _pad(clean[z - 1][None], zone.pads[z]), window,
          (0, start[0] + before, start[1] + before, 0))
    k, s, _, _ = _geometry(record)
    rows, cols = zone.windows[z]
    start = starts[z]
    sliced = lax.dynamic_slice(
        x, (0, start[0] * s, start[1] * s, 0),
        (1, (rows - 1) * s + k, (cols - 1) * s + k, x.shape[-1]))
    window = models.forward_from(params, sliced, zone.valid_spec, name,
                                 until=name)[0]
  whole = lax.dynamic_update_slice(clean[-1][None], window,
                                   (0, start[0], start[1], 0))
  return models.forward_from(params, whole, spec, zone.resume)


def fraction_recomputed(spec: Spec, image_size: int, zone: Zone) -> dict[
    str, float]:
  """Per zone layer the share of its outputs each box recomputes."""
  shapes = layer_shapes(spec, image_size)
  return {name: (w[0] * w[1]) / (shapes[name][0] * shapes[name][1])
          for name, w in zip(zone.names, zone.windows)}
