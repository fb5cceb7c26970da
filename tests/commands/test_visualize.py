"""Grids (pixel sizes, contents) and the visualize.py commands end to end."""

import collections
import csv
import json
import pathlib
from typing import NamedTuple

import jax
import matplotlib.image
import numpy as np
import pytest

from configs import common
from zfjax.commands import top9
from zfjax.commands import visualize
from zfjax.training import checkpoints
from zfjax.analyses import correspondence
from zfjax.figures import grids
from zfjax.data import pipeline
from zfjax.networks import models
from zfjax.data import shapes
from zfjax.networks import specs
from zfjax.training import workdirs
from zfjax.analyses import filters

# ------------------------------------------------------------------- grids


def test_contrast_stretch_per_item_and_shared():
  x = np.array([[[-2.0, 0.0, 1.0]], [[0.0, 0.5, 0.25]]])
  np.testing.assert_array_equal(grids.contrast_stretch(x),
                                [[[0, 128, 191]], [[128, 255, 191]]])
  np.testing.assert_array_equal(grids.contrast_stretch(x, per_item=False),
                                [[[0, 128, 191]], [[128, 159, 143]]])


def test_top9_grid_pixel_size_and_placement():
  rng = np.random.default_rng(0)
  maps, p = 5, 7
  proj = rng.integers(0, 256, (maps, 9, p, p, 3), dtype=np.uint8)
  patch = rng.integers(0, 256, (maps, 9, p, p, 3), dtype=np.uint8)
  block = grids.top9_block(proj[0], patch[0])
  bh = 3 * p + 2 * grids.GAP
  bw = 2 * bh + grids.BLOCK_GAP
  assert block.shape == (bh, bw, 3)
  # Cell (row 1, col 2) of each 3x3 block is image 5 of the top-9.
  r0, c0 = p + grids.GAP, 2 * (p + grids.GAP)
  np.testing.assert_array_equal(block[r0:r0 + p, c0:c0 + p], proj[0, 5])
  c1 = bh + grids.BLOCK_GAP + c0
  np.testing.assert_array_equal(block[r0:r0 + p, c1:c1 + p], patch[0, 5])
  image = grids.top9_grid(proj, patch, cols=2)
  assert image.shape == (3 * bh + 2 * grids.BLOCK_GAP,
                         2 * bw + grids.BLOCK_GAP, 3)
  # Map 3 sits at block row 1, column 1.
  top, left = bh + grids.BLOCK_GAP, bw + grids.BLOCK_GAP
  np.testing.assert_array_equal(image[top:top + p, left:left + p], proj[3, 0])
  # Fewer than 9 images leave background cells.
  short = grids.top9_block(proj[0, :4], patch[0, :4])
  assert short.shape == block.shape
  assert np.all(short[2 * (p + grids.GAP):, :p] == grids.BACKGROUND)
  wide = grids.top9_block(proj[0, :1].repeat(10, 0), patch[0, :1].repeat(10, 0))
  assert wide.shape[0] == 4 * p + 3 * grids.GAP  # k = 10: a 4x4 grid


def test_filter_grid_and_stats():
  rng = np.random.default_rng(1)
  kernel = rng.normal(size=(5, 5, 3, 10)) * 0.1
  kernel[..., 2] *= 1e-3  # dead
  kernel[..., 7] *= 10  # dominant
  stats = filters.filter_stats(kernel)
  assert np.flatnonzero(stats.dead).tolist() == [2]
  assert np.flatnonzero(stats.dominant).tolist() == [7]
  np.testing.assert_allclose(stats.rms[4],
                             np.sqrt(np.mean(kernel[..., 4] ** 2)))
  image = grids.filter_grid(kernel, min_pixels=20)
  cell = 5 * 4  # upscaled by ceil(20 / 5)
  assert image.shape == (3 * cell + 2 * grids.GAP, 4 * cell + 3 * grids.GAP, 3)
  dead = image[0:cell, 2 * (cell + grids.GAP):2 * (cell + grids.GAP) + cell]
  assert np.all(np.abs(dead.astype(int) - 128) <= 1)  # shared scale: grey
  strong = image[cell + grids.GAP:2 * cell + grids.GAP,
                 3 * (cell + grids.GAP):3 * (cell + grids.GAP) + cell]
  assert strong.min() == 0 or strong.max() == 255
  alone = grids.filter_grid(kernel, per_filter=True, min_pixels=20)
  dead = alone[0:cell, 2 * (cell + grids.GAP):2 * (cell + grids.GAP) + cell]
  assert dead.min() == 0 or dead.max() == 255  # stretched on its own


