"""The scorecard's criteria on constructed cases whose answer is known: for
each claim, measurements built so that it holds and others so that it
fails, and the measuring helpers against brute-force versions."""

import numpy as np
import pytest

from zfjax.analyses import claims
from zfjax.analyses import filters
from zfjax.data import shape_classes
from zfjax.data import shapes

# ------------------------------------------------------------- 1: Fig. 2


def test_box_fractions_by_hand():
  rng = np.random.default_rng(0)
  magnitude = rng.uniform(0, 1, (3, 10, 12))
  boxes = np.array([[2, 3, 6, 9], [0, 0, 10, 12], [5, 5, 5, 9]])
  fields = np.array([[0, 0, 10, 12], [1, 1, 4, 4], [2, 2, 8, 8]])
  inside, chance = claims.box_fractions(magnitude, boxes, fields)
  for m, (y0, x0, y1, x1), (fy0, fx0, fy1, fx1), i, c in zip(
      magnitude, boxes, fields, inside, chance):
    assert i == pytest.approx(m[y0:y1, x0:x1].sum() / m.sum())
    box = np.zeros((10, 12), bool)
    box[y0:y1, x0:x1] = True
    field = np.zeros((10, 12), bool)
    field[fy0:fy1, fx0:fx1] = True
    assert c == pytest.approx((box & field).sum() / field.sum())
  zero, _ = claims.box_fractions(np.zeros((1, 4, 4)), boxes[:1], fields[:1])
  assert zero[0] == 0.0


def test_projections_criterion():
  boxes = np.array([[8, 8, 24, 24]] * 20)   # a quarter of a 32x32 field
  fields = np.array([[0, 0, 32, 32]] * 20)
  on_object = np.zeros((20, 32, 32))
  on_object[:, 10:22, 9:20] = 1.0           # all inside the box
  inside, chance = claims.box_fractions(on_object, boxes, fields)
  assert claims.judge_projections(inside, chance, 'conv5').holds
  spread = np.ones((20, 32, 32))            # as much inside as chance
  inside, chance = claims.box_fractions(spread, boxes, fields)
  assert chance.mean() == pytest.approx(0.25)
  assert not claims.judge_projections(inside, chance, 'conv5').holds
  assert claims.judge_projections(np.zeros(0), np.zeros(0),
                                  'conv5').holds is None


# ------------------------------------------------------------- 2: Fig. 4


def test_cosine_and_settling():
  a = np.array([[1.0, 0, 0], [1, 1, 0], [0, 0, 0]])
  b = np.array([[2.0, 0, 0], [0, 1, 1], [1, 0, 0]])
  np.testing.assert_allclose(claims.cosine_similarity(a, b), [1, 0.5, 0])
  epochs = [1, 2, 4, 6, 8]
  assert claims.settling_epoch(epochs, [0.9, 0.95, 0.9, 0.99, 1]) == 1
  assert claims.settling_epoch(epochs, [0.9, 0.5, 0.9, 0.99, 1]) == 4
  assert claims.settling_epoch(epochs, [0.1, 0.2, 0.3, 0.4, 1]) == 8


def test_settling_criterion():
  epochs = [1, 2, 3, 4, 5, 6]
  layers = ['conv1', 'conv2', 'conv3']
  # Lower layers reach their final projections first.
  ordered = np.array([[0.9, 0.95, 0.97, 0.99, 1, 1],
                      [0.5, 0.7, 0.85, 0.9, 0.95, 1],
                      [0.2, 0.3, 0.5, 0.7, 0.9, 1]])
  verdict = claims.judge_settling(layers, epochs, ordered)
  assert verdict.holds and 'conv1 1, conv2 3, conv3 5' in verdict.measured
  assert '(of kept epochs 1-6)' in verdict.measured
  # Kept epochs with gaps are written as runs.
  gappy = claims.judge_settling(layers, [1, 2, 3, 5, 7, 8], ordered)
  assert '(of kept epochs 1-3, 5, 7-8)' in gappy.measured
  assert not claims.judge_settling(layers, epochs, ordered[::-1]).holds
  # All at once: the first does not settle before the top.
  assert not claims.judge_settling(layers, epochs,
                                   np.ones((3, 6))).holds
  short = claims.judge_settling(layers, [1, 2], ordered[:, :2])
  assert short.holds is None and '3 kept epochs' in short.measured


