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

from zfjax import specs
from zfjax import xla_cpu

_DIMS = ('NHWC', 'HWIO', 'NHWC')


def conv2d(x: jax.Array, kernel: jax.Array, bias: jax.Array, *, stride: int,
           padding: int, groups: int = 1) -> jax.Array:
  """Convolution (cross-correlation, as every framework computes it).

  x: (N, H, W, Cin); kernel: (k, k, Cin // groups, Cout); bias: (Cout,).
  Returns (N, Ho, Wo, Cout) with Ho = (H + 2 * padding - k) // stride + 1.
  Output channel o only sees input group o // (Cout // groups).
  """
  return _conv(x, kernel, stride, padding, groups) + bias


def conv2d_fast(x: jax.Array, kernel: jax.Array, bias: jax.Array, *,
                stride: int, padding: int, groups: int = 1) -> jax.Array:
  """`conv2d` computed through matrix products where that is faster: on the
  CPU, when XLA takes its convolutions from YNNPACK.

  The same numbers as `conv2d` to float rounding (the same sums in another
  order). jaxlib 0.10's CPU backend takes convolutions from YNNPACK unless
  told otherwise (`xla_cpu`), and YNNPACK computes kernel gradients well
  below its matrix-product rate: ZFNet's at batch 32 took 213-230, 105-125,
  40-49, 60-77 and 41-51 ms for conv1-5, through products 62-72, 86-92,
  29-36, 44-48 and 27-34 ms (2-core AVX-512 CPU). So the kernel gradient
  is patches(x)^T @ grad, (k k Cin, N Ho Wo) @ (N Ho Wo, Cout), a few
  images at a time (`_by_images`). A strided convolution over many
  channels (ZFNet's conv2) also runs forward as patches(x) @ kernel:
  YNNPACK's ran at 0.5-0.65x. Small convolutions (under
  `PRODUCTS_FROM_MULTIPLY_ADDS` multiply-adds) stay `conv2d`, and so does
  everything on a GPU or TPU, whose convolution libraries are fast and
  where the patches, k^2 copies of the input, would cost memory. Grouped
  convolutions are `conv2d` everywhere. So is everything when XLA takes
  its CPU convolutions from Eigen (`xla_cpu.use_eigen_convolutions()`, as
  the entry points set): Eigen's matched or beat the products on every
  ZFNet layer, and the step took 0.94-0.97x the time without them.
  """
  if (groups != 1 or not _ynnpack_convolutions()
      or _multiply_adds(x.shape, kernel.shape, stride, padding)
      < PRODUCTS_FROM_MULTIPLY_ADDS):
    return conv2d(x, kernel, bias, stride=stride, padding=padding,
                  groups=groups)
  return _conv_by_products(x, kernel, stride, padding) + bias


def _ynnpack_convolutions() -> bool:
  """Whether the program being traced runs its convolutions on the CPU
  through YNNPACK: where the products and the transposes by phases pay."""
  return jax.default_backend() == 'cpu' and xla_cpu.ynn_convolutions()


# Below this size the convolution is as fast or faster (measured on the
# 2-core CPU: zfnet_small at 56 px, batch 32, whose layers have 0.1-0.3 G
# multiply-adds, trained at 0.72x its speed through the products; ZFNet's
# layers at 224 px, batch 32, have 4.8-13 G and gain 1.2-3.9x).
PRODUCTS_FROM_MULTIPLY_ADDS = 1e9


def _multiply_adds(x_shape, kernel_shape, stride, padding) -> int:
  n, h, w, _ = x_shape
  k, _, cin, cout = kernel_shape
  ho = _window_count(h, k, stride, (padding, padding))
  wo = _window_count(w, k, stride, (padding, padding))
  return n * ho * wo * k * k * cin * cout


def _conv(x, kernel, stride, padding, groups=1):
  return lax.conv_general_dilated(
      x, kernel, (stride, stride), ((padding, padding), (padding, padding)),
      dimension_numbers=_DIMS, feature_group_count=groups)


def patches(x: jax.Array, k: int, stride: int, padding: int) -> jax.Array:
  """The k x k windows of x that a convolution reads: x (N, H, W, C) ->
  (N, Ho, Wo, k * k * C), ordered (row, column, channel) like an HWIO
  kernel reshaped to (k * k * C, Cout)."""
  n, h, w, c = x.shape
  ho = _window_count(h, k, stride, (padding, padding))
  wo = _window_count(w, k, stride, (padding, padding))
  xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  return jnp.concatenate([
      lax.slice(xp, (0, i, j, 0),
                (n, i + stride * (ho - 1) + 1, j + stride * (wo - 1) + 1, c),
                (1, stride, stride, 1))
      for i in range(k) for j in range(k)], axis=-1)


