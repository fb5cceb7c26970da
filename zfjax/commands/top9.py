"""`visualize.py top9` (ZF Fig. 2) and `evolution` (ZF Fig. 4): each map's
strongest activations across a split, projected through the deconvnet (or
by the gradient or guided backpropagation: --rule)."""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from zfjax.analyses import topk
from zfjax.commands import common
from zfjax.errors import ZfjaxError
from zfjax.figures import grids
from zfjax.training import workdirs


def _scan(args, run: workdirs.TrainedRun, split: str, layers: list[str],
          k: int, params=None) -> dict[str, topk.TopActivations]:
  batch_size = args.batch_size or run.config.eval_batch_size
  if getattr(args, 'image_dir', None):
    batches, total = common.file_batches(
        run, common.image_files(args.image_dir), batch_size, args.limit)
  else:
    batches, total = common.split_batches(run.data, split, batch_size,
                                          args.limit)
  return topk.scan(run.params if params is None else params, run.spec,
                   batches, layers, k, total=total)


def add_top9_arguments(parser: argparse.ArgumentParser) -> None:
  common.add_map_choice(parser, maps=16)
  common.add_scan(parser, 'split to scan (default: config.eval_split)')
  parser.add_argument('--k', type=int, default=9,
                      help='strongest images kept per map (default 9)')
  parser.add_argument(
      '--image_dir', help='scan your own JPEG/PNG images in this folder '
      'instead of a split (centre-cropped like evaluation inputs; --limit '
      'takes the first N by name; the run\'s data set is not needed)')


def top9(args: argparse.Namespace, run: workdirs.TrainedRun,
         out_dir: pathlib.Path) -> common.Paths:
  """ZF Fig. 2: per layer, each map's k strongest activations across a split,
  projected (left 3x3 block) beside their receptive-field patches (right)."""
  spec, config = run.spec, run.config
  if args.k < 1:
    raise ZfjaxError(f'--k must be at least 1, got {args.k}')
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
    zoom = grids.display_factor(result.patches.shape[-2])
    shown = common.show(result.projections, args.saturate)
    image = grids.top9_grid(grids.upscale(shown, zoom),
                            grids.upscale(result.patches, zoom))
    caption = (f'{spec.name} epoch {run.epoch} {layer}, top {args.k} of '
               f'{split}, {args.rule} projections; maps '
               f'{" ".join(map(str, chosen[layer]))}')
    name = f'top9_{layer}{common.rule_suffix(args.rule)}'
    paths.append(pathlib.Path(grids.write_png(
        out_dir / f'{name}.png', image, caption)))
    if args.npz:
      paths.append(common.save_npz(out_dir / f'{name}.npz',
                                   **result._asdict()))
  return paths


def add_evolution_arguments(parser: argparse.ArgumentParser) -> None:
  common.add_map_choice(parser, maps=4)
  common.add_scan(parser, 'split to scan (default: config.train_split)')
  parser.add_argument(
      '--epochs', type=int, nargs='+',
      help='checkpoint epochs, one column each (default: every saved one)')


def evolution(args: argparse.Namespace, run: workdirs.TrainedRun,
              out_dir: pathlib.Path) -> common.Paths:
  """ZF Fig. 4: per layer, rows of maps, one column per kept epoch: the
  projection of the map's strongest activation across the split."""
  spec, config = run.spec, run.config
  split = args.split or config.train_split
  layers = common.conv_layers(args, spec)
  chosen = {layer: common.channels(args, spec, layer) for layer in layers}
  saved = workdirs.saved_epochs(args.workdir)
  epochs = args.epochs or saved
  missing = sorted(set(epochs) - set(saved))
  if not epochs or missing:
    raise ZfjaxError(f'{args.workdir} has no end-of-epoch checkpoint for '
                     f'epochs {missing or "any"} (saved: {saved or "none"}); '
                     f'list the epochs in config.keep_epochs before training')
  load = common.split_loader(run, split)
  columns = {layer: [] for layer in layers}
  for epoch in epochs:
    print(f'epoch {epoch}:')
    params = workdirs.load_run(args.workdir, epoch=epoch).params
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
    zoom = grids.display_factor(raw.shape[-2], 64)
    cells = grids.upscale(shown.reshape((-1,) + raw.shape[2:]), zoom)
    image = grids.tile(cells, len(epochs))
    caption = (f'{spec.name} {layer}, {args.rule} projections: rows maps '
               f'{" ".join(map(str, chosen[layer]))}; columns epochs '
               f'{" ".join(map(str, epochs))}')
    name = f'evolution_{layer}{common.rule_suffix(args.rule)}'
    paths.append(pathlib.Path(grids.write_png(
        out_dir / f'{name}.png', image, caption)))
    if args.npz:
      paths.append(common.save_npz(
          out_dir / f'{name}.npz', projections=raw,
          epochs=np.asarray(epochs), channels=chosen[layer],
          index=np.stack([c.index[:, 0] for c in columns[layer]], axis=1),
          value=np.stack([c.value[:, 0] for c in columns[layer]], axis=1)))
  return paths
