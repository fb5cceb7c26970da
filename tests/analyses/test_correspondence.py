"""Correspondence (Table 1): Delta against brute force and hand-checked cases."""

import itertools
import json

import jax
import numpy as np
import pytest

from zfjax.analyses import correspondence
from zfjax.data import pipeline, shapes
from zfjax.networks import models, specs
from zfjax.errors import ZfjaxError
from zfjax.figures import tables

TINY = specs.Spec('tiny', (
    specs.Conv('conv1', 4, 3, stride=2, padding=1),
    specs.MaxPool('pool1', 3, 2, (0, 1)),
    specs.Conv('conv2', 6, 3, padding=1),
    specs.MaxPool('pool2', 3, 2),
    specs.Dense('fc3', 8),
    specs.Dense('fc4', 3, relu=False),
), 16)


def _prep(config):
  """The preprocessing of `config`'s data (its mean image)."""
  return pipeline.DataSource(config).preprocessing


def brute_force_pairs(eps):
  """Hamming distance of signs over every ordered pair, counted one by one."""
  n, d = eps.shape
  sign = lambda v: 1 if v > 0 else (-1 if v < 0 else 0)  # noqa: E731
  values = []
  for i, j in itertools.permutations(range(n), 2):
    values.append(sum(sign(eps[i, k]) != sign(eps[j, k]) for k in range(d))
                  / d)
  return np.array(values)


@pytest.mark.parametrize('eps, want', [
    ([[1., -2., 0., 3.], [2., -1., 0., 5.]], 0.0),      # same signs
    ([[1., -1., 0., 2.], [1., 1., 0., -3.]], 0.5),      # 2 of 4 flip
    ([[0., 0.], [1., -1.]], 1.0),                       # zero differs from +-1
    ([[1., 1.], [1., -1.], [-1., -1.]], 2 / 3),         # pairs 1/2, 1, 1/2
])
def test_delta_hand_checked(eps, want):
  assert float(correspondence.delta(np.array(eps))) == pytest.approx(want)


def test_three_vector_spread_by_hand():
  values = correspondence.pair_disagreement(
      np.array([[1., 1.], [1., -1.], [-1., -1.]]))
  np.testing.assert_allclose(values, [0.5, 1.0, 0.5])
  # Paper's unnormalised sum over ordered pairs: 2 * (1 + 2 + 1) = 8 flips,
  # over D = 2 and n (n - 1) = 6 pairs.
  assert float(np.mean(values)) == pytest.approx(8 / (2 * 6))
  assert float(np.std(values)) == pytest.approx(np.sqrt(1 / 18))


def test_delta_matches_brute_force_on_random_vectors():
  rng = np.random.default_rng(0)
  for n, d in [(2, 7), (5, 40), (6, 13)]:
    # Integers make exact zeros common, as rectified features do.
    eps = rng.integers(-2, 3, (n, d)).astype(np.float32)
    want = brute_force_pairs(eps)
    got = np.asarray(correspondence.pair_disagreement(eps))
    # Ordered pairs repeat each unordered one: same mean and spread.
    assert float(correspondence.delta(eps)) == pytest.approx(want.mean())
    assert got.std() == pytest.approx(want.std())
    np.testing.assert_allclose(np.sort(np.repeat(got, 2)), np.sort(want),
                               atol=1e-6)


