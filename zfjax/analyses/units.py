"""How often and how strongly each unit (feature map) fires over a data set,
and which units fire most on one image.

The atlas's per-unit numbers come from one scan (`topk.scan_with_maxima`):
each image's maximum over a map's positions, the quantity the top-k ranks
images by. A map fires on an image when that maximum is above 0 (its
activations are rectified); a map that fires on no image is dead there.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class UnitStats(NamedTuple):
  """The C maps of one layer over N images, from their per-image maxima.

  rate: (C,) fraction of the N images on which the map fires; peak: (C,)
  its largest maximum (0 if dead); mean: (C,) its mean maximum over all N
  images (silent ones count 0); dead: (C,) bool, fires on none; silent:
  (C,) int, the images on which it does not fire; counts: (C, B) int,
  histogram of the maxima of the images on which it fires, B equal bins
  from 0 to `peak` (the last bin closed); edges: (C, B + 1) their edges.
  """
  rate: np.ndarray
  peak: np.ndarray
  mean: np.ndarray
  dead: np.ndarray
  silent: np.ndarray
  counts: np.ndarray
  edges: np.ndarray


def unit_stats(maxima: np.ndarray, bins: int = 20) -> UnitStats:
  """`UnitStats` of maxima (N, C) float, image n's maximum of map c."""
  maxima = np.asarray(maxima, np.float64)
  n, c = maxima.shape
  fired = maxima > 0
  peak = maxima.max(axis=0, initial=0.0)
  edges = np.linspace(0.0, 1.0, bins + 1)[None, :] * peak[:, None]
  counts = np.zeros((c, bins), np.int64)
  for ch in np.flatnonzero(peak > 0):
    counts[ch] = np.histogram(maxima[fired[:, ch], ch], edges[ch])[0]
  return UnitStats(fired.mean(axis=0) if n else np.zeros(c), peak,
                   maxima.mean(axis=0) if n else np.zeros(c),
                   ~fired.any(axis=0), n - fired.sum(axis=0), counts, edges)


class StrongestUnits(NamedTuple):
  """Per image the n maps of one layer with the largest maxima, strongest
  first. channel, value: (N, n); y, x: (N, n) int, where each map peaks
  (its first maximum in row-major order)."""
  channel: np.ndarray
  value: np.ndarray
  y: np.ndarray
  x: np.ndarray


def strongest_units(acts: np.ndarray, n: int) -> StrongestUnits:
  """The `StrongestUnits` of activations (N, H, W, C) of one conv layer;
  ties go to the lower map number."""
  acts = np.asarray(acts)
  images, _, w, c = acts.shape
  flat = acts.reshape(images, -1, c)
  best = flat.max(axis=1)
  channel = np.argsort(-best, axis=1, kind='stable')[:, :n]
  where = np.take_along_axis(flat.argmax(axis=1), channel, axis=1)
  return StrongestUnits(channel, np.take_along_axis(best, channel, axis=1),
                        where // w, where % w)
