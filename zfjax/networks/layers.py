"""Pure building blocks of the convnet and its deconvnet. Arrays are NHWC.

Every function takes arrays and returns arrays, works under `jax.jit` and
`jax.vmap`, and holds no state.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from zfjax.networks import specs

_DIMS = ('NHWC', 'HWIO', 'NHWC')


def conv2d(x: jax.Array, kernel: jax.Array, bias: jax.Array, *, stride: int,
           padding: int, groups: int = 1) -> jax.Array:
  """Convolution (cross-correlation, as every framework computes it).

  x: (N, H, W, Cin); kernel: (k, k, Cin // groups, Cout); bias: (Cout,).
  Returns (N, Ho, Wo, Cout) with Ho = (H + 2 * padding - k) // stride + 1.
  Output channel o only sees input group o // (Cout // groups).
  """
  return lax.conv_general_dilated(
      x, kernel, (stride, stride), ((padding, padding), (padding, padding)),
      dimension_numbers=_DIMS, feature_group_count=groups) + bias


def conv2d_transpose(y: jax.Array, kernel: jax.Array, *, stride: int,
                     padding: int, groups: int, input_hw: tuple[int, int]
                     ) -> jax.Array:
  """The adjoint of `conv2d` (without bias): the deconvnet's filtering step.

  Filters the (N, Ho, Wo, Cout) map with the transposed filters: each filter
  flipped vertically and horizontally, input and output channels swapped.
  Returns (N, H, W, Cin) for the forward input size `input_hw`. Rows and
  columns that the forward stride skipped receive zeros.
  """
  k = kernel.shape[0]
  cin_g, cout = kernel.shape[2], kernel.shape[3]
  cout_g = cout // groups
  # (k, k, Cin/g, g, Cout/g) -> (k, k, Cout/g, g, Cin/g): swap in/out per group.
  flipped = kernel[::-1, ::-1].reshape(k, k, cin_g, groups, cout_g)
  flipped = flipped.transpose(0, 1, 4, 3, 2).reshape(k, k, cout_g,
                                                     groups * cin_g)
  pads = []
  for axis in range(2):
    covered = (y.shape[1 + axis] - 1) * stride + k
    tail = input_hw[axis] + 2 * padding - covered  # forward rows never read
    pads.append((k - 1 - padding, k - 1 - padding + tail))
  return lax.conv_general_dilated(
      y, flipped, (1, 1), pads, lhs_dilation=(stride, stride),
      dimension_numbers=_DIMS, feature_group_count=groups)


def relu(x: jax.Array) -> jax.Array:
  return jnp.maximum(x, 0)


def lrn(x: jax.Array, *, size: int = 5, k: float = 2.0, alpha: float = 1e-4,
        beta: float = 0.75) -> jax.Array:
  """Local response normalisation across maps (Krizhevsky et al. §3.3).

  b_i = a_i / (k + alpha * sum_{j=max(0, i-size//2)}^{min(C-1, i+size//2)}
  a_j^2) ** beta, with alpha not divided by size. x: (..., C).
  """
  half = size // 2
  # In float32 whatever the compute dtype: bfloat16's 8-bit mantissa would
  # round the small alpha * sum term away against k.
  sq = jnp.square(x.astype(jnp.float32))
  window = (1,) * (x.ndim - 1) + (size,)
  pads = ((0, 0),) * (x.ndim - 1) + ((half, half),)
  total = lax.reduce_window(sq, 0.0, lax.add, window, (1,) * x.ndim, pads)
  return (x / (k + alpha * total) ** beta).astype(x.dtype)


def lrn_fast(x: jax.Array, *, size: int = 5, k: float = 2.0,
             alpha: float = 1e-4, beta: float = 0.75) -> jax.Array:
  """`lrn` in fewer passes over memory: the same numbers to float rounding.

  The window sum over maps is `size` shifted slices of the zero-padded
  squares, and for beta = 0.75 (every spec's) the power is
  rsqrt(d) * sqrt(rsqrt(d)) = d ** -0.75; x: (..., C). The gradient is
  written out (the window sum is its own transpose), so forward and
  backward each read the maps fewer times than `lrn`'s `reduce_window`.
  Computed in float32 whatever x's dtype, as `lrn`.
  """
  return _lrn_fast(x.astype(jnp.float32), size, k, alpha, beta).astype(
      x.dtype)


def _window_sum(v: jax.Array, size: int) -> jax.Array:
  """Per map i the sum of maps i - size // 2 .. i + size // 2 (zero-padded)."""
  half, channels = size // 2, v.shape[-1]
  padded = jnp.pad(v, ((0, 0),) * (v.ndim - 1) + ((half, half),))
  total = padded[..., :channels]
  for i in range(1, size):
    total = total + padded[..., i:i + channels]
  return total


def _lrn_fast_parts(x, size, k, alpha, beta):
  d = k + alpha * _window_sum(jnp.square(x), size)
  scale = lax.rsqrt(d) * jnp.sqrt(lax.rsqrt(d)) if beta == 0.75 else (
      d ** -beta)
  return x * scale, (x, d, scale)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _lrn_fast(x, size, k, alpha, beta):
  return _lrn_fast_parts(x, size, k, alpha, beta)[0]


def _lrn_fast_bwd(size, k, alpha, beta, residuals, grad):
  # b_i = x_i d_i^-beta with d_i = k + alpha sum_{j near i} x_j^2, so
  # dL/dx_i = g_i d_i^-beta - 2 alpha beta x_i sum_{j near i} g_j x_j d_j^(-beta-1).
  del k
  x, d, scale = residuals
  spread = _window_sum(grad * x * scale / d, size)
  return (grad * scale - (2 * alpha * beta) * x * spread,)


_lrn_fast.defvjp(lambda x, *a: _lrn_fast_parts(x, *a), _lrn_fast_bwd)


def lrn_vjp(x: jax.Array, grad: jax.Array, *, size: int = 5, k: float = 2.0,
            alpha: float = 1e-4, beta: float = 0.75) -> jax.Array:
  """The gradient of `lrn` at its input x, applied to `grad` (..., C).

  What the backward pass of a network gives LRN (the gradient rules of
  `analyses.deconv`); computed in float32, returned in grad's dtype.
  """
  residuals = _lrn_fast_parts(x.astype(jnp.float32), size, k, alpha, beta)[1]
  return _lrn_fast_bwd(size, k, alpha, beta, residuals,
                       grad.astype(jnp.float32))[0].astype(grad.dtype)


def max_pool(x: jax.Array, *, window: int = 3, stride: int = 2,
             padding: tuple[int, int] = (0, 0)) -> jax.Array:
  """The pooled values of `max_pool_with_switches`, without the switches.

  x: (N, H, W, C), padded by `padding` = (before, after) cells on both
  spatial axes with -inf. Returns (N, Ho, Wo, C): one `lax.reduce_window`,
  for passes that need no switches (training, occlusion, top-k scans). The
  gradient is `unpool` at the switches (the first maximum of each window),
  as for `max_pool_with_switches`, which the differentiated forward
  computes and keeps (int8, a ninth of x's memory at stride 2): on the CPU
  that is several times faster than differentiating `lax.reduce_window`
  (XLA's select-and-scatter).
  """
  return _max_pool(x, window, stride, tuple(padding), x.shape[1:3])


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _max_pool(x, window, stride, padding, input_hw):
  del input_hw  # for the gradient
  return lax.reduce_window(
      x, -jnp.inf, lax.max, (1, window, window, 1),
      (1, stride, stride, 1), ((0, 0), padding, padding, (0, 0)))


def _max_pool_fwd(x, window, stride, padding, input_hw):
  del input_hw
  pool = functools.partial(max_pool_with_switches, window=window,
                           stride=stride, padding=padding)
  if jax.default_backend() != 'cpu':
    return pool(x)
  # XLA's CPU fusion would compute the switches again inside each of the
  # unpool's nine passes; a loop over the batch keeps them computed once.
  pooled, switches = lax.map(lambda image: pool(image[None]), x,
                             batch_size=_POOL_IMAGES_PER_LOOP)
  return pooled[:, 0], switches[:, 0]


_POOL_IMAGES_PER_LOOP = 8


def _max_pool_bwd(window, stride, padding, input_hw, switches, grad):
  return (unpool(grad, switches, input_hw=input_hw, window=window,
                 stride=stride, padding=padding),)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def _window_count(size: int, window: int, stride: int,
                  padding: tuple[int, int]) -> int:
  """Windows along an axis of `size` cells padded by (before, after): a
  pool's or a convolution's output size."""
  return (size + padding[0] + padding[1] - window) // stride + 1


def max_pool_with_switches(x: jax.Array, *, window: int = 3, stride: int = 2,
                           padding: tuple[int, int] = (0, 0)
                           ) -> tuple[jax.Array, jax.Array]:
  """Max-pooling that also returns where each maximum came from.

  x: (N, H, W, C), padded by `padding` = (before, after) cells on both
  spatial axes with -inf, so padding never wins. Returns (pooled, switches),
  both (N, Ho, Wo, C); switches are int8 positions kh * window + kw inside
  each window. Tie rule: the first maximum in row-major window order.
  Gradients flow to the switch position only.
  """
  n, h, w, c = x.shape
  ho = _window_count(h, window, stride, padding)
  wo = _window_count(w, window, stride, padding)
  lo, hi = padding
  xp = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)),
               constant_values=-jnp.inf)
  span_h, span_w = (ho - 1) * stride + 1, (wo - 1) * stride + 1
  # A running maximum over the window's cells in row-major order, replaced
  # only by a strictly larger value (or a first NaN, as `jnp.argmax`): one
  # fused pass, where argmax over the stacked candidates took 4x (CPU) and
  # dominated max-pooling's gradient.
  pooled = switches = None
  for kh in range(window):
    for kw in range(window):
      cell = xp[:, kh:kh + span_h:stride, kw:kw + span_w:stride, :]
      if pooled is None:
        pooled, switches = cell, jnp.zeros(cell.shape, jnp.int8)
        continue
      larger = (cell > pooled) | (jnp.isnan(cell) & ~jnp.isnan(pooled))
      pooled = jnp.where(larger, cell, pooled)
      switches = jnp.where(larger, jnp.int8(kh * window + kw), switches)
  return pooled, switches


def unpool(y: jax.Array, switches: jax.Array, *, input_hw: tuple[int, int],
           window: int = 3, stride: int = 2,
           padding: tuple[int, int] = (0, 0)) -> jax.Array:
  """Places each pooled value back at its switch position.

  y, switches: (N, Ho, Wo, C) as from `max_pool_with_switches`. Returns
  (N, H, W, C) zero everywhere but the switch positions; where overlapping
  windows chose the same cell their values add up (the adjoint of pooling).
  """
  h, w = input_hw
  ho, wo = y.shape[1], y.shape[2]
  out = jnp.zeros(y.shape[:1] + (h, w) + y.shape[3:], y.dtype)
  zero = jnp.zeros((), y.dtype)
  for kh in range(window):
    for kw in range(window):
      chosen = jnp.where(switches == kh * window + kw, y, zero)
      top, left = kh - padding[0], kw - padding[0]
      # Dilate by the stride and shift to the window offset; lax.pad crops
      # with negative pads, which only drops cells padding made (never chosen).
      out = out + lax.pad(chosen, zero, (
          (0, 0, 0),
          (top, h - top - (ho - 1) * stride - 1, stride - 1),
          (left, w - left - (wo - 1) * stride - 1, stride - 1),
          (0, 0, 0)))
  return out


def dropout(x: jax.Array, rate: float, rng: jax.Array) -> jax.Array:
  """Inverted dropout: zero with probability `rate`, scale the rest up."""
  keep = jax.random.bernoulli(rng, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)


def _adaptive_matrix(size: int, output_size: int) -> np.ndarray:
  """(output_size, size) float32: row i averages PyTorch's bin i."""
  matrix = np.zeros((output_size, size), np.float32)
  for i, (start, end) in enumerate(specs.adaptive_bins(size, output_size)):
    matrix[i, start:end] = 1.0 / (end - start)
  return matrix


def adaptive_avg_pool(x: jax.Array, output_size: int) -> jax.Array:
  """Average pooling of (N, H, W, C) to (N, S, S, C), S = `output_size`.

  Output cell (i, j) is the mean of input rows and columns in PyTorch's bins
  i and j (`specs.adaptive_bins`), so it equals torch's AdaptiveAvgPool2d
  for any H, W; with H = W = S it is the identity.
  """
  rows = jnp.asarray(_adaptive_matrix(x.shape[1], output_size), x.dtype)
  cols = jnp.asarray(_adaptive_matrix(x.shape[2], output_size), x.dtype)
  return jnp.einsum('ih,jw,nhwc->nijc', rows, cols, x)


def adaptive_avg_unpool(y: jax.Array, *, input_hw: tuple[int, int]
                        ) -> jax.Array:
  """The adjoint of `adaptive_avg_pool`: (N, S, S, C) -> (N, H, W, C).

  Each pooled value is spread evenly over the cells of its bin (divided by
  the bin's area); where bins overlap the shares add up.
  """
  rows = jnp.asarray(_adaptive_matrix(input_hw[0], y.shape[1]), y.dtype)
  cols = jnp.asarray(_adaptive_matrix(input_hw[1], y.shape[2]), y.dtype)
  return jnp.einsum('ih,jw,nijc->nhwc', rows, cols, y)
