"""Output side of the occlusion, invariance and correspondence analyses.

Figures (ZF Fig. 7 and Fig. 5), CSV tables, and the `visualize.py` commands
that load a trained run's images, call the pure analyses in `occlusion`,
`invariance` and `correspondence`, and write their results. Matplotlib is
used through its object interface (Figure + Agg canvas), so nothing depends
on a display or on pyplot's global state.
"""

from __future__ import annotations

import argparse
import csv
import os
import pathlib
from typing import Sequence

import matplotlib
from matplotlib import colors as mcolors
from matplotlib import patches
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

from zfjax import correspondence
from zfjax import deconv
from zfjax import input_pipeline
from zfjax import invariance
from zfjax import models
from zfjax import occlusion
from zfjax.correspondence import CorrespondenceTable
from zfjax.errors import ZfjaxError
from zfjax.invariance import UNITS, InvarianceCurves
from zfjax.occlusion import OcclusionResult


def _save(fig: Figure, path: str | os.PathLike) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  FigureCanvasAgg(fig)
  fig.savefig(path, dpi=110)
  return os.fspath(path)


def _position_extent(result: OcclusionResult) -> list[float]:
  """imshow extent that puts each map cell at its square's centre, pixels."""
  half = result.size / 2
  step_y = result.ys[1] - result.ys[0] if len(result.ys) > 1 else 1
  step_x = result.xs[1] - result.xs[0] if len(result.xs) > 1 else 1
  return [result.xs[0] + half - step_x / 2, result.xs[-1] + half + step_x / 2,
          result.ys[-1] + half + step_y / 2, result.ys[0] + half - step_y / 2]


def occlusion_figure(path: str | os.PathLike, image: np.ndarray,
                     result: OcclusionResult, index: int,
                     projection: np.ndarray | None,
                     class_names: Sequence[str],
                     max_legend: int = 15) -> str:
  """ZF Fig. 7 for image `index` of `result`: five panels in one row.

  image: (H, W, 3) uint8 display version of the input occluded by the square
  of `occlusion.worst_boxes` (outlined here). projection: (H, W, 3) uint8
  deconvnet projection of the tracked map (panel c) or None.
  (a) the image with the square where it lowers p(true class) most; (b)
  total activation of the tracked map per square position; (c) the
  projection; (d) p(true class) per position; (e) the most probable label
  per position, with a legend of the `max_legend` most frequent labels.
  Map cells sit at their square's centre, in image pixels.
  """
  n = index
  fig = Figure(figsize=(20, 4.6))
  axes = fig.subplots(1, 5)
  extent = _position_extent(result)
  name = class_names[result.labels[n]]

  y0, x0, _, _ = occlusion.worst_boxes(result)[n]
  axes[0].imshow(image)
  axes[0].add_patch(patches.Rectangle(
      (x0 - 0.5, y0 - 0.5), result.size, result.size, fill=False,
      edgecolor='black', linewidth=1.5))
  axes[0].set_title(f'(a) true: {name}, p = {result.clean_p_true[n]:.2f}\n'
                    f'(square: p = {result.p_true[n].min():.2f})')

  im = axes[1].imshow(result.map_activation[n], cmap='jet', extent=extent)
  fig.colorbar(im, ax=axes[1], fraction=0.046)
  axes[1].set_title(f'(b) {result.layer} map {result.channel[n]}:\n'
                    f'total activation')

  if projection is not None:
    axes[2].imshow(projection)
  axes[2].set_title(f'(c) projection of {result.layer}\nmap '
                    f'{result.channel[n]}')

  im = axes[3].imshow(result.p_true[n], cmap='jet', vmin=0.0, vmax=1.0,
                      extent=extent)
  fig.colorbar(im, ax=axes[3], fraction=0.046)
  axes[3].set_title(f'(d) p({name})')

  labels = result.top_label[n]
  present, counts = np.unique(labels, return_counts=True)
  palette = matplotlib.colormaps['tab20'].resampled(max(len(present), 2))
  axes[4].imshow(np.searchsorted(present, labels),
                 cmap=mcolors.ListedColormap(
                     [palette(i) for i in range(len(present))]),
                 vmin=-0.5, vmax=len(present) - 0.5, extent=extent,
                 interpolation='nearest')
  frequent = np.argsort(-counts, kind='stable')[:max_legend]
  handles = [patches.Patch(color=palette(i), label=class_names[present[i]])
             for i in frequent]
  if len(present) > max_legend:
    handles.append(patches.Patch(color='white', label=(
        f'+{len(present) - max_legend} more')))
  axes[4].legend(handles=handles, loc='upper left', bbox_to_anchor=(1.02, 1.0),
                 fontsize=8, frameon=False)
  axes[4].set_title('(e) most probable label')
  for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
  fig.subplots_adjust(left=0.02, right=0.9, wspace=0.25)
  return _save(fig, path)


