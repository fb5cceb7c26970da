r"""The paper's transfer protocols (ZF §5.2, Tables 4, 5, 7, Fig. 9).

Every run of a protocol is an ordinary training run of a transfer config
(`training.defaults.transfer_config`, `configs/transfer.py`) in its own
workdir under `out` (rerunning resumes, finished runs are only evaluated);
then its test images are scored. `python -m zfjax transfer PROTOCOL`
runs one protocol and writes its tables and Fig. 9
(`zfjax/commands/transfer.py` lists the commands):

  caltech101    Table 4: 15 and 30 images per class, 5 random splits,
                pretrained and from scratch; mean per-class accuracy.
  caltech256    Table 5 and Fig. 9: 15/30/45/60 per class (any counts).
  voc2012       Table 7: a softmax on train, AP per class on validation,
                plus a per-class sigmoid (logistic) head on the same
                cached features.
  shapes_novel  the built-in analogue, minutes on a CPU.

Every run has the architecture and input size of the `from_workdir` run.
The VOC numbers are on the validation split: the paper's are from the test
server, which cannot be reached offline.
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple, Sequence

import jax
import ml_collections
import numpy as np

from zfjax.data import shapes
from zfjax.networks import models
from zfjax.training import defaults
from zfjax.training import trainer
from zfjax.training import transfer
from zfjax.training import workdirs

DEFAULT_COUNTS = {'caltech101': (15, 30), 'caltech256': (15, 30, 45, 60),
                   'shapes_novel': (1, 2, 5, 10, 20, 50)}
DEFAULT_SPLITS = {'caltech101': 5, 'caltech256': 5, 'shapes_novel': 3}


class RunResult(NamedTuple):
  """One trained and scored run: kind 'pretrained' or 'scratch', training
  images per class, split index, mean per-class test accuracy."""
  kind: str
  images_per_class: int
  split_index: int
  accuracy: float


class RunStopped(Exception):
  """A run of a protocol was stopped by a signal (its checkpoint saved);
  `signal` names it. Rerunning the protocol resumes it."""

  def __init__(self, signal: str):
    super().__init__(f'stopped by {signal}')
    self.signal = signal


def transfer_config(variant: str, **overrides) -> ml_collections.ConfigDict:
  """The transfer config `variant` with dotted `overrides` (None skipped);
  a `shapes.novel_classes` among them also sizes the novel set and the
  batch."""
  novel = overrides.get('shapes.novel_classes') or shapes.NUM_NOVEL_CLASSES
  config = defaults.transfer_config(variant, novel)
  for key, value in overrides.items():
    if value is None:
      continue
    *path, last = key.split('.')
    target = config
    for part in path:
      target = target[part]
    target[last] = value
  return config


def with_source_architecture(from_workdir: str | None,
                             overrides: dict) -> dict:
  """`overrides` plus the source run's `model`, `resize_size`, `crop_size`
  and `clip_radius` (and for a built-in source its world's image size and
  occluders) where they do not set them: a protocol's runs, scratch ones
  included, use the architecture, input size and clipping of the run they
  start from (ZFNet at 256/224 by default; a converted AlexNet or the
  built-in model otherwise)."""
  if from_workdir is None:
    return dict(overrides)
  source = workdirs.load_config(from_workdir)
  # Scratch runs train the source's network as it was trained: its feature
  # scale clipping too (without it the fidelity net's scratch runs diverge).
  merged = {key: source.get(key) for key in ('model', 'resize_size',
                                             'crop_size', 'clip_radius')}
  if source.dataset == 'zfjax_shapes':
    # The novel classes drawn as the source's world draws its own classes.
    merged['shapes.image_size'] = source.shapes.image_size
    for key, value in shapes.World.of(source.shapes).knobs().items():
      if key != 'num_classes':
        merged[f'shapes.{key}'] = value
  merged.update({k: v for k, v in overrides.items() if v is not None})
  return merged


def test_scores(plan: transfer.Plan, workdir: str,
                batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(softmax (T, C) averaged over the two cached views, labels (T,) or 0/1
  (T, C)) of the finished run in `workdir` on its test images."""
  data = plan.data
  trained = workdirs.load_run(workdir)
  spec = plan.step_spec(trained.spec)
  predict = jax.jit(lambda p, x: jax.nn.softmax(models.apply(p, x, spec)))
  n = len(data.test_images.labels)
  probs, labels = [], []
  for start in range(0, n, batch_size):
    rows = np.arange(start, min(start + batch_size, n))
    batch = data.test_images.batch(rows, None)
    flat = batch.images.reshape((-1,) + batch.images.shape[2:])
    p = np.asarray(predict(trained.params, flat))
    probs.append(p.reshape(len(rows), -1, p.shape[-1]).mean(axis=1))
    labels.append(batch.labels)
  return np.concatenate(probs), np.concatenate(labels)


def _train(config: ml_collections.ConfigDict, workdir: str) -> transfer.Plan:
  """Trains (or resumes) one run and returns its plan (its data read once);
  raises `RunStopped` when a signal stopped it (its checkpoint saved),
  which ends the protocol unscored."""
  plan = transfer.plan(config, workdir)
  result = trainer.train_and_evaluate(config, workdir, plan=plan)
  if result.stopped_by:
    raise RunStopped(result.stopped_by)
  return plan


