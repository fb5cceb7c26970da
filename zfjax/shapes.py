"""Procedural images with ground truth: objects made of named parts on clutter.

The built-in data set of zfjax (`zfjax_shapes`, see `shapes_dataset`). Pure
numpy and deterministic: one example is a function of (seed, split, index)
alone, so `example` re-creates exactly the pixels stored in the TFDS split.

An object is drawn in its own frame, a disc of radius 1 (y down, x right),
from parts that are unions of primitive shapes (ellipses, rounded boxes, convex
polygons, rings), each with a signed distance function; coverage of a pixel is
the signed distance in pixels clipped to [0, 1] around 0.5, which anti-aliases
the edges. The frame is placed at a random centre, radius and rotation. Colour
carries no class information: every object has a random body colour and a
random detail colour that contrasts with it, over a background of smooth
colour noise, a random grating and random clutter shapes. Classes therefore
differ only in the shape and arrangement of their parts.

Boxes are pixel (y0, x0, y1, x1) with exclusive ends, so that
`image[y0:y1, x0:x1]` is the box; a pixel belongs to a part when the part
covers at least half of it. A part moved entirely out of the frame (only
possible under `render`'s transforms) has an empty box, (0, 0, 0, 0).
"""

from __future__ import annotations

import pickle
import struct
import sys
import zlib
from typing import NamedTuple, Sequence

import numpy as np

from zfjax.errors import ZfjaxError

# Split ids in the seed of every example; the split sizes play no part, so
# example i is the same whatever the number of examples prepared.
SPLITS = {'train': 0, 'validation': 1}
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 224
# Objects stay inside the central 7/8 of the image, the region a centre crop
# of 0.875 (56 of 64, as 224 of 256) keeps.
_MARGIN = 1 / 16
_RADIUS_RANGE = (0.24, 0.36)  # object radius, fraction of the image size
_MAX_ANGLE_DEG = 20.0
_NOISE_STD = 4.0  # grey levels
_GRID = 5  # control points per side of the smooth background colour noise


def _circle(cy, cx, r):
  return ('ellipse', cy, cx, r, r, 0.0)


def _mirror(prim):
  """The primitive reflected across the vertical axis x = 0."""
  kind = prim[0]
  if kind == 'poly':
    return ('poly', tuple((y, -x) for y, x in prim[1]))
  if kind in ('ellipse', 'box'):
    return (kind, prim[1], -prim[2]) + prim[3:-1] + (-prim[-1],)
  return (kind, prim[1], -prim[2]) + prim[3:]


def _pair(name, prim):
  """Left and right parts; left is the one at smaller x before rotation."""
  return [(f'left_{name}', 'detail', [prim]),
          (f'right_{name}', 'detail', [_mirror(prim)])]


# Each class: a function of 4 jitter values in [-1, 1] (small per-example
# variations of the geometry) returning the parts in drawing order as
# (name, colour role, primitives). Primitives, in object units:
#   ('ellipse', cy, cx, ry, rx, angle_rad)
#   ('box', cy, cx, half_height, half_width, corner_radius, angle_rad)
#   ('poly', ((y, x), ...))  convex, either winding
#   ('ring', cy, cx, radius, half_width)
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
)
CLASS_NAMES: tuple[str, ...] = tuple(name for name, _ in _CLASSES)
NUM_CLASSES = len(CLASS_NAMES)
# Two eyes and a nose or mouth: the parts the correspondence experiment masks.
FACE_CLASSES: tuple[int, ...] = (0, 1, 2)
PART_NAMES: tuple[tuple[str, ...], ...] = tuple(
    tuple(part[0] for part in fn(np.zeros(4))) for _, fn in _CLASSES)
MAX_PARTS = max(len(names) for names in PART_NAMES)


# Novel classes for the transfer experiment (ZF §5.2): objects the built-in
# model never saw, made of the same kinds of parts (heads, eyes, bars, discs,
# rings, triangles), also their own mirror images. Set `novel` in a Scene.
def _owl_face(j):
  tuft = ('poly', ((-0.95, -0.5 - 0.05 * j[0]), (-0.45, -0.62), (-0.5, -0.2)))
  eye = ('ring', -0.1, -0.3 - 0.03 * j[1], 0.16 + 0.02 * j[2], 0.06)
  beak = ('poly', ((0.12, -0.1), (0.12, 0.1), (0.45 + 0.05 * j[3], 0.0)))
  return ([('head', 'body', [('ellipse', 0.1, 0.0, 0.8, 0.7, 0.0)]),
           ('left_tuft', 'body', [tuft]), ('right_tuft', 'body', [_mirror(tuft)])]
          + _pair('eye', eye) + [('beak', 'detail', [beak])])


