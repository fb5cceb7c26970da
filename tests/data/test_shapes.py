"""The built-in data set: determinism, boxes against pixels, difficulty."""

import io
import re

import numpy as np
import pytest
from PIL import Image

from zfjax.data import shape_classes
from zfjax.data import shapes

_GREY = 128.0


def _plain(scene, body, detail):
  """The scene on a flat grey background, its object in the given colours.

  With the background known, a pixel's value gives the coverage of the
  object there, independently of how the renderer computes boxes.
  """
  return scene._replace(
      background=np.full(3, _GREY), grid=np.zeros_like(scene.grid),
      grating=np.zeros(4), clutter=np.zeros((0, 6)),
      clutter_colors=np.zeros((0, 3)), body_color=np.asarray(body, float),
      detail_color=np.asarray(detail, float))


def _coverage(scene, size, role):
  """Per-pixel coverage in [0, 1] of the parts of one colour role."""
  white, black = (255.0,) * 3, (0.0,) * 3
  if role == 'object':
    hi, lo = _plain(scene, white, white), _plain(scene, black, black)
  else:  # detail parts only; the body stays grey
    grey = (_GREY,) * 3
    hi, lo = _plain(scene, grey, white), _plain(scene, grey, black)
  diff = (shapes.render(hi, size).image.astype(float)
          - shapes.render(lo, size).image.astype(float))
  return diff.mean(axis=-1) / 255.0


def _tight_box(mask):
  rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
  return rows[0], cols[0], rows[-1] + 1, cols[-1] + 1


# The catalogue's faces with two eyes and a nose or mouth: round_face,
# square_face, cat_face, smiley, bear_face, frog_face.
_FACES = (0, 1, 2, 12, 13, 14)


def test_catalogue():
  assert shapes.NUM_CLASSES >= 10
  assert len(shapes.CLASS_NAMES) == len(set(shapes.CLASS_NAMES))
  # Part names for the whole catalogue, of which the default world uses 12.
  assert len(shapes.PART_NAMES) == shape_classes.MAX_CLASSES
  assert shape_classes.ALL_CLASS_NAMES[:shapes.NUM_CLASSES] == (
      shapes.CLASS_NAMES)
  for c in _FACES:
    names = set(shapes.PART_NAMES[c])
    assert {'left_eye', 'right_eye'} <= names
    assert names & {'nose', 'mouth'}
  assert all(len(p) >= 2 for p in shapes.PART_NAMES)


def _upright(label, novel=False, size=64):
  """Class `label` centred, upright and unjittered: (size, size) coverage
  in [0, 1] of its body, with detail parts at 0.4."""
  scene = shapes.sample_scene(np.random.default_rng(label), label, size,
                              novel=novel)
  scene = scene._replace(center=np.array([0.5, 0.5]), angle_deg=0.0,
                         jitter=np.zeros(4))
  return (_coverage(scene, size, 'object')
          - 0.6 * _coverage(scene, size, 'detail'))


def _every_class():
  return ([(label, False) for label in range(shape_classes.MAX_CLASSES)]
          + [(label, True) for label in range(shapes.MAX_NOVEL_CLASSES)])


def test_every_class_is_its_own_mirror_image():
  """Training flips images left-right and keeps the label."""
  for label, novel in _every_class():
    image = _upright(label, novel)
    assert np.abs(image - image[:, ::-1]).max() < 0.05, (label, novel)


def test_no_two_classes_look_alike():
  """Every two classes of the catalogue and the novel set differ, upright
  at 64 px, in at least an eye's area (about 20 pixels) -- composites share
  slots, so this checks that no two of them coincide."""
  images = np.stack([_upright(label, novel) for label, novel in
                     _every_class()])
  flat = images.reshape(len(images), -1)
  differing = (np.abs(flat[:, None] - flat[None]) > 0.3).sum(-1)
  np.fill_diagonal(differing, flat.shape[1])
  assert differing.min() >= 20, np.unravel_index(differing.argmin(),
                                                 differing.shape)