def invariance_figure(path: str | os.PathLike,
                      curves: Sequence[InvarianceCurves],
                      strips: Sequence[np.ndarray] | None = None,
                      image_names: Sequence[str] | None = None) -> str:
  """ZF Fig. 5: one row per transformation; columns: an example strip (if
  given), relative feature distance per layer, p(true class).

  strips: per transformation (K, H, W, 3) uint8 images of one example at a
  few of the amounts, drawn side by side.
  """
  num_layers = len(curves[0].layers)
  cols = num_layers + 1 + (strips is not None)
  fig = Figure(figsize=(4.2 * cols, 3.4 * len(curves)))
  axes = np.asarray(fig.subplots(len(curves), cols, squeeze=False))
  for t, (row, curve) in enumerate(zip(axes, curves)):
    if strips is not None:
      shown = curve.amounts[strip_steps(len(curve.amounts), len(strips[t]))]
      row[0].imshow(np.concatenate(list(strips[t]), axis=1))
      row[0].set_axis_off()
      row[0].set_title(f'{curve.transform}: '
                       + ', '.join(f'{a:g}' for a in shown), fontsize=9)
      row = row[1:]
    series = [(f'{layer}: distance / |original|', curve.distance[k])
              for k, layer in enumerate(curve.layers)]
    series.append(('p(true class)', curve.p_true))
    for ax, (title, values) in zip(row, series):
      for i, line in enumerate(values):
        label = image_names[i] if image_names is not None else f'image {i}'
        ax.plot(curve.amounts, line, marker='.', label=label)
      ax.set_title(title)
      ax.set_xlabel(UNITS[curve.transform])
      ax.grid(alpha=0.3)
    row[-1].set_ylim(-0.02, 1.02)
  axes[0, -1].legend(fontsize=7)
  fig.tight_layout()
  return _save(fig, path)


def strip_steps(num_amounts: int, count: int) -> np.ndarray:
  """Indices of `count` evenly spread steps, for the example strips."""
  return np.unique(np.linspace(0, num_amounts - 1, count).round().astype(int))


def write_invariance_csv(path: str | os.PathLike,
                         curves: Sequence[InvarianceCurves],
                         image_names: Sequence[str]) -> str:
  """One row per (transformation, image, amount): label, p(true class),
  top label and the relative distance at each layer."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  layers = curves[0].layers
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['transform', 'unit', 'amount', 'image', 'label',
                     'p_true', 'top_label']
                    + [f'distance_{layer}' for layer in layers])
    for curve in curves:
      for i, name in enumerate(image_names):
        for s, amount in enumerate(curve.amounts):
          writer.writerow(
              [curve.transform, UNITS[curve.transform], f'{amount:g}', name,
               int(curve.labels[i]), f'{curve.p_true[i, s]:.6f}',
               int(curve.top_label[i, s])]
              + [f'{curve.distance[k, i, s]:.6f}' for k in range(len(layers))])
  return os.fspath(path)


def write_occlusion_csv(path: str | os.PathLike, result: OcclusionResult,
                        image_names: Sequence[str]) -> str:
  """One row per (image, square position): the three Fig. 7 quantities."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['image', 'label', 'y0', 'x0', 'size', 'p_true',
                     'top_label', f'activation_{result.layer}', 'channel'])
    for n, name in enumerate(image_names):
      for a, y0 in enumerate(result.ys):
        for b, x0 in enumerate(result.xs):
          writer.writerow([name, int(result.labels[n]), int(y0), int(x0),
                           result.size, f'{result.p_true[n, a, b]:.6f}',
                           int(result.top_label[n, a, b]),
                           f'{result.map_activation[n, a, b]:.6f}',
                           int(result.channel[n])])
  return os.fspath(path)


def write_correspondence_csv(path: str | os.PathLike,
                             table: CorrespondenceTable) -> str:
  """One row per (masked location, layer): mean, std, pooled pairs."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['location', 'layer', 'mean', 'std', 'set_size',
                     'num_sets'])
    for r, location in enumerate(table.locations):
      for k, layer in enumerate(table.layers):
        writer.writerow([location, layer, f'{table.mean[r, k]:.6f}',
                         f'{table.std[r, k]:.6f}', table.set_size,
                         table.num_sets])
  return os.fspath(path)


# ------------------------------------------------ visualize.py commands
# Each is (add_arguments, run) for visualize.COMMANDS: run(args, model,
# out_dir) -> written paths, model a checkpointing.TrainedModel.


def _int_list(text: str) -> list[int]:
  try:
    return [int(t) for t in text.split(',') if t.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'expected comma-separated integers, got {text!r}') from None


def _label_names(model) -> tuple[str, ...]:
  return input_pipeline.class_names(model.config)


def _split_images(model, split: str | None, indices: Sequence[int]):
  """(images, labels, names) of a split's examples."""
  config = model.config
  split = split or config.eval_split
  batch = input_pipeline.load_examples(config, split, indices)
  images = np.asarray(batch.images, np.float32)
  return (images, np.asarray(batch.labels, np.int32),
          [f'{split}_{i}' for i in indices])


