"""The deconvnet against brute-force numpy and an independent VJP."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zfjax.analyses import deconv
from zfjax.networks import layers
from zfjax.networks import models
from zfjax.networks import specs
from zfjax.errors import ZfjaxError
from zfjax.networks.specs import LRN, Conv, Dense, MaxPool, Spec
from zfjax.figures import grids


def conv_only(spec, size):
  """The spec's feature extractor (no Dense layers) at `size` pixels."""
  return Spec(spec.name, tuple(l for l in spec.layers
                               if not isinstance(l, Dense)), size)


def corner_units(acts, others, seed):
  """Units of a (2, H, W, C) layer to project: the four corners (windows
  sticking out of every side) and `others` random positions, alternating
  between the two images, each at its strongest map there. Returns
  (image, channel, y, x), each (4 + others,)."""
  h, w = acts.shape[1:3]
  rng = np.random.default_rng(seed)
  y = np.r_[0, 0, h - 1, h - 1, rng.integers(0, h, others)]
  x = np.r_[0, w - 1, 0, w - 1, rng.integers(0, w, others)]
  image = np.arange(4 + others) % 2
  return image, np.asarray(acts[image, y, x].argmax(-1)), y, x


def setup(spec, n=2, seed=0):
  """He-scaled random params, random images and their trace (numpy random
  and a jitted forward: eager JAX would compile every op separately)."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda: models.init_params(jax.random.PRNGKey(0),
                                                     spec))
  params = jax.tree_util.tree_map(
      lambda s: jnp.asarray(rng.normal(size=s.shape).astype(np.float32)
                            * np.sqrt(2.0 / np.prod(s.shape[:-1]))), shapes)
  images = jnp.asarray(60.0 * rng.normal(
      size=(n, spec.image_size, spec.image_size, 3)), jnp.float32)
  trace = jax.jit(models.forward_trace, static_argnums=2)(params, images,
                                                          spec)[1]
  return params, images, trace


def np_conv_transpose_unit(shape, kernel, stride, padding, groups, c, y, x,
                           value):
  """Input-space image of one output unit: its filter, scaled and placed.

  The adjoint of cross-correlation maps a one-hot output (c, y, x) to the
  filter of c laid at the unit's window, restricted to c's input group.
  """
  h, w, cin = shape
  k, _, cin_g, cout = kernel.shape
  group = c // (cout // groups)
  out = np.zeros((h + 2 * padding + k, w + 2 * padding + k, cin))
  out[y * stride:y * stride + k, x * stride:x * stride + k,
      group * cin_g:(group + 1) * cin_g] += value * kernel[:, :, :, c]
  return out[padding:padding + h, padding:padding + w]


def np_conv_transpose(maps, kernel, stride, padding, groups, shape):
  out = np.zeros(shape)
  for (y, x, c) in zip(*np.nonzero(maps)):
    out += np_conv_transpose_unit(shape, kernel, stride, padding, groups, c,
                                  y, x, maps[y, x, c])
  return out


def np_unpool(maps, acts, window, stride, padding):
  """Each pooled value goes to the first maximum of its window in `acts`."""
  h, w, _ = acts.shape
  lo, _ = padding
  out = np.zeros_like(acts)
  for i, j, c in zip(*np.nonzero(maps)):
    best, where = -np.inf, None
    for kh in range(window):
      for kw in range(window):
        r, s = i * stride + kh - lo, j * stride + kw - lo
        if 0 <= r < h and 0 <= s < w and acts[r, s, c] > best:
          best, where = acts[r, s, c], (r, s)
    out[where + (c,)] += maps[i, j, c]
  return out


@pytest.mark.parametrize('stride,padding', [(1, 1), (2, 1), (3, 0), (2, 2)])
def test_one_conv_layer_is_its_transposed_filter(stride, padding):
  spec = Spec('one', (Conv('conv1', 6, 5, stride=stride, padding=padding),),
              13)
  params, _, trace = setup(spec, n=3)
  kernel = np.asarray(params['conv1']['kernel'])
  channel = np.array([0, 3, 5])
  y, x = map(np.asarray, deconv.strongest_position(trace, 'conv1', channel))
  got = deconv.project(params, trace, spec, 'conv1', channel, y, x)
  acts = np.asarray(trace.activations['conv1'])
  for n in range(3):
    want = np_conv_transpose_unit((13, 13, 3), kernel, stride, padding, 1,
                                  channel[n], y[n], x[n],
                                  acts[n, y[n], x[n], channel[n]])
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(got[n], want, rtol=1e-5, atol=1e-5)


def test_two_layers_unpool_routes_to_argmax_and_groups():
  spec = Spec('two', (
      Conv('conv1', 8, 3, stride=1, padding=1),
      MaxPool('pool1', 3, 2, (0, 1)),
      LRN('norm1'),
      Conv('conv2', 6, 3, stride=1, padding=1, groups=2),
  ), 12)
  params, images, trace = setup(spec, n=2, seed=3)
  acts1 = np.asarray(trace.activations['conv1'])
  acts2 = np.asarray(trace.activations['conv2'])
  k1 = np.asarray(params['conv1']['kernel'])
  k2 = np.asarray(params['conv2']['kernel'])
  channel = np.array([1, 4])
  y, x = map(np.asarray, deconv.strongest_position(trace, 'conv2', channel))
  got = deconv.project(params, trace, spec, 'conv2', channel, y, x)
  for n in range(2):
    seed = np.zeros(acts2.shape[1:])
    seed[y[n], x[n], channel[n]] = acts2[n, y[n], x[n], channel[n]]
    pooled = np_conv_transpose(seed, k2, 1, 1, 2, (6, 6, 8))
    unpooled = np_unpool(pooled, acts1[n], 3, 2, (0, 1))
    want = np_conv_transpose(np.maximum(unpooled, 0), k1, 1, 1, 1,
                             (12, 12, 3))
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(got[n], want, rtol=1e-4, atol=1e-4)


# --------------------------------------------- independent VJP formulation


@jax.custom_vjp
def relu_passing_rectified(x):
  return jnp.maximum(x, 0)


relu_passing_rectified.defvjp(lambda x: (jnp.maximum(x, 0), None),
                              lambda _, g: (jnp.maximum(g, 0),))


def lrn_passing_identity(x, **kwargs):
  @jax.custom_vjp
  def f(x):
    return layers.lrn(x, **kwargs)
  f.defvjp(lambda x: (f(x), None), lambda _, g: (g,))
  return f(x)


def vjp_projection(params, images, spec, layer, cotangent_of, monkeypatch):
  """d(activation . cotangent)/d(image) with deconvnet-style backward rules:
  every ReLU passes relu(g) back, LRN passes g unchanged, max-pooling routes
  to its argmax (its ordinary gradient), convs apply their adjoint."""
  patched = types.SimpleNamespace(**vars(layers))
  patched.relu = relu_passing_rectified
  patched.lrn = lrn_passing_identity
  monkeypatch.setattr(models, 'layers', patched)
  fn = lambda im: models.forward_trace(params, im, spec)[1].activations[layer]

  def projection(im):
    acts, pullback = jax.vjp(fn, im)
    return pullback(cotangent_of(acts))[0]
  return jax.jit(projection)(images)


CASES = [('zfnet_small', 32, 'conv5'), ('zfnet_small', 32, 'conv2'),
         ('alexnet_grouped', 67, 'conv5'), ('alexnet_remove34', 67, 'conv5'),
         ('zfnet', 67, 'conv4')]


@pytest.mark.parametrize('name,size,layer', CASES)
def test_projection_equals_modified_vjp(name, size, layer, monkeypatch):
  spec = conv_only(specs.get_spec(name, 10), size)
  params, images, trace = setup(spec, n=2, seed=7)
  acts = trace.activations[layer]
  channel = jnp.argmax(acts.max(axis=(1, 2)), axis=-1)  # a live map each
  y, x = deconv.strongest_position(trace, layer, channel)
  got = deconv.project(params, trace, spec, layer, channel, y, x)

  def one_hot_unit(a):
    n = jnp.arange(a.shape[0])
    return jnp.zeros_like(a).at[n, y, x, channel].set(a[n, y, x, channel])

  want = vjp_projection(params, images, spec, layer, one_hot_unit,
                        monkeypatch)
  scale = float(jnp.abs(want).max())
  assert scale > 0
  np.testing.assert_allclose(got, want, atol=1e-4 * scale, rtol=0)


# Units whose reach is smaller than the image: `project_units` computes them
# inside windows (groups, LRN, strides, pool paddings of every kind).
WINDOWED = [('zfnet_small', 32, 'conv2'), ('zfnet_small', 64, 'conv3'),
            ('alexnet_grouped', 67, 'conv2'), ('zfnet', 67, 'conv2')]


@pytest.mark.parametrize('name,size,layer', WINDOWED)
def test_windowed_unit_projections_equal_modified_vjp(name, size, layer,
                                                      monkeypatch):
  spec = conv_only(specs.get_spec(name, 10), size)
  # pylint: disable-next=protected-access
  assert deconv._windows(spec, layer, size) is not None
  params, images, trace = setup(spec, n=2, seed=3)
  acts = trace.activations[layer]
  image, channel, y, x = corner_units(acts, 4, seed=4)
  got = deconv.project_units(params, trace, spec, layer, image, channel, y, x)
  rows = np.arange(8)

  def one_hot_unit(a):
    return jnp.zeros_like(a).at[rows, y, x, channel].set(
        a[rows, y, x, channel])

  want = vjp_projection(params, images[image], spec, layer, one_hot_unit,
                        monkeypatch)
  for m in rows:
    scale = float(jnp.abs(want[m]).max())
    assert scale > 0
    np.testing.assert_allclose(got[m], want[m], atol=1e-4 * scale, rtol=0)


def test_project_map_equals_modified_vjp(monkeypatch):
  spec = conv_only(specs.get_spec('zfnet_small', 10), 32)
  params, images, trace = setup(spec, n=3, seed=11)
  channel = jnp.array([0, 5, 9])
  got = deconv.project_map(params, trace, spec, 'conv3', channel)
  keep = jax.nn.one_hot(channel, trace.activations['conv3'].shape[-1])
  want = vjp_projection(params, images, spec, 'conv3',
                        lambda a: a * keep[:, None, None, :], monkeypatch)
  scale = float(jnp.abs(want).max())
  assert scale > 0
  np.testing.assert_allclose(got, want, atol=1e-4 * scale, rtol=0)


def test_projection_is_zero_outside_receptive_field():
  spec = conv_only(specs.get_spec('zfnet_small', 10), 64)
  params, _, trace = setup(spec, n=4, seed=5)
  for layer in ('conv1', 'conv2', 'conv4'):
    h, w, c = trace.activations[layer].shape[1:]
    rng = np.random.default_rng(0)
    channel = rng.integers(0, c, 4)
    y, x = rng.integers(0, h, 4), rng.integers(0, w, 4)
    # Seed with 1 where the unit is dead so every projection is non-trivial.
    acts = trace.activations[layer]
    n = np.arange(4)
    live = trace._replace(activations={
        **trace.activations,
        layer: acts.at[n, y, x, channel].set(1.0 + acts[n, y, x, channel])})
    got = np.asarray(deconv.project(params, live, spec, layer, channel, y, x))
    boxes = deconv.receptive_boxes(spec, layer, y, x)
    for i in range(4):
      y0, x0, y1, x1 = specs.receptive_box(spec, layer, int(y[i]), int(x[i]))
      assert tuple(boxes[i]) == (y0, x0, y1, x1)
      inside = np.zeros(got.shape[1:3], bool)
      inside[y0:y1, x0:x1] = True
      assert np.all(got[i][~inside] == 0)
      assert np.abs(got[i][inside]).max() > 0


def test_vmap_over_selections_matches_single_calls():
  spec = conv_only(specs.get_spec('zfnet_small', 10), 32)
  params, _, trace = setup(spec, n=2, seed=2)
  channel = jnp.array([[1, 2], [3, 4], [5, 6]])  # (selections, images)
  y = jnp.array([[0, 1], [2, 3], [1, 1]])
  x = jnp.array([[3, 2], [1, 0], [2, 2]])
  many = jax.vmap(lambda c, a, b: deconv.project(
      params, trace, spec, 'conv3', c, a, b))(channel, y, x)
  units = deconv.project_units(
      params, trace, spec, 'conv3', jnp.array([0, 1] * 3), channel.ravel(),
      y.ravel(), x.ravel())
  for s in range(3):
    one = deconv.project(params, trace, spec, 'conv3', channel[s], y[s], x[s])
    np.testing.assert_allclose(many[s], one, atol=1e-5)
    np.testing.assert_allclose(units[2 * s:2 * s + 2], one, atol=1e-5)


def test_strongest_position_is_argmax():
  spec = conv_only(specs.get_spec('zfnet_small', 10), 32)
  _, _, trace = setup(spec, n=3, seed=4)
  acts = np.asarray(trace.activations['conv2'])
  channel = np.array([0, 7, 13])
  y, x = deconv.strongest_position(trace, 'conv2', channel)
  for n in range(3):
    m = acts[n, :, :, channel[n]]
    assert m[y[n], x[n]] == m.max()
    flat = np.flatnonzero(m == m.max())[0]
    assert (y[n], x[n]) == divmod(flat, m.shape[1])


def test_normalize_for_display_formula():
  p = np.zeros((3, 2, 2, 3), np.float32)
  p[0, 0, 0, 0], p[0, 1, 1, 2], p[0, 0, 1, 1] = 4.0, -2.0, 1.0
  p[1, 0, 0, 0] = -0.5
  out = grids.normalize_for_display(p, saturate=0)
  assert out.dtype == np.uint8
  assert out[0, 0, 0, 0] == 255 and out[0, 1, 1, 2] == 64  # 127.5 - 63.75
  assert out[0, 0, 1, 1] == 159 and out[0, 1, 0, 0] == 128
  assert out[1, 0, 0, 0] == 0 and out[1, 1, 1, 1] == 128
  assert np.all(out[2] == 128)
  # Saturating the top 1% of 1..1000 (and the zeros left out): the scale is
  # numpy's 99th percentile of 1..1000, 990.01.
  q = np.zeros((1, 50, 50, 3))
  q.reshape(-1)[:1000] = -np.arange(1, 1001)
  out = grids.normalize_for_display(q, saturate=1).reshape(-1)
  assert out[999] == 0 and out[990] == 0 and out[985] == 1
  assert out[494] == round(127.5 - 127.5 * 495 / 990.01)
  assert np.all(out[1000:] == 128)


def test_bad_layers_and_sizes_raise_one_line_errors():
  spec = conv_only(specs.get_spec('zfnet_small', 10), 32)
  params, _, trace = setup(spec, n=1)
  zero = jnp.zeros((1,), jnp.int32)
  for layer in ('conv9', 'pool1', 'norm2'):
    with pytest.raises(ZfjaxError, match=layer):
      deconv.project(params, trace, spec, layer, zero, zero, zero)
  with pytest.raises(ZfjaxError, match='image_size'):
    deconv.project(params, trace, spec, 'conv2', zero, zero, zero,
                   image_size=64)


def test_the_trace_gives_the_image_size():
  """zfnet_small traced at 56 pixels (its native size is 64; 55 gives the
  same shapes): projections need no image_size=, and a trace that does not
  record its size asks for it."""
  spec = specs.get_spec('zfnet_small', 12)
  params = models.init_params(jax.random.key(0), spec, 56, weight_std=None)
  images = jnp.asarray(np.random.default_rng(0).normal(
      size=(2, 56, 56, 3)) * 50, jnp.float32)
  _, trace = models.forward_trace(params, images, spec)
  assert trace.image_size == 56
  assert specs.layer_shapes(spec, 55) == specs.layer_shapes(spec, 56)
  channel = jnp.array([3, 7])
  y, x = deconv.strongest_position(trace, 'conv5', channel)
  found = deconv.project(params, trace, spec, 'conv5', channel, y, x)
  stated = deconv.project(params, trace, spec, 'conv5', channel, y, x,
                          image_size=56)
  assert found.shape == (2, 56, 56, 3)
  np.testing.assert_array_equal(found, stated)
  whole = deconv.project_map(params, trace, spec, 'conv5', channel)
  assert whole.shape == (2, 56, 56, 3)
  unknown = trace._replace(image_size=None)
  with pytest.raises(ZfjaxError, match='pass image_size='):
    deconv.project(params, unknown, spec, 'conv5', channel, y, x)


def test_project_strongest_is_the_largest_activation():
  spec = specs.get_spec('zfnet_small', 12)
  params = models.init_params(jax.random.key(1), spec, 56, weight_std=None)
  images = jnp.asarray(np.random.default_rng(1).normal(
      size=(3, 56, 56, 3)) * 50, jnp.float32)
  got = deconv.project_strongest(params, images, spec, 'conv4')
  _, trace = models.forward_trace(params, images, spec)
  acts = np.asarray(trace.activations['conv4'])
  for n in range(3):  # brute force: the largest entry of each image's maps
    y, x, c = np.unravel_index(np.argmax(acts[n]), acts[n].shape)
    assert (got.y[n], got.x[n], got.channel[n]) == (y, x, c)
    assert got.value[n] == pytest.approx(acts[n, y, x, c], rel=1e-5)
  want = deconv.project(params, trace, spec, 'conv4', got.channel, got.y,
                        got.x)
  np.testing.assert_allclose(got.projection, want, rtol=1e-5, atol=1e-5)
