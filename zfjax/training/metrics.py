"""Classification counts and the metric files of a run.

`topk_correct` works on device arrays (inside the jitted steps); the counts
are summed over batches and turned into error rates on the host. The writer
appends one JSON object per line to `metrics.jsonl` and the same scalars to
TensorBoard event files under `tensorboard/`; only process 0 writes. A
resumed run first drops what was logged after its checkpoint
(`drop_after`), so that the files read as one uninterrupted run.
"""

from __future__ import annotations

import json
import os
from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

METRICS_FILE = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'


def topk_correct(scores: jax.Array, labels: jax.Array,
                 ks: tuple[int, ...] = (1, 5)) -> jax.Array:
  """(B, len(ks)) bool: whether labels (B,) are among the k best scores (B, C).

  A label is in the top k when fewer than k classes score strictly higher,
  so ties count in its favour (they are measure-zero for trained nets); a
  non-finite score of the label is never a hit, so a diverged net does not
  look perfect.
  """
  own = jnp.take_along_axis(scores, labels[:, None], axis=1)
  rank = jnp.sum(scores > own, axis=1)
  finite = jnp.isfinite(own[:, 0])
  return jnp.stack([(rank < k) & finite for k in ks], axis=1)


class Counts(NamedTuple):
  """Sums over examples: loss (nats; 0 where not computed), top-1 and top-5
  hits, and the number of examples. Scalars, host or device."""
  loss: jax.Array
  top1: jax.Array
  top5: jax.Array
  count: jax.Array

  @classmethod
  def zeros(cls) -> Counts:
    return cls(*(np.zeros((), np.float32) for _ in range(4)))

  def plus(self, other: Counts) -> Counts:
    return Counts(*(a + b for a, b in zip(self, other)))

  def rates(self) -> Rates:
    n = max(float(self.count), 1.0)
    return Rates(float(self.loss) / n, 1.0 - float(self.top1) / n,
                 1.0 - float(self.top5) / n, int(self.count))


class Rates(NamedTuple):
  """Mean loss (nats) and top-1 / top-5 error (fractions) over `count`."""
  loss: float
  top1_error: float
  top5_error: float
  count: int


def count_hits(scores: jax.Array, labels: jax.Array, mask: jax.Array,
               losses: jax.Array | None = None) -> Counts:
  """Counts of one batch; `mask` (B,) bool drops padding examples."""
  hits = topk_correct(scores, labels) & mask[:, None]
  weight = mask.astype(jnp.float32)
  loss = (jnp.zeros((), jnp.float32) if losses is None
          else jnp.sum(losses * weight))
  return Counts(loss, jnp.sum(hits[:, 0], dtype=jnp.float32),
                jnp.sum(hits[:, 1], dtype=jnp.float32), jnp.sum(weight))


class MetricWriter:
  """JSON lines plus TensorBoard scalars in `workdir`; a no-op when disabled.

  Every line is {"step": int, "split": str, name: float, ...}; TensorBoard
  tags are "split/name". Lines are flushed as written, so a killed run keeps
  everything it logged.
  """

  def __init__(self, workdir: str, *, enabled: bool = True):
    self._enabled = enabled
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, METRICS_FILE), 'a')
    # Imported here: TensorFlow is slow to import and only process 0 needs it.
    # pylint: disable=g-import-not-at-top
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2
    self._tf = tf
    self._tb = tf.summary.create_file_writer(
        os.path.join(workdir, TENSORBOARD_DIR))
    # The metadata TensorBoard's scalar dashboard looks for; written through
    # the low-level op because tf.summary.scalar needs the tensorboard package.
    self._scalar_metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name='scalars'))

  def write(self, step: int, split: str, scalars: Mapping[str, float]) -> None:
    if not self._enabled:
      return
    record = {'step': int(step), 'split': split}
    record.update({k: float(v) for k, v in scalars.items()})
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    tf = self._tf
    with self._tb.as_default():
      for name, value in scalars.items():
        tf.summary.write(f'{split}/{name}', tf.constant(float(value)),
                         step=int(step), metadata=self._scalar_metadata)
    self._tb.flush()

  def close(self) -> None:
    if self._enabled:
      self._jsonl.close()
      self._tb.close()


def drop_after(workdir: str, step: int) -> None:
  """Removes every record past `step` from the run's metrics.jsonl and
  TensorBoard event files: a run killed after its last checkpoint had
  logged steps it will now log again. Each file is rewritten under a
  temporary name and renamed (a kill here leaves the old or the new)."""
  path = os.path.join(workdir, METRICS_FILE)
  if os.path.exists(path):
    with open(path) as f:
      lines = [l for l in f if l.strip()]
    kept = [l for l in lines if json.loads(l)['step'] <= step]
    if len(kept) < len(lines):
      _replace(path, lambda f: f.writelines(kept), 'w')
  events = os.path.join(workdir, TENSORBOARD_DIR)
  if not os.path.isdir(events):
    return
  # pylint: disable-next=g-import-not-at-top
  from zfjax.data.tf_setup import tf
  from tensorflow.core.util import event_pb2  # pylint: disable=g-import-not-at-top
  for name in sorted(os.listdir(events)):
    if 'tfevents' not in name or '.tmp-' in name:
      continue
    file = os.path.join(events, name)
    records = [r.numpy() for r in tf.data.TFRecordDataset(file)]
    kept = [r for r in records
            if event_pb2.Event.FromString(r).step <= step]
    if len(kept) < len(records):
      def write(_, kept=kept, file=file):
        with tf.io.TFRecordWriter(f'{file}.tmp-{os.getpid()}') as writer:
          for record in kept:
            writer.write(record)
      _replace(file, write, None)


def _replace(path: str, write, mode: str | None) -> None:
  """Writes `path` through `write(file)` under a temporary name, then
  renames it over `path` (mode None: `write` opens the temporary itself)."""
  tmp = f'{path}.tmp-{os.getpid()}'
  if mode is None:
    write(None)
  else:
    with open(tmp, mode) as f:
      write(f)
  os.replace(tmp, path)


def read_metrics(workdir: str) -> list[dict]:
  """Every record of a run's metrics.jsonl, in the order written."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