def test_write_png_keeps_pixels(tmp_path):
  image = np.random.default_rng(2).integers(0, 256, (13, 21, 3), np.uint8)
  path = grids.write_png(tmp_path / 'a.png', image)
  back = matplotlib.image.imread(path)
  np.testing.assert_array_equal(np.round(back[..., :3] * 255), image)
  captioned = matplotlib.image.imread(
      grids.write_png(tmp_path / 'b.png', image, caption='conv1 ' * 9))
  lines = len(grids.wrap('conv1 ' * 9, 21 - 2 * grids.CAPTION_MARGIN))
  assert lines > 9  # narrower than one word: words broken
  assert captioned.shape[:2] == (
      13 + grids.CAPTION_PAD + grids.CAPTION_LINE * lines, 21)


CAPTIONS = [
    # The two that lost text at the right edge (a 6-epoch evolution figure
    # 2 cells wide; top9 with three maps), and words wider than the image.
    (2 * 112 + 2, 'zfnet_small conv1: rows maps 3 17 40; columns epochs '
     '1 2 3 4 5 6'),
    (2 * 340 + 6, 'zfnet_small epoch 6 conv5, top 9 of validation; maps '
     '3 17 40'),
    (60, 'WWWWWWWWWWWWWWWWWWWW mmmmmmmmmmmmmmm 0123456789 i'),
    (300, 'a b c ' * 40),
]


@pytest.mark.parametrize('width, caption', CAPTIONS)
def test_every_caption_lies_inside_its_figure(tmp_path, width, caption):
  image = np.full((40, width, 3), 90, np.uint8)
  fig = grids.captioned_figure(image, caption)
  renderer = fig.canvas.get_renderer()
  texts = [t for t in fig.texts if t.get_text()]
  for text in texts:  # the renderer's own extents, in pixels
    box = text.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= width, (text.get_text(), box)
    assert box.y0 >= 40 - 1  # in the band above the image
  # Nothing lost: the lines hold the caption's characters in order.
  assert ''.join(t.get_text() for t in texts).replace(' ', '') == (
      caption.replace(' ', ''))
  # And in the PNG: the band's outer columns hold no text.
  written = png(grids.write_png(tmp_path / 'c.png', image, caption))
  band = written[:written.shape[0] - 40]
  assert band.shape[0] > 0
  assert (band[:, [0, -1]] == 255).all()


# ------------------------------------------------ visualize.py end to end


class State(NamedTuple):
  params: dict


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  """A run of zfnet_small on a tiny zfjax_shapes, checkpointed at epochs
  1 and 2 (random weights; the figures' plumbing does not need training)."""
  root = tmp_path_factory.mktemp('run')
  config = common.get_config()
  config.model = 'zfnet_small'
  config.dataset = 'zfjax_shapes'
  config.data_dir = str(root / 'data')
  config.resize_size, config.crop_size = 32, 28
  config.shapes.image_size, config.shapes.num_train = 32, 24
  config.shapes.num_eval = 20
  config.eval_batch_size = 8
  config.keep_epochs = (1, 2)
  wd = str(root / 'wd')
  workdirs.save_config(config, wd)
  spec = specs.get_spec('zfnet_small', shapes.NUM_CLASSES)
  saver = checkpoints.Checkpoints(wd, keep_latest=1, keep_steps=[3, 6])
  for epoch in (1, 2):
    params = models.init_params(jax.random.PRNGKey(epoch), spec, 28,
                                weight_std=None)
    saver.save(State(params), checkpoints.CheckpointMeta(3 * epoch, epoch,
                                                           True))
  saver.close()
  return wd, config


