"""The analyses' results as CSV files and aligned text tables.

Every writer takes a result and a path, writes the file under a temporary
name and renames it (a killed run never leaves half a table), and returns
the path.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import os
from typing import Sequence

import numpy as np

from zfjax.analyses.claims import Verdict
from zfjax.analyses.correspondence import CorrespondenceTable, MaskEffect
from zfjax.analyses.invariance import UNITS, InvarianceCurves
from zfjax.analyses.occlusion import OcclusionResult


@contextlib.contextmanager
def _csv_writer(path: str | os.PathLike):
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f'{path}.tmp-{os.getpid()}'
  with open(tmp, 'w', newline='') as f:
    yield csv.writer(f)
  os.replace(tmp, path)


def write_text(path: str | os.PathLike, text: str) -> str:
  """Writes `text` to `path` (its folder made if missing), atomically."""
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f'{path}.tmp-{os.getpid()}'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)
  return path


def write_occlusion_csv(path: str | os.PathLike, result: OcclusionResult,
                        image_names: Sequence[str]) -> str:
  """One row per (image, square position): the three Fig. 7 quantities."""
  with _csv_writer(path) as writer:
    writer.writerow(['image', 'label', 'y0', 'x0', 'size', 'p_true',
                     'top_label', f'activation_{result.layer}', 'channel'])
    for n, name in enumerate(image_names):
      for a, y0 in enumerate(result.ys):
        for b, x0 in enumerate(result.xs):
          writer.writerow([name, int(result.labels[n]), int(y0), int(x0),
                           result.size, f'{result.p_true[n, a, b]:.6f}',
                           int(result.top_label[n, a, b]),
                           f'{result.map_activation[n, a, b]:.6f}',
                           int(result.channel[n])])
  return os.fspath(path)


def write_invariance_csv(path: str | os.PathLike,
                         curves: Sequence[InvarianceCurves],
                         image_names: Sequence[str]) -> str:
  """One row per (transformation, image, amount): label, p(true class),
  top label and the relative distance at each layer."""
  layers = curves[0].layers
  with _csv_writer(path) as writer:
    writer.writerow(['transform', 'unit', 'amount', 'image', 'label',
                     'p_true', 'top_label']
                    + [f'distance_{layer}' for layer in layers])
    for curve in curves:
      for i, name in enumerate(image_names):
        for s, amount in enumerate(curve.amounts):
          writer.writerow(
              [curve.transform, UNITS[curve.transform], f'{amount:g}', name,
               int(curve.labels[i]), f'{curve.p_true[i, s]:.6f}',
               int(curve.top_label[i, s])]
              + [f'{curve.distance[k, i, s]:.6f}' for k in range(len(layers))])
  return os.fspath(path)


def write_correspondence_csv(path: str | os.PathLike,
                             table: CorrespondenceTable) -> str:
  """One row per (masked location, layer): mean, std, pooled pairs."""
  with _csv_writer(path) as writer:
    writer.writerow(['location', 'layer', 'mean', 'std', 'set_size',
                     'num_sets'])
    for r, location in enumerate(table.locations):
      for k, layer in enumerate(table.layers):
        writer.writerow([location, layer, f'{table.mean[r, k]:.6f}',
                         f'{table.std[r, k]:.6f}', table.set_size,
                         table.num_sets])
  return os.fspath(path)


def format_correspondence(table: CorrespondenceTable) -> str:
  """The table as aligned text, one row per masked location."""
  head = ['location'] + [f'{layer} (mean +- std)' for layer in table.layers]
  rows = [[name] + [f'{m:.3f} +- {s:.3f}' for m, s in zip(means, stds)]
          for name, means, stds in zip(table.locations, table.mean,
                                       table.std)]
  widths = [max(len(r[c]) for r in [head] + rows) for c in range(len(head))]
  lines = ['  '.join(cell.ljust(wd) for cell, wd in zip(r, widths)).rstrip()
           for r in [head] + rows]
  lines.append(f'(fraction of feature dimensions whose change differs in '
               f'sign, over {table.num_pairs} image pairs per part: '
               f'{table.num_sets} set(s) of {table.set_size} images'
               + (f', each at {table.num_placements} places'
                  if table.num_placements > 1 else '')
               + '; random: one draw per part size)')
  return '\n'.join(lines)


def format_mask_effects(effect: MaskEffect, class_names: Sequence[str],
                        top: int = 3) -> str:
  """`correspondence.MaskEffect` as text: per masked part, the probability
  of the class each image is given, before and after (means over images),
  and the `top` classes the mask moves the prediction towards and away
  from most (mean logit change against the given class's)."""
  given = ', '.join(f'{class_names[c]} {n}' for c, n in collections.Counter(
      effect.reference.tolist()).most_common())
  lines = [f'What each mask does to the prediction, over '
           f'{len(effect.reference)} images (given {given}): p(given class) '
           f'before -> after; the logits that rise and fall most against the '
           f'given class\'s']
  width = max(len(name) for name in effect.locations)

  def listed(change, classes):
    return ', '.join(f'{class_names[c]} {change[c]:+.2f}'
                     for c in classes[:top]) or 'none'
  for name, p_after, change in zip(effect.locations, effect.p_after,
                                   effect.logit_change):
    rising = np.argsort(-change)
    falling = rising[::-1]
    lines.append(f'  {name.ljust(width)}  {effect.p_before.mean():.2f} -> '
                 f'{p_after.mean():.2f}; towards '
                 f'{listed(change, rising[change[rising] > 0])}; away from '
                 f'{listed(change, falling[change[falling] < 0])}')
  return '\n'.join(lines)


def write_transfer_results(out: str, results, rows) -> tuple[str, str]:
  """results.csv (one row per run of a transfer protocol) and summary.csv
  (`transfer_protocols.summarise` rows: mean and std per count and kind) in
  `out`; returns their paths."""
  runs = os.path.join(out, 'results.csv')
  with _csv_writer(runs) as writer:
    writer.writerow(['kind', 'images_per_class', 'split',
                     'mean_class_accuracy'])
    for r in results:
      writer.writerow([r.kind, r.images_per_class, r.split_index,
                       f'{r.accuracy:.4f}'])
  summary = os.path.join(out, 'summary.csv')
  with _csv_writer(summary) as writer:
    writer.writerow(['kind', 'images_per_class', 'mean', 'std', 'splits'])
    for kind, count, m, s, n in rows:
      writer.writerow([kind, count, f'{m:.4f}', f'{s:.4f}', n])
  return runs, summary


def format_transfer_summary(rows) -> str:
  """`transfer_protocols.summarise` rows as a text table, accuracy in %."""
  lines = ['kind        images/class   mean per-class accuracy (%)']
  lines += [f'{kind:<11} {count:>12}   {100 * m:5.1f} +- {100 * s:.1f} '
            f'({n} splits)' for kind, count, m, s, n in rows]
  return '\n'.join(lines)


def write_voc_ap(path: str, result) -> str:
  """voc_ap.csv: per class (then their mean) the AP of the softmax and of
  the sigmoid head (`transfer_protocols.VocResult`), as fractions."""
  with _csv_writer(path) as writer:
    writer.writerow(['class', 'softmax_ap', 'sigmoid_ap'])
    for name, a, b in zip(result.class_names, result.softmax_ap,
                          result.sigmoid_ap):
      writer.writerow([name, f'{a:.4f}', f'{b:.4f}'])
    writer.writerow(['mean', f'{np.nanmean(result.softmax_ap):.4f}',
                     f'{np.nanmean(result.sigmoid_ap):.4f}'])
  return os.fspath(path)


def format_voc(r) -> str:
  """The VOC table: AP (%) per class and their mean, softmax and sigmoid."""
  lines = ['class          softmax AP %   sigmoid AP %']
  lines += [f'{name:<14} {100 * a:10.1f}   {100 * b:10.1f}'
            for name, a, b in zip(r.class_names, r.softmax_ap, r.sigmoid_ap)]
  lines.append(f'{"mean":<14} {100 * np.nanmean(r.softmax_ap):10.1f}   '
               f'{100 * np.nanmean(r.sigmoid_ap):10.1f}   (validation split; '
               f'the paper\'s 79.0 is on the test server)')
  return '\n'.join(lines)


def write_layer_accuracy(path: str, results) -> str:
  """layer_accuracy.csv: per layer its dimension and the two classifiers'
  mean per-class accuracy (`layer_features.LayerAccuracy`)."""
  with _csv_writer(path) as writer:
    writer.writerow(['layer', 'dims', 'svm_accuracy', 'softmax_accuracy'])
    for r in results:
      writer.writerow([r.layer, r.dims, f'{r.svm:.4f}', f'{r.softmax:.4f}'])
  return os.fspath(path)


def format_layer_accuracy(results) -> str:
  """`layer_features.run` results as a text table, accuracy in %."""
  lines = ['layer    dims   SVM %   softmax %']
  lines += [f'{r.layer:<7} {r.dims:>5}  {100 * r.svm:6.1f}   '
            f'{100 * r.softmax:6.1f}' for r in results]
  return '\n'.join(lines)


def write_claims_csv(path: str | os.PathLike,
                     verdicts: Sequence[Verdict]) -> str:
  """The scorecard: one row per claim, its criterion, this run's numbers
  and whether it holds."""
  with _csv_writer(path) as writer:
    writer.writerow(['claim', 'paper', 'criterion', 'measured', 'verdict'])
    for v in verdicts:
      writer.writerow([v.claim, v.paper, v.criterion, v.measured, v.status])
  return os.fspath(path)


def count_claims(verdicts: Sequence[Verdict]) -> str:
  """How many claims hold, of those measured: '5 of 7 claims hold', or '5
  of 6 measured claims hold (1 not measured)' where a run lacked what some
  claim needs, so that a missing measurement is not read as a failure."""
  held = sum(v.holds is True for v in verdicts)
  missing = sum(v.holds is None for v in verdicts)
  if not missing:
    return f'{held} of {len(verdicts)} claims hold'
  return (f'{held} of {len(verdicts) - missing} measured claims hold '
          f'({missing} not measured)')


def format_claims(verdicts: Sequence[Verdict]) -> str:
  """The scorecard as text: claim, the paper's figure, verdict, numbers."""
  lines = [f'{"claim":<6}{"paper":<18}{"verdict":<15}measured']
  for v in verdicts:
    lines.append(f'{v.claim:<6}{v.paper.split(":")[0]:<18}{v.status:<15}'
                 f'{v.measured}')
  return '\n'.join(lines)
