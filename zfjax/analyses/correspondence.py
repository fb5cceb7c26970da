"""Correspondence analysis (ZF §4.3, Table 1).

Mask the same object part (say every left eye) in a set of images and ask
whether the feature vectors change the same way in all of them. For image i
and layer l, eps_i = x_i - x~_i, the features of the original minus those of
the masked image, and the score is

  Delta_l = sum_{i != j} H(sign(eps_i), sign(eps_j)),

H the Hamming distance between the sign vectors (entries in {-1, 0, +1}; a
zero differs from a +-1). Lower means more consistent change, i.e. tighter
correspondence between the parts.

Normalisation, our reading of the paper's table: its numbers (0.07 to 0.11)
are fractions, so each Hamming distance is divided by the vector length D and
the sum by the number of ordered pairs n (n - 1); Delta_l is then the mean,
over pairs of distinct images, of the fraction of feature dimensions whose
change has a different sign. The paper's "+-" must be a spread over pairs
(its five images and three parts leave nothing else to vary), so a table cell
here is mean +- standard deviation of the per-pair fractions, pooled over
`num_sets` seeded draws of the image set (one draw of n = 5 is the paper's
setting). Ordered and unordered pairs give the same mean and deviation.

The 'random' row masks, in every image independently, a box of the same size
as one of that image's part masks at a uniformly random place on the object
(inside its bounding box), seeded: one random draw per part size, so the
random row pools P times as many pairs as a part row.

Placements: a set may be measured with its images placed several ways (the
same faces moved together in the frame, `placements`), its Delta then the
mean over them. Measured on one frame position alone, Delta follows where
the part sits in the frame as much as what it is: a mask near the centre of
an 84-pixel input reaches every cell of a top conv layer whose receptive
field is 83 pixels wide, one off centre misses the far columns, and Delta
counts sign disagreements over all entries (docs/claims.md).
"""

from __future__ import annotations

import csv
import functools
import json
import os
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from zfjax.networks import models
from zfjax.data import images as images_lib
from zfjax.data import shapes
from zfjax.errors import ZfjaxError
from zfjax.analyses.occlusion import fill_box
from zfjax.networks import specs
from zfjax.networks.specs import Spec


class PartImages(NamedTuple):
  """Images with the boxes of the parts to mask, pixels of the model input.

  images: (N, H, W, 3) float32, mean-subtracted model inputs.
  part_names: (P,) names of the parts.
  part_boxes: (N, P, 4) int32 (y0, x0, y1, x1), end exclusive.
  object_boxes: (N, 4) int32, where random masks may go.
  labels: (N,) int32 classes (-1 where unknown).
  """
  images: np.ndarray
  part_names: tuple[str, ...]
  part_boxes: np.ndarray
  object_boxes: np.ndarray
  labels: np.ndarray


class CorrespondenceTable(NamedTuple):
  """Table 1: rows are the masked locations (the parts, then 'random').

  mean, std: (R, L) over the pooled per-pair sign-disagreement fractions.
  num_pairs: pair values pooled in each part's cell (the random row pools
    one set of them per part).
  set_mean: (R, L, num_sets) Delta of each drawn set alone (the mean of its
    pairs over its placements), whose spread gives standard errors over sets.
  num_placements: how many ways each set was placed in the frame.
  """
  locations: tuple[str, ...]
  layers: tuple[str, ...]
  mean: np.ndarray
  std: np.ndarray
  set_size: int
  num_sets: int
  num_pairs: int
  set_mean: np.ndarray
  num_placements: int = 1


def pair_disagreement(eps: jax.Array) -> jax.Array:
  """Normalised Hamming distances between the signs of rows of `eps` (n, D).

  Returns (n (n - 1) / 2,) float32: for each pair i < j (row-major order) the
  fraction of the D entries where sign(eps_i) != sign(eps_j).
  """
  signs = jnp.sign(eps)
  n = eps.shape[0]
  rows, cols = np.triu_indices(n, k=1)
  return jnp.mean(signs[rows] != signs[cols], axis=-1, dtype=jnp.float32)


def delta(eps: jax.Array) -> jax.Array:
  """Delta_l for one set: Sum_{i != j} H(sign eps_i, sign eps_j) / (D n(n-1))."""
  return jnp.mean(pair_disagreement(eps))


