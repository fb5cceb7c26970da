"""First-layer filters' health (ZF §4.1, Fig. 6): dead and dominant filters.

Without feature scale clipping, AlexNet-style first layers end up with a few
filters that dominate (a large RMS) and many that die (RMS near zero). The
counts here are relative to the layer's own median RMS, so they compare
runs of any scale.

A filter that stops learning keeps its initial weights, shrunk only by
weight decay (by e^-(rate x decay / (1 - momentum)) per step: a tenth of
its size in about 230,000 steps at rate 0.002), so until then its RMS stays
near the initial one and the RMS counts cannot see it. What training added,
the kernel less the run's initial kernel (`learned_part`), shows it at once.
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


class Learned(NamedTuple):
  """What training added to a layer's filters, the kernel less its
  initial value, per filter (C,): `change`, its RMS; `little`, a change
  below `little_ratio` times the median change; `still_initial`, the share
  of the filter's energy along its initial weights (cosine squared: 1 for
  a filter that only decayed, near 0 for one made anew)."""
  change: np.ndarray
  little: np.ndarray
  still_initial: np.ndarray


def learned_part(kernel: np.ndarray, initial: np.ndarray, *,
                 little_ratio: float = 0.1) -> Learned:
  """kernel, initial: (k, k, Cin, C), a layer now and at initialisation."""
  kernel = np.asarray(kernel, np.float64).reshape(-1, np.shape(kernel)[-1])
  initial = np.asarray(initial, np.float64).reshape(kernel.shape)
  change = np.sqrt(np.mean(np.square(kernel - initial), axis=0))
  dot = np.sum(kernel * initial, axis=0)
  norms = np.sum(kernel ** 2, axis=0) * np.sum(initial ** 2, axis=0)
  share = np.divide(dot ** 2, norms, out=np.zeros_like(dot), where=norms > 0)
  return Learned(change, change < little_ratio * np.median(change), share)
