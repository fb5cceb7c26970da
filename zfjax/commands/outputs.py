"""Where a `visualize.py` command's files go and what they are called.

  * `--out DIR` (default: the workdir's `figures/`) is checked before any
    work (`workdirs.check_writable`), so a read-only workdir can still be
    analysed with `--out` elsewhere.
  * A command writes its files into a staging folder inside DIR
    (`Staging`); only when it has finished are they renamed into DIR, so a
    bad input, an error or a kill never replaces a good figure with a
    broken one, and an error leaves nothing behind.
  * Options that change what a file shows, given with other than their
    default values, are written into the file's name (`content_tag`):
    `top9 --maps 9` writes `top9_conv1_maps9.png` beside the default
    `top9_conv1.png` instead of replacing it.
  * Beside each file stem a JSON record names the exact command, the
    checkpoint and every option (`top9_conv1_maps9.json`).

Standard library only at import, like `options` (`Staging` reads
`figures.site.remove_abandoned` when a command runs).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import re
import shlex
import shutil
from typing import Iterable, Sequence

import zfjax
from zfjax.commands import options

# Longer tags become a hash of the options (the JSON record has them all).
MAX_TAG = 80
_STAGING = '.staging-'


def _value_text(value) -> str:
  if isinstance(value, (list, tuple)):
    return '-'.join(_value_text(v) for v in value)
  if isinstance(value, bool):
    return ''
  text = str(value)
  if _is_number(text):
    return text  # -1 stays -1: seed-1 is not seed1
  if os.sep in text or '.' in text:
    # A path: its last part, without the extension.
    text = os.path.splitext(os.path.basename(text.rstrip(os.sep)))[0]
  return re.sub(r'[^A-Za-z0-9.+]+', '-', text).strip('-')


def _is_number(text: str) -> bool:
  try:
    float(text)
  except ValueError:
    return False
  return True


def _default(action: argparse.Action):
  """The parsed default (argparse runs string defaults through the type)."""
  default = action.default
  if isinstance(default, str) and action.type is not None:
    return action.type(default)
  return default


def content_tag(actions: Iterable[argparse.Action],
                args: argparse.Namespace) -> str:
  """`name+value` parts, joined by '_', of the options among `actions` that
  are not `options.neutral` and were given other than their defaults, in
  the order defined; '' when all are defaults. Longer than MAX_TAG: 'opts-'
  and a hash of them."""
  parts, given = [], {}
  for action in actions:
    dest = action.dest
    if (not action.option_strings or options.is_neutral(action) or
        dest in given or not hasattr(args, dest)):
      continue
    value = getattr(args, dest)
    if value is None or value == _default(action):
      continue
    given[dest] = value
    text = _value_text(value)
    # maps9, epochs1-2-5; split-train, image_dir-photos; per_filter.
    parts.append(dest + ('-' if text and not text[0].isdigit() and
                         not _is_number(text) else '') + text)
  tag = '_'.join(parts)
  if len(tag) > MAX_TAG:
    digest = hashlib.sha1(json.dumps(given, sort_keys=True,
                                     default=str).encode()).hexdigest()
    tag = f'opts-{digest[:8]}'
  return tag


class Staging:
  """A command's files until it has finished, then renamed into out_dir.

  `path` is a folder inside out_dir that the first file written creates
  (the writers make their folders); `publish` moves the files into
  out_dir with the content tag and writes a JSON record per stem. Used as
  a context manager: on an error the staged files are removed, and so is
  out_dir if it was made for them.
  """

  def __init__(self, out_dir: pathlib.Path):
    self.out_dir = pathlib.Path(out_dir)
    self._made_out_dir = not self.out_dir.exists()
    self.path = self.out_dir / f'{_STAGING}{os.getpid()}'
    self._remove_stale()

  def _remove_stale(self) -> None:
    """Staging folders of killed runs (their process is gone)."""
    # pylint: disable-next=g-import-not-at-top
    from zfjax.figures import site  # run time only: parsing stays light
    if self.out_dir.is_dir():
      site.remove_abandoned(self.out_dir, f'{_STAGING}*')

  def __enter__(self) -> Staging:
    return self

  def __exit__(self, kind, value, traceback) -> None:
    shutil.rmtree(self.path, ignore_errors=True)
    if kind is not None and self._made_out_dir:
      try:
        self.out_dir.rmdir()  # only if nothing else was put there
      except OSError:
        pass

  def publish(self, paths: Sequence[os.PathLike], tag: str,
              record: dict) -> list[pathlib.Path]:
    """Renames the staged `paths` into out_dir, `_tag` added to each stem,
    and writes `<stem>.json` per stem: `record` plus the stem's files.
    Returns the final paths, each record after its files."""
    stems: dict[str, list[str]] = {}
    for path in dict.fromkeys(map(pathlib.Path, paths)):
      if path.parent != self.path:
        raise ValueError(f'{path} was not written into {self.path}')
      stem = f'{path.stem}_{tag}' if tag else path.stem
      name = stem + path.suffix
      os.makedirs(self.out_dir, exist_ok=True)
      os.replace(path, self.out_dir / name)
      stems.setdefault(stem, []).append(name)
    published = []
    for stem, names in stems.items():
      published += [self.out_dir / n for n in names]
      sidecar = self.out_dir / f'{stem}.json'
      tmp = sidecar.with_name(f'{sidecar.name}.tmp-{os.getpid()}')
      tmp.write_text(json.dumps(dict(record, files=names), indent=1,
                                default=str) + '\n')
      os.replace(tmp, sidecar)
      published.append(sidecar)
    return published


def record(prog: str, argv: Sequence[str], args: argparse.Namespace,
           epoch: int, step: int) -> dict:
  """What a JSON record says of the command that made a file."""
  return {
      'command': shlex.join([prog, *argv]),
      'cwd': os.getcwd(),
      'options': {k: v for k, v in sorted(vars(args).items())},
      'checkpoint': {'epoch': epoch, 'step': step},
      'zfjax': zfjax.__version__,
      'written': datetime.datetime.now().isoformat(timespec='seconds'),
  }
