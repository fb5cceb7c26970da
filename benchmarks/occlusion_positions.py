"""Occluder positions per second: ZFNet at 224 pixels, square 50, stride 8.

  python benchmarks/occlusion_positions.py [--images 1] [--chunk_size 32]
      [--spec zfnet] [--size 50] [--stride 8] [--repeats 2]
      [--modes incremental full]

Random weights (speed does not depend on them) and random images; 1000
classes. One image gives a 23 x 23 grid of square positions (529 forward
passes). The first sweep compiles and is reported apart; the figure is the
best of `--repeats` timed sweeps after it. Modes: `incremental` (the default
sweep: exact incremental lower layers) and `full` (exact_incremental=False,
every layer per square); with both, their sweeps alternate so that both see
the same machine load.
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

from zfjax.networks import models  # noqa: E402
from zfjax.analyses import occlusion  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='zfnet')
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--size', type=int, default=50)
  parser.add_argument('--stride', type=int, default=8)
  parser.add_argument('--images', type=int, default=1)
  parser.add_argument('--chunk_size', type=int, default=32)
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--modes', nargs='+', choices=('incremental', 'full'),
                      default=['incremental', 'full'])
  args = parser.parse_args()

  spec = models.get_spec(args.spec, 1000)
  params = models.init_params(jax.random.PRNGKey(0), spec, args.image_size)
  images = np.random.default_rng(0).normal(
      0, 50, (args.images, args.image_size, args.image_size, 3)).astype(
          np.float32)

  def sweep(mode):
    start = time.perf_counter()
    result = occlusion.occlusion_sweep(
        params, images, spec, labels=np.zeros(args.images, np.int32),
        size=args.size, stride=args.stride, chunk_size=args.chunk_size,
        exact_incremental=mode == 'incremental')
    return time.perf_counter() - start, result.p_true.size

  first = {mode: sweep(mode)[0] for mode in args.modes}
  best = dict.fromkeys(args.modes, np.inf)
  for _ in range(args.repeats):
    for mode in args.modes:
      seconds, positions = sweep(mode)
      best[mode] = min(best[mode], seconds)
  print(f'device: {jax.devices()[0].device_kind} x{jax.device_count()}, '
        f'{os.cpu_count()} CPU cores')
  print(f'{args.spec} at {args.image_size} px, square {args.size}, stride '
        f'{args.stride}, chunk {args.chunk_size}: {positions} positions '
        f'({args.images} image(s))')
  for mode in args.modes:
    # The default sweep keeps the lines this script always printed.
    label = '' if mode == 'incremental' else 'full recomputation, '
    print(f'{label}first sweep (with compilation): {first[mode]:.1f} s')
    print(f'{label}timed sweep: {best[mode]:.2f} s = '
          f'{positions / best[mode]:.1f} positions/s')


if __name__ == '__main__':
  main()
