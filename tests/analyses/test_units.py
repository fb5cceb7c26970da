"""Per-unit statistics and an image's strongest units, on constructed
cases worked out by hand."""

import numpy as np

from zfjax.analyses import units


def test_unit_stats_by_hand():
  maxima = np.array([[0.0, 1.0, 0.0],
                     [1.0, 2.0, 0.0],
                     [2.0, 3.0, 0.0],
                     [3.0, 4.0, 0.0],
                     [4.0, 0.5, 0.0]])
  stats = units.unit_stats(maxima, bins=4)
  np.testing.assert_allclose(stats.rate, [0.8, 1.0, 0.0])
  np.testing.assert_allclose(stats.peak, [4.0, 4.0, 0.0])
  np.testing.assert_allclose(stats.mean, [2.0, 2.1, 0.0])
  assert stats.dead.tolist() == [False, False, True]
  assert stats.silent.tolist() == [1, 0, 5]
  # Map 0: 1, 2, 3, 4 in bins [0,1) [1,2) [2,3) [3,4]: the last closed.
  assert stats.counts.tolist() == [[0, 1, 1, 2], [1, 1, 1, 2], [0, 0, 0, 0]]
  np.testing.assert_allclose(stats.edges[0], [0, 1, 2, 3, 4])


def test_strongest_units_of_each_image():
  acts = np.zeros((2, 3, 4, 5))
  acts[0, 2, 1, 3] = 9.0  # image 0: map 3 at (2, 1) strongest
  acts[0, 0, 3, 1] = 4.0
  acts[0, 1, 1, 1] = 4.0  # the same value later: the first maximum counts
  acts[1, 1, 2, 0] = 2.0
  best = units.strongest_units(acts, 2)
  assert best.channel.tolist() == [[3, 1], [0, 1]]  # ties: lower map first
  assert best.value.tolist() == [[9.0, 4.0], [2.0, 0.0]]
  assert best.y.tolist() == [[2, 0], [1, 0]]
  assert best.x.tolist() == [[1, 3], [2, 0]]
