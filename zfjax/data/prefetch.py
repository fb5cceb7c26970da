"""Copies the next batches to the devices while the current step runs.

JAX dispatches device transfers asynchronously, so putting batch k+1 (and
k+2, ...) on the devices before step k's results are waited for overlaps
the host-to-device copy with the computation; the queue bounds how many
batches sit in device memory.
"""

from __future__ import annotations

import collections
from typing import Callable, Iterable, Iterator, TypeVar

In = TypeVar('In')
Out = TypeVar('Out')

# Batches in flight: one being copied while one is consumed.
DEFAULT_SIZE = 2


def prefetch(batches: Iterable[In], put: Callable[[In], Out],
             size: int = DEFAULT_SIZE) -> Iterator[Out]:
  """Yields put(batch) for every batch, in order, `size` puts ahead.

  `put` starts the copy (e.g. `trainer.to_global`, which returns sharded
  global arrays without waiting for the transfer). When `batches` ends the
  queued ones are yielded and the iterator stops; when the consumer stops
  early (break, close), `batches` is closed if it is a generator, so its
  input pipeline is released, and nothing more is read.
  """
  if size < 1:
    raise ValueError(f'prefetch size must be at least 1, got {size}')
  source = iter(batches)
  queue = collections.deque()
  try:
    for batch in source:
      queue.append(put(batch))
      if len(queue) > size:
        yield queue.popleft()
    while queue:
      yield queue.popleft()
  finally:
    close = getattr(source, 'close', None)
    if close is not None:
      close()
