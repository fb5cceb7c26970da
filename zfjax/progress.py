"""Progress bars that read well in a terminal and in a log file.

`bar(...)` takes tqdm's arguments. On a terminal it is tqdm's bar, redrawn
in place. Anywhere else (a batch job's log, `| tee`) carriage-return
redraws would pile up in the file, so it prints one plain line when it
starts, then at most one every `ZFJAX_PROGRESS_SECONDS` seconds (default
30), and a last one when it ends (for bars that are kept).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Iterable, TextIO

import tqdm

INTERVAL_ENV = 'ZFJAX_PROGRESS_SECONDS'
DEFAULT_INTERVAL = 30.0


def interval_seconds() -> float:
  """Seconds between the plain lines of a bar that is not on a terminal."""
  return float(os.environ.get(INTERVAL_ENV) or DEFAULT_INTERVAL)


def _is_terminal(file: TextIO) -> bool:
  isatty = getattr(file, 'isatty', None)
  try:
    return bool(isatty and isatty())
  except ValueError:  # a closed file
    return False


class _Lines:
  """A file that passes on whole lines only: tqdm's bare '\\r' and '\\n'
  (its line clearing) are dropped."""

  def __init__(self, file: TextIO):
    self._file = file

  def write(self, text: str) -> None:
    if text.strip():
      self._file.write(text)

  def flush(self) -> None:
    self._file.flush()


class _PlainBar(tqdm.tqdm):
  """tqdm that prints its status as a new line, at most every `interval`
  seconds."""

  def __init__(self, *args, interval: float, file: TextIO, **kwargs):
    self._interval = interval
    self._printed_at: float | None = None
    self._closing = False
    kwargs.update(dynamic_ncols=False, mininterval=min(interval, 1.0))
    super().__init__(*args, file=_Lines(file), **kwargs)

  def display(self, msg=None, pos=None):
    del pos
    if msg == '':  # tqdm clearing its line
      return True
    now = time.monotonic()
    if (not self._closing and self._printed_at is not None and
        now - self._printed_at < self._interval):
      return True
    self._printed_at = now
    self.fp.write((self.__str__() if msg is None else msg) + '\n')
    self.fp.flush()
    return True

  def close(self):
    self._closing = True
    super().close()


def bar(iterable: Iterable | None = None, **kwargs) -> tqdm.tqdm:
  """A tqdm bar (same arguments), in plain lines when not on a terminal."""
  file = kwargs.pop('file', None) or sys.stderr
  if kwargs.get('disable') or _is_terminal(file):
    return tqdm.tqdm(iterable, file=file, **kwargs)
  return _PlainBar(iterable, interval=interval_seconds(), file=file, **kwargs)


def trange(*args, **kwargs) -> tqdm.tqdm:
  """`bar(range(*args), **kwargs)`."""
  return bar(range(*args), **kwargs)
