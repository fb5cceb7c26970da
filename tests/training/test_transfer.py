"""Transfer (ZF §5.2): the split sampler, the metrics, per-layer pooling,
and transfer runs of the built-in model through the trainer: frozen layers
stay bit-identical, and a softmax on the frozen net beats the same
architecture trained from scratch at 5 images per class of novel classes;
a run transfers without its pretraining data set (its saved mean image);
the VOC protocol end to end on mock VOC data.
"""

import csv
import itertools
import os
import shutil

import jax
import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from configs import common
from shared import colors as _colors, jpeg as _jpeg, mock_builder as _mock  # made VOC data
from zfjax.training import checkpoints
from zfjax.training import defaults
from zfjax.data import pipeline
from zfjax.analyses import layer_features
from zfjax.networks import models
from zfjax.training import schedule
from zfjax.networks import specs
from zfjax.training import trainer
from zfjax.training import transfer
from zfjax.analyses import transfer_protocols
from zfjax.errors import ZfjaxError
from zfjax.training import workdirs
from zfjax.figures import tables
from zfjax.commands import transfer as transfer_command
from zfjax.training import steps

# ------------------------------------------------------------------ splits


def _labels():
  # Classes of 31, 40 and 75 examples (Caltech's smallest class has 31),
  # interleaved.
  labels = np.repeat([4, 0, 9], [31, 40, 75])
  return np.random.default_rng(0).permutation(labels)


@pytest.mark.parametrize('train, test', [(15, 50), (30, 50), (1, None)])
def test_split_counts_and_disjointness(train, test):
  labels = _labels()
  split = transfer.sample_split(labels, train, test, seed=3, split_index=1)
  for c, size in ((4, 31), (0, 40), (9, 75)):
    assert np.sum(labels[split.train] == c) == train
    expected = size - train if test is None else min(test, size - train)
    assert np.sum(labels[split.test] == c) == expected
  assert not set(split.train) & set(split.test)
  assert len(set(split.train)) == len(split.train)
  assert len(set(split.test)) == len(split.test)


def test_split_is_reproducible_from_its_seed():
  labels = _labels()
  draw = lambda **k: transfer.sample_split(labels, 15, 50, **k)  # noqa: E731
  a, b = draw(seed=0, split_index=2), draw(seed=0, split_index=2)
  np.testing.assert_array_equal(a.train, b.train)
  np.testing.assert_array_equal(a.test, b.test)
  others = [draw(seed=0, split_index=k).train for k in range(5)]
  assert all(not np.array_equal(x, y)
             for x, y in itertools.combinations(others, 2))
  assert not np.array_equal(draw(seed=1, split_index=2).train, a.train)


def test_split_refuses_classes_too_small():
  with pytest.raises(ZfjaxError, match='class 4 has 31 images'):
    transfer.sample_split(_labels(), 31)


# ----------------------------------------------------------------- metrics


def test_mean_class_accuracy_hand_computed():
  # Class 0: 1/1 right; class 1: 2/3; class 2: 1/2; class 3 never occurs.
  predictions = [0, 0, 1, 1, 1, 2, 3]
  labels = [0, 1, 1, 1, 2, 2, 2]
  expected = (1 + 2 / 3 + 1 / 3) / 3
  assert transfer.mean_class_accuracy(predictions, labels) == pytest.approx(
      expected)
  # Plain accuracy would weigh class 1 and 2 more: 4/7.
  assert expected != pytest.approx(4 / 7)


def test_average_precision_hand_computed():
  # Positives at ranks 1 and 3: (1/1 + 2/3) / 2.
  assert transfer.average_precision([0.9, 0.8, 0.7, 0.6],
                                    [1, 0, 1, 0]) == pytest.approx(5 / 6)
  # A tie between a positive and a negative: both retrieved together,
  # precision 1/2 at recall 1/2, then 2/3 at recall 1.
  assert transfer.average_precision([0.5, 0.5, 0.2],
                                    [1, 0, 1]) == pytest.approx(
                                        0.5 * 0.5 + 0.5 * 2 / 3)
  assert np.isnan(transfer.average_precision([0.1, 0.2], [0, 0]))


