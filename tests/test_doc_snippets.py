"""Every ```python block of README.md and docs/*.md runs as written.

A document's blocks run in order in one namespace (a later block may use
what an earlier one made, as a reader would), in a fresh folder holding
what they name: `workdir/synthetic` (the tiny trained run standing in for
the default one) and two photos, `dog.jpg` and `cat.png`. A block that
needs what a test cannot have says so in a comment on the line before it:
`<!-- not run by the tests: REASON -->`.
"""

import os
import re

import numpy as np
import pytest
from PIL import Image

from shared import ROOT
from zfjax.data import shapes

DOCS = ['README.md'] + sorted(
    os.path.join('docs', f) for f in os.listdir(os.path.join(ROOT, 'docs'))
    if f.endswith('.md'))
_BLOCK = re.compile(r'^```python\n(.*?)^```', re.M | re.S)
_SKIP = re.compile(r'<!-- not run by the tests: (.+?) -->\s*$')


def blocks(doc: str) -> list[tuple[int, str, str | None]]:
  """(line, code, reason it is not run or None) per python block."""
  with open(os.path.join(ROOT, doc)) as f:
    text = f.read()
  out = []
  for match in _BLOCK.finditer(text):
    before = text[:match.start()].rstrip('\n').splitlines()
    skip = _SKIP.search(before[-1]) if before else None
    out.append((text.count('\n', 0, match.start()) + 1, match.group(1),
                skip.group(1) if skip else None))
  return out


def test_the_docs_have_python_blocks():
  found = {doc: blocks(doc) for doc in DOCS}
  assert len(found['README.md']) >= 2
  assert sum(len(b) for b in found.values()) >= 8
  # A block left out says why.
  assert all(reason.strip() for b in found.values() for _, _, reason in b
             if reason is not None)


@pytest.mark.parametrize('doc', [d for d in DOCS if blocks(d)])
def test_python_blocks_run_as_written(doc, tiny_run, tmp_path, monkeypatch):
  (tmp_path / 'workdir').mkdir()
  os.symlink(tiny_run, tmp_path / 'workdir' / 'synthetic')
  for name, index, size in (('dog.jpg', 0, (90, 60)),
                            ('cat.png', 1, (48, 64))):
    pixels = shapes.example('validation', index, 64)[0]
    Image.fromarray(pixels).resize(size).save(tmp_path / name)
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv('MPLBACKEND', 'Agg')
  namespace = {'__name__': '__doc_snippets__'}
  ran = 0
  for line, code, reason in blocks(doc):
    if reason is None:
      exec(compile(code, f'{doc}:{line}', 'exec'), namespace)  # pylint: disable=exec-used
      ran += 1
  assert ran
  if doc == 'README.md':
    # The first block drew its picture of the two photos.
    assert (tmp_path / 'photos.png').stat().st_size > 10_000
    assert np.asarray(namespace['images']).shape[0] == 2
