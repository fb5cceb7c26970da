"""What training added to first-layer filters (`filters.learned_part`), on
filters built with known changes, against per-filter numpy sums."""

import numpy as np
import pytest

from zfjax.analyses import claims
from zfjax.analyses import filters


def test_learned_part_sees_filters_that_kept_their_initial_weights():
  """Filters that learned (a change of their own on top of the start),
  one that only decayed (0.9 times its start: RMS 0.9x, far above the dead
  line), one that learned a fifth as much as the rest."""
  rng = np.random.default_rng(2)
  initial = rng.normal(size=(7, 7, 3, 10)) * 0.04
  kernel = initial + rng.normal(size=initial.shape) * 0.06
  kernel[..., 8] = 0.9 * initial[..., 8]
  kernel[..., 9] = initial[..., 9] + rng.normal(size=(7, 7, 3)) * 0.012
  got = filters.learned_part(kernel, initial)
  for c in range(10):
    k, i = kernel[..., c].ravel(), initial[..., c].ravel()
    assert got.change[c] == pytest.approx(np.sqrt(np.mean((k - i) ** 2)))
    assert got.still_initial[c] == pytest.approx(
        np.dot(k, i) ** 2 / np.dot(k, k) / np.dot(i, i))
  assert np.flatnonzero(got.little).tolist() == [8]
  assert got.still_initial[8] == pytest.approx(1.0)
  assert np.all(got.still_initial[:8] < 0.6)
  # The RMS criterion does not see the filter that stopped learning.
  counts = claims.first_layer('run', 3, kernel, np.ones(10), initial)
  assert counts.dead == 0
  np.testing.assert_array_equal(counts.learned.little, got.little)
  assert claims.first_layer('run', 3, kernel, np.ones(10)).learned is None
  # A stricter line: the fifth-as-much filter counts too.
  assert np.flatnonzero(filters.learned_part(
      kernel, initial, little_ratio=0.3).little).tolist() == [8, 9]