def test_average_precision_matches_sklearn():
  rng = np.random.default_rng(0)
  for _ in range(20):
    n = int(rng.integers(5, 60))
    targets = rng.random(n) < 0.3
    targets[0] = True
    # Rounded scores: many ties.
    scores = np.round(rng.normal(size=n) + targets, 1)
    assert transfer.average_precision(scores, targets) == pytest.approx(
        average_precision_score(targets, scores))
  scores, targets = rng.normal(size=(30, 4)), rng.random((30, 4)) < 0.4
  ap, mean = transfer.mean_average_precision(scores, targets)
  np.testing.assert_allclose(
      ap, [average_precision_score(targets[:, c], scores[:, c])
           for c in range(4)])
  assert mean == pytest.approx(ap.mean())


def test_grid_max_pool_against_loops():
  maps = np.random.default_rng(0).normal(size=(2, 7, 5, 3)).astype(np.float32)
  out = np.asarray(layer_features.grid_max_pool(maps, 2))
  # Cells: rows [0, 3) and [3, 7), columns [0, 2) and [2, 5).
  expected = []
  for n in range(2):
    row = []
    for r0, r1 in ((0, 3), (3, 7)):
      for c0, c1 in ((0, 2), (2, 5)):
        for ch in range(3):
          row.append(max(maps[n, y, x, ch] for y in range(r0, r1)
                         for x in range(c0, c1)))
    expected.append(row)
  np.testing.assert_array_equal(out, np.array(expected, np.float32))
  with pytest.raises(ZfjaxError, match='grid'):
    layer_features.grid_max_pool(maps, 6)


def test_layer_classifiers_on_known_separability():
  # 'separable': each class a tight cluster at its own corner; 'noise': no
  # information about the label.
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(4), 40)
  centres = np.eye(4, 8) * 10
  features = layer_features.LayerFeatures(
      {'noise': rng.normal(size=(160, 8)),
       'separable': centres[labels] + rng.normal(size=(160, 8))},
      labels)
  split = transfer.sample_split(labels, 20, seed=0)
  results = {r.layer: r for r in layer_features.classify(features, split)}
  assert results['separable'].svm == 1.0
  assert results['separable'].softmax == 1.0
  assert results['noise'].svm < 0.5 and results['noise'].softmax < 0.5
  assert results['noise'].dims == 8


# ------------------------------------------- the built-in model, transferred


@pytest.fixture(scope='module')
def source_workdir(trained_shapes_model, tmp_path_factory):
  """The session's trained model saved as a training run's workdir."""
  trained = trained_shapes_model
  config = common.get_config()
  config.model = 'zfnet_small'
  config.dataset = 'zfjax_shapes'
  for key in ('data_dir', 'resize_size', 'crop_size'):
    config[key] = trained.config[key]
  config.shapes.update(trained.config.shapes.to_dict())
  workdir = str(tmp_path_factory.mktemp('source'))
  workdirs.save_config(config, workdir)
  state = trainer.TrainState(
      trained.params,
      steps.make_optimizer(config, 0.01).init(trained.params),
      schedule.init(0.01))
  ckpts = checkpoints.Checkpoints(workdir, keep_latest=1, keep_steps=())
  ckpts.save(state, checkpoints.CheckpointMeta(1, 1, True))
  ckpts.close()
  # As the trainer does (tested below with its transfer runs).
  workdirs.save_mean_image(workdir, pipeline.DataSource(config).mean_image)
  return workdir


def _novel_config(variant, data_dir, **extra):
  # 30 images of each novel class pooled: 5 train, the other 25 test.
  return transfer_protocols.transfer_config(
      variant, data_dir=data_dir,
      **{'num_epochs': 30, 'shapes.num_train': 100, 'shapes.num_eval': 200,
         **extra})


