"""Building blocks against brute-force numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zfjax.networks import layers


def np_conv(x, kernel, bias, stride, padding):
  """Direct loop cross-correlation, NHWC / HWIO, dense."""
  n, h, w, cin = x.shape
  k, _, _, cout = kernel.shape
  xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  ho = (h + 2 * padding - k) // stride + 1
  wo = (w + 2 * padding - k) // stride + 1
  out = np.zeros((n, ho, wo, cout))
  for i in range(ho):
    for j in range(wo):
      patch = xp[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
      out[:, i, j, :] = np.einsum('nhwc,hwco->no', patch, kernel)
  return out + bias


def np_lrn(x, size=5, k=2.0, alpha=1e-4, beta=0.75):
  out = np.zeros_like(x)
  c = x.shape[-1]
  for i in range(c):
    lo, hi = max(0, i - size // 2), min(c - 1, i + size // 2)
    total = np.sum(x[..., lo:hi + 1] ** 2, axis=-1)
    out[..., i] = x[..., i] / (k + alpha * total) ** beta
  return out


def np_pool(x, window, stride, padding):
  """Max-pool by explicit windows; switch = first max in row-major order."""
  n, h, w, c = x.shape
  lo, hi = padding
  ho = (h + lo + hi - window) // stride + 1
  wo = (w + lo + hi - window) // stride + 1
  pooled = np.zeros((n, ho, wo, c))
  switch = np.zeros((n, ho, wo, c), int)
  for b in range(n):
    for i in range(ho):
      for j in range(wo):
        for ch in range(c):
          best, best_k = -np.inf, -1
          for kh in range(window):
            for kw in range(window):
              r, s = i * stride + kh - lo, j * stride + kw - lo
              if 0 <= r < h and 0 <= s < w and x[b, r, s, ch] > best:
                best, best_k = x[b, r, s, ch], kh * window + kw
          pooled[b, i, j, ch], switch[b, i, j, ch] = best, best_k
  return pooled, switch


def np_unpool(y, switch, hw, window, stride, padding):
  n, ho, wo, c = y.shape
  out = np.zeros((n,) + hw + (c,))
  for b in range(n):
    for i in range(ho):
      for j in range(wo):
        for ch in range(c):
          kh, kw = divmod(switch[b, i, j, ch], window)
          out[b, i * stride + kh - padding[0], j * stride + kw - padding[0],
              ch] += y[b, i, j, ch]
  return out


def test_conv2d_matches_loop():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
  kern = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
  bias = rng.normal(size=(4,)).astype(np.float32)
  got = layers.conv2d(x, kern, bias, stride=2, padding=1)
  np.testing.assert_allclose(got, np_conv(x, kern, bias, 2, 1), rtol=1e-4,
                             atol=1e-4)


def test_grouped_conv_is_two_separate_convs():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 7, 7, 6)).astype(np.float32)
  kern = rng.normal(size=(3, 3, 3, 8)).astype(np.float32)
  bias = rng.normal(size=(8,)).astype(np.float32)
  got = layers.conv2d(x, kern, bias, stride=1, padding=1, groups=2)
  first = np_conv(x[..., :3], kern[..., :4], bias[:4], 1, 1)
  second = np_conv(x[..., 3:], kern[..., 4:], bias[4:], 1, 1)
  np.testing.assert_allclose(got, np.concatenate([first, second], -1),
                             rtol=1e-4, atol=1e-4)


# Size 10 at padding 1 leaves a row the forward never reads; stride 4 with
# a 3-tap kernel leaves input cells that no tap reaches.
@pytest.mark.parametrize('stride,padding,size,groups,maps,k', [
    (1, 1, 8, 1, 4, 3), (2, 0, 11, 1, 4, 3), (2, 1, 10, 2, 4, 3),
    (4, 2, 17, 1, 4, 5), (2, 0, 11, 1, 16, 3), (2, 1, 10, 1, 16, 5),
    (4, 2, 17, 1, 16, 3), (2, 0, 13, 1, 16, 7)])
def test_conv2d_transpose_is_the_adjoint(stride, padding, size, groups, maps,
                                         k):
  # <conv(x), y> == <x, conv^T(y)> for every x, y defines the transpose.
  rng = np.random.default_rng(2)
  x = rng.normal(size=(2, size, size, maps)).astype(np.float32)
  kern = rng.normal(size=(k, k, maps // groups, 6)).astype(np.float32)
  fwd = layers.conv2d(x, kern, np.zeros(6, np.float32), stride=stride,
                      padding=padding, groups=groups)
  y = rng.normal(size=fwd.shape).astype(np.float32)
  back = layers.conv2d_transpose(y, kern, stride=stride, padding=padding,
                                 groups=groups, input_hw=(size, size))
  assert back.shape == x.shape
  np.testing.assert_allclose(np.vdot(fwd, y), np.vdot(x, back), rtol=1e-4)


def test_conv2d_transpose_of_one_unit_is_the_flipped_filter():
  # A single 1 in the output map projects to the filter itself, placed at the
  # unit's input window: the deconvnet's "transposed filter" step.
  kern = np.random.default_rng(3).normal(size=(3, 3, 2, 1)).astype(np.float32)
  y = np.zeros((1, 4, 4, 1), np.float32)
  y[0, 2, 1, 0] = 1.0
  back = np.asarray(layers.conv2d_transpose(
      y, kern, stride=2, padding=0, groups=1, input_hw=(9, 9)))
  expect = np.zeros((1, 9, 9, 2))
  expect[0, 4:7, 2:5, :] = kern[..., 0]
  np.testing.assert_allclose(back, expect, atol=1e-6)


def test_lrn_matches_channel_loop():
  x = np.random.default_rng(4).normal(scale=30, size=(2, 3, 3, 11))
  x = x.astype(np.float32)
  np.testing.assert_allclose(layers.lrn(x), np_lrn(x.astype(np.float64)),
                             rtol=1e-5)


@pytest.mark.parametrize('size,padding', [(11, (0, 0)), (10, (0, 1)),
                                          (8, (1, 1))])
def test_max_pool_switches_and_unpool_match_brute_force(size, padding):
  rng = np.random.default_rng(5)
  # Few distinct integers: many ties, so the tie rule is exercised.
  x = rng.integers(0, 4, size=(2, size, size, 3)).astype(np.float32)
  pooled, switches = layers.max_pool_with_switches(x, window=3, stride=2,
                                                   padding=padding)
  want_pooled, want_switch = np_pool(x, 3, 2, padding)
  np.testing.assert_array_equal(pooled, want_pooled)
  np.testing.assert_array_equal(switches, want_switch)
  y = rng.normal(size=pooled.shape).astype(np.float32)
  got = layers.unpool(y, switches, input_hw=(size, size), window=3, stride=2,
                      padding=padding)
  np.testing.assert_allclose(
      got, np_unpool(y, want_switch, (size, size), 3, 2, padding), atol=1e-6)


def test_pool_and_blocks_work_under_jit_and_vmap():
  x = np.random.default_rng(6).normal(size=(4, 9, 9, 2)).astype(np.float32)
  pool = lambda v: layers.max_pool_with_switches(v, padding=(0, 1))  # noqa
  batched = jax.jit(pool)(x)
  mapped = jax.vmap(lambda v: jax.tree.map(lambda a: a[0], pool(v[None])))(x)
  for a, b in zip(batched, mapped):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(jax.jit(layers.lrn)(x), np_lrn(x), rtol=1e-5)


def test_dropout_rate_and_scale():
  x = jnp.ones((200, 500))
  y = np.asarray(layers.dropout(x, 0.5, jax.random.PRNGKey(0)))
  kept = y != 0
  assert abs(kept.mean() - 0.5) < 0.01
  np.testing.assert_allclose(y[kept], 2.0)


def test_max_pool_switches_point_at_the_first_nan_like_max_pooling():
  # XLA's max-pooling propagates NaN; the switch must point at a NaN then
  # (the first one, as numpy's argmax), so a NaN reaches the deconvnet.
  x = np.zeros((1, 5, 5, 1), np.float32)
  x[0, 1, 2, 0] = x[0, 2, 1, 0] = np.nan
  x[0, 0, 0, 0] = 5.0
  pooled, switches = layers.max_pool_with_switches(x, window=3, stride=2)
  want = jax.lax.reduce_window(x, -np.inf, jax.lax.max, (1, 3, 3, 1),
                               (1, 2, 2, 1), 'VALID')
  np.testing.assert_array_equal(pooled, want)  # NaN == NaN here
  windows = np.stack([x[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3, 0].ravel()
                      for i in range(2) for j in range(2)])
  nan = np.isnan(windows)
  first = np.where(nan.any(axis=1), np.argmax(nan, axis=1), np.argmax(
      windows == np.nanmax(windows, axis=1, keepdims=True), axis=1))
  assert list(first) == [5, 3, 1, 0]  # NaN beats the 5 in the first window
  np.testing.assert_array_equal(switches.ravel(), first)
