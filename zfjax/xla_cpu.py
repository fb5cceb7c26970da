"""XLA's CPU convolutions from Eigen instead of YNNPACK.

jaxlib 0.10's CPU backend hands convolutions, dots and reductions to
YNNPACK by default. Its convolutions are slow on ZFNet's layers: at batch
32 (2-core AVX-512 CPU) conv1's forward took 54 ms against Eigen's 37,
conv2's 148 against 71, and the kernel gradients of conv1-5 213, 105, 40,
60 and 41 ms against Eigen's 53, 75, 26, 38 and 26. Its products stay
fast. `use_eigen_convolutions()` sets the XLA flag that takes only the
convolutions away from YNNPACK: the trainer's step at batch 32 went from
35.8 to 45.0 images/s, `models.apply` from 115 to 139 (`vs_captum.py`, one
run each, the same hour).

XLA reads XLA_FLAGS once, when JAX starts its first backend: call it
first, as `train.py`, `visualize.py` and the benchmarks do. In a notebook,
run it (or set XLA_FLAGS to `EIGEN_CONVOLUTIONS`) before the first JAX
computation. Without it, `layers.conv2d_fast` goes around YNNPACK's slow
convolutions by matrix products (see `ynn_convolutions`).

The flag only concerns XLA's CPU backend: on a GPU or TPU host it changes
nothing there. This module imports nothing but the standard library.
"""

from __future__ import annotations

import os
import sys

FLAG = 'xla_cpu_experimental_ynn_fusion_type'
# The defaults (individual dots, reductions, individual convolutions) less
# the convolutions.
EIGEN_CONVOLUTIONS = f'--{FLAG}=-individual_convolution'


def _flag_value(xla_flags: str) -> str | None:
  """FLAG's value in an XLA_FLAGS string (the last one counts), or None."""
  value = None
  for token in xla_flags.split():
    name, _, v = token.lstrip('-').partition('=')
    if name == FLAG:
      value = v
  return value


def ynn_convolutions(xla_flags: str | None = None) -> bool:
  """Whether XLA's CPU backend hands convolutions to YNNPACK, under
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
  """Adds EIGEN_CONVOLUTIONS to XLA_FLAGS, unless XLA_FLAGS already sets
  FLAG (the user's choice stays). Returns whether XLA will take its CPU
  convolutions from Eigen: False also when JAX already started a backend
  (XLA_FLAGS was read then) and the flag was not already set."""
  flags = os.environ.get('XLA_FLAGS', '')
  if _flag_value(flags) is None:
    if _backend_started():
      return False
    os.environ['XLA_FLAGS'] = f'{flags} {EIGEN_CONVOLUTIONS}'.strip()
  return not ynn_convolutions()