def png(path):
  return np.round(matplotlib.image.imread(path)[..., :3] * 255).astype(int)


def written(wd, name):
  """The one file of figures/ called `name` (a glob pattern)."""
  found = sorted((pathlib.Path(wd) / 'figures').glob(name))
  assert len(found) == 1, (name, found)
  return found[0]


def test_top9_command_writes_grids_and_arrays(workdir, capsys):
  wd, config = workdir
  assert visualize.main(['--workdir', wd, 'top9', '--layers', 'conv1',
                         'conv5', '--maps', '3', '--npz']) == 0
  figures = pathlib.Path(wd) / 'figures'
  out = capsys.readouterr().out
  # --maps changes what the files show, so it is in their names; --layers
  # and --npz do not.
  assert str(figures / 'top9_conv1_maps3.png') in out
  spec = specs.zfnet_small()
  for layer in ('conv1', 'conv5'):
    arrays = np.load(figures / f'top9_{layer}_maps3.npz')
    p = min(specs.receptive_fields(spec)[layer].size, 28)
    assert arrays['projections'].shape == (3, 9, p, p, 3)
    index = arrays['index']
    assert np.all((index >= -1) & (index < config.shapes.num_eval))
    assert (index >= 0).mean() > 0.5
    for row in index:  # at most one per image, filled slots first
      filled = row[row >= 0]
      assert len(set(filled)) == len(filled) and np.all(row[len(filled):] < 0)
    assert np.all(np.diff(arrays['value'], axis=1) <= 0)
    # Pixel size: 3 maps in one column of blocks (about sqrt(maps / 2)
    # columns), each under its label band, cells enlarged to >= 96 px, a
    # caption band on top.
    cell = p * grids.display_factor(p, top9.CELL_PIXELS)
    assert cell >= 96
    bh = 3 * cell + 2 * grids.GAP
    image = png(figures / f'top9_{layer}_maps3.png')
    assert image.shape[1:] == (2 * bh + grids.BLOCK_GAP, 3)
    band = image.shape[0] - (3 * (bh + grids.LABEL_HEIGHT)
                             + 2 * grids.BLOCK_GAP)
    assert (band - grids.CAPTION_PAD) % grids.CAPTION_LINE == 0 and band > 0
    # Each block's label band holds text (dark pixels on white).
    for m in range(3):
      top = band + m * (bh + grids.LABEL_HEIGHT + grids.BLOCK_GAP)
      label = image[top:top + grids.LABEL_HEIGHT]
      assert label.min() < 100 and np.median(label) == 255
    assert image.std() > 10  # not blank
    record = json.loads((figures / f'top9_{layer}_maps3.json').read_text())
    assert record['options']['maps'] == 3
    assert record['files'] == [f'top9_{layer}_maps3.png',
                               f'top9_{layer}_maps3.npz']


def test_filters_and_evolution_commands(workdir, capsys):
  wd, _ = workdir
  assert visualize.main(['--workdir', wd, '--epoch', '1', 'filters']) == 0
  assert '32 filters' in capsys.readouterr().out
  image = png(written(wd, 'filters_conv1_epoch1.png'))
  cell = 7 * grids.display_factor(7, 32)
  assert image.shape[1] == 6 * cell + 5 * grids.GAP and image.std() > 10
  assert visualize.main(['--workdir', wd, 'evolution', '--layers', 'conv2',
                         '--channels', '0,5', '--limit', '16', '--npz']) == 0
  arrays = np.load(written(wd, 'evolution_conv2_channels0-5_limit16.npz'))
  p = min(specs.receptive_fields(specs.zfnet_small())['conv2'].size, 28)
  assert arrays['projections'].shape == (2, 2, p, p, 3)
  assert arrays['epochs'].tolist() == [1, 2]
  assert np.all((arrays['index'] >= -1) & (arrays['index'] < 16))
  image = png(written(wd, 'evolution_conv2_channels0-5_limit16.png'))
  cell = p * grids.display_factor(p, top9.CELL_PIXELS)
  assert image.shape[1] == 2 * cell + grids.GAP and image.std() > 10


