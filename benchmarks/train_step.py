r"""Speed of one config's training step on the devices present.

  python benchmarks/train_step.py --config configs/zfnet_imagenet.py
  python benchmarks/train_step.py --config configs/zfnet_imagenet.py \
      --config.batch_size=32 --steps=5        # a CPU in reasonable time

Runs the trainer's jitted data-parallel step (train_lib.make_train_step) on
random images of the config's crop size, so no data set is needed, and
prints the compile time, steps per second and images per second (step
only: no input pipeline). The batch is the config's global batch split over
every device.
"""

import os
import sys
import time

from absl import app
from absl import flags
from ml_collections import config_flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
from jax.sharding import NamedSharding, PartitionSpec as P

from zfjax import specs, train_lib

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.')
_STEPS = flags.DEFINE_integer('steps', 10, 'Timed steps after the warm-up.')
_NUM_CLASSES = flags.DEFINE_integer(
    'num_classes', 1000, 'Classes when the config leaves num_classes unset.')


def main(argv):
  del argv
  config = _CONFIG.value
  spec = specs.get_spec(config.model, config.num_classes or _NUM_CLASSES.value)
  mesh = train_lib.make_mesh()
  state = train_lib.initial_state(config, spec, mesh)
  step_fn = train_lib.make_train_step(config, spec, mesh)
  rng = np.random.default_rng(0)
  b, s = config.batch_size, config.crop_size
  sharding = NamedSharding(mesh, P(train_lib.AXIS))
  batch = [jax.device_put(x, sharding) for x in (
      rng.normal(scale=60, size=(b, s, s, 3)).astype(np.float32),
      rng.integers(0, spec.num_classes, b).astype(np.int32),
      np.ones(b, bool))]
  lr = np.float32(config.learning_rate)
  params, opt_state = state.params, state.opt_state

  start = time.perf_counter()
  params, opt_state, counts = step_fn(params, opt_state, *batch, np.int32(0),
                                      lr)
  jax.block_until_ready(counts)
  compile_s = time.perf_counter() - start

  start = time.perf_counter()
  for i in range(_STEPS.value):
    params, opt_state, counts = step_fn(params, opt_state, *batch,
                                        np.int32(i + 1), lr)
  jax.block_until_ready((params, counts))
  elapsed = time.perf_counter() - start
  steps_per_s = _STEPS.value / elapsed
  print(f'{spec.name} at {s}x{s}, global batch {b} on {jax.device_count()} '
        f'{jax.devices()[0].platform} device(s) '
        f'({jax.devices()[0].device_kind}):')
  print(f'  first step (compile + run): {compile_s:.1f} s')
  print(f'  {steps_per_s:.3f} steps/s, {steps_per_s * b:.1f} images/s, '
        f'{1000 / steps_per_s:.0f} ms/step over {_STEPS.value} steps')


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