def test_transfer_beats_scratch_and_keeps_frozen_layers(
    trained_shapes_model, source_workdir, tmp_path):
  data_dir = trained_shapes_model.config.data_dir
  pre = _novel_config('shapes_novel_5', data_dir,
                      **{'transfer.from_workdir': source_workdir})
  scratch = _novel_config('shapes_novel_5_scratch', data_dir)
  accuracy = {}
  for name, config in (('pretrained', pre), ('scratch', scratch)):
    workdir = str(tmp_path / name)
    plan = transfer.plan(config, workdir)
    result = trainer.train_and_evaluate(config, workdir, plan=plan)
    assert result.step == 30 * 5  # 50 images, batches of 10
    probs, labels = transfer_protocols.test_scores(plan, workdir,
                                                   config.eval_batch_size)
    assert np.bincount(labels).tolist() == [25] * 10
    accuracy[name] = transfer.mean_class_accuracy(probs.argmax(1), labels)

  # Chance is 10 %.
  assert accuracy['pretrained'] >= 0.4, accuracy
  assert accuracy['pretrained'] >= accuracy['scratch'] + 0.15, accuracy

  after = workdirs.load_run(str(tmp_path / 'pretrained')).params
  before = trained_shapes_model.params
  for name in ('conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7'):
    for key in ('kernel', 'bias'):
      np.testing.assert_array_equal(np.asarray(after[name][key]),
                                    np.asarray(before[name][key]))
  assert after['fc8']['kernel'].shape == (256, 10)
  # The trainer saved the mean image each run's inputs are centred on: the
  # source's training set's, and the novel set's from scratch.
  source_mean = pipeline.DataSource(trained_shapes_model.config).mean_image
  novel_mean = pipeline.DataSource(scratch).mean_image
  assert np.abs(source_mean - novel_mean).max() > 1
  for name, mean in (('pretrained', source_mean), ('scratch', novel_mean)):
    np.testing.assert_array_equal(
        workdirs.load_mean_image(str(tmp_path / name)), mean)
  # The new softmax trained away from its initial values.
  spec = specs.get_spec('zfnet_small', 10)
  initial = models.init_params(jax.random.key(pre.seed), spec, pre.crop_size,
                               weight_std=pre.weight_std,
                               bias_value=pre.bias_value)['fc8']['kernel']
  assert np.abs(np.asarray(after['fc8']['kernel']) - initial).max() > 1e-3


def test_transfer_config_errors(source_workdir, trained_shapes_model,
                                tmp_path):
  data_dir = trained_shapes_model.config.data_dir
  config = _novel_config('shapes_novel_5', data_dir, crop_size=48,
                         **{'transfer.from_workdir': source_workdir})
  with pytest.raises(ZfjaxError,
                     match='crop_size=48 .* set config.crop_size=56'):
    trainer.train_and_evaluate(config, str(tmp_path / 'a'))
  config = _novel_config('shapes_novel_5', data_dir, batch_size=64,
                         **{'transfer.from_workdir': source_workdir})
  with pytest.raises(ZfjaxError, match='batch_size'):
    trainer.train_and_evaluate(config, str(tmp_path / 'b'))
  # The novel classes are drawn as the source's world draws its own: at
  # its image size, with its occluders; how many of them is the target's.
  size = workdirs.load_config(source_workdir).shapes.image_size
  for key, value, want in (('shapes.image_size', size + 8, size),
                           ('shapes.occluders', 0.5, 0.0)):
    config = _novel_config('shapes_novel_5', data_dir, **{
        key: value, 'transfer.from_workdir': source_workdir})
    with pytest.raises(ZfjaxError, match=(
        f'config.{key}={value} but the run in .* trained on a world with '
        f'{want}; set config.{key}={want}$')):
      transfer.load_source(config)
  config = _novel_config('shapes_novel_5', data_dir, **{
      'shapes.novel_classes': 30, 'transfer.from_workdir': source_workdir})
  assert transfer.load_source(config) is not None


