r"""The three ways back to the pixels and the optimised stimulus, side by side.

  python examples/rules_side_by_side.py --workdir workdir/synthetic \
      [--layer conv5] [--maps 9] [--seed 0] [--limit 2000] [--images 32]

For the maps `top9 --maps 9 --seed 0` would choose: each map's strongest
activation across the validation split (the first --limit images) as the
image patch, its deconvnet, gradient and guided projections
(`deconv.RULES`) and the map's optimised stimulus (`stimulus.maximize`,
default settings), one row per map, written to
WORKDIR/figures/rules_<layer>.png. Then Mahendran & Vedaldi's question
(ECCV 2016: do deconvnet pictures change with the unit?), measured: in
each of the first --images validation images, the strongest unit of every
chosen map that fires there is projected under each rule, and the Pearson
correlation between the projections of different units of the same image
is averaged over the pairs and images (1: the picture does not depend on
the unit; 0: unrelated pictures).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

# Run as a script from anywhere: make the checkout importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from zfjax import runtime  # noqa: E402

if __name__ == '__main__':
  runtime.configure()  # first, as every entry point

import jax  # noqa: E402
import numpy as np  # noqa: E402

import zfjax  # noqa: E402
from zfjax.analyses import deconv, stimulus, topk  # noqa: E402
from zfjax.commands import common  # noqa: E402
from zfjax.figures import grids  # noqa: E402
from zfjax.networks import models  # noqa: E402


def cross_unit_correlation(projections: np.ndarray) -> float:
  """Mean Pearson correlation over the pairs of (U, S, S, 3) projections."""
  flat = projections.reshape(len(projections), -1)
  return float(np.mean([np.corrcoef(a, b)[0, 1]
                        for a, b in itertools.combinations(flat, 2)]))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--layer', default='conv5')
  parser.add_argument('--maps', type=int, default=9)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--limit', type=int, default=2000,
                      help='validation images scanned for the top-1')
  parser.add_argument('--images', type=int, default=32,
                      help='validation images of the correlation')
  args = parser.parse_args()
  run = zfjax.load_run(args.workdir)
  layer, split = args.layer, run.config.eval_split
  maps = common.channels(argparse.Namespace(channels=None, maps=args.maps,
                                            seed=args.seed), run.spec, layer)
  batches, total = common.split_batches(run.data, split, 64, args.limit)
  top = topk.scan(run.params, run.spec, batches, [layer], 1,
                  total=total)[layer]
  load = common.split_loader(run, split)
  found = topk.project_tops_by_rule(
      run.params, run.spec, {layer: top}, {layer: maps}, load,
      rules=deconv.RULES, image_size=run.config.crop_size)
  columns = {'patch': found['deconvnet'][layer].patches[:, 0]}
  for rule in deconv.RULES:
    columns[rule] = common.show(found[rule][layer].projections[:, 0], 0.5)
  optimised = stimulus.for_units(run, [(layer, int(m)) for m in maps])
  columns['stimulus'] = common.show(optimised.images, 0.5)
  side = columns['patch'].shape[1]
  cells = [c if c.shape[1] == side else _resize(c, side)
           for c in columns.values()]
  zoom = grids.display_factor(side, 96)
  image = grids.tile(grids.upscale(np.stack(cells, 1).reshape(
      (-1, side, side, 3)), zoom), len(cells))
  out = os.path.join(args.workdir, 'figures', f'rules_{layer}.png')
  os.makedirs(os.path.dirname(out), exist_ok=True)
  grids.write_png(out, image, (
      f'{run.spec.name} {layer}, rows maps {" ".join(map(str, maps))}; '
      f'columns: {", ".join(columns)}'))
  print(out)

  batch = run.data.load_examples(split, np.arange(args.images))
  trace = jax.jit(models.forward_trace, static_argnums=2)(
      run.params, np.asarray(batch.images), run.spec)[1]
  acts = np.asarray(trace.activations[layer])
  image, channel = (a.ravel() for a in np.meshgrid(
      np.arange(args.images), maps, indexing='ij'))
  flat = acts[image, :, :, channel].reshape(len(image), -1)
  y, x = np.divmod(flat.argmax(1), acts.shape[2])
  live = flat.max(1) > 0
  print(f'{live.sum()} live units of {len(live)} ({args.images} images x '
        f'{len(maps)} maps); mean correlation between different units\' '
        f'projections of the same image:')
  for rule in deconv.RULES:
    projections = np.asarray(deconv.project_units(
        run.params, trace, run.spec, layer, image, channel, y, x,
        image_size=run.config.crop_size, rule=rule))
    per_image = [cross_unit_correlation(projections[(image == i) & live])
                 for i in range(args.images)
                 if np.sum((image == i) & live) > 1]
    print(f'  {rule:9s} {np.mean(per_image):.3f} (over {len(per_image)} '
          f'images; spread {np.std(per_image):.3f})')


def _resize(images: np.ndarray, side: int) -> np.ndarray:
  """Nearest-neighbour resize of (N, H, W, 3) uint8 to side x side."""
  rows = np.arange(side) * images.shape[1] // side
  cols = np.arange(side) * images.shape[2] // side
  return images[:, rows][:, :, cols]


if __name__ == '__main__':
  main()