def _designs(first, count, names, novel=False):
  """(outline, top, inside, bottom) of classes [first, count), read back
  from their drawn parts, each checked against the class's name."""
  designs = []
  for label in range(first, count):
    parts = shape_classes.parts(label, np.zeros(4), novel=novel)
    outline = names[label].split('_')[0]
    # The top is drawn in the body's colour, inside and bottom as details.
    top = [n for n, role, _ in parts[1:] if role == 'body'] or ['none']
    detail = [n for n, role, _ in parts[1:] if role == 'detail'] + ['none']
    designs.append((outline, top[0], detail[0], detail[1]))
    assert parts[0][0] == 'body' and len(parts) <= len(top) + len(detail) + 1
    assert names[label] == '_'.join(d for d in designs[-1] if d != 'none')
  for i, a in enumerate(designs):
    for b in designs[:i]:
      assert sum(x != y for x, y in zip(a, b)) >= 2, (a, b)
  return designs


def test_composites_share_their_parts():
  """The classes after the 24 drawn ones are one choice per slot -- outline,
  top, inside, bottom -- named by their choices: each part recurs in other
  classes, and every two differ in at least two slots."""
  designs = _designs(24, shape_classes.MAX_CLASSES,
                     shape_classes.ALL_CLASS_NAMES)
  assert len(designs) == shape_classes.NUM_COMPOSITES
  for slot in range(1, 4):
    counts = {}
    for d in designs:
      counts[d[slot]] = counts.get(d[slot], 0) + 1
    assert min(counts.values()) >= 5, counts


def test_novel_composites_are_new():
  """Novel classes 11-30 are composites too, every two differing in two
  slots, and none of their parts is a part of any trained class: the net
  never saw them."""
  designs = _designs(10, shape_classes.MAX_NOVEL_CLASSES,
                     shape_classes.ALL_NOVEL_CLASS_NAMES, novel=True)
  assert len(designs) == 20 == shape_classes.MAX_NOVEL_CLASSES - 10
  trained = {p for names in shape_classes.PART_NAMES for p in names}
  novel = {p for d in designs for p in d[1:]} - {'none'}
  assert len(novel) >= 8 and not novel & trained, novel & trained
  assert not (set(shape_classes.ALL_NOVEL_CLASS_NAMES)
              & set(shape_classes.ALL_CLASS_NAMES))


def test_novel_classes_cycle_through_their_catalogue():
  world = shapes.World(novel_classes=30)
  names = shapes.class_names(novel=True, num_classes=30)
  assert len(names) == 30 == len(set(names))
  assert names[:10] == shapes.NOVEL_CLASS_NAMES
  for index in (0, 9, 10, 29, 47):
    assert shapes.example('train', index, 32, novel=True,
                          world=world)[1] == index % 30
    # The knob draws nothing: the first ten classes' examples are the
    # default world's wherever the labels agree.
    if index % 30 == index % 10:
      np.testing.assert_array_equal(
          shapes.example('train', index, 32, novel=True, world=world)[0],
          shapes.example('train', index, 32, novel=True)[0])
  # The trained set does not read it.
  np.testing.assert_array_equal(shapes.example('train', 3, 32, world=world)[0],
                                shapes.example('train', 3, 32)[0])
  with pytest.raises(Exception, match='novel_classes'):
    shapes.example('train', 0, 32, novel=True,
                   world=shapes.World(novel_classes=31))


def test_same_seed_same_bytes():
  for split in shapes.SPLITS:
    for index in (0, 7, 1234):
      a, label_a, _ = shapes.example(split, index, 64)
      b, label_b, _ = shapes.example(split, index, 64)
      assert label_a == label_b == index % shapes.NUM_CLASSES
      assert shapes.encode_png(a) == shapes.encode_png(b)
  a = shapes.example('train', 3, 64)[0]
  assert not np.array_equal(a, shapes.example('train', 3, 64, seed=1)[0])
  assert not np.array_equal(a, shapes.example('validation', 3, 64)[0])


