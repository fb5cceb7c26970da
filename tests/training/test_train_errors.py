"""User errors give one clear line (exit status 2), not a traceback: a
missing data set, a diverging run (which also keeps its last good
checkpoint). The bad command lines (a misspelt key, a missing config file,
...) are tests/commands/test_bad_inputs.py's."""

import os
import subprocess
import sys

import pytest

from test_resume import ROOT, steps_saved, tiny_config
from zfjax.training import trainer
from zfjax.errors import ZfjaxError
from zfjax.training import workdirs


def run_train(*args, cwd=ROOT):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, 'train.py'), *args],
      env=dict(os.environ, JAX_PLATFORMS='cpu'), capture_output=True,
      text=True, timeout=300, cwd=cwd)


def one_line_error(proc):
  assert proc.returncode == 2, proc.stderr[-3000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith('error: ')]
  assert len(lines) == 1, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr
  return lines[0]


def test_missing_imagenet(tmp_path):
  empty = tmp_path / 'tfds'
  empty.mkdir()
  line = one_line_error(run_train(
      '--config', 'configs/zfnet_imagenet.py', '--workdir',
      str(tmp_path / 'run'), f'--config.data_dir={empty}'))
  assert 'ImageNet' in line and 'ILSVRC2012_img_train.tar' in line


def test_unknown_model_and_indivisible_batch(tmp_path):
  with pytest.raises(ZfjaxError, match="unknown spec 'zfnet_smal'"):
    trainer.train_and_evaluate(
        tiny_config(tmp_path / 'tfds', model='zfnet_smal'),
        str(tmp_path / 'a'))
  with pytest.raises(ZfjaxError, match='num_epochs'):
    trainer.check_config(tiny_config(tmp_path / 'tfds', num_epochs=0))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  # A rate of 1e4 blows the params up in the first update (finite, so that
  # step is checkpointed) and the second batch's loss is no longer finite.
  config = tiny_config(tmp_path / 'tfds', learning_rate=1e4,
                       checkpoint_every_steps=1, log_every_steps=100)
  workdir = tmp_path / 'run'
  with pytest.raises(ZfjaxError) as info:
    trainer.train_and_evaluate(config, str(workdir))
  message = str(info.value)
  assert 'non-finite' in message and 'lower config.learning_rate' in message
  saved = steps_saved(workdir)
  assert saved, message
  assert f'last good checkpoint (step {max(saved)})' in message
  # The checkpoint left is loadable and finite.
  model = workdirs.load_run(str(workdir))
  assert model.step == max(saved)
  for layer in model.params.values():
    for value in layer.values():
      assert bool((abs(value) < float('inf')).all())


def test_ablation_variant_missing_or_unknown(tmp_path):
  line = one_line_error(run_train(
      '--config', 'configs/ablation.py:alexnet_remove35', '--workdir',
      str(tmp_path)))
  assert "got 'alexnet_remove35'" in line and 'alexnet_remove34' in line