def _file_images(model, paths: Sequence[str], labels: Sequence[int] | None):
  loaded = correspondence.load_image_files(paths, model.config)
  if labels is None:
    # No true class given: follow the model's own unoccluded prediction.
    labels = np.asarray(models.apply(model.params, loaded.images,
                                     model.spec)).argmax(-1)
  if len(labels) != len(paths):
    raise ZfjaxError(f'give one --labels entry (class index) per image file; '
                     f'{len(paths)} files, labels {labels}')
  return (loaded.images, np.asarray(labels, np.int32),
          [os.path.splitext(os.path.basename(p))[0] for p in paths])


def _add_image_choice(parser: argparse.ArgumentParser,
                      default_indices: str) -> None:
  parser.add_argument('--split', help='split of the run\'s data set '
                      '(default: config.eval_split)')
  parser.add_argument('--indices', type=_int_list, default=default_indices,
                      metavar='I,I,...',
                      help=f'examples of the split (default {default_indices})')
  parser.add_argument('--files', nargs='+', metavar='IMAGE',
                      help='your JPEG/PNG files instead (centre-cropped like '
                      'evaluation inputs)')
  parser.add_argument('--labels', type=_int_list, metavar='L,L,...',
                      help='true class index of each --files image (default: '
                      'the model\'s prediction on it)')


def _images(args, model):
  if args.files:
    return _file_images(model, args.files, args.labels)
  return _split_images(model, args.split, args.indices)


def add_occlusion_arguments(parser: argparse.ArgumentParser) -> None:
  _add_image_choice(parser, '0,1,2')
  parser.add_argument('--size', type=int, help='square side in pixels '
                      '(default: 50 at 224, scaled to the input size)')
  parser.add_argument('--stride', type=int, help='square step in pixels '
                      '(default: 8 at 224, scaled)')
  parser.add_argument('--layer', help='conv layer of panels (b), (c) '
                      '(default: the last conv layer)')
  parser.add_argument('--chunk_size', type=int, default=32,
                      help='occluded images per jitted call (memory bound)')


def occlusion_command(args, model, out_dir: pathlib.Path) -> list:
  """ZF Fig. 7 per image: (a) the image with the square, (b) total activation
  of the strongest map of the top conv layer per square position, (c) that
  map's deconvnet projection, (d) p(true class), (e) the most probable label.
  Also occlusion.csv with every position's numbers."""
  images, labels, names = _images(args, model)
  result = occlusion.occlusion_sweep(
      model.params, images, model.spec, labels=labels, size=args.size,
      stride=args.stride, layer=args.layer, chunk_size=args.chunk_size,
      progress=True)
  _, trace = models.forward_trace(model.params, images, model.spec)
  projections = deconv.normalize_for_display(deconv.project_map(
      model.params, trace, model.spec, result.layer, result.channel,
      image_size=images.shape[1]))
  class_names = _label_names(model)
  worst = occlusion.worst_boxes(result)
  # Panel (a) shows the very input the model saw with that square.
  occluded = np.stack([
      occlusion.fill_box(images[n], worst[n], 0.0) for n in range(len(names))])
  occluded = input_pipeline.to_display(occluded, model.config)
  paths = [pathlib.Path(occlusion_figure(
      out_dir / f'occlusion_{name}.png', occluded[n], result, n,
      projections[n], class_names)) for n, name in enumerate(names)]
  paths.append(pathlib.Path(write_occlusion_csv(out_dir / 'occlusion.csv',
                                                result, names)))
  if args.npz:
    np.savez_compressed(out_dir / 'occlusion.npz', **result._asdict())
    paths.append(out_dir / 'occlusion.npz')
  return paths


def add_invariance_arguments(parser: argparse.ArgumentParser) -> None:
  _add_image_choice(parser, '0,1,2,3,4')
  parser.add_argument('--transforms', nargs='+', default=list(
      invariance.TRANSFORMS), choices=invariance.TRANSFORMS,
                      help='which sweeps (default: all three)')
  parser.add_argument('--layers', nargs='+', metavar='LAYER',
                      help='feature layers (default: the first and the top '
                      'hidden layer, the paper\'s 1 and 7)')
  parser.add_argument('--method', choices=('render', 'resample'),
                      help='render: redraw the built-in scenes with the '
                      'object moved (default for zfjax_shapes); resample: '
                      'transform the image pixels (default otherwise)')


