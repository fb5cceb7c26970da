"""The faster layers and forward pass against numpy loops and the plain ones."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zfjax.networks import layers, models, specs
from zfjax.figures import grids


def lrn_loop(x, size, k, alpha, beta):
  """Krizhevsky's formula, one map at a time."""
  out = np.zeros_like(x, dtype=np.float64)
  c = x.shape[-1]
  for i in range(c):
    lo, hi = max(0, i - size // 2), min(c - 1, i + size // 2)
    total = np.sum(x[..., lo:hi + 1].astype(np.float64) ** 2, axis=-1)
    out[..., i] = x[..., i] / (k + alpha * total) ** beta
  return out


@pytest.mark.parametrize('size, beta', [(5, 0.75), (3, 0.5)])
def test_lrn_fast_equals_the_formula_and_lrn(size, beta):
  x = np.random.default_rng(0).normal(scale=40, size=(2, 3, 4, 9))
  x = x.astype(np.float32)
  got = layers.lrn_fast(x, size=size, alpha=1e-3, beta=beta)
  np.testing.assert_allclose(got, lrn_loop(x, size, 2.0, 1e-3, beta),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      got, layers.lrn(x, size=size, alpha=1e-3, beta=beta), rtol=1e-5,
      atol=1e-6)


@pytest.mark.parametrize('size, beta', [(5, 0.75), (3, 0.5)])
def test_lrn_fast_gradient_equals_finite_differences_and_lrn(size, beta):
  rng = np.random.default_rng(1)
  x = rng.normal(scale=20, size=(1, 2, 2, 7))
  g = rng.normal(size=x.shape)
  kwargs = dict(size=size, alpha=1e-3, beta=beta)
  grad = jax.grad(lambda v: jnp.sum(layers.lrn_fast(v, **kwargs) * g))(
      jnp.asarray(x, jnp.float32))
  plain = jax.grad(lambda v: jnp.sum(layers.lrn(v, **kwargs) * g))(
      jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(grad, plain, rtol=1e-4, atol=1e-6)
  # Central differences of the float64 formula, one input at a time.
  eps = 1e-3
  numeric = np.zeros_like(x)
  for idx in np.ndindex(x.shape):
    step = np.zeros_like(x)
    step[idx] = eps
    numeric[idx] = np.sum(
        (lrn_loop(x + step, size, 2.0, 1e-3, beta)
         - lrn_loop(x - step, size, 2.0, 1e-3, beta)) * g) / (2 * eps)
  np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-4)


def pool_loop(x, window, stride, padding):
  """Pooled values and, per output, the row-major first argmax (in x)."""
  n, h, w, c = x.shape
  lo, hi = padding
  ho = (h + lo + hi - window) // stride + 1
  wo = (w + lo + hi - window) // stride + 1
  pooled = np.zeros((n, ho, wo, c), x.dtype)
  where = np.zeros((n, ho, wo, c, 2), int)
  for b, i, j, ch in np.ndindex(n, ho, wo, c):
    best, at = -np.inf, None
    for a in range(window):
      for e in range(window):
        r, q = i * stride + a - lo, j * stride + e - lo
        if 0 <= r < h and 0 <= q < w and x[b, r, q, ch] > best:
          best, at = x[b, r, q, ch], (r, q)
    pooled[b, i, j, ch], where[b, i, j, ch] = best, at
  return pooled, where


@pytest.mark.parametrize('padding', [(0, 0), (0, 1), (1, 1)])
def test_max_pool_and_its_gradient_keep_the_tie_rule(padding):
  # Small integers: most windows hold ties.
  rng = np.random.default_rng(2)
  x = rng.integers(0, 3, size=(2, 9, 8, 3)).astype(np.float32)
  pooled, where = pool_loop(x, 3, 2, padding)
  got = layers.max_pool(x, window=3, stride=2, padding=padding)
  np.testing.assert_array_equal(got, pooled)
  g = rng.normal(size=pooled.shape).astype(np.float32)
  grad = jax.grad(lambda v: jnp.sum(
      layers.max_pool(v, window=3, stride=2, padding=padding) * g))(x)
  want = np.zeros_like(x)
  for b, i, j, ch in np.ndindex(pooled.shape):
    r, q = where[b, i, j, ch]
    want[b, r, q, ch] += g[b, i, j, ch]  # the first maximum takes it all
  np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-6)


