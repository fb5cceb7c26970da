"""How the built-in classes are drawn from primitives, and composed of slots.

A class is a function of 4 jitter values in [-1, 1] returning its parts in
drawing order as (name, colour role, primitives), in the object's own frame
(a disc of radius 1, y down, x right); `shape_classes` and `novel_classes`
hold the catalogues, `shapes` renders them. Primitives, in object units:

  ('ellipse', cy, cx, ry, rx, angle_rad)
  ('box', cy, cx, half_height, half_width, corner_radius, angle_rad)
  ('poly', ((y, x), ...))  convex, either winding
  ('ring', cy, cx, radius, half_width)
"""

from __future__ import annotations

import itertools

import numpy as np


def circle(cy, cx, r):
  return ('ellipse', cy, cx, r, r, 0.0)


def mirror(prim):
  """The primitive reflected across the vertical axis x = 0."""
  kind = prim[0]
  if kind == 'poly':
    return ('poly', tuple((y, -x) for y, x in prim[1]))
  if kind in ('ellipse', 'box'):
    return (kind, prim[1], -prim[2]) + prim[3:-1] + (-prim[-1],)
  return (kind, prim[1], -prim[2]) + prim[3:]


def pair(name, prim):
  """Left and right parts; left is the one at smaller x before rotation."""
  return [(f'left_{name}', 'detail', [prim]),
          (f'right_{name}', 'detail', [mirror(prim)])]


def slot_designs(slots: tuple[dict, ...], count: int,
                 seed: int) -> list[tuple[str, ...]]:
  """`count` choices of one entry per slot (outline/body, top, inside,
  bottom), every two differing in at least two slots, drawn in a fixed order
  from a seeded shuffle of all choices with a top or a bottom."""
  every = [d for d in itertools.product(*slots)
           if (d[1], d[3]) != ('none', 'none')]
  order = np.random.default_rng(seed).permutation(len(every))
  chosen = []
  for k in order:
    design = every[k]
    if all(sum(a != b for a, b in zip(design, c)) >= 2 for c in chosen):
      chosen.append(design)
    if len(chosen) == count:
      return chosen
  raise AssertionError(f'only {len(chosen)} designs differ in two slots')


def slot_composite(slots: tuple[dict, ...], design: tuple[str, ...]):
  """A class drawing one entry of each slot: the first as the body named
  'body', the top in the body's colour, inside and bottom as details; each
  part named after its entry."""
  body, top, inside, bottom = (slot[name] for slot, name in zip(slots, design))

  def parts(j):
    out = [('body', 'body', body(j[0]))]
    if design[1] != 'none':
      out.append((design[1], 'body', top(j[1])))
    out.append((design[2], 'detail', inside(j[2])))
    if design[3] != 'none':
      out.append((design[3], 'detail', bottom(j[3])))
    return out
  return parts


def composites(slots: tuple[dict, ...], count: int,
               seed: int) -> tuple[tuple[str, object], ...]:
  """`count` classes of `slot_designs`, each (name, draw): named by its
  entries, 'none' left out (`disc_hat_squares_base`)."""
  return tuple(('_'.join(d for d in design if d != 'none'),
                slot_composite(slots, design))
               for design in slot_designs(slots, count, seed))


def part_names(catalogue) -> tuple[tuple[str, ...], ...]:
  """The part names of each (name, draw) class of `catalogue`, in order."""
  return tuple(tuple(part[0] for part in draw(np.zeros(4)))
               for _, draw in catalogue)
