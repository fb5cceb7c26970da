"""The streaming top-k scan and patch cropping against brute force."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zfjax.analyses import deconv
from zfjax.networks import models
from zfjax.networks import specs
from zfjax.analyses import topk
from zfjax.errors import ZfjaxError
from zfjax.networks.specs import Dense, Spec

SIZE = 32
SPEC = Spec('zfnet_small', tuple(l for l in specs.zfnet_small(10).layers
                                 if not isinstance(l, Dense)), SIZE)


class FakeBatch(NamedTuple):
  images: np.ndarray
  mask: np.ndarray
  index: np.ndarray


@pytest.fixture(scope='module')
def data():
  rng = np.random.default_rng(0)
  shapes = jax.eval_shape(
      lambda: models.init_params(jax.random.PRNGKey(0), SPEC))
  params = jax.tree_util.tree_map(
      lambda s: jnp.asarray(rng.normal(size=s.shape).astype(np.float32)
                            * np.sqrt(2.0 / np.prod(s.shape[:-1]))), shapes)
  images = (60 * rng.normal(size=(23, SIZE, SIZE, 3))).astype(np.float32)
  # Split positions in stream order are not sorted, as after a shuffle.
  index = rng.permutation(1000)[:23]
  # The forward pass the scan runs (no switches): the reference checks the
  # scan's bookkeeping, not float rounding between forward formulations.
  trace = jax.jit(models.forward_trace, static_argnums=2,
                  static_argnames='switches')(
                      params, jnp.asarray(images), SPEC, switches=False)[1]
  return params, images, index, trace


def batches(images, index, batch_size):
  """Fixed-size batches, the last padded with garbage and masked off."""
  for start in range(0, len(images), batch_size):
    im, ix = images[start:start + batch_size], index[start:start + batch_size]
    pad = batch_size - len(im)
    yield FakeBatch(
        np.concatenate([im, 1e4 * np.ones((pad,) + im.shape[1:], im.dtype)]),
        np.arange(batch_size) < len(im),
        np.concatenate([ix, -np.ones(pad, ix.dtype)]))


def brute_force_top(acts, index, k):
  """Per map: each image's max and its first argmax, sorted by value
  descending, stable in stream order, images where the map never exceeds
  zero left out; slots past those are empty."""
  n, h, w, c = acts.shape
  flat = acts.reshape(n, h * w, c)
  best, where = flat.max(axis=1), flat.argmax(axis=1)
  out = {key: np.zeros((c, k), dtype) for key, dtype in
         [('value', np.float32), ('index', np.int64), ('y', np.int32),
          ('x', np.int32)]}
  out['value'][:], out['index'][:] = -np.inf, -1
  for ch in range(c):
    fired = [i for i in range(n) if best[i, ch] > 0]
    order = sorted(fired, key=lambda i: -best[i, ch])[:k]
    m = len(order)
    out['value'][ch, :m] = best[order, ch]
    out['index'][ch, :m] = index[order]
    out['y'][ch, :m], out['x'][ch, :m] = np.divmod(where[order, ch], w)
  return out


@pytest.mark.parametrize('k,batch_size', [(9, 5), (30, 8)])
def test_scan_equals_brute_force_sort(data, k, batch_size):
  params, images, index, trace = data
  layers = ('conv1', 'conv3', 'conv5')
  top = topk.scan(params, SPEC, batches(images, index, batch_size), layers, k)
  assert set(top) == set(layers)
  for layer in layers:
    want = brute_force_top(np.asarray(trace.activations[layer]), index, k)
    got = top[layer]
    # The same float32 forward runs on other batch sizes: values may differ
    # in the last bits, so near-ties may swap; compare values with a
    # tolerance and identities where the values are well separated.
    np.testing.assert_allclose(got.value, want['value'], rtol=1e-5, atol=1e-6)
    finite = np.where(want['index'] < 0, -1e9, want['value'])
    gaps = np.abs(np.diff(finite, axis=1, prepend=1e9, append=-1e9))
    clear = (np.minimum(gaps[:, :-1], gaps[:, 1:]) > 1e-4) | (
        want['index'] < 0)
    assert clear.mean() > 0.5
    for key in ('index', 'y', 'x'):
      np.testing.assert_array_equal(getattr(got, key)[clear],
                                    want[key][clear], err_msg=key)
    assert got.index.dtype == np.int64


def test_ties_go_to_the_image_seen_first_and_silent_maps_stay_empty():
  top = topk._empty(3, 3)  # pylint: disable=protected-access
  acts = jnp.ones((4, 2, 2, 3)).at[1, 1, 0, 0].set(5.0)
  acts = acts.at[2, :, :, 1].set(0.0).at[:, :, :, 2].set(-1.0)
  mask = jnp.array([True, True, True, False])
  top = topk.merge(top, acts, mask, jnp.array([7, 3, 9, -1]))
  np.testing.assert_array_equal(top.index, [[3, 7, 9], [7, 3, -1],
                                            [-1, -1, -1]])
  top = topk.merge(top, jnp.ones((4, 2, 2, 3)).at[..., 2].set(0.0),
                   jnp.ones(4, bool), jnp.array([1, 2, 4, 5]))
  np.testing.assert_array_equal(top.index, [[3, 7, 9], [7, 3, 1],
                                            [-1, -1, -1]])
  np.testing.assert_array_equal(top.value[:2], [[5, 1, 1], [1, 1, 1]])
  assert np.all(np.isneginf(top.value[2]))
  np.testing.assert_array_equal(top.y[0], [1, 0, 0])


def test_patch_windows_hold_the_receptive_field_inside_the_image():
  rng = np.random.default_rng(1)
  for layer in SPEC.conv_names:
    h, w, _ = specs.layer_shapes(SPEC, SIZE)[layer]
    rf = specs.receptive_fields(SPEC)[layer]
    side = min(rf.size, SIZE)
    y, x = rng.integers(0, h, 20), rng.integers(0, w, 20)
    y[0], x[0], y[1], x[1] = 0, 0, h - 1, w - 1  # both corners
    windows = topk.patch_windows(SPEC, layer, y, x, SIZE)
    for (y0, x0, y1, x1), i, j in zip(windows, y, x):
      assert 0 <= y0 and y1 <= SIZE and 0 <= x0 and x1 <= SIZE
      assert y1 - y0 == side and x1 - x0 == side
      b0, c0, b1, c1 = specs.receptive_box(SPEC, layer, int(i), int(j), SIZE)
      assert y0 <= b0 and b1 <= y1 and x0 <= c0 and c1 <= x1
      if rf.size <= SIZE and b1 - b0 == rf.size:  # unclipped: exactly it
        assert (y0, y1) == (b0, b1)
  images = np.arange(2 * 5 * 5).reshape(2, 5, 5, 1)
  np.testing.assert_array_equal(
      topk.crop(images, np.array([[0, 2, 3, 5], [1, 1, 4, 4]])),
      [images[0, 0:3, 2:5], images[1, 1:4, 1:4]])


def recording_loader(images, index):
  """An image loader by split index that records what it is asked; also
  the position of each index in `images` and the display images."""
  position = {int(i): n for n, i in enumerate(index)}
  display = np.clip(images + 128, 0, 255).astype(np.uint8)
  requests = []

  def load(split_indices):
    requests.append(np.asarray(split_indices))
    rows = [position[int(i)] for i in split_indices]
    return images[rows], display[rows]

  return load, requests, position, display


def test_top_patches_crop_whole_projections_and_image_patches(data):
  params, images, index, _ = data
  top = topk.scan(params, SPEC, batches(images, index, 8), ['conv2'],
                  4)['conv2']
  load, requests, position, display = recording_loader(images, index)
  channels = [3, 0, 17]
  got = topk.top_patches(params, SPEC, 'conv2', top, channels, load,
                         image_size=SIZE, chunk_size=3, load_size=5)
  # Loads of at most load_size, in increasing image index: one sweep, each
  # image once however many maps list it.
  asked = np.concatenate(requests)
  assert max(map(len, requests)) <= 5 and np.all(np.diff(asked) > 0)
  listed = top.index[channels].ravel()
  assert asked.tolist() == sorted(set(listed[listed >= 0].tolist()))
  side = min(specs.receptive_fields(SPEC)['conv2'].size, SIZE)
  assert got.projections.shape == (3, 4, side, side, 3)
  assert got.patches.shape == (3, 4, side, side, 3)
  for m, ch in enumerate(channels):
    np.testing.assert_array_equal(got.index[m], top.index[ch])
    rows = [position[int(i)] for i in top.index[ch]]
    full = np.asarray(deconv.project(
        params, models.forward_trace(params, jnp.asarray(images[rows]),
                                     SPEC)[1],
        SPEC, 'conv2', np.full(4, ch), top.y[ch], top.x[ch],
        image_size=SIZE))
    for j in range(4):
      # The crop holds the whole projection: nothing lies outside the box.
      np.testing.assert_allclose(np.abs(got.projections[m, j]).sum(),
                                 np.abs(full[j]).sum(), rtol=1e-4)
      y0, x0, y1, x1 = specs.receptive_box(SPEC, 'conv2', int(top.y[ch, j]),
                                           int(top.x[ch, j]), SIZE)
      oy, ox = y0 - got.windows[m, j, 0], x0 - got.windows[m, j, 1]
      np.testing.assert_array_equal(
          got.patches[m, j, oy:oy + y1 - y0, ox:ox + x1 - x0],
          display[rows[j], y0:y1, x0:x1])
      np.testing.assert_allclose(
          got.projections[m, j, oy:oy + y1 - y0, ox:ox + x1 - x0],
          full[j, y0:y1, x0:x1], atol=1e-4 * np.abs(full[j]).max())


def test_unfilled_slots_load_nothing_and_stay_blank(data):
  params, images, _, _ = data
  top = topk.TopActivations(np.array([[2.0, -np.inf]], np.float32),
                            np.array([[4, -1]]), np.zeros((1, 2), np.int32),
                            np.zeros((1, 2), np.int32))
  requested = []

  def load(ix):
    requested.extend(ix.tolist())
    return images[:len(ix)], np.zeros(images[:len(ix)].shape, np.uint8)

  got = topk.top_patches(params, SPEC, 'conv1', top, [0], load,
                         image_size=SIZE)
  assert requested == [4]
  assert np.all(got.patches[0, 1] == 128) and np.all(got.projections[0, 1] == 0)
  assert np.all(got.patches[0, 0] == 0)  # the loaded image's pixels
  with pytest.raises(ZfjaxError, match='maps'):
    topk.top_patches(params, SPEC, 'conv1', top, [1], load, image_size=SIZE)
  with pytest.raises(ZfjaxError, match='pool2'):
    topk.scan(params, SPEC, [], ['pool2'])
  with pytest.raises(ZfjaxError, match='conv7'):
    topk.scan(params, SPEC, [], ['conv7'])


def test_project_tops_loads_each_image_once_for_every_layer(data):
  """Several layers in one sweep: each image listed by any map of any
  layer is loaded once, in increasing index, and every crop is that of
  deconv.project on the image alone; scan_with_maxima's maxima are the
  maps' maxima."""
  params, images, index, trace = data
  layers = ('conv1', 'conv3', 'conv5')
  top, maxima = topk.scan_with_maxima(params, SPEC, batches(images, index, 8),
                                      layers, 3)
  order = np.argsort(index)
  assert maxima.index.tolist() == sorted(index.tolist())
  for layer in layers:
    np.testing.assert_allclose(
        maxima.values[layer],
        np.asarray(trace.activations[layer]).max(axis=(1, 2))[order],
        rtol=1e-5, atol=1e-5)
  load, requests, position, display = recording_loader(images, index)
  channels = {'conv1': [0, 5], 'conv3': [2], 'conv5': [1, 7, 3]}
  got = topk.project_tops(params, SPEC, top, channels, load, image_size=SIZE,
                          chunk_size=4, load_size=6)
  listed = np.concatenate([top[l].index[c].ravel()
                           for l, c in channels.items()])
  assert np.concatenate(requests).tolist() == sorted(
      set(listed[listed >= 0].tolist()))
  assert max(map(len, requests)) <= 6
  for layer, chans in channels.items():
    for m, ch in enumerate(chans):
      for j in np.flatnonzero(top[layer].index[ch] >= 0):
        n = position[int(top[layer].index[ch, j])]
        y, x = int(top[layer].y[ch, j]), int(top[layer].x[ch, j])
        full = np.asarray(deconv.project(
            params, models.forward_trace(params, jnp.asarray(
                images[n:n + 1]), SPEC)[1], SPEC, layer, [ch], [y], [x],
            image_size=SIZE))[0]
        np.testing.assert_allclose(np.abs(got[layer].projections[m, j]).sum(),
                                   np.abs(full).sum(), rtol=1e-4)
        y0, x0, y1, x1 = specs.receptive_box(SPEC, layer, y, x, SIZE)
        oy, ox = y0 - got[layer].windows[m, j, 0], x0 - got[layer].windows[
            m, j, 1]
        np.testing.assert_allclose(
            got[layer].projections[m, j, oy:oy + y1 - y0, ox:ox + x1 - x0],
            full[y0:y1, x0:x1], atol=1e-4 * np.abs(full).max())
        np.testing.assert_array_equal(
            got[layer].patches[m, j, oy:oy + y1 - y0, ox:ox + x1 - x0],
            display[n, y0:y1, x0:x1])


