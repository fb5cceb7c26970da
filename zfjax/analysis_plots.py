"""Figures and tables for the occlusion, invariance and correspondence analyses.

Matplotlib through its object interface (Figure + Agg canvas), so nothing
depends on a display or on pyplot's global state. Each function takes the
result NamedTuples of `occlusion`, `invariance` and `correspondence` and
writes one file.
"""

from __future__ import annotations

import csv
import os
from typing import Sequence

import matplotlib
from matplotlib import colors as mcolors
from matplotlib import patches
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

from zfjax.correspondence import CorrespondenceTable
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
                     class_names: Sequence[str]) -> str:
  """ZF Fig. 7 for image `index` of `result`: five panels in one row.

  image: (H, W, 3) uint8 display version of the input. projection: (H, W, 3)
  uint8 deconvnet projection of the tracked map (panel c) or None.
  (a) the image with the grey square where it lowers p(true class) most;
  (b) total activation of the tracked map per square position; (c) the
  projection; (d) p(true class) per position; (e) the most probable label
  per position, with a legend of class names. Map axes are the pixel
  coordinates of the square's centre.
  """
  n = index
  fig = Figure(figsize=(20, 4.6))
  axes = fig.subplots(1, 5)
  extent = _position_extent(result)
  name = class_names[result.labels[n]]

  worst = np.unravel_index(np.argmin(result.p_true[n]), result.p_true[n].shape)
  axes[0].imshow(image)
  axes[0].add_patch(patches.Rectangle(
      (result.xs[worst[1]] - 0.5, result.ys[worst[0]] - 0.5), result.size,
      result.size, facecolor='0.5', edgecolor='none'))
  axes[0].set_title(f'(a) true: {name}\n'
                    f'p = {result.clean_p_true[n]:.2f} unoccluded')

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
  present = np.unique(labels)
  palette = matplotlib.colormaps['tab20'].resampled(max(len(present), 2))
  lookup = np.searchsorted(present, labels)
  axes[4].imshow(lookup, cmap=mcolors.ListedColormap(
      [palette(i) for i in range(len(present))]), vmin=-0.5,
                 vmax=len(present) - 0.5, extent=extent,
                 interpolation='nearest')
  axes[4].legend(handles=[
      patches.Patch(color=palette(i), label=class_names[c])
      for i, c in enumerate(present)], loc='upper left',
                 bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
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
