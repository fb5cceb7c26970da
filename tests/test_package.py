"""`pip install .` into a fresh virtual environment, then the library from
outside the checkout.

The new environment sees this one's site-packages through a .pth file, so
the dependencies are not downloaded again; zfjax itself (not importable from
those site-packages) must come from the install. The package metadata is
checked against requirements.txt.
"""

import os
import pathlib
import shutil
import site
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Run by the new environment's Python in a directory outside the checkout.
USE = r'''
import os, subprocess, sys
import numpy as np
import zfjax
from zfjax.networks import convert, models
from zfjax.commands import convert as convert_command
try:
  import configs  # the checkout's configs are not installed
  print('configs installed at', configs.__path__)
except ImportError:
  pass
print('zfjax from', os.path.dirname(zfjax.__file__))
spec = models.get_spec('alexnet_torchvision')
state = {}
rng = np.random.default_rng(0)
for name, shape in convert.torchvision_shapes(spec).items():
  state[name] = rng.standard_normal(shape, np.float32) * np.float32(0.01)
convert_command.write_workdir(convert.torchvision_alexnet(state), 'converted')
model = zfjax.load_run('converted')
print('params', models.param_count(model.params))
np.testing.assert_allclose(
    np.asarray(model.params['fc7']['kernel']), state['classifier.4.weight'].T)
cli = subprocess.run([sys.executable, '-m', 'zfjax', 'convert', 'absent.pth',
                      'out'], capture_output=True, text=True)
print('cli', cli.returncode, cli.stderr.strip().splitlines()[-1])
shown = subprocess.run([sys.executable, '-m', 'zfjax', 'visualize',
                        '--workdir', 'converted', 'filters'],
                       capture_output=True, text=True)
print('visualize', shown.returncode, *shown.stdout.splitlines()[-2:])
from zfjax.figures import site
print('templates', site.Site(os.getcwd())._env.get_template('unit.html').name)
'''


def test_dependencies_match_requirements():
  project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
  pins = {}
  for line in (ROOT / 'requirements.txt').read_text().splitlines():
    if line.strip() and not line.startswith('#'):
      req = Requirement(line)
      name = req.name.lower().replace('_', '-')
      pins[name] = next(iter(req.specifier)).version
  for dependency in project['dependencies']:
    req = Requirement(dependency)
    name = req.name.lower().replace('_', '-')
    assert name in pins, f'{req.name} is not in requirements.txt'
    assert req.specifier.contains(pins[name]), (dependency, pins[name])
  # Everything pinned is a dependency, but the test-only pins: the test
  # runner and the browser driver of the atlas's browser test.
  assert set(pins) - {Requirement(d).name.lower().replace('_', '-')
                      for d in project['dependencies']} == {'pytest',
                                                            'selenium'}


def test_pip_install_then_use_from_outside(tmp_path):
  # Build from a copy: setuptools writes build/ and *.egg-info beside the
  # sources, which must not land in the checkout.
  source = tmp_path / 'source'
  source.mkdir()
  ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
  for name in ('zfjax', 'configs'):  # configs: there, but not installed
    shutil.copytree(ROOT / name, source / name, ignore=ignore)
  for name in ('pyproject.toml', 'README.md'):
    shutil.copy(ROOT / name, source / name)

  venv = tmp_path / 'venv'
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)],
                 check=True, timeout=120)
  python = venv / 'bin' / 'python'
  new_site = subprocess.run(
      [str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()'
       '["purelib"])'], capture_output=True, text=True, check=True
  ).stdout.strip()
  pathlib.Path(new_site, 'zz_parent_env.pth').write_text(
      '\n'.join(site.getsitepackages()) + '\n')
  outside = tmp_path / 'elsewhere'
  outside.mkdir()
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  check = subprocess.run([str(python), '-c', 'import zfjax'], cwd=outside,
                         env=env, capture_output=True)
  assert check.returncode != 0  # not importable before the install

  install = [sys.executable, '-m', 'pip', '--python', str(python), 'install',
             '-q', '--no-deps', '--no-index', '--no-build-isolation',
             str(source)]
  run = subprocess.run(install, env=env, capture_output=True, text=True,
                       timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]

  use = subprocess.run([str(python), '-c', USE], cwd=outside, env=env,
                       capture_output=True, text=True, timeout=300)
  assert use.returncode == 0, use.stderr[-3000:]
  lines = use.stdout.splitlines()
  assert lines[0] == f'zfjax from {new_site}/zfjax'
  assert lines[1] == 'params 61100840'
  assert lines[2].startswith('cli 2 error: absent.pth does not exist')
  assert lines[3] == ('visualize 0 converted/figures/filters_conv1.png '
                      'converted/figures/filters_conv1.json')
  assert lines[4] == 'templates unit.html'  # the atlas's, installed
  assert (outside / 'converted' / 'config.json').exists()
