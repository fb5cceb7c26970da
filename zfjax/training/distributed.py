"""Several processes (hosts) in one run: start-up, and a lost process.

`initialize(timeout)` joins the run's processes through `jax.distributed`:
the coordinator address, the number of processes and this process's id come
from the environment (`JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`,
`JAX_PROCESS_ID`), or, where those are unset, from JAX's detection of the
cluster (a TPU VM pod slice, SLURM, Open MPI, Kubernetes). On CPU the
processes' collectives go through JAX's CPU collectives (gloo).

`PeerWatch` bounds the wait for a process that died: every process counts up
its own key in the coordination service's key-value store every
`timeout / 10` s and reads the others'. A process whose count has not moved
for `timeout` s (SIGKILL, a crash, a lost host), or a coordinator that no
longer answers, makes every other process print one line naming it and exit
with status `LOST_STATUS`, whatever its main thread is blocked in (a
collective, a checkpoint barrier). JAX's own heartbeat would abort the
processes later with a C++ stack trace; ours comes first.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import jax

# What a process exits with when another process of the run was lost: the
# status of every zfjax error (the run's checkpoints are intact; rerunning
# the same commands resumes).
LOST_STATUS = 2
ENV_ADDRESS = 'JAX_COORDINATOR_ADDRESS'
ENV_COUNT = 'JAX_NUM_PROCESSES'
ENV_ID = 'JAX_PROCESS_ID'
_BEAT_PREFIX = 'zfjax/beat/'


def _env_int(name: str) -> int | None:
  value = os.environ.get(name)
  return None if value in (None, '') else int(value)


def initialize(timeout: float) -> None:
  """Joins the processes of a run; `timeout` (seconds) is the run's bound on
  waiting for a silent process (see `PeerWatch`).

  JAX's own heartbeat is set well beyond it, so that a lost process is
  reported by `PeerWatch` with its number rather than by JAX's abort.
  """
  # pylint: disable=g-import-not-at-top
  from zfjax.errors import ZfjaxError
  try:
    jax.distributed.initialize(
        coordinator_address=os.environ.get(ENV_ADDRESS) or None,
        num_processes=_env_int(ENV_COUNT), process_id=_env_int(ENV_ID),
        heartbeat_timeout_seconds=int(max(100, 3 * timeout)))
  except ValueError as e:
    # JAX found no cluster and was given no address, count or id.
    raise ZfjaxError(
        f'config.distributed=True but this process cannot tell its run\'s '
        f'processes ({e}); set {ENV_ADDRESS}=HOST:PORT (process 0\'s host), '
        f'{ENV_COUNT}=N and {ENV_ID}=I (0..N-1) in every process, or run '
        f'under a launcher JAX detects (TPU pod slice, SLURM, Open MPI)'
    ) from None


def _client():
  # pylint: disable=g-import-not-at-top,protected-access
  from jax._src import distributed as jax_distributed
  return jax_distributed.global_state.client


def barrier(name: str, timeout: float) -> None:
  """Waits until every process reached `name` (at most `timeout` s)."""
  if jax.process_count() > 1:
    _client().wait_at_barrier(f'zfjax/{name}', int(timeout * 1000))


def lost_message(process: int | None, count: int, seconds: float,
                 workdir: str) -> str:
  """The one line a surviving process prints; `process` None: the
  coordinator (process 0) did not answer."""
  what = ('the coordinator (process 0) did not answer' if process is None
          else f'process {process} of {count} sent no heartbeat')
  return (f'{what} for {seconds:.0f} s (killed, crashed or cut off; see its '
          f'log), so this process stops too. Rerun the same {count} commands '
          f'to resume from the newest checkpoint that all processes '
          f'completed in {os.path.join(workdir, "checkpoints")}')


class PeerWatch:
  """Ends this process when another process of the run goes silent.

  A context manager around the part of a run where every process is alive
  and working; nothing happens with one process. On leaving it because of an
  exception that is not a `ZfjaxError` (e.g. a collective failed because its
  peer died), it waits up to `timeout` s for the verdict before letting the
  exception through, so that the reported cause is the lost process.
  """

  def __init__(self, timeout: float, workdir: str):
    self._timeout, self._workdir = float(timeout), workdir
    self._interval = max(self._timeout / 10, 0.2)
    self._stop = threading.Event()
    self._threads: list[threading.Thread] = []
    self._last_answer = time.monotonic()
    self._seen: dict[int, tuple[str, float]] = {}

  def __enter__(self) -> PeerWatch:
    if jax.process_count() == 1:
      return self
    now = time.monotonic()
    self._last_answer = now
    self._seen = {p: ('', now) for p in range(jax.process_count())
                  if p != jax.process_index()}
    for target in (self._beat, self._judge):
      thread = threading.Thread(target=target, daemon=True,
                                name=f'zfjax-{target.__name__[1:]}')
      thread.start()
      self._threads.append(thread)
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    # pylint: disable=g-import-not-at-top
    from zfjax.errors import ZfjaxError
    if (self._threads and exc_type is not None and
        not issubclass(exc_type, (ZfjaxError, KeyboardInterrupt))):
      # A lost peer ends this process from the judge thread within this
      # time; otherwise the exception is the cause.
      self._stop.wait(self._timeout + 3 * self._interval)
    self._stop.set()
    for thread in self._threads:
      thread.join(timeout=2 * self._interval + 1)
    self._threads.clear()

  def _beat(self) -> None:
    client, me, count = _client(), jax.process_index(), 0
    while not self._stop.is_set():
      count += 1
      try:
        client.key_value_set(f'{_BEAT_PREFIX}{me}', str(count),
                             allow_overwrite=True)
        beats = dict(client.key_value_dir_get(_BEAT_PREFIX))
      except Exception:  # pylint: disable=broad-exception-caught
        # The coordinator is gone or unreachable: the judge decides when.
        self._stop.wait(self._interval)
        continue
      now = time.monotonic()
      self._last_answer = now
      for key, value in beats.items():
        process = int(key.rsplit('/', 1)[-1])
        if process in self._seen and self._seen[process][0] != value:
          self._seen[process] = (value, now)
      self._stop.wait(self._interval)

  def _judge(self) -> None:
    while not self._stop.wait(self._interval):
      now = time.monotonic()
      silent = {p: now - t for p, (_, t) in self._seen.items()
                if now - t > self._timeout}
      if now - self._last_answer > self._timeout:
        silent = {None: now - self._last_answer}
      if silent and not self._stop.is_set():
        lost = min(silent, key=lambda p: -1 if p is None else p)
        message = lost_message(lost, jax.process_count(), silent[lost],
                               self._workdir)
        print(f'error: {message}', file=sys.stderr, flush=True)
        sys.stdout.flush()
        # The main thread may be blocked in a collective or a barrier that
        # never returns, and JAX's exit handler would wait for the lost
        # process again: leave now.
        os._exit(LOST_STATUS)  # pylint: disable=protected-access
