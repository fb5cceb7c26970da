"""The built-in data set's classes: objects made of named parts.

Each class is a function of 4 jitter values in [-1, 1] (small per-example
variations of the geometry) that returns the object's parts in drawing
order, in the object's own frame (a disc of radius 1, y down, x right).
`shapes` places, colours and renders them. A world uses the catalogue's
first `num_classes` (12 by default, up to 96): 24 drawn classes, then 72
composites, each one choice of outline, top, inside and bottom. The novel
classes are the transfer experiment's (ZF §5.2): objects the built-in model
never saw, made of the same kinds of parts; a world uses their first
`novel_classes` (10 by default, up to 30): 10 drawn, then 20 composites of
slots no trained class has.
"""

from __future__ import annotations

import numpy as np

from zfjax.data import novel_classes
from zfjax.data import shape_parts


_circle = shape_parts.circle
_mirror = shape_parts.mirror
_pair = shape_parts.pair


# Each class: a function of 4 jitter values in [-1, 1] (small per-example
# variations of the geometry) returning the parts in drawing order as
# (name, colour role, primitives); `shape_parts` lists the primitives.
# Named parts are never covered by parts drawn after them, so a part's box is
# where it is visible. Every class is its own mirror image, so horizontal
# flips keep labels.
def _round_face(j):
  eye = _circle(-0.25, -0.32 - 0.04 * j[0], 0.15 + 0.02 * j[1])
  nose = ('poly', ((-0.02, 0.0), (0.3 + 0.05 * j[2], -0.15), (0.3 + 0.05 * j[2], 0.15)))
  return ([('head', 'body', [('ellipse', 0.0, 0.0, 0.9, 0.8 + 0.05 * j[3], 0.0)])]
          + _pair('eye', eye) + [('nose', 'detail', [nose])])


def _square_face(j):
  eye = _circle(-0.22, -0.3 - 0.04 * j[0], 0.14 + 0.02 * j[1])
  mouth = ('box', 0.36 + 0.04 * j[2], 0.0, 0.07, 0.3 + 0.05 * j[3], 0.04, 0.0)
  return ([('head', 'body', [('box', 0.0, 0.0, 0.68, 0.66, 0.16, 0.0)])]
          + _pair('eye', eye) + [('mouth', 'detail', [mouth])])


def _cat_face(j):
  ear = ('poly', ((-0.9, -0.55 - 0.05 * j[0]), (-0.25, -0.68), (-0.38, -0.1)))
  eye = _circle(0.08, -0.27 - 0.03 * j[1], 0.13 + 0.02 * j[2])
  nose = ('poly', ((0.3, -0.1), (0.3, 0.1), (0.42 + 0.04 * j[3], 0.0)))
  return ([('head', 'body', [_circle(0.15, 0.0, 0.7)]),
           ('left_ear', 'body', [ear]),
           ('right_ear', 'body', [_mirror(ear)])]
          + _pair('eye', eye) + [('nose', 'detail', [nose])])


def _house(j):
  roof_base = -0.15 + 0.05 * j[0]
  return [('walls', 'body', [('box', 0.3, 0.0, 0.45, 0.55 + 0.05 * j[1], 0.0, 0.0)]),
          ('roof', 'detail', [('poly', ((-0.85, 0.0), (roof_base, -0.75),
                                        (roof_base, 0.75)))]),
          ('door', 'detail', [('box', 0.5, 0.0, 0.25, 0.13 + 0.03 * j[2], 0.0, 0.0)])]


def _pine_tree(j):
  top = ('poly', ((-0.92, 0.0), (-0.2, -0.45 - 0.05 * j[0]), (-0.2, 0.45 + 0.05 * j[0])))
  bottom = ('poly', ((-0.5, 0.0), (0.38, -0.75 + 0.05 * j[1]), (0.38, 0.75 - 0.05 * j[1])))
  trunk = ('box', 0.6, 0.0, 0.24, 0.13 + 0.03 * j[2], 0.0, 0.0)
  return [('crown', 'body', [top, bottom]), ('trunk', 'detail', [trunk])]


