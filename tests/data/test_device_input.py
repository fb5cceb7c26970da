"""uint8 batches finished on the device against the host-side (TensorFlow)
preprocessing, the prefetching iterator, bfloat16 against float32, and the
import boundary of TensorFlow."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.sharding import Mesh

from configs import tiny
from zfjax.data import crops
from zfjax.data import pipeline as ip
from zfjax.networks import models, specs
from zfjax.data import prefetch, preprocess
from zfjax.training import steps, trainer
from zfjax.errors import ZfjaxError
from zfjax.data.tf_setup import tf

R, C = 20, 16  # resized square and crop sides, small for speed


def _images_and_stats(n=12, seed=0):
  rng = np.random.default_rng(seed)
  squares = rng.integers(0, 256, (n, R, R, 3), dtype=np.uint8)
  mean = rng.uniform(60, 190, (R, R, 3)).astype(np.float32)
  a = rng.normal(size=(3, 3))
  values, vectors = np.linalg.eigh(a @ a.T / 20)
  pca = crops.ColorPCA(values[::-1].copy(), vectors[:, ::-1].copy())
  return squares, mean, pca


def test_train_crops_equal_host_side_with_flips_and_pca():
  squares, mean, pca = _images_and_stats()
  stats = preprocess.statistics(mean, pca.eigenvalues, pca.eigenvectors)
  host, pieces = [], []
  for i, square in enumerate(squares):
    seed = tf.constant([7, i], tf.int64)
    host.append(crops.train_crop(tf.constant(square, tf.float32),
                              tf.constant(mean), seed, C, pca).numpy())
    offset, flip, alpha = (t.numpy() for t in crops.train_draws(seed, R, C, True))
    pieces.append((square[offset[0]:offset[0] + C, offset[1]:offset[1] + C],
                  offset, flip, alpha))
  batch = preprocess.Crops(*(np.stack(f) for f in zip(*pieces)))
  # The draws cover flipped and unflipped crops at several offsets.
  assert 0 < batch.flip.sum() < len(batch.flip)
  assert len({tuple(o) for o in batch.offset}) > 3
  device = jax.jit(preprocess.finish_crops)(batch, stats)
  np.testing.assert_allclose(device, np.stack(host), rtol=0, atol=1e-4)
  # Independently: pixel - mean at the offset, mirrored, plus V (alpha*lam).
  i = int(np.argmax(batch.flip))
  top, left = batch.offset[i]
  ref = (batch.pixels[i].astype(np.float64)
         - mean[top:top + C, left:left + C])[:, ::-1]
  ref += 255 * pca.eigenvectors @ (batch.alpha[i] * pca.eigenvalues)
  np.testing.assert_allclose(device[i], ref, atol=1e-3)


def test_centre_and_ten_crops_equal_host_side():
  squares, mean, _ = _images_and_stats(4, seed=1)
  stats = preprocess.statistics(mean)
  mid = (R - C) // 2
  centre = preprocess.Crops(
      squares[:, mid:mid + C, mid:mid + C], np.full((4, 2), mid, np.int32),
      np.zeros(4, bool), np.zeros((4, 3), np.float32))
  got_centre = preprocess.finish(centre, stats, C)
  got_ten = preprocess.finish(preprocess.Squares(squares), stats, C)
  assert got_ten.shape == (4, 10, C, C, 3)
  for i, square in enumerate(squares):
    image = tf.constant(square, tf.float32)
    np.testing.assert_allclose(
        got_centre[i], crops.centre_crop(image, tf.constant(mean), C).numpy(),
        atol=1e-4)
    np.testing.assert_allclose(
        got_ten[i], crops.ten_crops(image, tf.constant(mean), C).numpy(),
        atol=1e-4)


def test_pipeline_on_device_equals_host_pipeline(shapes_config):
  """The real pipelines: same examples, same draws, same numbers."""
  config = shapes_config.copy_and_resolve_references()
  config.pca_augment = True
  stats = ip.DataSource(config).statistics()
  host = ip.DataSource(config).train_batches(epoch=1, seed=5, skip_batches=3)
  device = ip.DataSource(config).train_batches(epoch=1, seed=5, skip_batches=3,
                            on_device=True)
  for _, h, d in zip(range(2), host, device):
    assert d.images.pixels.dtype == np.uint8
    np.testing.assert_array_equal(d.labels, h.labels)
    np.testing.assert_array_equal(d.index, h.index)
    np.testing.assert_allclose(preprocess.finish(d.images, stats, 56),
                               h.images, atol=1e-3)
  for ten_crop in (False, True):
    # 480 examples in batches of 200: the last one is padded.
    host = list(ip.DataSource(config).eval_batches('validation', batch_size=200,
                                ten_crop=ten_crop))
    device = list(ip.DataSource(config).eval_batches('validation', batch_size=200,
                                  ten_crop=ten_crop, on_device=True))
    assert len(device) == len(host) == 3
    for h, d in zip(host, device):
      np.testing.assert_array_equal(d.mask, h.mask)
      np.testing.assert_array_equal(d.index, h.index)
      np.testing.assert_allclose(
          np.asarray(preprocess.finish(d.images, stats, 56))[d.mask],
          h.images[h.mask], atol=1e-3)


def test_prefetch_yields_every_batch_once_in_order_and_stops():
  put_log = []

  def put(x):
    put_log.append(x)
    return 10 * x

  out = []
  for x in prefetch.prefetch(range(7), put, size=2):
    # At most `size` batches ahead of the one being consumed.
    assert len(put_log) <= x // 10 + 3
    out.append(x)
  assert out == [10 * i for i in range(7)]
  assert put_log == list(range(7))
  assert list(prefetch.prefetch([], put)) == []

  closed = []

  def source():
    try:
      yield from range(100)
    finally:
      closed.append(True)

  it = prefetch.prefetch(source(), put, size=3)
  assert [next(it) for _ in range(4)] == [0, 10, 20, 30]
  it.close()
  assert closed == [True]
  assert len(put_log) == 7 + 7  # 4 consumed + 3 ahead, nothing more read


def test_prefetch_to_the_mesh_keeps_values_and_sharding():
  mesh = steps.make_mesh()
  rng = np.random.default_rng(0)
  batches = [ip.Batch(preprocess.Crops(
      rng.integers(0, 256, (4, 6, 6, 3), dtype=np.uint8),
      rng.integers(0, 3, (4, 2)).astype(np.int32), rng.random(4) < 0.5,
      rng.normal(size=(4, 3)).astype(np.float32)),
      np.arange(4, dtype=np.int32) + k, np.ones(4, bool), np.arange(4))
      for k in range(3)]
  got = list(prefetch.prefetch(batches, lambda b: steps.to_global(mesh,
                                                                       b)))
  assert len(got) == 3
  for (images, labels, mask), b in zip(got, batches):
    assert isinstance(images, preprocess.Crops)
    assert images.pixels.dtype == jnp.uint8
    assert images.pixels.sharding.spec == jax.sharding.PartitionSpec('data')
    for x, y in zip(jax.tree.leaves((images, labels, mask)),
                    jax.tree.leaves((b.images, b.labels, b.mask))):
      np.testing.assert_array_equal(x, y)


SMALL = specs.Spec('small_bf16', (
    specs.Conv('conv1', 8, 3, stride=2, padding=1),
    specs.MaxPool('pool1', 3, 2, (0, 1)),
    specs.LRN('norm1'),
    specs.Conv('conv2', 16, 3, padding=1),
    specs.MaxPool('pool2', 3, 2),
    specs.Dense('fc3', 32),
    specs.Dense('fc4', 5, relu=False),
), 16)


def test_bfloat16_step_agrees_with_float32_step():
  """bf16 layers: logits, loss and the update within bf16's precision of
  f32 (relative 2^-8 per rounding, a few percent after some layers);
  params, optimizer state and loss stay float32."""
  mesh = Mesh(np.asarray(jax.devices()[:1]), ('data',))
  rng = np.random.default_rng(0)
  pixels = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
  finished = preprocess.Crops(pixels, np.zeros((8, 2), np.int32),
                              rng.random(8) < 0.5, np.zeros((8, 3), np.float32))
  stats = preprocess.statistics(np.full((16, 16, 3), 120, np.float32))
  labels = rng.integers(0, 5, 8).astype(np.int32)
  params0 = models.init_params(jax.random.key(0), SMALL, weight_std=None,
                               bias_value=0.05)
  images = preprocess.finish(finished, stats, 16)

  # The convolutions and matrix products do run in bfloat16.
  jaxpr = jax.make_jaxpr(lambda p, x: models.apply(
      p, x, SMALL, dtype=jnp.bfloat16))(params0, images)
  kinds = {str(e.invars[0].aval.dtype) for e in jaxpr.eqns
           if e.primitive.name in ('conv_general_dilated', 'dot_general')}
  assert kinds == {'bfloat16'}

  logits = {d: models.apply(params0, images, SMALL, dtype=getattr(jnp, d))
            for d in ('float32', 'bfloat16')}
  assert logits['bfloat16'].dtype == jnp.float32
  scale = np.abs(logits['float32']).max()
  np.testing.assert_allclose(logits['bfloat16'], logits['float32'],
                             atol=0.03 * scale)

  results = {}
  for dtype in ('float32', 'bfloat16'):
    cfg = ml_collections.ConfigDict(dict(
        seed=0, momentum=0.9, weight_decay=5e-4, clip_radius=None,
        compute_dtype=dtype, crop_size=16))
    params = steps.replicate(jax.tree.map(np.asarray, params0), mesh)
    opt_state = steps.make_optimizer(cfg, 0.1).init(params)
    step = steps.make_train_step(cfg, SMALL, mesh, stats)
    params, opt_state, counts = step(params, opt_state, finished, labels,
                                     np.ones(8, bool), np.int32(0),
                                     np.float32(0.1))
    for leaf in jax.tree.leaves((params, opt_state)):
      assert leaf.dtype == jnp.float32
    assert counts.loss.dtype == jnp.float32
    results[dtype] = (params, float(counts.loss))
  (p32, loss32), (p16, loss16) = results['float32'], results['bfloat16']
  assert abs(loss16 - loss32) <= 0.02 * abs(loss32)
  for name in p32:
    update32 = p32[name]['kernel'] - params0[name]['kernel']
    update16 = p16[name]['kernel'] - params0[name]['kernel']
    rel = np.linalg.norm(update16 - update32) / np.linalg.norm(update32)
    assert rel < 0.05, (name, rel)


def test_model_step_and_analyses_import_without_tensorflow():
  code = '''
import sys
import jax, ml_collections, numpy as np
from jax.sharding import Mesh
from zfjax.analyses import correspondence, deconv, invariance, occlusion, topk
from zfjax.networks import models, specs
from zfjax.data import preprocess
from zfjax.training import steps, trainer
spec = specs.get_spec('zfnet_small', 4)
mesh = Mesh(np.asarray(jax.devices()[:1]), ('data',))
cfg = ml_collections.ConfigDict(dict(seed=0, momentum=0.9, weight_decay=0.,
    clip_radius=0.1, compute_dtype='float32', crop_size=56))
step = steps.make_train_step(cfg, spec, mesh,
                             preprocess.statistics(np.zeros((64, 64, 3))))
params = steps.replicate(jax.tree.map(np.asarray, models.init_params(
    jax.random.key(0), spec, 56)), mesh)
opt = steps.make_optimizer(cfg, 0.01).init(params)
crops = preprocess.Crops(np.zeros((2, 56, 56, 3), np.uint8),
                         np.zeros((2, 2), np.int32), np.zeros(2, bool),
                         np.zeros((2, 3), np.float32))
step(params, opt, crops, np.zeros(2, np.int32), np.ones(2, bool),
     np.int32(0), np.float32(0.01))
loaded = sorted(m for m in sys.modules if m == 'zfjax.data.pipeline'
                or m.split('.')[0] in ('tensorflow', 'tensorflow_datasets'))
print(loaded)
assert not loaded
'''
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=False, cwd=root,
                          env=dict(os.environ, PYTHONPATH=root))
  assert result.returncode == 0, result.stdout + result.stderr


def test_unknown_compute_dtype_is_a_one_line_error():
  config = tiny.get_config()
  config.compute_dtype = 'float16'
  with pytest.raises(ZfjaxError, match='compute_dtype.*float32, bfloat16'):
    trainer.check_config(config)