def invariance_command(args, model, out_dir: pathlib.Path) -> list:
  """ZF Fig. 5: relative feature distance at two layers and p(true class)
  against vertical translation, scale and rotation; invariance.png and
  invariance.csv."""
  config = model.config
  method = args.method or ('render' if config.dataset == 'zfjax_shapes'
                           and not args.files else 'resample')
  if method == 'render' and (args.files or config.dataset != 'zfjax_shapes'):
    raise ZfjaxError('--method render redraws built-in scenes; use '
                     '--method resample for image files or other data sets')
  if method == 'resample':
    images, labels, names = _images(args, model)
    # Every input, file or split, had the centre of the mean image removed.
    offset = (config.resize_size - config.crop_size) // 2
    mean = input_pipeline.mean_image(config)[
        offset:offset + config.crop_size, offset:offset + config.crop_size]
  else:
    split = args.split or config.eval_split
    names = [f'{split}_{i}' for i in args.indices]
  curves, strips = [], []
  for transform in args.transforms:
    amounts = invariance.default_amounts(transform, config.crop_size)
    if method == 'render':
      images, moved, labels = invariance.render_transformed(
          config, split, args.indices, transform, amounts)
    else:
      moved = invariance.transform_images(images, amounts,
                                          transform=transform, mean=mean)
    curves.append(invariance.invariance_curves(
        model.params, model.spec, images, moved, labels,
        transform=transform, amounts=amounts, layers=args.layers,
        progress=True))
    steps = strip_steps(len(amounts), 5)
    strips.append(input_pipeline.to_display(moved[0, steps], config))
  paths = [pathlib.Path(invariance_figure(out_dir / 'invariance.png', curves,
                                          strips, names)),
           pathlib.Path(write_invariance_csv(out_dir / 'invariance.csv',
                                             curves, names))]
  for curve in curves:
    summary = ', '.join(
        f'{layer} {curve.distance[k].mean(0).max():.2f}'
        for k, layer in enumerate(curve.layers))
    print(f'{curve.transform}: largest mean distance {summary}; mean '
          f'p(true) {curve.p_true.mean(0).min():.2f} to '
          f'{curve.p_true.mean(0).max():.2f}')
  return paths


def add_correspondence_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--parts_file', help='JSON or CSV file describing your '
                      'images and their parts (see the README); default: the '
                      'built-in face-like class')
  parser.add_argument('--mask_size', type=int, help='side in file pixels of '
                      'the square masked around a keypoint')
  parser.add_argument('--class_name', help='built-in face class (default: '
                      'the first, eyes and nose)')
  parser.add_argument('--parts', nargs='+', help='built-in parts to mask '
                      '(default: every part smaller than a quarter of the '
                      'object)')
  parser.add_argument('--split', help='split of the built-in images '
                      '(default: config.eval_split)')
  parser.add_argument('--as_stored', action='store_true',
                      help='built-in faces at their stored random position, '
                      'size and tilt (default: re-rendered upright and '
                      'centred, like the paper\'s frontal-pose dogs)')
  parser.add_argument('--num_images', type=int, default=40,
                      help='built-in images to draw the sets from')
  parser.add_argument('--set_size', type=int, default=5,
                      help='images per set (the paper: 5)')
  parser.add_argument('--num_sets', type=int, default=10,
                      help='seeded draws of the set, pairs pooled')
  parser.add_argument('--layers', nargs='+', metavar='LAYER',
                      help='feature layers (default: the last conv and the '
                      'top hidden layer, the paper\'s 5 and 7)')
  parser.add_argument('--seed', type=int, default=0)


def correspondence_command(args, model, out_dir: pathlib.Path) -> list:
  """ZF Table 1: sign consistency of the feature change when the same part
  is masked in different images, against random masks on the object.
  Prints the table; writes correspondence.csv and correspondence.txt."""
  if args.parts_file:
    data = correspondence.load_part_file(args.parts_file, model.config,
                                         mask_size=args.mask_size)
    num_sets = 1 if len(data.images) == args.set_size else args.num_sets
  else:
    data = correspondence.builtin_faces(
        model.config, class_name=args.class_name, split=args.split,
        num_images=args.num_images, parts=args.parts,
        frontal=not args.as_stored)
    num_sets = args.num_sets
  table = correspondence.correspondence_table(
      model.params, model.spec, data, layers=args.layers,
      set_size=args.set_size, num_sets=num_sets, seed=args.seed)
  text = correspondence.format_table(table)
  print(text)
  txt = out_dir / 'correspondence.txt'
  txt.write_text(text + '\n')
  return [pathlib.Path(write_correspondence_csv(
      out_dir / 'correspondence.csv', table)), txt]