def patches_by_tap(x: jax.Array, k: int, stride: int,
                   padding: int) -> jax.Array:
  """`patches` transposed, from maps first: x (N, C, H, W) -> (k * k * C,
  N * Ho * Wo), rows ordered (row, column, channel) like an HWIO kernel
  reshaped to (k * k * C, Cout), columns (image, output row, output column).

  The layout of the kernel gradient's product, (k k C, N Ho Wo) @
  (N Ho Wo, Cout): ZFNet's conv1 kernel gradient took 72 ms this way
  against 119 ms contracting `patches` over its first axis (batch 32, 2-core
  AVX-512 CPU). From (N, H, W, C) maps, XLA fused the transpose into each of
  the k * k slices, which then read the maps a value at a time (ZFNet's
  conv2: 25 slices of 1.5 ms per image)."""
  n, c, h, w = x.shape
  ho = _window_count(h, k, stride, (padding, padding))
  wo = _window_count(w, k, stride, (padding, padding))
  xp = jnp.pad(x, ((0, 0), (0, 0), (padding, padding),
                   (padding, padding))).transpose(1, 0, 2, 3)
  return jnp.stack([
      lax.slice(xp, (0, 0, i, j),
                (c, n, i + stride * (ho - 1) + 1, j + stride * (wo - 1) + 1),
                (1, 1, stride, stride))
      for i in range(k) for j in range(k)]).reshape(k * k * c, -1)


def _forward_by_product(kernel, stride) -> bool:
  # Measured on 2-core CPUs: for strided convolutions the product wins over
  # many input maps (ZFNet conv2: 1.5x AVX2, 1.8x AVX-512); the convolution
  # wins for 3-map images (conv1: 3x AVX2, 1.8x AVX-512) and at stride 1
  # (conv3-5, where it reaches 400 GFLOP/s).
  return stride > 1 and kernel.shape[2] >= 16


def _conv_by_products_fwd(x, kernel, stride, padding):
  if _forward_by_product(kernel, stride):
    def product(v):
      return lax.dot_general(
          patches(v, kernel.shape[0], stride, padding),
          kernel.reshape(-1, kernel.shape[-1]), (((3,), (0,)), ((), ())),
          preferred_element_type=jnp.float32).astype(x.dtype)

    y = _by_images(product, _images_per_product(x.shape, kernel.shape,
                                                stride, padding), x)
    y = y.reshape((-1,) + y.shape[2:])
  else:
    y = _conv(x, kernel, stride, padding)
  return y, (x, kernel)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_by_products(x, kernel, stride, padding):
  return _conv_by_products_fwd(x, kernel, stride, padding)[0]


def _conv_by_products_bwd(stride, padding, residuals, grad):
  x, kernel = residuals
  k, _, cin, cout = kernel.shape

  def kernel_gradient(v, g):
    return lax.dot_general(
        patches_by_tap(v, k, stride, padding), g.reshape(-1, cout),
        (((1,), (0,)), ((), ())), preferred_element_type=jnp.float32)

  # Maps first, outside the loop: a loop's inputs are materialized, so each
  # image's slices read its maps in order (see `patches_by_tap`).
  dkernel = _by_images(kernel_gradient, _images_per_product(
      x.shape, kernel.shape, stride, padding), x.transpose(0, 3, 1, 2), grad,
                       accumulate=True)
  # The input gradient is the transposed convolution (by phases where that
  # is faster: ZFNet's conv2 1.5x).
  dx = conv2d_transpose(grad, kernel, stride=stride, padding=padding,
                        groups=1, input_hw=x.shape[1:3]).astype(x.dtype)
  return dx, dkernel.reshape(kernel.shape).astype(kernel.dtype)


def _by_images(fn, size: int, *arrays, accumulate: bool = False):
  """fn over the batch `size` images at a time (size divides N), in a loop:
  arrays (N, ...) -> fn's outputs stacked, (N / size, ...), or with
  `accumulate` their sum (summed in the loop: stacking them and summing
  after cost ZFNet's conv2 kernel gradient 60 ms more)."""
  groups = [a.reshape((-1, size) + a.shape[1:]) for a in arrays]
  if not accumulate:
    return lax.map(lambda group: fn(*group), tuple(groups))
  # The first group's sum starts the total: it has the type (device-varying
  # inside `shard_map`) that the loop's carry must keep.
  first = fn(*(g[0] for g in groups))
  return lax.scan(lambda total, group: (total + fn(*group), None), first,
                  tuple(g[1:] for g in groups))[0]


