"""host_memory: an XLA program's temporary block reused, not faulted in anew.

Each case runs in a fresh interpreter: glibc's setting is the process's and
has to come before any thread starts.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from zfjax import host_memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A program whose temporaries (the two cumulative sums, 64 MiB each) sit
# in one block over glibc's 64 MiB arena heaps; prints the fewest page
# faults of its runs 5-8 (kept memory settles into reuse within a few
# runs, depending on the order frees come in), and the pages of 128 MiB.
_FAULTS = textwrap.dedent('''
    import resource, sys
    from zfjax import host_memory
    print(host_memory.keep_freed_memory())
    import jax, jax.numpy as jnp
    x = jnp.ones((4096, 4096))
    f = jax.jit(lambda x: jnp.cumsum(jnp.sin(x), 0)[::2].sum()
                + jnp.cumsum(jnp.cos(x), 1).sum())
    faults = []
    for _ in range(8):
      before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
      jax.block_until_ready(f(x))
      faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                    - before)
    print(min(faults[4:]), 2 * 4096 * 4096 * 4 // 4096)
''')


def _run(code: str, **env) -> list[str]:
  out = subprocess.run(
      [sys.executable, '-c', code], check=True, capture_output=True,
      text=True, cwd=ROOT, env={**os.environ, 'PYTHONPATH': ROOT, **env})
  return out.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='glibc only')
def test_xla_temporaries_stop_faulting():
  took, faults, pages = _run(_FAULTS, ZFJAX_HOST_MALLOC='')
  as_is, faults_as_is, _ = _run(_FAULTS, ZFJAX_HOST_MALLOC='glibc')
  assert (took, as_is) == ('True', 'False')
  if int(faults_as_is) < int(pages) // 2:
    pytest.skip(f'this glibc reuses the block unasked ({faults_as_is} '
                f'faults of {pages} pages): nothing to compare')
  assert int(faults) < int(pages) // 100, (faults, pages)


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='glibc only')
def test_too_late_after_a_thread_started():
  took = _run(textwrap.dedent('''
      import threading
      from zfjax import host_memory
      done = threading.Event()
      t = threading.Thread(target=lambda: (bytearray(10**6), done.wait()))
      t.start()
      print(host_memory.keep_freed_memory())
      done.set()
  '''), ZFJAX_HOST_MALLOC='')
  assert took == ['False']


def test_runs_on_cpu_by_device_files(tmp_path, monkeypatch):
  monkeypatch.delenv('JAX_PLATFORMS', raising=False)
  assert host_memory.runs_on_cpu(str(tmp_path))
  for name in ('nvidia0', 'accel0', 'kfd'):
    (tmp_path / name).touch()
    assert not host_memory.runs_on_cpu(str(tmp_path)), name
    (tmp_path / name).unlink()
  (tmp_path / 'vfio').mkdir()
  (tmp_path / 'vfio' / 'vfio').touch()  # the control file: no TPU
  assert host_memory.runs_on_cpu(str(tmp_path))
  (tmp_path / 'vfio' / '0').touch()
  assert not host_memory.runs_on_cpu(str(tmp_path))


@pytest.mark.parametrize('platforms,cpu', [('cpu', True), ('cuda', False),
                                           ('cuda,cpu', False),
                                           (' cpu ', True)])
def test_runs_on_cpu_by_jax_platforms(tmp_path, monkeypatch, platforms, cpu):
  (tmp_path / 'nvidia0').touch()
  monkeypatch.setenv('JAX_PLATFORMS', platforms)
  assert host_memory.runs_on_cpu(str(tmp_path)) == cpu