def test_more_novel_classes_size_the_set_and_live_apart(monkeypatch,
                                                        tmp_path):
  """A source world with 30 novel classes: its transfer runs render 100
  train and 50 validation images of each (the splits draw 70), batch a
  fifth of the training images, and live in a folder of their own so that
  no 10-class run is resumed as a 30-class one."""
  ten = transfer_protocols.transfer_config('shapes_novel_5')
  thirty = transfer_protocols.transfer_config(
      'shapes_novel_5', **{'shapes.novel_classes': 30})
  assert (ten.shapes.novel_classes, ten.shapes.num_train, ten.shapes.num_eval,
          ten.batch_size) == (10, 1000, 500, 10)
  assert (thirty.shapes.novel_classes, thirty.shapes.num_train,
          thirty.shapes.num_eval, thirty.batch_size) == (30, 3000, 1500, 30)
  source = defaults.builtin_config()
  source.shapes.novel_classes = 30
  workdirs.save_config(source, str(tmp_path / 'source'))
  runs = []

  def fake_train_and_score(variant, workdir, **overrides):
    config = transfer_protocols.transfer_config(variant, **overrides)
    runs.append((os.path.relpath(workdir, tmp_path), config.shapes.num_train,
                 config.batch_size))
    return 0.5
  monkeypatch.setattr(transfer_protocols, 'train_and_score',
                      fake_train_and_score)
  transfer_protocols.run_caltech_like('shapes_novel', str(tmp_path / 'source'),
                                      str(tmp_path / 'out'), (1,), 1,
                                      scratch=True)
  assert runs == [
      ('out/novel_classes30/shapes_novel_1/split0', 3000, 6),
      ('out/novel_classes30/shapes_novel_1_scratch/split0', 3000, 6)]


def _moved_source(source_workdir, path, *, mean: bool, **config):
  """A copy of the source run (without its feature cache) with `config`
  changed in its config.json, with or without its saved mean image."""
  shutil.copytree(source_workdir, path,
                  ignore=shutil.ignore_patterns('feature_cache'))
  if not mean:
    os.remove(os.path.join(path, workdirs.MEAN_IMAGE_FILE))
  changed = workdirs.load_config(path)
  changed.update(config)
  workdirs.save_config(changed, path)
  return str(path)


def test_transfer_from_a_run_whose_data_set_is_gone(
    source_workdir, trained_shapes_model, tmp_path):
  # As if the run was trained on ImageNet and moved to a machine without
  # it (an empty data dir would only render the built-in set again).
  empty = str(tmp_path / 'empty')
  os.makedirs(empty)
  gone = dict(dataset='imagenet2012', data_dir=empty, manual_dir=empty)
  moved = _moved_source(source_workdir, tmp_path / 'moved', mean=True, **gone)
  data_dir = trained_shapes_model.config.data_dir
  cache = str(tmp_path / 'cache')

  def config(source):
    return _novel_config('shapes_novel_5', data_dir, num_epochs=1,
                         **{'transfer.from_workdir': source,
                            'transfer.cache_dir': cache})

  result = trainer.train_and_evaluate(config(moved), str(tmp_path / 'run'))
  assert result.step == 5 and result.validation_ten_crop is not None
  # Its features are those of a run from before the trainer saved the mean
  # image, whose mean comes from the data set.
  old = _moved_source(source_workdir, tmp_path / 'old', mean=False)
  features = [transfer.cached_inputs(pipeline.DataSource(config(s)), 'train',
                                     transfer.load_source(config(s)),
                                     cache).inputs for s in (moved, old)]
  assert features[0].shape == (100, transfer.VIEWS, 1, 1, 256)
  np.testing.assert_array_equal(features[0], features[1])
  # Without the saved mean the data set would be needed.
  old_moved = _moved_source(source_workdir, tmp_path / 'old_moved',
                            mean=False, **gone)
  with pytest.raises(ZfjaxError, match='ILSVRC2012'):
    transfer.load_source(config(old_moved))


_VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus',
                'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
                'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
                'train', 'tvmonitor')


