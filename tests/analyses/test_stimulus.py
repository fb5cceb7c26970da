"""Activation maximisation on networks whose units respond to planted
patterns (weights built here), against the patterns themselves."""

import numpy as np
import pytest

from zfjax.analyses import stimulus
from zfjax.errors import ZfjaxError
from zfjax.networks.specs import Conv, Dense, MaxPool, Spec

SIZE = 9  # pixels; conv1's 5x5 filters give 5x5 maps, centre unit (2, 2)


def grating(angle: float, colour) -> np.ndarray:
  """A 5x5x3 oriented cosine grating in one colour direction, unit norm."""
  i, j = np.mgrid[-2:3, -2:3]
  wave = np.cos(2 * np.pi * (i * np.cos(angle) + j * np.sin(angle)) / 4)
  p = wave[..., None] * np.asarray(colour, np.float64)
  return (p / np.linalg.norm(p)).astype(np.float32)


PATTERNS = [grating(0.0, [1, 0.5, 0]), grating(np.pi / 2, [0, 0.3, 1])]


def planted_network():
  """conv1: maps 0, 1 are the two patterns (bias 20: live at the start),
  maps 2, 3 random filters; conv2 (1x1): unit k = map k - 0.5 map (k + 2),
  so its centre unit peaks on pattern k and the ReLUs make it non-linear."""
  rng = np.random.default_rng(0)
  k1 = np.zeros((5, 5, 3, 4), np.float32)
  k1[..., 0], k1[..., 1] = PATTERNS
  k1[..., 2:] = 0.2 * rng.normal(size=(5, 5, 3, 2))
  k2 = np.zeros((1, 1, 4, 2), np.float32)
  k2[0, 0, [0, 1], [0, 1]] = 1
  k2[0, 0, [2, 3], [0, 1]] = -0.5
  params = {'conv1': {'kernel': k1,
                      'bias': np.float32([20, 20, 0, 0])},
            'conv2': {'kernel': k2, 'bias': np.zeros(2, np.float32)}}
  spec = Spec('planted', (Conv('conv1', 4, 5), MaxPool('pool1', 1, 1),
                          Conv('conv2', 2, 1)), SIZE)
  return params, spec


def correlation(a, b):
  return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


PLAIN = stimulus.Settings(steps=60, learning_rate=2.0, l2_decay=0.0,
                          blur_every=0, jitter=0)
REGULARISED = stimulus.Settings(steps=60, learning_rate=2.0, l2_decay=1e-3,
                                blur_every=4, blur_sigma=0.3, jitter=0,
                                clip_pixels=10, clip_contribution=10)
# With jitter each step's objective is of a shifted image: not monotonic.
JITTERED = REGULARISED._replace(jitter=1)


@pytest.mark.parametrize('settings', [PLAIN, REGULARISED, JITTERED],
                         ids=['plain', 'regularised', 'jittered'])
def test_stimulus_finds_the_planted_pattern_and_climbs(settings):
  params, spec = planted_network()
  mean = np.random.default_rng(1).uniform(60, 200, (SIZE, SIZE, 3))
  got = stimulus.maximize(params, spec, 'conv2', [0, 1], settings=settings,
                          mean=mean, seed=3)
  assert got.images.shape == (2, SIZE, SIZE, 3)
  assert got.objective.shape == (2, settings.steps + 1)
  # Within the pixel range: 0..255 once the mean is added back.
  assert np.all(got.images >= -mean - 1e-4)
  assert np.all(got.images <= 255 - mean + 1e-4)
  chance = [abs(correlation(np.random.default_rng(s).normal(size=(5, 5, 3)),
                            PATTERNS[0])) for s in range(200)]
  for unit in (0, 1):
    window = got.images[unit, 2:7, 2:7]
    own = correlation(window, PATTERNS[unit])
    assert own > 0.6, (unit, own)
    assert own > 5 * np.mean(chance)
    assert own > correlation(window, PATTERNS[1 - unit]) + 0.5
    curve = got.objective[unit]
    rise = curve[-1] - curve[0]
    assert rise > 0
    if not settings.jitter:
      # Monotonic within 5% of the rise (the regularisers may take a little
      # back at a blur or a clipping).
      tolerance = 1e-4 if settings is PLAIN else 0.05
      assert np.all(np.diff(curve) >= -tolerance * rise), np.diff(curve).min()


def test_class_logit_objective_and_reproducibility():
  # logit k = <pattern k, x> over the centre 5x5 of a 9x9 image, written as
  # Dense weights on relu(x) and relu(-x) (a 1x1 conv with +I and -I).
  k1 = np.concatenate([np.eye(3), -np.eye(3)], 1).reshape(1, 1, 3, 6)
  w = np.zeros((SIZE, SIZE, 6, 2), np.float32)
  for k, p in enumerate(PATTERNS):
    w[2:7, 2:7, :3, k], w[2:7, 2:7, 3:, k] = p, -p
  params = {'conv1': {'kernel': k1.astype(np.float32),
                      'bias': np.zeros(6, np.float32)},
            'fc': {'kernel': w.reshape(-1, 2), 'bias': np.zeros(2, np.float32)}}
  spec = Spec('linear', (Conv('conv1', 6, 1),
                         Dense('fc', 2, relu=False)), SIZE)
  got = stimulus.maximize(params, spec, 'fc', [1, 0], settings=PLAIN, seed=5)
  for row, unit in enumerate((1, 0)):
    assert correlation(got.images[row, 2:7, 2:7], PATTERNS[unit]) > 0.8
    # A linear objective: it rises at every step.
    assert np.all(np.diff(got.objective[row]) > 0)
  # Reproducible, and a unit's result does not depend on the others.
  again = stimulus.maximize(params, spec, 'fc', [0], settings=PLAIN, seed=5)
  np.testing.assert_allclose(again.images[0], got.images[1], atol=1e-4)
  other = stimulus.maximize(params, spec, 'fc', [0], settings=PLAIN, seed=6)
  assert np.abs(other.images[0] - got.images[1]).max() > 1


def test_bad_units_and_layers_are_one_line_errors():
  params, spec = planted_network()
  cases = [(dict(layer='pool1', units=[0]), 'neither a conv layer nor'),
           (dict(layer='conv2', units=[2]), 'maps 0..1'),
           (dict(layer='conv2', units=[0], objective='max'),
            "unknown objective 'max'"),
           (dict(layer='conv7', units=[0]), "unknown layer 'conv7'")]
  for kwargs, message in cases:
    with pytest.raises(ZfjaxError, match=message) as error:
      stimulus.maximize(params, spec, kwargs.pop('layer'),
                        kwargs.pop('units'), **kwargs)
    assert '\n' not in str(error.value)
  dense = Spec('d', (Conv('conv1', 4, 5), Dense('fc', 3, relu=False)), SIZE)
  with pytest.raises(ZfjaxError, match=r'\(the logits\) has classes 0..2'):
    stimulus.maximize({}, dense, 'fc', [3])
