"""Every command the README and docs/ show still exists as written.

The fenced shell blocks of README.md and docs/*.md are read, continuation
lines joined, and each `python ...` command checked: the script or
`python -m zfjax` command it names exists, every --option it passes is one
that command defines (visualize.py's per subcommand), each `--config FILE[:ARG]`
loads, and each `--config.key=value` names a key of that config. Nothing is
run: the commands need data and hours.
"""

import argparse
import importlib.util
import os
import re
import shlex

import pytest

from shared import ROOT
from zfjax.commands import main as main_command
from zfjax.commands import visualize

DOCS = ['README.md'] + sorted(
    os.path.join('docs', f) for f in os.listdir(os.path.join(ROOT, 'docs'))
    if f.endswith('.md'))
_FENCE = re.compile(r'^```(sh|bash|shell|console)\n(.*?)^```', re.M | re.S)
_PYTHON = re.compile(r'(?:^|/)python3?$')


def _commands(text: str) -> list[list[str]]:
  """The python commands of the shell blocks of `text`, as argv lists."""
  out = []
  for _, block in _FENCE.findall(text):
    block = re.sub(r'\\\n', ' ', block)
    for line in block.splitlines():
      line = line.split(' #')[0].strip()
      if not line or line.startswith('#'):
        continue
      for part in re.split(r'&&|;|\|(?!\|)', line):
        try:
          words = shlex.split(part)
        except ValueError:
          continue
        # Drop environment assignments and wrappers (srun -N 4 ...).
        while words and ('=' in words[0] and not words[0].startswith('-')):
          words = words[1:]
        start = next((i for i, w in enumerate(words) if _PYTHON.search(w)),
                     None)
        if start is not None:
          out.append(words[start + 1:])
  return out


def _all_commands():
  cases = []
  for doc in DOCS:
    with open(os.path.join(ROOT, doc)) as f:
      for argv in _commands(f.read()):
        cases.append(pytest.param(doc, argv, id=f'{doc}:{" ".join(argv)[:60]}'))
  return cases


def _source_options(path: str) -> set[str]:
  """--options an argparse or absl script defines, read from its source."""
  with open(path) as f:
    text = f.read()
  options = set(re.findall(r"add_argument\(\s*'(--[\w-]+)'", text))
  for name in re.findall(r"DEFINE_\w+\(\s*'(\w+)'", text):
    options.update({f'--{name}', f'--no{name}'})
  return options | {'--help', '-h'}


def _visualize_options(command: str | None) -> set[str]:
  parser = visualize.build_parser()
  options = {o for a in parser._actions for o in a.option_strings}
  if command:
    sub = next(a for a in parser._actions
               if isinstance(a, argparse._SubParsersAction))
    options |= {o for a in sub.choices[command]._actions
                for o in a.option_strings}
  return options


def _load_config(spec: str):
  path, _, arg = spec.partition(':')
  assert os.path.isfile(os.path.join(ROOT, path)), f'no config file {path}'
  loader = importlib.util.spec_from_file_location(
      'doc_config', os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(loader)
  loader.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _check_config_keys(argv: list[str]) -> None:
  config = None
  for i, word in enumerate(argv):
    if word.startswith('--config=') or word == '--config':
      spec = word.split('=', 1)[1] if '=' in word else argv[i + 1]
      config = _load_config(spec)
  for word in argv:
    if word.startswith('--config.'):
      key = word[len('--config.'):].split('=')[0]
      assert config is not None, f'{word} without --config'
      node = config
      for part in key.split('.'):
        assert part in node, f'{word}: the config has no key {key!r}'
        node = node[part]


def _options(argv: list[str]) -> list[str]:
  return [w.split('=')[0] for w in argv
          if w.startswith('--') and not w.startswith('--config.')]


@pytest.mark.parametrize('doc, argv', _all_commands())
def test_documented_command_exists(doc, argv):
  del doc
  if argv[:2] == ['-m', 'pytest'] or argv[:2] == ['-m', 'venv'] or (
      argv[:1] == ['-m'] and argv[1] == 'pip'):
    return
  if argv[0] == '-m':
    assert argv[1] == 'zfjax', f'python -m {argv[1]}: not a zfjax command'
    name, rest = argv[2], argv[3:]
    assert name in main_command.COMMANDS, f'python -m zfjax {name}?'
    if name == 'visualize':
      argv, script = rest, 'visualize.py'
    elif name == 'train':
      argv, script = rest, 'train.py'
    else:
      module = main_command.COMMANDS[name].replace('.', os.sep) + '.py'
      allowed = _source_options(os.path.join(ROOT, module))
      bad = set(_options(rest)) - allowed
      assert not bad, f'python -m zfjax {name}: no option {sorted(bad)}'
      _check_config_keys(rest)
      return
  else:
    script, argv = argv[0], argv[1:]
  assert os.path.isfile(os.path.join(ROOT, script)), f'no script {script}'
  if script == 'visualize.py':
    command = next((w for w in argv if w in visualize.COMMANDS), None)
    bad = set(_options(argv)) - _visualize_options(command)
    assert not bad, f'visualize.py {command}: no option {sorted(bad)}'
    return
  source = 'zfjax/commands/train.py' if script == 'train.py' else script
  bad = set(_options(argv)) - _source_options(os.path.join(ROOT, source))
  assert not bad, f'{script}: no option {sorted(bad)}'
  _check_config_keys(argv)


def test_docs_show_the_commands():
  # The check above is only as good as what it finds.
  found = [argv for doc in DOCS
           for argv in _commands(open(os.path.join(ROOT, doc)).read())]
  assert len(found) >= 20
  assert any(a[:1] == ['visualize.py'] for a in found)
  assert any(a[:3] == ['-m', 'zfjax', 'prepare'] for a in found)
