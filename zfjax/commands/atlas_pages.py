"""The atlas's pages and pictures, from results already computed.

`zfjax/commands/atlas.py` scans, projects and analyses; this module turns
its results into files of a `site.Site`: per conv layer a page of tiles and
a page per unit, per chosen image a page, and the index. Numbers are
formatted here, escaping is the templates' (Jinja2, autoescaped).
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Callable, NamedTuple, Sequence

import numpy as np

from zfjax.analyses import filters as filters_lib
from zfjax.analyses import topk
from zfjax.analyses import units
from zfjax.figures import grids
from zfjax.figures import plots
from zfjax.figures import site as site_lib
from zfjax.networks import specs
from zfjax.networks import summary
from zfjax.training import metrics
from zfjax.training import workdirs

href = site_lib.href


class PictureRow(NamedTuple):
  """Pictures of every unit of one layer, one per unit page.

  images: (C, k, P, P, 3) uint8, one per top-k activation, drawn as a 3x3
  grid (deconvnet projections, image patches; other backward rules'
  pictures of the same activations), or (C, H, W, 3) uint8, one picture
  per unit (an optimised stimulus). name: a short file-name part; suffix:
  'png' (lossless, for projections) or 'jpg' (crops of photographs).
  """
  title: str
  name: str
  images: np.ndarray
  suffix: str = 'png'


class LayerResult(NamedTuple):
  """What the atlas shows of one conv layer.

  top: the top-k of every map, projected (`topk.TopPatches`, all C maps);
  shown: (C, k, P, P, 3) uint8, its projections for display; stats: from
  every scanned image's maxima; grid: the maps of the layer page's Fig. 2
  grid; epochs: per kept epoch, (epoch, (C, P, P, 3) uint8 projection of
  the strongest activation then, (C,) its value, -inf if none); rows: the
  unit pages' pictures (`PictureRow`).
  """
  name: str
  top: topk.TopPatches
  shown: np.ndarray
  stats: units.UnitStats
  grid: np.ndarray
  epochs: list[tuple[int, np.ndarray, np.ndarray]]
  rows: list[PictureRow]


class Scanned(NamedTuple):
  """The images the atlas scanned: a phrase for them, their number, and
  per image index (text, href of its image page or None, class text)."""
  source: str
  count: int
  describe: Callable[[int], tuple[str, str | None, str]]


def number(value: float) -> str:
  return f'{value:.3g}' if math.isfinite(value) else '-'


def percent(value: float, digits: int = 1) -> str:
  return f'{100 * value:.{digits}f} %' if math.isfinite(value) else '-'


# Pictures are written at their own pixel size and enlarged by the style
# sheet (nearest neighbour): four to nine times smaller files than enlarged
# ones.


def _grid(images: np.ndarray) -> np.ndarray:
  """k cells (k, P, P, 3) as an n x n grid (n = 3 for k <= 9), 1-pixel
  gaps."""
  n = max(3, math.ceil(math.sqrt(len(images))))
  return grids.tile(images, n, rows=n, gap=1)


def write_layer(site: site_lib.Site, info: dict, spec: specs.Spec,
                result: LayerResult, scanned: Scanned, image_size: int,
                advance: Callable[[], None]) -> dict:
  """Every unit page of one layer, its pictures and its layer page;
  `advance()` after each unit. Returns the index page's row."""
  name, top, stats = result.name, result.top, result.stats
  record = summary.summarize(spec, image_size)
  row = next(r for r in record if r.name == name)
  layer = {'name': name, 'units': len(top.channels), 'kind': row.kind,
           'output': 'x'.join(map(str, row.output_shape)),
           'field': f'{row.rf_size} px, step {row.rf_jump}',
           'dead': int(stats.dead.sum())}
  scan = {'source': scanned.source, 'count': scanned.count}
  tiles = []
  count = len(top.channels)
  for c in range(count):
    site.picture(f'{name}/img/{c}-best.png', result.shown[c, 0])
    tiles.append({'unit': c, 'href': f'{c}.html', 'src': f'img/{c}-best.png',
                  'dead': bool(stats.dead[c]), 'peak': float(stats.peak[c]),
                  'mean': float(stats.mean[c]), 'rate': float(stats.rate[c]),
                  'peak_text': number(stats.peak[c]),
                  'rate_text': percent(stats.rate[c])})
    _write_unit(site, info, layer, scan, result, c, scanned)
    advance()
  chosen = result.grid
  # Cells small enough that the grid shows at its own size in the page
  # (its map titles are then legible); a unit's page shows them larger.
  zoom = grids.display_factor(top.patches.shape[-2])
  grid = grids.top9_grid(grids.upscale(result.shown[chosen], zoom),
                         grids.upscale(top.patches[chosen], zoom),
                         titles=[f'map {c}' for c in chosen])
  site.picture(f'{name}/top9.png', grid)
  site.page(f'{name}/index.html', 'layer.html', run=info, layer=layer,
            scan=scan, tiles=tiles, grid={
                'src': 'top9.png', 'count': len(chosen),
                'units': ' '.join(map(str, chosen))})
  strongest = np.argsort(-stats.peak, kind='stable')[:8]
  return {**layer, 'href': href(name, 'index.html'),
          'median_rate': percent(float(np.median(stats.rate))),
          'preview': [{'unit': int(c), 'href': href(name, f'{c}.html'),
                       'src': href(name, 'img', f'{c}-best.png')}
                      for c in strongest]}


