"""Killed runs resume bit for bit: SIGKILL mid-epoch, SIGTERM, a damaged
newest checkpoint. The reference is the same config trained without
interruption."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from tensorflow.core.util import event_pb2

from configs import tiny
from zfjax.data.tf_setup import tf
from zfjax.training import checkpoints, metrics, trainer
from zfjax.training import workdirs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_config(data_dir, **overrides):
  config = tiny.get_config()
  config.data_dir = str(data_dir)
  config.update(overrides)
  return config


def train_command(workdir, data_dir, *overrides):
  return [sys.executable, os.path.join(ROOT, 'train.py'),
          '--config', os.path.join(ROOT, 'configs', 'tiny.py'),
          '--workdir', str(workdir), f'--config.data_dir={data_dir}',
          *overrides]


def subprocess_env(cache_dir):
  # One compilation cache for every run of a test module: the runs compile
  # the same programs.
  return dict(os.environ, JAX_PLATFORMS='cpu',
              JAX_COMPILATION_CACHE_DIR=str(cache_dir),
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')


def start_training(workdir, data_dir, cache, log_path):
  """train.py in a subprocess, its stderr to `log_path` (a pipe could fill
  up and stall it)."""
  with open(log_path, 'w') as log:
    return subprocess.Popen(train_command(workdir, data_dir),
                            env=subprocess_env(cache), stderr=log,
                            stdout=subprocess.DEVNULL)


def wait_for(predicate, proc, log_path, timeout=300):
  start = time.time()
  while not predicate():
    if proc.poll() is not None:
      raise AssertionError('the run ended early:\n' +
                           open(log_path).read()[-3000:])
    if time.time() - start > timeout:
      proc.kill()
      raise AssertionError('timed out')
    time.sleep(0.02)


def steps_saved(workdir):
  path = os.path.join(workdir, checkpoints.CHECKPOINT_DIR)
  if not os.path.isdir(path):
    return []
  # Orbax renames a step's directory to its number only when it is complete.
  return sorted(int(d) for d in os.listdir(path) if d.isdigit())


def final_params(workdir):
  model = workdirs.load_run(workdir)
  return model, jax.tree.map(np.asarray, model.params)


def assert_same_params(a, b):
  for name in a:
    for field in a[name]:
      np.testing.assert_array_equal(a[name][field], b[name][field],
                                    err_msg=f'{name}/{field}')


@pytest.fixture(scope='module')
def dirs(tmp_path_factory):
  root = tmp_path_factory.mktemp('resume')
  return root / 'tfds', root / 'jax_cache'


@pytest.fixture(scope='module')
def reference_run(dirs, tmp_path_factory):
  """The workdir of the tiny config trained without interruption."""
  data_dir, _ = dirs
  workdir = tmp_path_factory.mktemp('reference')
  result = trainer.train_and_evaluate(tiny_config(data_dir), str(workdir))
  assert result.stopped_by is None and result.step == 32
  return str(workdir)


@pytest.fixture(scope='module')
def reference(reference_run):
  """Params of the tiny config trained without interruption."""
  return final_params(reference_run)[1]


def logged(workdir):
  """(split, step) of every metrics.jsonl row and (tag, step) of every
  TensorBoard scalar, in the order written."""
  rows = [(r['split'], r['step']) for r in metrics.read_metrics(workdir)]
  events = []
  folder = os.path.join(workdir, metrics.TENSORBOARD_DIR)
  for name in sorted(os.listdir(folder)):
    for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
      event = event_pb2.Event.FromString(record.numpy())
      events += [(v.tag, event.step) for v in event.summary.value]
  return rows, events


def test_sigkill_mid_epoch_then_rerun_equals_uninterrupted(
    dirs, reference, reference_run, tmp_path):
  data_dir, cache = dirs
  workdir, log = tmp_path / 'run', tmp_path / 'stderr.txt'
  proc = start_training(workdir, data_dir, cache, log)
  # Epoch 2 is steps 17..32 and periodic checkpoints come every 5 steps:
  # once step 20 is saved the run is inside epoch 2.
  # Killed once a step past the checkpoint is logged: the rerun logs it
  # again.
  def logged_past_checkpoint():
    saved = steps_saved(workdir)
    try:
      steps = [r['step'] for r in metrics.read_metrics(str(workdir))]
    except ValueError:  # a line being written
      return False
    return 20 in saved and max(steps) > max(saved)

  wait_for(logged_past_checkpoint, proc, log)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  newest = max(steps_saved(workdir))
  assert 16 < newest < 32, steps_saved(workdir)

  rerun = subprocess.run(train_command(workdir, data_dir),
                         env=subprocess_env(cache), capture_output=True,
                         text=True, timeout=600)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert f'resumed from step {newest} ' in rerun.stderr, rerun.stderr[-5000:]
  model, params = final_params(str(workdir))
  assert model.step == 32 and model.epoch == 2
  assert_same_params(params, reference)
  # The metric files read as one run: the rows and TensorBoard scalars of
  # the uninterrupted one, each step once.
  rows, events = logged(str(workdir))
  want_rows, want_events = logged(reference_run)
  assert rows == want_rows
  assert sorted(events) == sorted(want_events)
  assert len(set(events)) == len(events)


def test_sigterm_saves_current_step_and_damage_falls_back(
    dirs, reference, tmp_path):
  data_dir, cache = dirs
  workdir, log = tmp_path / 'run', tmp_path / 'stderr.txt'
  proc = start_training(workdir, data_dir, cache, log)
  wait_for(lambda: 5 in steps_saved(workdir), proc, log)
  proc.send_signal(signal.SIGTERM)
  proc.wait(timeout=120)
  stderr = open(log).read()
  assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
  stopped_at = int(stderr.split('stopped by SIGTERM at step ')[1].split(';')[0])
  assert stopped_at >= 5
  assert max(steps_saved(workdir)) == stopped_at
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    logged = [json.loads(line)['step'] for line in f]
  assert max(logged) <= stopped_at

  # Damage the newest checkpoint (as a disk or a careless user might): the
  # rerun warns, moves it aside and resumes from the one before.
  params_dir = os.path.join(workdir, 'checkpoints', str(stopped_at), 'params')
  for dirpath, _, files in os.walk(params_dir):
    for name in files:
      with open(os.path.join(dirpath, name), 'wb') as f:
        f.write(b'garbage')
  rerun = subprocess.run(train_command(workdir, data_dir),
                         env=subprocess_env(cache), capture_output=True,
                         text=True, timeout=600)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert f'checkpoint at step {stopped_at} ' in rerun.stderr
  assert 'unreadable' in rerun.stderr
  assert os.path.isdir(os.path.join(workdir, checkpoints.DAMAGED_DIR,
                                    str(stopped_at)))
  assert_same_params(final_params(str(workdir))[1], reference)
