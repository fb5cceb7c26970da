"""The paper's plots: occlusion (Fig. 7), invariance (Fig. 5), transfer
(Fig. 9) and per-layer accuracy (Table 6); a run's training curves.

Each takes an analysis's result and a path, and writes a PNG. Matplotlib is
used through its object interface (Figure + Agg canvas), so nothing depends
on a display or on pyplot's global state; files are written under a
temporary name and renamed, so a killed run never leaves half a figure.
"""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib
from matplotlib import colors as mcolors
from matplotlib import patches
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

from zfjax.analyses.claims import Verdict
from zfjax.analyses.invariance import UNITS, InvarianceCurves
from zfjax.analyses.occlusion import OcclusionResult
from zfjax.figures import grids


def _save(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> str:
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  FigureCanvasAgg(fig)
  tmp = f'{path}.tmp-{os.getpid()}.png'
  fig.savefig(tmp, dpi=dpi)
  os.replace(tmp, path)
  return path


def _position_extent(result: OcclusionResult) -> list[float]:
  """imshow extent that puts each map cell at its square's centre, pixels."""
  half = result.size / 2
  step_y = result.ys[1] - result.ys[0] if len(result.ys) > 1 else 1
  step_x = result.xs[1] - result.xs[0] if len(result.xs) > 1 else 1
  return [result.xs[0] + half - step_x / 2, result.xs[-1] + half + step_x / 2,
          result.ys[-1] + half + step_y / 2, result.ys[0] + half - step_y / 2]


def occlusion_figure(path: str | os.PathLike, *args, **kwargs) -> str:
  """Writes `occlusion_panels(*args, **kwargs)` to `path`."""
  return _save(occlusion_panels(*args, **kwargs), path)


def occlusion_panels(image: np.ndarray, result: OcclusionResult, index: int,
                     projection: np.ndarray | None,
                     class_names: Sequence[str], box: np.ndarray, *,
                     true_label: bool = True, max_legend: int = 15
                     ) -> Figure:
  """ZF Fig. 7 for image `index` of `result`: five panels in one row.

  image: (H, W, 3) uint8 display version of the input occluded by the square
  `box` (its `occlusion.worst_boxes` row, outlined here). projection:
  (H, W, 3) uint8 deconvnet projection of the tracked map (panel c) or None.
  true_label: whether `result.labels` are true classes (else the model's
  own prediction, titled so).
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

  y0, x0 = int(box[0]), int(box[1])
  axes[0].imshow(image)
  axes[0].add_patch(patches.Rectangle(
      (x0 - 0.5, y0 - 0.5), result.size, result.size, fill=False,
      edgecolor='black', linewidth=1.5))
  kind = 'true' if true_label else 'predicted'
  axes[0].set_title(f'(a) {kind}: {name}, p = {result.clean_p_true[n]:.2f}\n'
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
  return fig


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


def panels(path: str | os.PathLike, columns: dict[str, np.ndarray],
           size: float = 2.6) -> str:
  """Arrays of N images side by side: one row per image, one column per
  entry of `columns` (title -> array), for a quick look at an analysis.

  Each array is (N, H, W, 3) uint8 pixels, shown as they are; (N, H, W, 3)
  float, a signed projection, shown by `grids.normalize_for_display`
  (grey: no influence); or (N, H, W) float, a map such as occlusion's
  `heat`, in colour with its scale (0 to 1 for probabilities).
  """
  arrays = [np.asarray(a) for a in columns.values()]
  n = len(arrays[0])
  fig = Figure(figsize=(size * len(arrays), size * n))
  axes = np.asarray(fig.subplots(n, len(arrays), squeeze=False))
  for c, (title, array) in enumerate(zip(columns, arrays)):
    if len(array) != n:
      raise ValueError(f'{title}: {len(array)} images, not {n}')
    if array.ndim == 4 and array.dtype != np.uint8:
      array = grids.normalize_for_display(array)
    for r in range(n):
      ax = axes[r, c]
      if array.ndim == 3:
        unit = 0 <= array.min() and array.max() <= 1
        im = ax.imshow(array[r], cmap='jet', vmin=0 if unit else None,
                       vmax=1 if unit else None)
        fig.colorbar(im, ax=ax, fraction=0.046)
      else:
        ax.imshow(array[r], interpolation='nearest')
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title(title, fontsize=9)
  fig.tight_layout()
  return _save(fig, path)

_VERDICT_COLOURS = {True: '#c8e6c9', False: '#ffcdd2', None: '#eeeeee'}


def claims_page(path: str | os.PathLike, verdicts: Sequence[Verdict],
                title: str) -> str:
  """The scorecard on one page: per claim the paper's figure and finding,
  the criterion, this run's numbers and the verdict (green holds, red does
  not, grey not measured). Cells are wrapped by their measured width in
  the caption font (`grids.wrap`)."""
  width_in, dpi = 15, grids.DPI
  starts = (0.0, 0.04, 0.25, 0.52, 0.88, 0.99)  # column edges, of the width
  names = ('claim', 'the paper', 'criterion (fixed in advance)', 'this run',
           'verdict')
  cells = [[str(v.claim), v.paper, v.criterion, v.measured, v.status]
           for v in verdicts]
  # Widths in pixels at grids.DPI, at which the page is drawn too.
  widths = [(b - a) * width_in * dpi - 12 for a, b in zip(starts, starts[1:])]
  wrapped = [[grids.wrap(text, w) or [''] for text, w in zip(row, widths)]
             for row in cells]
  heights = [max(len(c) for c in row) for row in wrapped]
  line = 0.16  # inches per text line
  total = 0.9 + line * (sum(heights) + 1.5 * len(heights) + 1)
  fig = Figure(figsize=(width_in, total))
  inch = 1 / total
  fig.text(0.01, 1 - 0.3 * inch, title, fontsize=11, weight='bold', va='top')
  y = 1 - 0.75 * inch
  for name, x in zip(names, starts):
    fig.text(0.01 + x, y, name, fontsize=8.5, weight='bold', va='top')
  y -= 1.5 * line * inch
  for v, row, rows in zip(verdicts, wrapped, heights):
    height = (rows + 1) * line * inch
    fig.patches.append(patches.Rectangle(
        (0.005 + starts[-2], y - height + 0.4 * line * inch), 0.11,
        height, transform=fig.transFigure, facecolor=_VERDICT_COLOURS[
            v.holds], edgecolor='none'))
    for x, lines in zip(starts, row):
      fig.text(0.01 + x, y, '\n'.join(lines), va='top', linespacing=1.25,
               fontproperties=grids.CAPTION_FONT)
    y -= height + 0.5 * line * inch
  return _save(fig, path, dpi=dpi)


def transfer_curve(path: str | os.PathLike, rows, title: str) -> str:
  """ZF Fig. 9: mean per-class accuracy against training images per class,
  pretrained (softmax retrained) against from scratch, with the std over
  splits as error bars; rows from `transfer_protocols.summarise`."""
  fig = Figure(figsize=(5.5, 3.8))
  ax = fig.subplots()
  for kind, style in (('pretrained', 'o-'), ('scratch', 's--')):
    mine = [r for r in rows if r[0] == kind]
    if mine:
      ax.errorbar([r[1] for r in mine], [100 * r[2] for r in mine],
                  yerr=[100 * r[3] for r in mine], fmt=style, capsize=3,
                  label='scratch' if kind == 'scratch' else
                  'pretrained, softmax retrained')
  ax.set_xlabel('training images per class')
  return _accuracy_axes(fig, ax, title, path)


def _accuracy_axes(fig: Figure, ax, title: str, path) -> str:
  """The accuracy plots' shared y axis, title, grid and legend; saves."""
  ax.set_ylabel('mean per-class accuracy (%)')
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  return _save(fig, path, dpi=120)