def _car(j):
  cabin = ('poly', ((-0.12, -0.55), (-0.12, 0.55), (-0.5 - 0.05 * j[0], 0.3),
                    (-0.5 - 0.05 * j[0], -0.3)))
  wheel = _circle(0.38, -0.5 - 0.05 * j[1], 0.22 + 0.02 * j[2])
  return ([('body', 'body', [('box', 0.1, 0.0, 0.25, 0.88, 0.1, 0.0)]),
           ('cabin', 'body', [cabin])] + _pair('wheel', wheel))


def _snowman(j):
  return [('base', 'body', [_circle(0.55, 0.0, 0.4)]),
          ('torso', 'body', [_circle(0.0 + 0.03 * j[0], 0.0, 0.3 + 0.02 * j[1])]),
          ('head', 'body', [_circle(-0.48, 0.0, 0.22 + 0.02 * j[2])]),
          ('hat', 'detail', [('box', -0.77, 0.0, 0.09, 0.2 + 0.04 * j[3], 0.0, 0.0)])]


def _dumbbell(j):
  weight = ('box', 0.0, -0.65, 0.45 + 0.04 * j[0], 0.15, 0.05, 0.0)
  return [('bar', 'detail', [('box', 0.0, 0.0, 0.07 + 0.02 * j[1], 0.55, 0.0, 0.0)]),
          ('left_weight', 'body', [weight]),
          ('right_weight', 'body', [_mirror(weight)])]


def _flower(j):
  petals = [('ellipse', 0.58 * np.sin(a), 0.58 * np.cos(a), 0.17 + 0.03 * j[0],
             0.36, -a) for a in np.arange(6) * np.pi / 3 + np.pi / 2]
  return [('petals', 'body', petals),
          ('centre', 'detail', [_circle(0.0, 0.0, 0.25 + 0.03 * j[1])])]


def _plus(j):
  w = 0.18 + 0.03 * j[0]
  return [('vertical_bar', 'body', [('box', 0.0, 0.0, 0.88, w, 0.0, 0.0)]),
          ('horizontal_bar', 'body', [('box', 0.0, 0.0, w, 0.88, 0.0, 0.0)]),
          ('hub', 'detail', [_circle(0.0, 0.0, 0.2 + 0.03 * j[1])])]


def _target(j):
  return [('outer_ring', 'body', [('ring', 0.0, 0.0, 0.8, 0.13 + 0.02 * j[0])]),
          ('inner_ring', 'body', [('ring', 0.0, 0.0, 0.45, 0.12 + 0.02 * j[1])]),
          ('bullseye', 'detail', [_circle(0.0, 0.0, 0.17 + 0.02 * j[2])])]


def _mushroom(j):
  phi = np.linspace(0.0, np.pi, 13)
  height = 0.65 + 0.05 * j[0]
  cap = ('poly', tuple(zip(-0.1 - height * np.sin(phi), 0.85 * np.cos(phi))))
  stem = ('box', 0.35, 0.0, 0.45, 0.2 + 0.04 * j[1], 0.05, 0.0)
  return [('stem', 'detail', [stem]), ('cap', 'body', [cap])]


# Classes 13-24 (config.shapes.num_classes = 24): more faces that share the
# first faces' parts (eyes, noses, mouths, ears) and differ in one or two of
# them, and objects of more parts. A net must then find the part that tells
# two faces apart, as ImageNet's many dog breeds make ZF's net do.
def _smiley(j):
  eye = _circle(-0.25, -0.3 - 0.04 * j[0], 0.13 + 0.02 * j[1])
  mouth = ('box', 0.4 + 0.04 * j[2], 0.0, 0.08, 0.34 + 0.05 * j[3], 0.07, 0.0)
  return ([('head', 'body', [('ellipse', 0.0, 0.0, 0.9, 0.85, 0.0)])]
          + _pair('eye', eye) + [('mouth', 'detail', [mouth])])


