"""Exactly-once accounting across processes, in one process.

`jax.process_index` / `jax.process_count` are patched, so each "host" reads
its part of the real (small, prepared) built-in data set as it would in a
run of P processes. The reference is the one-process pipeline and plain
counting: P hosts' rows of each step put together are the one-process global
batch (same examples, same crops), so the P-process run trains on exactly
what the one-process run does; every validation example is counted once.
Also the log-friendly progress bar.
"""

import io

import jax
import numpy as np
import pytest

from zfjax.data import pipeline as ip
from zfjax import progress

# Sizes that divide by nothing: 61 training examples (batches of 6 and 12
# leave 1 over), 23 validation examples (parts of 8, 8, 7 on 3 hosts).
NUM_TRAIN, NUM_EVAL = 61, 23


@pytest.fixture(scope='module')
def config(tmp_path_factory):
  c = ip.default_data_config('zfjax_shapes')
  c.data_dir = str(tmp_path_factory.mktemp('tfds'))
  c.shapes.image_size, c.shapes.num_train, c.shapes.num_eval = (
      32, NUM_TRAIN, NUM_EVAL)
  c.resize_size, c.crop_size, c.shuffle_buffer = 32, 28, 64
  c.batch_size = 6  # training; a multiple of 1, 2 and 3 processes
  return c


def _as_host(monkeypatch, index, count):
  monkeypatch.setattr(jax, 'process_count', lambda: count)
  monkeypatch.setattr(jax, 'process_index', lambda: index)


@pytest.mark.parametrize('batch_size', [6, 12])
def test_train_rows_of_all_hosts_are_the_one_process_batches(
    config, monkeypatch, batch_size):
  config = config.copy_and_resolve_references()
  config.batch_size = batch_size
  one = list(ip.DataSource(config).train_batches(epoch=1, seed=4))
  steps = NUM_TRAIN // batch_size
  assert len(one) == steps
  used = np.concatenate([b.index for b in one])
  # Each example at most once, the remainder (NUM_TRAIN % batch_size) not.
  assert len(set(used)) == steps * batch_size
  assert set(used) <= set(range(NUM_TRAIN))
  for count in (2, 3):
    hosts = []
    for index in range(count):
      _as_host(monkeypatch, index, count)
      hosts.append(list(ip.DataSource(config).train_batches(epoch=1, seed=4)))
    assert [len(h) for h in hosts] == [steps] * count
    for step in range(steps):
      rows = [h[step] for h in hosts]
      assert all(r.images.shape[0] == batch_size // count for r in rows)
      np.testing.assert_array_equal(
          np.concatenate([r.index for r in rows]), one[step].index)
      np.testing.assert_array_equal(
          np.concatenate([r.images for r in rows]), one[step].images)
      np.testing.assert_array_equal(
          np.concatenate([r.labels for r in rows]), one[step].labels)


def test_train_resume_skips_the_same_global_batches(config, monkeypatch):
  config = config.copy_and_resolve_references()
  config.batch_size = 6
  _as_host(monkeypatch, 1, 3)
  whole = list(ip.DataSource(config).train_batches(epoch=0, seed=0))
  resumed = list(ip.DataSource(config).train_batches(epoch=0, seed=0, skip_batches=4))
  assert len(resumed) == len(whole) - 4
  for a, b in zip(whole[4:], resumed):
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.images, b.images)


@pytest.mark.parametrize('count', [1, 2, 3])
@pytest.mark.parametrize('per_host', [1, 2, 5, 9])
def test_eval_counts_every_example_once_across_hosts(config, monkeypatch,
                                                     count, per_host):
  batch_size = per_host * count
  hosts = []
  for index in range(count):
    _as_host(monkeypatch, index, count)
    hosts.append(list(ip.DataSource(config).eval_batches('validation',
                                      batch_size=batch_size)))
  # The hosts run the same number of global steps, each with its share.
  largest_part = -(-NUM_EVAL // count)
  assert [len(h) for h in hosts] == [-(-largest_part // per_host)] * count
  counted = []
  for host in hosts:
    for b in host:
      assert b.images.shape[0] == per_host
      counted.extend(b.index[b.mask])
      assert (b.index[~b.mask] == -1).all()
      assert (b.images[~b.mask] == 0).all()
  assert sorted(counted) == list(range(NUM_EVAL))


def test_host_rows_cover_the_batch_once():
  for count in (1, 2, 3, 4):
    rows = [ip.host_rows(12, p, count) for p in range(count)]
    covered = np.concatenate([np.arange(a, b) for a, b in rows])
    np.testing.assert_array_equal(covered, np.arange(12))


# ------------------------------------------------------------ progress


class _Terminal(io.StringIO):

  def isatty(self):
    return True


def test_progress_off_a_terminal_prints_plain_lines(monkeypatch):
  monkeypatch.setenv(progress.INTERVAL_ENV, '1000')
  log = io.StringIO()
  with progress.bar(total=50, desc='epoch 1/2', file=log) as bar:
    for i in range(50):
      bar.update(1)
      bar.set_postfix(loss=f'{i:.3f}')
  text = log.getvalue()
  assert '\r' not in text
  # One line at the start, none in between (the interval is long), one at
  # the end.
  lines = text.splitlines()
  assert len(lines) == 2, text
  assert lines[0].startswith('epoch 1/2:   0%') and '0/50' in lines[0]
  assert '50/50' in lines[1] and 'loss=49.000' in lines[1]

  monkeypatch.setenv(progress.INTERVAL_ENV, '0')
  log = io.StringIO()
  for _ in progress.bar(range(7), desc='eval', leave=False, file=log):
    pass
  lines = log.getvalue().splitlines()
  assert '\r' not in log.getvalue()
  assert [line.split('|')[-1].split()[0] for line in lines] == [
      f'{i}/7' for i in range(8)]


def test_progress_on_a_terminal_redraws():
  tty = _Terminal()
  with progress.bar(total=3, file=tty) as bar:
    bar.update(3)
  assert '\r' in tty.getvalue()
