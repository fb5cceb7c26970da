"""Transfer to other data sets (ZF §5.2): splits, cached inputs, metrics.

A transfer run is an ordinary training run (`train.py`, `trainer`) whose
config sets `config.transfer` (see configs/common.py):

  * from_workdir: a trained run whose layers below `train_from` are kept
    fixed. Their output for every image of the target data set is computed
    once (centre crop, and its mirror image) and cached on disk, so the
    layers that train (by default a new softmax, `train_from='fc8'`) see
    cached arrays and train in seconds. The optimizer leaves the frozen
    layers' params untouched, bit for bit (`frozen_layers`), and the run's
    checkpoints hold the whole network, usable by every tool.
  * without from_workdir, the same architecture trains from scratch on the
    same images: the cached inputs are then the preprocessed images
    themselves (float16 to halve the disk: 2 bytes x 2 views x C^2 x 3 per
    image).
  * images_per_class: the Caltech protocols' random split, `sample_split`:
    that many training images per class and up to test_per_class test
    images per class from the other images of `pool_splits`, drawn from
    (split_seed, split_index).

Images go through the one input pipeline (`DataSource.eval_batches`:
the central square, resized, centre crop), minus the mean image of the
pretraining set (the source run's, which the trainer saves in its workdir:
the pretraining set need not be on the machine), as the paper feeds the
ImageNet-trained net. Training picks the centre crop or its mirror at
random per example and epoch; the centre-crop evaluation uses the centre
crop, the "10-crop" one averages the softmax over the two views.

Multi-label sets (VOC): an image with several classes gives one training
example per class (so the softmax is fitted to an even split of its mass
between them); evaluation counts (image, class) pairs; `average_precision`
scores the classes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import uuid
from typing import TYPE_CHECKING, Iterator, NamedTuple

import jax
import ml_collections
import numpy as np

from zfjax import progress
from zfjax.data import shapes
from zfjax.training import workdirs
from zfjax.networks import models
from zfjax.networks import specs
from zfjax.errors import ZfjaxError

if TYPE_CHECKING:
  # Imported where data is read, so that the trainer's step (which asks
  # `frozen_layers`) imports without TensorFlow.
  from zfjax.data import pipeline

VIEWS = 2  # the centre crop and its mirror image
_EXTRACT_BATCH = 128


# ------------------------------------------------------------------ splits


class Split(NamedTuple):
  """Positions in the pooled examples: train (K,) and test (T,) int64, each
  sorted by class, then by position."""
  train: np.ndarray
  test: np.ndarray


def sample_split(labels: np.ndarray, train_per_class: int,
                 test_per_class: int | None = None, *, seed: int = 0,
                 split_index: int = 0) -> Split:
  """A random split of examples with `labels` (N,) int: per class,
  `train_per_class` training examples and up to `test_per_class` test
  examples from the others (all of them when None).

  The draw depends only on (seed, split_index, labels): split k of a seed is
  the same whatever other splits are drawn. Raises when a class has no more
  than `train_per_class` examples (nothing left to test on).
  """
  labels = np.asarray(labels)
  if train_per_class < 1:
    raise ZfjaxError(f'images per class must be at least 1, got '
                     f'{train_per_class}')
  rng = np.random.default_rng([seed, split_index])
  train, test = [], []
  for c in np.unique(labels):
    members = np.flatnonzero(labels == c)
    if members.size <= train_per_class:
      raise ZfjaxError(
          f'class {c} has {members.size} images, not more than the '
          f'{train_per_class} to train on; lower images_per_class')
    members = rng.permutation(members)
    train.append(np.sort(members[:train_per_class]))
    rest = members[train_per_class:]
    if test_per_class is not None:
      rest = rest[:test_per_class]
    test.append(np.sort(rest))
  return Split(np.concatenate(train).astype(np.int64),
               np.concatenate(test).astype(np.int64))


# ----------------------------------------------------------------- metrics


def mean_class_accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
  """Mean over the classes present in `labels` of the fraction of their
  examples predicted right (the Caltech protocols' measure)."""
  predictions, labels = np.asarray(predictions), np.asarray(labels)
  classes = np.unique(labels)
  return float(np.mean([np.mean(predictions[labels == c] == c)
                        for c in classes]))


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
  """Average precision of one class: scores (N,), targets (N,) 0/1.

  The mean over the positive examples of the precision at their score
  (every example scoring at least as high counts as retrieved, so tied
  scores share one precision), i.e. the area under the step-wise
  precision-recall curve; scikit-learn's `average_precision_score`. NaN
  when there are no positives.
  """
  scores, targets = np.asarray(scores, np.float64), np.asarray(targets) > 0
  if not targets.any():
    return float('nan')
  order = np.argsort(-scores, kind='stable')
  scores, targets = scores[order], targets[order]
  hits = np.cumsum(targets)
  # The last position of each run of equal scores stands for the run.
  last = np.r_[scores[1:] != scores[:-1], True]
  precision = hits[last] / (np.flatnonzero(last) + 1)
  new_hits = np.diff(np.r_[0, hits[last]])
  return float(np.sum(new_hits * precision) / hits[-1])


def mean_average_precision(scores: np.ndarray,
                           targets: np.ndarray) -> tuple[np.ndarray, float]:
  """(per-class AP (C,), their mean) for scores and 0/1 targets (N, C)."""
  ap = np.array([average_precision(scores[:, c], targets[:, c])
                 for c in range(scores.shape[1])])
  return ap, float(np.nanmean(ap))


# ------------------------------------------------------------- the source


class Source(NamedTuple):
  """The frozen part of a transfer run: the trained run's params, its
  architecture, the mean image of its training set (R, R, 3) float32
  0..255, its step."""
  params: models.Params
  spec: specs.Spec
  mean: np.ndarray
  step: int
  workdir: str


def is_transfer(config: ml_collections.ConfigDict) -> bool:
  t = config.get('transfer')
  return t is not None and (t.from_workdir is not None
                            or t.images_per_class is not None)


@functools.lru_cache(maxsize=2)
def _load_source(path: str) -> Source:
  trained = workdirs.load_run(path)
  # The workdir's mean image: the source's data set need not be on this
  # machine.
  params = jax.tree.map(np.asarray, trained.params)
  return Source(params, trained.spec, trained.preprocessing.mean,
                trained.step, path)


def load_source(config: ml_collections.ConfigDict) -> Source | None:
  """The run named by config.transfer.from_workdir (None from scratch),
  checked against the config."""
  t = config.transfer
  if t.from_workdir is None:
    return None
  source = _load_source(os.path.abspath(t.from_workdir))
  source_config = workdirs.load_config(t.from_workdir)
  if source_config.model != config.model:
    raise ZfjaxError(f'config.model={config.model!r} but the run in '
                     f'{t.from_workdir} is a {source_config.model!r}; use '
                     f'its architecture')
  for key in ('resize_size', 'crop_size'):
    if source_config[key] != config[key]:
      raise ZfjaxError(f'config.{key}={config[key]} but the run in '
                       f'{t.from_workdir} was trained with '
                       f'{source_config[key]}; set '
                       f'config.{key}={source_config[key]}')
  if (config.dataset == 'zfjax_shapes_novel'
      and source_config.dataset == 'zfjax_shapes'):
    # The novel classes drawn as the source's world draws its own: at its
    # image size, with its occluders and details (their number is the
    # target's choice).
    ours = {'image_size': config.shapes.image_size,
            **shapes.World.of(config.shapes).novel_set()._asdict()}
    theirs = {'image_size': source_config.shapes.image_size,
              **shapes.World.of(source_config.shapes).novel_set()._asdict()}
    for key in ours:
      if key != 'novel_classes' and ours[key] != theirs[key]:
        raise ZfjaxError(f'config.shapes.{key}={ours[key]} but the run in '
                         f'{t.from_workdir} was trained on a world with '
                         f'{theirs[key]}; set config.shapes.{key}='
                         f'{theirs[key]}')
  return source


def frozen_layers(config: ml_collections.ConfigDict) -> frozenset[str]:
  """Names of the layers below config.transfer.train_from (none when it is
  unset): their params do not change in training."""
  t = config.get('transfer')
  if t is None or t.train_from is None:
    return frozenset()
  bottom, _ = specs.split_at(specs.get_spec(config.model), t.train_from)
  return frozenset(l.name for l in bottom.layers)


class Plan(NamedTuple):
  """Everything a config's run reads and trains, decided once.

  data: the `pipeline.DataSource`, or for a transfer run its cached inputs
  (`TransferData`, the same interface); frozen: the layers whose params
  never change; train_from: the first layer the step runs (it reads the
  cached outputs of the layers below), None for all of them; source: the
  run transferred from, or None.
  """
  data: object
  frozen: frozenset[str]
  train_from: str | None
  source: Source | None

  def step_spec(self, spec: specs.Spec) -> specs.Spec:
    """The part of `spec` the training step runs."""
    if self.train_from is None:
      return spec
    return specs.split_at(spec, self.train_from)[1]

  def initial_params(self, params: models.Params) -> models.Params:
    """Fresh `params` with the source run's layers copied in: every frozen
    layer, and the trained ones but the classifier where the shapes agree
    (the classifier is new: other classes)."""
    source = self.source
    if source is None:
      return params
    last = source.spec.layers[-1].name
    out = dict(params)
    for name, layer in params.items():
      same = name in source.params and all(
          source.params[name][k].shape == layer[k].shape for k in layer)
      if name in self.frozen and not same:
        raise ZfjaxError(f'layer {name} of the run in {source.workdir} does '
                         f'not fit this config; set config.transfer.'
                         f'train_from to a layer below it')
      if same and name != last:
        out[name] = {k: np.asarray(v) for k, v in source.params[name].items()}
    return out


def plan(config: ml_collections.ConfigDict, workdir: str) -> Plan:
  """The run of `config` in `workdir`: an ordinary one reads the input
  pipeline and trains every layer; a transfer run (module docstring) reads
  its cached inputs and keeps the layers below train_from fixed."""
  if not is_transfer(config):
    from zfjax.data import pipeline  # pylint: disable=g-import-not-at-top
    return Plan(pipeline.DataSource(config), frozenset(), None, None)
  data = TransferData(config, workdir)
  return Plan(data, frozen_layers(config), config.transfer.train_from,
              data.source)


# ------------------------------------------------------------ cached inputs


class Cached(NamedTuple):
  """Cached inputs of one split: inputs (N, VIEWS, h, w, c), memory-mapped
  float32 features or float16 images; labels (N,) int32 or (N, C) 0/1."""
  inputs: np.ndarray
  labels: np.ndarray


def _cache_dir(config: ml_collections.ConfigDict, workdir: str) -> str:
  t = config.transfer
  if t.cache_dir:
    return t.cache_dir
  return os.path.join(t.from_workdir or workdir, 'feature_cache')


def _cache_key(config: ml_collections.ConfigDict, split: str,
               source: Source | None, layer: str | None) -> str:
  what = {'dataset': config.dataset, 'split': split,
          'resize': config.resize_size, 'crop': config.crop_size,
          'layer': layer,
          'source': None if source is None else [source.workdir, source.step]}
  if config.dataset.startswith('zfjax_shapes'):
    what['shapes'] = config.shapes.to_dict()
  digest = hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()
  name = config.dataset.replace('/', '_')
  return f'{name}_{split}_{layer or "images"}_{digest[:12]}'


def cached_inputs(target, split: str, source: Source | None,
                  cache_dir: str) -> Cached:
  """The inputs of the layers that train, for every example of `split` of
  `target` (a `pipeline.DataSource`), computed on first use (a progress
  bar) and read from `cache_dir` later.

  A directory per (data set, split, source run and step, layer) holds
  inputs.npy and labels.npy; it is written under a temporary name and
  renamed when complete, so a killed extraction leaves nothing half-made.
  """
  config = target.config
  layer = config.transfer.train_from if source is not None else None
  path = os.path.join(cache_dir, _cache_key(config, split, source, layer))
  if not os.path.exists(path):
    _extract(target, split, source, layer, path)
  return Cached(np.load(os.path.join(path, 'inputs.npy'), mmap_mode='r'),
                np.load(os.path.join(path, 'labels.npy')))


def source_images(target, split: str, source: Source | None, *,
                  batch_size: int = _EXTRACT_BATCH,
                  desc: str | None = None) -> Iterator[pipeline.Batch]:
  """Every example of `split` of `target` (a `pipeline.DataSource`) once,
  centre crops (B, C, C, 3) as the source net expects them, padded like
  `DataSource.eval_batches`, with a progress bar.

  The pipeline subtracts the target set's mean image; the net was trained
  on images minus its own training set's, which replaces it here.
  """
  config = target.config
  shift = 0.0
  if source is not None:
    offset = (config.resize_size - config.crop_size) // 2
    shift = (target.mean_image - source.mean)[
        offset:offset + config.crop_size, offset:offset + config.crop_size]
  num = target.split_size(split)
  batches = target.eval_batches(split, batch_size=batch_size)
  for batch in progress.bar(batches, total=-(-num // batch_size),
                            desc=desc or f'{config.dataset} {split}',
                            unit='batch', leave=False):
    yield batch._replace(images=batch.images + shift)


def _extract(target, split: str, source: Source | None, layer: str | None,
             path: str) -> None:
  config = target.config
  num = target.split_size(split)
  if source is not None and layer is not None:
    bottom = specs.split_at(source.spec, layer)[0]
    forward = jax.jit(lambda p, x: models.apply(p, x, bottom))
  else:
    forward = None
  tmp = f'{path}.tmp-{uuid.uuid4().hex}'
  os.makedirs(tmp)
  try:
    inputs, labels = None, None
    for batch in source_images(target, split, source,
                               desc=f'caching {config.dataset} {split}'):
      images = batch.images
      views = np.stack([images, images[:, :, ::-1]], axis=1)
      flat = views.reshape((-1,) + views.shape[2:])
      out = flat if forward is None else np.asarray(forward(source.params,
                                                            flat))
      if out.ndim == 2:  # Dense outputs as 1x1 maps: the inputs stay NHWC
        out = out[:, None, None, :]
      out = out.reshape((-1, VIEWS) + out.shape[1:])
      if inputs is None:
        dtype = np.float16 if forward is None else np.float32
        inputs = np.lib.format.open_memmap(
            os.path.join(tmp, 'inputs.npy'), 'w+', dtype,
            (num,) + out.shape[1:])
        labels = np.zeros((num,) + batch.labels.shape[1:], np.int32)
      rows = batch.index[batch.mask]
      inputs[rows] = out[batch.mask]
      labels[rows] = batch.labels[batch.mask]
    inputs.flush()
    del inputs
    np.save(os.path.join(tmp, 'labels.npy'), labels)
    os.replace(tmp, path)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------ the data source


class TransferData:
  """A transfer run's data: the cached inputs of its sampled training and
  test examples, in the interface of `pipeline.DataSource` (`info`,
  `mean_image`, `statistics()`, `steps_per_epoch()`, `train_batches`,
  `eval_batches`) so that the trainer reads it like any data."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    from zfjax.data import pipeline  # pylint: disable=g-import-not-at-top
    t = config.transfer
    self.config = config
    self.source = load_source(config)
    self.target = pipeline.DataSource(config)
    info = self.target.info
    cache_dir = _cache_dir(config, workdir)
    if t.images_per_class is None:
      train = cached_inputs(self.target, config.train_split, self.source,
                            cache_dir)
      test = cached_inputs(self.target, config.eval_split, self.source,
                           cache_dir)
      train_rows, test_rows = ((train, np.arange(len(train.labels))),
                               (test, np.arange(len(test.labels))))
    else:
      pool = [cached_inputs(self.target, s, self.source, cache_dir)
              for s in t.pool_splits]
      if info.multi_label:
        raise ZfjaxError(f'{config.dataset} has several labels per image; '
                         f'leave config.transfer.images_per_class unset')
      labels = np.concatenate([p.labels for p in pool])
      self.split = sample_split(labels, t.images_per_class, t.test_per_class,
                                seed=t.split_seed, split_index=t.split_index)
      train_rows = _pooled_rows(pool, self.split.train)
      test_rows = _pooled_rows(pool, self.split.test)
    self.train = _Examples.of(*train_rows, multi=info.multi_label)
    self.test = _Examples.of(*test_rows, multi=info.multi_label)
    # One row per image, with all its labels (average precision, heads
    # fitted outside the trainer).
    self.train_images = _Examples.of(*train_rows, multi=False)
    self.test_images = _Examples.of(*test_rows, multi=False)
    self.info = info._replace(split_sizes={
        config.train_split: len(self.train.labels),
        config.eval_split: len(self.test.labels)})

  @property
  def mean_image(self) -> np.ndarray:
    """The mean image (R, R, 3) the cached inputs are centred on: the
    source run's, or the target set's from scratch."""
    if self.source is not None:
      return self.source.mean
    return self.target.mean_image

  def statistics(self) -> None:
    """None: the cached inputs are network inputs already."""
    return None

  def steps_per_epoch(self) -> int:
    batch_size = self.config.batch_size
    steps = len(self.train.labels) // batch_size
    if steps == 0:
      raise ZfjaxError(f'config.batch_size ({batch_size}) exceeds the '
                       f'{len(self.train.labels)} training examples of this '
                       f'transfer run; lower it')
    return steps

  def train_batches(self, *, epoch: int, seed: int, skip_batches: int = 0,
                    on_device: bool = False) -> Iterator[pipeline.Batch]:
    """One epoch: a permutation and a view per example from (seed, epoch);
    each process yields its part of each global batch. The cached inputs
    are network inputs already, whatever `on_device` asks."""
    del on_device
    rng = np.random.default_rng([seed, epoch, 7])
    order = rng.permutation(len(self.train.labels))
    views = rng.integers(0, VIEWS, len(order))
    size, steps = self.config.batch_size, self.steps_per_epoch()
    for b in range(skip_batches, steps):
      rows = _process_part(order[b * size:(b + 1) * size])
      yield self.train.batch(rows, views[rows])

  def eval_batches(self, split: str, *, batch_size: int,
                   ten_crop: bool = False, on_device: bool = False
                   ) -> Iterator[pipeline.Batch]:
    """The test examples in order, padded (mask False) to whole batches;
    `ten_crop` gives both views, (B, 2, h, w, c); as `train_batches` for
    `on_device`."""
    del split, on_device
    n = len(self.test.labels)
    for start in range(0, max(n, 1), batch_size):
      rows = _process_part(np.arange(start, start + batch_size))
      yield self.test.batch(rows, None if ten_crop else np.zeros_like(rows))


class _Examples(NamedTuple):
  """Examples as (cached split, row) pairs with their label: inputs of
  example i are caches[which[i]].inputs[row[i]]."""
  caches: tuple[Cached, ...]
  which: np.ndarray
  row: np.ndarray
  labels: np.ndarray

  @classmethod
  def of(cls, caches, rows, *, multi: bool) -> _Examples:
    """From (caches, (which, row)) or (cache, rows); multi-label examples
    become one example per class."""
    if isinstance(caches, Cached):
      caches, rows = (caches,), (np.zeros_like(rows), rows)
    which, row = rows
    labels = np.stack([caches[w].labels[r] for w, r in zip(which, row)]
                      ) if len(row) else np.zeros((0,), np.int32)
    if multi:
      example, label = np.nonzero(labels)
      which, row, labels = which[example], row[example], label
    return cls(tuple(caches), which, row, labels.astype(np.int32))

  def batch(self, rows: np.ndarray,
            views: np.ndarray | None) -> pipeline.Batch:
    """rows past the end are padding; views None: every view."""
    from zfjax.data import pipeline  # pylint: disable=g-import-not-at-top
    n = len(self.labels)
    valid = rows < n
    safe = np.where(valid, rows, 0)
    # Memory-mapped reads: one fancy index per cache, in row order.
    first = self.caches[0].inputs
    shape = first.shape[1:] if views is None else first.shape[2:]
    images = np.zeros((len(rows),) + shape, np.float32)
    for w, cache in enumerate(self.caches):
      pick = np.flatnonzero(valid & (self.which[safe] == w))
      if pick.size:
        data = np.asarray(cache.inputs[np.sort(self.row[safe[pick]])])
        order = np.argsort(np.argsort(self.row[safe[pick]], kind='stable'),
                           kind='stable')
        data = data[order]
        images[pick] = data if views is None else data[np.arange(pick.size),
                                                       views[pick]]
    mask = valid.reshape(valid.shape + (1,) * (self.labels.ndim - 1))
    labels = np.where(mask, self.labels[safe], 0).astype(np.int32)
    index = np.where(valid, safe, -1).astype(np.int64)
    return pipeline.Batch(images, labels, valid, index)


def _pooled_rows(pool: list[Cached],
                 positions: np.ndarray) -> tuple[tuple[Cached, ...],
                                                 tuple[np.ndarray, np.ndarray]]:
  starts = np.cumsum([0] + [len(p.labels) for p in pool])
  which = np.searchsorted(starts, positions, side='right') - 1
  return tuple(pool), (which, positions - starts[which])


def _process_part(rows: np.ndarray) -> np.ndarray:
  """This process's contiguous part of a global batch's rows."""
  count, index = jax.process_count(), jax.process_index()
  per = len(rows) // count
  return rows[index * per:(index + 1) * per]