def _bear_face(j):
  ear = _circle(-0.58, -0.56 - 0.03 * j[0], 0.24 + 0.02 * j[1])
  eye = _circle(-0.05, -0.28, 0.11 + 0.02 * j[2])
  nose = ('ellipse', 0.35, 0.0, 0.13, 0.18 + 0.03 * j[3], 0.0)
  return ([('head', 'body', [_circle(0.12, 0.0, 0.72)]),
           ('left_ear', 'body', [ear]), ('right_ear', 'body', [_mirror(ear)])]
          + _pair('eye', eye) + [('nose', 'detail', [nose])])


# Breeds of one face (`shapes.World.face_breeds`): cat_face and bear_face
# drawn on round_face's head and eyes, told apart from it by their ears and
# noses alone, as ImageNet's dog breeds share a dog's eyes and head. With
# faces of their own (the default) the three classes' eyes did not
# correspond at the top conv layer on any fidelity net, where ZF Table 1
# finds the parts of different dogs corresponding (docs/claims.md, "Claim
# 6").
def _cat_breed(j):
  ear = ('poly', ((-0.97, -0.6 - 0.05 * j[0]), (-0.3, -0.66), (-0.55, -0.1)))
  eye = _circle(-0.25, -0.32 - 0.04 * j[1], 0.15 + 0.02 * j[2])
  nose = ('poly', ((0.3, -0.1), (0.3, 0.1), (0.42 + 0.04 * j[3], 0.0)))
  return ([('head', 'body', [('ellipse', 0.0, 0.0, 0.9, 0.8, 0.0)]),
           ('left_ear', 'body', [ear]),
           ('right_ear', 'body', [_mirror(ear)])]
          + _pair('eye', eye) + [('nose', 'detail', [nose])])


def _bear_breed(j):
  ear = _circle(-0.58, -0.56 - 0.03 * j[0], 0.24 + 0.02 * j[1])
  eye = _circle(-0.25, -0.32, 0.15 + 0.02 * j[2])
  nose = ('ellipse', 0.35, 0.0, 0.13, 0.18 + 0.03 * j[3], 0.0)
  return ([('head', 'body', [('ellipse', 0.0, 0.0, 0.9, 0.8, 0.0)]),
           ('left_ear', 'body', [ear]), ('right_ear', 'body', [_mirror(ear)])]
          + _pair('eye', eye) + [('nose', 'detail', [nose])])


_BREEDS = {'cat_face': _cat_breed, 'bear_face': _bear_breed}


def _frog_face(j):
  eye = _circle(-0.42, -0.45 - 0.04 * j[0], 0.2 + 0.02 * j[1])
  mouth = ('box', 0.38 + 0.04 * j[2], 0.0, 0.05, 0.58 + 0.05 * j[3], 0.0, 0.0)
  return ([('head', 'body', [('ellipse', 0.12, 0.0, 0.62, 0.92, 0.0)])]
          + _pair('eye', eye) + [('mouth', 'detail', [mouth])])


def _pig_face(j):
  eye = _circle(-0.32, -0.32 - 0.03 * j[0], 0.1 + 0.02 * j[1])
  snout = ('ellipse', 0.22, 0.0, 0.24 + 0.03 * j[2], 0.36, 0.0)
  nostril = _circle(0.22, -0.13 - 0.02 * j[3], 0.07)
  return ([('head', 'body', [_circle(0.0, 0.0, 0.88)])]
          + _pair('eye', eye) + [('snout', 'detail', [snout]),
                                 ('nostrils', 'body', [nostril, _mirror(nostril)])])


def _alien_face(j):
  eye = _circle(-0.2, 0.0, 0.27 + 0.03 * j[0])
  mouth = ('box', 0.45 + 0.04 * j[1], 0.0, 0.06, 0.28 + 0.05 * j[2], 0.0, 0.0)
  return [('head', 'body', [('ellipse', 0.0, 0.0, 0.92, 0.68 + 0.04 * j[3], 0.0)]),
          ('eye', 'detail', [eye]), ('mouth', 'detail', [mouth])]