def random_boxes(rng: np.random.Generator, object_boxes: np.ndarray,
                 sizes: np.ndarray) -> np.ndarray:
  """Boxes of `sizes` (N, 2) (height, width) at uniform places on the object.

  object_boxes: (N, 4). A box lies inside its object box whenever it fits;
  along an axis where it does not, it is centred on the object. Returns
  (N, 4) int32 (y0, x0, y1, x1).
  """
  out = np.zeros((len(sizes), 4), np.int32)
  for i, ((oy0, ox0, oy1, ox1), (h, w)) in enumerate(zip(object_boxes, sizes)):
    corner = []
    for lo, hi, extent in ((oy0, oy1, h), (ox0, ox1, w)):
      room = hi - lo - extent
      corner.append(lo + rng.integers(0, room + 1) if room >= 0
                    else lo + room // 2)
    out[i] = (corner[0], corner[1], corner[0] + h, corner[1] + w)
  return out


def placements(spec: Spec) -> tuple[tuple[int, int], ...]:
  """Nine moves (dy, dx) of a set in model-input pixels: 0 and one step of
  the top conv layer's grid (its units' spacing in input pixels, 8 for
  `zfnet_small`, 16 for ZFNet) either way along each axis."""
  step = specs.receptive_fields(spec)[spec.conv_names[-1]].jump
  return tuple((dy, dx) for dy in (-step, 0, step) for dx in (-step, 0, step))


def default_layers(spec: Spec) -> tuple[str, ...]:
  """The paper's layers 5 and 7: the last conv and the top hidden layer."""
  return tuple(dict.fromkeys((spec.conv_names[-1],
                              models.traced_layers(spec)[-1])))


# Each image (N, H, W, 3) with its own box (N, 4) filled.
_fill_boxes = jax.vmap(fill_box, in_axes=(0, 0, None))


@functools.partial(jax.jit, static_argnames=('spec', 'layers'))
def _feature_change(params, images, boxes, fill, *, spec: Spec,
                    layers: tuple[str, ...]):
  """eps per layer, (N, D_l): features of `images` minus those of the same
  images with `boxes` (N, 4) filled."""
  masked = _fill_boxes(images, boxes, fill)
  _, trace = models.forward_trace(params, jnp.concatenate([images, masked]),
                                  spec)
  n = images.shape[0]
  return tuple(
      (trace.activations[l][:n] - trace.activations[l][n:]).reshape(n, -1)
      for l in layers)


def correspondence_table(params: models.Params, spec: Spec,
                         data: PartImages | Sequence[PartImages], *,
                         layers: tuple[str, ...] | None = None,
                         set_size: int = 5, num_sets: int = 1,
                         seed: int = 0, fill: float = 0.0
                         ) -> CorrespondenceTable:
  """Table 1 for `data`: each part, then random masks, at each layer.

  data: the images with their parts, or the same images at several
  placements (a sequence of PartImages alike but for where the images sit in
  the frame, e.g. `builtin_faces` at each of `placements(spec)`): each set
  is then measured at every placement, its pairs pooled over them.
  set_size: images per set (the paper's 5); num_sets: seeded draws of the set
  from `data` without replacement (with num_sets = 1 and exactly set_size
  images, the set is all of them). fill: mask content in image units (0 is
  the mean image).
  """
  placed = [data] if isinstance(data, PartImages) else list(data)
  if not placed:
    raise ZfjaxError('correspondence_table needs images; got no placement')
  first = placed[0]
  if any(len(p.images) != len(first.images)
         or p.part_names != first.part_names
         or not np.array_equal(p.labels, first.labels) for p in placed):
    raise ZfjaxError('the placements must hold the same images with the same '
                     'parts and labels')
  layers = models.check_traced_layers(
      spec, default_layers(spec) if layers is None else layers)
  n = len(first.images)
  if not 2 <= set_size <= n:
    raise ZfjaxError(f'set_size must be between 2 and the {n} images given, '
                     f'got {set_size}')
  if num_sets < 1:
    raise ZfjaxError(f'num_sets must be at least 1, got {num_sets}')
  rng = np.random.default_rng(seed)
  num_parts = len(first.part_names)
  pooled = [[[] for _ in layers] for _ in range(num_parts + 1)]
  for _ in range(num_sets):
    chosen = (np.arange(n) if n == set_size
              else np.sort(rng.choice(n, set_size, replace=False)))
    drawn = [[[] for _ in layers] for _ in range(num_parts + 1)]
    for placement in placed:
      images = jnp.asarray(placement.images[chosen])
      part_boxes = placement.part_boxes[chosen]
      sizes = part_boxes[:, :, 2:] - part_boxes[:, :, :2]
      masks = [part_boxes[:, p] for p in range(num_parts)]
      random_rows = [random_boxes(rng, placement.object_boxes[chosen],
                                  sizes[:, p]) for p in range(num_parts)]
      for row, boxes_list in enumerate([[m] for m in masks] + [random_rows]):
        for boxes in boxes_list:
          eps = _feature_change(params, images, jnp.asarray(boxes),
                                jnp.float32(fill), spec=spec, layers=layers)
          for k, e in enumerate(eps):
            drawn[row][k].append(np.asarray(pair_disagreement(e)))
    for row, cells in enumerate(drawn):
      for k, cell in enumerate(cells):
        pooled[row][k].append(np.concatenate(cell))
  values = [[np.concatenate(cell) for cell in row] for row in pooled]
  return CorrespondenceTable(
      locations=tuple(first.part_names) + ('random',), layers=layers,
      mean=np.array([[v.mean() for v in row] for row in values]),
      std=np.array([[v.std() for v in row] for row in values]),
      set_size=set_size, num_sets=num_sets, num_pairs=len(values[0][0]),
      set_mean=np.array([[[s.mean() for s in cell] for cell in row]
                         for row in pooled]),
      num_placements=len(placed))


def masked_views(data: PartImages, *, num_images: int = 5,
                 num_random: int = 2, seed: int = 0, fill: float = 0.0
                 ) -> tuple[np.ndarray, tuple[str, ...]]:
  """ZF Fig. 8: the first `num_images` images as they are, with each part
  masked, and with `num_random` random masks the size of their first part
  (`random_boxes`, seeded), as Table 1 masks them.

  Returns the views (n, 1 + P + num_random, H, W, 3), model inputs like
  `data.images`, and a name for each column ('original', the parts,
  'random 1', ...).
  """
  images = data.images[:num_images]
  boxes = [data.part_boxes[:num_images, p] for p in range(len(data.part_names))]
  rng = np.random.default_rng(seed)
  sizes = boxes[0][:, 2:] - boxes[0][:, :2]
  boxes += [random_boxes(rng, data.object_boxes[:num_images], sizes)
            for _ in range(num_random)]
  views = [images] + [np.asarray(_fill_boxes(jnp.asarray(images),
                                             jnp.asarray(b), jnp.float32(fill)))
                      for b in boxes]
  names = (('original',) + tuple(data.part_names)
           + tuple(f'random {k + 1}' for k in range(num_random)))
  return np.stack(views, axis=1), names


class MaskEffect(NamedTuple):
  """What masking each part does to the prediction, over the images.

  Read beside Table 1: a part whose mask changes the top layer the same way
  in every image usually moves the prediction the same way too, towards
  the classes that lack that part or away from those that share it.

  locations: (P,) the masked parts.
  reference: (N,) the class each unmasked image is given (its top logit).
  p_before: (N,) the probability of that class on the unmasked image.
  p_after: (P, N) its probability with the part masked.
  logit_change: (P, C) over the images, the mean change of each class's
    logit minus the change of the image's reference class: > 0 where the
    mask moves the prediction towards the class (0 for a reference class).
  """
  locations: tuple[str, ...]
  reference: np.ndarray
  p_before: np.ndarray
  p_after: np.ndarray
  logit_change: np.ndarray


@functools.partial(jax.jit, static_argnames=('spec',))
def _masked_logits(params, images, boxes, fill, *, spec: Spec):
  masked = _fill_boxes(images, boxes, fill)
  return models.apply(params, masked, spec)


def mask_effects(params: models.Params, spec: Spec, data: PartImages, *,
                 fill: float = 0.0, chunk: int = 64) -> MaskEffect:
  """How masking each part of `data` (with `fill`, in image units: 0 is the
  mean image) moves the logits, against the class each image is given.
  `chunk`: images per forward pass, which bounds the memory a long part
  file takes."""
  def logits(boxes):
    return np.concatenate([np.asarray(_masked_logits(
        params, jnp.asarray(data.images[i:i + chunk]),
        jnp.asarray(boxes[i:i + chunk]), jnp.float32(fill), spec=spec),
        np.float64) for i in range(0, len(data.images), chunk)])
  before = logits(np.zeros((len(data.images), 4), np.int32))  # empty boxes
  reference = before.argmax(-1)
  rows = np.arange(len(reference))

  def softmax_at(values):
    values = values - values.max(-1, keepdims=True)
    return np.exp(values[rows, reference]) / np.exp(values).sum(-1)
  changes, p_after = [], []
  for p in range(len(data.part_names)):
    after = logits(data.part_boxes[:, p])
    change = after - before
    changes.append((change - change[rows, reference][:, None]).mean(0))
    p_after.append(softmax_at(after))
  return MaskEffect(tuple(data.part_names), reference, softmax_at(before),
                    np.array(p_after), np.array(changes))


# ------------------------------------------------------------------ inputs


def to_model_boxes(boxes: np.ndarray, scale: np.ndarray, shift: np.ndarray,
                   size: int) -> np.ndarray:
  """File-pixel boxes (N, K, 4) -> model-input boxes, int32, clipped to
  [0, size]; a box keeps every model pixel it touches."""
  boxes = np.asarray(boxes, np.float64)
  scale = np.asarray(scale, np.float64)[:, None, None]
  shift = np.tile(np.asarray(shift, np.float64), 2)[:, None, :]
  moved = boxes * scale - shift
  out = np.concatenate([np.floor(moved[..., :2]), np.ceil(moved[..., 2:])],
                       axis=-1)
  return np.clip(out, 0, size).astype(np.int32)


# The paper's parts: "5 randomly drawn dog images with frontal pose", their
# eyes and nose masked. Its dogs are of different breeds (Table 1's reading
# of layer 7: "upper layers trying to discriminate between the different
# breeds of dog"); the built-in breeds are the classes drawn with these parts.
PAPER_PARTS = ('left_eye', 'right_eye', 'nose')


def breeds(num_classes: int, parts: Sequence[str] = PAPER_PARTS
           ) -> tuple[str, ...]:
  """The names of a built-in world's classes (its first `num_classes`) whose
  parts include every one of `parts`: round_face and cat_face in the
  default world, bear_face too from 14 classes on."""
  return tuple(name for name, names in zip(
      shapes.class_names(num_classes=num_classes), shapes.PART_NAMES)
               if set(parts) <= set(names))


def builtin_faces(config, preprocessing: images_lib.Preprocessing, *,
                  class_names: Sequence[str] | None = None,
                  split: str | None = None, num_images: int = 40,
                  parts: Sequence[str] | None = None,
                  frontal: bool = True,
                  offset: tuple[int, int] = (0, 0)) -> PartImages:
  """Faces of the built-in data set with the boxes of their parts, from the
  generator's ground truth.

  class_names: the classes to take faces from (default `breeds`: every class
  of the run's world drawn with two eyes and a nose, the counterpart of the
  paper's dogs of different breeds). parts: which named parts to mask, each
  one all the classes have (default: with the default classes the paper's
  eyes and nose; otherwise every part the classes share whose box is on
  average at most a quarter of the object's, i.e. not the head outline).
  num_images: the first that many examples of these classes in `split`
  (default config.eval_split), in index order, so the classes alternate;
  re-created by the generator (no data set is read) and made model inputs
  by `preprocessing`.
  frontal: re-render every face upright, at the image centre and at the
  faces' median size (background, colours and the per-example variations of
  the face kept), the counterpart of the paper's frontal-pose dogs; False
  takes the examples as stored, at random position, size and tilt.
  offset: (dy, dx) in model-input pixels, where the frontal faces' centre
  sits from the image centre (see `placements`).
  """
  if config.dataset != 'zfjax_shapes':
    raise ZfjaxError('builtin_faces needs the built-in data set; for other '
                     'images describe their parts in a JSON or CSV file')
  world = shapes.World.of(config.shapes)
  names_of_world = shapes.class_names(num_classes=world.num_classes)
  if class_names is None:
    class_names = breeds(world.num_classes)
    parts = PAPER_PARTS if parts is None else parts
  unknown = [c for c in class_names if c not in names_of_world]
  if unknown or not class_names:
    raise ZfjaxError(f"this run's world has no class "
                     f"{', '.join(unknown) or '(none given)'}; choose from "
                     f"{', '.join(names_of_world)}")
  labels = [names_of_world.index(c) for c in class_names]
  split = split or config.eval_split
  # The generator re-creates any example from (seed, split, index).
  sizes = {'train': config.shapes.num_train,
           'validation': config.shapes.num_eval}
  if split not in sizes:
    raise ZfjaxError(f"split '{split}' is not in zfjax_shapes; choose one of "
                     f"{', '.join(sizes)}")
  # Labels cycle through the classes: example i has label i mod num_classes.
  indices = np.sort(np.concatenate([
      np.arange(label, sizes[split], world.num_classes)
      for label in labels]))[:num_images]
  if len(indices) < 2:
    raise ZfjaxError(f"the {split} split holds {len(indices)} images of "
                     f"{', '.join(class_names)}; prepare more "
                     f'(config.shapes.num_eval)')
  size, seed = config.shapes.image_size, config.shapes.seed
  # The generator re-creates the stored pixels exactly from (seed, index).
  scenes = [shapes.example_scene(split, int(i), size, seed=seed, world=world)
            for i in indices]
  scale = config.resize_size / size  # model pixels per file pixel
  if frontal:
    # Unoccluded too, as the paper's chosen dogs.
    radius = float(np.median([s.radius for s in scenes]))
    center = 0.5 + np.asarray(offset, np.float64) / (scale * size)
    scenes = [s._replace(center=center, radius=radius,
                         angle_deg=0.0, occluders=np.zeros((0, 6)),
                         occluder_colors=np.zeros((0, 3))) for s in scenes]
  elif tuple(offset) != (0, 0):
    raise ZfjaxError('offset moves the frontal faces; the faces as stored '
                     'stay where they were drawn')
  rendered = [shapes.render(s, size) for s in scenes]
  labels_of = np.array([s.label for s in scenes], np.int32)
  shared = [n for n in shapes.PART_NAMES[labels[0]]
            if all(n in shapes.PART_NAMES[l] for l in labels)]
  all_boxes = np.array([[r.parts[n] for n in shared] for r in rendered])
  object_boxes = np.array([r.box for r in rendered])
  if parts is None:
    def area(b):
      return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    ratio = area(all_boxes).mean(0) / area(object_boxes).mean()
    parts = [n for n, r in zip(shared, ratio) if r <= 0.25]
  missing = [p for p in parts if p not in shared]
  if missing or not parts:
    raise ZfjaxError(f"{', '.join(class_names)} share the parts "
                     f"{', '.join(shared)}; got {list(parts)}")
  chosen = [shared.index(p) for p in parts]
  scale = np.full(len(indices), scale)
  shift = np.full((len(indices), 2),
                  (config.resize_size - config.crop_size) // 2, np.float64)
  boxes = to_model_boxes(np.concatenate(
      [all_boxes[:, chosen], object_boxes[:, None]], axis=1), scale, shift,
                         config.crop_size)
  images = preprocessing.from_squares(np.stack([r.image for r in rendered]))
  return PartImages(images, tuple(parts), boxes[:, :-1], boxes[:, -1],
                    labels_of)


def placed_faces(config, preprocessing: images_lib.Preprocessing,
                 spec: Spec, **kwargs) -> tuple[list[PartImages], PartImages]:
  """`builtin_faces` (frontal, with `kwargs`) at each of `placements(spec)`,
  for `correspondence_table`, and the faces at the centre among them."""
  offsets = placements(spec)
  placed = [builtin_faces(config, preprocessing, offset=offset, **kwargs)
            for offset in offsets]
  return placed, placed[offsets.index((0, 0))]


def _keypoint_box(values: Sequence[float], mask_size: int | None,
                  where: str) -> list[float]:
  if len(values) == 4:
    return list(values)
  if len(values) == 2:
    if not mask_size:
      raise ZfjaxError(f'{where}: a keypoint (y, x) needs a mask size; give '
                       f'"mask_size" in the file or --mask_size')
    y, x = values
    return [y - mask_size / 2, x - mask_size / 2, y + mask_size / 2,
            x + mask_size / 2]
  raise ZfjaxError(f'{where}: expected a box [y0, x0, y1, x1] or a keypoint '
                   f'[y, x], got {list(values)}')


def _read_part_file(path: str) -> tuple[list[dict], int | None]:
  """Entries {path, label, object, parts: {name: values}} of a JSON or CSV
  part file, and its mask size."""
  if not os.path.isfile(path):
    raise ZfjaxError(f'part file {path} does not exist')
  try:
    if path.lower().endswith('.json'):
      with open(path) as f:
        spec = json.load(f)
      return list(spec['images']), spec.get('mask_size')
    entries = {}
    with open(path, newline='') as f:
      for row in csv.DictReader(f):
        entry = entries.setdefault(row['path'], {
            'path': row['path'], 'label': None, 'object': None, 'parts': {}})
        values = [float(row[k]) for k in ('y0', 'x0', 'y1', 'x1')
                  if row.get(k) not in (None, '')]
        if row.get('label') not in (None, ''):
          entry['label'] = int(row['label'])
        if row['part'] == 'object':
          entry['object'] = values
        else:
          entry['parts'][row['part']] = values
    return list(entries.values()), None
  except (KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
    raise ZfjaxError(f'cannot read part file {path} ({type(e).__name__}: '
                     f'{e}); see docs/analyses.md for its JSON and CSV forms'
                     ) from None


def load_part_file(path: str, preprocessing: images_lib.Preprocessing, *,
                   mask_size: int | None = None) -> PartImages:
  """Your images and their parts, from a JSON or CSV file.

  JSON: {"mask_size": 20, "images": [{"path": "dog1.jpg", "label": 3,
  "object": [y0, x0, y1, x1], "parts": {"left_eye": [y, x], "nose":
  [y0, x0, y1, x1], ...}}, ...]}. CSV with header path,part,y0,x0,y1,x1
  (and optionally label): one row per part; a keypoint leaves y1,x1 empty;
  a row with part "object" gives the object box. Coordinates are pixels of
  the file (rows down), boxes end-exclusive; a keypoint becomes a square of
  `mask_size` file pixels (argument, else the JSON's "mask_size"). Relative
  paths are relative to the part file. Every image must name the same parts;
  without an object box, random masks go anywhere in the image. Labels are
  optional (-1).
  """
  entries, file_mask = _read_part_file(path)
  mask_size = mask_size or file_mask
  if len(entries) < 2:
    raise ZfjaxError(f'{path} describes {len(entries)} image(s); the '
                     f'analysis compares pairs, give at least 2')
  names = tuple(entries[0]['parts'])
  root = os.path.dirname(os.path.abspath(path))
  boxes, files = [], []
  for entry in entries:
    where = f"{path}: {entry['path']}"
    if tuple(entry['parts']) != names and set(entry['parts']) == set(names):
      entry['parts'] = {n: entry['parts'][n] for n in names}
    if tuple(entry['parts']) != names:
      raise ZfjaxError(f'{where} names parts {list(entry["parts"])}, the '
                       f'first image {list(names)}; every image needs the '
                       f'same parts')
    files.append(os.path.join(root, entry['path']))
    row = [_keypoint_box(entry['parts'][n], mask_size, f'{where} {n}')
           for n in names]
    row.append(entry.get('object') or [-1e9, -1e9, 1e9, 1e9])
    boxes.append(row)
  loaded = preprocessing.from_files(files)
  boxes = to_model_boxes(np.array(boxes), loaded.scale, loaded.shift,
                         preprocessing.crop_size)
  empty = (boxes[:, :-1, 2] <= boxes[:, :-1, 0]) | (
      boxes[:, :-1, 3] <= boxes[:, :-1, 1])
  if empty.any():
    i, p = np.argwhere(empty)[0]
    raise ZfjaxError(f'{files[i]}: part {names[p]} falls outside the centre '
                     f'crop the model sees; move it or use other images')
  labels = np.array([-1 if e.get('label') is None else int(e['label'])
                     for e in entries], np.int32)
  return PartImages(loaded.images, names, boxes[:, :-1], boxes[:, -1],
                    labels)
