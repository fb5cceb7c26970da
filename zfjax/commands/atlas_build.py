"""`visualize.py atlas`'s stages: scan, projections, images, pages.

See `zfjax/commands/atlas.py` for the site it writes. Each stage shows a
progress bar; their times are printed at the end and kept in atlas.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import pathlib
import shutil
import time
from typing import Callable, Iterator, NamedTuple

import jax
import numpy as np

from zfjax import progress
from zfjax.analyses import deconv
from zfjax.analyses import stimulus
from zfjax.analyses import topk
from zfjax.analyses import units
from zfjax.commands import atlas_pages
from zfjax.commands import common
from zfjax.commands import invariance as invariance_command
from zfjax.commands import occlusion as occlusion_command
from zfjax.errors import ZfjaxError
from zfjax.figures import site as site_lib
from zfjax.networks import models
from zfjax.training import checkpoints
from zfjax.training import workdirs

K = 9  # the paper's top 9
# Unit-page titles of the backward rules' pictures of the same 9 activations.
RULE_TITLES = {'gradient': 'gradient (Simonyan et al.)',
               'guided': 'guided backpropagation (Springenberg et al.)'}


class _Source(NamedTuple):
  """What the atlas scans: fresh batches (and their number) on each call,
  an image loader by index, the number of images, a phrase for them, a
  name per index and the `--files` its chosen images come from (or
  None: examples of `split`)."""
  batches: Callable[[], tuple[Iterator, int]]
  load: topk.ImageLoader
  count: int
  phrase: str
  name: Callable[[int], str]
  files: list[str] | None
  split: str


def _source(args: argparse.Namespace, run: workdirs.TrainedRun) -> _Source:
  batch_size = args.batch_size or run.config.eval_batch_size
  if args.image_dir:
    files = common.image_files(args.image_dir)[:args.limit]
    return _Source(_file_batches(run, files, batch_size),
                   common.file_loader(run, files), len(files),
                   f'the images of {args.image_dir}',
                   lambda i: os.path.basename(files[i]), files, '')
  split = args.split or run.config.eval_split
  size = common.split_size(run.data, split)  # one line if unknown or empty
  batches = lambda: common.split_batches(run.data, split, batch_size,  # noqa: E731
                                         args.limit)
  count = min(size, args.limit or size)
  return _Source(batches, common.split_loader(run, split), count,
                 f'the {split} split', lambda i: f'{split} {i}', None, split)


def _file_batches(run: workdirs.TrainedRun, files: list[str],
                  batch_size: int) -> Callable[[], tuple[Iterator, int]]:
  """Fresh batches of `files` on each call; unreadable files are skipped
  (masked), their warnings given on the first pass only (the atlas scans
  once more per kept epoch); a pass fails if none could be read."""
  passes = []

  def batches():
    scan = common.FileScan(run, files, batch_size, None, warn=not passes)
    passes.append(scan)

    def through():
      yield from scan
      scan.finish()
    return through(), scan.total
  return batches


def _chosen(args: argparse.Namespace, source: _Source
            ) -> argparse.Namespace | None:
  """The --files, or the --indices among the scanned images, as the image
  options `common.chosen_images` reads; None for no image pages."""
  if args.files:
    return argparse.Namespace(files=args.files, labels=args.labels,
                              split=source.split, indices=None)
  indices = [i for i in args.indices if 0 <= i < source.count]
  if not indices:
    return None
  if source.files is not None:
    return argparse.Namespace(files=[source.files[i] for i in indices],
                              labels=None, split=None, indices=None)
  return argparse.Namespace(files=None, labels=None, split=source.split,
                            indices=indices)


def _recording(batches: Iterator, labels: dict[int, int]) -> Iterator:
  """`batches` as they are, keeping each real example's label by index."""
  for batch in batches:
    keep = np.asarray(batch.mask, bool)
    labels.update(zip(np.asarray(batch.index)[keep].tolist(),
                      np.asarray(batch.labels)[keep].tolist()))
    yield batch


def _options(add_arguments, **values) -> argparse.Namespace:
  """Another command's options at their defaults, then `values`."""
  parser = argparse.ArgumentParser(add_help=False)
  add_arguments(parser)
  options = parser.parse_args([])
  vars(options).update(values)
  return options


class _Clock:
  """Seconds spent per stage."""

  def __init__(self):
    self.seconds: dict[str, float] = {}

  @contextlib.contextmanager
  def stage(self, name: str):
    start = time.perf_counter()
    yield
    self.seconds[name] = (self.seconds.get(name, 0.0)
                          + time.perf_counter() - start)