def test_rank_correlation_matches_a_formula():
  # Without ties, Spearman's rho is 1 - 6 sum d^2 / (n (n^2 - 1)).
  rng = np.random.default_rng(3)
  x, y = rng.permutation(7), rng.permutation(7)
  d = x - y
  want = 1 - 6 * (d ** 2).sum() / (7 * 48)
  assert claims._rank_correlation(x, y) == pytest.approx(want)


# ------------------------------------------------------------- 3: Fig. 5


def test_sweep_indices():
  translate = np.arange(-6, 7) * 3.0
  np.testing.assert_array_equal(claims.near_identity('translate', translate),
                                [5, 7])
  np.testing.assert_array_equal(claims.half_range('translate', translate),
                                np.arange(3, 10))
  scale = np.round(np.linspace(0.6, 1.8, 13), 2)
  np.testing.assert_array_equal(scale[claims.half_range('scale', scale)],
                                [0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4])
  turns = np.arange(0.0, 361.0, 30.0)
  np.testing.assert_array_equal(turns[claims.symmetric_turns(turns, 4)],
                                [90, 180, 270])
  np.testing.assert_array_equal(turns[claims.symmetric_turns(turns, 6)],
                                [60, 120, 180, 240, 300])
  assert len(claims.symmetric_turns(turns, 0)) == 11
  assert len(claims.symmetric_turns(turns, 1)) == 0


def _sweeps(first_saturates: bool, rotation_falls: bool, n: int = 4):
  """Distances rising like the paper's (layer 1 saturating at once, layer 7
  linear) or the other way round; p(true) high for translation and scale;
  under rotation falling except at 180 degrees (images 2, 3: order 2)."""
  sweeps = {}
  for transform, amounts in (('translate', np.arange(-6, 7) * 3.0),
                             ('scale', np.round(np.linspace(0.6, 1.8, 13),
                                                2))):
    step = np.abs(amounts - (1.0 if transform == 'scale' else 0.0))
    step = step / step.max()
    fast, slow = np.minimum(1.0, 4 * step), step
    pair = (fast, slow) if first_saturates else (slow, fast)
    sweeps[transform] = claims.Sweep(
        amounts, np.stack([np.tile(c, (n, 1)) for c in pair]),
        np.full((n, 13), 0.9))
  turns = np.arange(0.0, 361.0, 30.0)
  p = np.full((n, 13), 0.9)
  if rotation_falls:
    p[:, (turns > 20) & (turns < 340)] = 0.1
    p[2:, turns == 180] = 0.85  # the symmetric ones
  sweeps['rotate'] = claims.Sweep(turns, np.zeros((2, n, 13)), p)
  return sweeps


def test_invariance_criterion():
  symmetry = np.array([1, 1, 2, 2])
  layers = ('conv1', 'fc7')
  assert claims.judge_invariance(_sweeps(True, True), symmetry, layers).holds
  # The top layer moving faster than the first: fails.
  assert not claims.judge_invariance(_sweeps(False, True), symmetry,
                                     layers).holds
  # Rotation leaving p(true) high for every class: fails.
  assert not claims.judge_invariance(_sweeps(True, False), symmetry,
                                     layers).holds
  # Symmetric classes that lose p(true) at their symmetric turn: fails.
  broken = _sweeps(True, True)
  broken['rotate'].p_true[2:] = 0.1
  broken['rotate'].p_true[2:, 0] = 0.9
  assert not claims.judge_invariance(broken, symmetry, layers).holds
  # p(true) low within the translation range: fails.
  low = _sweeps(True, True)
  low['translate'].p_true[:] = 0.3
  assert not claims.judge_invariance(low, symmetry, layers).holds
  # No symmetry known: only the asymmetric part of rotation is tested.
  unknown = claims.judge_invariance(_sweeps(True, True), None, layers)
  assert 'no symmetric class' in unknown.measured


