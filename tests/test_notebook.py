"""examples/zfjax_colab.ipynb runs top to bottom on the built-in fallback.

Its code cells are read from the notebook's JSON and executed in order in a
fresh Python process (no Jupyter), in a temporary directory with no AlexNet
weights, a temporary TFDS data dir and the quick training size.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / 'examples' / 'zfjax_colab.ipynb'

# Runs the cells in one namespace, then reports what they made.
RUNNER = r'''
import json, sys, time
start = time.time()
cells = json.load(open(sys.argv[1]))['cells']
namespace = {}
for cell in cells:
  if cell['cell_type'] == 'code':
    exec(compile(''.join(cell['source']), 'cell', 'exec'), namespace)
print(json.dumps({
    'seconds': time.time() - start,
    'spec': namespace['run'].spec.name,
    'epoch': namespace['run'].epoch,
    'occlusion_files': [str(p) for p in namespace['occlusion_files']],
    'projections': namespace['projections'].tolist(),
    'filters': len(namespace['stats'].rms),
    'unit_page': str(namespace['unit_page']),
    'inline': namespace['site'].inline_page(namespace['unit_page']),
}))
'''


def test_notebook_cells_run_on_the_builtin_fallback(tmp_path):
  nb = json.loads(NOTEBOOK.read_text())
  assert nb['nbformat'] == 4
  assert all(not c.get('outputs') for c in nb['cells']
             if c['cell_type'] == 'code')  # committed without outputs
  env = dict(os.environ, MPLBACKEND='Agg', ZFJAX_NOTEBOOK_QUICK='1',
             ZFJAX_WEIGHTS=str(tmp_path / 'absent.pth'),
             TORCH_HOME=str(tmp_path / 'torch'),
             TFDS_DATA_DIR=str(tmp_path / 'tfds'),
             PYTHONPATH=str(ROOT))
  run = subprocess.run([sys.executable, '-c', RUNNER, str(NOTEBOOK)],
                       cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
  assert run.returncode == 0, run.stderr[-3000:]
  report = json.loads(run.stdout.strip().splitlines()[-1])
  print(f"notebook cells: {report['seconds']:.1f} s")
  assert report['spec'] == 'zfnet_small' and report['epoch'] == 1
  # The library in a few lines: two photos' occlusion maps and conv5
  # projections, drawn.
  assert (tmp_path / 'photos.png').stat().st_size > 10_000
  occlusion_png = pathlib.Path(report['occlusion_files'][0])
  assert occlusion_png.name == 'occlusion_builtin_scene_0.png'
  assert (tmp_path / occlusion_png).stat().st_size > 10_000
  rows = (tmp_path / 'workdir_builtin' / 'figures' /
          'occlusion_builtin_scene_0.csv').read_text().splitlines()
  assert len(rows) > 10  # header + one row per square position
  # The last conv layer's 4 projections: (4, 56, 56, 3), each non-zero.
  projections = np.asarray(report['projections'])
  assert projections.shape == (4, 56, 56, 3)
  assert (np.abs(projections).reshape(4, -1).max(axis=1) > 0).all()
  assert report['filters'] == 32  # zfnet_small's conv1
  # The atlas cell: the site, and the unit page made one self-contained
  # string for the notebook's output (pictures inlined, no script).
  page = tmp_path / report['unit_page']
  assert page.is_file() and (tmp_path / 'workdir_builtin' / 'atlas' /
                             'index.html').is_file()
  assert page.parent.name == 'conv5' and page.name.endswith('.html')
  inline = report['inline']
  assert inline.count('<img ') == inline.count('src="data:image/')
  assert inline.count('<img ') >= 3 and '<style>' in inline
  assert '<script' not in inline
