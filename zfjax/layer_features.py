r"""Per-layer features of a trained net as inputs to linear classifiers
(ZF Table 6): how well does each layer separate classes it was not trained
on?

  python -m zfjax.layer_features --config configs/transfer.py:shapes_novel_30 \
      --config.transfer.from_workdir=workdir/synthetic --out workdir/table6
  python -m zfjax.layer_features --config configs/transfer.py:caltech101_30 \
      --config.transfer.from_workdir=workdir/zfnet --out workdir/table6_c101

The config names the target data set and its random split (as a transfer
run's: `transfer.images_per_class`, `test_per_class`, `pool_splits`,
`split_seed`, `split_index`) and the trained run (`transfer.from_workdir`).
One streamed pass over the pooled images (the input pipeline's centre
crops, minus the source run's mean image) records every conv layer's
rectified maps and the hidden fully connected layers' outputs (the layers
of `models.Trace`). Spatial maps are max-pooled over a P x P grid of
equal cells (`--pool`, default 2: the strongest response of each map in
each quadrant, P*P*C numbers), so the sizes stay comparable and a layer's
dimension does not grow with the image. Each layer's features are
standardised (train statistics) and fed to a linear SVM (scikit-learn's
`LinearSVC`, C=`--svm_c`) and a softmax (multinomial `LogisticRegression`,
L2 with C=`--softmax_c`); both report the mean per-class accuracy on the
test images. Writes `layer_accuracy.csv` and `layer_accuracy.png` in
`--out` and prints the table.
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple, Sequence

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from zfjax import models  # noqa: E402
from zfjax import transfer  # noqa: E402
from zfjax.errors import ZfjaxError  # noqa: E402


class LayerAccuracy(NamedTuple):
  """Mean per-class test accuracy (fraction) of the linear classifiers on
  one layer's features, of `dims` numbers per image."""
  layer: str
  dims: int
  svm: float
  softmax: float


