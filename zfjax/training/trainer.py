"""The trainer: SGD with momentum, data-parallel over every device.

`train_and_evaluate(config, workdir)` runs (or resumes) one training run:

  * the step (`steps`) is a per-device SPMD program over the mesh axis
    'data' (the global batch split over all devices of all hosts, params
    replicated), mapped with `jax.shard_map` under `jax.jit`; the gradients
    are averaged over devices with `lax.pmean`;
  * the data, the layers that train and any source run's params come from
    one `transfer.plan` (the input pipeline, or a transfer run's cached
    inputs);
  * after each epoch the centre-crop validation error drives the plateau
    schedule (`schedule`), and a checkpoint is saved; at the end the
    validation split is also evaluated with 10 crops;
  * checkpoints are also saved every `config.checkpoint_every_steps` steps
    and on SIGTERM / SIGINT, so a killed run loses at most that many steps
    and rerunning the same command continues bit for bit: the data order
    depends only on (seed, epoch) and the dropout masks on (seed, step,
    position in the global batch), not on the number of devices;
  * a non-finite loss stops the run with a `ZfjaxError` before anything is
    saved, so the last checkpoint on disk is a good one.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import time
from typing import TYPE_CHECKING, Callable, Iterable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh

from zfjax import progress
from zfjax.data import prefetch
from zfjax.errors import ZfjaxError
from zfjax.networks import models
from zfjax.networks.specs import Spec, get_spec
from zfjax.training import checkpoints
from zfjax.training import distributed
from zfjax.training import metrics
from zfjax.training import schedule
from zfjax.training import steps
from zfjax.training import transfer
from zfjax.training import workdirs

if TYPE_CHECKING:
  from zfjax.data import pipeline

log = logging.getLogger(__name__)


class TrainState(NamedTuple):
  """Everything a resumed run needs besides the step: replicated params and
  optimizer state on the mesh, and the host-side schedule."""
  params: models.Params
  opt_state: optax.OptState
  schedule: schedule.PlateauState


class TrainResult(NamedTuple):
  """How a call of `train_and_evaluate` ended.

  validation: centre-crop rates after the last completed epoch (None if no
  epoch completed); validation_ten_crop: the final 10-crop rates (None unless
  the run finished); stopped_by: the signal name when the run was stopped
  early (its checkpoint saved), else None.
  """
  step: int
  epoch: int
  validation: metrics.Rates | None
  validation_ten_crop: metrics.Rates | None
  stopped_by: str | None


def evaluate(predict: Callable, params: models.Params,
             batches: Iterable[pipeline.Batch], mesh: Mesh, *,
             total: int | None = None, desc: str = 'eval',
             should_stop: Callable[[], bool] = lambda: False
             ) -> metrics.Rates | None:
  """Rates of `params` over `batches`; None if `should_stop` said so."""
  counts = metrics.Counts.zeros()
  batches = prefetch.prefetch(batches, functools.partial(steps.to_global, mesh))
  for images, labels, mask in progress.bar(
      batches, total=total, desc=desc, unit='batch', leave=False,
      disable=jax.process_index() != 0):
    if should_stop():
      batches.close()
      return None
    counts = counts.plus(steps.eval_counts(predict(params, images), labels, mask))
  return counts.rates()


# ------------------------------------------------------------ the run


class _Running(NamedTuple):
  """Train counts since the last log line, and the first step whose loss
  was not finite (-1 while all were)."""
  counts: metrics.Counts
  first_bad_step: jax.Array


@jax.jit
def _accumulate(running: _Running, counts: metrics.Counts,
                step: jax.Array) -> _Running:
  bad = (running.first_bad_step < 0) & ~jnp.isfinite(counts.loss)
  return _Running(running.counts.plus(counts),
                  jnp.where(bad, step, running.first_bad_step))


@jax.jit
def _all_finite(params: models.Params) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x))
                            for x in jax.tree.leaves(params)]))


def _fresh_running() -> _Running:
  return _Running(metrics.Counts.zeros(), np.int32(-1))


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ZfjaxError for settings the trainer cannot run with; called
  before anything is written or the data set is prepared."""
  get_spec(config.model)  # an unknown name, with the known ones
  # The data set's name and sizes; imported here, as it brings TensorFlow
  # (which the step and the analyses do without).
  from zfjax.data import builders  # pylint: disable=g-import-not-at-top
  builders.check_config(config)
  devices = jax.device_count()
  for key in ('batch_size', 'eval_batch_size'):
    if config[key] < 1 or config[key] % devices:
      raise ZfjaxError(f'config.{key}={config[key]} must be a positive '
                       f'multiple of the {devices} devices')
  steps.compute_dtype(config)
  for key in ('num_epochs', 'log_every_steps', 'checkpoint_every_steps',
              'plateau_patience', 'keep_latest'):
    if config[key] < 1:
      raise ZfjaxError(f'config.{key}={config[key]} must be at least 1')
  bad = [e for e in tuple(config.rate_cuts)
         if not isinstance(e, int) or not 1 <= e < config.num_epochs]
  if bad:
    raise ZfjaxError(f'config.rate_cuts={tuple(config.rate_cuts)}: each must '
                     f'be an epoch from 1 to {config.num_epochs - 1} (the '
                     f'rate is divided after it)')
  if config.learning_rate <= 0:
    raise ZfjaxError(f'config.learning_rate={config.learning_rate} must be '
                     f'positive')
  if config.clip_radius is not None and config.clip_radius <= 0:
    raise ZfjaxError(f'config.clip_radius={config.clip_radius} must be '
                     f'positive, or None to turn clipping off')


