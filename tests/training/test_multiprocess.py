"""Several processes for real: `train.py --config.distributed=True` as two
processes on this machine (localhost coordinator, JAX's CPU collectives).

The reference is one process with two CPU devices (the same global batch and
the same per-device shapes), trained without interruption: the two-process
run, a run stopped by SIGTERM to one process and resumed, and a run that
lost a process to SIGKILL and was resumed all end with its params and
metrics. Every wait is bounded and every child is killed when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from configs import tiny
from test_resume import steps_saved
from zfjax.training import distributed, metrics
from zfjax.data import pipeline
from zfjax.training import workdirs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_SECONDS = 300  # bound on one run of the tiny config
PEER_TIMEOUT = 10  # config.peer_timeout_seconds of these runs


@pytest.fixture(scope='module')
def dirs(tmp_path_factory):
  """(data dir, compilation cache): the built-in set rendered once, and one
  cache for every run of this module (the runs compile the same programs)."""
  root = tmp_path_factory.mktemp('multiprocess')
  config = tiny.get_config()
  config.data_dir = str(root / 'tfds')
  pipeline.DataSource(config).mean_image
  return root / 'tfds', root / 'jax_cache'


def _env(cache, **extra):
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             JAX_COMPILATION_CACHE_DIR=str(cache),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  for key in ('XLA_FLAGS', distributed.ENV_ADDRESS, distributed.ENV_COUNT,
              distributed.ENV_ID):
    env.pop(key, None)
  env.update(extra)
  return env


def _command(workdir, data_dir, distributed_run=True):
  return [sys.executable, os.path.join(ROOT, 'train.py'),
          '--config', os.path.join(ROOT, 'configs', 'tiny.py'),
          '--workdir', str(workdir), f'--config.data_dir={data_dir}',
          f'--config.distributed={distributed_run}',
          f'--config.peer_timeout_seconds={PEER_TIMEOUT}']


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


class Job:
  """N processes of one run, each with its stderr in a file."""

  def __init__(self, count, workdir, data_dir, cache, logs):
    self.logs = [logs / f'process{i}.txt' for i in range(count)]
    address = f'localhost:{_free_port()}'
    self.procs = []
    for i, log in enumerate(self.logs):
      with open(log, 'w') as f:
        self.procs.append(subprocess.Popen(
            _command(workdir, data_dir), stdout=subprocess.DEVNULL,
            stderr=f, cwd=ROOT, env=_env(
                cache, **{distributed.ENV_ADDRESS: address,
                          distributed.ENV_COUNT: str(count),
                          distributed.ENV_ID: str(i)})))

  def stderr(self, i) -> str:
    with open(self.logs[i]) as f:
      return f.read()

  def tails(self) -> str:
    return '\n'.join(f'--- process {i}:\n{self.stderr(i)[-2500:]}'
                     for i in range(len(self.procs)))

  def wait(self, timeout=RUN_SECONDS) -> list[int]:
    """Exit statuses; AssertionError (children killed) past `timeout`."""
    deadline = time.monotonic() + timeout
    for proc in self.procs:
      try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
      except subprocess.TimeoutExpired:
        self.kill()
        raise AssertionError(f'no exit within {timeout} s\n{self.tails()}')
    return [proc.returncode for proc in self.procs]

  def wait_for(self, predicate, timeout=RUN_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
      if any(p.poll() is not None for p in self.procs):
        raise AssertionError(f'a process ended early\n{self.tails()}')
      if time.monotonic() > deadline:
        raise AssertionError(f'timed out\n{self.tails()}')
      time.sleep(0.02)

  def kill(self) -> None:
    for proc in self.procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def job(*args):
  j = Job(*args)
  try:
    yield j
  finally:
    j.kill()


def final_params(workdir):
  model = workdirs.load_run(str(workdir))
  assert model.step == 32, model.step
  return jax.tree.map(np.asarray, model.params)


def assert_same_run(workdir, reference, *, resumed_at=None):
  """Params to float tolerance, and the same metrics lines with the same
  values; a train line averages the steps since the one before, so the
  first after a resume from inside its span is left out."""
  params, ref_params = final_params(workdir), reference['params']
  for name in ref_params:
    for field in ref_params[name]:
      np.testing.assert_allclose(params[name][field], ref_params[name][field],
                                 rtol=1e-5, atol=1e-7,
                                 err_msg=f'{name}/{field}')
  def key(m):
    return m['step'], m['split']
  every = tiny.get_config().log_every_steps
  def partial(m):
    return (resumed_at is not None and m['split'] == 'train' and
            m['step'] - every < resumed_at < m['step'])
  got = {key(m): m for m in metrics.read_metrics(str(workdir))}
  want = {key(m): m for m in reference['metrics']}
  assert sorted(got) == sorted(want)
  want = {k: m for k, m in want.items() if not partial(m)}
  for k, m in want.items():
    for field in set(m) & {'loss', 'top1_error', 'top5_error', 'learning_rate'}:
      np.testing.assert_allclose(got[k][field], m[field], rtol=1e-5,
                                 err_msg=f'{k} {field}')


@pytest.fixture(scope='module')
def reference(dirs, tmp_path_factory):
  """One process, two devices, uninterrupted: params and metrics lines."""
  data_dir, cache = dirs
  workdir = tmp_path_factory.mktemp('one_process')
  command = _command(workdir, data_dir, distributed_run=False)
  run = subprocess.run(
      command, capture_output=True, text=True, timeout=RUN_SECONDS, cwd=ROOT,
      env=_env(cache, XLA_FLAGS='--xla_force_host_platform_device_count=2'))
  assert run.returncode == 0, run.stderr[-3000:]
  assert '2 devices on 1 hosts' in run.stderr
  return {'params': final_params(workdir),
          'metrics': metrics.read_metrics(str(workdir))}


def test_two_processes_equal_one(dirs, reference, tmp_path):
  data_dir, cache = dirs
  workdir = tmp_path / 'run'
  with job(2, workdir, data_dir, cache, tmp_path) as j:
    assert j.wait() == [0, 0], j.tails()
    assert '2 devices on 2 hosts' in j.stderr(0)
    assert_same_run(workdir, reference)
    # Only process 0 writes metrics (one line per log step, as in the
    # reference), the config and the mean image, and draws the progress
    # bar, in plain lines since its stderr is a file.
    assert (len(metrics.read_metrics(str(workdir)))
            == len(reference['metrics']))
    assert sorted(os.listdir(workdir)) == sorted(
        ['checkpoints', 'class_names.json', 'config.json', 'mean_image.npy',
         'metrics.jsonl',
         'tensorboard'])
    assert 'epoch 2/2: 100%' in j.stderr(0) and '\r' not in j.stderr(0)
    assert 'epoch 1/2' not in j.stderr(1)


def test_sigterm_to_one_process_saves_everywhere_then_resumes(
    dirs, reference, tmp_path):
  data_dir, cache = dirs
  workdir = tmp_path / 'run'
  with job(2, workdir, data_dir, cache, tmp_path) as j:
    j.wait_for(lambda: 5 in steps_saved(workdir))
    j.procs[1].send_signal(signal.SIGTERM)
    statuses = j.wait()
    assert statuses == [128 + signal.SIGTERM] * 2, j.tails()
    stopped = {int(j.stderr(i).split('stopped by SIGTERM at step ')[1]
                   .split(';')[0]) for i in range(2)}
    assert len(stopped) == 1, j.tails()  # the same step on both
    step = stopped.pop()
    assert 5 <= step < 32 and max(steps_saved(workdir)) == step
  with job(2, workdir, data_dir, cache, tmp_path) as j:
    assert j.wait() == [0, 0], j.tails()
    assert f'resumed from step {step} ' in j.stderr(0)
    assert_same_run(workdir, reference, resumed_at=step)


def test_sigkill_of_one_process_gives_a_bounded_error_then_resumes(
    dirs, reference, tmp_path):
  data_dir, cache = dirs
  workdir = tmp_path / 'run'
  with job(2, workdir, data_dir, cache, tmp_path) as j:
    # Inside epoch 2, with the periodic checkpoint of step 20 complete.
    j.wait_for(lambda: 20 in steps_saved(workdir))
    j.procs[1].kill()
    killed_at = time.monotonic()
    statuses = j.wait(timeout=PEER_TIMEOUT + 60)
    waited = time.monotonic() - killed_at
    assert statuses[0] == distributed.LOST_STATUS, j.tails()
    error = [l for l in j.stderr(0).splitlines() if l.startswith('error: ')]
    assert error and 'process 1 of 2' in error[-1], j.tails()
    assert waited >= PEER_TIMEOUT - 1
    newest = max(steps_saved(workdir))
  with job(2, workdir, data_dir, cache, tmp_path) as j:
    assert j.wait() == [0, 0], j.tails()
    assert f'resumed from step {newest} ' in j.stderr(0), j.tails()
    assert_same_run(workdir, reference, resumed_at=newest)
