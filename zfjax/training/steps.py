"""The jitted data-parallel programs of training and evaluation.

The step is a per-device SPMD function over the mesh axis 'data' (the
global batch split over every device of every host, params and optimizer
state replicated), mapped with `jax.shard_map` under `jax.jit`; gradients
are averaged over devices with `lax.pmean`. The optimizer is SGD with
momentum and weight decay on the kernels. `trainer` runs these.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zfjax.data import preprocess
from zfjax.errors import ZfjaxError
from zfjax.networks import models
from zfjax.networks.specs import Spec
from zfjax.training import metrics

if TYPE_CHECKING:
  from zfjax.data import pipeline

AXIS = 'data'


def make_mesh() -> Mesh:
  """A 1-D mesh over every device of every process."""
  return Mesh(np.asarray(jax.devices()), (AXIS,))


def make_optimizer(config: ml_collections.ConfigDict,
                   learning_rate: float | jax.Array,
                   frozen: frozenset[str] = frozenset()
                   ) -> optax.GradientTransformation:
  """SGD with momentum; weight decay on the weights, not the biases.

  The rate is an argument rather than a schedule because the plateau rule
  decides it from validation errors; the state's structure does not depend
  on it, so the same state serves every rate. `frozen` layers (a transfer
  run's, ZF §5.2) get zero updates, no decay and no momentum, so they stay
  bit-identical.
  """
  kernels_only = lambda params: jax.tree_util.tree_map_with_path(  # noqa: E731
      lambda path, _: path[-1].key == 'kernel', params)
  sgd = optax.chain(
      optax.add_decayed_weights(config.weight_decay, mask=kernels_only),
      optax.sgd(learning_rate, momentum=config.momentum))
  if not frozen:
    return sgd
  return optax.multi_transform(
      {'train': sgd, 'frozen': optax.set_to_zero()},
      lambda params: {name: jax.tree.map(
          lambda _, n=name: 'frozen' if n in frozen else 'train', layer)
                      for name, layer in params.items()})


def _per_example_keys(seed: int, step: jax.Array, first: jax.Array,
                      count: int) -> jax.Array:
  # One dropout key per example of the global batch, so that the masks do
  # not depend on how the batch is split over devices.
  step_key = jax.random.fold_in(jax.random.key(seed), step)
  return jax.vmap(functools.partial(jax.random.fold_in, step_key))(
      first + jnp.arange(count))


_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def compute_dtype(config: ml_collections.ConfigDict):
  """The jnp dtype named by `config.compute_dtype` (float32 if unset)."""
  name = config.get('compute_dtype', 'float32')
  if name not in _DTYPES:
    raise ZfjaxError(f'config.compute_dtype={name!r} must be one of '
                     f'{", ".join(_DTYPES)}')
  return _DTYPES[name]


def make_train_step(config: ml_collections.ConfigDict, spec: Spec,
                    mesh: Mesh,
                    stats: preprocess.Statistics | None = None,
                    frozen: frozenset[str] = frozenset()) -> Callable:
  """The jitted data-parallel step.

  step(params, opt_state, images, labels (B,) int32, mask (B,) bool,
       step int32, learning_rate float32)
    -> (params, opt_state, metrics.Counts of this batch)

  images: (B, H, W, 3) float32 network inputs, or `preprocess.Crops`
  (uint8 pixels and draws, what `DataSource.train_batches(...,
  on_device=True)` yields) that the step finishes with `stats`. B is the
  global batch, split over the mesh; params and opt_state are replicated
  and donated. The layers compute in `config.compute_dtype`; the loss is
  the mean float32 cross-entropy over the unmasked examples; feature scale
  clipping follows the update when `config.clip_radius` is set; `frozen`
  layers are not updated (`make_optimizer`).
  """
  seed, clip = int(config.seed), config.clip_radius
  dtype, crop_size = compute_dtype(config), config.get('crop_size')

  def device_step(params, opt_state, images, labels, mask, step,
                  learning_rate):
    images = preprocess.finish(images, stats, crop_size)
    local = images.shape[0]
    keys = _per_example_keys(seed, step, lax.axis_index(AXIS) * local, local)
    weight = mask.astype(jnp.float32)
    # Unmasked examples per device, averaged over the devices.
    count = lax.pmean(jnp.sum(weight), AXIS)
    count = jnp.where(count > 0, count, 1.0)

    def loss_fn(p):
      logits = models.apply(p, images, spec, train=True, rng=keys,
                            dtype=dtype)
      losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      # Dividing by the devices' average count rather than this device's own
      # makes the pmean of the gradients the gradient of the global mean
      # loss, also when padding leaves devices with unequal numbers of
      # examples.
      return jnp.sum(losses * weight) / count, (logits, losses)

    # The params are replicated; marking them device-varying keeps each
    # gradient local so that the reduction below is the one explicit one.
    local_params = lax.pcast(params, AXIS, to='varying')
    grads, (logits, losses) = jax.grad(loss_fn, has_aux=True)(local_params)
    grads = lax.pmean(grads, AXIS)
    updates, opt_state = make_optimizer(config, learning_rate,
                                        frozen).update(
        grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    if clip is not None:
      params = models.clip_filters(params, spec, clip)
    counts = metrics.count_hits(logits, labels, mask, losses)
    return params, opt_state, lax.psum(counts, AXIS)

  data = P(AXIS)
  return jax.jit(jax.shard_map(
      device_step, mesh=mesh,
      in_specs=(P(), P(), data, data, data, P(), P()),
      out_specs=(P(), P(), P())), donate_argnums=(0, 1))


def make_predict(spec: Spec, mesh: Mesh,
                 stats: preprocess.Statistics | None = None,
                 crop_size: int | None = None,
                 dtype=jnp.float32) -> Callable:
  """The jitted data-parallel evaluation: predict(params, images) -> probs.

  images: (B, H, W, 3), or (B, n_crops, H, W, 3) whose crops' softmax
  outputs are averaged (the 10-crop test), float32; or what
  `DataSource.eval_batches(..., on_device=True)` yields, finished with
  `stats` at `crop_size` (`preprocess.finish`). The layers compute in
  `dtype`, the softmax in float32; probs: (B, num_classes) float32, split
  over the mesh like the images.
  """
  def device_predict(params, images):
    images = preprocess.finish(images, stats, crop_size)
    flat = images.reshape((-1,) + images.shape[-3:])
    probs = jax.nn.softmax(models.apply(params, flat, spec, dtype=dtype))
    probs = probs.reshape(images.shape[:-3] + probs.shape[-1:])
    return probs.mean(axis=1) if images.ndim == 5 else probs

  return jax.jit(jax.shard_map(device_predict, mesh=mesh,
                               in_specs=(P(), P(AXIS)), out_specs=P(AXIS)))


@jax.jit
def eval_counts(probs: jax.Array, labels: jax.Array,
                mask: jax.Array) -> metrics.Counts:
  """Counts of one evaluation batch; the loss is -log p(true class)."""
  own = jnp.take_along_axis(probs, labels[:, None], axis=1)[:, 0]
  losses = -jnp.log(jnp.maximum(own, jnp.finfo(jnp.float32).tiny))
  return metrics.count_hits(probs, labels, mask, losses)


# -------------------------------------------------------- host <-> mesh


def to_global(mesh: Mesh, batch: pipeline.Batch
              ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(images, labels, mask) of this host's batch as global arrays split over
  the mesh's batch axis; images may be a pytree (`preprocess.Crops`). The
  copies are started, not waited for."""
  sharding = NamedSharding(mesh, P(AXIS))
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding,
                                                       np.asarray(x)),
      (batch.images, batch.labels, batch.mask))


def replicate(tree, mesh: Mesh):
  """A host pytree (the same on every process) replicated over the mesh."""
  sharding = NamedSharding(mesh, P())

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])
  return jax.tree.map(put, tree)
