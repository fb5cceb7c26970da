r"""Per-layer features of a trained net as inputs to linear classifiers
(ZF Table 6): how well does each layer separate classes it was not trained
on? `python -m zfjax layer_features` runs it.

The config names the target data set and its random split (as a transfer
run's: `transfer.images_per_class`, `test_per_class`, `pool_splits`,
`split_seed`, `split_index`) and the trained run (`transfer.from_workdir`).
One streamed pass over the pooled images (the input pipeline's centre
crops, minus the source run's mean image) records every conv layer's
rectified maps and the hidden fully connected layers' outputs (the layers
of `models.Trace`). Spatial maps are max-pooled over a P x P grid of
equal cells (default 2: the strongest response of each map in each
quadrant, P*P*C numbers), so the sizes stay comparable and a layer's
dimension does not grow with the image. Each layer's features are
standardised (train statistics) and fed to a linear SVM (scikit-learn's
`LinearSVC`) and a softmax (multinomial `LogisticRegression`, L2); both
report the mean per-class accuracy on the test images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from zfjax.errors import ZfjaxError
from zfjax.networks import models
from zfjax.training import transfer

if TYPE_CHECKING:
  from zfjax.data import pipeline


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


def extract(target: pipeline.DataSource, source: transfer.Source,
            layers: Sequence[str], grid: int) -> LayerFeatures:
  """Every layer's pooled features for every image of the pooled splits of
  `target` (config.transfer.pool_splits), one forward pass per batch."""
  layers = models.check_traced_layers(source.spec, layers)

  @jax.jit
  def forward(params, images):
    trace = models.forward_trace(params, images, source.spec)[1]
    return {l: grid_max_pool(trace.activations[l], grid) for l in layers}

  parts, labels = {l: [] for l in layers}, []
  for split in target.config.transfer.pool_splits:
    chunks = {l: [] for l in layers}
    split_labels = []
    for batch in transfer.source_images(target, split, source,
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


def run(config: ml_collections.ConfigDict, *, grid: int = 2,
        layers: Sequence[str] | None = None, svm_c: float = 0.1,
        softmax_c: float = 1.0) -> list[LayerAccuracy]:
  """Table 6 for `config` (a transfer config with from_workdir and
  images_per_class set)."""
  t = config.transfer
  if t.from_workdir is None or t.images_per_class is None:
    raise ZfjaxError('set config.transfer.from_workdir (the trained run) and '
                     'use a config with transfer.images_per_class (e.g. '
                     'configs/transfer.py:caltech101_30)')
  source = transfer.load_source(config)
  layers = layers or models.traced_layers(source.spec)
  # pylint: disable-next=g-import-not-at-top
  from zfjax.data import pipeline  # TensorFlow: only when data is read
  features = extract(pipeline.DataSource(config), source, layers, grid)
  split = transfer.sample_split(features.labels, t.images_per_class,
                                t.test_per_class, seed=t.split_seed,
                                split_index=t.split_index)
  return classify(features, split, svm_c=svm_c, softmax_c=softmax_c)
