"""`visualize.py claims` end to end: on a configs/tiny.py run it measures
what it can and writes its files; what a run lacks (kept epochs, sibling
runs of the same data, object boxes) becomes one line per claim."""

import csv
import dataclasses
import os

import jax
import numpy as np
import pytest

import zfjax
from configs import tiny
from zfjax.analyses import claims
from zfjax.analyses import scorecard
from zfjax.commands import convert as convert_command
from zfjax.commands import visualize
from zfjax.figures import tables
from zfjax.networks import convert
from zfjax.networks import models
from zfjax.networks import specs
from shared import random_state_dict


@pytest.fixture(scope='module')
def alexnet(tmp_path_factory):
  """A converted AlexNet (random weights): another data set, no boxes."""
  path = tmp_path_factory.mktemp('alexnet') / 'alexnet'
  convert_command.write_workdir(
      convert.torchvision_alexnet(random_state_dict(3)), str(path))
  return str(path)


def _rows(path):
  with open(path, newline='') as f:
    return {int(r['claim']): r for r in csv.DictReader(f)}


def _written(out: str, suffix: str) -> str:
  """The path `visualize.main` printed that ends in `suffix`."""
  [path] = [l for l in out.splitlines() if l.endswith(suffix)]
  return path


def test_scorecard_of_a_tiny_run(tiny_run, alexnet, tmp_path, capsys):
  assert visualize.main(['--workdir', str(tiny_run), 'claims', '--claims',
                         '1', '2', '3', '4', '5', '6', '--siblings', alexnet,
                         '--out', str(tmp_path)]) == 0
  out = capsys.readouterr().out
  csv_path = _written(out, '.csv')
  # The claims chosen and the siblings compared are content: in the name.
  assert os.path.basename(csv_path) == (
      'claims_claims1-2-3-4-5-6_siblings-alexnet.csv')
  rows = _rows(csv_path)
  assert sorted(rows) == [1, 2, 3, 4, 5, 6]
  # configs/tiny.py keeps epochs 1 and 2: claim 2 says what it needs.
  assert rows[2]['verdict'] == 'not measured'
  assert 'kept epochs' in rows[2]['measured']
  # The converted AlexNet is of another data set: one line for claim 4.
  assert rows[4]['verdict'] == 'not measured'
  assert 'other data' in rows[4]['measured']
  # The others are measured (a barely trained run: whatever their verdict).
  for claim in (1, 3, 5, 6):
    assert rows[claim]['verdict'] in ('holds', 'does not hold')
    assert rows[claim]['criterion'] and rows[claim]['measured']
  for claim in rows:
    assert f'claim {claim}: ' in out
  # Claim 6 draws its sets from the validation images of the classes drawn
  # with eyes and a nose, round_face and cat_face (labels 0 and 2): of
  # configs/tiny.py's 64, whose labels cycle through its classes.
  config = tiny.get_config()
  faces = sum(len(range(label, config.shapes.num_eval,
                        config.shapes.num_classes)) for label in (0, 2))
  assert rows[6]['measured'].startswith(
      f'{min(faces, scorecard.CORRESPONDENCE_FACES)} frontal faces of '
      'round_face, cat_face, each set at 9 places: ')
  # The measurement at the centre alone, which it replaced, stays in view.
  assert '. At the centre alone: below random at conv5 by ' in (
      rows[6]['measured'])
  assert os.path.getsize(_written(out, '.png')) > 10_000


def test_claims_that_need_boxes_say_so_on_another_data_set(alexnet, capsys):
  """A converted AlexNet without its data set: every claim is one line
  saying what it needs; the command still writes the scorecard."""
  assert visualize.main(['--workdir', alexnet, 'claims', '--claims',
                         '1', '4', '5', '6', '7']) == 0
  printed = capsys.readouterr().out
  rows = _rows(_written(printed, '.csv'))
  assert all(r['verdict'] == 'not measured' for r in rows.values())
  for claim in (1, 5):
    assert 'needs object boxes' in rows[claim]['measured']
  assert 'needs images with marked parts' in rows[6]['measured']
  assert 'novel classes' in rows[7]['measured']
  assert 'needs runs with conv1' in rows[4]['measured']
  assert all(f'claim {c}: not measured' in printed for c in rows)