def model_spec(config: ml_collections.ConfigDict,
               info: pipeline.DatasetInfo) -> Spec:
  """The config's architecture with the data set's number of classes."""
  num_classes = config.num_classes or info.num_classes
  if num_classes != info.num_classes:
    raise ZfjaxError(f'config.num_classes={config.num_classes} but data set '
                     f'{info.name} has {info.num_classes} classes; leave it '
                     f'unset')
  return get_spec(config.model, num_classes)


def initial_state(config: ml_collections.ConfigDict, spec: Spec,
                  mesh: Mesh, plan: transfer.Plan | None = None
                  ) -> TrainState:
  """Fresh params from `config.seed` (with a transfer run's source layers
  copied in, from its `plan`), zero momentum, the first rate."""
  params = workdirs.initial_params(config, spec)
  frozen = frozenset()
  if plan is not None:
    params, frozen = plan.initial_params(params), plan.frozen
  params = steps.replicate(jax.tree.map(np.asarray, params), mesh)
  opt_state = steps.make_optimizer(config, config.learning_rate,
                                   frozen).init(params)
  return TrainState(params, opt_state, schedule.init(config.learning_rate))


class _Run:
  """One call of `train_and_evaluate`: what it set up, and its steps.

  `last_saved` is the step of the newest checkpoint this run knows to be
  good (restored or saved).
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str,
               stop: checkpoints.StopWatch, plan: transfer.Plan | None):
    self.config, self.workdir, self.stop = config, workdir, stop
    # The data (the input pipeline, or a transfer run's cached inputs), the
    # layers that stay fixed and the source run's: decided once.
    self.plan = plan or transfer.plan(config, workdir)
    self.data = self.plan.data
    self.info = self.data.info
    self.spec = model_spec(config, self.info)
    self.mesh = steps.make_mesh()
    self.steps_per_epoch = self.data.steps_per_epoch()
    self.total_steps = self.steps_per_epoch * config.num_epochs
    self.is_main = jax.process_index() == 0
    # The workdir carries what the analyses (and transfer from it) need of
    # the data set, so that they work where that data set is not.
    workdirs.save_mean_image(workdir, self.data.mean_image)
    workdirs.save_class_names(workdir, self.info.class_names)
    # The pipeline sends uint8 pixels and draws that the steps finish with
    # these statistics; a transfer run's cached inputs need none.
    stats = self.data.statistics()
    step_spec = self.plan.step_spec(self.spec)
    self.train_step = steps.make_train_step(config, step_spec, self.mesh, stats,
                                      self.plan.frozen)
    self.predict = steps.make_predict(step_spec, self.mesh, stats,
                                config.crop_size, steps.compute_dtype(config))
    self.ckpts = checkpoints.Checkpoints(
        workdir, keep_latest=config.keep_latest,
        keep_steps=[e * self.steps_per_epoch for e in config.keep_epochs])
    # Opened by `restore`, once it knows the step the run continues from.
    self.writer: metrics.MetricWriter | None = None
    self.last_saved: int | None = None

  def close(self) -> None:
    if self.writer is not None:
      self.writer.close()
    self.ckpts.close()

  def _open_metrics(self, step: int) -> None:
    """The metric files, less what a killed run logged past `step`."""
    if self.is_main:
      metrics.drop_after(self.workdir, step)
    self.writer = metrics.MetricWriter(self.workdir, enabled=self.is_main)

  # ------------------------------------------------------------ state

  def restore(self) -> tuple[TrainState, int, bool]:
    """(state, step, whether the epoch ending at `step` was evaluated)."""
    state = initial_state(self.config, self.spec, self.mesh, self.plan)
    restored = self.ckpts.restore_latest(state)
    if restored is None:
      self._open_metrics(0)
      return state, 0, True
    state, meta = restored
    if meta.epoch != meta.step // self.steps_per_epoch:
      raise ZfjaxError(
          f'the checkpoints in {self.workdir} were written with another '
          f'number of steps per epoch (data set or batch size changed); '
          f'train this config in a new workdir')
    self._open_metrics(meta.step)
    self.last_saved = meta.step
    log.info('resumed from step %d (epoch %d) in %s', meta.step, meta.epoch,
             self.workdir)
    # Only a checkpoint at an epoch's end can still owe that epoch's
    # evaluation; one from inside an epoch resumes its training.
    return state, meta.step, (meta.epoch_end or
                              meta.step % self.steps_per_epoch != 0 or
                              meta.step == 0)

  def _kept(self) -> str:
    if self.last_saved is None:
      return 'no checkpoint was saved yet'
    return f'its last good checkpoint (step {self.last_saved}) is kept'

  def check_finite(self, running: _Running, step: int) -> None:
    """Raises if a loss since the last check was not finite; `step` is the
    number of steps done."""
    bad = int(running.first_bad_step)
    if bad >= 0:
      raise ZfjaxError(
          f'the training loss became non-finite at step {bad + 1} (epoch '
          f'{bad // self.steps_per_epoch + 1}); the run stopped at step '
          f'{step} and {self._kept()} in {self.workdir}; lower '
          f'config.learning_rate (or set config.clip_radius) and train in a '
          f'new workdir')

  def save(self, state: TrainState, step: int, epoch_end: bool) -> None:
    """Saves `state` after `step` steps, unless its params are not finite
    (then raises, so the previous checkpoint stays the newest)."""
    if not bool(_all_finite(state.params)):
      raise ZfjaxError(
          f'the parameters became non-finite by step {step} (epoch '
          f'{(step - 1) // self.steps_per_epoch + 1}); the run stopped and '
          f'{self._kept()} in {self.workdir}; lower config.learning_rate (or '
          f'set config.clip_radius) and train in a new workdir')
    self.ckpts.save(state, checkpoints.CheckpointMeta(
        step, step // self.steps_per_epoch, epoch_end))
    self.last_saved = step

  # ------------------------------------------------------------ phases

  def validate(self, params: models.Params, *,
               ten_crop: bool) -> metrics.Rates | None:
    """Rates on the validation split; None if a signal interrupted it."""
    config = self.config
    batches = self.data.eval_batches(
        config.eval_split, batch_size=config.eval_batch_size,
        ten_crop=ten_crop, on_device=True)
    total = math.ceil(self.info.split_sizes[config.eval_split] /
                      config.eval_batch_size)
    return evaluate(self.predict, params, batches, self.mesh, total=total,
                    desc='10-crop eval' if ten_crop else 'eval',
                    should_stop=self.stop.signalled)

  def end_epoch(self, state: TrainState, step: int
                ) -> tuple[TrainState, metrics.Rates | None]:
    """Evaluates the epoch that ended at `step`, updates the learning rate
    and saves; (state, None) when a signal interrupted the evaluation."""
    config, epoch = self.config, step // self.steps_per_epoch
    validation = self.validate(state.params, ten_crop=False)
    if validation is None:
      self.save(state, step, epoch_end=False)
      return state, None
    cut = epoch in tuple(config.rate_cuts)
    sched = schedule.update(
        state.schedule, validation.top1_error,
        patience=config.plateau_patience, factor=config.plateau_factor,
        min_delta=config.plateau_min_delta, cut=cut)
    if sched.num_decays > state.schedule.num_decays:
      why = (f'epoch {epoch} is in config.rate_cuts' if cut else
             f'validation error has not improved for '
             f'{config.plateau_patience} epochs')
      log.info('%s: learning rate %g -> %g', why,
               state.schedule.learning_rate, sched.learning_rate)
    state = state._replace(schedule=sched)
    self.save(state, step, epoch_end=True)
    self.writer.write(step, 'validation', {
        'epoch': epoch, 'loss': validation.loss,
        'top1_error': validation.top1_error,
        'top5_error': validation.top5_error,
        'learning_rate': float(sched.learning_rate)})
    log.info('epoch %d: validation top-1 error %.4f, top-5 error %.4f, loss '
             '%.4f; learning rate now %g', epoch, validation.top1_error,
             validation.top5_error, validation.loss, sched.learning_rate)
    return state, validation

  def train_epoch(self, state: TrainState,
                  step: int) -> tuple[TrainState, int, bool]:
    """Trains from `step` to the end of its epoch, logging and saving on
    the way; (state, step, stopped) where stopped means a signal asked to
    stop and the state at `step` was saved."""
    config, per_epoch = self.config, self.steps_per_epoch
    epoch, skip = divmod(step, per_epoch)
    learning_rate = np.float32(state.schedule.learning_rate)
    batches = self.data.train_batches(epoch=epoch, seed=config.seed,
                                      skip_batches=skip, on_device=True)
    bar = progress.bar(total=per_epoch, initial=skip, unit='step',
                       desc=f'epoch {epoch + 1}/{config.num_epochs}',
                       disable=not self.is_main, dynamic_ncols=True)
    running, tick, tick_step = _fresh_running(), time.time(), step
    params, opt_state = state.params, state.opt_state
    with bar:
      for images, labels, mask in prefetch.prefetch(
          itertools.islice(batches, per_epoch - skip),
          functools.partial(steps.to_global, self.mesh)):
        params, opt_state, counts = self.train_step(
            params, opt_state, images, labels, mask, np.int32(step),
            learning_rate)
        running = _accumulate(running, counts, np.int32(step))
        step += 1
        bar.update(1)
        state = state._replace(params=params, opt_state=opt_state)
        at_epoch_end = step % per_epoch == 0
        if step % config.log_every_steps == 0 or at_epoch_end:
          self.check_finite(running, step)
          now = time.time()
          rates = running.counts.rates()
          speed = (step - tick_step) * config.batch_size / (now - tick)
          self.writer.write(step, 'train', {
              'epoch': step / per_epoch, 'loss': rates.loss,
              'top1_error': rates.top1_error, 'top5_error': rates.top5_error,
              'learning_rate': float(learning_rate),
              'images_per_second': speed})
          bar.set_postfix(loss=f'{rates.loss:.3f}',
                          top1_err=f'{rates.top1_error:.3f}',
                          img_s=f'{speed:.0f}')
          running, tick, tick_step = _fresh_running(), now, step
        if self.stop.requested(step):
          self.check_finite(running, step)
          self.save(state, step, epoch_end=False)
          log.warning('stopped by %s at step %d; checkpoint saved in %s; '
                      'rerun the same command to resume', self.stop.name,
                      step, self.workdir)
          return state, step, True
        if step % config.checkpoint_every_steps == 0 and not at_epoch_end:
          self.check_finite(running, step)
          self.save(state, step, epoch_end=False)
    if step % per_epoch:
      raise ZfjaxError(f'the data pipeline ended epoch {epoch + 1} after '
                       f'{step - epoch * per_epoch} of {per_epoch} batches; '
                       f'its data set is smaller than dataset_info says')
    return state, step, False

  def final_eval(self, state: TrainState, step: int) -> metrics.Rates | None:
    """The 10-crop validation of the finished run (ZF Table 2's protocol)."""
    rates = self.validate(state.params, ten_crop=True)
    if rates is not None:
      self.writer.write(step, 'validation_10crop', {
          'epoch': self.config.num_epochs, 'loss': rates.loss,
          'top1_error': rates.top1_error, 'top5_error': rates.top5_error})
      log.info('final 10-crop validation: top-1 error %.4f, top-5 error '
               '%.4f', rates.top1_error, rates.top5_error)
    return rates


# Bounds on waiting for the other processes while they are alive: for
# process 0 to prepare the data (rendering the built-in set, the mean image
# of a large training split), and for the last of them to finish.
_PREPARE_SECONDS = 6 * 3600
_FINISH_SECONDS = 600


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       plan: transfer.Plan | None = None) -> TrainResult:
  """Trains `config` in `workdir`, resuming from its newest checkpoint.

  `plan`: what the run reads and trains (`transfer.plan(config, workdir)`,
  made here when not given; a caller that also scores the run's test
  examples passes its own, so their cached inputs are read once).

  With `config.distributed` every process of the run calls it (see
  `distributed`); a process that goes silent for
  `config.peer_timeout_seconds` ends the others with an error naming it.
  """
  if config.distributed:
    # Before any other JAX call: it discovers the run's processes.
    distributed.initialize(config.peer_timeout_seconds)
  check_config(config)
  workdirs.check_writable(workdir)
  workdirs.save_config(config, workdir)
  with distributed.PeerWatch(config.peer_timeout_seconds, workdir):
    if jax.process_count() > 1:
      # The first use renders the built-in data set and caches the mean
      # image; one process does it, the others then read the result.
      if jax.process_index() == 0:
        from zfjax.data import pipeline  # pylint: disable=g-import-not-at-top
        pipeline.DataSource(config).mean_image  # pylint: disable=expression-not-assigned
      distributed.barrier('data', _PREPARE_SECONDS)
    result = _train_and_evaluate(config, workdir, plan)
    # A process that left early would look lost to the others.
    distributed.barrier('finished', _FINISH_SECONDS)
  return result


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                        plan: transfer.Plan | None) -> TrainResult:
  with checkpoints.StopWatch() as stop:
    run = _Run(config, workdir, stop, plan)
    try:
      log.info('%s on %s: %d classes, %d steps per epoch of %d images, %d '
               'devices on %d hosts', run.spec.name, run.info.name,
               run.spec.num_classes, run.steps_per_epoch, config.batch_size,
               jax.device_count(), jax.process_count())
      state, step, evaluated = run.restore()
      validation = None
      while True:
        epoch = step // run.steps_per_epoch
        if not evaluated:
          state, validation = run.end_epoch(state, step)
          if validation is None or stop.signalled():
            return TrainResult(step, epoch, validation, None, stop.name)
        if step >= run.total_steps:
          break
        state, step, stopped = run.train_epoch(state, step)
        if stopped:
          return TrainResult(step, epoch, validation, None, stop.name)
        evaluated = False
      ten_crop = None
      if config.ten_crop_eval:
        ten_crop = run.final_eval(state, step)
        if ten_crop is None:
          return TrainResult(step, config.num_epochs, validation, None,
                             stop.name)
      return TrainResult(step, config.num_epochs, validation, ten_crop, None)
    finally:
      run.close()