def test_per_image_dropout_keys_give_each_image_its_own_batch_masks():
  params = models.init_params(jax.random.PRNGKey(8), SPEC, weight_std=None)
  x = np.random.default_rng(9).normal(scale=50, size=(3, 32, 32, 3))
  x = jnp.asarray(x, jnp.float32)
  keys = jax.random.split(jax.random.key(10), 3)
  batch = models.apply(params, x, SPEC, train=True, rng=keys)
  alone = [models.apply(params, x[i:i + 1], SPEC, train=True, rng=keys[i])
           for i in range(3)]
  np.testing.assert_allclose(batch, np.concatenate(alone), rtol=1e-5,
                             atol=1e-5)
  # Dropout is on: another key gives other logits.
  other = models.apply(params, x[:1], SPEC, train=True,
                       rng=jax.random.key(11))
  assert np.abs(other - alone[0]).max() > 1e-3


SPEC = specs.Spec('small', (
    specs.Conv('conv1', 6, 5, stride=2, padding=1),
    specs.MaxPool('pool1', 3, 2, (0, 1)),
    specs.LRN('norm1'),
    specs.Conv('conv2', 8, 3, stride=2),
    specs.MaxPool('pool2', 3, 2, (0, 1)),
    specs.LRN('norm2'),
    specs.Dense('fc3', 16, dropout=0.5),
    specs.Dense('fc4', 7, relu=False),
), 32)


def test_apply_and_its_gradient_equal_the_switch_recording_forward():
  params = models.init_params(jax.random.PRNGKey(0), SPEC, weight_std=None,
                              bias_value=0.1)
  x = np.random.default_rng(3).normal(scale=50, size=(3, 32, 32, 3))
  x = jnp.asarray(x, jnp.float32)
  labels = jnp.array([0, 3, 6])

  def loss(p, switches):
    # pylint: disable-next=protected-access
    logits = models._run(p, x, SPEC, train=True, rng=jax.random.PRNGKey(1),
                         switches=switches)[0]
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(3), labels])

  np.testing.assert_allclose(models.apply(params, x, SPEC),
                             models.forward_trace(params, x, SPEC)[0],
                             rtol=1e-5, atol=1e-5)
  fast, plain = (jax.grad(loss)(params, s) for s in (False, True))
  for name in params:
    for what in ('kernel', 'bias'):
      np.testing.assert_allclose(fast[name][what], plain[name][what],
                                 rtol=1e-4, atol=1e-6)
  _, trace = models.forward_trace(params, x, SPEC, switches=False)
  assert trace.switches == {}


def test_forward_from_pieces_make_the_whole_pass():
  params = models.init_params(jax.random.PRNGKey(4), SPEC, weight_std=None)
  x = np.random.default_rng(5).normal(scale=50, size=(2, 32, 32, 3))
  x = jnp.asarray(x, jnp.float32)
  low, _ = models.forward_from(params, x, SPEC, 'conv1', until='norm1')
  logits, trace = models.forward_from(params, low, SPEC, 'conv2')
  want_logits, want = models.forward_trace(params, x, SPEC)
  np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(trace.activations['conv2'],
                             want.activations['conv2'], rtol=1e-5, atol=1e-5)
  assert set(trace.activations) == {'conv2', 'fc3'}


def test_bfloat16_projections_stay_within_the_stated_tolerance():
  from zfjax.analyses import deconv  # pylint: disable=import-outside-toplevel
  params = models.init_params(jax.random.PRNGKey(6), SPEC, weight_std=None)
  x = np.random.default_rng(7).normal(scale=50, size=(3, 32, 32, 3))
  _, trace = models.forward_trace(params, jnp.asarray(x, jnp.float32), SPEC)
  for layer in ('conv1', 'conv2'):
    channel = jnp.array([0, 3, 5])
    y, xx = deconv.strongest_position(trace, layer, channel)
    args = (params, trace, SPEC, layer, jnp.arange(3), channel, y, xx)
    full = np.asarray(deconv.project_units(*args))
    half = np.asarray(deconv.project_units(*args, dtype=jnp.bfloat16))
    assert half.dtype == np.float32 and np.abs(full).max() > 0
    assert np.abs(half - full).max() <= 0.01 * np.abs(full).max()
    shown = [grids.normalize_for_display(p).astype(int) for p in (full, half)]
    assert np.abs(shown[0] - shown[1]).max() <= 2
