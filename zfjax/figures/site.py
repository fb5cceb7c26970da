"""A static web site of figures: pages from templates, pictures as PNG files.

`Site(root)` writes into a folder that a browser opens from `file://`, from
an unpacked zip or from any static host: every link and picture is a
relative path inside the folder, nothing is fetched from elsewhere. Pages
are Jinja2 templates (`atlas_site/*.html`) with HTML escaping of every value
put into them (file names and class names come from users); links are made
with `href`, which also percent-encodes each path part.

`publish(staging, target)` replaces a finished site at once, so that a
build killed midway leaves the previous site in place.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import pathlib
import re
import shutil
import urllib.parse
import jinja2
import numpy as np
import PIL.Image

from zfjax.errors import ZfjaxError

TEMPLATES = 'atlas_site'
ASSETS = ('atlas.css', 'atlas.js')
MANIFEST = 'atlas.json'  # marks a folder as a site this module wrote


def href(*parts: str | int) -> str:
  """A relative URL from path parts, each percent-encoded ('a b' -> 'a%20b';
  a '#' or '?' in a file name stays part of the name)."""
  return '/'.join(urllib.parse.quote(str(p), safe='') for p in parts)


class Site:
  """Pages and pictures written under `root`, a folder that exists."""

  def __init__(self, root: str | os.PathLike):
    self.root = pathlib.Path(root)
    self._env = jinja2.Environment(
        loader=jinja2.PackageLoader('zfjax.figures', TEMPLATES),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    for name in ASSETS:
      (self.root / name).write_text(self._env.loader.get_source(
          self._env, name)[0])

  def page(self, path: str, template: str, **context) -> pathlib.Path:
    """Renders `template` into `path` (relative to the root, '/'-separated);
    the template sees `root`, the relative URL of the site's top folder
    ('' or '../' ...), besides `context`."""
    depth = path.count('/')
    out = self.root / path
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(self._env.get_template(template).render(
        root='../' * depth, **context), encoding='utf-8')
    return out

  def picture(self, path: str, image: np.ndarray) -> str:
    """Writes a uint8 (H, W, 3) picture at `path`; returns `path`. A '.png'
    path gets a lossless RGB PNG (a quarter smaller than matplotlib's
    RGBA), a '.jpg' path a JPEG of quality 90 without chroma subsampling:
    for crops of photographs, four to five times smaller than PNG."""
    out = self.root / path
    out.parent.mkdir(parents=True, exist_ok=True)
    picture = PIL.Image.fromarray(np.asarray(image, np.uint8))
    if out.suffix == '.jpg':
      picture.save(out, format='JPEG', quality=90, subsampling=0)
    else:
      picture.save(out, format='PNG', optimize=True)
    return path

  def manifest(self, **fields) -> None:
    """The site's `atlas.json`: what it shows and how it was built."""
    (self.root / MANIFEST).write_text(json.dumps(fields, indent=1,
                                                 sort_keys=True))


def histogram_bars(counts: np.ndarray, *, width: float = 300,
                   height: float = 80) -> list[tuple[float, float, float,
                                                    float, int]]:
  """SVG rectangles (x, y, w, h, count) of a histogram's bars, scaled to a
  width x height box with the tallest bar at full height."""
  counts = np.asarray(counts)
  top = max(int(counts.max(initial=0)), 1)
  w = width / max(len(counts), 1)
  return [(i * w, height - height * c / top, w, height * c / top, int(c))
          for i, c in enumerate(counts)]


# ------------------------------------------------------------ publishing


def check_target(target: pathlib.Path) -> None:
  """A site may replace `target` if it does not exist, is empty or holds a
  site this module wrote; anything else is refused, one line."""
  if target.exists() and not (target / MANIFEST).is_file():
    if not target.is_dir() or any(target.iterdir()):
      raise ZfjaxError(f'{target} exists and holds no atlas ({MANIFEST}); '
                       f'choose another --out or remove it')


def staging(target: pathlib.Path) -> pathlib.Path:
  """A fresh folder beside `target` (same file system, so `publish` is a
  rename) to build into. Folders left by builds whose process is gone are
  removed first."""
  target.parent.mkdir(parents=True, exist_ok=True)
  remove_abandoned(target.parent, f'.{target.name}.*-*')
  path = target.parent / f'.{target.name}.building-{os.getpid()}'
  shutil.rmtree(path, ignore_errors=True)
  path.mkdir()
  return path


def remove_abandoned(folder: pathlib.Path, pattern: str) -> None:
  """Removes the entries of `folder` matching `pattern` whose names end in
  `-<pid>` of a process that is gone: the staging folders of killed runs
  (a running process's own are kept). Shared by sites and by
  `commands.outputs.Staging`."""
  for entry in folder.glob(pattern):
    pid = entry.name.rsplit('-', 1)[-1]
    if pid.isdigit() and not alive(int(pid)):
      shutil.rmtree(entry, ignore_errors=True)


def alive(pid: int) -> bool:
  """Whether process `pid` still runs (its staging folder is in use)."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: pathlib.Path, b: pathlib.Path) -> bool:
  """Swaps two paths in one step (Linux renameat2); False where the system
  or file system cannot."""
  try:
    renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
  except (OSError, AttributeError):
    return False
  return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                   _RENAME_EXCHANGE) == 0


def publish(built: pathlib.Path, target: pathlib.Path) -> None:
  """Puts the finished site `built` at `target`, replacing what was there.

  Where the system swaps two folders in one step (Linux), a reader or a
  kill sees either the old site or the new one. Elsewhere the old one is
  renamed away, then the new one into place: only a kill between those two
  renames leaves `target` missing, the old site kept beside it.
  """
  if not target.exists():
    os.rename(built, target)
    return
  if not _exchange(built, target):
    old = target.parent / f'.{target.name}.old-{os.getpid()}'
    os.rename(target, old)
    os.rename(built, target)
    built = old
  shutil.rmtree(built)


# --------------------------------------------------------------- notebooks


def inline_page(path: str | os.PathLike) -> str:
  """One page of a site as a single HTML string for a notebook's output:
  its pictures and style sheet inlined (data: URLs), so it shows where the
  site's files are not served (Colab). Links stay relative."""
  path = pathlib.Path(path)
  text = path.read_text(encoding='utf-8')

  def picture(match: re.Match) -> str:
    file = path.parent / urllib.parse.unquote(match.group(2))
    if not file.is_file():
      return match.group(0)
    data = base64.b64encode(file.read_bytes()).decode()
    kind = 'png' if file.suffix == '.png' else 'jpeg'
    return f'{match.group(1)}data:image/{kind};base64,{data}"'

  def style(match: re.Match) -> str:
    file = path.parent / urllib.parse.unquote(match.group(1))
    return f'<style>{file.read_text()}</style>' if file.is_file() else ''

  text = re.sub(r'(<img [^>]*src=")([^"]+\.(?:png|jpg))"', picture, text)
  text = re.sub(r'<link rel="stylesheet" href="([^"]+)">', style, text)
  return re.sub(r'<script [^>]*></script>', '', text)