def _images_per_product(x_shape, kernel_shape, stride, padding) -> int:
  """The most images, dividing N, whose patches fit
  `PATCH_BYTES_PER_PRODUCT`, and at least one.

  A group's patches stay in the CPU's cache for the product that reads
  them, where the whole batch's (ZFNet's conv2 at batch 32: 208 MB) went to
  memory and back: conv2's forward 1.9x, conv1's and conv2's kernel
  gradients 1.8x and 1.5x as fast (2-core AVX-512 CPU)."""
  n = x_shape[0]
  per_image = 4 * _multiply_adds((1,) + tuple(x_shape[1:]), kernel_shape,
                                 stride, padding) // kernel_shape[3]
  most = max(1, min(n, PATCH_BYTES_PER_PRODUCT // per_image))
  return max(d for d in range(1, most + 1) if n % d == 0)


# Measured on the 2-core AVX-512 CPU, ZFNet at batch 32: one image at a time
# for conv1 and conv2 (7 MB of patches each), four for conv3-5 (1.6-2.3 MB
# each; kernel gradients 1.1-1.3x as fast as one or 32 at a time). The step
# took the same time with budgets of 4 and 24 MiB. Counted in float32.
PATCH_BYTES_PER_PRODUCT = 10 * 2**20


_conv_by_products.defvjp(_conv_by_products_fwd, _conv_by_products_bwd)


def conv2d_transpose(y: jax.Array, kernel: jax.Array, *, stride: int,
                     padding: int, groups: int, input_hw: tuple[int, int]
                     ) -> jax.Array:
  """The adjoint of `conv2d` (without bias): the deconvnet's filtering step.

  Filters the (N, Ho, Wo, Cout) map with the transposed filters: each filter
  flipped vertically and horizontally, input and output channels swapped.
  Returns (N, H, W, Cin) for the forward input size `input_hw`. Rows and
  columns that the forward stride skipped receive zeros.
  """
  if (stride > 1 and groups == 1 and kernel.shape[2] >= 16
      and _ynnpack_convolutions()):
    return _conv_transpose_by_phases(y, kernel, stride, padding, input_hw)
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


def _conv_transpose_by_phases(y, kernel, stride, padding, input_hw):
  """`conv2d_transpose` (groups 1) as stride x stride stride-1 ones.

  Padded input cell stride * a + p (per axis) receives y[a - m] through
  kernel tap p + stride * m only: each phase (p, q) is a plain transposed
  convolution with the taps kernel[p::stride, q::stride], and the phases
  interleave into the padded input. YNNPACK's convolution handles these
  stride-1 ones far better than one convolution of the stride-dilated y
  (ZFNet's conv2, 96 maps out: 1.5x); with few maps out (conv1's 3) it is
  the other way round, so those stay dilated. Eigen's runs the dilated one
  faster (conv2: 78 against 88 ms at batch 32).
  """
  n = y.shape[0]
  cin = kernel.shape[2]
  h, w = input_hw
  cells = -(-max(h, w) // stride) + 1  # phase length covering the padding
  zero = jnp.zeros((), y.dtype)
  rows = []
  for p in range(stride):
    phases = []
    for q in range(stride):
      taps = kernel[p::stride, q::stride]
      kp, kq = taps.shape[:2]
      if kp == 0 or kq == 0:
        phase = jnp.zeros((n, cells, cells, cin), y.dtype)
      else:
        phase = lax.conv_general_dilated(
            y, taps[::-1, ::-1].transpose(0, 1, 3, 2), (1, 1),
            ((kp - 1, kp - 1), (kq - 1, kq - 1)), dimension_numbers=_DIMS)
        # Cut or zero-extend to the common phase length.
        phase = lax.pad(phase, zero, ((0, 0, 0),
                                      (0, cells - phase.shape[1], 0),
                                      (0, cells - phase.shape[2], 0),
                                      (0, 0, 0)))
      phases.append(phase)
    rows.append(jnp.stack(phases, axis=3))
  padded = jnp.stack(rows, axis=2).reshape(n, cells * stride,
                                           cells * stride, cin)
  return lax.pad(padded, zero, ((0, 0, 0),
                                (-padding, h + padding - cells * stride, 0),
                                (-padding, w + padding - cells * stride, 0),
                                (0, 0, 0)))


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
  written out (the window sum is its own transpose). On the 2-core CPU this
  runs LRN forward in about half of `lrn`'s time, and forward plus backward
  in about half as well. Computed in float32 whatever x's dtype, as `lrn`.
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
  # XLA's CPU fusion would compute the switches again inside the unpool's
  # passes (ZFNet's pool1 gradient 160 ms instead of 60, batch 32); a loop
  # over the batch keeps them computed once.
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