def _traffic_light(j):
  lights = [(name, 'detail', [_circle(y, 0.0, 0.21 + 0.02 * j[0])])
            for name, y in (('top_light', -0.56), ('middle_light', 0.0),
                            ('bottom_light', 0.56))]
  return [('housing', 'body', [('box', 0.0, 0.0, 0.9, 0.36 + 0.03 * j[1], 0.1, 0.0)])] + lights


def _wine_glass(j):
  return [('bowl', 'body', [('ellipse', -0.42, 0.0, 0.42, 0.5 + 0.04 * j[0], 0.0)]),
          ('stem', 'detail', [('box', 0.28, 0.0, 0.32, 0.06 + 0.02 * j[1], 0.0, 0.0)]),
          ('foot', 'detail', [('box', 0.64, 0.0, 0.07, 0.42 + 0.04 * j[2], 0.03, 0.0)])]


def _ladder(j):
  rail = ('box', 0.0, -0.42 - 0.04 * j[0], 0.9, 0.07, 0.0, 0.0)
  rungs = [('box', y, 0.0, 0.06 + 0.01 * j[1], 0.42, 0.0, 0.0)
           for y in (-0.5, 0.0, 0.5)]
  return [('rungs', 'detail', rungs), ('left_rail', 'body', [rail]),
          ('right_rail', 'body', [_mirror(rail)])]


def _heart(j):
  lobe = _circle(-0.28, -0.36 - 0.03 * j[0], 0.4)
  point = ('poly', ((-0.3, -0.74), (-0.3, 0.74), (0.85 + 0.05 * j[1], 0.0)))
  return [('lobes', 'body', [lobe, _mirror(lobe)]), ('point', 'body', [point]),
          ('spot', 'detail', [_circle(-0.1, 0.0, 0.15 + 0.03 * j[2])])]


def _spider(j):
  legs = [('box', 0.1, 0.0, 0.04, 0.88, 0.0, a)
          for a in np.deg2rad([25.0, -25.0, 60.0 + 5 * j[0], -60.0 - 5 * j[0]])]
  return [('legs', 'detail', legs),
          ('abdomen', 'body', [_circle(0.2, 0.0, 0.34 + 0.03 * j[1])]),
          ('head', 'body', [_circle(-0.32, 0.0, 0.2 + 0.02 * j[2])])]


def _butterfly(j):
  upper = ('ellipse', -0.3, -0.45, 0.3 + 0.03 * j[0], 0.42, 0.5)
  lower = ('ellipse', 0.38, -0.35, 0.22 + 0.03 * j[1], 0.3, -0.5)
  return [('left_upper_wing', 'body', [upper]),
          ('right_upper_wing', 'body', [_mirror(upper)]),
          ('left_lower_wing', 'body', [lower]),
          ('right_lower_wing', 'body', [_mirror(lower)]),
          ('thorax', 'detail', [('box', 0.0, 0.0, 0.7, 0.08 + 0.02 * j[2], 0.06, 0.0)])]


def _castle(j):
  merlons = [('box', -0.6, x, 0.15, 0.13, 0.0, 0.0) for x in (-0.6, 0.0, 0.6)]
  return [('walls', 'body', [('box', 0.15, 0.0, 0.6, 0.73 + 0.03 * j[0], 0.0, 0.0)]),
          ('battlements', 'body', merlons),
          ('gate', 'detail', [('box', 0.5, 0.0, 0.25, 0.18 + 0.03 * j[1], 0.15, 0.0)]),
          ('window', 'detail', [_circle(-0.1, 0.0, 0.12 + 0.02 * j[2])])]


