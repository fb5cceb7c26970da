"""Deconvnet projections per second: 9 images x 256 conv5 maps of ZFNet at 224.

  python benchmarks/deconv_projections.py [--images 9] [--layer conv5]
      [--chunk_sizes 8 32 128] [--single_per_chunk 2] [--spec zfnet]
      [--image_size 224] [--dtype float32] [--rule deconvnet]

Random weights (speed does not depend on them) and random images. Each
selection is the strongest position of one map in one image (the top-9
figure's workload: 9 x 256 = 2304 projections for conv5). The forward trace
is computed once and not timed.
  batched: `deconv.project_units` over chunks of selections, each chunk one
    compiled program (the first chunk compiles and is not timed);
  one at a time: `deconv.project` on a one-image trace, one selection per
    call (compiled once), `--single_per_chunk` calls after each batched
    chunk, so both rates are measured under the same machine load.
`--dtype bfloat16` runs the batched projections in bfloat16 (display only).
`--rule gradient` or `guided` times those rules instead of the deconvnet.
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
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from zfjax.analyses import deconv  # noqa: E402
from zfjax.networks import models  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='zfnet')
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--layer', default='conv5')
  parser.add_argument('--images', type=int, default=9)
  parser.add_argument('--chunk_sizes', type=int, nargs='+',
                      default=[8, 32, 128])
  parser.add_argument('--single_per_chunk', type=int, default=2,
                      help='single projections timed after each chunk')
  parser.add_argument('--dtype', choices=('float32', 'bfloat16'),
                      default='float32', help='of the batched projections')
  parser.add_argument('--rule', choices=deconv.RULES, default='deconvnet')
  args = parser.parse_args()

  spec = models.get_spec(args.spec, 1000)
  params = models.init_params(jax.random.PRNGKey(0), spec, args.image_size,
                              weight_std=None)
  images = jnp.asarray(np.random.default_rng(0).normal(
      0, 50, (args.images, args.image_size, args.image_size, 3)), jnp.float32)
  trace = jax.jit(models.forward_trace, static_argnums=2)(params, images,
                                                          spec)[1]
  maps = trace.activations[args.layer].shape[-1]
  image = np.repeat(np.arange(args.images), maps)
  channel = np.tile(np.arange(maps), args.images)
  # (maps, images) peak positions, flattened image-major like `image`.
  y, x = (np.asarray(a).T.ravel() for a in jax.vmap(
      lambda c: deconv.strongest_position(trace, args.layer, c))(
          jnp.arange(maps)))
  total = len(image)
  print(f'device: {jax.devices()[0].device_kind} x{jax.device_count()}, '
        f'{os.cpu_count()} CPU cores')
  print(f'{args.spec} at {args.image_size} px, {args.layer}: {args.images} '
        f'images x {maps} maps = {total} projections, rule {args.rule}')

  one_traces = [jax.tree_util.tree_map(lambda a, i=i: a[i:i + 1], trace)
                for i in range(args.images)]

  def single(m):
    return deconv.project(params, one_traces[image[m]], spec, args.layer,
                          channel[m:m + 1], y[m:m + 1], x[m:m + 1],
                          image_size=args.image_size,
                          rule=args.rule).block_until_ready()

  single(0)
  picks = iter(np.random.default_rng(1).permutation(np.arange(total)))
  for chunk in args.chunk_sizes:
    def batched(start, chunk=chunk):
      sl = slice(start, start + chunk)
      return deconv.project_units(
          params, trace, spec, args.layer, image[sl], channel[sl], y[sl],
          x[sl], image_size=args.image_size,
          dtype=None if args.dtype == 'float32' else jnp.bfloat16,
          rule=args.rule).block_until_ready()
    tic = time.perf_counter()
    batched(0)
    compile_s = time.perf_counter() - tic
    # Alternate: after each batched chunk, a few single projections, so that
    # both see the same machine load.
    spent = {'batched': 0.0, 'single': 0.0}
    count = {'batched': 0, 'single': 0}
    for start in range(0, total - chunk + 1, chunk):
      tic = time.perf_counter()
      batched(start)
      spent['batched'] += time.perf_counter() - tic
      count['batched'] += chunk
      for _ in range(args.single_per_chunk):
        tic = time.perf_counter()
        single(next(picks, 0))
        spent['single'] += time.perf_counter() - tic
        count['single'] += 1
    rate = {k: count[k] / spent[k] for k in spent if count[k]}
    line = (f'chunk {chunk}: batched {rate["batched"]:.1f} projections/s '
            f'({total / rate["batched"]:.0f} s for all {total}; first chunk '
            f'with compilation {compile_s:.1f} s)')
    if 'single' in rate:  # --single_per_chunk 0 times the batches alone
      line += (f'; one at a time {rate["single"]:.1f} projections/s (over '
               f'{count["single"]}, alternated; '
               f'{total / rate["single"]:.0f} s for all {total})')
    print(line)


if __name__ == '__main__':
  main()