def train_and_score(variant: str, workdir: str, **overrides) -> float:
  """Trains (or resumes, or just loads) one run; its mean per-class test
  accuracy."""
  config = transfer_config(variant, **overrides)
  plan = _train(config, workdir)
  probs, labels = test_scores(plan, workdir, config.eval_batch_size)
  return transfer.mean_class_accuracy(probs.argmax(axis=1), labels)


def run_caltech_like(protocol: str, from_workdir: str | None, out: str,
                     counts: Sequence[int], splits: int, *, scratch: bool,
                     pretrained: bool = True,
                     on_result: Callable[[RunResult], None] | None = None,
                     **overrides) -> list[RunResult]:
  """Every (kind, count, split) run of a Caltech-style protocol; the
  scratch runs need no `from_workdir`. `on_result` hears of each run as it
  is scored."""
  results = []
  overrides = with_source_architecture(from_workdir, overrides)
  novel = overrides.get('shapes.novel_classes')
  if protocol == 'shapes_novel' and novel not in (None, shapes.NUM_NOVEL_CLASSES):
    # Runs of another novel set live apart: a 10-class run is not resumed
    # as a 30-class one.
    out = os.path.join(out, f'novel_classes{novel}')
  kinds = (('pretrained',) if pretrained else ()) + (
      ('scratch',) if scratch else ())
  for kind in kinds:
    for count in counts:
      for k in range(splits):
        variant = f'{protocol}_{count}' + ('_scratch' if kind == 'scratch'
                                           else '')
        extra = dict(overrides)
        extra['transfer.split_index'] = k
        if kind == 'pretrained':
          extra['transfer.from_workdir'] = from_workdir
        else:  # every scratch run shares one cache of preprocessed images
          extra['transfer.cache_dir'] = os.path.join(out, 'scratch_cache')
        accuracy = train_and_score(
            variant, os.path.join(out, variant, f'split{k}'), **extra)
        results.append(RunResult(kind, count, k, accuracy))
        if on_result is not None:
          on_result(results[-1])
  return results


def summarise(results: Sequence[RunResult]) -> list[tuple[str, int, float,
                                                          float, int]]:
  """(kind, count, mean accuracy, std over splits, splits) per cell."""
  cells = {}
  for r in results:
    cells.setdefault((r.kind, r.images_per_class), []).append(r.accuracy)
  return [(kind, count, float(np.mean(a)), float(np.std(a)), len(a))
          for (kind, count), a in sorted(cells.items())]


class VocResult(NamedTuple):
  """Per-class AP (C,) on validation of the retrained softmax and of the
  per-class sigmoid head, with the class names."""
  class_names: tuple[str, ...]
  softmax_ap: np.ndarray
  sigmoid_ap: np.ndarray


def sigmoid_head_ap(data: transfer.TransferData,
                    c: float = 1.0) -> np.ndarray:
  """Per-class AP of independent logistic regressions (one per class, its
  images against all others) on the cached features of the training
  images (both views), scored on the test images (views averaged)."""
  # pylint: disable-next=g-import-not-at-top
  from sklearn import linear_model, preprocessing
  train = data.train_images.batch(np.arange(len(data.train_images.labels)),
                                  None)
  x_train = np.concatenate([train.images[:, v] for v in range(
      transfer.VIEWS)]).reshape(transfer.VIEWS * len(train.labels), -1)
  y_train = np.concatenate([train.labels] * transfer.VIEWS)
  test = data.test_images
  scaler = preprocessing.StandardScaler().fit(x_train)
  rows = np.arange(len(test.labels))
  batch = test.batch(rows, None)
  x_test = batch.images.reshape(len(rows) * transfer.VIEWS, -1)
  scores = []
  for k in range(y_train.shape[1]):
    model = linear_model.LogisticRegression(C=c, max_iter=2_000)
    model.fit(scaler.transform(x_train), y_train[:, k])
    p = model.decision_function(scaler.transform(x_test))
    scores.append(p.reshape(len(rows), transfer.VIEWS).mean(axis=1))
  return transfer.mean_average_precision(np.stack(scores, axis=1),
                                         batch.labels)[0]


def run_voc(from_workdir: str, out: str, **overrides) -> VocResult:
  """Table 7: the VOC run (trained or resumed in `out`/voc2012) scored by
  the retrained softmax and by a per-class sigmoid head."""
  workdir = os.path.join(out, 'voc2012')
  config = transfer_config('voc2012', **{
      'transfer.from_workdir': from_workdir,
      **with_source_architecture(from_workdir, overrides)})
  plan = _train(config, workdir)
  probs, targets = test_scores(plan, workdir, config.eval_batch_size)
  softmax_ap = transfer.mean_average_precision(probs, targets)[0]
  sigmoid_ap = sigmoid_head_ap(plan.data)
  return VocResult(tuple(plan.data.info.class_names), softmax_ap, sigmoid_ap)
