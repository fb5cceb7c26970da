"""The Flax module of every spec against the functional model, and the
per-layer summary against independent counts."""

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pytest

from zfjax.networks import flax_module, models, specs, summary
from zfjax.errors import ZfjaxError
from zfjax.commands import summary as summary_command


def smallest_size(spec):
  """The smallest input side (from 32 pixels up) the spec accepts."""
  for size in range(32, 400):
    try:
      specs.layer_shapes(spec, size)
      return size
    except ZfjaxError:
      continue
  raise AssertionError(spec.name)


def numpy_params(shapes, seed=2):
  """He-scaled random params of the given abstract shapes (numpy's generator:
  much faster on a CPU than jax.random for the 4096-wide layers)."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda a: (rng.standard_normal(a.shape, np.float32)
                 * np.float32(np.sqrt(2.0 / np.prod(a.shape[:-1])))
                 if len(a.shape) > 1 else
                 0.1 * rng.standard_normal(a.shape).astype(np.float32)),
      shapes)


@pytest.mark.parametrize('name', sorted(specs.SPECS))
def test_init_shapes_and_apply_equal_functional(name):
  spec = specs.get_spec(name, 10)
  size = smallest_size(spec)
  images = jax.random.normal(jax.random.PRNGKey(1), (2, size, size, 3)) * 60
  net = flax_module.ConvNet(spec, weight_std=None)
  variables = jax.eval_shape(net.init, jax.random.PRNGKey(0), images)
  want = jax.eval_shape(lambda k: models.init_params(k, spec, size),
                        jax.random.PRNGKey(0))
  assert set(variables) == {'params'}
  assert jax.tree.map(lambda a: (a.shape, a.dtype), variables['params']) == (
      jax.tree.map(lambda a: (a.shape, a.dtype), want))
  params = numpy_params(want)
  # One program computes both (one compilation per spec).
  got, expect = jax.jit(lambda p, x: (net.apply({'params': p}, x),
                                      models.apply(p, x, spec)))(params,
                                                                 images)
  np.testing.assert_allclose(np.asarray(got), np.asarray(expect), rtol=1e-5,
                             atol=1e-5 * float(jnp.abs(expect).max()))


def test_init_values_follow_the_spec():
  spec = specs.get_spec('alexnet_remove67', 10)
  images = jnp.zeros((1, 67, 67, 3))
  params = jax.jit(flax_module.ConvNet(spec).init)(jax.random.PRNGKey(0),
                                                   images)['params']
  # Krizhevsky's biases: 1 in conv2, conv4, conv5 (and fc6, fc7), else 0.
  ones = {'conv2', 'conv4', 'conv5'}
  for name, p in params.items():
    np.testing.assert_array_equal(np.asarray(p['bias']),
                                  1.0 if name in ones else 0.0)
  assert float(jnp.std(params['conv2']['kernel'])) == pytest.approx(0.01,
                                                                     rel=0.02)


def test_dropout_in_training_mode():
  # Dropout after the adaptive pooling, as in torchvision's AlexNet.
  spec = specs.Spec('pool_dropout', (
      specs.Conv('conv1', 8, 3, padding=1),
      specs.AdaptiveAvgPool('pool', 4, dropout=0.5),
      specs.Dense('fc', 10, relu=False)), 16)
  images = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 16, 3)) * 60
  net = flax_module.ConvNet(spec)
  variables = {'params': numpy_params(jax.eval_shape(
      net.init, jax.random.PRNGKey(0), images)['params'])}
  apply = jax.jit(net.apply, static_argnames='train')
  run = lambda key: apply(variables, images, train=True,  # noqa: E731
                          rngs={'dropout': jax.random.PRNGKey(key)})
  np.testing.assert_array_equal(run(3), run(3))
  assert not np.allclose(run(3), run(4))
  assert not np.allclose(run(3), apply(variables, images))


def test_usable_as_a_flax_submodule():
  spec = specs.get_spec('zfnet_small', 10)

  class Head(flax_module.nn.Module):
    @flax_module.nn.compact
    def __call__(self, x):
      return flax_module.nn.Dense(3)(flax_module.ConvNet(spec,
                                                         name='zf')(x))

  images = jnp.ones((2, 64, 64, 3))
  variables = numpy_params(jax.eval_shape(Head().init, jax.random.PRNGKey(0),
                                          images))
  zf = variables['params']['zf']
  assert set(zf) == {'conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6',
                     'fc7', 'fc8'}
  dense = variables['params']['Dense_0']
  want = jax.jit(lambda p, x: models.apply(p, x, spec))(zf, images)
  np.testing.assert_allclose(
      np.asarray(jax.jit(Head().apply)(variables, images)),
      np.asarray(want @ dense['kernel'] + dense['bias']), rtol=1e-5)


def test_summary_of_torchvision_alexnet_matches_published_figures():
  rows = summary.summarize(specs.get_spec('alexnet_torchvision'))
  # torchvision's model table: 61,100,840 parameters, 0.71 G multiply-adds.
  assert sum(r.params for r in rows) == 61_100_840
  assert sum(r.mult_adds for r in rows) / 1e9 == pytest.approx(0.71,
                                                                abs=0.005)
  by_name = {r.name: r for r in rows}
  assert by_name['conv1'].output_shape == (55, 55, 64)
  assert (by_name['pool5'].rf_size, by_name['pool5'].rf_jump) == (195, 32)
  assert by_name['fc6'].rf_size is None


@pytest.mark.parametrize('name', sorted(specs.SPECS))
def test_summary_params_equal_init_params(name):
  spec = specs.get_spec(name, 10)
  shapes = jax.eval_shape(lambda k: models.init_params(k, spec),
                          jax.random.PRNGKey(0))
  for row in summary.summarize(spec):
    want = sum(int(np.prod(a.shape)) for a in
               jax.tree.leaves(shapes.get(row.name, {})))
    assert row.params == want, row.name


def _xla_mult_adds(x_shape, layer, cin):
  """Half XLA's flop count of the conv on an explicitly zero-padded input
  (a VALID convolution: every tap is a real multiply-add)."""
  p = layer.padding
  x = jnp.zeros((1, x_shape[0] + 2 * p, x_shape[1] + 2 * p, cin))
  k = jnp.zeros((layer.kernel, layer.kernel, cin // layer.groups,
                 layer.features))
  conv = lambda a, b: lax.conv_general_dilated(  # noqa: E731
      a, b, (layer.stride,) * 2, 'VALID',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      feature_group_count=layer.groups)
  cost = jax.jit(conv).lower(x, k).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return cost['flops'] / 2


@pytest.mark.parametrize('name', ['zfnet', 'alexnet_grouped'])
def test_summary_mult_adds_equal_xla_counts(name):
  spec = specs.get_spec(name, 10)
  in_shapes = specs.input_shapes(spec)
  for row in summary.summarize(spec):
    layer = spec.layer(row.name)
    if isinstance(layer, specs.Conv):
      assert row.mult_adds == _xla_mult_adds(
          in_shapes[row.name][:2], layer, in_shapes[row.name][-1]), row.name


def test_summary_command(capsys):
  assert summary_command.main(['zfnet']) == 0
  out = capsys.readouterr().out
  assert 'conv1  conv 7x7/2      110x110x96' in out
  assert '62,357,608' in out  # the README's ZFNet parameter count
  assert summary_command.main(['zfnet', '--image_size', '20']) == 2
  assert capsys.readouterr().err.startswith('error: ')
