"""The plateau rule against sequences worked out by hand."""

import numpy as np
import pytest

from zfjax.training import schedule


def run(errors, **kwargs):
  state = schedule.init(0.01)
  rates = []
  for e in errors:
    state = schedule.update(state, e, **kwargs)
    rates.append(float(state.learning_rate))
  return state, rates


def test_divides_after_patience_epochs_without_improvement():
  # best 0.50 at epoch 2; epochs 3, 4 do not beat it -> patience 2 reached
  # at epoch 4; epochs 5, 6 (0.49 < 0.50) and 7 improve; 8, 9 do not.
  errors = [0.60, 0.50, 0.55, 0.51, 0.49, 0.45, 0.40, 0.41, 0.40]
  state, rates = run(errors, patience=2)
  assert rates == pytest.approx([0.01, 0.01, 0.01, 0.001, 0.001, 0.001,
                                 0.001, 0.001, 0.0001])
  assert int(state.num_decays) == 2
  assert float(state.best_error) == 0.40
  assert int(state.bad_epochs) == 0


def test_min_delta_ignores_tiny_improvements():
  # 0.4995 is below 0.5 but not by more than 0.001: it counts as a bad epoch.
  _, rates = run([0.5, 0.4995, 0.4992, 0.4991], patience=3, min_delta=0.001)
  assert rates == pytest.approx([0.01, 0.01, 0.01, 0.001])
  _, rates = run([0.5, 0.4995, 0.4992, 0.4991], patience=3)
  assert rates == pytest.approx([0.01] * 4)


def test_decays_over_a_long_run_like_krizhevsky():
  # The error stalls after epochs 30, 60 and 80 (flat = no improvement);
  # with patience 5 the rate drops 5 epochs into each stall, and twice in
  # the final 10-epoch stall.
  errors = np.concatenate([np.linspace(0.9, 0.5, 30), np.full(5, 0.5),
                           np.linspace(0.49, 0.45, 25), np.full(5, 0.45),
                           np.linspace(0.44, 0.42, 15), np.full(10, 0.42)])
  state, rates = run(errors, patience=5, factor=0.1)
  decays = [i + 1 for i in range(1, len(rates)) if rates[i] < rates[i - 1]]
  assert decays == [35, 65, 85, 90]
  assert int(state.num_decays) == 4
  assert rates[-1] == pytest.approx(1e-6)


def test_cuts_divide_at_the_named_epochs_whatever_the_error():
  # Improving every epoch: the plateau rule alone never divides; cuts after
  # epochs 2 and 4 divide there and only there.
  errors = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
  cuts = (2, 4)
  state = schedule.init(0.01)
  rates = []
  for epoch, e in enumerate(errors, start=1):
    state = schedule.update(state, e, patience=2, cut=epoch in cuts)
    rates.append(float(state.learning_rate))
  assert rates == pytest.approx([0.01, 0.001, 0.001, 1e-4, 1e-4, 1e-4])
  assert int(state.num_decays) == 2
  assert float(state.best_error) == 0.4
  # A cut restarts the plateau count: a flat error after the cut at epoch 2
  # needs `patience` more epochs before the rule divides again.
  state = schedule.init(0.01)
  rates = []
  for epoch, e in enumerate([0.5, 0.5, 0.5, 0.5, 0.5], start=1):
    state = schedule.update(state, e, patience=2, cut=epoch == 2)
    rates.append(float(state.learning_rate))
  assert rates == pytest.approx([0.01, 0.001, 0.001, 1e-4, 1e-4])