def _robot_face(j):
  eye = ('box', -0.15, -0.3 - 0.03 * j[0], 0.12, 0.12 + 0.02 * j[1], 0.0, 0.0)
  return ([('head', 'body', [('box', 0.15, 0.0, 0.62, 0.7, 0.0, 0.0)]),
           ('antenna', 'detail', [('box', -0.72, 0.0, 0.22, 0.05, 0.0, 0.0),
                                  _circle(-0.88, 0.0, 0.1 + 0.02 * j[2])])]
          + _pair('eye', eye)
          + [('mouth', 'detail', [('box', 0.45, 0.0, 0.06, 0.4 + 0.04 * j[3],
                                   0.0, 0.0)])])


def _lollipop(j):
  return [('stick', 'detail', [('box', 0.45, 0.0, 0.5, 0.06 + 0.02 * j[0], 0.0, 0.0)]),
          ('candy', 'body', [_circle(-0.4, 0.0, 0.5 + 0.04 * j[1])]),
          ('swirl', 'detail', [('ring', -0.4, 0.0, 0.26 + 0.03 * j[2], 0.06)])]


def _hourglass(j):
  waist = 0.06 + 0.03 * j[0]
  return [('top_bulb', 'body', [('poly', ((-0.7, -0.5), (-0.7, 0.5), (0.0, waist), (0.0, -waist)))]),
          ('bottom_bulb', 'body', [('poly', ((0.7, -0.5), (0.7, 0.5), (0.0, waist), (0.0, -waist)))]),
          ('top_cap', 'detail', [('box', -0.8, 0.0, 0.1, 0.65 + 0.04 * j[1], 0.0, 0.0)]),
          ('bottom_cap', 'detail', [('box', 0.8, 0.0, 0.1, 0.65 + 0.04 * j[1], 0.0, 0.0)])]


def _umbrella(j):
  phi = np.linspace(0.0, np.pi, 13)
  canopy = ('poly', tuple(zip(-0.05 - (0.45 + 0.05 * j[0]) * np.sin(phi),
                              0.92 * np.cos(phi))))
  return [('canopy', 'body', [canopy]),
          ('handle', 'detail', [('box', 0.4, 0.0, 0.45, 0.05 + 0.02 * j[1], 0.0, 0.0),
                                ('box', 0.82, 0.0, 0.06, 0.2, 0.0, 0.0)])]


def _rocket(j):
  fin = ('poly', ((0.25, -0.25), (0.8, -0.25), (0.85, -0.6 - 0.05 * j[0])))
  return ([('hull', 'body', [('box', 0.2, 0.0, 0.6, 0.25 + 0.03 * j[1], 0.05, 0.0)]),
           ('nose_cone', 'detail', [('poly', ((-0.95, 0.0), (-0.4, -0.25), (-0.4, 0.25)))]),
           ('window', 'detail', [_circle(-0.1, 0.0, 0.12 + 0.02 * j[2])])]
          + [('left_fin', 'detail', [fin]), ('right_fin', 'detail', [_mirror(fin)])])


def _bowtie(j):
  wing = ('poly', ((0.0, -0.1), (-0.5 - 0.05 * j[0], -0.85), (0.5 + 0.05 * j[0], -0.85)))
  return [('left_wing', 'body', [wing]), ('right_wing', 'body', [_mirror(wing)]),
          ('knot', 'detail', [_circle(0.0, 0.0, 0.2 + 0.03 * j[1])])]


def _table(j):
  leg = ('box', 0.3, -0.6 - 0.04 * j[0], 0.5, 0.08, 0.0, 0.0)
  return [('top', 'body', [('box', -0.3, 0.0, 0.12 + 0.02 * j[1], 0.85, 0.0, 0.0)]),
          ('left_leg', 'detail', [leg]), ('right_leg', 'detail', [_mirror(leg)])]


def _star(j):
  up = ('poly', ((-0.9, 0.0), (0.45, -0.78), (0.45, 0.78)))
  down = ('poly', ((0.9, 0.0), (-0.45, -0.78), (-0.45, 0.78)))
  return [('star', 'body', [up, down]),
          ('centre', 'detail', [_circle(0.0, 0.0, 0.2 + 0.03 * j[0])])]


