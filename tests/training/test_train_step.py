"""The data-parallel step: 8 devices against 1, the update rule against its
formula, feature scale clipping inside the step, top-k against argsort."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zfjax.networks import models, specs
from zfjax.training import metrics, steps

# Dropout in fc3 so that the 8-device test also checks the masks.
TINY = specs.Spec('tiny_train', (
    specs.Conv('conv1', 4, 3, stride=2, padding=1),
    specs.MaxPool('pool1', 3, 2, (0, 1)),
    specs.LRN('norm1'),
    specs.Conv('conv2', 6, 3, padding=1),
    specs.MaxPool('pool2', 3, 2),
    specs.Dense('fc3', 16, dropout=0.5),
    specs.Dense('fc4', 5, relu=False),
), 16)
NO_DROPOUT = specs.Spec('tiny_no_dropout', TINY.layers[:5] + (
    specs.Dense('fc3', 16), TINY.layers[6]), 16)
BATCH = 16


def config(**overrides):
  c = ml_collections.ConfigDict(dict(seed=3, momentum=0.9, weight_decay=5e-4,
                                     clip_radius=None))
  c.update(overrides)
  return c


def data():
  rng = np.random.default_rng(0)
  images = rng.normal(scale=40, size=(BATCH, 16, 16, 3)).astype(np.float32)
  labels = rng.integers(0, 5, BATCH).astype(np.int32)
  mask = np.ones(BATCH, bool)
  mask[[2, 11, 15]] = False  # padding, spread over several devices
  return images, labels, mask


def run_steps(spec, cfg, devices, num_steps, learning_rate=0.01):
  """Params (host numpy) and per-step counts after `num_steps` steps."""
  mesh = Mesh(np.asarray(devices), ('data',))
  params = models.init_params(jax.random.key(1), spec, weight_std=None,
                              bias_value=0.05)
  params = steps.replicate(jax.tree.map(np.asarray, params), mesh)
  opt_state = steps.make_optimizer(cfg, learning_rate).init(params)
  step_fn = steps.make_train_step(cfg, spec, mesh)
  sharding = NamedSharding(mesh, P('data'))
  batch = [jax.device_put(x, sharding) for x in data()]
  counts = []
  for step in range(num_steps):
    params, opt_state, c = step_fn(params, opt_state, *batch, np.int32(step),
                                   np.float32(learning_rate))
    counts.append(jax.tree.map(np.asarray, c))
  return jax.tree.map(np.asarray, params), counts


def _eight_device_main(out):
  assert jax.device_count() == 8, jax.devices()
  cfg = config(clip_radius=0.1)
  one, counts_one = run_steps(TINY, cfg, jax.devices()[:1], 3)
  eight, counts_eight = run_steps(TINY, cfg, jax.devices(), 3)
  np.savez(out, **{f'one/{k}/{n}': v for k, d in one.items()
                   for n, v in d.items()},
           **{f'eight/{k}/{n}': v for k, d in eight.items()
              for n, v in d.items()},
           counts_one=np.array(counts_one), counts_eight=np.array(counts_eight))


def test_eight_devices_equal_one_device(tmp_path):
  out = tmp_path / 'params.npz'
  env = dict(os.environ,
             XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu',
             PYTHONPATH=os.pathsep.join(
                 [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                  os.environ.get('PYTHONPATH', '')]))
  proc = subprocess.run([sys.executable, __file__, str(out)], env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  got = np.load(out)
  for key in got.files:
    if key.startswith('one/'):
      a, b = got[key], got['eight/' + key[4:]]
      np.testing.assert_allclose(b, a, rtol=1e-4,
                                 atol=1e-5 * np.abs(a).max() + 1e-7,
                                 err_msg=key)
  np.testing.assert_allclose(got['counts_eight'], got['counts_one'],
                             rtol=1e-5)
  assert got['counts_one'][0][3] == BATCH - 3  # count of unmasked examples


def test_first_steps_follow_sgd_momentum_with_weight_decay():
  # Reference: the gradient of the mean cross-entropy over the unmasked
  # examples, then v = g + wd * w (kernels only), w -= lr * v; then
  # v' = m * v + g' + wd * w', w' -= lr * v'.
  cfg = config(weight_decay=0.01)
  lr = 0.05
  images, labels, mask = data()
  params = models.init_params(jax.random.key(1), NO_DROPOUT, weight_std=None,
                              bias_value=0.05)

  def loss(p):
    logits = models.apply(p, images[mask], NO_DROPOUT)
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, labels[mask]).mean()

  def direction(p):
    g = jax.grad(loss)(p)
    return {k: {'kernel': g[k]['kernel'] + 0.01 * p[k]['kernel'],
                'bias': g[k]['bias']} for k in p}

  v1 = direction(params)
  w1 = jax.tree.map(lambda w, v: w - lr * v, params, v1)
  v2 = jax.tree.map(lambda a, b: 0.9 * a + b, v1, direction(w1))
  w2 = jax.tree.map(lambda w, v: w - lr * v, w1, v2)

  got, counts = run_steps(NO_DROPOUT, cfg, jax.devices()[:1], 2, lr)
  for name in w2:
    for field in ('kernel', 'bias'):
      np.testing.assert_allclose(got[name][field], w2[name][field], rtol=2e-4,
                                 atol=1e-6, err_msg=f'{name}/{field}')
  # The counts are of the batch before the update.
  assert counts[0][0] / counts[0][3] == pytest.approx(float(loss(params)),
                                                      rel=1e-4)


def unit_filters(kernel):
  return kernel / np.linalg.norm(kernel.reshape(-1, kernel.shape[-1]), axis=0)


def test_clipping_is_applied_inside_the_step():
  radius = 0.05
  clipped, _ = run_steps(NO_DROPOUT, config(clip_radius=radius),
                         jax.devices()[:1], 1, learning_rate=1.0)
  free, _ = run_steps(NO_DROPOUT, config(), jax.devices()[:1], 1,
                      learning_rate=1.0)
  for name in NO_DROPOUT.conv_names:
    rms_clipped = np.sqrt(np.mean(clipped[name]['kernel'] ** 2, (0, 1, 2)))
    rms_free = np.sqrt(np.mean(free[name]['kernel'] ** 2, (0, 1, 2)))
    # He init gives conv filters RMS ~0.27 and 0.16: all above the radius.
    assert (rms_free > radius).all()
    np.testing.assert_allclose(rms_clipped, radius, rtol=1e-5)
    # Clipping rescales, it does not turn: same directions as unclipped.
    np.testing.assert_allclose(unit_filters(clipped[name]['kernel']),
                               unit_filters(free[name]['kernel']), atol=1e-5)
  for name in NO_DROPOUT.dense_names:
    np.testing.assert_allclose(clipped[name]['kernel'], free[name]['kernel'])


def test_topk_correct_matches_argsort():
  rng = np.random.default_rng(1)
  scores = rng.normal(size=(200, 12)).astype(np.float32)
  labels = rng.integers(0, 12, 200)
  got = np.asarray(metrics.topk_correct(jnp.asarray(scores),
                                        jnp.asarray(labels), (1, 3, 5)))
  order = np.argsort(-scores, axis=1)
  for j, k in enumerate((1, 3, 5)):
    want = (order[:, :k] == labels[:, None]).any(axis=1)
    np.testing.assert_array_equal(got[:, j], want)


if __name__ == '__main__':
  _eight_device_main(sys.argv[1])