def test_filters_command_draws_what_training_added(workdir, capsys):
  """Beside the filters, their change since the run's initialisation (the
  draw `train.py` starts from: its config's seed and weight scale)."""
  wd, config = workdir
  assert visualize.main(['--workdir', wd, '--epoch', '2', 'filters',
                         '--npz']) == 0
  assert 'less its initial weights (what training added)' in capsys.readouterr().out
  arrays = np.load(written(wd, 'filters_conv1_epoch2.npz'))
  start = models.init_params(jax.random.key(config.seed),
                             specs.get_spec('zfnet_small', shapes.NUM_CLASSES),
                             28, weight_std=config.weight_std,
                             bias_value=config.bias_value)['conv1']['kernel']
  np.testing.assert_allclose(arrays['initial'], start)
  np.testing.assert_allclose(
      arrays['change'],
      np.sqrt(np.mean((arrays['kernel'] - np.asarray(start)) ** 2,
                      axis=(0, 1, 2))), rtol=1e-6)
  image = png(written(wd, 'filters_conv1_change_epoch2.png'))
  cell = 7 * grids.display_factor(7, 32)
  assert image.shape[1] == 6 * cell + 5 * grids.GAP and image.std() > 10


def test_top9_rules_name_their_files_and_share_the_scan(workdir):
  wd, _ = workdir
  figures = pathlib.Path(wd) / 'figures'
  arrays = {}
  for rule in ('deconvnet', 'guided', 'gradient'):
    assert visualize.main(['--workdir', wd, 'top9', '--layers', 'conv2',
                           '--channels', '1,4', '--rule', rule,
                           '--npz']) == 0
    # The rule is in the name (the content tag) unless it is the default.
    name = 'top9_conv2_channels1-4' + ('' if rule == 'deconvnet'
                                       else f'_rule-{rule}')
    assert png(figures / f'{name}.png').std() > 10
    arrays[rule] = np.load(figures / f'{name}.npz')
  for rule in ('guided', 'gradient'):
    for key in ('index', 'value', 'y', 'x', 'patches'):
      np.testing.assert_array_equal(arrays[rule][key],
                                    arrays['deconvnet'][key])
    filled = arrays[rule]['index'] >= 0
    assert filled.any()
    assert not np.allclose(arrays[rule]['projections'][filled],
                           arrays['deconvnet']['projections'][filled])


def test_stimulus_command_grids_arrays_and_defaults(workdir):
  # pylint: disable-next=g-import-not-at-top
  from zfjax.analyses import stimulus
  from zfjax.commands import stimulus as command
  assert {name: default for name, _, default, _ in command.SETTINGS} == (
      stimulus.Settings()._asdict())
  wd, config = workdir
  assert visualize.main(['--workdir', wd, 'stimulus', '--layers', 'conv2',
                         'fc8', '--maps', '2', '--steps', '3', '--npz']) == 0
  figures = pathlib.Path(wd) / 'figures'
  size = config.crop_size
  for name in ('stimulus_conv2_maps2_steps3', 'stimulus_fc8_maps2_steps3'):
    arrays = np.load(figures / f'{name}.npz')
    assert arrays['images'].shape == (2, size, size, 3)
    assert arrays['objective'].shape == (2, 4)
    assert len(set(arrays['units'])) == 2
    # Two cells of 4x the crop (>= 96 px) in one column, each under its
    # title band, a caption on top.
    image = png(figures / f'{name}.png')
    cell = size * grids.display_factor(size, 96)
    assert image.shape[1] == cell and image.std() > 10
    block = grids.LABEL_HEIGHT + cell
    band = image.shape[0] - (2 * block + grids.GAP)
    assert (band - grids.CAPTION_PAD) % grids.CAPTION_LINE == 0 and band > 0
    for m in range(2):  # each title band holds text (dark on white)
      label = image[band + m * (block + grids.GAP):][:grids.LABEL_HEIGHT]
      assert label.min() < 100 and np.median(label) == 255


