"""First-layer filters' health (ZF §4.1, Fig. 6): dead and dominant filters.

Without feature scale clipping, AlexNet-style first layers end up with a few
filters that dominate (a large RMS) and many that die (RMS near zero). The
counts here are relative to the layer's own median RMS, so they compare
runs of any scale.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class FilterStats(NamedTuple):
  """Per-filter RMS (C,) and which filters count as dead or dominant.

  dead: RMS below `dead_ratio` times the layer's median RMS (near zero);
  dominant: RMS above `dominant_ratio` times the median.
  """
  rms: np.ndarray
  dead: np.ndarray
  dominant: np.ndarray


def filter_stats(kernel: np.ndarray, *, dead_ratio: float = 0.1,
                 dominant_ratio: float = 3.0) -> FilterStats:
  """Summary of a conv kernel (k, k, Cin, C): one RMS per output filter."""
  kernel = np.asarray(kernel, np.float64)
  rms = np.sqrt(np.mean(np.square(kernel), axis=(0, 1, 2)))
  median = np.median(rms)
  return FilterStats(rms, rms < dead_ratio * median,
                     rms > dominant_ratio * median)