def test_random_boxes_lie_on_the_object_and_have_the_size():
  rng = np.random.default_rng(0)
  objects = np.array([[10, 20, 40, 50], [0, 0, 64, 64], [5, 5, 12, 30]] * 50)
  sizes = np.array([[8, 6], [16, 16], [10, 4]] * 50)
  boxes = correspondence.random_boxes(rng, objects, sizes)
  np.testing.assert_array_equal(boxes[:, 2:] - boxes[:, :2], sizes)
  fits = sizes <= objects[:, 2:] - objects[:, :2]
  inside = ((boxes[:, :2] >= objects[:, :2]) & (boxes[:, 2:] <= objects[:, 2:]))
  assert inside[fits].all()
  # 10 pixels do not fit in 7 rows: centred on the object instead.
  np.testing.assert_array_equal(boxes[2::3, 0], 5 + (7 - 10) // 2)
  # Uniform: the corners spread over the room there is.
  assert len(np.unique(boxes[0::3, 0])) > 10
  again = correspondence.random_boxes(np.random.default_rng(0), objects, sizes)
  np.testing.assert_array_equal(boxes, again)


def test_table_matches_masking_by_hand():
  """One set of 3 images, one part: numpy masking, numpy Hamming."""
  params = models.init_params(jax.random.PRNGKey(0), TINY, weight_std=None,
                              bias_value=0.1)
  rng = np.random.default_rng(1)
  images = rng.normal(scale=60, size=(3, 16, 16, 3)).astype(np.float32)
  boxes = np.array([[[2, 3, 7, 9]], [[0, 0, 4, 4]], [[10, 12, 16, 16]]])
  data = correspondence.PartImages(
      images=images, part_names=('eye',), part_boxes=boxes.astype(np.int32),
      object_boxes=np.array([[0, 0, 16, 16]] * 3, np.int32),
      labels=np.zeros(3, np.int32))
  table = correspondence.correspondence_table(params, TINY, data,
                                              layers=('conv2', 'fc3'),
                                              set_size=3)
  assert table.locations == ('eye', 'random')
  assert table.layers == ('conv2', 'fc3')
  masked = images.copy()
  for i, (y0, x0, y1, x1) in enumerate(boxes[:, 0]):
    masked[i, y0:y1, x0:x1] = 0.0
  for k, layer in enumerate(('conv2', 'fc3')):
    eps = (np.asarray(models.features(params, images, TINY, layer))
           - np.asarray(models.features(params, masked, TINY, layer)))
    want = brute_force_pairs(eps.reshape(3, -1))
    assert table.mean[0, k] == pytest.approx(want.mean(), abs=1e-6)
    assert table.std[0, k] == pytest.approx(want.std(), abs=1e-6)
  assert ((table.mean >= 0) & (table.mean <= 1)).all()
  assert 'random' in tables.format_correspondence(table)


def test_table_over_placements_pools_them_by_hand():
  """One set of 3 images at two placements (the second moved 2 pixels
  down): each cell pools the 3 pairs of each placement, masked in numpy;
  the set's Delta is the mean of the 6."""
  params = models.init_params(jax.random.PRNGKey(0), TINY, weight_std=None,
                              bias_value=0.1)
  rng = np.random.default_rng(2)
  images = rng.normal(scale=60, size=(3, 16, 16, 3)).astype(np.float32)
  boxes = np.array([[[2, 3, 7, 9]], [[0, 0, 4, 4]], [[9, 12, 14, 16]]],
                   np.int32)
  def placed(dy):
    return correspondence.PartImages(
        images=np.roll(images, dy, axis=1), part_names=('eye',),
        part_boxes=boxes + np.array([dy, 0, dy, 0], np.int32),
        object_boxes=np.array([[0, 0, 16, 16]] * 3, np.int32),
        labels=np.zeros(3, np.int32))
  table = correspondence.correspondence_table(
      params, TINY, [placed(0), placed(2)], layers=('conv2', 'fc3'),
      set_size=3)
  assert table.num_placements == 2 and table.num_pairs == 6
  for k, layer in enumerate(('conv2', 'fc3')):
    pairs = []
    for dy in (0, 2):
      moved = placed(dy)
      masked = moved.images.copy()
      for i, (y0, x0, y1, x1) in enumerate(moved.part_boxes[:, 0]):
        masked[i, y0:y1, x0:x1] = 0.0
      eps = (np.asarray(models.features(params, moved.images, TINY, layer))
             - np.asarray(models.features(params, masked, TINY, layer)))
      pairs.append(brute_force_pairs(eps.reshape(3, -1)))
    want = np.concatenate(pairs)
    assert table.mean[0, k] == pytest.approx(want.mean(), abs=1e-6)
    assert table.std[0, k] == pytest.approx(want.std(), abs=1e-6)
    assert table.set_mean[0, k, 0] == pytest.approx(want.mean(), abs=1e-6)
  # The placements must hold the same images.
  with pytest.raises(ZfjaxError, match='same images'):
    correspondence.correspondence_table(
        params, TINY, [placed(0), placed(0)._replace(labels=np.ones(3, int))])


def test_masked_views_fill_exactly_the_boxes():
  """Fig. 8's views: the originals, each part's box filled, then random
  boxes of the first part's size on the object; nothing else changed."""
  rng = np.random.default_rng(4)
  images = rng.normal(scale=60, size=(3, 16, 16, 3)).astype(np.float32)
  parts = np.array([[[2, 3, 5, 7], [8, 8, 10, 12]],
                    [[0, 0, 3, 4], [12, 12, 16, 16]],
                    [[6, 6, 9, 10], [1, 9, 4, 13]]], np.int32)
  objects = np.array([[0, 0, 16, 16], [2, 2, 14, 14], [4, 4, 12, 12]],
                     np.int32)
  data = correspondence.PartImages(images, ('eye', 'nose'), parts, objects,
                                   np.zeros(3, np.int32))
  views, names = correspondence.masked_views(data, num_images=2,
                                             num_random=1, fill=7.0)
  assert names == ('original', 'eye', 'nose', 'random 1')
  assert views.shape == (2, 4, 16, 16, 3)
  np.testing.assert_array_equal(views[:, 0], images[:2])
  for i in range(2):
    for column in range(1, 4):
      changed = np.argwhere((views[i, column] != images[i]).any(-1))
      if column < 3:
        y0, x0, y1, x1 = parts[i, column - 1]
      else:  # the random box: its size the eye's, inside the object box
        (y0, x0), (y1, x1) = changed.min(0), changed.max(0) + 1
        assert (y1 - y0, x1 - x0) == tuple(parts[i, 0, 2:] - parts[i, 0, :2])
        assert (objects[i, :2] <= (y0, x0)).all()
        assert ((y1, x1) <= objects[i, 2:]).all()
      assert (views[i, column, y0:y1, x0:x1] == 7.0).all()
      assert len(changed) == (y1 - y0) * (x1 - x0)


def test_placements_step_the_top_conv_grid():
  """One spacing of the top conv layer's units either way: the product of
  the strides below it, 2 * 2 * 2 for the small ZFNet (conv1, pool1,
  pool2) and 2 * 2 * 2 * 2 for ZFNet (conv2 at stride 2 too)."""
  for name, step in (('zfnet_small', 8), ('zfnet', 16)):
    got = correspondence.placements(specs.get_spec(name))
    assert sorted(got) == sorted(itertools.product((-step, 0, step),
                                                   repeat=2))


def test_builtin_faces_offset_moves_the_faces(shapes_config):
  """Frontal faces moved (dy, dx) model pixels: every part and object box
  moves by exactly that, the background stays put; the faces as stored
  cannot be moved."""
  prep = _prep(shapes_config)
  centred = correspondence.builtin_faces(shapes_config, prep, num_images=4)
  moved = correspondence.builtin_faces(shapes_config, prep, num_images=4,
                                       offset=(-3, 5))
  shift = np.array([-3, 5, -3, 5])
  np.testing.assert_array_equal(moved.part_boxes, centred.part_boxes + shift)
  np.testing.assert_array_equal(moved.object_boxes,
                                centred.object_boxes + shift)
  np.testing.assert_array_equal(moved.labels, centred.labels)
  # A corner far from the face is the same background.
  np.testing.assert_allclose(moved.images[:, :3, :3], centred.images[:, :3, :3])
  assert np.abs(moved.images - centred.images).max() > 50
  with pytest.raises(ZfjaxError, match='as stored'):
    correspondence.builtin_faces(shapes_config, prep, num_images=4,
                                 frontal=False, offset=(0, 8))


def test_mask_effects_match_masking_by_hand():
  """Each image masked in numpy and run alone; logit changes against the
  class the unmasked image is given, and its softmax probability."""
  params = models.init_params(jax.random.PRNGKey(3), TINY, weight_std=None,
                              bias_value=0.1)
  rng = np.random.default_rng(2)
  images = rng.normal(scale=60, size=(4, 16, 16, 3)).astype(np.float32)
  boxes = np.array([[[2, 3, 7, 9], [0, 0, 16, 8]], [[0, 0, 4, 4], [5, 5, 9, 9]],
                    [[10, 12, 16, 16], [1, 1, 3, 3]], [[4, 4, 12, 12], [0, 8, 8, 16]]],
                   np.int32)
  data = correspondence.PartImages(
      images=images, part_names=('eye', 'nose'), part_boxes=boxes,
      object_boxes=np.array([[0, 0, 16, 16]] * 4, np.int32),
      labels=np.full(4, -1, np.int32))
  effect = correspondence.mask_effects(params, TINY, data, chunk=3)  # 3 + 1

  def logits(image):
    return np.asarray(models.apply(params, image[None], TINY), np.float64)[0]

  def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()
  before = [logits(im) for im in images]
  given = [int(np.argmax(b)) for b in before]
  np.testing.assert_array_equal(effect.reference, given)
  np.testing.assert_allclose(
      effect.p_before, [softmax(b)[g] for b, g in zip(before, given)],
      rtol=1e-5)
  for p, part in enumerate(effect.locations):
    rows = []
    for i, (y0, x0, y1, x1) in enumerate(boxes[:, p]):
      masked = images[i].copy()
      masked[y0:y1, x0:x1] = 0.0
      after = logits(masked)
      change = after - before[i]
      rows.append(change - change[given[i]])
      assert effect.p_after[p, i] == pytest.approx(
          softmax(after)[given[i]], rel=1e-4)
    np.testing.assert_allclose(effect.logit_change[p], np.mean(rows, 0),
                               atol=1e-4)
    assert part == ('eye', 'nose')[p]


def test_mask_effects_text_lists_the_classes_moved_towards_and_away():
  effect = correspondence.MaskEffect(
      locations=('nose', 'eye'), reference=np.array([0, 0, 1]),
      p_before=np.array([0.9, 0.8, 0.7]),
      p_after=np.array([[0.3, 0.2, 0.1], [0.9, 0.8, 0.7]]),
      logit_change=np.array([[0.0, 2.5, -1.0, 0.5, -3.0],
                             [0.0, 0.0, -0.5, 0.0, 0.0]]))
  text = tables.format_mask_effects(effect, ('a', 'b', 'c', 'd', 'e'), top=2)
  lines = text.splitlines()
  assert '3 images (given a 2, b 1)' in lines[0]
  assert lines[1].split() == ['nose', '0.80', '->', '0.20;', 'towards', 'b',
                              '+2.50,', 'd', '+0.50;', 'away', 'from', 'e',
                              '-3.00,', 'c', '-1.00']
  assert lines[2].split() == ['eye', '0.80', '->', '0.80;', 'towards',
                              'none;', 'away', 'from', 'c', '-0.50']


def test_default_layers_are_layer_5_and_7():
  assert correspondence.default_layers(specs.get_spec('zfnet')) == ('conv5',
                                                                    'fc7')
  assert correspondence.default_layers(
      specs.get_spec('alexnet_remove67')) == ('conv5',)


@pytest.mark.parametrize('frontal', [False, True])
@pytest.mark.parametrize('classes', [None, ['round_face']])
def test_builtin_faces_boxes_are_the_generators(shapes_config, frontal,
                                                classes):
  """Part and object boxes in model-input pixels: the generator's boxes of
  the scene shifted by the centre crop's margin; as stored, the images are
  the evaluation inputs; frontal, the faces are upright and centred. By
  default the faces are of both classes of the default world drawn with two
  eyes and a nose, round_face (label 0) and cat_face (2), alternating as
  the validation labels cycle through the 12 classes."""
  data = correspondence.builtin_faces(shapes_config, _prep(shapes_config),
                                      class_names=classes, num_images=6,
                                      frontal=frontal)
  assert data.part_names == ('left_eye', 'right_eye', 'nose')
  if classes is None:
    indices = np.array([0, 2, 12, 14, 24, 26])
    np.testing.assert_array_equal(data.labels, [0, 2, 0, 2, 0, 2])
  else:
    indices = np.arange(6) * shapes.NUM_CLASSES
    assert (data.labels == 0).all()
  margin = (shapes_config.resize_size - shapes_config.crop_size) // 2
  if not frontal:
    stored = pipeline.DataSource(shapes_config).load_examples('validation',
                                          indices)
    np.testing.assert_allclose(data.images, stored.images, atol=1e-3)
    np.testing.assert_array_equal(data.labels, stored.labels)
  for n, index in enumerate(indices):
    _, _, scene = shapes.example('validation', index, 64)
    if frontal:
      scene = scene._replace(center=np.array([0.5, 0.5]), angle_deg=0.0,
                             radius=data_radius(shapes_config, indices))
    rendered = shapes.render(scene, 64)
    for p, name in enumerate(data.part_names):
      np.testing.assert_array_equal(data.part_boxes[n, p],
                                    rendered.parts[name] - margin)
    np.testing.assert_array_equal(data.object_boxes[n],
                                  rendered.box - margin)
  if frontal:
    # Upright and centred: the eyes level, mirror images about the centre.
    eyes = data.part_boxes[:, :2]
    np.testing.assert_array_equal(eyes[:, 0, [0, 2]], eyes[:, 1, [0, 2]])
    centre = shapes_config.crop_size
    np.testing.assert_array_equal(eyes[:, 0, 1] + eyes[:, 1, 3], centre)


def test_breeds_are_the_classes_drawn_with_eyes_and_a_nose():
  """The catalogue's faces with two eyes and a nose: round_face and
  cat_face among the default world's 12, bear_face (label 13) from 14 on;
  the faces with a mouth, snout or one eye are not among them."""
  assert correspondence.breeds(1) == ('round_face',)
  assert correspondence.breeds(12) == ('round_face', 'cat_face')
  assert correspondence.breeds(13) == ('round_face', 'cat_face')
  for n in (14, 24, 96):
    assert correspondence.breeds(n) == ('round_face', 'cat_face',
                                        'bear_face')
  assert correspondence.breeds(12, ('left_eye', 'right_eye', 'mouth')) == (
      'square_face',)


def test_builtin_faces_bad_choices_say_what_to_do(shapes_config):
  prep = _prep(shapes_config)
  with pytest.raises(ZfjaxError, match='no class bear_face; choose from '
                     'round_face, square_face, cat_face, house'):
    correspondence.builtin_faces(shapes_config, prep,
                                 class_names=['bear_face'])
  with pytest.raises(ZfjaxError, match='share the parts head, left_eye, '
                     'right_eye; got'):
    correspondence.builtin_faces(shapes_config, prep,
                                 class_names=['round_face', 'square_face'],
                                 parts=['nose'])
  # Without parts named, the classes' shared small parts: the eyes.
  data = correspondence.builtin_faces(
      shapes_config, prep, class_names=['round_face', 'square_face'],
      num_images=4)
  assert data.part_names == ('left_eye', 'right_eye')
  np.testing.assert_array_equal(data.labels, [0, 1, 0, 1])


def data_radius(config, indices):
  return float(np.median([shapes.example('validation', i, 64)[2].radius
                          for i in indices]))


def test_part_files_json_and_csv(shapes_config, tmp_path):
  """Your images described in JSON (keypoints + mask size) or CSV (boxes)
  give the same boxes, mapped through the centre crop."""
  margin = (shapes_config.resize_size - shapes_config.crop_size) // 2
  entries, rows = [], ['path,part,y0,x0,y1,x1']
  for i in range(3):
    image, _, _ = shapes.example('validation', i, 64)
    (tmp_path / f'im{i}.png').write_bytes(shapes.encode_png(image))
    eye, nose = (20 + i, 22), (30, 31 + i)
    entries.append({'path': f'im{i}.png', 'parts': {'eye': eye, 'nose': nose},
                    'object': [10, 10, 50, 54]})
    rows += [f'im{i}.png,eye,{eye[0] - 3},{eye[1] - 3},{eye[0] + 3},'
             f'{eye[1] + 3}', f'im{i}.png,nose,{nose[0]},{nose[1]},,',
             f'im{i}.png,object,10,10,50,54']
  (tmp_path / 'parts.json').write_text(json.dumps({'mask_size': 6,
                                                   'images': entries}))
  (tmp_path / 'parts.csv').write_text('\n'.join(rows) + '\n')
  from_json = correspondence.load_part_file(str(tmp_path / 'parts.json'),
                                            _prep(shapes_config))
  from_csv = correspondence.load_part_file(str(tmp_path / 'parts.csv'),
                                           _prep(shapes_config), mask_size=6)
  stored = pipeline.DataSource(shapes_config).load_examples('validation', [0, 1, 2])
  for data in (from_json, from_csv):
    assert data.part_names == ('eye', 'nose')
    np.testing.assert_allclose(data.images, stored.images, atol=1e-3)
    for i in range(3):
      np.testing.assert_array_equal(
          data.part_boxes[i, 0], np.array([17 + i, 19, 23 + i, 25]) - margin)
      np.testing.assert_array_equal(
          data.part_boxes[i, 1], np.array([27, 28 + i, 33, 34 + i]) - margin)
      np.testing.assert_array_equal(data.object_boxes[i],
                                    np.array([10, 10, 50, 54]) - margin)
  with pytest.raises(ZfjaxError, match='mask size'):
    correspondence.load_part_file(str(tmp_path / 'parts.csv'),
                                  _prep(shapes_config))


def test_builtin_face_table(trained_shapes_model):
  """The table on the trained model: fractions in [0, 1], one row per part
  and the random row; printed for the record."""
  model = trained_shapes_model
  data = correspondence.builtin_faces(model.config, _prep(model.config),
                                      num_images=20)
  table = correspondence.correspondence_table(model.params, model.spec, data,
                                              num_sets=4, seed=0)
  print(tables.format_correspondence(table))
  assert table.locations == data.part_names + ('random',)
  assert table.layers == ('conv5', 'fc7')
  assert ((table.mean > 0) & (table.mean < 1)).all()
  assert (table.std >= 0).all()
  assert table.num_pairs == 4 * 10
