"""xla_cpu: which library XLA's CPU backend takes convolutions from.

Checked against XLA itself: each case compiles a convolution in a fresh
interpreter (XLA reads XLA_FLAGS once) and looks for YNNPACK's fusion in
the compiled program.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from zfjax import xla_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Prints whether a conv3-like convolution went to YNNPACK (jaxlib 0.10
# leaves convolutions this small to Eigen: hence 64 maps).
_YNN_CONVOLUTION = textwrap.dedent('''
    import jax, jax.numpy as jnp
    from jax import lax
    conv = jax.jit(lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
    compiled = conv.lower(jnp.ones((2, 13, 13, 64)),
                          jnp.ones((3, 3, 64, 64))).compile()
    print('__ynn_fusion' in compiled.as_text())
''')


def _run(code: str, xla_flags: str | None) -> list[str]:
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  if xla_flags is not None:
    env['XLA_FLAGS'] = xla_flags
  out = subprocess.run([sys.executable, '-c', code], check=True,
                       capture_output=True, text=True, cwd=ROOT,
                       env={**env, 'PYTHONPATH': ROOT})
  return out.stdout.split()


@pytest.mark.parametrize('value', [
    None, '-individual_convolution', '', '+individual_convolution',
    'individual_dot,reduce', '-reduce,+individual_dot'])
def test_ynn_convolutions_agrees_with_xla(value):
  flags = None if value is None else f'--{xla_cpu.FLAG}={value}'
  assert _run(_YNN_CONVOLUTION, flags) == [
      str(xla_cpu.ynn_convolutions(flags or ''))]


def test_the_last_setting_counts():
  first = f'--{xla_cpu.FLAG}= --xla_cpu_use_thunk_runtime=true'
  assert not xla_cpu.ynn_convolutions(first)
  assert xla_cpu.ynn_convolutions(f'{first} --{xla_cpu.FLAG}=+reduce')


def test_use_eigen_convolutions_before_jax_starts():
  code = ('from zfjax import xla_cpu\n'
          'print(xla_cpu.use_eigen_convolutions())\n' + _YNN_CONVOLUTION)
  assert _run(code, None) == ['True', 'False']
  # Other flags stay; a setting of the user's own wins.
  assert _run(code, '--xla_cpu_enable_fast_math=false') == ['True', 'False']
  assert _run(code, f'--{xla_cpu.FLAG}=+individual_convolution') == [
      'False', 'True']


def test_use_eigen_convolutions_after_jax_started_changes_nothing():
  code = textwrap.dedent('''
      import os
      import jax, jax.numpy as jnp
      jnp.ones(3).block_until_ready()
      from zfjax import xla_cpu
      print(xla_cpu.use_eigen_convolutions(), 'XLA_FLAGS' in os.environ)
  ''')
  assert _run(code, None) == ['False', 'False']