def grid_max_pool(maps: jax.Array, grid: int) -> jax.Array:
  """(N, H, W, C) -> (N, grid * grid * C): the maximum of each map over
  each cell of a grid x grid partition (cell i spans rows
  [floor(i H / grid), floor((i + 1) H / grid)), columns likewise), cells in
  row-major order, each cell's C maps together. (N, D) passes through."""
  if maps.ndim == 2:
    return maps
  h, w = maps.shape[1:3]
  if grid > min(h, w):
    raise ZfjaxError(f'a {grid}x{grid} pooling grid does not fit {h}x{w} '
                     f'maps; lower --pool')
  rows = [(i * h // grid, (i + 1) * h // grid) for i in range(grid)]
  cols = [(j * w // grid, (j + 1) * w // grid) for j in range(grid)]
  return jnp.concatenate([maps[:, r0:r1, c0:c1].max(axis=(1, 2))
                          for r0, r1 in rows for c0, c1 in cols], axis=1)


class LayerFeatures(NamedTuple):
  """features: layer -> (N, D) float32 of the pooled examples (the
  concatenated `pool_splits`); labels (N,) int32."""
  features: dict[str, np.ndarray]
  labels: np.ndarray


def extract(config: ml_collections.ConfigDict, source: transfer.Source,
            layers: Sequence[str], grid: int) -> LayerFeatures:
  """Every layer's pooled features for every image of the pooled splits, in
  one forward pass per batch."""
  layers = models.check_traced_layers(source.spec, layers)

  @jax.jit
  def forward(params, images):
    trace = models.forward_trace(params, images, source.spec)[1]
    return {l: grid_max_pool(trace.activations[l], grid) for l in layers}

  parts, labels = {l: [] for l in layers}, []
  for split in config.transfer.pool_splits:
    chunks = {l: [] for l in layers}
    split_labels = []
    for batch in transfer.source_images(config, split, source,
                                        desc=f'features of {split}'):
      out = forward(source.params, batch.images)
      for l in layers:
        chunks[l].append(np.asarray(out[l])[batch.mask])
      split_labels.append(batch.labels[batch.mask])
    for l in layers:
      parts[l].append(np.concatenate(chunks[l]))
    labels.append(np.concatenate(split_labels))
  return LayerFeatures({l: np.concatenate(parts[l]) for l in layers},
                       np.concatenate(labels).astype(np.int32))


def classify(features: LayerFeatures, split: transfer.Split, *,
             svm_c: float = 0.1, softmax_c: float = 1.0
             ) -> list[LayerAccuracy]:
  """A linear SVM and a softmax per layer, trained on `split.train`, mean
  per-class accuracy on `split.test`."""
  # scikit-learn is only needed here.
  # pylint: disable-next=g-import-not-at-top
  from sklearn import linear_model, preprocessing, svm
  y_train = features.labels[split.train]
  y_test = features.labels[split.test]
  out = []
  for layer, x in features.features.items():
    scaler = preprocessing.StandardScaler().fit(x[split.train])
    x_train, x_test = scaler.transform(x[split.train]), scaler.transform(
        x[split.test])
    svm_model = svm.LinearSVC(C=svm_c, max_iter=20_000, random_state=0)
    softmax = linear_model.LogisticRegression(C=softmax_c, max_iter=5_000)
    accuracies = [transfer.mean_class_accuracy(
        m.fit(x_train, y_train).predict(x_test), y_test)
                  for m in (svm_model, softmax)]
    out.append(LayerAccuracy(layer, x.shape[1], *accuracies))
  return out


def format_table(results: Sequence[LayerAccuracy]) -> str:
  lines = ['layer    dims   SVM %   softmax %']
  lines += [f'{r.layer:<7} {r.dims:>5}  {100 * r.svm:6.1f}   '
            f'{100 * r.softmax:6.1f}' for r in results]
  return '\n'.join(lines)


def write_outputs(results: Sequence[LayerAccuracy], out_dir: str,
                  title: str) -> tuple[str, str]:
  """layer_accuracy.csv and .png in `out_dir`; returns their paths."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir, exist_ok=True)
  csv = os.path.join(out_dir, 'layer_accuracy.csv')
  with open(csv, 'w') as f:
    f.write('layer,dims,svm_accuracy,softmax_accuracy\n')
    for r in results:
      f.write(f'{r.layer},{r.dims},{r.svm:.4f},{r.softmax:.4f}\n')
  fig, ax = plt.subplots(figsize=(6, 3.5))
  x = np.arange(len(results))
  ax.plot(x, [100 * r.svm for r in results], 'o-', label='linear SVM')
  ax.plot(x, [100 * r.softmax for r in results], 's--', label='softmax')
  ax.set_xticks(x, [r.layer for r in results])
  ax.set_ylabel('mean per-class accuracy (%)')
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  png = os.path.join(out_dir, 'layer_accuracy.png')
  fig.savefig(png, dpi=120)
  plt.close(fig)
  return csv, png


def run(config: ml_collections.ConfigDict, out_dir: str, *, grid: int = 2,
        layers: Sequence[str] | None = None, svm_c: float = 0.1,
        softmax_c: float = 1.0) -> list[LayerAccuracy]:
  """Table 6 for `config` (a transfer config with from_workdir and
  images_per_class set); writes the CSV and PNG into `out_dir`."""
  t = config.transfer
  if t.from_workdir is None or t.images_per_class is None:
    raise ZfjaxError('set config.transfer.from_workdir (the trained run) and '
                     'use a config with transfer.images_per_class (e.g. '
                     'configs/transfer.py:caltech101_30)')
  source = transfer.load_source(config)
  layers = layers or models.traced_layers(source.spec)
  features = extract(config, source, layers, grid)
  split = transfer.sample_split(features.labels, t.images_per_class,
                                t.test_per_class, seed=t.split_seed,
                                split_index=t.split_index)
  results = classify(features, split, svm_c=svm_c, softmax_c=softmax_c)
  write_outputs(results, out_dir,
                f'{config.dataset}, {t.images_per_class} images per class, '
                f'features of {os.path.basename(t.from_workdir.rstrip("/"))}')
  return results


def main(argv: Sequence[str]) -> None:
  # absl parses the flags (like train.py, so --config.key=value works).
  del argv
  try:
    results = run(_CONFIG.value, _OUT.value, grid=_POOL.value,
                  layers=_LAYERS.value, svm_c=_SVM_C.value,
                  softmax_c=_SOFTMAX_C.value)
  except ZfjaxError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(format_table(results))
  print(f'wrote {os.path.join(_OUT.value, "layer_accuracy.csv")} and .png')


if __name__ == '__main__':
  from absl import app, flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  _CONFIG = config_flags.DEFINE_config_file(
      'config', None, 'A transfer config, e.g. '
      'configs/transfer.py:caltech101_30.', lock_config=True)
  _OUT = flags.DEFINE_string('out', None, 'Directory for the CSV and PNG.')
  _POOL = flags.DEFINE_integer('pool', 2, 'Max-pool spatial maps over a '
                               'P x P grid.')
  _LAYERS = flags.DEFINE_list('layers', None, 'Layers (default: every conv '
                              'layer and hidden fully connected layer).')
  _SVM_C = flags.DEFINE_float('svm_c', 0.1, 'LinearSVC regularisation C.')
  _SOFTMAX_C = flags.DEFINE_float('softmax_c', 1.0, 'Softmax (logistic '
                                  'regression) regularisation C.')
  flags.mark_flags_as_required(['config', 'out'])
  app.run(main)