def build(args: argparse.Namespace, run: workdirs.TrainedRun,
          target: pathlib.Path) -> list[pathlib.Path]:
  # Every check that can fail on the input comes before any work.
  site_lib.check_target(target)
  layers = common.conv_layers(args, run.spec)
  grid = {layer: common.channels(args, run.spec, layer) for layer in layers}
  source = _source(args, run)
  chosen = _chosen(args, source)
  picked = None
  if chosen is not None:
    picked = common.chosen_images(chosen, run)  # reads (checks) the files
    if len(set(picked.names)) < len(picked.names):
      raise ZfjaxError(f'two chosen images share a name ({picked.names}); '
                       f'rename one of the files')
  clock = _Clock()
  staging = site_lib.staging(target)
  try:
    result = _build(args, run, layers, grid, source, chosen, picked, staging,
                    clock)
    site_lib.publish(staging, target)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  files = [p for p in target.rglob('*') if p.is_file()]
  size = sum(p.stat().st_size for p in files)
  print(f'atlas: {result} units, {len(files)} files, {size / 1e6:.1f} MB; '
        + ', '.join(f'{k} {v:.1f} s' for k, v in clock.seconds.items()))
  return [target / 'index.html']


def _build(args, run, layers, grid, source: _Source, chosen, picked,
           staging, clock: _Clock) -> int:
  """Builds the whole site into `staging`; returns the number of units."""
  spec, size = run.spec, int(run.config.crop_size)
  labels: dict[int, int] = {}
  with clock.stage('scan'):
    batches, total = source.batches()
    top, maxima = topk.scan_with_maxima(
        run.params, spec, _recording(batches, labels), layers, K,
        total=total)
    kept = _epoch_scans(run, source, layers)
  every = {layer: np.arange(len(top[layer].value)) for layer in layers}
  rules = ('deconvnet',) + tuple(r for r in dict.fromkeys(args.rules)
                                 if r != 'deconvnet')
  with clock.stage('projections'):
    by_rule = topk.project_tops_by_rule(
        run.params, spec, top, every, source.load, rules=rules,
        image_size=size, chunk_size=args.chunk_size,
        desc=f'projecting top-{K}')
    projected = by_rule['deconvnet']
    epochs = {layer: [] for layer in layers}
    for epoch, params, tops in kept:
      patches = projected if params is None else topk.project_tops(
          params, spec, tops, every, source.load, image_size=size,
          chunk_size=args.chunk_size, desc=f'projecting epoch {epoch}')
      for layer in layers:
        epochs[layer].append((epoch, common.show(
            patches[layer].projections[:, 0], args.saturate),
                              patches[layer].value[:, 0]))
  stimuli = {}
  if args.stimulus_steps:
    with clock.stage('stimulus'):
      settings = stimulus.Settings(steps=args.stimulus_steps)
      for layer in layers:
        stimuli[layer] = stimulus.maximize(
            run.params, spec, layer, every[layer], settings=settings,
            image_size=size, mean=run.preprocessing.mean_crop,
            seed=args.seed).images
  site = site_lib.Site(staging)
  names = {}
  images = []
  with clock.stage('images'):
    if chosen is not None:
      images = _image_results(args, run, chosen, picked, layers, staging)
      if chosen.indices is not None:
        names = {i: r.name for i, r in zip(chosen.indices, images)}
      else:
        names = {source.files.index(f): r.name
                 for f, r in zip(chosen.files, images)
                 if source.files and f in source.files}
  class_names = run.class_names

  def describe(index: int) -> tuple[str, str | None, str]:
    page = (site_lib.href('images', f'{names[index]}.html')
            if index in names else None)
    label = class_names[labels[index]] if source.files is None else ''
    return source.name(index), page, label

  scanned = atlas_pages.Scanned(source.phrase, len(maxima.index), describe)
  info = {'name': pathlib.Path(run.workdir).name, 'spec': spec.name,
          'epoch': run.epoch, 'step': run.step, 'workdir': run.workdir,
          'built': datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}
  count = sum(len(t.value) for t in top.values())
  rows = []
  with clock.stage('pages'), progress.bar(total=count, desc='pages',
                                         unit='unit') as bar:
    for layer in layers:
      stats = units.unit_stats(maxima.values[layer])
      shown = common.show(projected[layer].projections, args.saturate)
      result = atlas_pages.LayerResult(
          layer, projected[layer], shown, stats, grid[layer], epochs[layer],
          _rows(args, layer, by_rule, shown, stimuli))
      rows.append(atlas_pages.write_layer(site, info, spec, result, scanned,
                                          size, lambda: bar.update(1)))
      if args.npz:
        common.save_npz(staging / layer / 'units.npz',
                        **projected[layer]._asdict(),
                        **{f'projections_{rule}': by_rule[rule][layer]
                           .projections for rule in rules[1:]},
                        **({'stimulus': stimuli[layer]} if stimuli else {}),
                        **{f'stats_{k}': v for k, v in stats._asdict().items()},
                        maxima=maxima.values[layer],
                        maxima_index=maxima.index)
    tiles = [atlas_pages.write_image(site, info, image) for image in images]
    atlas_pages.write_index(site, info, run, rows, tiles, scanned)
  site.manifest(workdir=run.workdir, spec=spec.name, epoch=run.epoch,
                step=run.step, layers={r['name']: r['units'] for r in rows},
                images=[image.name for image in images],
                scanned=scanned.count, source=source.phrase,
                seconds=clock.seconds, built=info['built'])
  return count