# Classes 25-96: composites. Each is one choice per slot -- an outline (the
# body), something on top, something inside, something below -- so that
# many classes share each part and differ in others, as ImageNet's 1,000
# classes share wheels, eyes and legs. With only 24 classes the top layers
# learnt features specific to them, and on the novel classes a linear SVM
# did best on conv4 (ZF §5.2 found the top layers best: docs/claims.md).
# Every slot is mirror-symmetric; top and bottom differ, so no composite
# looks the same turned by half a turn. No slot is a novel class's
# distinctive part (antennas, rings, sticks), so the novel classes stay new.
_OUTLINES = {
    'oval': lambda j: [('ellipse', 0.0, 0.0, 0.5, 0.78 + 0.04 * j, 0.0)],
    'block': lambda j: [('box', 0.0, 0.0, 0.5, 0.7 + 0.04 * j, 0.12, 0.0)],
    'disc': lambda j: [_circle(0.0, 0.0, 0.55 + 0.03 * j)],
    'diamond': lambda j: [('poly', ((-0.6, 0.0), (0.0, -0.8 - 0.04 * j),
                                    (0.6, 0.0), (0.0, 0.8 + 0.04 * j)))],
    'hexagon': lambda j: [('poly', ((-0.55, -0.35), (-0.55, 0.35),
                                    (0.0, 0.75 + 0.04 * j), (0.55, 0.35),
                                    (0.55, -0.35), (0.0, -0.75 - 0.04 * j)))],
    'pill': lambda j: [('box', 0.0, 0.0, 0.45, 0.85, 0.4 + 0.03 * j, 0.0)],
}
_TOPS = {
    'none': lambda j: [],
    'ears': lambda j: [_circle(-0.6, -0.45 - 0.03 * j, 0.2),
                       _circle(-0.6, 0.45 + 0.03 * j, 0.2)],
    'horns': lambda j: [('poly', ((-0.4, -0.5), (-0.4, -0.2),
                                  (-0.95, -0.5 - 0.05 * j))),
                        ('poly', ((-0.4, 0.5), (-0.4, 0.2),
                                  (-0.95, 0.5 + 0.05 * j)))],
    'hat': lambda j: [('box', -0.68, 0.0, 0.2, 0.32 + 0.03 * j, 0.0, 0.0)],
    'spike': lambda j: [('poly', ((-0.4, -0.2), (-0.4, 0.2),
                                  (-0.95 - 0.03 * j, 0.0)))],
}
_INSIDES = {
    'eyes': lambda j: [_circle(-0.12, -0.3, 0.13 + 0.02 * j),
                       _circle(-0.12, 0.3, 0.13 + 0.02 * j)],
    'bar': lambda j: [('box', 0.1, 0.0, 0.08, 0.42 + 0.04 * j, 0.0, 0.0)],
    'dot': lambda j: [_circle(0.05, 0.0, 0.2 + 0.02 * j)],
    'slot': lambda j: [('box', 0.0, 0.0, 0.3 + 0.03 * j, 0.08, 0.0, 0.0)],
    'squares': lambda j: [('box', 0.1, -0.3, 0.12, 0.12 + 0.02 * j, 0.0, 0.0),
                          ('box', 0.1, 0.3, 0.12, 0.12 + 0.02 * j, 0.0, 0.0)],
    'triangle': lambda j: [('poly', ((-0.25, 0.0), (0.25, -0.28 - 0.03 * j),
                                     (0.25, 0.28 + 0.03 * j)))],
}
_BOTTOMS = {
    'none': lambda j: [],
    'legs': lambda j: [('box', 0.72, -0.35, 0.24, 0.07 + 0.02 * j, 0.0, 0.0),
                       ('box', 0.72, 0.35, 0.24, 0.07 + 0.02 * j, 0.0, 0.0)],
    'feet': lambda j: [('ellipse', 0.62, -0.4, 0.13, 0.24 + 0.03 * j, 0.0),
                       ('ellipse', 0.62, 0.4, 0.13, 0.24 + 0.03 * j, 0.0)],
    'base': lambda j: [('box', 0.76, 0.0, 0.1, 0.6 + 0.04 * j, 0.0, 0.0)],
    'tail': lambda j: [('poly', ((0.4, -0.12), (0.4, 0.12),
                                 (0.92 + 0.03 * j, 0.0)))],
}
NUM_COMPOSITES = 72


