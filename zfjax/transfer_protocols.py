r"""The paper's transfer protocols (ZF §5.2, Tables 4, 5, 7, Fig. 9), one
command each. Every run is a `train.py` run of `configs/transfer.py` in its
own workdir under --out (rerunning resumes, finished runs are only
evaluated), then its test images are scored:

  # Table 4: 15 and 30 images per class, 5 random splits, pretrained and
  # from scratch; mean per-class accuracy +- std over the splits
  python -m zfjax.transfer_protocols caltech101 --from_workdir workdir/zfnet \
      --out workdir/caltech101
  # Table 5 and Fig. 9: 15/30/45/60 per class, and the curve over 1-60
  python -m zfjax.transfer_protocols caltech256 --from_workdir workdir/zfnet \
      --out workdir/caltech256 --counts 1,2,3,5,10,15,20,30,45,60
  # Table 7: softmax on train, AP per class and mean on validation, plus a
  # per-class sigmoid (logistic) head on the same cached features
  python -m zfjax.transfer_protocols voc2012 --from_workdir workdir/zfnet \
      --out workdir/voc2012
  # The built-in analogue (minutes on a CPU)
  python -m zfjax.transfer_protocols shapes_novel \
      --from_workdir workdir/synthetic --out workdir/novel

Every run has the architecture and input size of the --from_workdir run.
`--noscratch` or `--nopretrained` runs one kind only (the scratch runs need
no --from_workdir). Writes `results.csv` (one row per run) and
`summary.csv` (mean and std per count and kind), `fig9.png` (accuracy
against training images per class, pretrained against scratch) for the
Caltech and built-in protocols, and `voc_ap.csv` for VOC; prints the
tables. The VOC numbers are on the
validation split: the paper's are from the test server, which cannot be
reached offline.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NamedTuple, Sequence

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from zfjax import checkpointing  # noqa: E402
from zfjax import models  # noqa: E402
from zfjax import train_lib  # noqa: E402
from zfjax import transfer  # noqa: E402
from zfjax.errors import ZfjaxError  # noqa: E402

_DEFAULT_COUNTS = {'caltech101': (15, 30), 'caltech256': (15, 30, 45, 60),
                   'shapes_novel': (1, 2, 5, 10, 20, 50)}
_DEFAULT_SPLITS = {'caltech101': 5, 'caltech256': 5, 'shapes_novel': 3}


class RunResult(NamedTuple):
  """One trained and scored run: kind 'pretrained' or 'scratch', training
  images per class, split index, mean per-class test accuracy."""
  kind: str
  images_per_class: int
  split_index: int
  accuracy: float


def transfer_config(variant: str, **overrides) -> ml_collections.ConfigDict:
  """configs/transfer.py:`variant` with dotted `overrides` (None skipped)."""
  from configs import transfer as transfer_configs
  config = transfer_configs.get_config(variant)
  for key, value in overrides.items():
    if value is None:
      continue
    *path, last = key.split('.')
    target = config
    for part in path:
      target = target[part]
    target[last] = value
  return config


def with_source_architecture(from_workdir: str | None,
                             overrides: dict) -> dict:
  """`overrides` plus the source run's `model`, `resize_size` and
  `crop_size` where they do not set them: a protocol's runs, scratch ones
  included, use the architecture and input size of the run they start from
  (ZFNet at 256/224 by default; a converted AlexNet or the built-in model
  otherwise)."""
  if from_workdir is None:
    return dict(overrides)
  source = checkpointing.load_config(from_workdir)
  merged = {key: source[key] for key in ('model', 'resize_size', 'crop_size')}
  merged.update({k: v for k, v in overrides.items() if v is not None})
  return merged


def test_scores(config: ml_collections.ConfigDict,
                workdir: str) -> tuple[np.ndarray, np.ndarray]:
  """(softmax (T, C) averaged over the two cached views, labels (T,) or 0/1
  (T, C)) of the finished run in `workdir` on its test images."""
  data = transfer.TransferData(config, workdir)
  trained = checkpointing.load_trained(workdir)
  spec = transfer.step_spec(config, trained.spec)
  predict = jax.jit(lambda p, x: jax.nn.softmax(models.apply(p, x, spec)))
  n = len(data.test_images.labels)
  probs, labels = [], []
  for start in range(0, n, config.eval_batch_size):
    rows = np.arange(start, min(start + config.eval_batch_size, n))
    batch = data.test_images.batch(rows, None)
    flat = batch.images.reshape((-1,) + batch.images.shape[2:])
    p = np.asarray(predict(trained.params, flat))
    probs.append(p.reshape(len(rows), -1, p.shape[-1]).mean(axis=1))
    labels.append(batch.labels)
  return np.concatenate(probs), np.concatenate(labels)


def _train(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Trains (or resumes) one run; a stopped run (its checkpoint saved) ends
  the protocol with the signal's exit status, unscored."""
  result = train_lib.train_and_evaluate(config, workdir)
  if result.stopped_by:
    sys.exit(128 + {'SIGINT': 2, 'SIGTERM': 15}.get(result.stopped_by, 15))