def _rows(args, layer: str, by_rule, shown: np.ndarray,
          stimuli: dict[str, np.ndarray]) -> list[atlas_pages.PictureRow]:
  """A unit page's pictures: the deconvnet's projections (`shown`), each
  other rule's of the same activations, the image patches, the optimised
  stimulus (one per unit, its own contrast scale around the mean image)."""
  top = by_rule['deconvnet'][layer]
  rows = [atlas_pages.PictureRow('deconvnet projections', 'deconv', shown)]
  rows += [atlas_pages.PictureRow(
      RULE_TITLES[rule], rule,
      common.show(by_rule[rule][layer].projections, args.saturate))
           for rule in by_rule if rule != 'deconvnet']
  rows.append(atlas_pages.PictureRow('image patches (receptive fields)',
                                     'patches', top.patches, 'jpg'))
  if layer in stimuli:
    rows.append(atlas_pages.PictureRow(
        f'optimised stimulus ({args.stimulus_steps} steps of gradient '
        f'ascent on the centre unit)', 'stimulus',
        common.show(stimuli[layer], 0.5)))
  return rows


def _epoch_scans(run: workdirs.TrainedRun, source: _Source, layers):
  """Per kept end-of-epoch checkpoint (epoch, params, top-1 per layer);
  params None for the checkpoint the atlas shows (its scan is reused)."""
  out = []
  for meta in checkpoints.saved(run.workdir):
    if not meta.epoch_end:
      continue
    if meta.step == run.step:
      out.append((meta.epoch, None, None))
      continue
    print(f'epoch {meta.epoch}:')
    params = workdirs.load_run(run.workdir, epoch=meta.epoch).params
    batches, total = source.batches()
    out.append((meta.epoch, params,
                topk.scan(params, run.spec, batches, layers, 1,
                          total=total)))
  return out


def _image_results(args, run: workdirs.TrainedRun, chosen,
                   picked: common.ChosenImages, layers,
                   staging: pathlib.Path) -> list[atlas_pages.ImageResult]:
  """Occlusion, invariance and the strongest units of each chosen image
  (`chosen`: their options, `picked`: the images)."""
  folder = staging / 'images'
  folder.mkdir()
  image_options = dict(files=chosen.files, labels=chosen.labels,
                       split=chosen.split, indices=chosen.indices)
  occlusion_command.occlusion_command(_options(
      occlusion_command.add_arguments, chunk_size=args.chunk_size,
      npz=False, **image_options), run, folder)
  for n, name in enumerate(picked.names):
    one = {key: value if value is None else value[n:n + 1]
           for key, value in image_options.items()}
    one['split'] = chosen.split
    scratch = folder / f'.invariance-{n}'
    scratch.mkdir()
    with contextlib.redirect_stdout(io.StringIO()):
      invariance_command.invariance_command(_options(
          invariance_command.add_arguments, **one), run, scratch)
    for suffix in ('png', 'csv'):
      os.replace(scratch / f'invariance.{suffix}',
                 folder / f'invariance_{name}.{suffix}')
    scratch.rmdir()
  spec, images = run.spec, picked.images
  logits, trace = jax.jit(models.forward_trace, static_argnums=2)(
      run.params, images, spec)
  probs = np.asarray(jax.nn.softmax(logits))
  strongest = {}
  for layer in layers:
    best = units.strongest_units(np.asarray(trace.activations[layer]),
                                 args.units_per_image)
    n, k = best.channel.shape
    projections = deconv.project_units(
        run.params, trace, spec, layer, np.repeat(np.arange(n), k),
        best.channel.ravel(), best.y.ravel(), best.x.ravel(),
        image_size=images.shape[1])
    shown = common.show(np.asarray(projections), args.saturate)
    strongest[layer] = (best, shown.reshape((n, k) + shown.shape[1:]))
  display = run.preprocessing.to_display(images)
  names = run.class_names
  out = []
  for n, name in enumerate(picked.names):
    label = (int(picked.labels[n]) if picked.labels is not None
             else int(probs[n].argmax()))
    order = np.argsort(-probs[n])[:5]
    out.append(atlas_pages.ImageResult(
        name, display[n], names[label], picked.labels is not None,
        [(names[c], float(probs[n, c])) for c in order],
        f'images/occlusion_{name}.png', f'images/occlusion_{name}.csv',
        f'images/invariance_{name}.png', f'images/invariance_{name}.csv',
        [(layer, [(int(best.channel[n, j]), float(best.value[n, j]),
                   shown[n, j]) for j in range(best.channel.shape[1])])
         for layer, (best, shown) in strongest.items()]))
  return out
