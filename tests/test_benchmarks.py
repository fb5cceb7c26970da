"""Every benchmark runs at a tiny size and prints its figures.

The figures themselves are not checked (speed is not tested); what is: the
scripts still run against the library as it is now (one had stopped working
when the trainer's forward gained an argument) and each prints the rates it
documents, as positive numbers.
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (script, arguments, patterns each of which must match a positive number)
CASES = [
    ('forward_formulations.py',
     ['--spec', 'zfnet_small', '--image_size', '64', '--batch', '2',
      '--rounds', '1'],
     [r'forward\s+plain\s+([\d.]+)\s+faster\s+([\d.]+)',
      r'step\s+plain\s+([\d.]+)\s+faster\s+([\d.]+)']),
    ('deconv_projections.py',
     ['--spec', 'zfnet_small', '--image_size', '64', '--images', '1',
      '--chunk_sizes', '16', '--single_per_chunk', '1'],
     [r'batched ([\d.]+) projections/s', r'one at a time ([\d.]+)']),
    ('deconv_projections.py',
     ['--spec', 'zfnet_small', '--image_size', '64', '--images', '1',
      '--chunk_sizes', '16', '--single_per_chunk', '1', '--rule', 'guided'],
     [r'batched ([\d.]+) projections/s', r'one at a time ([\d.]+)']),
    ('activation_maximisation.py',
     ['--units', '2', '--steps', '2', '--rounds', '1'],
     [r'([\d.]+) units/s \(([\d.]+) unit-steps/s\)']),
    ('occlusion_positions.py',
     ['--spec', 'zfnet_small', '--size', '14', '--stride', '16',
      '--repeats', '1', '--chunk_size', '8'],
     [r'timed sweep: [\d.]+ s = ([\d.]+) positions/s']),
    ('atlas_projections.py',
     ['--spec', 'zfnet_small', '--image_size', '64', '--maps', '1',
      '--scan_batches', '1', '--batch_size', '2', '--rounds', '1'],
     [r'atlas projections \(project_tops, forward included\): ([\d.]+)',
      r'\(trace not timed\): ([\d.]+) projections/s',
      r'scan \(every conv layer, maxima kept\): ([\d.]+) images/s']),
    ('train_step.py', ['--config', 'configs/tiny.py', '--steps', '2'],
     [r'([\d.]+) images/s']),
    ('startup.py', ['--runs', '1'],
     [r'visualize\.py --help\s+([\d.]+) s', r'train\.py --help\s+([\d.]+) s']),
    ('input_pipeline_throughput.py',
     ['--images', '4', '--batches', '1', '--batch_size', '2', '--modes',
      'train', 'train_stored'],
     [r'train\s+([\d.]+) images/s', r'train \(stored 256\)\s+([\d.]+)']),
]


@pytest.mark.parametrize('script, args, patterns', CASES,
                         ids=[c[0] for c in CASES])
def test_benchmark_runs_and_prints_its_rates(script, args, patterns):
  run = subprocess.run(
      [sys.executable, os.path.join('benchmarks', script), *args],
      cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  for pattern in patterns:
    match = re.search(pattern, run.stdout)
    assert match, f'{pattern!r} not in:\n{run.stdout}'
    assert all(float(g) > 0 for g in match.groups()), match.group(0)
