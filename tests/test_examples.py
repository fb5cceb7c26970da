"""examples/rules_side_by_side.py runs as its docstring says, on the tiny run.

Its measure (the mean Pearson correlation between different units'
projections) is checked against cases whose correlation is known, and the
script itself is run in a fresh process on a copy of the shared tiny run:
it writes the figure with one row per map and five columns, and prints one
correlation per rule, each a correlation.
"""

import importlib.util
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'examples' / 'rules_side_by_side.py'


def _example():
  spec = importlib.util.spec_from_file_location('rules_side_by_side', SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_cross_unit_correlation_on_known_cases():
  corr = _example().cross_unit_correlation
  rng = np.random.default_rng(0)
  a = rng.normal(size=(6, 6, 3))
  # The same picture at other scales and offsets: correlation 1.
  assert corr(np.stack([a, 2 * a + 1, 0.5 * a])) == pytest.approx(1.0)
  # A picture and its negative: -1; with a copy of the first, the pairs
  # are (1, -1, -1), mean -1/3.
  assert corr(np.stack([a, -a])) == pytest.approx(-1.0)
  assert corr(np.stack([a, a, -a])) == pytest.approx(-1 / 3)
  # Independent noise: near 0 (108 values per picture).
  noise = rng.normal(size=(40, 6, 6, 3))
  assert abs(corr(noise)) < 0.05


def test_runs_on_the_tiny_run(tiny_run, tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(tiny_run, workdir)
  done = subprocess.run(
      [sys.executable, str(SCRIPT), '--workdir', str(workdir), '--layer',
       'conv2', '--maps', '3', '--limit', '32', '--images', '4'],
      capture_output=True, text=True, timeout=600, cwd=ROOT)
  assert done.returncode == 0, done.stderr[-3000:]
  figure = workdir / 'figures' / 'rules_conv2.png'
  assert figure.is_file()
  from matplotlib import image  # pylint: disable=g-import-not-at-top
  pixels = image.imread(figure)
  # Five columns (patch, three rules, stimulus) of square cells, three rows
  # of maps, under a caption band: wider than tall by about 5 / 3.
  assert 1.2 < pixels.shape[1] / pixels.shape[0] < 5 / 3 + 0.01
  rows = {m.group(1): float(m.group(2)) for m in re.finditer(
      r'^\s+(deconvnet|gradient|guided)\s+(-?[0-9.]+|nan)', done.stdout,
      re.M)}
  assert set(rows) == {'deconvnet', 'gradient', 'guided'}, done.stdout
  for value in rows.values():
    assert np.isnan(value) or -1.0 <= value <= 1.0
