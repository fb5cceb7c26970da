"""A run's workdir, and the trained run it loads into.

The trainer (and the converter) write into a workdir everything an analysis
of the run needs, so the workdir alone is enough, on a machine without the
run's data set:

  config.json       the run's config (model, resize and crop sizes, ...)
  mean_image.npy    the mean image (R, R, 3) its inputs were centred on
  class_names.json  a name per class index
  checkpoints/      Orbax checkpoints (`checkpoints`)

`load_run` (also `zfjax.load_run`) reads them once into a `TrainedRun`:

  run = zfjax.load_run('workdir/synthetic')
  images = run.inputs(['dog.jpg', 'cat.png'])   # (2, C, C, 3) model inputs
  logits = models.apply(run.params, images, run.spec)

Every file is written under a temporary name and renamed, by process 0.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from typing import NamedTuple

import jax
import ml_collections
import numpy as np

from zfjax.data import images
from zfjax.errors import ZfjaxError
from zfjax.networks import models
from zfjax.networks import specs
from zfjax.training import checkpoints

log = logging.getLogger(__name__)

CONFIG_FILE = 'config.json'
MEAN_IMAGE_FILE = 'mean_image.npy'
CLASS_NAMES_FILE = 'class_names.json'


def _write(workdir: str, name: str, write) -> None:
  """Writes `name` in `workdir` atomically, on process 0 only."""
  if jax.process_index() != 0:
    return
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, name)
  tmp = f'{path}.tmp-{os.getpid()}'
  with open(tmp, 'wb') as f:
    write(f)
  os.replace(tmp, path)


def check_writable(folder: str | os.PathLike,
                   hint: str = 'choose another --workdir') -> None:
  """Raises, with `hint` (what to do), unless `folder` is a folder this
  process can write into or one it can make."""
  path = os.path.abspath(folder)
  while not os.path.lexists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  if not os.path.isdir(path):
    raise ZfjaxError(f'{path} is a file, not a folder, so nothing can be '
                     f'written to {folder}; {hint}')
  if not os.access(path, os.W_OK | os.X_OK):
    raise ZfjaxError(f'cannot write to {path}; {hint}')


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  _write(workdir, CONFIG_FILE, lambda f: f.write(
      config.to_json(indent=2, sort_keys=True).encode()))


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run in `workdir` was trained with."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise ZfjaxError(f'{workdir} holds no zfjax training run (no '
                     f'{CONFIG_FILE}); train one with `python train.py '
                     f'--config configs/synthetic.py --workdir {workdir}`')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def save_mean_image(workdir: str, mean: np.ndarray) -> None:
  """The run's mean image (R, R, 3) float32, 0..255."""
  _write(workdir, MEAN_IMAGE_FILE,
         lambda f: np.save(f, np.asarray(mean, np.float32)))


def load_mean_image(workdir: str) -> np.ndarray | None:
  """The mean image saved by `save_mean_image`, or None (a run trained
  before the trainer saved it)."""
  path = os.path.join(workdir, MEAN_IMAGE_FILE)
  return np.load(path) if os.path.exists(path) else None


def save_class_names(workdir: str, names) -> None:
  _write(workdir, CLASS_NAMES_FILE,
         lambda f: f.write(json.dumps(list(names), indent=0).encode()))


