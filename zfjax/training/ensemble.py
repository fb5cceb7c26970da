"""Ensembles (ZF Table 2's "5 convnets"): average the members' softmax.

Each member is a trained workdir, read at its newest checkpoint; members may
have different architectures (Table 2's "6 convnets combined") but must
share the data set and crop size. The validation split is read once and
every batch goes through every member, so the members' outputs are never
all held in memory.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax

from zfjax.training.workdirs import load_run
from zfjax.data import pipeline
from zfjax.training import metrics
from zfjax import progress
from zfjax.training import steps
from zfjax.errors import ZfjaxError

# Config keys that decide what the models see; members must agree on them.
_DATA_KEYS = ('dataset', 'resize_size', 'crop_size', 'eval_split')


class EnsembleResult(NamedTuple):
  """Validation rates of the ensemble and of each member alone (same order
  as the workdirs), on `split` with or without 10 crops."""
  ensemble: metrics.Rates
  members: tuple[metrics.Rates, ...]
  workdirs: tuple[str, ...]
  split: str
  ten_crop: bool


def evaluate_ensemble(workdirs: Sequence[str], *, ten_crop: bool = True,
                      batch_size: int | None = None) -> EnsembleResult:
  """Top-1/top-5 error of the averaged softmax of the runs in `workdirs`.

  The data settings (and data_dir) come from the first member; batch_size
  (global) defaults to its eval_batch_size.
  """
  if not workdirs:
    raise ZfjaxError('an ensemble needs at least one workdir')
  trained = [load_run(w) for w in workdirs]
  config = trained[0].config
  for w, t in zip(workdirs[1:], trained[1:]):
    for key in _DATA_KEYS:
      if t.config[key] != config[key]:
        raise ZfjaxError(f'ensemble members disagree on config.{key}: '
                         f'{config[key]!r} in {workdirs[0]}, {t.config[key]!r} '
                         f'in {w}; combine runs trained on the same data')
    if t.spec.num_classes != trained[0].spec.num_classes:
      raise ZfjaxError(f'{w} has {t.spec.num_classes} classes, {workdirs[0]} '
                       f'{trained[0].spec.num_classes}')
  batch_size = batch_size or config.eval_batch_size
  if batch_size % jax.device_count():
    raise ZfjaxError(f'the batch size {batch_size} must be a multiple of the '
                     f'{jax.device_count()} devices')

  mesh = steps.make_mesh()
  members = [(steps.replicate(t.params, mesh),
              steps.make_predict(t.spec, mesh)) for t in trained]
  split = config.eval_split
  data = pipeline.DataSource(config)
  batches = data.eval_batches(split, batch_size=batch_size, ten_crop=ten_crop)
  total = metrics.Counts.zeros()
  alone = [metrics.Counts.zeros() for _ in members]
  for batch in progress.bar(batches, desc='ensemble', unit='batch',
                            total=math.ceil(data.split_size(split) / batch_size),
                            disable=jax.process_index() != 0):
    images, labels, mask = steps.to_global(mesh, batch)
    probs = [predict(params, images) for params, predict in members]
    for i, p in enumerate(probs):
      alone[i] = alone[i].plus(steps.eval_counts(p, labels, mask))
    mean = sum(probs[1:], probs[0]) / len(probs)
    total = total.plus(steps.eval_counts(mean, labels, mask))
  return EnsembleResult(total.rates(), tuple(c.rates() for c in alone),
                        tuple(workdirs), split, ten_crop)


def format_result(result: EnsembleResult) -> str:
  """A small table: one line per member and one for the ensemble, errors
  in percent."""
  crops = '10-crop' if result.ten_crop else 'centre crop'
  lines = [f'{result.split} ({crops}, {result.ensemble.count} images): '
           f'top-1 / top-5 error %']
  for workdir, rates in zip(result.workdirs, result.members):
    lines.append(f'  {100 * rates.top1_error:6.2f} '
                 f'{100 * rates.top5_error:6.2f}  {workdir}')
  lines.append(f'  {100 * result.ensemble.top1_error:6.2f} '
               f'{100 * result.ensemble.top5_error:6.2f}  ensemble of '
               f'{len(result.workdirs)}')
  return '\n'.join(lines)
