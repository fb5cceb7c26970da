"""Optimised stimuli per second: 64 conv5 units of zfnet_small, 256 steps.

  python benchmarks/activation_maximisation.py [--spec zfnet_small]
      [--image_size 56] [--layer conv5] [--units 64] [--steps 256]
      [--rounds 2]

`stimulus.maximize` with its default settings (Adam, L2 decay, a blur every
4 steps, jitter 2) on random He-scaled weights with biases 0.1 (the
built-in run's; speed does not depend on the weights): the centre units of
the first --units maps of --layer, all in one batch. The first call
compiles and is not timed; then --rounds timed calls, the best printed as
units/s and unit-steps/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# Run as a script from anywhere: make the checkout importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from zfjax import runtime  # noqa: E402

if __name__ == '__main__':
  runtime.configure()  # first, as every entry point

import jax  # noqa: E402
import numpy as np  # noqa: E402

from zfjax.analyses import stimulus  # noqa: E402
from zfjax.networks import models  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='zfnet_small')
  parser.add_argument('--image_size', type=int, default=56)
  parser.add_argument('--layer', default='conv5')
  parser.add_argument('--units', type=int, default=64)
  parser.add_argument('--steps', type=int, default=256)
  parser.add_argument('--rounds', type=int, default=2)
  args = parser.parse_args()

  spec = models.get_spec(args.spec, 12)
  params = models.init_params(jax.random.PRNGKey(0), spec, args.image_size,
                              weight_std=None, bias_value=0.1)
  settings = stimulus.Settings(steps=args.steps)
  units = np.arange(args.units) % spec.layer(args.layer).features

  def run():
    return stimulus.maximize(params, spec, args.layer, units,
                             settings=settings, image_size=args.image_size)

  print(f'device: {jax.devices()[0].device_kind} x{jax.device_count()}, '
        f'{os.cpu_count()} CPU cores')
  tic = time.perf_counter()
  gain = run().objective
  first = time.perf_counter() - tic
  best = min(_seconds(run) for _ in range(args.rounds))
  print(f'{args.spec} at {args.image_size} px, {args.units} {args.layer} '
        f'units x {args.steps} steps: best of {args.rounds} {best:.2f} s = '
        f'{args.units / best:.2f} units/s '
        f'({args.units * args.steps / best:.0f} unit-steps/s); first call '
        f'with compilation {first:.1f} s; objective up by '
        f'{np.mean(gain[:, -1] - gain[:, 0]):.3g} on average')


def _seconds(fn) -> float:
  tic = time.perf_counter()
  fn()  # returns numpy arrays: the work is done
  return time.perf_counter() - tic


if __name__ == '__main__':
  main()