def load_class_names(workdir: str) -> tuple[str, ...] | None:
  path = os.path.join(workdir, CLASS_NAMES_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return tuple(json.load(f))


def saved_epochs(workdir: str) -> list[int]:
  """Epochs (1-based counts of completed epochs) with an end-of-epoch
  checkpoint in `workdir`, ascending."""
  load_config(workdir)
  return sorted(m.epoch for m in checkpoints.saved(workdir) if m.epoch_end)


@dataclasses.dataclass
class TrainedRun:
  """A trained run with everything its analyses need.

  params: the network's params (on this process's first device); spec: its
  layer table; `inputs(files or uint8 pixels)` makes model inputs and
  `display(inputs)` pixels again;
  config: the run's config; epoch, step: of the checkpoint loaded;
  workdir: where it came from. `preprocessing` (resize and crop sizes, the
  mean image) and `class_names` come from the workdir's files; runs written
  before the trainer saved them read them from their data set, on first use.
  """
  params: models.Params
  spec: specs.Spec
  config: ml_collections.ConfigDict
  epoch: int
  step: int
  workdir: str

  @functools.cached_property
  def data(self):
    """The run's data set (a `pipeline.DataSource`), built on first use:
    only analyses of its own split read it."""
    from zfjax.data import pipeline  # pylint: disable=g-import-not-at-top
    return pipeline.DataSource(self.config)

  @functools.cached_property
  def preprocessing(self) -> images.Preprocessing:
    mean = load_mean_image(self.workdir)
    if mean is None:
      self._warn_old()
      mean = self.data.mean_image
    return images.Preprocessing(int(self.config.resize_size),
                                int(self.config.crop_size),
                                np.asarray(mean, np.float32))

  @functools.cached_property
  def class_names(self) -> tuple[str, ...]:
    names = load_class_names(self.workdir)
    if names is None:
      if self.config.dataset == 'imagenet2012':
        from zfjax.data import pipeline  # pylint: disable=g-import-not-at-top
        names = pipeline.imagenet_class_names()
      else:
        self._warn_old()
        names = self.data.info.class_names
    if len(names) != self.spec.num_classes:
      raise ZfjaxError(f'{self.workdir} names {len(names)} classes but its '
                       f'network has {self.spec.num_classes} outputs')
    return tuple(names)

  def inputs(self, images) -> np.ndarray:
    """Model inputs (N, C, C, 3) float32, made as the run's validation
    images were (central square resized, centre crop, mean subtracted).

    images: a path or a list of paths of JPEG or PNG files, or uint8
    pixels: (H, W, 3), (N, H, W, 3) or a list of (H, W, 3) arrays of any
    sizes. A file's alpha channel is dropped, with a warning.
    """
    if isinstance(images, (str, os.PathLike)):
      images = [images]
    if (isinstance(images, (list, tuple)) and images and
        all(isinstance(i, (str, os.PathLike)) for i in images)):
      loaded = self.preprocessing.from_files([os.fspath(i) for i in images])
      if loaded.alpha:
        log.warning('the alpha channel of %s is ignored (the model reads '
                    'RGB)', ', '.join(loaded.alpha))
      return loaded.images
    return self.preprocessing.from_pixels(images)

  def display(self, inputs) -> np.ndarray:
    """Model inputs (..., C, C, 3) back to uint8 pixels (mean added)."""
    return self.preprocessing.to_display(inputs)

  def initial_params(self) -> models.Params | None:
    """The params this run's training started from, drawn again from its
    config (`initial_params`); None where they were not its own draw: a
    transfer run (its source's layers) or a converted model (step 0)."""
    transfer = self.config.get('transfer')
    if self.step == 0 or (transfer is not None
                          and transfer.get('from_workdir')):
      return None
    return initial_params(self.config, self.spec)

  def _warn_old(self):
    log.warning('%s predates %s and %s: reading them from its data set',
                self.workdir, MEAN_IMAGE_FILE, CLASS_NAMES_FILE)


def initial_params(config: ml_collections.ConfigDict,
                   spec: specs.Spec) -> models.Params:
  """The params a run of `config` starts from, drawn from `config.seed`
  (before a transfer run copies its source's layers in): the trainer's
  draw, and the analyses' reference for what training changed."""
  return models.init_params(jax.random.key(config.seed), spec,
                            config.crop_size, weight_std=config.weight_std,
                            bias_value=config.bias_value,
                            zero_head=config.get('zero_head', False))


def load_run(workdir: str, *, epoch: int | None = None) -> TrainedRun:
  """The run in `workdir`: its newest readable checkpoint, or the end of
  `epoch` (see `saved_epochs`). No optimizer state is read."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ZfjaxError(f'workdir {workdir} is a file, not a folder; pass the '
                     f'--workdir of a run of train.py')
  if not os.path.isdir(workdir):
    raise ZfjaxError(f'workdir {workdir} does not exist; pass the --workdir '
                     f'of a run of train.py')
  config = load_config(workdir)
  metas = checkpoints.saved(workdir)
  if epoch is None:
    candidates = metas[::-1]
  else:
    candidates = [m for m in metas[::-1] if m.epoch_end and m.epoch == epoch]
  if not candidates:
    what = 'no checkpoint' if epoch is None else (
        f'no end-of-epoch checkpoint for epoch {epoch} (saved epochs: '
        f'{sorted(m.epoch for m in metas if m.epoch_end) or "none"}; list '
        f'more in config.keep_epochs before training)')
    raise ZfjaxError(f'{workdir} has {what}; train or resume it with '
                     f'`python train.py --config ... --workdir {workdir}`')
  for meta in candidates:
    try:
      params = checkpoints.restore_params(workdir, meta.step)
    except Exception as e:  # pylint: disable=broad-exception-caught
      log.warning('checkpoint at step %d in %s is unreadable (%s); trying '
                  'the previous one', meta.step, workdir, type(e).__name__)
      continue
    last = specs.get_spec(config.model).layers[-1].name
    spec = specs.get_spec(config.model, int(params[last]['bias'].shape[0]))
    return TrainedRun(params, spec, config, meta.epoch, meta.step, workdir)
  raise ZfjaxError(f'every checkpoint in {workdir} is unreadable; train it '
                   f'again')


class _Params(NamedTuple):
  """The one checkpoint item of a workdir made by `create` (the trainer's
  state has the same `params` field)."""
  params: models.Params


def create(workdir: str, params: models.Params,
           config: ml_collections.ConfigDict, mean_image: np.ndarray,
           class_names) -> None:
  """Writes a workdir for params that come from elsewhere (a converted
  model): one checkpoint (step 0, epoch 0), then the mean image, the class
  names and, last, config.json, so that an interrupted write never looks
  like a complete workdir. `workdir` must be new or empty."""
  if os.path.exists(workdir) and (not os.path.isdir(workdir)
                                  or os.listdir(workdir)):
    raise ZfjaxError(f'{workdir} exists and is not an empty directory; '
                     f'choose a new one')
  saver = checkpoints.Checkpoints(workdir, keep_latest=1, keep_steps=())
  try:
    saver.save(_Params(jax.tree.map(np.asarray, params)),
               checkpoints.CheckpointMeta(step=0, epoch=0, epoch_end=False))
  finally:
    saver.close()
  save_mean_image(workdir, mean_image)
  save_class_names(workdir, class_names)
  save_config(config, workdir)