def _write_unit(site, info, layer, scan, result: LayerResult, c: int,
                scanned: Scanned) -> None:
  name, top, stats = result.name, result.top, result.stats
  count = len(top.channels)
  pictures, stimuli = [], []
  for row in result.rows:
    file = f'img/{c}-{row.name}.{row.suffix}'
    if row.images.ndim == 5:
      site.picture(f'{name}/{file}', _grid(row.images[c]))
      pictures.append({'title': row.title, 'src': file})
    else:
      site.picture(f'{name}/{file}', row.images[c])
      stimuli.append({'title': row.title, 'src': file})
  listed = []
  for j in np.flatnonzero(top.index[c] >= 0):
    text, page, label = scanned.describe(int(top.index[c, j]))
    listed.append({'value': number(top.value[c, j]), 'image': text,
                   'href': page and f'../{page}', 'label': label,
                   'y': int(top.y[c, j]), 'x': int(top.x[c, j])})
  epochs = None
  if result.epochs:
    strip = np.stack([shown[c] for _, shown, _ in result.epochs])
    site.picture(f'{name}/img/{c}-epochs.png',
             grids.tile(strip, len(strip), gap=1))
    epochs = {'src': f'img/{c}-epochs.png',
              'list': ', '.join(str(e) for e, _, _ in result.epochs),
              'cells': [{'epoch': e, 'value': number(value[c])}
                        for e, _, value in result.epochs]}
  unit = {'unit': c, 'dead': bool(stats.dead[c]),
          'rate_text': percent(stats.rate[c]),
          'peak_text': number(stats.peak[c]),
          'mean_text': number(stats.mean[c]), 'silent': int(stats.silent[c]),
          'prev': f'{(c - 1) % count}.html', 'prev_unit': (c - 1) % count,
          'next': f'{(c + 1) % count}.html', 'next_unit': (c + 1) % count}
  bars = site_lib.histogram_bars(stats.counts[c])
  site.page(f'{name}/{c}.html', 'unit.html', run=info, layer=layer,
            scan=scan, unit=unit, pictures=pictures, stimuli=stimuli,
            top=listed, epochs=epochs, histogram={
                'bars': bars, 'width': 300, 'height': 80,
                'top': int(stats.counts[c].max(initial=0))})


