"""`--help` and typos answer before anything heavy loads: the command lines
parse their options first and import NumPy, JAX, TensorFlow and matplotlib
only when a command runs (its time: benchmarks/startup.py)."""

import os
import re
import subprocess
import sys

import pytest

from shared import ROOT

HEAVY = ('numpy', 'jax', 'jaxlib', 'tensorflow', 'tensorflow_datasets',
         'matplotlib', 'orbax', 'flax')

COMMANDS = [
    ['visualize.py', '--help'],
    ['visualize.py', '--workdir', 'x', 'top9', '--help'],
    ['visualize.py', '--workdir', 'x', 'evolution', '--help'],
    ['visualize.py', '--workdir', 'x', 'stimulus', '--help'],
    ['visualize.py', '--workdir', 'x', 'top9', '--maps', '0'],  # a typo
    ['visualize.py', 'top9'],  # --workdir forgotten
    ['train.py', '--help'],
    ['-m', 'zfjax', '--help'],
    ['-m', 'zfjax', 'visualize', '--help'],
]


@pytest.mark.parametrize('argv', COMMANDS, ids=' '.join)
def test_parsing_imports_nothing_heavy(argv):
  proc = subprocess.run([sys.executable, '-X', 'importtime', *argv],
                        cwd=ROOT, capture_output=True, text=True, timeout=120,
                        env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert proc.returncode in (0, 2), proc.stderr[-3000:]
  imported = {m.split('.')[0] for m in re.findall(
      r'^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)', proc.stderr, re.M)}
  assert imported, proc.stderr[-2000:]  # -X importtime worked
  assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
  if proc.returncode == 2:
    errors = [l for l in proc.stderr.splitlines() if l.startswith('error: ')]
    assert len(errors) == 1, proc.stderr[-2000:]
