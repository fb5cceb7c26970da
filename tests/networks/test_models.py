"""The forward pass against a numpy reference, trace, dropout, clipping."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from test_layers import np_conv, np_lrn, np_pool
from zfjax.networks import models, specs
from zfjax.errors import ZfjaxError

TINY = specs.Spec('tiny', (
    specs.Conv('conv1', 4, 3, stride=2, padding=1),
    specs.MaxPool('pool1', 3, 2, (0, 1)),
    specs.LRN('norm1'),
    specs.Conv('conv2', 6, 3, padding=1, groups=2),
    specs.MaxPool('pool2', 3, 2),
    specs.Dense('fc3', 5, dropout=0.5),
    specs.Dense('fc4', 3, relu=False),
), 16)


def np_forward(params, x):
  """The tiny spec written out by hand in float64 numpy."""
  p = {k: {n: np.asarray(v, np.float64) for n, v in d.items()}
       for k, d in params.items()}
  a1 = np.maximum(np_conv(x, p['conv1']['kernel'], p['conv1']['bias'], 2, 1),
                  0)
  h = np_lrn(np_pool(a1, 3, 2, (0, 1))[0])
  k2, b2 = p['conv2']['kernel'], p['conv2']['bias']
  a2 = np.maximum(np.concatenate([
      np_conv(h[..., :2], k2[..., :3], b2[:3], 1, 1),
      np_conv(h[..., 2:], k2[..., 3:], b2[3:], 1, 1)], -1), 0)
  flat = np_pool(a2, 3, 2, (0, 0))[0].reshape(x.shape[0], -1)  # NHWC order
  a3 = np.maximum(flat @ p['fc3']['kernel'] + p['fc3']['bias'], 0)
  return a3 @ p['fc4']['kernel'] + p['fc4']['bias'], {'conv1': a1,
                                                       'conv2': a2, 'fc3': a3}


@pytest.fixture(scope='module')
def tiny():
  params = models.init_params(jax.random.PRNGKey(0), TINY, weight_std=None,
                              bias_value=0.1)
  x = np.random.default_rng(0).normal(scale=50, size=(3, 16, 16, 3))
  return params, x.astype(np.float32)


def test_zero_head_starts_every_image_at_the_same_logits(tiny):
  """Only the last layer's weights change, to zero, so the logits are its
  biases whatever the image (softmax: uniform, loss ln C)."""
  params, x = tiny
  zero = models.init_params(jax.random.PRNGKey(0), TINY, weight_std=None,
                            bias_value=0.1, zero_head=True)
  assert not np.any(zero['fc4']['kernel'])
  for name in ('conv1', 'conv2', 'fc3'):
    np.testing.assert_array_equal(zero[name]['kernel'],
                                  params[name]['kernel'])
  logits = models.apply(zero, x, TINY)
  np.testing.assert_allclose(logits, np.full((3, 3), 0.1), atol=1e-7)


def test_forward_and_trace_match_numpy(tiny):
  params, x = tiny
  logits, trace = jax.jit(models.forward_trace, static_argnums=2)(params, x,
                                                                  TINY)
  want_logits, want_acts = np_forward(params, x.astype(np.float64))
  np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-3)
  assert set(trace.activations) == {'conv1', 'conv2', 'fc3'}
  for name, want in want_acts.items():
    np.testing.assert_allclose(trace.activations[name], want, rtol=1e-4,
                               atol=1e-3)
  assert set(trace.switches) == {'pool1', 'pool2'}
  assert trace.switches['pool1'].shape == (3, 4, 4, 4)
  np.testing.assert_allclose(models.apply(params, x, TINY), logits, rtol=1e-5,
                             atol=1e-5)


def test_vmap_over_images_equals_batch(tiny):
  params, x = tiny
  one = jax.vmap(lambda im: models.apply(params, im[None], TINY)[0])(x)
  np.testing.assert_allclose(one, models.apply(params, x, TINY), rtol=1e-5,
                             atol=1e-5)


def test_dropout_only_when_training(tiny):
  params, x = tiny
  evals = [models.apply(params, x, TINY) for _ in range(2)]
  np.testing.assert_array_equal(evals[0], evals[1])
  np.testing.assert_array_equal(
      models.apply(params, x, TINY, rng=jax.random.PRNGKey(3)), evals[0])
  a = models.apply(params, x, TINY, train=True, rng=jax.random.PRNGKey(1))
  b = models.apply(params, x, TINY, train=True, rng=jax.random.PRNGKey(2))
  assert not np.allclose(a, evals[0]) and not np.allclose(a, b)
  # Training logits must be the numpy forward with each fc3 unit either
  # zeroed or doubled: search all 2**5 masks for one that explains each row.
  _, acts = np_forward(params, x.astype(np.float64))
  w, bias = np.asarray(params['fc4']['kernel']), np.asarray(params['fc4'][
      'bias'])
  masks = np.array(np.meshgrid(*[[0, 2]] * 5)).reshape(5, -1).T  # (32, 5)
  for row in range(3):
    candidates = (masks * acts['fc3'][row]) @ w + bias
    assert np.min(np.abs(candidates - np.asarray(a[row])).max(-1)) < 1e-3
  with pytest.raises(ZfjaxError, match='rng'):
    models.apply(params, x, TINY, train=True)


def test_init_follows_the_paper():
  spec = specs.get_spec('alexnet', 10)
  params = models.init_params(jax.random.PRNGKey(0), spec)
  assert abs(float(jnp.std(params['conv3']['kernel'])) - 0.01) < 2e-4
  assert abs(float(jnp.mean(params['fc6']['kernel']))) < 1e-4
  biases = {n: float(params[n]['bias'][0]) for n in params}
  assert biases == {'conv1': 0, 'conv2': 1, 'conv3': 0, 'conv4': 1,
                    'conv5': 1, 'fc6': 1, 'fc7': 1, 'fc8': 0}
  zf = models.init_params(jax.random.PRNGKey(0), specs.get_spec('zfnet_small'))
  assert all(float(jnp.abs(p['bias']).max()) == 0 for p in zf.values())
  assert params['conv1']['kernel'].shape == (11, 11, 3, 96)
  assert params['fc6']['kernel'].shape == (9216, 4096)


def test_clip_filters_rescales_exactly_the_large_ones():
  rng = np.random.default_rng(0)
  kernel = rng.normal(scale=0.05, size=(3, 3, 2, 6))
  kernel[..., 1] *= 10  # RMS ~0.5
  kernel[..., 4] *= 4   # RMS ~0.2
  params = {'conv1': {'kernel': jnp.asarray(kernel, jnp.float32),
                      'bias': jnp.ones(6)}}
  spec = specs.Spec('one', (specs.Conv('conv1', 6, 3),), 8)
  clipped = np.asarray(models.clip_filters(params, spec, 0.1)['conv1'][
      'kernel'])
  rms = np.sqrt(np.mean(kernel ** 2, axis=(0, 1, 2)))
  for o in range(6):
    if rms[o] > 0.1:
      np.testing.assert_allclose(
          np.sqrt(np.mean(clipped[..., o] ** 2)), 0.1, rtol=1e-5)
      np.testing.assert_allclose(clipped[..., o] / kernel[..., o],
                                 0.1 / rms[o], rtol=1e-4)
    else:
      np.testing.assert_array_equal(clipped[..., o],
                                    kernel[..., o].astype(np.float32))
  assert sorted(np.flatnonzero(rms > 0.1)) == [1, 4]


def test_bad_inputs_give_one_line_errors(tiny):
  params, x = tiny
  with pytest.raises(ZfjaxError, match='NHWC'):
    models.apply(params, x[..., :2], TINY)
  with pytest.raises(ZfjaxError, match='do not fit'):
    models.apply(params, np.zeros((1, 24, 24, 3), np.float32), TINY)
  with pytest.raises(ZfjaxError, match='no traced activation'):
    models.features(params, x, TINY, 'pool1')
