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
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zfjax import models
from zfjax.errors import ZfjaxError
from zfjax.occlusion import fill_box
from zfjax.specs import Spec


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
  """
  locations: tuple[str, ...]
  layers: tuple[str, ...]
  mean: np.ndarray
  std: np.ndarray
  set_size: int
  num_sets: int
  num_pairs: int


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


def default_layers(spec: Spec) -> tuple[str, ...]:
  """The paper's layers 5 and 7: the last conv and the top hidden layer."""
  return tuple(dict.fromkeys((spec.conv_names[-1],
                              models.traced_layers(spec)[-1])))


@functools.partial(jax.jit, static_argnames=('spec', 'layers'))
def _feature_change(params, images, boxes, fill, *, spec: Spec,
                    layers: tuple[str, ...]):
  """eps per layer, (N, D_l): features of `images` minus those of the same
  images with `boxes` (N, 4) filled."""
  masked = jax.vmap(fill_box, in_axes=(0, 0, None))(images, boxes, fill)
  _, trace = models.forward_trace(params, jnp.concatenate([images, masked]),
                                  spec)
  n = images.shape[0]
  return tuple(
      (trace.activations[l][:n] - trace.activations[l][n:]).reshape(n, -1)
      for l in layers)


def correspondence_table(params: models.Params, spec: Spec,
                         data: PartImages, *,
                         layers: tuple[str, ...] | None = None,
                         set_size: int = 5, num_sets: int = 1,
                         seed: int = 0, fill: float = 0.0
                         ) -> CorrespondenceTable:
  """Table 1 for `data`: each part, then random masks, at each layer.

  set_size: images per set (the paper's 5); num_sets: seeded draws of the set
  from `data` without replacement (with num_sets = 1 and exactly set_size
  images, the set is all of them). fill: mask content in image units (0 is
  the mean image).
  """
  layers = default_layers(spec) if layers is None else tuple(layers)
  traced = models.traced_layers(spec)
  for layer in layers:
    if layer not in traced:
      raise ZfjaxError(f"layer '{layer}' of spec '{spec.name}' has no "
                       f"features; choose among {', '.join(traced)}")
  n = len(data.images)
  if not 2 <= set_size <= n:
    raise ZfjaxError(f'set_size must be between 2 and the {n} images given, '
                     f'got {set_size}')
  if num_sets < 1:
    raise ZfjaxError(f'num_sets must be at least 1, got {num_sets}')
  rng = np.random.default_rng(seed)
  num_parts = len(data.part_names)
  pooled = [[[] for _ in layers] for _ in range(num_parts + 1)]
  for _ in range(num_sets):
    chosen = (np.arange(n) if n == set_size
              else np.sort(rng.choice(n, set_size, replace=False)))
    images = jnp.asarray(data.images[chosen])
    part_boxes = data.part_boxes[chosen]
    sizes = part_boxes[:, :, 2:] - part_boxes[:, :, :2]
    masks = [part_boxes[:, p] for p in range(num_parts)]
    random_rows = [random_boxes(rng, data.object_boxes[chosen], sizes[:, p])
                   for p in range(num_parts)]
    for row, boxes_list in enumerate([[m] for m in masks] + [random_rows]):
      for boxes in boxes_list:
        eps = _feature_change(params, images, jnp.asarray(boxes),
                              jnp.float32(fill), spec=spec, layers=layers)
        for k, e in enumerate(eps):
          pooled[row][k].append(np.asarray(pair_disagreement(e)))
  values = [[np.concatenate(cell) for cell in row] for row in pooled]
  return CorrespondenceTable(
      locations=tuple(data.part_names) + ('random',), layers=layers,
      mean=np.array([[v.mean() for v in row] for row in values]),
      std=np.array([[v.std() for v in row] for row in values]),
      set_size=set_size, num_sets=num_sets, num_pairs=len(values[0][0]))


def format_table(table: CorrespondenceTable) -> str:
  """The table as aligned text, one row per masked location."""
  head = ['location'] + [f'{layer} (mean +- std)' for layer in table.layers]
  rows = [[name] + [f'{m:.3f} +- {s:.3f}' for m, s in zip(means, stds)]
          for name, means, stds in zip(table.locations, table.mean,
                                       table.std)]
  widths = [max(len(r[c]) for r in [head] + rows) for c in range(len(head))]
  lines = ['  '.join(cell.ljust(wd) for cell, wd in zip(r, widths)).rstrip()
           for r in [head] + rows]
  lines.append(f'({table.num_pairs} image pairs per cell: {table.num_sets} '
               f'set(s) of {table.set_size} images; fraction of feature '
               f'dimensions whose change differs in sign)')
  return '\n'.join(lines)