def _sun(j):
  rays = [('box', 0.0, 0.0, 0.9, 0.07, 0.0, a) for a in np.arange(4) * np.pi / 4]
  return [('rays', 'detail', rays),
          ('disc', 'body', [_circle(0.0, 0.0, 0.5 + 0.04 * j[0])]),
          ('halo', 'detail', [('ring', 0.0, 0.0, 0.3, 0.05 + 0.01 * j[1])])]


_NOVEL_CLASSES = (
    ('owl_face', _owl_face),
    ('robot_face', _robot_face),
    ('lollipop', _lollipop),
    ('hourglass', _hourglass),
    ('umbrella', _umbrella),
    ('rocket', _rocket),
    ('bowtie', _bowtie),
    ('table', _table),
    ('star', _star),
    ('sun', _sun),
)
NOVEL_CLASS_NAMES: tuple[str, ...] = tuple(name for name, _ in _NOVEL_CLASSES)
NUM_NOVEL_CLASSES = len(NOVEL_CLASS_NAMES)
NOVEL_PART_NAMES: tuple[tuple[str, ...], ...] = tuple(
    tuple(part[0] for part in fn(np.zeros(4))) for _, fn in _NOVEL_CLASSES)


def class_names(novel: bool = False) -> tuple[str, ...]:
  """The names of the built-in classes, or of the novel ones."""
  return NOVEL_CLASS_NAMES if novel else CLASS_NAMES


def part_names(novel: bool = False) -> tuple[tuple[str, ...], ...]:
  return NOVEL_PART_NAMES if novel else PART_NAMES


class Scene(NamedTuple):
  """Everything that defines one example, independent of the image size.

  Positions and sizes are fractions of the image side, colours RGB in 0..255.
  """
  label: int
  center: np.ndarray        # (2,) object centre (y, x)
  radius: float             # radius of the object's unit disc
  angle_deg: float          # counter-clockwise on screen
  jitter: np.ndarray        # (4,) in [-1, 1], the class's geometry variations
  body_color: np.ndarray    # (3,)
  detail_color: np.ndarray  # (3,)
  background: np.ndarray    # (3,) mean background colour
  grid: np.ndarray          # (_GRID, _GRID, 3) smooth colour noise, grey levels
  grating: np.ndarray       # (4,) amplitude, cycles per image, orientation, phase
  grating_color: np.ndarray  # (3,) unit RGB direction of the grating
  clutter: np.ndarray       # (K, 6) kind, cy, cx, radius, angle_rad, aspect
  clutter_colors: np.ndarray  # (K, 3)
  noise_seed: int           # per-pixel noise, drawn at the rendered size
  novel: bool = False       # label indexes the novel classes


class Rendered(NamedTuple):
  image: np.ndarray  # (S, S, 3) uint8
  box: np.ndarray    # (4,) int32 object box
  parts: dict[str, np.ndarray]  # part name -> (4,) int32 box


def _rng(rng_or_seed) -> np.random.Generator:
  if isinstance(rng_or_seed, np.random.Generator):
    return rng_or_seed
  return np.random.default_rng(rng_or_seed)


def _contrasting_color(rng, other, min_distance):
  """A uniform random RGB colour at least `min_distance` away from `other`."""
  while True:
    color = rng.uniform(0, 255, 3)
    if np.linalg.norm(color - other) >= min_distance:
      return color


def check_image_size(image_size: int) -> None:
  if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
    raise ZfjaxError(f'zfjax_shapes image_size must be in [{MIN_IMAGE_SIZE}, '
                     f'{MAX_IMAGE_SIZE}], got {image_size}; fix config.shapes.image_size')


