r"""Figures of a trained run, written as PNGs into WORKDIR/figures/.

  python visualize.py --workdir workdir/synthetic top9         # ZF Fig. 2
  python visualize.py --workdir DIR top9 --layers conv1 conv5 --maps 9
  python visualize.py --workdir DIR top9 --layers conv5 --channels 3,17,40
  python visualize.py --workdir DIR top9 --image_dir my_photos/
  python visualize.py --workdir DIR filters                    # ZF Fig. 6
  python visualize.py --workdir DIR evolution --epochs 1 2 5   # ZF Fig. 4

The run's config and its newest checkpoint (or --epoch) are read from the
workdir. Projections are contrast-stretched per image around zero: grey is
no influence, the top --saturate percent saturate (see
`deconv.normalize_for_display`). --npz also saves the raw
arrays (projections, patches, activations, image indices, positions).

Each command is an entry of COMMANDS: a help line, a function that adds its
options to an argparse parser, and a function (args, model, out_dir) -> list
of written paths, where model is a `checkpointing.TrainedModel`.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import pathlib
import sys
from typing import Callable, Iterator, NamedTuple

from zfjax import host_memory
from zfjax import xla_cpu

if __name__ == '__main__':
  # Before numpy's and XLA's threads start: see host_memory.
  host_memory.keep_freed_memory_on_cpu()
  xla_cpu.use_eigen_convolutions()  # before JAX starts: see xla_cpu

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np

from zfjax import analysis_plots
from zfjax import checkpointing
from zfjax import correspondence
from zfjax import deconv
from zfjax import grids
from zfjax import input_pipeline
from zfjax import topk
from zfjax.errors import ZfjaxError

Paths = list[pathlib.Path]


class Command(NamedTuple):
  help: str
  add_arguments: Callable[[argparse.ArgumentParser], None]
  run: Callable[[argparse.Namespace, checkpointing.TrainedModel,
                 pathlib.Path], Paths]


# ------------------------------------------------------------ shared pieces


def _add_map_choice(parser: argparse.ArgumentParser, maps: int) -> None:
  parser.add_argument(
      '--layers', nargs='+', metavar='LAYER',
      help='conv layers to show (default: every conv layer of the spec)')
  parser.add_argument(
      '--maps', type=int, default=maps,
      help=f'feature maps per layer, a random subset drawn with --seed '
      f'(default {maps})')
  parser.add_argument(
      '--channels', type=_int_list, metavar='C,C,...',
      help='these feature maps instead of a random subset (every listed '
      'layer must have them)')
  parser.add_argument('--seed', type=int, default=0,
                      help='seed of the random subset of maps')


def _add_scan(parser: argparse.ArgumentParser, split_help: str) -> None:
  parser.add_argument('--split', help=split_help)
  parser.add_argument(
      '--limit', type=int,
      help='scan only about the first N examples of the split (whole batches)')
  parser.add_argument(
      '--batch_size', type=int,
      help='images per scan batch (default: config.eval_batch_size)')
  parser.add_argument(
      '--chunk_size', type=int, default=32,
      help='images projected per deconvnet call (memory vs speed)')
  parser.add_argument(
      '--saturate', type=_percentage, default=0.5,
      help='percent of each projection\'s non-zero values shown saturated '
      '(default 0.5; 0: scale by the largest value)')


def _int_list(text: str) -> list[int]:
  try:
    return [int(t) for t in text.split(',') if t]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'expected comma-separated integers, got {text!r}') from None


def _percentage(text: str) -> float:
  value = float(text)
  if not 0 <= value < 100:
    raise argparse.ArgumentTypeError(f'a percentage in [0, 100), got {text}')
  return value


def _layers(args: argparse.Namespace, spec) -> list[str]:
  layers = args.layers or list(spec.conv_names)
  for layer in layers:
    deconv.check_conv_layer(spec, layer)
  return layers


def _channels(args: argparse.Namespace, spec, layer: str) -> np.ndarray:
  """The listed maps, or a sorted random subset seeded by (seed, layer)."""
  num_maps = spec.layer(layer).features
  if args.channels:
    bad = [c for c in args.channels if not 0 <= c < num_maps]
    if bad:
      raise ZfjaxError(f'{layer} has maps 0..{num_maps - 1}; --channels '
                       f'{bad} do not exist')
    return np.asarray(args.channels)
  if args.maps < 1:
    raise ZfjaxError(f'--maps must be at least 1, got {args.maps}')
  # Seeded by the layer's position too, so adding a layer to --layers does
  # not change the maps chosen in the others.
  rng = np.random.default_rng([args.seed, spec.conv_names.index(layer)])
  return np.sort(rng.choice(num_maps, min(args.maps, num_maps),
                            replace=False))


def _split_batches(config, split: str, batch_size: int, limit: int | None
                   ) -> tuple[Iterator, int]:
  """This split's evaluation batches (the first ~limit examples) and their
  number, for the progress bar."""
  sizes = input_pipeline.dataset_info(config).split_sizes
  if split not in sizes:
    raise ZfjaxError(f"split '{split}' is not in {config.dataset}; choose one "
                     f"of {', '.join(sizes)}")
  count = sizes[split] if limit is None else min(limit, sizes[split])
  total = math.ceil(count / batch_size)
  batches = input_pipeline.eval_batches(config, split, batch_size=batch_size)
  return itertools.islice(batches, total), total


def _loader(config, split: str) -> topk.ImageLoader:
  def load(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    batch = input_pipeline.load_examples(config, split, indices)
    return (np.asarray(batch.images),
            np.asarray(input_pipeline.to_display(batch.images, config)))
  return load


def _scan(args, model, split: str, layers: list[str], k: int):
  config = model.config
  batch_size = args.batch_size or config.eval_batch_size
  if getattr(args, 'image_dir', None):
    batches, total = _file_batches(config, _image_files(args.image_dir),
                                   batch_size, args.limit)
  else:
    batches, total = _split_batches(config, split, batch_size, args.limit)
  return topk.scan(model.params, model.spec, batches, layers, k, total=total)


_IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')


def _image_files(image_dir: str) -> list[str]:
  """The JPEG and PNG files directly in `image_dir`, sorted by name (an
  image's index in the top-k is its position in this list)."""
  if not os.path.isdir(image_dir):
    raise ZfjaxError(f'--image_dir {image_dir} is not a directory')
  paths = sorted(os.path.join(image_dir, name) for name in os.listdir(image_dir)
                 if name.lower().endswith(_IMAGE_SUFFIXES))
  if not paths:
    raise ZfjaxError(f'{image_dir} holds no .jpg, .jpeg or .png files')
  return paths


def _file_batches(config, paths: list[str], batch_size: int,
                  limit: int | None) -> tuple[Iterator, int]:
  """Batches of image files preprocessed like evaluation inputs, index =
  position in `paths`; the last batch is padded (mask False)."""
  paths = paths[:limit]
  total = math.ceil(len(paths) / batch_size)

  def batches():
    for start in range(0, len(paths), batch_size):
      chunk = paths[start:start + batch_size]
      images = correspondence.load_image_files(chunk, config).images
      pad = batch_size - len(chunk)
      yield input_pipeline.Batch(
          np.concatenate([images, np.zeros((pad,) + images.shape[1:],
                                           images.dtype)]),
          np.zeros(batch_size, np.int32),
          np.arange(batch_size) < len(chunk),
          np.arange(start, start + batch_size))
  return batches(), total


def _file_loader(config, paths: list[str]) -> topk.ImageLoader:
  def load(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = correspondence.load_image_files([paths[i] for i in indices],
                                             config).images
    return images, np.asarray(input_pipeline.to_display(images, config))
  return load


def _show(projections: np.ndarray, saturate: float) -> np.ndarray:
  """(..., P, P, 3) raw projections to display uint8, each on its own."""
  shape = projections.shape
  return deconv.normalize_for_display(
      projections.reshape((-1,) + shape[-3:]),
      saturate=saturate).reshape(shape)


def _save_npz(path: pathlib.Path, **arrays) -> pathlib.Path:
  np.savez_compressed(path, **arrays)
  return path


# -------------------------------------------------------------------- top9


def _top9_arguments(parser: argparse.ArgumentParser) -> None:
  _add_map_choice(parser, maps=16)
  _add_scan(parser, 'split to scan (default: config.eval_split)')
  parser.add_argument('--k', type=int, default=9,
                      help='strongest images kept per map (default 9)')
  parser.add_argument(
      '--image_dir', help='scan your own JPEG/PNG images in this folder '
      'instead of a split (centre-cropped like evaluation inputs; --limit '
      'takes the first N by name)')


def top9(args: argparse.Namespace, model: checkpointing.TrainedModel,
         out_dir: pathlib.Path) -> Paths:
  """ZF Fig. 2: per layer, each map's k strongest activations across a split,
  projected (left 3x3 block) beside their receptive-field patches (right)."""
  spec, config = model.spec, model.config
  if args.k < 1:
    raise ZfjaxError(f'--k must be at least 1, got {args.k}')
  split = args.split or config.eval_split
  layers = _layers(args, spec)
  chosen = {layer: _channels(args, spec, layer) for layer in layers}
  top = _scan(args, model, split, layers, args.k)
  if args.image_dir:
    split = args.image_dir
    load = _file_loader(config, _image_files(args.image_dir))
  else:
    load = _loader(config, split)
  paths = []
  for layer in layers:
    result = topk.top_patches(model.params, spec, layer, top[layer],
                              chosen[layer], load,
                              image_size=config.crop_size,
                              chunk_size=args.chunk_size)
    zoom = grids.display_factor(result.patches.shape[-2])
    shown = _show(result.projections, args.saturate)
    image = grids.top9_grid(grids.upscale(shown, zoom),
                            grids.upscale(result.patches, zoom))
    caption = (f'{spec.name} epoch {model.epoch} {layer}, top {args.k} of '
               f'{split}; maps {" ".join(map(str, chosen[layer]))}')
    paths.append(pathlib.Path(grids.write_png(
        out_dir / f'top9_{layer}.png', image, caption)))
    if args.npz:
      paths.append(_save_npz(out_dir / f'top9_{layer}.npz',
                             **result._asdict()))
  return paths


# ----------------------------------------------------------------- filters


def _filters_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument(
      '--per_filter', action='store_true',
      help='stretch each filter on its own (default: one scale for all, so '
      'dead filters look grey and dominant ones stand out)')
  parser.add_argument('--dead_ratio', type=float, default=0.1,
                      help='dead: RMS below this times the median RMS')
  parser.add_argument('--dominant_ratio', type=float, default=3.0,
                      help='dominant: RMS above this times the median RMS')


def filters(args: argparse.Namespace, model: checkpointing.TrainedModel,
            out_dir: pathlib.Path) -> Paths:
  """ZF Fig. 6: the first conv layer's filters, with dead/dominant counts."""
  layer = model.spec.conv_names[0]
  kernel = np.asarray(model.params[layer]['kernel'])
  stats = grids.filter_stats(kernel, dead_ratio=args.dead_ratio,
                             dominant_ratio=args.dominant_ratio)
  caption = (f'{model.spec.name} epoch {model.epoch} {layer}: '
             f'{len(stats.rms)} filters, {int(stats.dead.sum())} dead, '
             f'{int(stats.dominant.sum())} dominant; median RMS '
             f'{np.median(stats.rms):.3g}')
  print(caption)
  paths = [pathlib.Path(grids.write_png(
      out_dir / f'filters_{layer}.png',
      grids.filter_grid(kernel, per_filter=args.per_filter), caption))]
  if args.npz:
    paths.append(_save_npz(out_dir / f'filters_{layer}.npz', kernel=kernel,
                           **stats._asdict()))
  return paths


# --------------------------------------------------------------- evolution


def _evolution_arguments(parser: argparse.ArgumentParser) -> None:
  _add_map_choice(parser, maps=4)
  _add_scan(parser, 'split to scan (default: config.train_split)')
  parser.add_argument(
      '--epochs', type=int, nargs='+',
      help='checkpoint epochs, one column each (default: every saved one)')


def evolution(args: argparse.Namespace, model: checkpointing.TrainedModel,
              out_dir: pathlib.Path) -> Paths:
  """ZF Fig. 4: per layer, rows of maps, one column per kept epoch: the
  projection of the map's strongest activation across the split."""
  spec, config = model.spec, model.config
  split = args.split or config.train_split
  layers = _layers(args, spec)
  chosen = {layer: _channels(args, spec, layer) for layer in layers}
  saved = checkpointing.saved_epochs(args.workdir)
  epochs = args.epochs or saved
  missing = sorted(set(epochs) - set(saved))
  if not epochs or missing:
    raise ZfjaxError(f'{args.workdir} has no end-of-epoch checkpoint for '
                     f'epochs {missing or "any"} (saved: {saved or "none"}); '
                     f'list the epochs in config.keep_epochs before training')
  load = _loader(config, split)
  columns = {layer: [] for layer in layers}
  for epoch in epochs:
    print(f'epoch {epoch}:')
    snapshot = checkpointing.load_trained(args.workdir, epoch=epoch)
    top = _scan(args, snapshot, split, layers, 1)
    for layer in layers:
      columns[layer].append(topk.top_patches(
          snapshot.params, spec, layer, top[layer], chosen[layer], load,
          image_size=config.crop_size, chunk_size=args.chunk_size))
  paths = []
  for layer in layers:
    # (maps, epochs, P, P, 3): row = map, column = epoch.
    raw = np.stack([c.projections[:, 0] for c in columns[layer]], axis=1)
    shown = _show(raw, args.saturate)
    zoom = grids.display_factor(raw.shape[-2], 64)
    cells = grids.upscale(shown.reshape((-1,) + raw.shape[2:]), zoom)
    image = grids.tile(cells, len(epochs))
    caption = (f'{spec.name} {layer}: rows maps '
               f'{" ".join(map(str, chosen[layer]))}; columns epochs '
               f'{" ".join(map(str, epochs))}')
    paths.append(pathlib.Path(grids.write_png(
        out_dir / f'evolution_{layer}.png', image, caption)))
    if args.npz:
      paths.append(_save_npz(
          out_dir / f'evolution_{layer}.npz', projections=raw,
          epochs=np.asarray(epochs), channels=chosen[layer],
          index=np.stack([c.index[:, 0] for c in columns[layer]], axis=1),
          value=np.stack([c.value[:, 0] for c in columns[layer]], axis=1)))
  return paths


COMMANDS: dict[str, Command] = {
    'top9': Command('ZF Fig. 2: top-9 projections and patches per map',
                    _top9_arguments, top9),
    'filters': Command('ZF Fig. 6: first-layer filters, dead and dominant',
                       _filters_arguments, filters),
    'evolution': Command('ZF Fig. 4: strongest projection per kept epoch',
                         _evolution_arguments, evolution),
    'occlusion': Command('ZF Fig. 7: occlusion sensitivity, five panels',
                         analysis_plots.add_occlusion_arguments,
                         analysis_plots.occlusion_command),
    'invariance': Command('ZF Fig. 5: translation, scale, rotation curves',
                          analysis_plots.add_invariance_arguments,
                          analysis_plots.invariance_command),
    'correspondence': Command('ZF Table 1: part correspondence',
                              analysis_plots.add_correspondence_arguments,
                              analysis_plots.correspondence_command),
}


# ------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--workdir', required=True,
                      help="a training run's workdir (train.py --workdir)")
  # --epoch and --npz are accepted before or after the command; after it,
  # SUPPRESS leaves the value from before alone unless the option is given.
  common = argparse.ArgumentParser(add_help=False)
  for target, unset in ((parser, None), (common, argparse.SUPPRESS)):
    target.add_argument('--epoch', type=int, default=unset,
                        help='use the end-of-epoch checkpoint of this epoch '
                        '(default: the newest checkpoint)')
    target.add_argument('--npz', action='store_true',
                        default=unset or False,
                        help='also save the raw arrays as .npz')
  commands = parser.add_subparsers(dest='command', required=True,
                                   metavar='COMMAND')
  for name, command in COMMANDS.items():
    sub = commands.add_parser(name, help=command.help, parents=[common],
                              description=command.run.__doc__)
    command.add_arguments(sub)
  return parser


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  try:
    if not os.path.isdir(args.workdir):
      raise ZfjaxError(f'workdir {args.workdir} does not exist; pass the '
                       f'--workdir of a run of train.py')
    model = checkpointing.load_trained(args.workdir, epoch=args.epoch)
    out_dir = pathlib.Path(args.workdir) / 'figures'
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = COMMANDS[args.command].run(args, model, out_dir)
  except ZfjaxError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  for path in paths:
    print(path)
  return 0


if __name__ == '__main__':
  sys.exit(main())
