"""Invariance (Fig. 5): image transforms against numpy, distances' properties."""

import jax
import numpy as np
import pytest

from zfjax.data import pipeline
from zfjax.analyses import invariance
from zfjax.networks import models, specs
from zfjax.errors import ZfjaxError

TINY = specs.Spec('tiny', (
    specs.Conv('conv1', 4, 3, stride=2, padding=1),
    specs.MaxPool('pool1', 3, 2, (0, 1)),
    specs.Conv('conv2', 6, 3, padding=1),
    specs.MaxPool('pool2', 3, 2),
    specs.Dense('fc3', 8),
    specs.Dense('fc4', 3, relu=False),
), 16)


@pytest.fixture(scope='module')
def images_and_mean():
  rng = np.random.default_rng(0)
  images = rng.normal(0, 50, (2, 9, 9, 3)).astype(np.float32)
  mean = rng.uniform(50, 150, (9, 9, 3)).astype(np.float32)
  return images, mean


def test_identity_is_exact(images_and_mean):
  images, mean = images_and_mean
  for transform, identity in (('translate', 0.0), ('scale', 1.0),
                              ('rotate', 0.0)):
    out = invariance.transform_images(images, [identity, identity],
                                      transform=transform, mean=mean)
    assert out.shape == (2, 2, 9, 9, 3)
    np.testing.assert_array_equal(out[:, 0], images)


def test_quarter_turns_are_numpy_rot90(images_and_mean):
  images, mean = images_and_mean
  out = invariance.transform_images(images, [90, 180, 270, 360],
                                    transform='rotate', mean=mean)
  pixels = images + mean
  for k in range(4):
    # np.rot90 turns counter-clockwise as displayed (rows down).
    want = np.rot90(pixels, k + 1, axes=(1, 2)) - mean
    np.testing.assert_allclose(out[:, k], want, atol=2e-3)


def test_translation_shifts_rows_and_fills_with_the_mean(images_and_mean):
  images, mean = images_and_mean
  out = invariance.transform_images(images, [2, -3, 0.5],
                                    transform='translate', mean=mean)
  pixels = images + mean
  down = np.zeros_like(pixels)
  down[:, 2:] = pixels[:, :-2] - mean[2:]
  np.testing.assert_allclose(out[:, 0], down, atol=1e-4)  # top rows: mean
  up = np.zeros_like(pixels)
  up[:, :-3] = pixels[:, 3:] - mean[:-3]
  np.testing.assert_allclose(out[:, 1], up, atol=1e-4)
  # Half a pixel: the average of two neighbouring rows (bilinear).
  half = (pixels[:, 1:] + pixels[:, :-1]) / 2 - mean[1:]
  np.testing.assert_allclose(out[:, 2, 1:], half, atol=1e-3)


def test_scaling_by_two_about_the_centre(images_and_mean):
  images, mean = images_and_mean
  out = invariance.transform_images(images, [2.0], transform='scale',
                                    mean=mean)[:, 0]
  pixels = images + mean
  # The centre pixel (4, 4) stays; output pixel 4 + 2k comes from 4 + k.
  for k in (-2, -1, 1, 2):
    np.testing.assert_allclose(out[:, 4 + 2 * k, 4 + 2 * k],
                               pixels[:, 4 + k, 4 + k] - mean[4 + 2 * k,
                                                              4 + 2 * k],
                               atol=1e-3)


def test_distance_is_zero_at_identity_and_relative():
  params = models.init_params(jax.random.PRNGKey(0), TINY, weight_std=None,
                              bias_value=0.1)
  rng = np.random.default_rng(1)
  images = rng.normal(0, 60, (3, 16, 16, 3)).astype(np.float32)
  amounts = np.array([0.0, 3.0])
  moved = invariance.transform_images(images, amounts, transform='translate')
  curves = invariance.invariance_curves(
      params, TINY, images, moved, np.array([0, 1, 2]), transform='translate',
      amounts=amounts, chunk_size=4)
  assert curves.layers == ('conv1', 'fc3')
  assert curves.distance.shape == (2, 3, 2)
  np.testing.assert_array_equal(curves.distance[:, :, 0], 0.0)
  for k, layer in enumerate(curves.layers):
    f0 = np.asarray(models.features(params, images, TINY, layer)).reshape(3, -1)
    f1 = np.asarray(models.features(params, moved[:, 1], TINY,
                                    layer)).reshape(3, -1)
    want = np.linalg.norm(f1 - f0, axis=1) / np.linalg.norm(f0, axis=1)
    np.testing.assert_allclose(curves.distance[k, :, 1], want, rtol=1e-4)
  probs = np.asarray(jax.nn.softmax(models.apply(params, images, TINY)))
  np.testing.assert_allclose(curves.p_true[:, 0], probs[[0, 1, 2], [0, 1, 2]],
                             rtol=1e-5)


def test_default_layers_and_bad_input():
  assert invariance.default_layers(specs.get_spec('zfnet')) == ('conv1',
                                                                'fc7')
  with pytest.raises(ZfjaxError, match='unknown transformation'):
    invariance.default_amounts('shear', 64)
  with pytest.raises(ZfjaxError, match='positive'):
    invariance.transform_images(np.zeros((1, 4, 4, 3)), [0.0],
                                transform='scale')
  assert 0 in invariance.default_amounts('translate', 224)
  assert 1 in invariance.default_amounts('scale', 224)
  assert 0 in invariance.default_amounts('rotate', 224)


@pytest.mark.parametrize('method', ['render', 'resample'])
def test_distance_grows_with_the_transformation(trained_shapes_model,
                                                method):
  """Twelve validation images (one per class): zero distance at the
  identity, and on average over the images a larger change in both layers
  for a larger translation, scaling or rotation."""
  model = trained_shapes_model
  config = model.config
  indices = np.arange(12)
  sweeps = {'translate': [0, 2, 5, 10], 'scale': [1.0, 1.1, 1.25, 1.5],
            'rotate': [0, 5, 15, 40]}
  offset = (config.resize_size - config.crop_size) // 2
  crop = slice(offset, offset + config.crop_size)
  mean = pipeline.DataSource(config).mean_image[crop, crop]
  stored = pipeline.DataSource(config).load_examples('validation', indices)
  for transform, amounts in sweeps.items():
    if method == 'render':
      images, moved, labels = invariance.render_transformed(
          config, pipeline.DataSource(config).preprocessing, 'validation',
          indices, transform, amounts)
      # The identity render is the stored example.
      np.testing.assert_allclose(images, stored.images, atol=1e-3)
    else:
      images, labels = stored.images, stored.labels
      moved = invariance.transform_images(images, amounts,
                                          transform=transform, mean=mean)
    curves = invariance.invariance_curves(
        model.params, model.spec, images, moved, labels, transform=transform,
        amounts=amounts)
    np.testing.assert_array_equal(curves.distance[:, :, 0], 0.0)
    mean_distance = curves.distance.mean(axis=1)  # (layers, steps)
    print(method, transform, np.round(mean_distance, 3))
    assert (np.diff(mean_distance, axis=-1) > 0).all(), mean_distance
