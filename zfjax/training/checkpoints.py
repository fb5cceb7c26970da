"""Checkpoints of a training run (Orbax), and reading their params back.

A workdir (`workdir`) holds `checkpoints/<step>/`, one Orbax checkpoint per
saved step with the items `params`, `opt_state`, `schedule` (the fields of the
trainer's state) and `meta` (a `CheckpointMeta` as JSON). Orbax writes each
step to a temporary directory and renames it when complete, so a run
killed while saving leaves the previous checkpoints intact.

Kept: the newest `keep_latest` checkpoints, plus the end-of-epoch checkpoints
of the epochs in `config.keep_epochs` (the feature-evolution figure reads
them). A checkpoint that cannot be read is moved to `damaged_checkpoints/`
with a warning and the previous one is used.

Saving on preemption: `StopWatch` turns SIGTERM and SIGINT into a request that
the training loop polls after each step; it then saves the current step and
returns (on several hosts, through JAX's preemption sync point, so that every
host stops at the same step).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
from typing import Any, NamedTuple, Sequence

import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers


log = logging.getLogger(__name__)

# The items the trainer writes besides 'meta' (the fields of
# trainer.TrainState); tools name their handlers when reading.
STATE_ITEMS = ('params', 'opt_state', 'schedule')
CHECKPOINT_DIR = 'checkpoints'
DAMAGED_DIR = 'damaged_checkpoints'


class CheckpointMeta(NamedTuple):
  """What a checkpoint is: its step, the epochs completed at that step, and
  whether it was saved after that epoch's evaluation and schedule update
  (False for periodic and preemption checkpoints)."""
  step: int
  epoch: int
  epoch_end: bool


# -------------------------------------------------------------- checkpoints


def _manager(workdir: str, *, keep_latest: int = 1,
             keep_steps: Sequence[int] = (),
             read_only: bool = False) -> ocp.CheckpointManager:
  policy = checkpoint_managers.AnyPreservationPolicy([
      checkpoint_managers.LatestN(keep_latest),
      checkpoint_managers.CustomSteps(list(keep_steps)),
  ])
  options = ocp.CheckpointManagerOptions(
      preservation_policy=policy, read_only=read_only,
      save_interval_steps=0 if read_only else 1,
      # Saves are rare (epoch ends, every few thousand steps, preemption) and
      # must be complete before a preempted process exits.
      enable_async_checkpointing=False,
      cleanup_tmp_directories=not read_only, create=not read_only)
  directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
  if not read_only:
    # Handlers follow the saved and restored state, whatever its fields.
    return ocp.CheckpointManager(directory, options=options)
  # Tools restore one item (the params): naming a handler for every item the
  # trainer writes keeps Orbax from warning about the others on disk. Orbax
  # also warns, on every load, that a read-only directory is read-only.
  handlers = {name: ocp.StandardCheckpointHandler() for name in STATE_ITEMS}
  handlers['meta'] = ocp.JsonCheckpointHandler()
  absl_logger = logging.getLogger('absl')
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)
  try:
    return ocp.CheckpointManager(directory, options=options,
                                 item_handlers=handlers)
  finally:
    absl_logger.setLevel(level)


def _read_meta(manager: ocp.CheckpointManager, step: int) -> CheckpointMeta:
  meta = manager.restore(step, args=ocp.args.Composite(
      meta=ocp.args.JsonRestore()))['meta']
  return CheckpointMeta(int(meta['step']), int(meta['epoch']),
                        bool(meta['epoch_end']))


def _move_damaged(workdir: str, step: int) -> None:
  if jax.process_index() != 0:
    return
  src = os.path.join(workdir, CHECKPOINT_DIR, str(step))
  dst = os.path.join(workdir, DAMAGED_DIR, str(step))
  if os.path.exists(src):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.move(src, dst)


class Checkpoints:
  """The checkpoints of one run, for the trainer.

  State objects are NamedTuples whose fields are pytrees; each field is one
  Orbax item, so other tools can read the params alone.
  """

  def __init__(self, workdir: str, *, keep_latest: int,
               keep_steps: Sequence[int]):
    self._workdir = workdir
    self._manager = _manager(workdir, keep_latest=keep_latest,
                             keep_steps=keep_steps)

  def save(self, state: NamedTuple, meta: CheckpointMeta) -> None:
    """Saves `state` at `meta.step`, replacing a checkpoint of that step."""
    if meta.step in self._manager.all_steps():
      # A preemption checkpoint taken at an epoch boundary, now superseded by
      # the same step after the epoch's evaluation.
      self._manager.delete(meta.step)
    items = {name: ocp.args.StandardSave(value)
             for name, value in state._asdict().items()}
    items['meta'] = ocp.args.JsonSave(meta._asdict())
    self._manager.save(meta.step, args=ocp.args.Composite(**items), force=True)
    self._manager.wait_until_finished()

  def restore_latest(self, target: NamedTuple
                     ) -> tuple[NamedTuple, CheckpointMeta] | None:
    """The newest readable checkpoint restored into `target`'s structure,
    shardings and dtypes, or None when there is none. Unreadable newer ones
    are moved aside with a warning."""
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        items = {name: ocp.args.StandardRestore(value)
                 for name, value in target._asdict().items()}
        restored = self._manager.restore(
            step, args=ocp.args.Composite(**items))
        meta = _read_meta(self._manager, step)
      except Exception as e:  # pylint: disable=broad-exception-caught
        # Orbax and TensorStore raise many types for a damaged directory; any
        # of them means this step is unusable and an older one may not be.
        log.warning('checkpoint at step %d in %s is unreadable (%s: %s); '
                    'moving it to %s/ and falling back to the previous one',
                    step, self._workdir, type(e).__name__,
                    str(e).splitlines()[0] if str(e) else '', DAMAGED_DIR)
        _move_damaged(self._workdir, step)
        self._manager.reload()
        continue
      return type(target)(**{k: restored[k] for k in target._fields}), meta
    return None

  def close(self) -> None:
    self._manager.close()


# ------------------------------------------------------- reading for tools


def saved(workdir: str) -> list[CheckpointMeta]:
  """The readable checkpoints of `workdir`, oldest first (damaged ones are
  left out: they have no step or epoch to offer)."""
  manager = _manager(workdir, read_only=True)
  try:
    metas = []
    for step in manager.all_steps():
      try:
        metas.append(_read_meta(manager, step))
      except Exception:  # pylint: disable=broad-exception-caught
        continue
    return sorted(metas)
  finally:
    manager.close()


def restore_params(workdir: str, step: int) -> dict:
  """The params of the checkpoint at `step`, on this process's first device
  whatever mesh saved them (a run trained on 8 GPUs loads on a laptop)."""
  manager = _manager(workdir, read_only=True)
  try:
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    tree = manager.item_metadata(step)['params']
    abstract = jax.tree.map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
        tree)
    return manager.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(abstract)))['params']
  finally:
    manager.close()


# --------------------------------------------------------------- preemption


class StopWatch:
  """Turns SIGTERM / SIGINT into a stop request polled by the training loop.

  Use as a context manager around the loop; `requested(step)` is True once
  the current step should be saved and the run stopped. A second signal of
  the same kind stops at once (KeyboardInterrupt), for a user who does not
  want to wait. With several processes the request comes from JAX's
  preemption sync point instead (its coordination service catches SIGTERM),
  which agrees on one step across hosts; no handler is installed then.
  """

  def __init__(self):
    self._signum: int | None = None
    self._previous: dict[int, Any] = {}

  def __enter__(self) -> StopWatch:
    if (jax.process_count() == 1 and
        threading.current_thread() is threading.main_thread()):
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous.clear()

  def _handle(self, signum, frame) -> None:
    del frame
    if self._signum == signum:
      raise KeyboardInterrupt(f'second {signal.Signals(signum).name}')
    self._signum = signum
    log.warning('%s received: saving a checkpoint and stopping',
                signal.Signals(signum).name)

  @property
  def name(self) -> str | None:
    """The signal that asked to stop ('SIGTERM', 'SIGINT'), or None."""
    return None if self._signum is None else signal.Signals(self._signum).name

  def signalled(self) -> bool:
    """Whether this process was asked to stop (single process only: with
    several, only `requested` can stop all hosts at the same point)."""
    return self._signum is not None

  def requested(self, step: int) -> bool:
    """Whether to save `step` and stop; call it once after every step."""
    if jax.process_count() > 1:
      if multihost_utils.reached_preemption_sync_point(step):
        self._signum = signal.SIGTERM
        return True
      return False
    return self._signum is not None
