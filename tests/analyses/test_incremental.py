"""Exact incremental occlusion against whole forward passes."""

import jax
import numpy as np
import pytest

from zfjax.analyses import incremental, occlusion
from zfjax.networks import models, specs

# ZFNet's layer kinds and order, small: strided convs with and without
# padding, pools padded after, LRN, and a stride-1 conv above them.
SPEC = specs.Spec('small', (
    specs.Conv('conv1', 6, 5, stride=2, padding=1),
    specs.MaxPool('pool1', 3, 2, (0, 1)),
    specs.LRN('norm1'),
    specs.Conv('conv2', 8, 3, stride=2),
    specs.MaxPool('pool2', 3, 2, (0, 1)),
    specs.LRN('norm2'),
    specs.Conv('conv3', 8, 3, padding=1),
    specs.Dense('fc4', 16),
    specs.Dense('fc5', 7, relu=False),
), 48)

_plain = jax.jit(models.forward_trace, static_argnums=2)


@pytest.fixture(scope='module')
def setup():
  params = models.init_params(jax.random.PRNGKey(1), SPEC, weight_std=None,
                              bias_value=0.05)
  image = np.random.default_rng(2).normal(scale=50, size=(48, 48, 3))
  return params, image.astype(np.float32)


def _boxes(size, stride):
  starts = occlusion.square_positions(48, size, stride)
  y, x = (a.ravel() for a in np.meshgrid(starts, starts, indexing='ij'))
  return np.stack([y, x, y + size, x + size], 1)


@pytest.mark.parametrize('size, stride', [(12, 4), (7, 5), (20, 9), (3, 3)])
def test_equals_whole_forward_including_border_squares(setup, size, stride):
  params, image = setup
  boxes = _boxes(size, stride)
  plan = incremental.plan(SPEC, (48, 48), boxes, stop_before='conv3',
                          max_fraction=1.0)
  # Everything below conv3 is computed on windows, the convs' smaller than
  # their maps.
  assert plan.zone.names == ('conv1', 'pool1', 'norm1', 'conv2', 'pool2',
                             'norm2')
  fractions = incremental.fraction_recomputed(SPEC, 48, plan.zone)
  assert fractions['conv1'] < 0.5 and fractions['conv2'] < 1
  clean = incremental.clean_maps(params, image[None], SPEC, plan.zone)
  clean = tuple(m[0] for m in clean)
  run = jax.jit(lambda im, st: incremental.forward(params, im, clean, st,
                                                   SPEC, plan.zone))
  # The corners and the last squares hang over the far edges.
  picks = sorted({0, len(boxes) - 1, len(boxes) // 2,
                  int(np.sqrt(len(boxes))) - 1} | set(range(0, len(boxes),
                                                             7)))
  for i in picks:
    y0, x0, y1, x1 = boxes[i]
    occluded = image.copy()
    occluded[y0:y1, x0:x1] = -30.0
    logits, trace = run(occluded, plan.starts[i])
    want_logits, want = _plain(params, occluded[None], SPEC)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(trace.activations['conv3'],
                               want.activations['conv3'], rtol=1e-4,
                               atol=1e-4)


def test_windows_hold_every_changed_output(setup):
  params, image = setup
  boxes = _boxes(10, 6)
  plan = incremental.plan(SPEC, (48, 48), boxes, max_fraction=1.0)
  conv1 = jax.jit(lambda im: models.forward_from(
      params, im[None], SPEC, 'conv1', until='conv1')[0][0])
  clean = np.asarray(conv1(image))
  rows, cols = plan.zone.windows[0]
  for i in (0, 5, len(boxes) - 1):
    y0, x0, y1, x1 = boxes[i]
    changed_image = image.copy()
    changed_image[y0:y1, x0:x1] += 100.0
    changed = np.abs(np.asarray(conv1(changed_image)) - clean).max(-1) > 0
    inside = np.zeros_like(changed)
    r, c = plan.starts[i, 0]
    inside[r:r + rows, c:c + cols] = True
    assert changed.any() and not (changed & ~inside).any()


def test_zone_at_the_reference_setting():
  # ZFNet at 224 px, square 50, stride 8: conv1's window is 28 x 28 of its
  # 110 x 110 outputs (ceil(57 / 2) rows: 50 changed rows seen through 7-row
  # kernels at stride 2), conv2's 10 x 10 of 26 x 26, conv3's 8 x 8 of
  # 13 x 13; conv4's would be 10 x 10, more than half of its map.
  spec = models.get_spec('zfnet', 1000)
  plan = incremental.plan(spec, (224, 224), _reference_boxes())
  assert plan.zone.names == ('conv1', 'pool1', 'norm1', 'conv2', 'pool2',
                             'norm2', 'conv3')
  windows = dict(zip(plan.zone.names, plan.zone.windows))
  assert windows['conv1'] == (28, 28) and windows['conv2'] == (10, 10)
  assert windows['conv3'] == (8, 8) and plan.zone.resume == 'conv4'


def _reference_boxes():
  starts = occlusion.square_positions(224, 50, 8)
  y, x = (a.ravel() for a in np.meshgrid(starts, starts, indexing='ij'))
  return np.stack([y, x, y + 50, x + 50], 1)


def test_sweep_incremental_equals_full_recomputation(setup):
  params, image = setup
  images = np.stack([image, image[::-1]])
  kwargs = dict(labels=[1, 4], size=11, stride=6, fill=3.0, chunk_size=7)
  fast = occlusion.occlusion_sweep(params, images, SPEC, **kwargs)
  full = occlusion.occlusion_sweep(params, images, SPEC,
                                   exact_incremental=False, **kwargs)
  np.testing.assert_allclose(fast.p_true, full.p_true, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(fast.map_activation, full.map_activation,
                             rtol=1e-4, atol=1e-3)
  np.testing.assert_array_equal(fast.top_label, full.top_label)
