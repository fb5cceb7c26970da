r"""Speed of one config's training step on the devices present.

  python benchmarks/train_step.py --config configs/zfnet_imagenet.py
  python benchmarks/train_step.py --config configs/zfnet_imagenet.py \
      --config.batch_size=32 --steps=5        # a CPU in reasonable time
  python benchmarks/train_step.py --config configs/zfnet_imagenet.py \
      --host_batches [--config.compute_dtype=bfloat16]

Runs the trainer's jitted data-parallel step (steps.make_train_step) on
random images of the config's crop size, so no data set is needed, and
prints the compile time, steps per second and images per second. The batch
is the config's global batch split over every device.

Without --host_batches: float32 images already on the devices (the step
alone). With --host_batches: uint8 crops with their draws
(`preprocess.Crops`, what `DataSource.train_batches(on_device=True)`
yields), finished inside the step (mean subtraction at the crop offset,
flip, PCA shift when the config sets pca_augment); it prints the figure
with the batches already on the devices beside the one with fresh host
batches fed through the trainer's path (`prefetch.prefetch` of
`steps.to_global`: every step copies a new batch while the previous
step runs). Their ratio is what the host-to-device copy costs.
"""

import functools
import itertools
import os
import sys
import time
from typing import NamedTuple

from absl import app
from absl import flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from zfjax import runtime

if __name__ == '__main__':
  runtime.configure()  # first, as every entry point

import numpy as np
import jax
from jax.sharding import NamedSharding, PartitionSpec as P

from zfjax.data import prefetch, preprocess
from zfjax.networks import specs
from zfjax.training import trainer
from zfjax.training import steps

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.')
_STEPS = flags.DEFINE_integer('steps', 10, 'Timed steps after the warm-up.')
_NUM_CLASSES = flags.DEFINE_integer(
    'num_classes', 1000, 'Classes when the config leaves num_classes unset.')
_HOST_BATCHES = flags.DEFINE_boolean(
    'host_batches', False,
    'Feed uint8 host batches through prefetch and to_global (see above).')


class _HostBatch(NamedTuple):
  """What `steps.to_global` reads from an `pipeline.Batch`
  (whose module imports TensorFlow, which this benchmark does not need)."""
  images: preprocess.Crops
  labels: np.ndarray
  mask: np.ndarray


def _host_batches(config, num_classes: int, count: int):
  """`count` distinct host batches of uint8 crops and draws."""
  rng = np.random.default_rng(0)
  b, s, r = config.batch_size, config.crop_size, config.resize_size
  out = []
  for _ in range(count):
    crops = preprocess.Crops(
        rng.integers(0, 256, (b, s, s, 3), dtype=np.uint8),
        rng.integers(0, r - s + 1, (b, 2)).astype(np.int32),
        rng.random(b) < 0.5,
        rng.normal(0, 0.1, (b, 3)).astype(np.float32))
    out.append(_HostBatch(
        crops, rng.integers(0, num_classes, b).astype(np.int32),
        np.ones(b, bool)))
  return out


def _time(step_fn, state, batches, lr):
  """(first-step seconds, steps/s over the rest) for an iterable of
  global (images, labels, mask)."""
  params, opt_state = state
  batches = iter(batches)
  start = time.perf_counter()
  params, opt_state, counts = step_fn(params, opt_state, *next(batches),
                                      np.int32(0), lr)
  jax.block_until_ready(counts)
  first_s = time.perf_counter() - start
  start = time.perf_counter()
  for i, batch in enumerate(itertools.islice(batches, _STEPS.value)):
    params, opt_state, counts = step_fn(params, opt_state, *batch,
                                        np.int32(i + 1), lr)
  jax.block_until_ready((params, counts))
  return first_s, _STEPS.value / (time.perf_counter() - start)


def main(argv):
  del argv
  config = _CONFIG.value
  spec = specs.get_spec(config.model, config.num_classes or _NUM_CLASSES.value)
  mesh = steps.make_mesh()
  state = trainer.initial_state(config, spec, mesh)
  b, s = config.batch_size, config.crop_size
  lr = np.float32(config.learning_rate)
  print(f'{spec.name} at {s}x{s}, global batch {b}, '
        f'{config.compute_dtype}, on {jax.device_count()} '
        f'{jax.devices()[0].platform} device(s) '
        f'({jax.devices()[0].device_kind}):')

  def report(label, first_s, steps_per_s):
    print(f'  {label}: {steps_per_s:.3f} steps/s, {steps_per_s * b:.1f} '
          f'images/s, {1000 / steps_per_s:.0f} ms/step over {_STEPS.value} '
          f'steps (first step, compile + run: {first_s:.1f} s)')
    return steps_per_s * b

  to_global = functools.partial(steps.to_global, mesh)
  if not _HOST_BATCHES.value:
    step_fn = steps.make_train_step(config, spec, mesh)
    rng = np.random.default_rng(0)
    sharding = NamedSharding(mesh, P(steps.AXIS))
    batch = [jax.device_put(x, sharding) for x in (
        rng.normal(scale=60, size=(b, s, s, 3)).astype(np.float32),
        rng.integers(0, spec.num_classes, b).astype(np.int32),
        np.ones(b, bool))]
    report('device-resident float32 batches',
           *_time(step_fn, (state.params, state.opt_state),
                  itertools.repeat(batch), lr))
    return

  r = config.resize_size
  stats = preprocess.statistics(
      np.full((r, r, 3), 120, np.float32), np.array([0.02, 0.005, 0.001]),
      np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0])
  step_fn = steps.make_train_step(config, spec, mesh, stats)
  host = _host_batches(config, spec.num_classes, 4)
  resident = [to_global(x) for x in host]
  device = report('uint8 batches on the devices',
                  *_time(step_fn, (state.params, state.opt_state),
                         itertools.cycle(resident), lr))
  # The step donated the params; start again from fresh ones.
  state = trainer.initial_state(config, spec, mesh)
  fed = report('uint8 host batches, prefetched',
               *_time(step_fn, (state.params, state.opt_state),
                      prefetch.prefetch(itertools.cycle(host), to_global),
                      lr))
  print(f'  host-fed / device-resident: {fed / device:.2f}')


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