def layer_accuracy(path: str | os.PathLike, results, title: str) -> str:
  """ZF Table 6 as a plot: each layer's linear SVM and softmax accuracy
  (`layer_features.LayerAccuracy`)."""
  fig = Figure(figsize=(6, 3.5))
  ax = fig.subplots()
  x = np.arange(len(results))
  ax.plot(x, [100 * r.svm for r in results], 'o-', label='linear SVM')
  ax.plot(x, [100 * r.softmax for r in results], 's--', label='softmax')
  ax.set_xticks(x, [r.layer for r in results])
  return _accuracy_axes(fig, ax, title, path)


def training_curves(path: str | os.PathLike, records: Sequence[dict],
                    title: str) -> str:
  """Loss and top-1 error against epochs, one line per split of a run's
  `metrics.jsonl` records (`metrics.read_metrics`); a split logged once
  (the final 10-crop evaluation) is a marker."""
  fig = Figure(figsize=(10, 3.4))
  axes = fig.subplots(1, 2)
  splits = list(dict.fromkeys(r['split'] for r in records))
  for split in splits:
    mine = [r for r in records if r['split'] == split and 'epoch' in r]
    epochs = [r['epoch'] for r in mine]
    style = 'o' if len(mine) == 1 else '.-' if split != 'train' else '-'
    for ax, key, scale in ((axes[0], 'loss', 1), (axes[1], 'top1_error',
                                                  100)):
      values = [scale * r[key] for r in mine if key in r]
      if values and len(values) == len(epochs):
        ax.plot(epochs, values, style, label=split, linewidth=1)
  for ax, label in zip(axes, ('loss (nats)', 'top-1 error (%)')):
    ax.set_xlabel('epoch')
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    if ax.lines:
      ax.legend(fontsize=8)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return _save(fig, path, dpi=100)
