"""The gradient and guided rules of `deconv` against jax.grad, a custom-VJP
ReLU and a hand-worked case (the deconvnet rule is tested in test_deconv)."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from test_deconv import conv_only, corner_units, setup
from zfjax.analyses import deconv
from zfjax.analyses import topk
from zfjax.errors import ZfjaxError
from zfjax.networks import layers
from zfjax.networks import models
from zfjax.networks import specs
from zfjax.networks.specs import Conv, Spec


@jax.custom_vjp
def relu_guided(x):
  return jnp.maximum(x, 0)


# Springenberg et al.: pass g where the input was positive and g is too.
relu_guided.defvjp(lambda x: (jnp.maximum(x, 0), x),
                   lambda x, g: (jnp.where((x > 0) & (g > 0), g, 0),))


def unit_gradients(params, images, spec, layer, channel, y, x, monkeypatch,
                   relu=None):
  """jax.grad of each unit's activation with respect to its image, through
  the model's own forward (LRN's and max-pooling's true gradients); relu:
  a ReLU with another backward, put in for every layer's."""
  if relu is not None:
    patched = types.SimpleNamespace(**vars(layers))
    patched.relu = relu
    monkeypatch.setattr(models, 'layers', patched)

  def activation(image, c, i, j):
    trace = models.forward_trace(params, image[None], spec)[1]
    return trace.activations[layer][0, i, j, c]
  return jax.jit(jax.vmap(jax.grad(activation)))(images, channel, y, x)


# Whole and windowed computations, LRN after the pool (ZFNet) and before it
# (AlexNet), groups, pool paddings (zfnet_small's (0, 1)).
CASES = [('zfnet_small', 32, 'conv5'), ('zfnet_small', 64, 'conv3'),
         ('alexnet_grouped', 67, 'conv2'), ('alexnet_grouped', 67, 'conv5'),
         ('zfnet', 67, 'conv2')]


@pytest.mark.parametrize('name,size,layer', CASES)
def test_gradient_and_guided_equal_their_references(name, size, layer,
                                                    monkeypatch):
  spec = conv_only(specs.get_spec(name, 10), size)
  params, images, trace = setup(spec, n=2, seed=5)
  acts = trace.activations[layer]
  image, channel, y, x = corner_units(acts, 2, seed=6)
  assert np.all(np.asarray(acts[image, y, x, channel]) > 0)
  for rule, relu in (('gradient', None), ('guided', relu_guided)):
    got = np.asarray(deconv.project_units(params, trace, spec, layer, image,
                                          channel, y, x, rule=rule))
    with monkeypatch.context() as patch:
      want = np.asarray(unit_gradients(params, images[image], spec, layer,
                                       channel, y, x, patch, relu))
    for m in range(6):
      scale = np.abs(want[m]).max()
      assert scale > 0, (rule, m)
      np.testing.assert_allclose(got[m], want[m], atol=2e-4 * scale, rtol=0,
                                 err_msg=f'{rule}, unit {m}')


def test_gradient_of_a_whole_map_is_the_gradient_of_its_sum():
  spec = conv_only(specs.get_spec('zfnet_small', 10), 32)
  params, images, trace = setup(spec, n=2, seed=8)
  channel = jnp.array([3, 11])
  got = deconv.project_map(params, trace, spec, 'conv4', channel,
                           rule='gradient')

  def total(image, c):
    acts = models.forward_trace(params, image[None], spec)[1].activations
    return acts['conv4'][0, :, :, c].sum()
  want = jax.jit(jax.vmap(jax.grad(total)))(images, channel)
  scale = float(jnp.abs(want).max())
  assert scale > 0
  np.testing.assert_allclose(got, want, atol=2e-4 * scale, rtol=0)


def test_the_three_rules_differ_at_the_relu_as_worked_by_hand():
  # conv1 (1x1): map 0 = R, map 1 = -G, map 2 = B; conv2 (1x1) = map 0 +
  # map 1 - map 2. With R = 1, G = 1, B = 0.5 map 1's ReLU input is -1
  # (off) and conv2's activation is relu(1) + relu(-1) - relu(0.5) = 0.5.
  # Going down, conv2's filter sends (1, 1, -1) x seed to the three maps:
  #   map 1: off forward, positive backward: the deconvnet passes it,
  #          gradient and guided do not;
  #   map 2: on forward, negative backward: only the gradient passes it.
  # Seeds: the activation 0.5 for the deconvnet, 1 for the others.
  want = {'deconvnet': [0.5, -0.5, 0.0], 'gradient': [1.0, 0.0, -1.0],
          'guided': [1.0, 0.0, 0.0]}
  k1 = np.zeros((1, 1, 3, 3), np.float32)
  k1[0, 0, 0, 0], k1[0, 0, 1, 1], k1[0, 0, 2, 2] = 1, -1, 1
  k2 = np.array([1, 1, -1], np.float32).reshape(1, 1, 3, 1)
  params = {'conv1': {'kernel': k1, 'bias': np.zeros(3, np.float32)},
            'conv2': {'kernel': k2, 'bias': np.zeros(1, np.float32)}}
  # Size 1: the whole computation; 3: the windowed one (unit at the centre).
  for size in (1, 3):
    spec = Spec('hand', (Conv('conv1', 3, 1), Conv('conv2', 1, 1)), size)
    images = np.broadcast_to(np.float32([1, 1, 0.5]), (1, size, size, 3))
    trace = models.forward_trace(params, images, spec)[1]
    c = size // 2
    np.testing.assert_allclose(trace.activations['conv2'][0, c, c, 0], 0.5)
    for rule, pixel in want.items():
      got = np.asarray(deconv.project(params, trace, spec, 'conv2',
                                      np.array([0]), np.array([c]),
                                      np.array([c]), rule=rule))[0]
      expect = np.zeros((size, size, 3), np.float32)
      expect[c, c] = pixel
      np.testing.assert_allclose(got, expect, atol=1e-6,
                                 err_msg=f'{rule}, {size} pixels')


def test_an_unknown_rule_is_a_one_line_error():
  spec = conv_only(specs.get_spec('zfnet_small', 10), 32)
  params, _, trace = setup(spec, n=1)
  zero = np.zeros(1, np.int32)
  calls = [
      lambda: deconv.project(params, trace, spec, 'conv2', zero, zero, zero,
                             rule='saliency'),
      lambda: deconv.project_map(params, trace, spec, 'conv2', zero,
                                 rule='saliency'),
      lambda: topk.project_tops(params, spec, {}, {}, None,
                                rule='saliency')]
  for call in calls:
    with pytest.raises(ZfjaxError, match='deconvnet, gradient, guided') as e:
      call()
    assert '\n' not in str(e.value)


def test_the_command_lines_offer_the_rules_deconv_knows():
  # options.py repeats them so that parsing loads no JAX.
  # pylint: disable-next=g-import-not-at-top
  from zfjax.commands import options
  assert options.RULES == deconv.RULES
