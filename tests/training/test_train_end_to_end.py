"""End to end on the built-in data: two tiny runs train, lower their loss,
write metrics, TensorBoard events and checkpoints; their ensemble is
evaluated from Python and from the command line."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from test_resume import ROOT, tiny_config
from zfjax.training import checkpoints, ensemble, metrics
from zfjax.data import pipeline
from zfjax.networks import models
from zfjax.training import trainer
from zfjax.training import workdirs
from zfjax.errors import ZfjaxError


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('e2e')
  run_dirs, results = [], []
  for seed in (0, 1):
    workdir = str(root / f'seed{seed}')
    results.append(trainer.train_and_evaluate(
        tiny_config(root / 'tfds', seed=seed), workdir))
    run_dirs.append(workdir)
  return run_dirs, results, root / 'tfds'


def test_runs_lower_their_loss_and_write_metrics(runs):
  run_dirs, results, _ = runs
  for workdir, result in zip(run_dirs, results):
    assert result.stopped_by is None and result.step == 32
    records = metrics.read_metrics(workdir)
    train = [r for r in records if r['split'] == 'train']
    assert [r['step'] for r in train] == list(range(4, 33, 4))
    # N(0, 0.06^2) weights start far above chance (ln 12 = 2.48).
    assert train[0]['loss'] > 5.0
    assert np.mean([r['loss'] for r in train[-4:]]) < 3.0
    for r in train:
      assert 0 <= r['top5_error'] <= r['top1_error'] <= 1
      assert r['learning_rate'] == pytest.approx(0.003)
      assert r['images_per_second'] > 0
    val = [r for r in records if r['split'] == 'validation']
    assert [r['epoch'] for r in val] == [1, 2]
    ten = [r for r in records if r['split'] == 'validation_10crop']
    assert len(ten) == 1
    assert ten[0]['top1_error'] == pytest.approx(
        result.validation_ten_crop.top1_error)
    # Validation errors are counts over the 64 validation images.
    for r in val + ten:
      assert (r['top1_error'] * 64) == pytest.approx(
          round(r['top1_error'] * 64), abs=1e-4)

    events = glob.glob(os.path.join(workdir, metrics.TENSORBOARD_DIR,
                                    'events.out.tfevents.*'))
    assert len(events) == 1
    tags = {(v.tag, e.step)
            for e in tf.compat.v1.train.summary_iterator(events[0])
            for v in e.summary.value}
    assert ('train/loss', 4) in tags and ('validation/top1_error', 32) in tags
    assert ('validation_10crop/top5_error', 32) in tags


def test_checkpoints_kept_and_loadable(runs):
  run_dirs, _, _ = runs
  workdir = run_dirs[0]
  # 16 steps per epoch, periodic saves every 5 steps, keep_latest=2 and
  # keep_epochs=(1,): the end of epoch 1 (16) and the two newest (30, 32).
  steps = sorted(int(d) for d in os.listdir(
      os.path.join(workdir, checkpoints.CHECKPOINT_DIR)) if d.isdigit())
  assert steps == [16, 30, 32]
  assert workdirs.saved_epochs(workdir) == [1, 2]
  config = workdirs.load_config(workdir)
  assert config.model == 'zfnet_small' and config.seed == 0
  first = workdirs.load_run(workdir, epoch=1)
  last = workdirs.load_run(workdir)
  assert (first.epoch, first.step, last.epoch, last.step) == (1, 16, 2, 32)
  assert last.spec.name == 'zfnet_small' and last.spec.num_classes == 12
  assert last.params['conv1']['kernel'].shape == (7, 7, 3, 32)
  assert not np.allclose(first.params['fc8']['kernel'],
                         last.params['fc8']['kernel'])
  with pytest.raises(ZfjaxError, match='no end-of-epoch'):
    workdirs.load_run(workdir, epoch=5)


def test_ensemble(runs):
  run_dirs, results, _ = runs
  result = ensemble.evaluate_ensemble(run_dirs, ten_crop=True)
  assert result.ensemble.count == 64
  # Each member alone reproduces the trainer's own final 10-crop numbers.
  for member, run in zip(result.members, results):
    assert member.top1_error == pytest.approx(
        run.validation_ten_crop.top1_error)
    assert member.top5_error == pytest.approx(
        run.validation_ten_crop.top5_error)
  # The centre-crop ensemble against numpy: mean softmax, then argmax.
  centre = ensemble.evaluate_ensemble(run_dirs, ten_crop=False)
  models_ = [workdirs.load_run(w) for w in run_dirs]
  config = models_[0].config
  probs, labels = [], []
  for batch in pipeline.DataSource(config).eval_batches('validation',
                                           batch_size=32):
    logits = [np.asarray(models.apply(m.params, batch.images, m.spec),
                         np.float64) for m in models_]
    p = [np.exp(l - l.max(1, keepdims=True)) for l in logits]
    probs.append(np.mean([q / q.sum(1, keepdims=True) for q in p], 0)[
        batch.mask])
    labels.append(batch.labels[batch.mask])
  probs, labels = np.concatenate(probs), np.concatenate(labels)
  assert len(labels) == 64
  assert centre.ensemble.top1_error == pytest.approx(
      np.mean(probs.argmax(1) != labels))
  # An ensemble of one model twice is that model.
  twice = ensemble.evaluate_ensemble([run_dirs[0]] * 2, ten_crop=False)
  assert twice.ensemble.top1_error == pytest.approx(
      results[0].validation.top1_error)
  assert twice.ensemble.loss == pytest.approx(results[0].validation.loss,
                                              rel=1e-5)


def test_ensemble_command_line(runs):
  run_dirs, _, _ = runs
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'train.py'),
       f'--ensemble={",".join(run_dirs)}', '--ten_crop=false'],
      env=dict(os.environ, JAX_PLATFORMS='cpu'), capture_output=True,
      text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'ensemble of 2' in proc.stdout
  assert 'centre crop, 64 images' in proc.stdout
