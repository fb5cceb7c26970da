"""The atlas's two heavy stages on random weights and images: the scan and
the projections, with an estimate for a whole ZFNet atlas.

  python benchmarks/atlas_projections.py [--spec zfnet] [--image_size 224]
      [--maps 4] [--images_per_selection 1] [--chunk_size 36]
      [--scan_batches 4] [--batch_size 32] [--split_size 50000]

Projections: `topk.project_tops`, the atlas's batched call, on `--maps`
maps of every conv layer, 9 selections each (the top-9), each on its own
image by default (on a large split the top-9 of different units rarely
share images). Its rate is given with the forward pass of every image
included, as the atlas runs it, and without: less the time of the same
forward passes (`chunk_size` images per call), timed alternately. The
defaults make each layer's selections whole calls (4 x 9 = 36), as in a
real atlas where a group of images holds hundreds per layer. Alternated
with them, the deconv benchmark's batched rate (`deconv.project_units` on
conv5 over a trace made beforehand and not timed, `deconv_projections.py`
at the same chunk size), so the ratios are measured under one load.
Scan: `topk.scan_with_maxima` over every conv layer, images/s. Estimate:
scan the split once, then project 9 activations of every unit.
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
from zfjax.analyses import topk  # noqa: E402
from zfjax.networks import models  # noqa: E402

K = 9


class _Batch:

  def __init__(self, images, index):
    self.images, self.index = images, index
    self.mask = np.ones(len(images), bool)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='zfnet')
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--maps', type=int, default=4,
                      help='maps projected per conv layer')
  parser.add_argument('--images_per_selection', type=float, default=1.0,
                      help='distinct images per top-9 selection (1: each '
                      'its own image)')
  parser.add_argument('--chunk_size', type=int, default=36)
  parser.add_argument('--scan_batches', type=int, default=4)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--rounds', type=int, default=3,
                      help='timed rounds of each, the best counts (after '
                      'one to compile)')
  parser.add_argument('--split_size', type=int, default=50_000,
                      help='images of the split in the estimate')
  args = parser.parse_args()

  spec = models.get_spec(args.spec, 1000)
  size = args.image_size
  params = models.init_params(jax.random.PRNGKey(0), spec, size,
                              weight_std=None)
  rng = np.random.default_rng(0)
  layers = spec.conv_names
  units = sum(spec.layer(l).features for l in layers)
  selections = len(layers) * args.maps * K
  count = max(1, round(selections * args.images_per_selection))
  images = rng.normal(0, 50, (count, size, size, 3)).astype(np.float32)
  display = np.zeros(images.shape, np.uint8)
  print(f'device: {jax.devices()[0].device_kind} x{jax.device_count()}, '
        f'{os.cpu_count()} CPU cores')

  # Top-9 lists: each selection an image and a random position of its map.
  _, trace = jax.jit(models.forward_trace, static_argnums=2)(
      params, jnp.asarray(images[:1]), spec)
  tops, order = {}, rng.permutation(selections) % count
  for i, layer in enumerate(layers):
    _, h, w, c = trace.activations[layer].shape
    pick = order[i * args.maps * K:(i + 1) * args.maps * K]
    index = np.full((c, K), -1, np.int64)
    index[:args.maps] = pick.reshape(args.maps, K)
    tops[layer] = topk.TopActivations(
        np.ones((c, K), np.float32), index,
        rng.integers(0, h, (c, K)).astype(np.int32),
        rng.integers(0, w, (c, K)).astype(np.int32))
  maps = {layer: np.arange(args.maps) for layer in layers}
  load = lambda ix: (images[ix], display[ix])  # noqa: E731

  # The deconv benchmark's batched call: conv5's selections over a trace
  # of their images made beforehand.
  top = layers[-1]
  bench_images = jnp.asarray(images[:args.chunk_size])
  _, bench_trace = jax.jit(models.forward_trace, static_argnums=2)(
      params, bench_images, spec)
  h, w = bench_trace.activations[top].shape[1:3]
  picks = [jnp.asarray(a) for a in (
      np.arange(args.chunk_size) % len(bench_images),
      rng.integers(0, spec.layer(top).features, args.chunk_size),
      rng.integers(0, h, args.chunk_size), rng.integers(0, w, args.chunk_size))]

  def atlas_call():
    topk.project_tops(params, spec, tops, maps, load, image_size=size,
                      chunk_size=args.chunk_size, desc='atlas projections')

  def deconv_call():
    deconv.project_units(params, bench_trace, spec, top, *picks,
                         image_size=size).block_until_ready()

  batches = [_Batch(images[np.arange(b * args.batch_size, (b + 1)
                                     * args.batch_size) % count],
                    np.arange(b * args.batch_size, (b + 1) * args.batch_size))
             for b in range(args.scan_batches)]

  def scan_call():
    topk.scan_with_maxima(params, spec, batches, layers, K)

  forward = jax.jit(models.forward_trace, static_argnums=2)
  chunks = [jnp.asarray(images[np.arange(start, start + args.chunk_size)
                               % count])
            for start in range(0, count, args.chunk_size)]

  def forward_call():
    for chunk in chunks:
      jax.block_until_ready(forward(params, chunk, spec))

  # The best of the rounds of each (a shared machine's load only slows).
  spent = {'atlas': [], 'forward': [], 'deconv': [], 'scan': []}
  for round_ in range(args.rounds + 1):  # round 0 compiles
    for name, call in (('atlas', atlas_call), ('forward', forward_call),
                       ('deconv', deconv_call), ('scan', scan_call)):
      tic = time.perf_counter()
      call()
      if round_:
        spent[name].append(time.perf_counter() - tic)
  best = {name: min(times) for name, times in spent.items()}
  projecting = best['atlas'] - best['forward']
  rate = {'atlas': selections / best['atlas'],
          'projections': selections / projecting if projecting > 0
                         else float('nan'),
          'deconv': args.chunk_size / best['deconv'],
          'scan': args.scan_batches * args.batch_size / best['scan']}
  print(f'{args.spec} at {size} px, {len(layers)} conv layers, {units} '
        f'units; {args.maps} maps per layer x top-{K} = {selections} '
        f'selections on {count} images')
  print(f'atlas projections (project_tops, forward included): '
        f'{rate["atlas"]:.1f} projections/s; less the forward passes '
        f'({best["forward"] / best["atlas"]:.0%} of the time): '
        f'{rate["projections"]:.1f} projections/s')
  print(f'deconv benchmark batched {top} (trace not timed): '
        f'{rate["deconv"]:.1f} projections/s; atlas / deconv '
        f'{rate["atlas"] / rate["deconv"]:.2f} with the forward passes, '
        f'{rate["projections"] / rate["deconv"]:.2f} without')
  print(f'scan (every conv layer, maxima kept): {rate["scan"]:.1f} images/s')
  scan_s = args.split_size / rate['scan']
  project_s = units * K / rate['atlas']
  print(f'estimate for {units} units over {args.split_size} images: scan '
        f'{scan_s:.0f} s + projections {project_s:.0f} s = '
        f'{(scan_s + project_s) / 60:.1f} min (pages not included)')


if __name__ == '__main__':
  main()