def write_index(site: site_lib.Site, info: dict, run: workdirs.TrainedRun,
                layers: Sequence[dict], images: Sequence[dict],
                scanned: Scanned) -> None:
  """The index: the layers, the chosen images, training curves, final
  errors, first-layer filters (Fig. 6), the network's table, the config."""
  spec = run.spec
  records = metrics.read_metrics(run.workdir)
  curves = None
  if records:
    curves = 'run/curves.png'
    (site.root / 'run').mkdir(exist_ok=True)
    plots.training_curves(site.root / curves, records,
                          f'{spec.name}, {pathlib.Path(run.workdir).name}')
  errors = []
  for split in dict.fromkeys(r['split'] for r in records):
    if split == 'train':
      continue
    last = [r for r in records if r['split'] == split][-1]
    if 'top1_error' in last:
      errors.append({'name': split, 'step': last['step'],
                     'top1': percent(last['top1_error'], 2),
                     'top5': percent(last.get('top5_error', math.nan), 2)})
  first = spec.conv_names[0]
  kernel = np.asarray(run.params[first]['kernel'])
  stats = filters_lib.filter_stats(kernel)
  site.picture('run/filters.png', grids.filter_grid(kernel))
  filters = {'src': 'run/filters.png', 'layer': first, 'caption': (
      f'{first}: {len(stats.rms)} filters on one contrast scale, '
      f'{int(stats.dead.sum())} dead (RMS below 0.1 x the median), '
      f'{int(stats.dominant.sum())} dominant (above 3 x the median).')}
  initial = run.initial_params()
  if initial is not None:
    start = np.asarray(initial[first]['kernel'])
    learned = filters_lib.learned_part(kernel, start)
    site.picture('run/filters_change.png', grids.filter_grid(kernel - start))
    filters.update(change_src='run/filters_change.png', change_caption=(
        f'What training added: each filter less its initial weights (drawn '
        f'from the config\'s seed), on one contrast scale. '
        f'{int(learned.little.sum())} changed by under 0.1 x the median '
        f'change (a filter that stopped learning: flat here, while its RMS '
        f'stays near the initial one); a median '
        f'{np.median(learned.still_initial):.0%} of a filter\'s energy is '
        f'still its initial weights.'))
  shown = {layer['name'] for layer in layers}
  rows = []
  for r in summary.summarize(spec, int(run.config.crop_size)):
    field = (f'{r.rf_size} px, step {r.rf_jump}' if r.rf_size is not None
             else 'whole image' if len(r.output_shape) == 1 else '-')
    rows.append({'name': r.name, 'kind': r.kind, 'field': field,
                 'output': 'x'.join(map(str, r.output_shape)),
                 'params': f'{r.params:,}',
                 'href': href(r.name, 'index.html') if r.name in shown
                 else None})
  site.page('index.html', 'index.html', run=info, layers=layers,
            images=images, curves=curves, errors=errors, filters=filters,
            spec_rows=rows, scan={'source': scanned.source,
                                  'count': scanned.count},
            config=json.dumps(run.config.to_dict(), indent=2,
                              sort_keys=True, default=str))


class ImageResult(NamedTuple):
  """One chosen image: its display pixels (S, S, 3) uint8, its class text
  and whether that is the true class, the model's top-5 (name, p), the
  occlusion and invariance files (relative to the site), and per layer
  the strongest units: (layer, [(unit, value, (S, S, 3) uint8)])."""
  name: str
  pixels: np.ndarray
  label: str
  true_label: bool
  predictions: list[tuple[str, float]]
  occlusion: str
  occlusion_csv: str
  invariance: str
  invariance_csv: str
  strongest: list[tuple[str, list[tuple[int, float, np.ndarray]]]]


def write_image(site: site_lib.Site, info: dict, image: ImageResult) -> dict:
  """One image page; returns its index tile."""
  stem = f'images/{image.name}'
  site.picture(f'{stem}.png', image.pixels)
  layers = []
  for layer, strongest in image.strongest:
    tiles = []
    for unit, value, pixels in strongest:
      site.picture(f'{stem}-{layer}-{unit}.png', pixels)
      tiles.append({'unit': unit, 'value': number(value),
                    'href': '../' + href(layer, f'{unit}.html'),
                    'src': href(f'{image.name}-{layer}-{unit}.png')})
    layers.append({'name': layer, 'href': '../' + href(layer, 'index.html'),
                   'units': tiles})
  page = {'name': image.name, 'src': href(f'{image.name}.png'),
          'label': image.label,
          'label_kind': 'class' if image.true_label else 'predicted class',
          'predictions': [{'name': n, 'p': f'{p:.3f}'}
                          for n, p in image.predictions],
          'occlusion': href(pathlib.PurePath(image.occlusion).name),
          'occlusion_csv': href(pathlib.PurePath(image.occlusion_csv).name),
          'invariance': href(pathlib.PurePath(image.invariance).name),
          'invariance_csv': href(pathlib.PurePath(image.invariance_csv).name),
          'invariance_csv_name': pathlib.PurePath(image.invariance_csv).name,
          'layers': layers}
  site.page(f'{stem}.html', 'image.html', run=info, image=page)
  return {'name': image.name, 'href': href('images', f'{image.name}.html'),
          'src': href('images', f'{image.name}.png')}