def test_symmetry_table_against_rendering():
  """An object turned by 360/k degrees (noise and background off, parts of
  two grey levels) looks the same when its
  class has k-fold symmetry, and clearly other pixels when it has none."""
  size = 96

  def silhouette(label, angle):
    scene = shapes.sample_scene(np.random.default_rng(label), label, size)
    scene = scene._replace(
        center=np.array([0.5, 0.5]), angle_deg=0.0,
        background=np.zeros(3), grid=np.zeros_like(scene.grid),
        grating=np.zeros(4), clutter=np.zeros((0, 6)),
        clutter_colors=np.zeros((0, 3)), body_color=np.full(3, 255.0),
        detail_color=np.full(3, 100.0), noise_seed=0)
    return shapes.render(scene, size, angle_deg=angle).image[..., 0] / 255.0

  for label, name in enumerate(shape_classes.ALL_CLASS_NAMES):
    order = shape_classes.symmetry(name)
    turn = 360.0 / order if order > 1 else (37.0 if order == 0 else 180.0)
    change = np.abs(silhouette(label, turn) - silhouette(label, 0.0)).mean()
    if order == 1:
      assert change > 0.01, name
    else:
      assert change < 0.002, name


# ------------------------------------------------------------- 4: Fig. 6


def test_first_layer_counts():
  rng = np.random.default_rng(1)
  kernel = rng.normal(size=(7, 7, 3, 10)) * 0.05
  kernel[..., 2] *= 1e-3   # tiny: dead
  kernel[..., 7] *= 10     # dominant
  peak = np.ones(10)
  peak[4] = 0.0            # never fires: dead
  counts = claims.first_layer('run', 3, kernel, peak)
  assert (counts.filters, counts.dead, counts.dominant) == (10, 2, 1)
  rms = [np.sqrt(np.mean(kernel[..., c] ** 2)) for c in range(10)]
  assert counts.rms_range == pytest.approx(
      (min(rms) / np.median(rms), max(rms) / np.median(rms)))


def test_filters_criterion():
  def run(dead, dominant):
    return claims.FirstLayer('r', 5, 32, dead, dominant, (0.5, 2.0))
  assert claims.judge_filters(run(0, 0), run(4, 0), run(0, 1)).holds
  assert claims.judge_filters(run(1, 0), run(4, 0), run(3, 0)).holds
  assert not claims.judge_filters(run(0, 1), run(4, 0), run(0, 1)).holds
  assert not claims.judge_filters(run(2, 0), run(2, 0), run(0, 1)).holds
  assert not claims.judge_filters(run(0, 0), run(4, 0), run(0, 0)).holds


def test_the_change_since_initialisation_is_reported_not_judged():
  def run(dead, dominant, little):
    change = np.ones(32)
    change[:little] = 0.05
    return claims.FirstLayer('r', 5, 32, dead, dominant, (0.5, 2.0),
                             filters.Learned(change, change < 0.1,
                                             np.full(32, 0.3)))
  for little in ((0, 9, 0), (9, 0, 2)):
    verdict = claims.judge_filters(run(0, 0, little[0]), run(4, 0, little[1]),
                                   run(0, 1, little[2]))
    assert verdict.holds
    least = ', '.join('0.05x' if n else '1.00x' for n in little)
    assert (f'Not judged, the change since initialisation: {little[0]}, '
            f'{little[1]}, {little[2]} filters changed by under 0.1x the '
            f'median change (least {least}); a median 30%, 30%, 30% of a '
            f"filter's energy still along its initial weights") in (
                verdict.measured)
  # Said only when every run's initialisation is known.
  unknown = claims.FirstLayer('r', 5, 32, 0, 1, (0.5, 2.0))
  assert 'Not judged' not in claims.judge_filters(
      run(0, 0, 1), run(4, 0, 1), unknown).measured


