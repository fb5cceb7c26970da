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

A `World` sets what varies beyond the image size and seed: how many classes
of the catalogue (`shape_classes`) are used, how often a partial occluder
(a random blob or bar in front of the object) hides part of it, and whether
detail parts are darker than the body. The default world (12 classes, no
occluders, details of any contrasting colour) is the one every earlier
version rendered, byte for byte.

Boxes are pixel (y0, x0, y1, x1) with exclusive ends, so that
`image[y0:y1, x0:x1]` is the box; a pixel belongs to a part when the part
covers at least half of it. A part moved entirely out of the frame (only
possible under `render`'s transforms) has an empty box, (0, 0, 0, 0).
"""

from __future__ import annotations

import json
import pickle
import struct
import sys
import zlib
from typing import NamedTuple, Sequence

import numpy as np

from zfjax.data import shape_classes
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


# The catalogue of classes (`shape_classes`), named here as the generator's
# vocabulary.
CLASS_NAMES = shape_classes.CLASS_NAMES
NUM_CLASSES = shape_classes.NUM_CLASSES
PART_NAMES = shape_classes.PART_NAMES
MAX_PARTS = shape_classes.MAX_PARTS
NOVEL_CLASS_NAMES = shape_classes.NOVEL_CLASS_NAMES
NUM_NOVEL_CLASSES = shape_classes.NUM_NOVEL_CLASSES
MAX_NOVEL_CLASSES = shape_classes.MAX_NOVEL_CLASSES
NOVEL_PART_NAMES = shape_classes.NOVEL_PART_NAMES
class_names = shape_classes.class_names
part_names = shape_classes.part_names
_NO_SHAPES = np.zeros((0, 6))
_NO_COLORS = np.zeros((0, 3))


class World(NamedTuple):
  """What a built-in data set varies beyond image size and seed.

  num_classes: the catalogue's first N classes (`shape_classes`), 1..96.
  occluders: probability that an image has a partial occluder, a random
    blob or bar drawn in front of the object and covering part of it.
  dark_details: every object's detail parts (eyes, noses, wheels, doors)
    darker than its body, as eyes and noses are, instead of any colour that
    contrasts with the body; the body is then at least mid-grey.
  face_breeds: cat_face and bear_face drawn as breeds of round_face, on its
    head and eyes, differing in ears and nose (as the paper's dog breeds
    share a dog's face); the other classes as always.
  novel_classes: the novel catalogue's first N classes (the transfer
    experiment's, ZF §5.2), 1..30: the 10 drawn ones, then composites.
    Only the novel data set reads it.
  """
  num_classes: int = NUM_CLASSES
  occluders: float = 0.0
  dark_details: bool = False
  face_breeds: bool = False
  novel_classes: int = NUM_NOVEL_CLASSES

  @classmethod
  def of(cls, shapes_config) -> World:
    """The world of a config's `shapes` block (keys absent in configs of
    older runs take the default world's values)."""
    return cls(**{name: type(default)(shapes_config.get(name, default))
                  for name, default in cls._field_defaults.items()})

  def class_count(self, novel: bool = False) -> int:
    """How many classes the trained set (or with `novel` the novel set)
    draws."""
    return self.novel_classes if novel else self.num_classes

  def trained_set(self) -> World:
    """The knobs that draw the trained classes' set (not novel_classes)."""
    return self._replace(novel_classes=NUM_NOVEL_CLASSES)

  def novel_set(self) -> World:
    """The knobs that draw the novel set: its own number of classes, no
    face breeds (no novel class is a breed)."""
    return self._replace(num_classes=NUM_CLASSES, face_breeds=False)

  def knobs(self) -> dict:
    """The settings that differ from the default world."""
    return {k: v for k, v in self._asdict().items()
            if v != self._field_defaults[k]}

  def check(self) -> None:
    if not 1 <= self.num_classes <= shape_classes.MAX_CLASSES:
      raise ZfjaxError(f'zfjax_shapes has {shape_classes.MAX_CLASSES} '
                       f'classes; config.shapes.num_classes must be in [1, '
                       f'{shape_classes.MAX_CLASSES}], got {self.num_classes}')
    if not 1 <= self.novel_classes <= MAX_NOVEL_CLASSES:
      raise ZfjaxError(f'zfjax_shapes_novel has {MAX_NOVEL_CLASSES} classes; '
                       f'config.shapes.novel_classes must be in [1, '
                       f'{MAX_NOVEL_CLASSES}], got {self.novel_classes}')
    if not 0.0 <= self.occluders <= 1.0:
      raise ZfjaxError(f'config.shapes.occluders is a probability, got '
                       f'{self.occluders}')


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
  # Partial occluders in front of the object, as the clutter: (K, 6) kind,
  # cy, cx, radius, angle_rad, aspect, and their colours (K, 3).
  occluders: np.ndarray = _NO_SHAPES
  occluder_colors: np.ndarray = _NO_COLORS
  face_breeds: bool = False  # the world's `World.face_breeds`


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
    label: class index in [0, MAX_CLASSES), or in [0, MAX_NOVEL_CLASSES)
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
  return _draw(image, scene.clutter, scene.clutter_colors)


def _draw(image: np.ndarray, shapes: np.ndarray,
          colors: np.ndarray) -> np.ndarray:
  """Clutter-like `shapes` (K, 6) in `colors` (K, 3) painted over `image`
  (S, S, 3) float, in place; returns it."""
  image_size = image.shape[0]
  for (kind, cy, cx, r, a, aspect), color in zip(shapes, colors):
    center, radius_px = (cy * image_size, cx * image_size), r * image_size
    # The clutter shapes reach at most 1.5 units (the box's corners).
    patch, py, px = _patch(center, 1.5 * radius_px, image_size)
    u, v = _frame(py, px, center, radius_px, np.rad2deg(a))
    alpha = _coverage([_CLUTTER_SHAPES[int(kind)](aspect)], u, v,
                      radius_px)[..., None]
    image[patch] = image[patch] * (1 - alpha) + color * alpha
  return image


def add_occluders(rng_or_seed, scene: Scene, probability: float) -> Scene:
  """`scene` with, at `probability`, one partial occluder in front of its
  object: a blob (ellipse or box) of 0.3-0.55 object radii or a bar of
  0.6-1 radii (half-length), centred within 0.7 radii of the object's
  centre, in a uniform random colour. Draws from `rng_or_seed` only, so the
  scene itself is the same with and without occluders."""
  rng = _rng(rng_or_seed)
  if rng.uniform() >= probability:
    return scene
  kind = int(rng.choice((0, 1, 3)))  # ellipse, box or bar (_CLUTTER_SHAPES)
  reach = (0.6, 1.0) if kind == 3 else (0.3, 0.55)
  distance = 0.7 * scene.radius * np.sqrt(rng.uniform())
  direction = rng.uniform(0, 2 * np.pi)
  center = scene.center + distance * np.array([np.sin(direction),
                                               np.cos(direction)])
  occluder = np.array([[kind, center[0], center[1],
                        scene.radius * rng.uniform(*reach),
                        rng.uniform(0, np.pi), rng.uniform(0.5, 1.0)]])
  return scene._replace(occluders=occluder,
                        occluder_colors=rng.uniform(0, 255, (1, 3)))


def _luminance(color: np.ndarray) -> float:
  return float(np.dot(color, (0.299, 0.587, 0.114)))


def darken_details(rng_or_seed, scene: Scene) -> Scene:
  """`scene` with new body and detail colours: the body at least 120 away
  from the background (RGB distance) with a luminance of at least 110, the
  details at least 120 away from the body and 100 darker, so that every
  instance of a part looks alike in polarity (dark eyes on a lighter face).
  Draws from `rng_or_seed` only."""
  rng = _rng(rng_or_seed)
  while True:
    body = _contrasting_color(rng, scene.background, 120.0)
    if _luminance(body) >= 110:
      break
  while True:
    detail = _contrasting_color(rng, body, 120.0)
    if _luminance(detail) <= _luminance(body) - 100:
      return scene._replace(body_color=body, detail_color=detail)


def render(scene: Scene, image_size: int, *, dy: float = 0.0,
           scale: float = 1.0, angle_deg: float = 0.0) -> Rendered:
  """Draws a scene, optionally with its object moved.

  The background, clutter, occluders and pixel noise stay put; only the
  object moves, which is what the invariance experiment varies.

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
  for name, role, prims in shape_classes.parts(
      scene.label, scene.jitter, novel=scene.novel,
      face_breeds=scene.face_breeds):
    alpha = _coverage(prims, u, v, radius_px)
    parts[name] = _box(alpha, origin)
    transparent *= 1 - alpha
    image[patch] = (image[patch] * (1 - alpha[..., None])
                    + colors[role] * alpha[..., None])
  # Occluders stay put as the background does; they may hide named parts.
  image = _draw(image, scene.occluders, scene.occluder_colors)
  noise = np.random.default_rng(scene.noise_seed).normal(
      0, _NOISE_STD, (image_size, image_size, 3))
  image = np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)
  return Rendered(image, _box(1 - transparent, origin), parts)


def example(split: str, index: int, image_size: int, *,
            seed: int = 0, novel: bool = False, world: World = World()
            ) -> tuple[np.ndarray, int, Scene]:
  """Example `index` of a split: (image (S, S, 3) uint8, label, scene).

  Labels cycle through the world's classes (index mod
  world.num_classes, or world.novel_classes), so every split is balanced.
  `novel`: of the novel classes, from a seed stream of their own.
  """
  scene = example_scene(split, index, image_size, seed=seed, novel=novel,
                        world=world)
  return render(scene, image_size).image, scene.label, scene


def example_scene(split: str, index: int, image_size: int, *, seed: int = 0,
                  novel: bool = False, world: World = World()) -> Scene:
  """The scene of `example` (without rendering it)."""
  if split not in SPLITS:
    raise ZfjaxError(f'zfjax_shapes has splits {sorted(SPLITS)}, not {split!r}')
  world.check()
  key = [seed, SPLITS[split], index]
  # The novel set draws from a seed stream of its own.
  rng = np.random.default_rng(key + [1] if novel else key)
  scene = sample_scene(rng, index % world.class_count(novel), image_size,
                       novel=novel)
  # Each knob draws from a stream of its own: the rest of the scene is the
  # same with and without it.
  if world.dark_details:
    scene = darken_details(np.random.default_rng(key + [4 + int(novel)]),
                           scene)
  if world.face_breeds:  # draws nothing: the same scene, other drawings
    scene = scene._replace(face_breeds=True)
  if world.occluders:
    scene = add_occluders(np.random.default_rng(key + [2 + int(novel)]),
                          scene, world.occluders)
  return scene


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
                     seed: int, novel: bool = False, world: World = World()
                     ) -> list[tuple[bytes, int, np.ndarray, np.ndarray]]:
  """Examples `indices` as (PNG bytes, label, box, part boxes array).

  The unit of work of the parallel data set generation; numpy only, so that
  worker processes need not import TensorFlow.
  """
  out = []
  for index in indices:
    scene = example_scene(split, index, image_size, seed=seed, novel=novel,
                          world=world)
    image, box, parts = render(scene, image_size)
    out.append((encode_png(image), scene.label, box,
                part_box_array(scene.label, parts, novel=novel)))
  return out


def _serve(argv: Sequence[str]) -> None:
  """Worker of the parallel generation in `shapes_dataset`.

  python -m zfjax.data.shapes SPLIT IMAGE_SIZE SEED NUM_EXAMPLES CHUNK FIRST STEP WORLD [novel]
  renders chunks FIRST, FIRST + STEP, ... of CHUNK examples each and writes
  each chunk's `encoded_examples` list, pickled, to stdout; WORLD is the
  `World` as JSON; a trailing `novel` renders the novel classes.
  """
  novel = argv[8:] == ['novel']
  world = World.of(json.loads(argv[7]))
  split, image_size, seed, num_examples, chunk, first, step = argv[:7]
  image_size, seed, chunk = int(image_size), int(seed), int(chunk)
  num_examples, first, step = int(num_examples), int(first), int(step)
  out = sys.stdout.buffer
  for start in range(first * chunk, num_examples, step * chunk):
    indices = range(start, min(start + chunk, num_examples))
    pickle.dump(encoded_examples(split, indices, image_size=image_size,
                                 seed=seed, novel=novel, world=world), out)
    out.flush()


if __name__ == '__main__':
  _serve(sys.argv[1:])
