"""Session-wide fixtures: a small built-in data set and a model trained on it.

Both are built once per test session (in pytest's temporary directory) and
shared by every test file that asks for them, so the suite pays for the
data preparation and the training only once.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from zfjax import runtime

# First, as every entry point: tests compare their subprocesses' results
# with this process's bit for bit, and XLA_FLAGS passes the same setting on
# to them.
runtime.configure()

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import ml_collections
import numpy as np
import optax
import pytest

from zfjax.data import pipeline
from zfjax.networks import models, specs

# Enough examples for clearly-better-than-chance accuracy after a minute of
# training; 40 validation images per class for per-class checks.
NUM_TRAIN = 4_800
NUM_EVAL = 480
EPOCHS = 6
BATCH = 64


class TrainedShapesModel(NamedTuple):
  """zfnet_small trained on `shapes_config`: params, spec, config, and the
  centre-crop validation accuracy and training seconds it took."""
  params: models.Params
  spec: specs.Spec
  config: ml_collections.ConfigDict
  accuracy: float
  seconds: float


@pytest.fixture(scope='session')
def shapes_config(tmp_path_factory) -> ml_collections.ConfigDict:
  """The built-in data set, 64x64 images (56x56 crops), 4800 train and 480
  validation examples, rendered once into a session temporary directory."""
  config = pipeline.default_data_config('zfjax_shapes')
  config.data_dir = str(tmp_path_factory.mktemp('tfds'))
  config.shapes.num_train = NUM_TRAIN
  config.shapes.num_eval = NUM_EVAL
  config.batch_size = BATCH
  config.shuffle_buffer = NUM_TRAIN
  # Renders the examples and caches the mean image.
  pipeline.prepare(config)
  return config


@pytest.fixture(scope='session')
def trained_shapes_model(shapes_config) -> TrainedShapesModel:
  """zfnet_small trained with Adam (He init, rate 1e-3, no dropout) for six
  epochs (about a minute on two idle cores); asserts at least 60% validation
  accuracy (chance is 1/12)."""
  config = shapes_config
  info = pipeline.DataSource(config).info
  spec = specs.get_spec('zfnet_small', info.num_classes)
  params = models.init_params(jax.random.key(0), spec, config.crop_size,
                              weight_std=None)
  optimizer = optax.adam(1e-3)
  opt_state = optimizer.init(params)

  # Without dropout: it halves the learning speed, and a minute of training
  # is far from overfitting 4800 images.
  def loss_fn(params, images, labels):
    logits = models.apply(params, images, spec)
    return optax.softmax_cross_entropy_with_integer_labels(logits,
                                                           labels).mean()

  @jax.jit
  def step(params, opt_state, images, labels):
    grads = jax.grad(loss_fn)(params, images, labels)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  start = time.time()
  for epoch in range(EPOCHS):
    for batch in pipeline.DataSource(config).train_batches(epoch=epoch, seed=0):
      params, opt_state = step(params, opt_state, batch.images, batch.labels)
  seconds = time.time() - start

  predict = jax.jit(lambda p, x: models.apply(p, x, spec).argmax(-1))
  hits = total = 0
  for batch in pipeline.DataSource(config).eval_batches('validation',
                                           batch_size=240):
    hits += int(np.sum((np.asarray(predict(params, batch.images))
                        == batch.labels) & batch.mask))
    total += int(batch.mask.sum())
  accuracy = hits / total
  assert accuracy >= 0.6, f'fixture model reached only {accuracy:.2f}'
  return TrainedShapesModel(params, spec, config, accuracy, seconds)


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory):
  """The workdir of configs/tiny.py trained for its two epochs (about half
  a minute), its data dir beside it: what a newcomer has after the README's
  first command, at a test's size. Tests must not change it."""
  # pylint: disable-next=g-import-not-at-top
  from configs import tiny
  from zfjax.training import trainer  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('tiny_run')
  config = tiny.get_config()
  config.data_dir = str(root / 'tfds')
  config.ten_crop_eval = False
  result = trainer.train_and_evaluate(config, str(root / 'workdir'))
  assert result.step == 2 * 16
  return root / 'workdir'
