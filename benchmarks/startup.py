r"""How long the command lines take to answer `--help` and a typo.

  python benchmarks/startup.py              # 5 runs of each, median
  python benchmarks/startup.py --runs 1

Each command runs in a fresh process, as a person types it, and the wall
time from start to exit is taken; the commands are run in turn, round after
round, so that the machine's load falls on all of them alike. The target
(issue 26): under 1.5 s for `visualize.py --help` and `train.py --help` on
the project's 2-core CPU. A command line parses its options before it
imports NumPy, JAX or TensorFlow (`zfjax/commands/options.py`), so these
times are Python's start and the standard library's.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from zfjax import runtime

runtime.configure()  # as every entry point, though nothing heavy runs here

COMMANDS = {
    'visualize.py --help': ['visualize.py', '--help'],
    'visualize.py top9 --help': ['visualize.py', '--workdir', 'x', 'top9',
                                 '--help'],
    'visualize.py typo (--maps 0)': ['visualize.py', '--workdir', 'x',
                                     'top9', '--maps', '0'],
    'train.py --help': ['train.py', '--help'],
    'python -m zfjax --help': ['-m', 'zfjax', '--help'],
}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--runs', type=int, default=5)
  args = parser.parse_args()
  times = {name: [] for name in COMMANDS}
  for _ in range(args.runs):
    for name, argv in COMMANDS.items():
      start = time.perf_counter()
      subprocess.run([sys.executable, *argv], cwd=ROOT, check=False,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
      times[name].append(time.perf_counter() - start)
  for name, seconds in times.items():
    print(f'{name:32s} {statistics.median(seconds):.2f} s median of '
          f'{len(seconds)} (min {min(seconds):.2f}, max {max(seconds):.2f})')
  print(f'load average {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()