def test_prepared_split_holds_the_examples_byte_for_byte(tmp_path,
                                                         monkeypatch):
  """The TFDS builder, with chunks small enough that several worker
  processes take turns, stores example i of each split at position i."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from zfjax.data import shapes_dataset  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(shapes_dataset, '_CHUNK', 4)
  builder = shapes_dataset.builder(32, 30, 9, seed=3, data_dir=str(tmp_path))
  builder.download_and_prepare()
  for split, n in (('train', 30), ('validation', 9)):
    ds = builder.as_dataset(split, decoders={'image': tfds.decode.SkipDecoding()})
    stored = list(ds.as_numpy_iterator())
    assert len(stored) == n
    for i, ex in enumerate(stored):
      image, label, scene = shapes.example(split, i, 32, seed=3)
      assert ex['image'] == shapes.encode_png(image)
      assert ex['label'] == label
      truth = shapes.render(scene, 32)
      np.testing.assert_array_equal(ex['bbox'], truth.box)
      np.testing.assert_array_equal(ex['part_boxes'],
                                    shapes.part_box_array(label, truth.parts))


def test_png_decodes_to_the_pixels():
  image = shapes.example('train', 5, 48)[0]
  decoded = np.asarray(Image.open(io.BytesIO(shapes.encode_png(image))))
  np.testing.assert_array_equal(decoded, image)


@pytest.mark.parametrize('size', [32, 64, 160])
def test_object_box_is_the_covered_pixels(size):
  for index in range(2 * shapes.NUM_CLASSES):
    _, _, scene = shapes.example('train', index, size)
    rendered = shapes.render(scene, size)
    covered = _coverage(scene, size, 'object')
    # Coverage 0.5 is the boundary; rounding moves values by 1/255.
    box = rendered.box
    surely, maybe = _tight_box(covered > 0.51), _tight_box(covered > 0.49)
    assert maybe[0] <= box[0] <= surely[0] and maybe[1] <= box[1] <= surely[1]
    assert surely[2] <= box[2] <= maybe[2] and surely[3] <= box[3] <= maybe[3]
    # Inside the disc of the scene's ground-truth centre and radius.
    cy, cx = scene.center * size
    r = scene.radius * size
    assert box[0] >= np.floor(cy - r) and box[2] <= np.ceil(cy + r)
    assert box[1] >= np.floor(cx - r) and box[3] <= np.ceil(cx + r)
    # And inside the central 7/8 of the image, the eval centre crop.
    assert box.min() >= size // 16 and box.max() <= size - size // 16


def test_part_boxes_lie_on_their_parts():
  size = 64
  for label in range(shape_classes.MAX_CLASSES):
    scene = shapes.sample_scene(100 + label, label, size)
    rendered = shapes.render(scene, size)
    obj = rendered.box
    assert list(rendered.parts) == list(shapes.PART_NAMES[label])
    for box in rendered.parts.values():
      assert box[0] < box[2] and box[1] < box[3]
      assert obj[0] <= box[0] and obj[1] <= box[1]
      assert box[2] <= obj[2] and box[3] <= obj[3]
  # Face parts (all detail-coloured and apart from each other): each box is
  # exactly the pixels of its part.
  for label in _FACES:
    for seed in range(5):
      scene = shapes.sample_scene(seed, label, size)
      parts = shapes.render(scene, size).parts
      detail = _coverage(scene, size, 'detail')
      for name in ('left_eye', 'right_eye', 'nose', 'mouth'):
        if name not in parts:
          continue
        y0, x0, y1, x1 = parts[name]
        # Detail pixels touch all four sides of the box and none lie on the
        # one-pixel ring around it (faces sit well inside the image).
        box = detail[y0:y1, x0:x1] > 0.49
        assert box[0].any() and box[-1].any()
        assert box[:, 0].any() and box[:, -1].any()
        ring = detail[y0 - 1:y1 + 1, x0 - 1:x1 + 1] > 0.51
        ring[1:-1, 1:-1] = False
        assert not ring.any()
      # The left eye is on the image's left when the face is upright.
      upright = shapes.render(scene._replace(angle_deg=0.0), size).parts
      assert upright['left_eye'][1] < upright['right_eye'][1]


def test_render_transforms_move_the_object():
  size = 64
  _, _, scene = shapes.example('validation', 9, size)
  base = shapes.render(scene, size)
  np.testing.assert_array_equal(shapes.render(scene, size).image, base.image)
  moved = shapes.render(scene, size, dy=3)
  np.testing.assert_array_equal(moved.box, base.box + [3, 0, 3, 0])
  for name, box in base.parts.items():
    np.testing.assert_array_equal(moved.parts[name], box + [3, 0, 3, 0])
  bigger = shapes.render(scene, size, scale=1.3).box
  for axis in (0, 1):
    grown = bigger[axis + 2] - bigger[axis]
    assert abs(grown - 1.3 * (base.box[axis + 2] - base.box[axis])) <= 2.5
  turned = shapes.render(scene, size, angle_deg=90).box
  h, w = base.box[2] - base.box[0], base.box[3] - base.box[1]
  assert abs((turned[2] - turned[0]) - w) <= 3
  assert abs((turned[3] - turned[1]) - h) <= 3
  # The background is not part of the transform.
  gone = shapes.render(scene, size, dy=10 * size)
  np.testing.assert_array_equal(gone.box, np.zeros(4))
  outside = np.ones((size, size), bool)
  outside[base.box[0] - 1:base.box[2] + 1, base.box[1] - 1:base.box[3] + 1] = False
  np.testing.assert_array_equal(gone.image[outside], base.image[outside])


def test_colour_and_brightness_carry_no_label():
  """Per-class mean colour of the whole image is the same for all classes."""
  n = 40
  means = np.array([[shapes.example('train', c + shapes.NUM_CLASSES * i, 32)[0]
                     .mean(axis=(0, 1)) for i in range(n)]
                    for c in range(shapes.NUM_CLASSES)])  # (C, n, 3)
  class_means = means.mean(axis=1)
  standard_error = means.std(axis=1).mean() / np.sqrt(n)
  assert np.abs(class_means - class_means.mean(0)).max() < 4 * standard_error


def test_linear_classifier_on_pixels_stays_below_half():
  """Ridge regression on raw pixels (the best penalty chosen on validation,
  which favours the probe) must stay at or below 50% validation accuracy."""
  size, num_train, num_val = 32, 3000, 600
  def load(split, n):
    x = np.stack([shapes.example(split, i, size)[0] for i in range(n)])
    return (x.reshape(n, -1).astype(np.float64) / 255.0,
            np.arange(n) % shapes.NUM_CLASSES)
  x_train, y_train = load('train', num_train)
  x_val, y_val = load('validation', num_val)
  centre = x_train.mean(axis=0)
  x_train, x_val = x_train - centre, x_val - centre
  targets = np.eye(shapes.NUM_CLASSES)[y_train]
  gram, rhs = x_train.T @ x_train, x_train.T @ targets
  accuracy = {}
  for penalty in (1.0, 30.0, 1000.0, 30000.0):
    weights = np.linalg.solve(gram + penalty * np.eye(len(gram)), rhs)
    accuracy[penalty] = np.mean((x_val @ weights).argmax(1) == y_val)
    if penalty == 1.0:  # the probe works: it fits its own training data
      assert np.mean((x_train @ weights).argmax(1) == y_train) > 0.9
  assert max(accuracy.values()) <= 0.5, accuracy


# ------------------------------------------------------------------ worlds


def test_default_world_renders_as_before_worlds_existed():
  """Example bytes of the default world, recorded from the renderer before
  it had a World (commit 7a51457)."""
  import hashlib  # pylint: disable=g-import-not-at-top
  image = shapes.example('train', 5, 64)[0]
  assert hashlib.md5(image.tobytes()).hexdigest() == (
      'e1ebd65b778847ea923765ff3d84a5d1')
  assert shapes.World() == shapes.World.of({})


def test_more_classes_cycle_through_the_catalogue():
  world = shapes.World(num_classes=24)
  names = shapes.class_names(num_classes=24)
  assert len(names) == 24 == len(set(names))
  assert names[:12] == shapes.CLASS_NAMES
  assert not set(names) & set(shapes.NOVEL_CLASS_NAMES)
  for index in (0, 13, 23, 24, 61):
    assert shapes.example('validation', index, 32, world=world)[1] == index % 24
  with pytest.raises(Exception, match='num_classes'):
    shapes.example('train', 0, 32, world=shapes.World(
        num_classes=shape_classes.MAX_CLASSES + 1))


def _same_but(scene, other, fields):
  """Every field of two scenes equal but `fields`."""
  for field in scene._fields:
    if field not in fields:
      np.testing.assert_array_equal(getattr(scene, field),
                                    getattr(other, field))


def test_occluders_come_from_a_stream_of_their_own():
  always = shapes.World(occluders=1.0)
  for index in range(20):
    plain = shapes.example_scene('train', index, 64)
    covered = shapes.example_scene('train', index, 64, world=always)
    # Everything else about the scene is as without occluders.
    _same_but(plain, covered, ('occluders', 'occluder_colors'))
    assert len(plain.occluders) == 0 and len(covered.occluders) == 1
    kind, cy, cx, radius = covered.occluders[0, :4]
    assert kind in (0, 1, 3)
    distance = np.hypot(cy - plain.center[0], cx - plain.center[1])
    assert distance <= 0.7 * plain.radius + 1e-9
    assert 0.3 * plain.radius <= radius <= plain.radius
  # A probability p puts occluders in about p of the images.
  some = shapes.World(occluders=0.3)
  count = sum(len(shapes.example_scene('validation', i, 32,
                                       world=some).occluders)
              for i in range(600))
  assert abs(count / 600 - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 600)


def test_an_occluder_is_drawn_in_front_of_the_object():
  size = 96
  scene = shapes.example_scene('train', 3, size, world=shapes.World(
      occluders=1.0))
  colour = np.array([255.0, 0.0, 255.0])
  scene = _plain(scene, (0, 0, 0), (0, 0, 0))._replace(
      occluder_colors=colour[None])
  image = shapes.render(scene, size).image.astype(float)
  _, cy, cx = scene.occluders[0, :3]
  centre = image[int(cy * size) - 1:int(cy * size) + 2,
                 int(cx * size) - 1:int(cx * size) + 2]
  # Its colour over the black object (pixel noise has a std of 4 levels).
  assert np.abs(centre - colour).max() < 20
  # The same scene without it shows the object there.
  bare = shapes.render(scene._replace(occluders=np.zeros((0, 6)),
                                      occluder_colors=np.zeros((0, 3))),
                       size).image.astype(float)
  assert np.linalg.norm(bare[int(cy * size), int(cx * size)] - colour) > 200


def test_world_names_its_prepared_directory():
  from zfjax.data import shapes_dataset  # pylint: disable=g-import-not-at-top
  def name(*args, **kwargs):
    full = shapes_dataset._config(*args, **kwargs).name
    stem, digest = full.rsplit('_', 1)
    assert re.fullmatch('[0-9a-f]{8}', digest), full
    return stem
  assert name(64, 20_000, 2_000, 0) == '64px_train20000_val2000_seed0'
  assert name(96, 100, 10, 1, world=shapes.World(24, 0.3)) == (
      '96px_train100_val10_seed1_c24_occ0.3')
  assert name(64, 100, 10, 0, novel=True,
              world=shapes.World(24, 0.0, True)) == (
                  'novel_64px_train100_val10_seed0_dark')
  assert name(96, 100, 10, 0, world=shapes.World(96, face_breeds=True)) == (
      '96px_train100_val10_seed0_c96_breeds')
  # Each set names only the knobs that draw it.
  assert name(64, 3000, 1500, 0, novel=True,
              world=shapes.World(96, novel_classes=30)) == (
                  'novel_64px_train3000_val1500_seed0_c30')
  assert name(96, 100, 10, 0, world=shapes.World(96, novel_classes=30)) == (
      '96px_train100_val10_seed0_c96')
  # The novel classes are drawn the same with and without breeds.
  assert name(64, 100, 10, 0, novel=True,
              world=shapes.World(face_breeds=True)) == (
                  'novel_64px_train100_val10_seed0')


def test_prepared_directory_changes_when_the_drawing_does(monkeypatch):
  """A class drawn differently since a variant was prepared must not be
  served from the old directory; a class outside the world changes
  nothing."""
  from zfjax.data import shapes_dataset  # pylint: disable=g-import-not-at-top
  def name():
    return shapes_dataset._config(32, 10, 10, 0).name
  before = name()
  assert name() == before
  original = shape_classes._CLASSES

  def lower_nose(j):  # the round face with its nose 0.1 lower
    parts = original[0][1](j)
    (y0, x0), (y1, x1), (y2, x2) = parts[-1][2][0][1]
    nose = ('poly', ((y0 + 0.1, x0), (y1 + 0.1, x1), (y2 + 0.1, x2)))
    return parts[:-1] + [('nose', 'detail', [nose])]
  beyond = shapes.NUM_CLASSES  # the first class the default world lacks
  monkeypatch.setattr(shape_classes, '_CLASSES', original[:beyond] + (
      (original[beyond][0], lower_nose),) + original[beyond + 1:])
  assert name() == before
  monkeypatch.setattr(shape_classes, '_CLASSES',
                      (('round_face', lower_nose),) + original[1:])
  changed = name()
  assert changed != before
  assert changed.rsplit('_', 1)[0] == before.rsplit('_', 1)[0]


def test_face_breeds_share_the_round_face_and_change_nothing_else():
  """With face_breeds, a cat or bear face drawn where a round face is (same
  scene, jitter 0) has the round face's head and eye boxes and its own ears
  and nose; without, its head and eyes differ. Every other class draws the
  same pixels either way."""
  breeds = shapes.World(num_classes=shape_classes.MAX_CLASSES,
                        face_breeds=True)
  _, _, round_scene = shapes.example('train', 0, 96)
  round_scene = round_scene._replace(jitter=np.zeros(4), angle_deg=0.0)
  rounds = shapes.render(round_scene, 96).parts
  for name in ('cat_face', 'bear_face'):
    label = shape_classes.ALL_CLASS_NAMES.index(name)
    for knob in (True, False):
      parts = shapes.render(round_scene._replace(label=label, face_breeds=knob),
                            96).parts
      same = [np.array_equal(parts[p], rounds[p])
              for p in ('head', 'left_eye', 'right_eye')]
      assert all(same) if knob else not any(same), (name, knob)
      assert not np.array_equal(parts['nose'], rounds['nose'])
      assert 'left_ear' in parts
  plain = shapes.World(num_classes=shape_classes.MAX_CLASSES)
  changed = set()
  for index in range(shape_classes.MAX_CLASSES):
    a, label, scene = shapes.example('validation', index, 64, world=breeds)
    b, _, other = shapes.example('validation', index, 64, world=plain)
    _same_but(scene, other, ('face_breeds',))
    if not np.array_equal(a, b):
      changed.add(shape_classes.ALL_CLASS_NAMES[label])
  assert changed == {'cat_face', 'bear_face'}


def test_dark_details_are_darker_and_change_only_colours():
  dark = shapes.World(dark_details=True)
  def luminance(c):
    return float(np.dot(c, (0.299, 0.587, 0.114)))
  for index in range(40):
    plain = shapes.example_scene('train', index, 64)
    scene = shapes.example_scene('train', index, 64, world=dark)
    _same_but(plain, scene, ('body_color', 'detail_color'))
    body, detail = scene.body_color, scene.detail_color
    assert luminance(body) >= 110
    assert luminance(detail) <= luminance(body) - 100
    assert np.linalg.norm(body - scene.background) >= 120
    assert np.linalg.norm(detail - body) >= 120