def sample_scene(rng_or_seed, label: int, image_size: int, *,
                 novel: bool = False) -> Scene:
  """Draws a random scene of class `label`.

  Args:
    rng_or_seed: a numpy Generator (advanced in place) or a seed for one.
    label: class index in [0, NUM_CLASSES), or in [0, NUM_NOVEL_CLASSES)
      with `novel`.
    image_size: the side in pixels the scene is meant for; the object keeps
      one pixel clear of the central 7/8 region's edge at this size.
  """
  check_image_size(image_size)
  rng = _rng(rng_or_seed)
  radius = rng.uniform(*_RADIUS_RANGE)
  lo = _MARGIN + radius + 1 / image_size
  center = rng.uniform(lo, 1 - lo, 2)
  background = rng.uniform(40, 215, 3)
  body = _contrasting_color(rng, background, 120.0)
  detail = _contrasting_color(rng, body, 120.0)
  grating_color = rng.normal(size=3)
  num_clutter = rng.integers(3, 8)
  clutter = np.stack([
      rng.integers(0, 4, num_clutter),        # ellipse, box, triangle, bar
      rng.uniform(0, 1, num_clutter),         # cy
      rng.uniform(0, 1, num_clutter),         # cx
      rng.uniform(0.02, 0.06, num_clutter),   # radius
      rng.uniform(0, np.pi, num_clutter),     # angle
      rng.uniform(0.4, 1.0, num_clutter),     # aspect
  ], axis=1)
  return Scene(
      label=int(label),
      center=center,
      radius=float(radius),
      angle_deg=float(rng.uniform(-_MAX_ANGLE_DEG, _MAX_ANGLE_DEG)),
      jitter=rng.uniform(-1, 1, 4),
      body_color=body,
      detail_color=detail,
      background=background,
      grid=rng.normal(0, 15, (_GRID, _GRID, 3)),
      grating=np.array([rng.uniform(0, 15), rng.uniform(2, 8),
                        rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)]),
      grating_color=grating_color / np.linalg.norm(grating_color),
      clutter=clutter,
      clutter_colors=rng.uniform(0, 255, (num_clutter, 3)),
      noise_seed=int(rng.integers(2**31)),
      novel=novel,
  )


def _sdf(prim, y, x):
  """Signed distance (negative inside) from points (y, x) to a primitive."""
  kind = prim[0]
  if kind == 'ellipse':
    _, cy, cx, ry, rx, a = prim
    c, s = np.cos(a), np.sin(a)
    u, v = (y - cy) * c - (x - cx) * s, (y - cy) * s + (x - cx) * c
    # Exact for circles; for ellipses a first-order distance, which is all
    # the one-pixel anti-aliasing band needs.
    return (np.sqrt((u / ry)**2 + (v / rx)**2) - 1) * min(ry, rx)
  if kind == 'box':
    _, cy, cx, hy, hx, corner, a = prim
    c, s = np.cos(a), np.sin(a)
    u, v = (y - cy) * c - (x - cx) * s, (y - cy) * s + (x - cx) * c
    qy, qx = np.abs(u) - hy + corner, np.abs(v) - hx + corner
    outside = np.sqrt(np.maximum(qy, 0)**2 + np.maximum(qx, 0)**2)
    return outside + np.minimum(np.maximum(qy, qx), 0) - corner
  if kind == 'poly':
    pts = np.asarray(prim[1], np.float64)
    edges = np.roll(pts, -1, axis=0) - pts
    normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    if np.sum(normals * (pts.mean(0) - pts)) > 0:  # make them point outwards
      normals = -normals
    # Distance to the farthest edge line: exact inside, and off by less than
    # the corner rounding outside, again enough for anti-aliasing.
    d = ((y[..., None] - pts[:, 0]) * normals[:, 0]
         + (x[..., None] - pts[:, 1]) * normals[:, 1])
    return d.max(axis=-1)
  if kind == 'ring':
    _, cy, cx, r, half_width = prim
    return np.abs(np.sqrt((y - cy)**2 + (x - cx)**2) - r) - half_width
  raise ValueError(f'unknown primitive {kind}')


def _coverage(prims: Sequence[tuple], y, x, pixels_per_unit: float):
  """Fraction of each pixel covered by the union of primitives."""
  d = np.min([_sdf(p, y, x) for p in prims], axis=0) * pixels_per_unit
  return np.clip(0.5 - d, 0.0, 1.0)


def _frame(y, x, center, radius_px, angle_deg):
  """Pixel-centre coordinates in a frame at `center`, unit `radius_px`."""
  a = np.deg2rad(angle_deg)
  c, s = np.cos(a), np.sin(a)
  dy, dx = (y - center[0]) / radius_px, (x - center[1]) / radius_px
  # Inverse of a counter-clockwise screen rotation (y points down).
  return dx * s + dy * c, dx * c - dy * s


def _box(alpha: np.ndarray, origin: np.ndarray) -> np.ndarray:
  """Box of the pixels at least half covered; `origin` is the patch's."""
  rows = np.flatnonzero((alpha >= 0.5).any(axis=1))
  cols = np.flatnonzero((alpha >= 0.5).any(axis=0))
  if rows.size == 0:
    return np.zeros(4, np.int32)
  return origin + np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1],
                           np.int32)


