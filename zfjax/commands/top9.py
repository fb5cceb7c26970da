"""`visualize.py top9` (ZF Fig. 2) and `evolution` (ZF Fig. 4): each map's
strongest activations across a split, projected through the deconvnet (or
by the gradient or guided backpropagation: --rule).

Imports at the top only what parsing needs (`options`); the library loads
inside the run functions, so that `--help` is fast.
"""

from __future__ import annotations

import argparse
import pathlib

from zfjax.commands import options

# Cells are enlarged to at least this many pixels: a 56-pixel projection is
# shown at 112 (nearest neighbour), where its strokes can be read.
CELL_PIXELS = 96


def _scan(args, run, split: str, layers: list[str], k: int, params=None):
  """The top-k of `params` (default: the run's) over the split or
  --image_dir."""
  # pylint: disable-next=g-import-not-at-top
  from zfjax.analyses import topk
  from zfjax.commands import common  # pylint: disable=g-import-not-at-top
  batch_size = args.batch_size or run.config.eval_batch_size
  files = None
  if getattr(args, 'image_dir', None):
    files = common.FileScan(run, common.image_files(args.image_dir),
                            batch_size, args.limit)
    batches, total = files, files.total
  else:
    batches, total = common.split_batches(run.data, split, batch_size,
                                          args.limit)
  top = topk.scan(run.params if params is None else params, run.spec,
                  batches, layers, k, total=total)
  if files is not None:
    files.finish()
  return top


def add_top9_arguments(parser: argparse.ArgumentParser) -> None:
  options.add_map_choice(parser, maps=16)
  options.add_scan(parser, 'split to scan (default: config.eval_split)')
  options.add_rule(parser)
  parser.add_argument('--k', type=options.positive, default=9,
                      help='strongest images kept per map (default 9)')
  parser.add_argument(
      '--image_dir', help='scan your own JPEG/PNG images in this folder '
      'instead of a split (centre-cropped like evaluation inputs; --limit '
      'takes the first N by name; files that cannot be read are skipped; '
      'the run\'s data set is not needed)')


def top9(args: argparse.Namespace, run, out_dir: pathlib.Path) -> list:
  """ZF Fig. 2: per layer, each map's k strongest activations across a split,
  projected (left 3x3 block) beside their receptive-field patches (right),
  each block titled with its map."""
  # pylint: disable=g-import-not-at-top
  from zfjax.analyses import topk
  from zfjax.commands import common
  from zfjax.figures import grids
  # pylint: enable=g-import-not-at-top
  spec, config = run.spec, run.config
  split = args.split or config.eval_split
  layers = common.conv_layers(args, spec)
  chosen = {layer: common.channels(args, spec, layer) for layer in layers}
  top = _scan(args, run, split, layers, args.k)
  if args.image_dir:
    split = args.image_dir
    load = common.file_loader(run, common.image_files(args.image_dir))
  else:
    load = common.split_loader(run, split)
  paths = []
  for layer in layers:
    result = topk.top_patches(run.params, spec, layer, top[layer],
                              chosen[layer], load,
                              image_size=config.crop_size,
                              chunk_size=args.chunk_size, rule=args.rule)
    zoom = grids.display_factor(result.patches.shape[-2], CELL_PIXELS)
    shown = common.show(result.projections, args.saturate)
    image = grids.top9_grid(grids.upscale(shown, zoom),
                            grids.upscale(result.patches, zoom),
                            titles=[f'map {c}' for c in chosen[layer]])
    caption = (f'{spec.name} epoch {run.epoch} {layer}: each map\'s top '
               f'{args.k} of {split}, {args.rule} projections (left) and '
               f'patches (right)')
    paths.append(pathlib.Path(grids.write_png(
        out_dir / f'top9_{layer}.png', image, caption)))
    if args.npz:
      paths.append(common.save_npz(out_dir / f'top9_{layer}.npz',
                                   **result._asdict()))
  return paths


def add_evolution_arguments(parser: argparse.ArgumentParser) -> None:
  options.add_map_choice(parser, maps=4)
  options.add_scan(
      parser, 'split to scan (default: config.eval_split). It is scanned '
      'once per kept epoch: the built-in validation split (2,000 images) '
      'takes seconds per epoch on a CPU, its training split (20,000, the '
      'paper\'s choice) ten times longer')
  options.add_rule(parser)
  parser.add_argument(
      '--epochs', type=int, nargs='+',
      help='checkpoint epochs, one column each (default: every saved one)')


def evolution(args: argparse.Namespace, run, out_dir: pathlib.Path) -> list:
  """ZF Fig. 4: per layer, rows of maps, one column per kept epoch: the
  projection of the map's strongest activation across the split (default:
  the validation split; the paper's was the training set)."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from zfjax.analyses import topk
  from zfjax.commands import common
  from zfjax.errors import ZfjaxError
  from zfjax.figures import grids
  from zfjax.training import workdirs
  # pylint: enable=g-import-not-at-top
  spec, config = run.spec, run.config
  split = args.split or config.eval_split
  layers = common.conv_layers(args, spec)
  chosen = {layer: common.channels(args, spec, layer) for layer in layers}
  saved = workdirs.saved_epochs(run.workdir)
  epochs = args.epochs or saved
  missing = sorted(set(epochs) - set(saved))
  if not epochs or missing:
    raise ZfjaxError(f'{run.workdir} has no end-of-epoch checkpoint for '
                     f'epochs {missing or "any"} (saved: {saved or "none"}); '
                     f'list the epochs in config.keep_epochs before training')
  load = common.split_loader(run, split)
  columns = {layer: [] for layer in layers}
  # A scan per epoch: reading the split once for every epoch's forward
  # passes (topk over stacked params) measured 1.2-1.3x slower on the 2-core
  # CPU, where the forward passes, not the reading, take the time.
  for epoch in epochs:
    params = workdirs.load_run(run.workdir, epoch=epoch).params
    top = _scan(args, run, split, layers, 1, params=params)
    for layer in layers:
      columns[layer].append(topk.top_patches(
          params, spec, layer, top[layer], chosen[layer], load,
          image_size=config.crop_size, chunk_size=args.chunk_size,
          rule=args.rule))
  paths = []
  for layer in layers:
    # (maps, epochs, P, P, 3): row = map, column = epoch.
    raw = np.stack([c.projections[:, 0] for c in columns[layer]], axis=1)
    shown = common.show(raw, args.saturate)
    zoom = grids.display_factor(raw.shape[-2], CELL_PIXELS)
    cells = grids.upscale(shown.reshape((-1,) + raw.shape[2:]), zoom)
    image = grids.tile(cells, len(epochs))
    caption = (f'{spec.name} {layer} over {split}, {args.rule} '
               f'projections: rows maps '
               f'{" ".join(map(str, chosen[layer]))}; columns epochs '
               f'{" ".join(map(str, epochs))}')
    paths.append(pathlib.Path(grids.write_png(
        out_dir / f'evolution_{layer}.png', image, caption)))
    if args.npz:
      paths.append(common.save_npz(
          out_dir / f'evolution_{layer}.npz', projections=raw,
          epochs=np.asarray(epochs), channels=chosen[layer],
          index=np.stack([c.index[:, 0] for c in columns[layer]], axis=1),
          value=np.stack([c.value[:, 0] for c in columns[layer]], axis=1)))
  return paths
