"""The paper's manual annealing made automatic: divide on a plateau.

ZF and Krizhevsky et al. divided the learning rate by 10 by hand whenever the
validation error stopped improving. `update` does the same once per epoch:
when the validation error has not improved on the best seen so far by more
than `min_delta` for `patience` epochs in a row, the rate is multiplied by
`factor` and the count starts again. With `cut` the rate is divided whatever
the error: the paper's hand annealing at chosen epochs (`config.rate_cuts`).

The state is a small pytree of numpy scalars so that it is checkpointed with
the parameters and a resumed run decays at exactly the same epochs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class PlateauState(NamedTuple):
  """learning_rate: the current rate; best_error: the lowest validation error
  seen (a fraction in [0, 1], inf before the first evaluation); bad_epochs:
  evaluations in a row without improvement since the best or the last decay;
  num_decays: how many times the rate was divided."""
  learning_rate: np.ndarray
  best_error: np.ndarray
  bad_epochs: np.ndarray
  num_decays: np.ndarray


def _state(learning_rate, best_error, bad_epochs, num_decays) -> PlateauState:
  # 0-d arrays rather than numpy scalars: Orbax saves and restores arrays.
  return PlateauState(np.asarray(learning_rate, np.float64),
                      np.asarray(best_error, np.float64),
                      np.asarray(bad_epochs, np.int64),
                      np.asarray(num_decays, np.int64))


def init(learning_rate: float) -> PlateauState:
  return _state(learning_rate, np.inf, 0, 0)


def update(state: PlateauState, val_error: float, *, patience: int,
           factor: float = 0.1, min_delta: float = 0.0,
           cut: bool = False) -> PlateauState:
  """The state after one epoch whose validation error is `val_error`; with
  `cut`, the rate is divided at this epoch in any case (the plateau count
  starts again; the best error becomes the lower of the two)."""
  if cut:
    return _state(state.learning_rate * factor,
                  min(float(state.best_error), val_error), 0,
                  int(state.num_decays) + 1)
  if val_error < state.best_error - min_delta:
    return _state(state.learning_rate, val_error, 0, state.num_decays)
  bad = int(state.bad_epochs) + 1
  if bad < patience:
    return _state(state.learning_rate, state.best_error, bad,
                  state.num_decays)
  # The best error is kept: after a decay the run must beat it again, as a
  # person watching the curve would demand.
  return _state(state.learning_rate * factor, state.best_error, 0,
                int(state.num_decays) + 1)