def test_voc_protocol_end_to_end(source_workdir, trained_shapes_model,
                                 tmp_path_factory, tmp_path):
  # 24 solid-colour images per split; image i shows class i + shift (mod
  # 20), every third one a second class: every class has positives in both.
  colors = _colors(48, 3)
  labels = {s: [[(i + shift) % 20] + ([(i + shift + 7) % 20] if i % 3 == 0
                                      else []) for i in range(24)]
            for s, shift in (('train', 0), ('validation', 5))}
  examples = {s: {'image': [_jpeg(colors[24 * k + i], (30, 34))
                            for i in range(24)], 'labels': labels[s]}
              for k, s in enumerate(('train', 'validation'))}
  data_dir, mock = _mock('voc/2012', {'train': 24, 'validation': 24},
                         examples, tmp_path_factory)
  # The source's data set is out of reach under the mock (it serves every
  # builder from data_dir): the transfer reads the run's saved mean image.
  source_mean = pipeline.DataSource(trained_shapes_model.config).mean_image[4:60,
                                                                       4:60]
  out = str(tmp_path / 'out')
  sizes = dict(data_dir=data_dir, model='zfnet_small', resize_size=64,
               crop_size=56)
  with mock:
    # The architecture and sizes come from the source run.
    result = transfer_protocols.run_voc(
        source_workdir, out, batch_size=8, eval_batch_size=16, num_epochs=1,
        data_dir=data_dir)
    tables.write_voc_ap(os.path.join(out, 'voc_ap.csv'), result)
    # The reference: the whole trained net on the validation crops and
    # their mirrors, centred on the source's mean instead of VOC's.
    config = transfer_protocols.transfer_config('voc2012', **sizes)
    batch = next(pipeline.DataSource(config).eval_batches('validation',
                                             batch_size=24))
    images = (batch.images + pipeline.DataSource(config).mean_image[4:60, 4:60]
              - source_mean)
  trained = workdirs.load_run(os.path.join(out, 'voc2012'))
  probs = [jax.nn.softmax(models.apply(trained.params, x, trained.spec))
           for x in (images, images[:, :, ::-1])]
  scores = np.asarray(probs[0] + probs[1]) / 2
  targets = np.zeros((24, 20), int)
  for row, index in enumerate(batch.index):
    targets[row, labels['validation'][index]] = 1
  expected = [average_precision_score(targets[:, c], scores[:, c])
              for c in range(20)]
  np.testing.assert_allclose(result.softmax_ap, expected, atol=1e-6)

  with open(os.path.join(out, 'voc_ap.csv')) as f:
    rows = list(csv.reader(f))
  assert rows[0] == ['class', 'softmax_ap', 'sigmoid_ap']
  assert tuple(r[0] for r in rows[1:]) == _VOC_CLASSES + ('mean',)
  table = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
  assert np.all((table >= 0) & (table <= 1))
  np.testing.assert_allclose(table[:20, 0], expected, atol=5e-5)
  np.testing.assert_allclose(table[:20, 1], result.sigmoid_ap, atol=5e-5)
  np.testing.assert_allclose(table[20], table[:20].mean(axis=0), atol=1e-4)
  assert table[20, 0] == pytest.approx(np.mean(expected), abs=5e-5)

  lines = tables.format_voc(result).splitlines()
  assert lines[0].split() == ['class', 'softmax', 'AP', '%', 'sigmoid', 'AP',
                              '%']
  assert len(lines) == 22
  for line, row in zip(lines[1:], rows[1:]):
    name, softmax_ap, sigmoid_ap = line.split()[:3]
    assert name == row[0]
    assert float(softmax_ap) == pytest.approx(100 * float(row[1]), abs=0.06)
    assert float(sigmoid_ap) == pytest.approx(100 * float(row[2]), abs=0.06)
  assert 'validation split' in lines[-1] and 'test server' in lines[-1]


@pytest.mark.parametrize('argv, message', [
    (['shapes_novel'], 'needs --from_workdir'),
    (['voc2012', '--nopretrained'], 'needs --from_workdir'),
    (['caltech101', '--nopretrained', '--noscratch'], 'leaves no run')])
def test_protocol_command_errors_are_one_line(argv, message, tmp_path,
                                              capsys):
  assert transfer_command.main(argv + ['--out', str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and message in err
  assert err.count('\n') == 1