def read_csv(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def test_occlusion_command_rows_are_direct_forward_passes(workdir):
  """Every position of the CSV is one occluded image; a sample of them is
  recomputed with numpy masking and a plain forward pass."""
  wd, config = workdir
  assert visualize.main(['--workdir', wd, 'occlusion', '--indices', '3,7',
                         '--size', '8', '--stride', '5']) == 0
  figures = pathlib.Path(wd) / 'figures'
  # A CSV per image, named after it and the options that change it.
  rows = (read_csv(figures / 'occlusion_validation_3_size8_stride5.csv')
          + read_csv(figures / 'occlusion_validation_7_size8_stride5.csv'))
  # 28-pixel crops, square 8, step 5: corners 0..20, the last at 28 - 8.
  starts = [0, 5, 10, 15, 20]
  assert len(rows) == 2 * len(starts) ** 2
  assert sorted({int(r['y0']) for r in rows}) == starts
  assert sorted({int(r['x0']) for r in rows}) == starts
  model = workdirs.load_run(wd)
  batch = pipeline.DataSource(config).load_examples('validation', [3, 7])
  for row in rows[::6]:
    n = ['validation_3', 'validation_7'].index(row['image'])
    assert int(row['label']) == batch.labels[n]
    image = np.array(batch.images[n])
    y0, x0 = int(row['y0']), int(row['x0'])
    image[y0:y0 + 8, x0:x0 + 8] = 0.0  # the mean image
    probs = np.asarray(jax.nn.softmax(
        models.apply(model.params, image[None], model.spec)))[0]
    assert float(row['p_true']) == pytest.approx(probs[batch.labels[n]],
                                                 abs=1e-5)
    assert int(row['top_label']) == probs.argmax()
    conv5 = np.asarray(models.features(model.params, image[None],
                                       model.spec, 'conv5'))
    assert float(row['activation_conv5']) == pytest.approx(
        conv5[0, :, :, int(row['channel'])].sum(), rel=1e-4, abs=1e-4)
  for name in ('validation_3', 'validation_7'):
    assert png(figures / f'occlusion_{name}_size8_stride5.png').std() > 10


@pytest.mark.parametrize('method,transform,identity', [
    ('render', 'translate', 0.0), ('resample', 'scale', 1.0)])
def test_invariance_command_identity_is_the_stored_image(
    workdir, method, transform, identity):
  """At the identity step the distance is 0 and p(true class) is that of
  the stored image read through the data pipeline."""
  wd, config = workdir
  assert visualize.main(['--workdir', wd, 'invariance', '--indices', '2,5',
                         '--transforms', transform, '--method', method]) == 0
  rows = read_csv(written(wd, f'invariance_indices2-5_*{method}.csv'))
  assert len(rows) == 2 * 13 and {r['transform'] for r in rows} == {
      transform}
  model = workdirs.load_run(wd)
  batch = pipeline.DataSource(config).load_examples('validation', [2, 5])
  probs = np.asarray(jax.nn.softmax(
      models.apply(model.params, batch.images, model.spec)))
  for n, name in enumerate(['validation_2', 'validation_5']):
    row, = [r for r in rows
            if r['image'] == name and float(r['amount']) == identity]
    assert float(row['distance_conv1']) == pytest.approx(0, abs=1e-6)
    assert float(row['distance_fc7']) == pytest.approx(0, abs=1e-6)
    assert float(row['p_true']) == pytest.approx(
        probs[n, batch.labels[n]], abs=1e-4)
  assert png(written(wd, f'invariance_indices2-5_*{method}.png')).std() > 10


def test_correspondence_command_table_by_hand(workdir, capsys):
  """The two round faces of the split form the one set, measured at nine
  places; each part's cell pools the pair's sign disagreement at each
  place, recomputed with numpy masking."""
  wd, config = workdir
  assert visualize.main(['--workdir', wd, 'correspondence', '--classes',
                         'round_face', '--set_size', '2', '--num_sets',
                         '1']) == 0
  out = capsys.readouterr().out
  assert out.startswith('Frontal faces of round_face (2)\n')
  assert 'left_eye' in out and 'random' in out
  assert '1 set(s) of 2 images, each at 9 places' in out
  # Beside the table, what each mask does to the prediction.
  effects = out[out.index('What each mask does to the prediction, over 2 '
                          'images (given '):].splitlines()[1:4]
  assert [line.split()[0] for line in effects] == [
      'left_eye', 'right_eye', 'nose']
  rows = read_csv(written(wd, 'correspondence_*set_size2_num_sets1.csv'))
  # ZF Fig. 8 beside it: a header band, then the 2 faces as they are, with
  # each of the 3 parts masked and 2 random masks, each cell enlarged to at
  # least 96 pixels.
  figure = png(written(wd, 'correspondence_*set_size2_num_sets1.png'))
  cell = 56 * 2
  assert figure.shape[1] == 6 * cell + 5 * grids.GAP
  assert figure.shape[0] > 2 * cell + grids.GAP + grids.LABEL_HEIGHT
  assert [(r['location'], r['layer']) for r in rows] == [
      (location, layer)
      for location in ('left_eye', 'right_eye', 'nose', 'random')
      for layer in ('conv5', 'fc7')]
  model = workdirs.load_run(wd)
  # zfnet_small's conv5 units lie 8 input pixels apart.
  offsets = [(dy, dx) for dy in (-8, 0, 8) for dx in (-8, 0, 8)]
  want = collections.defaultdict(list)
  for offset in offsets:
    data = correspondence.builtin_faces(
        config, pipeline.DataSource(config).preprocessing,
        class_names=['round_face'], num_images=40, offset=offset)
    assert len(data.images) == 2  # examples 0 and 12 of the 20
    for p, part in enumerate(data.part_names):
      masked = data.images.copy()
      for i, (y0, x0, y1, x1) in enumerate(data.part_boxes[:, p]):
        masked[i, y0:y1, x0:x1] = 0.0
      for layer in ('conv5', 'fc7'):
        eps = (np.asarray(models.features(model.params, data.images,
                                          model.spec, layer))
               - np.asarray(models.features(model.params, masked,
                                            model.spec, layer))
               ).reshape(2, -1)
        want[part, layer].append(np.mean(np.sign(eps[0]) != np.sign(eps[1])))
  for (part, layer), values in want.items():
    row, = [r for r in rows if (r['location'], r['layer']) == (part, layer)]
    assert float(row['mean']) == pytest.approx(np.mean(values), abs=1e-5)
    assert float(row['std']) == pytest.approx(np.std(values), abs=1e-5)
  # At the centre alone: the one pair of the unmoved faces.
  assert visualize.main(['--workdir', wd, 'correspondence', '--classes',
                         'round_face', '--set_size', '2', '--num_sets', '1',
                         '--placements', '1']) == 0
  assert 'each at' not in capsys.readouterr().out
  rows = read_csv(written(
      wd, 'correspondence_*placements1_set_size2_num_sets1.csv'))
  centre = offsets.index((0, 0))
  for (part, layer), values in want.items():
    row, = [r for r in rows if (r['location'], r['layer']) == (part, layer)]
    assert float(row['mean']) == pytest.approx(values[centre], abs=1e-5)
    assert float(row['std']) == 0.0
  # Faces as stored stay where they are.
  assert visualize.main(['--workdir', wd, 'correspondence', '--as_stored',
                         '--placements', '9']) == 2
  assert '--placements 9 moves the built-in frontal faces' in (
      capsys.readouterr().err)


def test_missing_workdir(tmp_path, capsys):
  assert visualize.main(['--workdir', str(tmp_path / 'none'), 'top9']) == 2
  assert 'does not exist' in capsys.readouterr().err
  assert visualize.main(['--workdir', str(tmp_path), 'top9']) == 2
  assert 'no zfjax training run' in capsys.readouterr().err