def train_and_score(variant: str, workdir: str, **overrides) -> float:
  """Trains (or resumes, or just loads) one run; its mean per-class test
  accuracy."""
  config = transfer_config(variant, **overrides)
  _train(config, workdir)
  probs, labels = test_scores(config, workdir)
  return transfer.mean_class_accuracy(probs.argmax(axis=1), labels)


def run_caltech_like(protocol: str, from_workdir: str | None, out: str,
                     counts: Sequence[int], splits: int, *, scratch: bool,
                     pretrained: bool = True,
                     **overrides) -> list[RunResult]:
  """Every (kind, count, split) run of a Caltech-style protocol; the
  scratch runs need no `from_workdir`."""
  results = []
  overrides = with_source_architecture(from_workdir, overrides)
  kinds = (('pretrained',) if pretrained else ()) + (
      ('scratch',) if scratch else ())
  for kind in kinds:
    for count in counts:
      for k in range(splits):
        variant = f'{protocol}_{count}' + ('_scratch' if kind == 'scratch'
                                           else '')
        extra = dict(overrides)
        extra['transfer.split_index'] = k
        if kind == 'pretrained':
          extra['transfer.from_workdir'] = from_workdir
        else:  # every scratch run shares one cache of preprocessed images
          extra['transfer.cache_dir'] = os.path.join(out, 'scratch_cache')
        accuracy = train_and_score(
            variant, os.path.join(out, variant, f'split{k}'), **extra)
        print(f'{kind:<10} {count:>3} images/class  split {k}: mean per-class '
              f'accuracy {100 * accuracy:.1f} %', flush=True)
        results.append(RunResult(kind, count, k, accuracy))
  return results


def summarise(results: Sequence[RunResult]) -> list[tuple[str, int, float,
                                                          float, int]]:
  """(kind, count, mean accuracy, std over splits, splits) per cell."""
  cells = {}
  for r in results:
    cells.setdefault((r.kind, r.images_per_class), []).append(r.accuracy)
  return [(kind, count, float(np.mean(a)), float(np.std(a)), len(a))
          for (kind, count), a in sorted(cells.items())]


def format_summary(rows) -> str:
  lines = ['kind        images/class   mean per-class accuracy (%)']
  lines += [f'{kind:<11} {count:>12}   {100 * m:5.1f} +- {100 * s:.1f} '
            f'({n} splits)' for kind, count, m, s, n in rows]
  return '\n'.join(lines)


def write_caltech_outputs(results: Sequence[RunResult], out: str,
                          title: str) -> None:
  import matplotlib
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'results.csv'), 'w') as f:
    f.write('kind,images_per_class,split,mean_class_accuracy\n')
    for r in results:
      f.write(f'{r.kind},{r.images_per_class},{r.split_index},'
              f'{r.accuracy:.4f}\n')
  rows = summarise(results)
  with open(os.path.join(out, 'summary.csv'), 'w') as f:
    f.write('kind,images_per_class,mean,std,splits\n')
    for kind, count, m, s, n in rows:
      f.write(f'{kind},{count},{m:.4f},{s:.4f},{n}\n')
  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for kind, style in (('pretrained', 'o-'), ('scratch', 's--')):
    mine = [r for r in rows if r[0] == kind]
    if mine:
      ax.errorbar([r[1] for r in mine], [100 * r[2] for r in mine],
                  yerr=[100 * r[3] for r in mine], fmt=style, capsize=3,
                  label=f'{kind}' if kind == 'scratch' else
                  'pretrained, softmax retrained')
  ax.set_xlabel('training images per class')
  ax.set_ylabel('mean per-class accuracy (%)')
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(out, 'fig9.png'), dpi=120)
  plt.close(fig)


class VocResult(NamedTuple):
  """Per-class AP (C,) on validation of the retrained softmax and of the
  per-class sigmoid head, with the class names."""
  class_names: tuple[str, ...]
  softmax_ap: np.ndarray
  sigmoid_ap: np.ndarray


def sigmoid_head_ap(config: ml_collections.ConfigDict, workdir: str,
                    c: float = 1.0) -> np.ndarray:
  """Per-class AP of independent logistic regressions (one per class, its
  images against all others) on the cached features of the training
  images (both views), scored on the test images (views averaged)."""
  from sklearn import linear_model, preprocessing
  data = transfer.TransferData(config, workdir)
  train = data.train_images.batch(np.arange(len(data.train_images.labels)),
                                  None)
  x_train = np.concatenate([train.images[:, v] for v in range(
      transfer.VIEWS)]).reshape(transfer.VIEWS * len(train.labels), -1)
  y_train = np.concatenate([train.labels] * transfer.VIEWS)
  test = data.test_images
  scaler = preprocessing.StandardScaler().fit(x_train)
  rows = np.arange(len(test.labels))
  batch = test.batch(rows, None)
  x_test = batch.images.reshape(len(rows) * transfer.VIEWS, -1)
  scores = []
  for k in range(y_train.shape[1]):
    model = linear_model.LogisticRegression(C=c, max_iter=2_000)
    model.fit(scaler.transform(x_train), y_train[:, k])
    p = model.decision_function(scaler.transform(x_test))
    scores.append(p.reshape(len(rows), transfer.VIEWS).mean(axis=1))
  return transfer.mean_average_precision(np.stack(scores, axis=1),
                                         batch.labels)[0]


