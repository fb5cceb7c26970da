"""A unit's optimised stimulus: gradient ascent in image space.

ZF §1.1 set their deconvnet, which shows what drove a unit in a given
image, against finding a unit's optimal stimulus by gradient ascent on the
image (Erhan et al. 2009). Left alone the ascent finds high-frequency
patterns no image has; Yosinski et al. (2015, "Understanding neural
networks through deep visualization") made them readable with L2 decay,
Gaussian blur every few steps and clipping of pixels with a small norm or a
small contribution, and Olah et al. (2017, "Feature visualization") with
jitter (robustness to small translations). `Settings` holds all of them.

The objective is a conv map's centre unit or its spatial mean, taken before
the layer's ReLU (where it is positive that is the activation; below zero
the ReLU would give no gradient to start from), or a class logit. Images
are model inputs, NHWC float32 pixels with the mean image subtracted, kept
within the pixel range (0..255 once the mean is added back). A step of all
the units of a layer is one jitted program, `jax.vmap`-ed over the units
where they differ; it is reproducible from a seed: a unit's start and
jitter depend only on the seed and its index, not on the other units.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from zfjax import progress
from zfjax.errors import ZfjaxError
from zfjax.networks import models
from zfjax.networks.specs import Conv, Spec
from zfjax.training import workdirs

__all__ = ['OBJECTIVES', 'STARTS', 'Settings', 'Stimulus', 'maximize',
           'for_units', 'blur', 'check_request']

OBJECTIVES = ('centre', 'mean')  # of a conv map; a class's is its logit
STARTS = ('random', 'mean')


class Settings(NamedTuple):
  """How the ascent runs (hashable: one compiled program per Settings).

  steps: Adam steps (Optax) of `learning_rate` pixels (Adam's step is about
    the learning rate in every pixel whatever the gradient's scale).
  start: 'random' (the mean image plus N(0, start_std^2) pixel noise) or
    'mean' (the mean image itself, the grey start: zero input).
  l2_decay: after each step x <- (1 - l2_decay) x: pulls towards the mean.
  blur_every, blur_sigma: every `blur_every` steps (0: never) a Gaussian
    blur of `blur_sigma` pixels.
  clip_pixels, clip_contribution: percentiles p in [0, 100): after each
    step, the pixels whose norm over the colours (resp. whose contribution
    |sum_c x_c grad_c|, Yosinski's first-order estimate of what the pixel
    adds to the objective) is below the image's p-th percentile are set to
    the mean. 0: off.
  jitter: each step's gradient is taken on the image rolled by a random
    shift of up to `jitter` pixels each way (0: off).
  """
  steps: int = 256
  learning_rate: float = 1.0
  start: str = 'random'
  start_std: float = 10.0
  l2_decay: float = 1e-3
  blur_every: int = 4
  blur_sigma: float = 0.5
  clip_pixels: float = 0.0
  clip_contribution: float = 0.0
  jitter: int = 2


class Stimulus(NamedTuple):
  """images: (M, S, S, 3) float32 model inputs (pixels minus the mean
  image, within the pixel range); objective: (M, steps + 1) float32, the
  objective before each step (with jitter, of the shifted image that
  step's gradient came from) and, last, of the image returned."""
  images: np.ndarray
  objective: np.ndarray


def blur(x: jax.Array, sigma: float) -> jax.Array:
  """A Gaussian blur of (H, W, C) by `sigma` pixels, edges repeated (so
  the border is not pulled towards zero)."""
  radius = max(1, math.ceil(3 * sigma))
  taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
  taps /= taps.sum()
  for axis in (0, 1):
    pads = [(radius, radius) if a == axis else (0, 0) for a in range(x.ndim)]
    padded = jnp.pad(x, pads, mode='edge')
    x = sum(float(t) * jax.lax.slice_in_dim(padded, i, i + x.shape[axis],
                                             axis=axis)
            for i, t in enumerate(taps))
  return x


def _below_percentile(score: jax.Array, x: jax.Array, p: float) -> jax.Array:
  """x (H, W, C) with the pixels whose score (H, W) is below its p-th
  percentile set to 0."""
  return jnp.where((score < jnp.percentile(score, p))[..., None], 0, x)


def _objective_spec(spec: Spec, layer: str) -> Spec:
  """The layers up to `layer`, without its ReLU: `models.apply` of it gives
  the layer's pre-activation (the whole spec for the logits)."""
  names = [l.name for l in spec.layers]
  record = spec.layers[names.index(layer)]
  if not isinstance(record, Conv):
    return spec
  return Spec(spec.name, spec.layers[:names.index(layer)]
              + (dataclasses.replace(record, relu=False),), spec.image_size)


def _pick(out: jax.Array, unit: jax.Array, objective: str) -> jax.Array:
  """One unit's objective from its image's output: (H, W, C) maps or (C,)
  logits."""
  if out.ndim == 1:
    return out[unit]
  if objective == 'mean':
    return out[:, :, unit].mean()
  return out[out.shape[0] // 2, out.shape[1] // 2, unit]


def _regularise(x: jax.Array, grad: jax.Array, t: jax.Array,
                s: Settings) -> jax.Array:
  """One image (S, S, 3) after step t: decay, blur, clipping."""
  x = x * (1 - s.l2_decay)
  if s.blur_every:
    x = jnp.where((t + 1) % s.blur_every == 0, blur(x, s.blur_sigma), x)
  if s.clip_pixels:
    x = _below_percentile(jnp.linalg.norm(x, axis=-1), x, s.clip_pixels)
  if s.clip_contribution:
    x = _below_percentile(jnp.abs((x * grad).sum(-1)), x,
                          s.clip_contribution)
  return x


def _start(key: jax.Array, s: Settings, image_size: int) -> jax.Array:
  shape = (image_size, image_size, 3)
  if s.start == 'mean':
    return jnp.zeros(shape)
  return s.start_std * jax.random.normal(key, shape)


class _State(NamedTuple):
  """The ascent between steps: images (M, S, S, 3), Adam's state, each
  unit's random key (M, 2)."""
  images: jax.Array
  adam: optax.OptState
  keys: jax.Array


def _split(keys: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Each unit's key split in two: (the keys to keep, the keys to draw)."""
  both = jax.vmap(jax.random.split)(keys)
  return both[:, 0], both[:, 1]


@functools.partial(jax.jit, static_argnames=('settings', 'image_size'))
def _begin(units: jax.Array, seed: jax.Array, low: jax.Array,
           high: jax.Array, *, settings: Settings, image_size: int) -> _State:
  """Each unit's start, from the seed and the unit's index only."""
  base = jax.random.PRNGKey(seed)
  keys, draws = _split(jax.vmap(lambda u: jax.random.fold_in(base, u))(units))
  x = jnp.clip(jax.vmap(lambda k: _start(k, settings, image_size))(draws),
               low, high)
  return _State(x, optax.adam(settings.learning_rate).init(x), keys)


def _values(params: models.Params, x: jax.Array, units: jax.Array,
            shifts: jax.Array | None, spec: Spec,
            objective: str) -> tuple[jax.Array, jax.Array]:
  """(sum, (M,)) of the units' objectives on their images, each rolled by
  its shift (M, 2) first. The network runs once on the M images; the
  gradient of the sum gives each image its own unit's gradient (the images
  do not interact)."""
  if shifts is not None:
    x = jax.vmap(lambda x, d: jnp.roll(x, d, axis=(0, 1)))(x, shifts)
  v = jax.vmap(functools.partial(_pick, objective=objective))(
      models.apply(params, x, spec), units)
  return v.sum(), v


@functools.partial(jax.jit, static_argnames=('spec', 'objective', 'settings'))
def _step(params: models.Params, units: jax.Array, state: _State,
          t: jax.Array, low: jax.Array, high: jax.Array, *, spec: Spec,
          objective: str, settings: Settings) -> tuple[_State, jax.Array]:
  """Step t of every unit's ascent: the new state and the (M,) objectives
  the step's gradients came from. What is a unit's own (jitter,
  regularisers) is `jax.vmap`-ed over the units."""
  s = settings
  keys, draws = _split(state.keys)
  shifts = None
  if s.jitter:
    shifts = jax.vmap(lambda k: jax.random.randint(
        k, (2,), -s.jitter, s.jitter + 1))(draws)
  (_, v), grad = jax.value_and_grad(_values, argnums=1, has_aux=True)(
      params, state.images, units, shifts, spec, objective)
  updates, adam = optax.adam(s.learning_rate).update(-grad, state.adam,
                                                     state.images)  # ascent
  x = jax.vmap(lambda x, g: _regularise(x, g, t, s))(
      optax.apply_updates(state.images, updates), grad)
  return _State(jnp.clip(x, low, high), adam, keys), v


_final = jax.jit(lambda params, x, units, spec, objective: _values(
    params, x, units, None, spec, objective)[1], static_argnums=(3, 4))


def check_request(spec: Spec, layer: str, units, objective: str,
                  settings: Settings) -> None:
  """A one-line ZfjaxError for anything `maximize` cannot do: a layer that
  is neither a conv layer nor the logits, a unit (M,) or class out of
  range, an unknown objective or start, settings out of range."""
  units = np.asarray(units, np.int64).reshape(-1)
  record = spec.layer(layer)  # a one-line error for unknown names
  if isinstance(record, Conv):
    if objective not in OBJECTIVES:
      raise ZfjaxError(f"unknown objective '{objective}' for a conv map; "
                       f"choose one of {', '.join(OBJECTIVES)}")
    what = f'{layer} has maps'
  elif record is spec.layers[-1]:
    what = f'{layer} (the logits) has classes'
  else:
    raise ZfjaxError(
        f"layer '{layer}' of spec '{spec.name}' is neither a conv layer nor "
        f"the logits; choose one of {', '.join(spec.conv_names)} or "
        f'{spec.layers[-1].name}')
  count = record.features
  bad = units[(units < 0) | (units >= count)]
  if bad.size:
    raise ZfjaxError(f'{what} 0..{count - 1}; {bad.tolist()} do not exist')
  if settings.start not in STARTS:
    raise ZfjaxError(f"unknown start '{settings.start}'; choose one of "
                     f"{', '.join(STARTS)}")
  if settings.steps < 1 or settings.blur_every < 0 or settings.jitter < 0:
    raise ZfjaxError(f'steps must be >= 1, blur_every and jitter >= 0: got '
                     f'{settings.steps}, {settings.blur_every}, '
                     f'{settings.jitter}')
  for name in ('clip_pixels', 'clip_contribution'):
    if not 0 <= getattr(settings, name) < 100:
      raise ZfjaxError(f'{name} is a percentile in [0, 100), got '
                       f'{getattr(settings, name)}')


def maximize(params: models.Params, spec: Spec, layer: str,
             units: Sequence[int] | np.ndarray, *,
             objective: str = 'centre', settings: Settings = Settings(),
             image_size: int | None = None, mean: np.ndarray | None = None,
             seed: int = 0) -> Stimulus:
  """The optimised stimuli of M units of one layer.

  layer: a conv layer (units: its maps; objective 'centre': the centre
  unit of the map, 'mean': the map's spatial mean, both before the ReLU)
  or the spec's last layer (units: class indices; the objective is the
  logit). image_size: S, the input size (default the spec's); mean: the
  (S, S, 3) mean image, 0..255, that the inputs are relative to (default
  mid-grey 128): images stay within [-mean, 255 - mean]. Returns a
  `Stimulus`; one compiled program per (layer, objective, settings, S).
  """
  units = np.asarray(units, np.int64).reshape(-1)
  check_request(spec, layer, units, objective, settings)
  size = spec.image_size if image_size is None else image_size
  mean = np.broadcast_to(np.float32(128) if mean is None else
                         np.asarray(mean, np.float32), (size, size, 3))
  units = jnp.asarray(units, jnp.int32)
  low, high = jnp.asarray(-mean), jnp.asarray(255 - mean)
  spec = _objective_spec(spec, layer)
  state = _begin(units, seed, low, high, settings=settings, image_size=size)
  # A Python loop over one jitted step: in a `lax.scan` XLA's CPU backend
  # leaves the backward convolutions' kernels untransposed and runs them
  # 5x slower (jax 0.10.2); the dispatches are asynchronous.
  values = []
  for t in progress.trange(settings.steps, desc=f'ascending {layer}',
                           unit='step', leave=False):
    state, v = _step(params, units, state, jnp.int32(t), low, high,
                     spec=spec, objective=objective, settings=settings)
    values.append(v)
  values.append(_final(params, state.images, units, spec, objective))
  return Stimulus(np.asarray(state.images), np.stack(values, axis=1))


def for_units(run: workdirs.TrainedRun, units: Sequence[tuple[str, int]], *,
              objective: str = 'centre', settings: Settings = Settings(),
              seed: int = 0) -> Stimulus:
  """`maximize` for a list of (layer, map) units of a trained run (a class
  index for the logit layer), at its crop size and from its mean image;
  one program per layer, the results in the order of `units`."""
  order = {}
  for i, (layer, _) in enumerate(units):
    order.setdefault(layer, []).append(i)
  images = values = None
  for layer, rows in order.items():
    got = maximize(run.params, run.spec, layer, [units[i][1] for i in rows],
                   objective=objective, settings=settings,
                   image_size=run.config.crop_size,
                   mean=run.preprocessing.mean_crop, seed=seed)
    if images is None:
      images = np.zeros((len(units),) + got.images.shape[1:], np.float32)
      values = np.zeros((len(units),) + got.objective.shape[1:], np.float32)
    images[rows], values[rows] = got.images, got.objective
  return Stimulus(images, values)