def test_the_count_in_the_title_leaves_out_unmeasured_claims():
  def verdicts(*holds):
    return [claims.Verdict(i + 1, 'Fig.', 'criterion', 'numbers', h)
            for i, h in enumerate(holds)]
  assert tables.count_claims(verdicts(True, False, True)) == (
      '2 of 3 claims hold')
  # Not measured is neither held nor failed: 5 of the 6 measured hold.
  assert tables.count_claims(verdicts(True, True, True, None, True, True,
                                      False)) == (
      '5 of 6 measured claims hold (1 not measured)')
  assert tables.count_claims(verdicts(None, None)) == (
      '0 of 0 measured claims hold (2 not measured)')


def test_siblings_differing_in_the_novel_set_are_of_the_same_data():
  """Claim 4 compares runs trained on the same images: the novel set's size
  is not part of them (training never reads it), the trained world is."""
  from zfjax.training import defaults  # pylint: disable=g-import-not-at-top
  ours = defaults.builtin_config()
  ours.shapes.novel_classes = 30
  theirs = defaults.builtin_config()
  assert scorecard._data_of(ours) == scorecard._data_of(theirs)
  theirs.shapes.face_breeds = True
  assert scorecard._data_of(ours) != scorecard._data_of(theirs)


def test_claim4_reports_each_runs_change_since_initialisation(tiny_run):
  """Three runs of the same data (the tiny run; an 11x11/4 one built with
  known dead and unlearned filters; the tiny run's weights as if trained
  unclipped): the dead counts and, not judged, each run's filters that
  changed by under 0.1x the median change since its own initialisation,
  against numpy."""
  # configs/tiny.py trains without clipping: the same weights stand for
  # the clipped reference too.
  unclipped = zfjax.load_run(str(tiny_run))
  config = unclipped.config.copy_and_resolve_references()
  config.clip_radius = 0.1
  run = dataclasses.replace(unclipped, config=config)
  wide_config = config.copy_and_resolve_references()
  wide_config.model = 'zfnet_small_11x11s4'
  wide_spec = specs.get_spec(wide_config.model, run.spec.num_classes)

  def draw(spec):
    return models.init_params(jax.random.key(config.seed), spec,
                              config.crop_size, weight_std=config.weight_std,
                              bias_value=config.bias_value)
  wide_params = draw(wide_spec)
  start = np.asarray(wide_params['conv1']['kernel'])
  kernel = start + np.random.default_rng(0).normal(size=start.shape) * 0.05
  kernel[..., :3] *= 1e-4          # dead by RMS (a large change)
  kernel[..., 5] = start[..., 5]   # never learned
  kernel[..., 6] = 0.95 * start[..., 6]  # only decayed
  wide_params['conv1'] = {**wide_params['conv1'], 'kernel': kernel}
  wide = dataclasses.replace(run, params=wide_params, spec=wide_spec,
                             config=wide_config, workdir='/runs/wide')
  assert unclipped.config.clip_radius is None
  verdict = scorecard.filters(run, [wide, unclipped])
  assert 'wide 11x11/4 (epoch 2) 3 dead, 0 dominant of 32' in (
      verdict.measured)

  def little(trained, initial):
    change = [np.sqrt(np.mean((trained[..., c] - initial[..., c]) ** 2))
              for c in range(trained.shape[-1])]
    return sum(c < 0.1 * np.median(change) for c in change)
  ours = little(np.asarray(run.params['conv1']['kernel']),
                np.asarray(draw(run.spec)['conv1']['kernel']))
  assert little(kernel, start) == 2
  assert (f'Not judged, the change since initialisation: {ours}, 2, {ours} '
          'filters changed by under 0.1x') in verdict.measured
