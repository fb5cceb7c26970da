"""The process's settings, made once by one call at the top of every entry point.

  from zfjax import runtime
  runtime.configure()      # before numpy, jax or tensorflow is imported

`train.py`, `visualize.py`, `python -m zfjax ...`, the benchmarks, the tests'
conftest and the notebook's first cell call it first. It sets three things,
each only where the user has not set it already:

  * glibc's malloc keeps freed memory for reuse (on hosts whose programs run
    on the CPU). XLA's CPU runtime takes each run's temporary buffers from
    malloc in one block (ZFNet's training step at batch 32: 693 MiB); glibc
    serves a block over 64 MiB in a thread's arena by a fresh `mmap` and
    unmaps it on free, so without this every run faults in (and the kernel
    zeroes) every page of it again. It must come before any second thread
    starts. `ZFJAX_HOST_MALLOC=glibc` leaves malloc alone.
  * XLA's CPU convolutions come from Eigen instead of YNNPACK (XLA_FLAGS
    gains `EIGEN_CONVOLUTIONS`): jaxlib 0.10's YNNPACK convolutions run
    ZFNet's layers, their kernel gradients above all, several times slower;
    its dots and reductions stay. XLA reads XLA_FLAGS when JAX starts its
    first backend. A setting of the flag already in XLA_FLAGS is kept.
  * TensorFlow (the data pipeline) logs only its errors
    (TF_CPP_MIN_LOG_LEVEL=2), which it reads at its first import, and
    leaves out its oneDNN custom operations (TF_ENABLE_ONEDNN_OPTS=0):
    TensorFlow 2.21 announces them through absl's C++ logging, which
    ignores TF_CPP_MIN_LOG_LEVEL and printed the notice twice per process,
    and the pipeline runs none of them (it decodes, crops and resizes; the
    network is JAX's). Measured no slower: benchmarks/README.md.

In a notebook the kernel runs threads before the first cell, so the malloc
setting cannot take there; start Jupyter with

  GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:\
glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=268435456

in its environment instead (`NOTEBOOK_GLIBC_TUNABLES`). The other two
settings take in a notebook if `configure()` runs before the first JAX
computation and TensorFlow import. What each setting buys is measured in
`benchmarks/README.md`.

This module imports only the standard library, and nothing here starts a
thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from typing import NamedTuple

# ---------------------------------------------------------------- malloc

# mallopt's parameter numbers (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8
# Freed memory above this much at the heap's top goes back to the kernel.
KEEP_BYTES = 2**30
# Set to "glibc" to leave malloc as glibc starts it.
MALLOC_ENV = 'ZFJAX_HOST_MALLOC'
# The same setting for a process started with it (a Jupyter kernel).
NOTEBOOK_GLIBC_TUNABLES = (
    'glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:'
    f'glibc.malloc.trim_threshold={KEEP_BYTES}:glibc.malloc.top_pad={2**28}')


def keep_freed_memory() -> bool:
  """Puts every thread on glibc's main arena (M_ARENA_MAX 1), which never
  maps a block on its own once M_MMAP_MAX is 0, and keeps up to KEEP_BYTES
  of freed memory at the heap's top (M_TRIM_THRESHOLD), growing it 256 MiB
  at a time (M_TOP_PAD). The process keeps its peak host memory (up to
  KEEP_BYTES more) instead of returning it.

  Returns whether glibc took all of it: False where malloc is not glibc's
  (macOS, musl), when ZFJAX_HOST_MALLOC is "glibc", or when called after
  another thread was started (its arena, and any it made, stay).
  """
  if os.environ.get(MALLOC_ENV, '') == 'glibc' or not sys.platform.startswith(
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
  has no GPU or TPU device file under `dev`. On an accelerator host the
  programs' buffers are the device's, and the input pipeline's many threads
  are better served by glibc's arenas."""
  platforms = os.environ.get('JAX_PLATFORMS', '')
  if platforms:
    return {p.strip() for p in platforms.split(',')} == {'cpu'}
  return not any(glob.glob(os.path.join(dev, pattern))
                 for pattern in _ACCELERATOR_FILES)


# ------------------------------------------------------- XLA's CPU flags

YNN_FLAG = 'xla_cpu_experimental_ynn_fusion_type'
# The defaults (individual dots, reductions, individual convolutions) less
# the convolutions.
EIGEN_CONVOLUTIONS = f'--{YNN_FLAG}=-individual_convolution'


def _flag_value(xla_flags: str) -> str | None:
  """YNN_FLAG's value in an XLA_FLAGS string (the last one counts), or None."""
  value = None
  for token in xla_flags.split():
    name, _, v = token.lstrip('-').partition('=')
    if name == YNN_FLAG:
      value = v
  return value


def ynn_convolutions(xla_flags: str | None = None) -> bool:
  """Whether XLA's CPU backend hands convolutions to YNNPACK under
  `xla_flags` (default: this process's XLA_FLAGS).

  Unset, it does (jaxlib 0.10's default). Set, the value is a comma list:
  entries all marked + or - change the defaults ("-individual_convolution"
  drops the convolutions), otherwise the list replaces them (empty: no
  YNNPACK at all).
  """
  if xla_flags is None:
    xla_flags = os.environ.get('XLA_FLAGS', '')
  value = _flag_value(xla_flags)
  if value is None:
    return True
  entries = [e.strip().lower() for e in value.split(',') if e.strip()]
  convolution = ('individual_convolution',
                 'library_fusion_type_individual_convolution')
  if entries and all(e[0] in '+-' for e in entries):
    return not any(e[1:] in convolution for e in entries if e[0] == '-')
  return any(e in convolution for e in entries)


def _backend_started() -> bool:
  if 'jax' not in sys.modules:
    return False
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  return xla_bridge.backends_are_initialized()


def use_eigen_convolutions() -> bool:
  """Adds EIGEN_CONVOLUTIONS to XLA_FLAGS unless XLA_FLAGS already sets
  YNN_FLAG (the user's choice stays). Returns whether XLA will take its CPU
  convolutions from Eigen: False also when JAX already started a backend
  (XLA_FLAGS was read then) and the flag was not already set."""
  flags = os.environ.get('XLA_FLAGS', '')
  if _flag_value(flags) is None:
    if _backend_started():
      return False
    os.environ['XLA_FLAGS'] = f'{flags} {EIGEN_CONVOLUTIONS}'.strip()
  return not ynn_convolutions()


# ------------------------------------------------------------- the call


class Settings(NamedTuple):
  """What `configure` could set: glibc keeps freed memory; XLA's CPU
  convolutions are Eigen's."""
  kept_memory: bool
  eigen_convolutions: bool


def configure() -> Settings:
  """Sets the process up for zfjax (module docstring); call it first.

  Idempotent; each setting that can no longer take (threads or JAX already
  started) is left as it is and reported False.
  """
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
  kept = runs_on_cpu() and keep_freed_memory()
  return Settings(kept, use_eigen_convolutions())