_CLUTTER_SHAPES = (
    lambda aspect: ('ellipse', 0.0, 0.0, aspect, 1.0, 0.0),
    lambda aspect: ('box', 0.0, 0.0, aspect, 1.0, 0.0, 0.0),
    lambda aspect: ('poly', ((-1.0, 0.0), (0.7, -aspect), (0.7, aspect))),
    lambda aspect: ('box', 0.0, 0.0, 0.15 * aspect, 1.0, 0.0, 0.0),
)


def _smooth(values: np.ndarray, size: int) -> np.ndarray:
  """(G, G, C) control points -> (size, size, C), separable linear interp."""
  g = values.shape[0]
  pos = (np.arange(size) + 0.5) / size * (g - 1)
  w = np.maximum(0, 1 - np.abs(pos[:, None] - np.arange(g)[None, :]))
  rows = np.tensordot(w, values, axes=(1, 0))             # (size, G, C)
  return np.tensordot(rows, w, axes=(1, 1)).transpose(0, 2, 1)


def _patch(center, reach_px: float, size: int):
  """Slices of the pixels a shape within `reach_px` of `center` can touch.

  Shapes are evaluated on their patch only: most clutter covers a few dozen
  pixels of the image.
  """
  lo = np.floor(np.asarray(center) - reach_px - 1).astype(int).clip(0, size)
  hi = np.ceil(np.asarray(center) + reach_px + 1).astype(int).clip(0, size)
  rows, cols = slice(lo[0], hi[0]), slice(lo[1], hi[1])
  y = (np.arange(rows.start, rows.stop, dtype=np.float64) + 0.5)[:, None]
  x = (np.arange(cols.start, cols.stop, dtype=np.float64) + 0.5)[None, :]
  return (rows, cols), y, x


def _background(scene: Scene, image_size: int) -> np.ndarray:
  y = (np.arange(image_size, dtype=np.float64) + 0.5)[:, None]
  x = (np.arange(image_size, dtype=np.float64) + 0.5)[None, :]
  image = scene.background + _smooth(scene.grid, image_size)
  amp, freq, orient, phase = scene.grating
  wave = np.sin(2 * np.pi * freq / image_size
                * (x * np.cos(orient) + y * np.sin(orient)) + phase)
  image = image + amp * wave[..., None] * scene.grating_color
  for (kind, cy, cx, r, a, aspect), color in zip(scene.clutter,
                                                 scene.clutter_colors):
    center, radius_px = (cy * image_size, cx * image_size), r * image_size
    # The clutter shapes reach at most 1.5 units (the box's corners).
    patch, py, px = _patch(center, 1.5 * radius_px, image_size)
    u, v = _frame(py, px, center, radius_px, np.rad2deg(a))
    alpha = _coverage([_CLUTTER_SHAPES[int(kind)](aspect)], u, v,
                      radius_px)[..., None]
    image[patch] = image[patch] * (1 - alpha) + color * alpha
  return image


def render(scene: Scene, image_size: int, *, dy: float = 0.0,
           scale: float = 1.0, angle_deg: float = 0.0) -> Rendered:
  """Draws a scene, optionally with its object moved.

  The background, clutter and pixel noise stay put; only the object moves,
  which is what the invariance experiment varies.

  Args:
    scene: from `sample_scene` or `example`.
    image_size: output side S in pixels.
    dy: extra vertical translation of the object in pixels (positive: down).
    scale: factor on the object's radius.
    angle_deg: extra counter-clockwise rotation of the object in degrees.

  Returns:
    Rendered(image (S, S, 3) uint8, object box, {part name: box}).
  """
  image = _background(scene, image_size)
  center = (scene.center[0] * image_size + dy, scene.center[1] * image_size)
  radius_px = scene.radius * image_size * scale
  # Every class lies inside its unit disc.
  patch, py, px = _patch(center, radius_px, image_size)
  origin = np.array([patch[0].start, patch[1].start] * 2, np.int32)
  u, v = _frame(py, px, center, radius_px, scene.angle_deg + angle_deg)
  colors = {'body': scene.body_color, 'detail': scene.detail_color}
  parts = {}
  transparent = np.ones(u.shape)
  table = _NOVEL_CLASSES if scene.novel else _CLASSES
  for name, role, prims in table[scene.label][1](scene.jitter):
    alpha = _coverage(prims, u, v, radius_px)
    parts[name] = _box(alpha, origin)
    transparent *= 1 - alpha
    image[patch] = (image[patch] * (1 - alpha[..., None])
                    + colors[role] * alpha[..., None])
  noise = np.random.default_rng(scene.noise_seed).normal(
      0, _NOISE_STD, (image_size, image_size, 3))
  image = np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)
  return Rendered(image, _box(1 - transparent, origin), parts)


