"""Layer tables: shapes from the paper, parameter counts, ablations, geometry."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zfjax.networks import models, specs
from zfjax.errors import ZfjaxError


def test_zfnet_shapes_are_fig3():
  shapes = specs.layer_shapes(specs.get_spec('zfnet'), 224)
  assert shapes['conv1'] == (110, 110, 96)
  assert shapes['pool1'] == shapes['norm1'] == (55, 55, 96)
  assert shapes['conv2'] == (26, 26, 256)
  assert shapes['pool2'] == (13, 13, 256)
  assert shapes['conv3'] == shapes['conv4'] == (13, 13, 384)
  assert shapes['conv5'] == (13, 13, 256)
  assert shapes['pool5'] == (6, 6, 256) and 6 * 6 * 256 == 9216
  assert shapes['fc6'] == shapes['fc7'] == (4096,)
  assert shapes['fc8'] == (1000,)


def test_alexnet_shapes():
  shapes = specs.layer_shapes(specs.get_spec('alexnet'), 224)
  assert shapes['conv1'] == (55, 55, 96)
  assert shapes['pool1'] == (27, 27, 96)
  assert shapes['conv2'] == (27, 27, 256)
  assert shapes['pool2'] == (13, 13, 256)
  assert shapes['conv5'] == (13, 13, 256)
  assert shapes['pool5'] == (6, 6, 256)


def _count(convs, fcs):
  """Parameters of dense convs (k, cin, cout, groups) and fcs (in, out)."""
  return (sum(k * k * cin // g * cout + cout for k, cin, cout, g in convs) +
          sum(i * o + o for i, o in fcs))


def _alexnet_count(groups=1, fc=4096):
  return _count([(11, 3, 96, 1), (5, 96, 256, groups), (3, 256, 384, 1),
                 (3, 384, 384, groups), (3, 384, 256, groups)],
                [(9216, fc), (fc, fc), (fc, 1000)])


@pytest.mark.parametrize('name,expected', [
    ('zfnet', 62_357_608),  # the figure for Fig. 3
    ('alexnet_grouped', 60_965_224),  # Krizhevsky's published "60 M"
    ('alexnet', _alexnet_count()),
    ('alexnet_fc2048', _alexnet_count(fc=2048)),
    ('alexnet_remove34', _count(
        [(11, 3, 96, 1), (5, 96, 256, 1), (3, 256, 256, 1)],
        [(9216, 4096), (4096, 4096), (4096, 1000)])),
    ('alexnet_remove3467', _count(
        [(11, 3, 96, 1), (5, 96, 256, 1), (3, 256, 256, 1)], [(9216, 1000)])),
    ('zfnet_conv512_1024_512', _count(
        [(7, 3, 96, 1), (5, 96, 256, 1), (3, 256, 512, 1),
         (3, 512, 1024, 1), (3, 1024, 512, 1)],
        [(6 * 6 * 512, 4096), (4096, 4096), (4096, 1000)])),
])
def test_parameter_counts(name, expected):
  spec = specs.get_spec(name, 1000)
  shapes = jax.eval_shape(
      lambda: models.init_params(jax.random.PRNGKey(0), spec))
  assert models.param_count(shapes) == expected


def test_table3_ablations_change_only_what_they_name():
  alex = specs.get_spec('alexnet')
  names = lambda s: [l.name for l in s.layers]  # noqa: E731
  assert names(specs.get_spec('alexnet_remove7')) == [
      n for n in names(alex) if n != 'fc7']
  assert names(specs.get_spec('alexnet_remove67')) == [
      n for n in names(alex) if n not in ('fc6', 'fc7')]
  wide = specs.get_spec('zfnet_conv512_1024_512_fc8192')
  assert [wide.layer(n).features for n in ('conv3', 'conv4', 'conv5', 'fc6',
                                           'fc7')] == [512, 1024, 512, 8192,
                                                       8192]
  assert specs.get_spec('zfnet_fc2048', 7).num_classes == 7
  grouped = specs.get_spec('alexnet_grouped')
  assert [l.groups for l in grouped.layers if isinstance(l, specs.Conv)] == [
      1, 2, 1, 2, 2]


def test_unknown_names_give_one_line_errors():
  with pytest.raises(ZfjaxError, match='unknown spec'):
    specs.get_spec('zfnett')
  with pytest.raises(ZfjaxError, match="unknown layer 'conv9'"):
    specs.get_spec('zfnet').layer('conv9')


@pytest.mark.parametrize('layer,y,x', [('conv1', 3, 5), ('conv2', 0, 7),
                                       ('conv3', 4, 4), ('conv5', 7, 0)])
def test_receptive_box_is_the_gradient_support(layer, y, x):
  """The box equals the union over random inputs of the pixels whose
  gradient reaches the unit (zero outside, every edge reached inside)."""
  spec = specs.get_spec('zfnet_small', 4)
  params = models.init_params(jax.random.PRNGKey(0), spec, weight_std=None)
  # Positive weights: no ReLU ever cuts a path, so gradients see the whole
  # field except where max-pooling routes them; many inputs cover the rest.
  params = jax.tree.map(jnp.abs, params)

  def unit(img):
    return models.features(params, img[None], spec, layer)[0, y, x].sum()

  grads = jax.vmap(jax.grad(unit))(jax.random.normal(
      jax.random.PRNGKey(1), (48, 64, 64, 3)))
  support = np.argwhere(np.any(np.asarray(grads) != 0, axis=(0, 3)))
  y0, x0, y1, x1 = specs.receptive_box(spec, layer, y, x, 64)
  assert support[:, 0].min() == y0 and support[:, 0].max() == y1 - 1
  assert support[:, 1].min() == x0 and support[:, 1].max() == x1 - 1


def test_receptive_field_of_zfnet_conv1_and_pool1():
  rf = specs.receptive_fields(specs.get_spec('zfnet'))
  # conv1: 7x7 stride 2 pad 1 -> unit i sees [2i - 1, 2i + 6).
  assert rf['conv1'] == specs.ReceptiveField(jump=2, size=7, start=-1)
  # a 3x3/2 pool over it adds two conv1 steps: 7 + 2 * 2 = 11 pixels.
  assert rf['pool1'] == specs.ReceptiveField(jump=4, size=11, start=-1)