def run_voc(from_workdir: str, out: str, **overrides) -> VocResult:
  workdir = os.path.join(out, 'voc2012')
  config = transfer_config('voc2012', **{
      'transfer.from_workdir': from_workdir,
      **with_source_architecture(from_workdir, overrides)})
  _train(config, workdir)
  probs, targets = test_scores(config, workdir)
  softmax_ap = transfer.mean_average_precision(probs, targets)[0]
  sigmoid_ap = sigmoid_head_ap(config, workdir)
  names = transfer.TransferData(config, workdir).info.class_names
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'voc_ap.csv'), 'w') as f:
    f.write('class,softmax_ap,sigmoid_ap\n')
    for name, a, b in zip(names, softmax_ap, sigmoid_ap):
      f.write(f'{name},{a:.4f},{b:.4f}\n')
    f.write(f'mean,{np.nanmean(softmax_ap):.4f},{np.nanmean(sigmoid_ap):.4f}\n')
  return VocResult(tuple(names), softmax_ap, sigmoid_ap)


def format_voc(r: VocResult) -> str:
  """The VOC table: AP (%) per class and their mean, softmax and sigmoid."""
  lines = ['class          softmax AP %   sigmoid AP %']
  lines += [f'{name:<14} {100 * a:10.1f}   {100 * b:10.1f}'
            for name, a, b in zip(r.class_names, r.softmax_ap, r.sigmoid_ap)]
  lines.append(f'{"mean":<14} {100 * np.nanmean(r.softmax_ap):10.1f}   '
               f'{100 * np.nanmean(r.sigmoid_ap):10.1f}   (validation split; '
               f'the paper\'s 79.0 is on the test server)')
  return '\n'.join(lines)


def _ints(text: str) -> tuple[int, ...]:
  return tuple(int(x) for x in text.split(',') if x)


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(
      prog='python -m zfjax.transfer_protocols',
      description='ZF §5.2 transfer protocols (Tables 4, 5, 7; Fig. 9).')
  parser.add_argument('protocol', choices=('caltech101', 'caltech256',
                                           'voc2012', 'shapes_novel'))
  parser.add_argument('--from_workdir', default=None,
                      help='the trained run whose layers 1-7 are kept '
                      '(needed unless --nopretrained)')
  parser.add_argument('--out', required=True, help='a directory for the runs')
  parser.add_argument('--counts', type=_ints, default=None,
                      help='training images per class, e.g. 15,30')
  parser.add_argument('--splits', type=int, default=None,
                      help='random splits per count')
  parser.add_argument('--noscratch', action='store_true',
                      help='skip the from-scratch runs')
  parser.add_argument('--nopretrained', action='store_true',
                      help='skip the pretrained runs (Caltech-style '
                      'protocols): only the from-scratch ones')
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--manual_dir', default=None)
  parser.add_argument('--num_epochs', type=int, default=None)
  args = parser.parse_args(argv)
  overrides = {'data_dir': args.data_dir, 'manual_dir': args.manual_dir,
               'num_epochs': args.num_epochs}
  try:
    pretrained = args.protocol == 'voc2012' or not args.nopretrained
    if pretrained and args.from_workdir is None:
      raise ZfjaxError(f'{args.protocol} needs --from_workdir, the trained '
                       f'run to transfer from' + (
                           '' if args.protocol == 'voc2012' else
                           ' (or --nopretrained for the scratch runs only)'))
    if not pretrained and args.noscratch:
      raise ZfjaxError('--nopretrained with --noscratch leaves no run; drop '
                       'one of them')
    if args.protocol == 'voc2012':
      print(format_voc(run_voc(args.from_workdir, args.out, **overrides)))
      print(f'wrote voc_ap.csv in {args.out}')
      return
    counts = args.counts or _DEFAULT_COUNTS[args.protocol]
    splits = args.splits or _DEFAULT_SPLITS[args.protocol]
    results = run_caltech_like(args.protocol, args.from_workdir, args.out,
                               counts, splits, scratch=not args.noscratch,
                               pretrained=pretrained,
                               **overrides)
  except ZfjaxError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  write_caltech_outputs(results, args.out,
                        f'{args.protocol}: mean per-class accuracy over '
                        f'{splits} splits')
  print(format_summary(summarise(results)))
  print(f'wrote results.csv, summary.csv and fig9.png in {args.out}')


if __name__ == '__main__':
  main()