def example(split: str, index: int, image_size: int, *,
            seed: int = 0, novel: bool = False
            ) -> tuple[np.ndarray, int, Scene]:
  """Example `index` of a split: (image (S, S, 3) uint8, label, scene).

  Labels cycle through the classes (index mod NUM_CLASSES), so every split
  is balanced. `novel`: of the novel classes, from a seed stream of their
  own.
  """
  scene = _example_scene(split, index, image_size, seed, novel)
  return render(scene, image_size).image, scene.label, scene


def _example_scene(split: str, index: int, image_size: int,
                   seed: int, novel: bool = False) -> Scene:
  if split not in SPLITS:
    raise ZfjaxError(f'zfjax_shapes has splits {sorted(SPLITS)}, not {split!r}')
  if novel:
    return sample_scene(np.random.default_rng([seed, SPLITS[split], index, 1]),
                        index % NUM_NOVEL_CLASSES, image_size, novel=True)
  return sample_scene(np.random.default_rng([seed, SPLITS[split], index]),
                      index % NUM_CLASSES, image_size)


def part_box_array(label: int, parts: dict[str, np.ndarray], *,
                   novel: bool = False) -> np.ndarray:
  """Part boxes in PART_NAMES[label] (or NOVEL_PART_NAMES) order, padded
  with -1: (MAX_PARTS, 4)."""
  out = np.full((MAX_PARTS, 4), -1, np.int32)
  for i, name in enumerate(part_names(novel)[label]):
    out[i] = parts[name]
  return out


def encode_png(image: np.ndarray) -> bytes:
  """Lossless, deterministic PNG bytes of an (H, W, 3) uint8 image."""
  h, w, _ = image.shape
  # Filter type 0 (none) on every row: the noisy pixels gain little from the
  # predictive filters, and the bytes depend on the pixels alone.
  rows = np.concatenate([np.zeros((h, 1), np.uint8), image.reshape(h, w * 3)],
                        axis=1)

  def chunk(tag: bytes, data: bytes) -> bytes:
    return (struct.pack('>I', len(data)) + tag + data
            + struct.pack('>I', zlib.crc32(tag + data)))

  header = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)  # 8-bit RGB
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
          + chunk(b'IDAT', zlib.compress(rows.tobytes(), 6))
          + chunk(b'IEND', b''))


def encoded_examples(split: str, indices: Sequence[int], *, image_size: int,
                     seed: int, novel: bool = False
                     ) -> list[tuple[bytes, int, np.ndarray, np.ndarray]]:
  """Examples `indices` as (PNG bytes, label, box, part boxes array).

  The unit of work of the parallel data set generation; numpy only, so that
  worker processes need not import TensorFlow.
  """
  out = []
  for index in indices:
    scene = _example_scene(split, index, image_size, seed, novel)
    image, box, parts = render(scene, image_size)
    out.append((encode_png(image), scene.label, box,
                part_box_array(scene.label, parts, novel=novel)))
  return out


def _serve(argv: Sequence[str]) -> None:
  """Worker of the parallel generation in `shapes_dataset`.

  python -m zfjax.shapes SPLIT IMAGE_SIZE SEED NUM_EXAMPLES CHUNK FIRST STEP [novel]
  renders chunks FIRST, FIRST + STEP, ... of CHUNK examples each and writes
  each chunk's `encoded_examples` list, pickled, to stdout; a trailing
  `novel` renders the novel classes.
  """
  novel = argv[7:] == ['novel']
  split, image_size, seed, num_examples, chunk, first, step = argv[:7]
  image_size, seed, chunk = int(image_size), int(seed), int(chunk)
  num_examples, first, step = int(num_examples), int(first), int(step)
  out = sys.stdout.buffer
  for start in range(first * chunk, num_examples, step * chunk):
    indices = range(start, min(start + chunk, num_examples))
    pickle.dump(encoded_examples(split, indices, image_size=image_size,
                                 seed=seed, novel=novel), out)
    out.flush()


if __name__ == '__main__':
  _serve(sys.argv[1:])
