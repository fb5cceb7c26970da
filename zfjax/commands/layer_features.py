r"""`python -m zfjax layer_features`: per-layer features of a trained net
fed to linear classifiers (ZF Table 6).

  python -m zfjax layer_features --config configs/transfer.py:shapes_novel_20 \
      --config.transfer.from_workdir=workdir/synthetic --out workdir/table6
  python -m zfjax layer_features --config configs/transfer.py:caltech101_30 \
      --config.transfer.from_workdir=workdir/zfnet --out workdir/table6_c101

The config names the target data set, its random split and the trained run
(`analyses.layer_features` says what is measured). Writes
`layer_accuracy.csv` and `layer_accuracy.png` in --out and prints the
table. Flags are absl's, like train.py's, so --config.key=value works.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from zfjax.errors import ZfjaxError


def main(argv: Sequence[str]) -> None:
  """absl's app.run main: the flags are parsed by then."""
  del argv
  # pylint: disable=g-import-not-at-top
  from absl import flags
  from zfjax.analyses import layer_features
  from zfjax.figures import plots
  from zfjax.figures import tables
  # pylint: enable=g-import-not-at-top
  values = flags.FLAGS
  config, out = values.config, values.out
  try:
    results = layer_features.run(config, grid=values.pool,
                                 layers=values.layers, svm_c=values.svm_c,
                                 softmax_c=values.softmax_c)
  except ZfjaxError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  t = config.transfer
  csv = tables.write_layer_accuracy(os.path.join(out, 'layer_accuracy.csv'),
                                    results)
  target = config.dataset
  if target == 'zfjax_shapes_novel':
    target += f' ({config.shapes.novel_classes} classes)'
  plots.layer_accuracy(
      os.path.join(out, 'layer_accuracy.png'), results,
      f'{target}, {t.images_per_class} images per class, features '
      f'of {os.path.basename(t.from_workdir.rstrip("/"))}')
  print(tables.format_layer_accuracy(results))
  print(f'wrote {csv} and layer_accuracy.png')


def run(argv: Sequence[str]) -> int:
  """Defines the flags, then lets absl parse `argv` (program name first)."""
  # pylint: disable=g-import-not-at-top
  from absl import app, flags
  from ml_collections import config_flags
  # pylint: enable=g-import-not-at-top
  config_flags.DEFINE_config_file(
      'config', None, 'A transfer config, e.g. '
      'configs/transfer.py:caltech101_30.', lock_config=True)
  flags.DEFINE_string('out', None, 'Directory for the CSV and PNG.')
  flags.DEFINE_integer('pool', 2, 'Max-pool spatial maps over a P x P grid.')
  flags.DEFINE_list('layers', None, 'Layers (default: every conv layer and '
                    'hidden fully connected layer).')
  flags.DEFINE_float('svm_c', 0.1, 'LinearSVC regularisation C.')
  flags.DEFINE_float('softmax_c', 1.0, 'Softmax (logistic regression) '
                     'regularisation C.')
  flags.mark_flags_as_required(['config', 'out'])
  app.run(main, argv=list(argv))
  return 0