_SLOTS = (_OUTLINES, _TOPS, _INSIDES, _BOTTOMS)
_COMPOSITES = shape_parts.composites(_SLOTS, NUM_COMPOSITES, seed=0)


_CLASSES = (
    ('round_face', _round_face),
    ('square_face', _square_face),
    ('cat_face', _cat_face),
    ('house', _house),
    ('pine_tree', _pine_tree),
    ('car', _car),
    ('snowman', _snowman),
    ('dumbbell', _dumbbell),
    ('flower', _flower),
    ('plus', _plus),
    ('target', _target),
    ('mushroom', _mushroom),
    ('smiley', _smiley),
    ('bear_face', _bear_face),
    ('frog_face', _frog_face),
    ('pig_face', _pig_face),
    ('alien_face', _alien_face),
    ('traffic_light', _traffic_light),
    ('wine_glass', _wine_glass),
    ('ladder', _ladder),
    ('heart', _heart),
    ('spider', _spider),
    ('butterfly', _butterfly),
    ('castle', _castle),
) + _COMPOSITES
# The catalogue; a world uses its first `num_classes` (`shapes.World`).
ALL_CLASS_NAMES: tuple[str, ...] = tuple(name for name, _ in _CLASSES)
MAX_CLASSES = len(ALL_CLASS_NAMES)
# The first 12: the default world's classes.
NUM_CLASSES = 12
CLASS_NAMES: tuple[str, ...] = ALL_CLASS_NAMES[:NUM_CLASSES]
# Parts per class of the whole catalogue, indexed by label.
PART_NAMES: tuple[tuple[str, ...], ...] = shape_parts.part_names(_CLASSES)
MAX_PARTS = max(len(names) for names in PART_NAMES)
# Rotational symmetry of each class's outline and parts (with any jitter): 1
# none, k the object is unchanged by turns of 360/k degrees, 0 by any turn.
# ZF Fig. 5: rotation lowers p(true class) except for such objects. (The
# flower's petals sit 6-fold but lie at angles that repeat only every half
# turn.)
SYMMETRY: dict[str, int] = {'dumbbell': 2, 'flower': 2, 'plus': 4,
                            'target': 0, 'traffic_light': 2, 'ladder': 2}


# The novel classes (`novel_classes`), by the names this module always had.
NOVEL_CLASS_NAMES = novel_classes.NAMES
NUM_NOVEL_CLASSES = novel_classes.NUM_CLASSES
MAX_NOVEL_CLASSES = novel_classes.MAX_CLASSES
ALL_NOVEL_CLASS_NAMES = novel_classes.ALL_NAMES
NOVEL_PART_NAMES = novel_classes.PART_NAMES


def class_names(novel: bool = False, num_classes: int | None = None
                ) -> tuple[str, ...]:
  """The names of a world's first `num_classes` built-in classes (default
  12), or of its first novel ones (default 10)."""
  if novel:
    return ALL_NOVEL_CLASS_NAMES[:num_classes or NUM_NOVEL_CLASSES]
  return ALL_CLASS_NAMES[:num_classes or NUM_CLASSES]


def symmetry(name: str) -> int:
  """Class `name`'s rotational symmetry order (`SYMMETRY`; 1 for none)."""
  return SYMMETRY.get(name, 1)


def part_names(novel: bool = False) -> tuple[tuple[str, ...], ...]:
  """Part names by label: of the whole catalogue, or of the novel classes."""
  return NOVEL_PART_NAMES if novel else PART_NAMES


def parts(label: int, jitter: np.ndarray, *, novel: bool = False,
          face_breeds: bool = False) -> list:
  """Class `label`'s parts for one example's `jitter` (4,): (name, colour
  role, primitives) in drawing order. face_breeds: cat_face and bear_face
  as breeds of round_face (`_BREEDS`), with the same part names."""
  name, draw = (novel_classes.CLASSES if novel else _CLASSES)[label]
  if face_breeds and not novel:
    draw = _BREEDS.get(name, draw)
  return draw(jitter)