def test_project_tops_by_rule_loads_once_for_every_rule(data):
  """Several rules from one sweep: each image loaded once for all, the
  gradient rule's crops the jax.grad of the activation with respect to the
  image alone, the deconvnet's those of project_tops, the patches shared."""
  params, images, index, _ = data
  layers = ('conv2', 'conv5')
  top = topk.scan(params, SPEC, batches(images, index, 8), layers, 2)
  load, requests, position, _ = recording_loader(images, index)
  channels = {'conv2': [1, 6], 'conv5': [4]}
  got = topk.project_tops_by_rule(
      params, SPEC, top, channels, load, rules=('deconvnet', 'gradient'),
      image_size=SIZE, chunk_size=3, load_size=6)
  listed = np.concatenate([top[l].index[c].ravel()
                           for l, c in channels.items()])
  assert np.concatenate(requests).tolist() == sorted(
      set(listed[listed >= 0].tolist()))
  alone = topk.project_tops(params, SPEC, top, channels, load,
                            image_size=SIZE, chunk_size=3, load_size=6)
  for layer, chans in channels.items():
    np.testing.assert_array_equal(got['deconvnet'][layer].projections,
                                  alone[layer].projections)
    assert np.shares_memory(got['gradient'][layer].patches,
                            got['deconvnet'][layer].patches)
    for m, ch in enumerate(chans):
      for j in np.flatnonzero(top[layer].index[ch] >= 0):
        n = position[int(top[layer].index[ch, j])]
        y, x = int(top[layer].y[ch, j]), int(top[layer].x[ch, j])
        grad = np.asarray(jax.grad(lambda im, l=layer, c=ch, y=y, x=x: (
            models.forward_trace(params, im[None], SPEC)[1]
            .activations[l][0, y, x, c]))(jnp.asarray(images[n])))
        y0, x0, y1, x1 = specs.receptive_box(SPEC, layer, y, x, SIZE)
        win = got['gradient'][layer].windows[m, j]
        crop = got['gradient'][layer].projections[m, j]
        oy, ox = y0 - win[0], x0 - win[1]
        np.testing.assert_allclose(
            crop[oy:oy + y1 - y0, ox:ox + x1 - x0], grad[y0:y1, x0:x1],
            atol=1e-4 * np.abs(grad).max())
        np.testing.assert_allclose(np.abs(crop).sum(), np.abs(grad).sum(),
                                   rtol=1e-4)
