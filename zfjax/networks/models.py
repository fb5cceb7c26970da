"""The convnet as pure functions of a params pytree, driven by a `Spec`.

Params follow Flax naming: {'conv1': {'kernel': (k, k, Cin/groups, Cout),
'bias': (Cout,)}, ..., 'fc6': {'kernel': (in, out), 'bias': (out,)}, ...};
fc6 reads the NHWC-flattened output of the layer before it. Images are NHWC
float32 in pixel units (mean-subtracted, roughly [-128, 128]).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zfjax.networks import layers
from zfjax.errors import ZfjaxError
from zfjax.networks.specs import LRN, Conv, Dense, MaxPool, Spec, get_spec, input_shapes
from zfjax.networks.specs import AdaptiveAvgPool

__all__ = ['Trace', 'get_spec', 'init_params', 'apply', 'forward_trace',
           'forward_from',
           'features', 'traced_layers', 'check_traced_layers', 'clip_filters',
           'param_count']

Params = dict[str, dict[str, jax.Array]]


class Trace(NamedTuple):
  """What the deconvnet and the analyses need from one forward pass.

  activations: per Conv layer its rectified output before any pooling or
    normalisation, (N, H, W, C); per hidden Dense layer its output after the
    ReLU (before dropout), (N, features).
  switches: per MaxPool layer the int8 argmax position inside each window,
    (N, Ho, Wo, C) -- see `layers.max_pool_with_switches`.
  outputs: per layer named in `forward_trace`'s `keep`, its output (what
    the next layer reads), e.g. pooled or normalised maps.
  image_size: the side S of the traced images in pixels, or None (a pass
    that started above the input). Strided layers map several input sizes
    to one shape, so the activations alone cannot tell it; it is static
    under jit (pytree metadata, not an array).
  """
  activations: dict[str, jax.Array]
  switches: dict[str, jax.Array]
  outputs: dict[str, jax.Array] | None = None
  image_size: int | None = None


_TRACE_ARRAYS = ('activations', 'switches', 'outputs')
jax.tree_util.register_pytree_with_keys(
    Trace,
    lambda t: (tuple((jax.tree_util.GetAttrKey(name), getattr(t, name))
                     for name in _TRACE_ARRAYS), t.image_size),
    lambda image_size, arrays: Trace(*arrays, image_size),
    flatten_func=lambda t: (tuple(getattr(t, n) for n in _TRACE_ARRAYS),
                            t.image_size))


def init_params(rng: jax.Array, spec: Spec, image_size: int | None = None, *,
                weight_std: float | None = 0.01,
                bias_value: float | None = None,
                zero_head: bool = False) -> Params:
  """Fresh parameters for `spec` at `image_size` pixels (default: native).

  Weights are zero-mean Gaussian with `weight_std` (the paper's 1e-2), or
  He-scaled (std sqrt(2 / fan_in)) when it is None. Biases take each layer's
  `bias_init` from the spec (the paper's choices) unless `bias_value` is
  given, which then applies to every layer. `zero_head`: the last layer's
  weights start at zero (big_vision's `head_zeroinit`), so every image
  starts with the same logits.
  """
  in_shapes = input_shapes(spec, image_size)
  params = {}
  keys = jax.random.split(rng, len(spec.layers))
  for key, layer in zip(keys, spec.layers):
    if isinstance(layer, Conv):
      cin = in_shapes[layer.name][-1]
      if cin % layer.groups or layer.features % layer.groups:
        raise ZfjaxError(f"spec '{spec.name}': {layer.name} has {cin} inputs "
                         f'and {layer.features} maps, not divisible into '
                         f'{layer.groups} groups')
      shape = (layer.kernel, layer.kernel, cin // layer.groups, layer.features)
    elif isinstance(layer, Dense):
      shape = (int(np.prod(in_shapes[layer.name])), layer.features)
    else:
      continue
    fan_in = int(np.prod(shape[:-1]))
    std = np.sqrt(2.0 / fan_in) if weight_std is None else weight_std
    bias = layer.bias_init if bias_value is None else bias_value
    if zero_head and layer is spec.layers[-1]:
      std = 0.0
    params[layer.name] = {
        'kernel': std * jax.random.normal(key, shape, jnp.float32),
        'bias': jnp.full((layer.features,), bias, jnp.float32),
    }
  return params


def _check_images(images: jax.Array, spec: Spec, params: Params) -> None:
  if spec.takes_features:  # the top of a split network: any NHWC input
    return
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ZfjaxError(f'images must be NHWC with 3 channels, got shape '
                     f'{tuple(images.shape)}')
  first_dense = next((l.name for l in spec.layers if isinstance(l, Dense)),
                     None)
  if first_dense is None or first_dense not in params:
    return
  expect = params[first_dense]['kernel'].shape[0]
  got = int(np.prod(input_shapes(spec, images.shape[1])[first_dense]))
  if images.shape[1] != images.shape[2] or got != expect:
    raise ZfjaxError(
        f'images of {images.shape[1]}x{images.shape[2]} pixels do not fit '
        f"these '{spec.name}' params ({first_dense} expects {expect} inputs); "
        f'resize or crop them to the size the params were initialised for')


def _run(params: Params, images: jax.Array, spec: Spec, *, train: bool,
         rng: jax.Array | None, switches: bool = True, start: int = 0,
         stop: int | None = None, keep: tuple[str, ...] = (),
         dtype=jnp.float32) -> tuple[jax.Array, Trace]:
  # switches=False: plain max-pooling and `layers.lrn_fast` (the same
  # numbers). Only spec.layers[start:stop] run; `images` is the input of
  # spec.layers[start]. `keep`: layers whose outputs the trace records.
  if start == 0 and stop is None:
    _check_images(images, spec, params)
  record_switches = switches
  if train and rng is None and any(
      isinstance(l, (Dense, AdaptiveAvgPool)) and l.dropout > 0
      for l in spec.layers):
    raise ZfjaxError('apply(..., train=True) needs an rng for dropout')
  activations, switches, outputs = {}, {}, {}
  # Mixed precision: the layers compute in `dtype` on a cast of the f32
  # params, so gradients reach the params (and the optimizer) in f32.
  x = images.astype(dtype)
  for i, layer in enumerate(spec.layers):
    if i < start or (stop is not None and i >= stop):
      continue
    if isinstance(layer, Conv):
      p = _cast(params[layer.name], dtype)
      x = layers.conv2d(x, p['kernel'], p['bias'], stride=layer.stride,
                        padding=layer.padding, groups=layer.groups)
      if layer.relu:
        x = layers.relu(x)
      activations[layer.name] = x
    elif isinstance(layer, MaxPool) and not record_switches:
      x = layers.max_pool(x, window=layer.window, stride=layer.stride,
                          padding=layer.padding)
    elif isinstance(layer, LRN) and not record_switches:
      x = layers.lrn_fast(x, size=layer.size, k=layer.k, alpha=layer.alpha,
                          beta=layer.beta)
    elif isinstance(layer, MaxPool):
      x, switches[layer.name] = layers.max_pool_with_switches(
          x, window=layer.window, stride=layer.stride, padding=layer.padding)
    elif isinstance(layer, LRN):
      x = layers.lrn(x, size=layer.size, k=layer.k, alpha=layer.alpha,
                     beta=layer.beta)
    elif isinstance(layer, AdaptiveAvgPool):
      x = layers.adaptive_avg_pool(x, layer.output_size)
      if train and layer.dropout > 0:
        x = _dropout(x, layer.dropout, rng, i)
    elif isinstance(layer, Dense):
      p = _cast(params[layer.name], dtype)
      x = x.reshape(x.shape[0], -1) @ p['kernel'] + p['bias']
      if layer.relu:
        x = layers.relu(x)
        activations[layer.name] = x
      if train and layer.dropout > 0:
        x = _dropout(x, layer.dropout, rng, i)
    if layer.name in keep:
      outputs[layer.name] = x
  image_size = images.shape[1] if start == 0 else None
  return x.astype(jnp.float32), Trace(activations, switches, outputs or None,
                                      image_size)


def _dropout(x: jax.Array, rate: float, rng: jax.Array, i: int) -> jax.Array:
  # rng is one key for the batch or a key per example (N,); each example's
  # mask is then the one it would get in a batch of its own.
  typed = jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key)
  if rng.ndim == (0 if typed else 1):
    return layers.dropout(x, rate, jax.random.fold_in(rng, i))
  return jax.vmap(lambda x, key: layers.dropout(
      x[None], rate, jax.random.fold_in(key, i))[0])(x, rng)


def _cast(p: dict[str, jax.Array], dtype) -> dict[str, jax.Array]:
  return {k: v.astype(dtype) for k, v in p.items()}


def apply(params: Params, images: jax.Array, spec: Spec, *,
          train: bool = False, rng: jax.Array | None = None,
          dtype=jnp.float32) -> jax.Array:
  """Logits (N, num_classes) float32 for NHWC float32 images; dropout iff
  `train`, drawn from `rng`: one key, or one key per image (N,) so that an
  image's masks do not depend on the batch it is in. `dtype` (float32 or
  bfloat16) is the compute precision of the layers (convolutions, matrix
  products, pooling; LRN sums in float32); params stay float32 and the
  logits are returned in float32.

  Records no switches: plain max-pooling (whose gradient keeps the
  switches' tie rule) and `layers.lrn_fast`, the same numbers as
  `forward_trace`'s to float rounding and faster (benchmarks/README.md).
  """
  return _run(params, images, spec, train=train, rng=rng, switches=False,
              dtype=dtype)[0]


def forward_trace(params: Params, images: jax.Array, spec: Spec, *,
                  switches: bool = True,
                  keep: tuple[str, ...] = ()) -> tuple[jax.Array, Trace]:
  """Evaluation-mode logits (N, num_classes) and the `Trace` of the pass.

  switches=False leaves `Trace.switches` empty and runs the faster layers of
  `apply` (same numbers): for analyses that need no deconvnet. `keep`: the
  layers whose outputs `Trace.outputs` records (the incremental occlusion
  starts from them).
  """
  return _run(params, images, spec, train=False, rng=None, switches=switches,
              keep=tuple(keep))


def forward_from(params: Params, x: jax.Array, spec: Spec, layer: str, *,
                 until: str | None = None) -> tuple[jax.Array, Trace]:
  """Evaluation-mode pass from the input of layer `layer` up, no switches.

  x: that layer's input, e.g. (N, H, W, C) as the layer below it gives it.
  Returns the output of layer `until` (default: the logits) and the `Trace`
  of the layers run: a part of `forward_trace(..., switches=False)`.
  """
  names = [l.name for l in spec.layers]
  for name in (layer, until or layer):
    if name not in names:
      raise ZfjaxError(f"spec '{spec.name}' has no layer '{name}'")
  stop = None if until is None else names.index(until) + 1
  return _run(params, x, spec, train=False, rng=None, switches=False,
              start=names.index(layer), stop=stop)


def features(params: Params, images: jax.Array, spec: Spec,
             layer: str) -> jax.Array:
  """The traced activation of one layer (see `Trace`), evaluation mode.

  Under `jax.jit` the layers above `layer` are dead code and not computed.
  """
  check_traced_layers(spec, (layer,))
  return forward_trace(params, images, spec,
                       switches=False)[1].activations[layer]


def traced_layers(spec: Spec) -> tuple[str, ...]:
  """Names of the layers whose activations `forward_trace` records."""
  return tuple(l.name for l in spec.layers
               if isinstance(l, Conv) or (isinstance(l, Dense) and l.relu))


def check_traced_layers(spec: Spec, names) -> tuple[str, ...]:
  """`names` as a tuple; a ZfjaxError for a name without a traced
  activation (see `Trace`)."""
  traced = traced_layers(spec)
  names = tuple(names)
  for name in names:
    if name not in traced:
      raise ZfjaxError(
          f"layer '{name}' of spec '{spec.name}' has no traced activation; "
          f"choose one of {', '.join(traced)}")
  return names


def clip_filters(params: Params, spec: Spec, radius: float = 0.1) -> Params:
  """Feature scale clipping (ZF §3): conv filters with RMS above `radius`
  are rescaled to RMS exactly `radius`; the others are left as they are.

  A filter is one output channel of a conv kernel, over (k, k, Cin/groups).
  Dense layers and biases are untouched.
  """
  clipped = dict(params)
  for name in spec.conv_names:
    kernel = params[name]['kernel']
    rms = jnp.sqrt(jnp.mean(jnp.square(kernel), axis=(0, 1, 2)))
    scale = jnp.where(rms > radius, radius / jnp.maximum(rms, 1e-30), 1.0)
    clipped[name] = {**params[name], 'kernel': kernel * scale}
  return clipped


def param_count(params: Params) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(params))

