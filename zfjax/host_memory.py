"""glibc's malloc told to keep freed memory, for XLA's CPU programs.

XLA's CPU runtime takes each run's temporary buffers from malloc on one of
its worker threads, in one block (ZFNet's training step at batch 32: 693
MiB). glibc serves a block over 64 MiB from a thread's arena by a fresh
`mmap` (whatever M_MMAP_MAX says) and unmaps it on free, so every run
touches new pages: a page fault and a kernel-zeroed page per 4 KiB (178k
per training step, 1.03 M per occlusion sweep of one image). With
`keep_freed_memory()` the block is reused: ZFNet's step faulted in no page
after its first run (a small test program still faulted it in again in
some later runs); the README gives what that buys.

The setting is the process's and has to come before any second thread
allocates (numpy's and XLA's start at import): call it first, before
importing numpy, jax or tensorflow. `train.py` and `visualize.py` do,
through `keep_freed_memory_on_cpu()`: on a GPU or TPU host the programs'
buffers are the device's, and the host's many input-pipeline threads are
better served by glibc's arenas. In a notebook, whose kernel runs threads
from the start, set it in the environment the kernel starts from instead:

  GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:\
glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=268435456 \
jupyter lab

(the faults then stop after a few runs rather than after the first).

This module imports nothing that starts threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys

# mallopt's parameter numbers (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8
# Freed memory above this much at the heap's top goes back to the kernel.
KEEP_BYTES = 2**30
# Set to "glibc" to leave malloc as glibc starts it.
ENV = 'ZFJAX_HOST_MALLOC'


def keep_freed_memory() -> bool:
  """Puts every thread on glibc's main arena (M_ARENA_MAX 1), which never
  maps a block on its own once M_MMAP_MAX is 0, and keeps up to KEEP_BYTES
  of freed memory at the heap's top (M_TRIM_THRESHOLD), growing it 256 MiB
  at a time (M_TOP_PAD). The process keeps its peak host memory (up to
  KEEP_BYTES more) instead of returning it.

  Returns whether glibc took all of it: False where malloc is not glibc's
  (macOS, musl), when the environment variable ZFJAX_HOST_MALLOC is
  "glibc", or when called after another thread was started (its arena,
  and any it made, stay).
  """
  if os.environ.get(ENV, '') == 'glibc' or not sys.platform.startswith(
      'linux'):
    return False
  path = ctypes.util.find_library('c')
  if path is None:
    return False
  libc = ctypes.CDLL(path)
  if not hasattr(libc, 'mallopt') or not hasattr(libc,
                                                 'gnu_get_libc_version'):
    return False
  alone = len(os.listdir('/proc/self/task')) == 1
  settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0),
              (_M_TRIM_THRESHOLD, KEEP_BYTES), (_M_TOP_PAD, 2**28))
  took = [libc.mallopt(option, value) == 1 for option, value in settings]
  return all(took) and alone


# Device files of the accelerators JAX runs on: NVIDIA, TPU (older and
# newer VMs), AMD.
_ACCELERATOR_FILES = ('nvidia[0-9]*', 'accel[0-9]*', 'vfio/[0-9]*', 'kfd')


def runs_on_cpu(dev: str = '/dev') -> bool:
  """Whether JAX will run this process's programs on the CPU, judged
  without importing it: JAX_PLATFORMS names only cpu, or (unset) the host
  has no GPU or TPU device file under `dev`."""
  platforms = os.environ.get('JAX_PLATFORMS', '')
  if platforms:
    return {p.strip() for p in platforms.split(',')} == {'cpu'}
  return not any(glob.glob(os.path.join(dev, pattern))
                 for pattern in _ACCELERATOR_FILES)


def keep_freed_memory_on_cpu() -> bool:
  """keep_freed_memory() where runs_on_cpu(); whether it took effect."""
  return runs_on_cpu() and keep_freed_memory()
