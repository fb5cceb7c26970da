r"""CPU forward and train-step images/s: the plain and the faster formulation.

  python benchmarks/forward_formulations.py [--spec zfnet] [--batch 32]
      [--image_size 224] [--rounds 3]

plain: the switch-recording forward (`models.forward_trace`'s layers:
max-pooling by a running maximum over the nine window offsets, `layers.lrn`,
`layers.conv2d`); faster: `models.apply` (one `lax.reduce_window` per pool,
`layers.lrn_fast`). The
train step is the trainer's own (`steps.make_train_step`, configs/
zfnet_imagenet.py's settings at this batch: dropout, weight decay, momentum,
feature scale clipping), built once around each forward. Random weights and
images. The two are timed alternately, `--rounds` times each, and the best
round of each is printed, so both see the same machine load; the ratio is
the figure to compare across machines.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from unittest import mock

# Run as a script from anywhere: make the checkout importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from zfjax import runtime  # noqa: E402

if __name__ == '__main__':
  runtime.configure()  # first, as every entry point

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

from configs import zfnet_imagenet  # noqa: E402
from zfjax.networks import models  # noqa: E402
from zfjax.training import trainer  # noqa: E402
from zfjax.training import steps


def plain_apply(params, images, spec, *, train=False, rng=None,
                dtype=jnp.float32):
  """`models.apply` as it was: the switch-recording layers (and `conv2d`),
  switches unused."""
  # pylint: disable-next=protected-access
  return models._run(params, images, spec, train=train, rng=rng,
                     switches=True, dtype=dtype)[0]


def trainer_step(spec, batch_size: int, image_size: int, forward=None):
  """The trainer's jitted step (configs/zfnet_imagenet.py's settings at this
  batch) around `forward` (default `models.apply`), and a function that runs
  it once on fixed random data, returning its outputs."""
  config = zfnet_imagenet.get_config()
  config.model, config.batch_size = spec.name, batch_size
  config.crop_size, config.num_classes = image_size, spec.num_classes
  mesh = steps.make_mesh()
  rng = np.random.default_rng(0)
  batch = [jax.device_put(x, NamedSharding(mesh, P(steps.AXIS))) for x in (
      rng.normal(0, 50, (batch_size, image_size, image_size, 3)).astype(
          np.float32),
      rng.integers(0, spec.num_classes, batch_size).astype(np.int32),
      np.ones(batch_size, bool))]
  lr = np.float32(config.learning_rate)
  # The trainer looks `models.apply` up when its step is traced (first
  # call): trace it with `forward` in place.
  with mock.patch.object(models, 'apply', forward or models.apply):
    step = steps.make_train_step(config, spec, mesh)
    state = trainer.initial_state(config, spec, mesh)
    carry = [state.params, state.opt_state, 0]
    jax.block_until_ready(run_step(step, carry, batch, lr))
  return lambda: run_step(step, carry, batch, lr)


def run_step(step, carry, batch, lr):
  params, opt_state, i = carry
  out = step(params, opt_state, *batch, np.int32(i), lr)
  carry[:] = [out[0], out[1], i + 1]
  return out


def seconds(fn) -> float:
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - start


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='zfnet')
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--rounds', type=int, default=3)
  args = parser.parse_args()

  spec = models.get_spec(args.spec, 1000)
  b, s = args.batch, args.image_size
  images = np.random.default_rng(0).normal(0, 50, (b, s, s, 3)).astype(
      np.float32)
  params = models.init_params(jax.random.PRNGKey(0), spec, s)
  programs, compile_s = {}, {}
  for name, fn in (('plain', plain_apply), ('faster', models.apply)):
    forward = jax.jit(lambda p, x, fn=fn: fn(p, x, spec))
    jax.block_until_ready(forward(params, images))
    tic = time.perf_counter()
    step = trainer_step(spec, b, s, fn)
    compile_s[name] = time.perf_counter() - tic
    programs[name] = (lambda forward=forward: forward(params, images), step)

  rates: dict[str, list[float]] = {}
  for _ in range(args.rounds):
    for name, (forward, step) in programs.items():
      rates.setdefault(f'{name} forward', []).append(b / seconds(forward))
      rates.setdefault(f'{name} step', []).append(b / seconds(step))

  print(f'device: {jax.devices()[0].device_kind} x{jax.device_count()}, '
        f'{os.cpu_count()} CPU cores')
  print(f'{args.spec} at {s} px, batch {b}, best of {args.rounds} '
        f'alternated rounds (images/s):')
  for what in ('forward', 'step'):
    plain, faster = max(rates[f'plain {what}']), max(rates[f'faster {what}'])
    print(f'  {what:8s} plain {plain:7.1f}  faster {faster:7.1f}  '
          f'ratio {faster / plain:.2f}')
  print('  step compile and first run (s): ' + ', '.join(
      f'{k} {v:.1f}' for k, v in compile_s.items()))


if __name__ == '__main__':
  main()
