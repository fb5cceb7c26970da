"""The house's rules, read from the source: imports point down only, the
networks read no environment, every folder says what it holds, no library
module grows past ~600 lines."""

import ast
import os

import pytest

from shared import ROOT

PACKAGE = os.path.join(ROOT, 'zfjax')
# What each folder may import from zfjax (besides itself): figures ->
# analyses -> networks; training -> data, networks; commands on top.
ALLOWED = {
    'networks': {'errors'},
    'data': {'errors', 'progress'},
    'training': {'errors', 'progress', 'networks', 'data'},
    'analyses': {'errors', 'progress', 'networks', 'data', 'training'},
    'figures': {'errors', 'networks', 'analyses'},
    'commands': {'errors', 'progress', 'networks', 'data', 'training',
                 'analyses', 'figures', 'commands'},
}


def _modules():
  for folder in sorted(ALLOWED):
    for name in sorted(os.listdir(os.path.join(PACKAGE, folder))):
      if name.endswith('.py'):
        yield folder, os.path.join(PACKAGE, folder, name)


def _zfjax_imports(path: str) -> set[str]:
  """The zfjax parts (`networks`, `errors`, ...) a module imports,
  anywhere in it (function-level imports included)."""
  with open(path) as f:
    tree = ast.parse(f.read())
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module:
      parts = node.module.split('.')
      if parts[0] != 'zfjax':
        continue
      if len(parts) > 1:
        found.add(parts[1])
      else:
        found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.Import):
      for alias in node.names:
        parts = alias.name.split('.')
        if parts[0] == 'zfjax' and len(parts) > 1:
          found.add(parts[1])
  return found


@pytest.mark.parametrize('folder, path', list(_modules()),
                         ids=lambda v: os.path.relpath(v, PACKAGE)
                         if isinstance(v, str) and v.endswith('.py') else v)
def test_imports_point_down(folder, path):
  outside = _zfjax_imports(path) - ALLOWED[folder] - {folder}
  assert not outside, (f'{os.path.relpath(path, ROOT)} imports '
                       f'{sorted(outside)}; {folder}/ may import '
                       f'{sorted(ALLOWED[folder])}')


def test_the_networks_read_no_environment():
  # (Nor a set-up module: the import test allows them zfjax.errors only.)
  for name in os.listdir(os.path.join(PACKAGE, 'networks')):
    if not name.endswith('.py'):
      continue
    with open(os.path.join(PACKAGE, 'networks', name)) as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Attribute):
        assert node.attr not in ('environ', 'getenv', 'putenv'), (
            f'networks/{name} reads the environment (line {node.lineno})')


def test_every_folder_says_what_it_holds_and_may_import():
  for folder in ALLOWED:
    with open(os.path.join(PACKAGE, folder, '__init__.py')) as f:
      doc = ast.get_docstring(ast.parse(f.read()))
    assert doc and 'May import' in doc, folder


def test_no_library_module_is_over_600_lines():
  long = {}
  for root, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(root, name)
        with open(path) as f:
          count = sum(1 for _ in f)
        if count > 600:
          long[os.path.relpath(path, ROOT)] = count
  assert not long, long
