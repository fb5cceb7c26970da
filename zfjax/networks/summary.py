r"""Per-layer summary of any spec: output shape, parameters, multiply-adds and
receptive field, from the layer table alone (no arrays are made).

  python -m zfjax summary zfnet
  python -m zfjax summary alexnet_torchvision --image_size 256
  python -m zfjax summary zfnet_small --num_classes 12

Multiply-adds count every filter tap of every output (padded taps included,
the usual convention: conv k * k * Cin / groups * Cout * Ho * Wo, Dense
in * out); pooling, LRN and ReLU are not counted. The receptive field is the
side of the input square a unit sees and the step between neighbouring
units, in pixels (`specs.receptive_fields`; Dense layers see everything).

Flax's `tabulate` is not used: it reports one row per module call, and
`flax_module.ConvNet` is a single call of the project's one forward pass
(per-layer submodules would be a second forward); nor does it have
receptive-field or multiply-add columns (its FLOPs are XLA's, which skip
padded taps and count ReLUs and pools).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from zfjax.networks import specs


class LayerSummary(NamedTuple):
  """One row. rf_size, rf_jump: None for Dense layers (they see the whole
  image) and above irregular adaptive pooling."""
  name: str
  kind: str
  output_shape: tuple[int, ...]
  params: int
  mult_adds: int
  rf_size: int | None
  rf_jump: int | None


def _kind(layer: specs.Layer) -> str:
  if isinstance(layer, specs.Conv):
    groups = f', {layer.groups} groups' if layer.groups > 1 else ''
    return f'conv {layer.kernel}x{layer.kernel}/{layer.stride}{groups}'
  if isinstance(layer, specs.MaxPool):
    return f'max-pool {layer.window}x{layer.window}/{layer.stride}'
  if isinstance(layer, specs.AdaptiveAvgPool):
    return f'adaptive avg-pool to {layer.output_size}x{layer.output_size}'
  if isinstance(layer, specs.LRN):
    return f'LRN {layer.size}'
  return 'dense'


def summarize(spec: specs.Spec,
              image_size: int | None = None) -> list[LayerSummary]:
  """One `LayerSummary` per layer of `spec` at `image_size` pixels (default
  the spec's native size)."""
  size = spec.image_size if image_size is None else image_size
  out_shapes = specs.layer_shapes(spec, size)
  in_shapes = specs.input_shapes(spec, size)
  fields = specs.receptive_fields(spec, size)
  rows = []
  for layer in spec.layers:
    out = out_shapes[layer.name]
    params = mult_adds = 0
    if isinstance(layer, specs.Conv):
      taps = layer.kernel ** 2 * in_shapes[layer.name][-1] // layer.groups
      params = (taps + 1) * layer.features
      mult_adds = taps * int(np.prod(out))
    elif isinstance(layer, specs.Dense):
      inputs = int(np.prod(in_shapes[layer.name]))
      params = (inputs + 1) * layer.features
      mult_adds = inputs * layer.features
    rf = fields.get(layer.name)
    rows.append(LayerSummary(layer.name, _kind(layer), out, params, mult_adds,
                             rf.size if rf else None,
                             rf.jump if rf else None))
  return rows


def format_summary(spec: specs.Spec, rows: Sequence[LayerSummary],
                   image_size: int | None = None) -> str:
  """The rows as a text table with a total line."""
  size = spec.image_size if image_size is None else image_size
  header = ('layer', 'kind', 'output', 'params', 'mult-adds',
            'receptive field')
  table = [header]
  for r in rows:
    field = (f'{r.rf_size} px, step {r.rf_jump}' if r.rf_size is not None
             else 'whole image' if len(r.output_shape) == 1 else '-')
    table.append((r.name, r.kind, 'x'.join(map(str, r.output_shape)),
                  f'{r.params:,}', f'{r.mult_adds:,}', field))
  table.append(('total', '', '', f'{sum(r.params for r in rows):,}',
                f'{sum(r.mult_adds for r in rows):,}', ''))
  widths = [max(len(row[i]) for row in table) for i in range(len(header))]
  right = (False, False, True, True, True, False)
  lines = [f'{spec.name} at {size}x{size} pixels, {spec.num_classes} classes']
  for i, row in enumerate(table):
    lines.append('  '.join(cell.rjust(w) if r else cell.ljust(w)
                           for cell, w, r in zip(row, widths, right)).rstrip())
    if i == 0 or i == len(table) - 2:
      lines.append('-' * len(lines[-1]))
  return '\n'.join(lines)