# ------------------------------------------------------------- 5: Fig. 7


def _grid(size=8, image=48, stride=2):
  ys = np.arange(0, image - size + 1, stride)
  return ys, ys


def test_occlusion_scores_by_brute_force():
  rng = np.random.default_rng(2)
  ys, xs = _grid()
  p = rng.uniform(0, 1, (3, len(ys), len(xs)))
  boxes = np.array([[10, 12, 30, 40], [0, 0, 48, 48], [20, 20, 21, 21]])
  scores = claims.occlusion_scores(p, ys, xs, 8, boxes)
  for n, (y0, x0, y1, x1) in enumerate(boxes):
    on, off = [], []
    for i, y in enumerate(ys):
      for j, x in enumerate(xs):
        if y0 <= y + 4 < y1 and x0 <= x + 4 < x1:
          on.append(p[n, i, j])
        if y + 8 <= y0 or y >= y1 or x + 8 <= x0 or x >= x1:
          off.append(p[n, i, j])
    np.testing.assert_allclose(scores.p_on[n], np.mean(on) if on else np.nan)
    np.testing.assert_allclose(scores.p_off[n],
                               np.mean(off) if off else np.nan)
  pairs = [(p[n, i, j] - p[n].mean(), p[n, i2, j2] - p[n].mean())
           for n in range(3) for i in range(len(ys)) for j in range(len(xs))
           for i2, j2 in ((i, j + 1), (i + 1, j))
           if i2 < len(ys) and j2 < len(xs)]
  a, b = np.array(pairs).T
  assert scores.smoothness == pytest.approx(
      (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_occlusion_criterion():
  ys, xs = _grid()
  cy, cx = np.meshgrid(ys + 4.0, xs + 4.0, indexing='ij')
  rng = np.random.default_rng(4)
  boxes, smooth, noisy = [], [], []
  for _ in range(12):
    y0, x0 = rng.integers(4, 24, 2)
    boxes.append([y0, x0, y0 + 20, x0 + 20])
    # A smooth dip over the object's centre: the paper's picture.
    dip = np.exp(-((cy - y0 - 10) ** 2 + (cx - x0 - 10) ** 2) / 60.0)
    smooth.append(1.0 - 0.8 * dip)
    # Certain everywhere but at scattered single positions.
    salt = np.ones_like(cy)
    salt.ravel()[rng.choice(salt.size, 6, replace=False)] = 0.0
    noisy.append(salt)
  boxes = np.array(boxes)
  holds = claims.judge_occlusion(claims.occlusion_scores(
      np.array(smooth), ys, xs, 8, boxes))
  assert holds.holds, holds.measured
  fails = claims.occlusion_scores(np.array(noisy), ys, xs, 8, boxes)
  assert fails.smoothness < 0.2
  assert not claims.judge_occlusion(fails).holds
  # Flat maps: no drop and no lowest position inside.
  flat = claims.occlusion_scores(np.ones((12, len(ys), len(xs))), ys, xs, 8,
                                 boxes)
  assert not flat.lowest_inside.any()
  assert not claims.judge_occlusion(flat).holds


# ------------------------------------------------------------ 6: Table 1


def test_correspondence_criterion():
  rng = np.random.default_rng(5)
  sets = 10
  # (parts + random, layers, sets): parts clearly below random at conv5,
  # close to it at fc7.
  good = np.empty((4, 2, sets))
  good[:3, 0] = 0.07 + 0.005 * rng.normal(size=(3, sets))
  good[3, 0] = 0.10 + 0.005 * rng.normal(size=sets)
  good[:3, 1] = 0.070 + 0.005 * rng.normal(size=(3, sets))
  good[3, 1] = 0.072 + 0.005 * rng.normal(size=sets)
  parts, layers = ('left_eye', 'right_eye', 'nose'), ('conv5', 'fc7')
  # `is True`, as the scorecard counts: a numpy bool would not be counted.
  assert claims.judge_correspondence(parts, layers, good).holds is True
  one_part_random = good.copy()   # the nose no better than random masks
  one_part_random[2, 0] = good[3, 0] + 0.002
  assert not claims.judge_correspondence(parts, layers,
                                         one_part_random).holds
  wider_at_top = good.copy()
  wider_at_top[:3, 1] = 0.03
  assert claims.judge_correspondence(parts, layers,
                                     wider_at_top).holds is False


def test_relative_gaps_by_hand():
  """Two parts, two layers, two sets: each part's mean gap below the random
  row over the random row's mean, then their mean per layer."""
  set_means = np.array([[[0.06, 0.08], [0.20, 0.22]],    # left eye
                        [[0.09, 0.09], [0.30, 0.30]],    # nose
                        [[0.10, 0.10], [0.24, 0.26]]])   # random
  relative, gap = claims.relative_gaps(set_means)
  np.testing.assert_allclose(relative, [[0.3, 0.16], [0.1, -0.2]])
  np.testing.assert_allclose(gap, [0.2, -0.02])


def test_standard_error_matches_formula():
  values = np.array([1.0, 2.0, 4.0, 7.0])
  want = np.sqrt(((values - 3.5) ** 2).sum() / 3) / 2
  assert claims._standard_error(values) == pytest.approx(want)


# ------------------------------------------------------------ 7: §5.2


def test_transfer_criterion():
  layers = {'conv1': 0.3, 'conv2': 0.5, 'conv3': 0.6, 'conv4': 0.7,
            'conv5': 0.8, 'fc6': 0.78, 'fc7': 0.75}
  accuracy = {('pretrained', 1): 0.5, ('scratch', 1): 0.1,
              ('pretrained', 5): 0.7, ('scratch', 5): 0.3}
  top = ('conv5', 'fc6', 'fc7')
  verdict = claims.judge_transfer(accuracy, layers, top, 30)
  assert verdict.holds
  assert verdict.measured.startswith('30 novel classes: 1/class 50.0% vs '
                                     'scratch 10.0%')
  assert not claims.judge_transfer(accuracy, {**layers, 'conv4': 0.9},
                                   top, 10).holds
  # A tie goes to the lower layer.
  assert not claims.judge_transfer(accuracy, {**layers, 'conv4': 0.8},
                                   top, 10).holds
  close = {**accuracy, ('scratch', 5): 0.65}
  assert not claims.judge_transfer(close, layers, top, 10).holds
  # A softmax that ranks conv4 first is reported, not judged.
  softmax = {**layers, 'conv4': 0.95}
  beside = claims.judge_transfer(accuracy, layers, top, 30, softmax)
  assert beside.holds
  assert beside.measured.startswith(verdict.measured)
  assert beside.measured.endswith('. Not judged: softmax per layer conv1 '
                                  '30.0% conv2 50.0% conv3 60.0% conv4 '
                                  '95.0% conv5 80.0% fc6 78.0% fc7 75.0% '
                                  '(best conv4)')


def test_strongest_units_by_sorting():
  from zfjax.analyses import scorecard  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(6)
  acts = np.maximum(rng.normal(size=(5, 4, 3, 6)), 0)
  acts[..., 2] = 0.0          # a map that never fires
  acts[..., 4] = 0.0          # one that fires at two places only
  acts[0, 0, 0, 4], acts[3, 2, 1, 4] = 0.5, 0.7
  image, channel, y, x = scorecard._strongest_units(acts, np.array([1, 2, 4]),
                                                    3)
  for c in (1, 4):
    values = acts[image[channel == c], y[channel == c], x[channel == c], c]
    want = np.sort(acts[..., c].ravel())[::-1]
    want = want[want > 0][:3]
    np.testing.assert_array_equal(values, want)
  assert 2 not in channel and (channel == 4).sum() == 2


def test_verdicts_hold_python_bools():
  # The judges compute with numpy; the scorecard counts `holds is True`.
  assert claims.verdict(6, 'x', np.True_).holds is True
  assert claims.verdict(6, 'x', np.bool_(False)).holds is False
  assert claims.missing(6, 'needs parts').holds is None
