"""A workdir is all the analyses of your own images need.

A person trains on a TPU VM and copies the workdir to a laptop: `top9
--image_dir`, `occlusion --files`, `invariance --files` and `correspondence
--parts_file` (and the built-in analyses, which redraw their scenes from the
generator) must work where the run's data set is not. Here the tiny run is
trained with its own data dir, which is then moved away; the commands run
in a fresh process whose HOME is empty, so that a data set rendered or read
anywhere (the config's data dir, TFDS's default under HOME) would show.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from shared import ROOT
from zfjax.data import shapes


def _listing(root):
  """Every file under `root` with its size and modification time."""
  return {os.path.relpath(os.path.join(d, f), root):
          (os.path.getsize(os.path.join(d, f)),
           os.path.getmtime(os.path.join(d, f)))
          for d, _, files in os.walk(root) for f in files}


def assert_clean_log(stderr):
  """What a terminal shows of a command is zfjax's: plain progress lines off
  a terminal (no carriage-return redraws), none of TensorFlow's notices or
  TFDS's messages for a set that downloads nothing."""
  assert '\r' not in stderr
  for noise in ('oneDNN', 'absl::InitializeLog', 'Downloading and preparing',
                'dataset_info.json', 'downloaded and prepared', 'Traceback'):
    assert noise not in stderr, stderr[-3000:]


@pytest.fixture(scope='module')
def run_without_data(tmp_path_factory):
  """(workdir, moved data dir, its listing, image files, part file)."""
  root = tmp_path_factory.mktemp('nodata')
  data_dir, workdir = root / 'tfds', root / 'run'
  train = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'train.py'), '--config',
       os.path.join(ROOT, 'configs', 'tiny.py'), '--workdir', str(workdir),
       f'--config.data_dir={data_dir}', '--config.num_epochs=1',
       '--config.ten_crop_eval=False'],
      capture_output=True, text=True, timeout=600,
      env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert train.returncode == 0, train.stderr[-3000:]
  assert_clean_log(train.stderr)
  # The built-in set is rendered with zfjax's own line, not TFDS's.
  assert 'rendering the built-in data set zfjax_shapes' in train.stderr
  moved = root / 'elsewhere'
  shutil.move(str(data_dir), str(moved))
  # Two photos of built-in faces (a PNG and a JPEG, not square) and a part
  # file naming their eyes.
  photos = root / 'photos'
  photos.mkdir()
  entries = []
  for i, (index, suffix) in enumerate(((0, 'png'), (12, 'jpg'))):
    pixels, label, scene = shapes.example('validation', index, 48)
    parts = shapes.render(scene, 48).parts
    path = photos / f'face{i}.{suffix}'
    from PIL import Image  # pylint: disable=g-import-not-at-top
    wide = Image.fromarray(pixels).resize((60, 48))
    wide.save(path, quality=95)
    # Keypoints at the eyes' centres, in the widened file's pixels.
    centre = lambda box: [(box[0] + box[2]) / 2,  # noqa: E731
                          (box[1] + box[3]) / 2 * 60 / 48]
    entries.append({'path': path.name, 'label': int(label),
                    'parts': {n: centre(parts[n])
                              for n in ('left_eye', 'right_eye')}})
  part_file = photos / 'parts.json'
  part_file.write_text(json.dumps({'mask_size': 6, 'images': entries}))
  return workdir, moved, _listing(moved), photos, part_file


def test_analyses_of_your_own_images_need_only_the_workdir(run_without_data,
                                                           tmp_path):
  workdir, moved, before, photos, part_file = run_without_data
  files = [str(photos / 'face0.png'), str(photos / 'face1.jpg')]
  commands = [
      ['top9', '--image_dir', str(photos), '--layers', 'conv1', '--maps', '2'],
      ['occlusion', '--files', *files, '--size', '8', '--stride', '8'],
      ['invariance', '--files', *files, '--transforms', 'rotate'],
      ['correspondence', '--parts_file', str(part_file), '--set_size', '2'],
      # Built-in scenes are redrawn by the generator, not read.
      ['invariance', '--indices', '0,1', '--transforms', 'translate'],
      ['correspondence', '--num_images', '4', '--set_size', '2',
       '--num_sets', '1'],
  ]
  code = textwrap.dedent(f'''
      import sys
      from zfjax import runtime
      runtime.configure()  # as visualize.py does first
      from zfjax.commands import visualize
      for argv in {commands!r}:
        status = visualize.main(['--workdir', {str(workdir)!r}] + argv)
        print('status', argv[0], status, flush=True)
  ''')
  home = tmp_path / 'home'
  home.mkdir()
  env = {k: v for k, v in os.environ.items() if k != 'TFDS_DATA_DIR'}
  result = subprocess.run(
      [sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
      timeout=900, env=dict(env, HOME=str(home), JAX_PLATFORMS='cpu',
                            PYTHONPATH=ROOT))
  statuses = [l for l in result.stdout.splitlines() if l.startswith('status')]
  assert statuses == [f'status {argv[0]} 0' for argv in commands], (
      result.stdout[-2000:] + result.stderr[-3000:])
  assert_clean_log(result.stderr)
  # The sweeps' progress, as plain lines.
  for bar in ('top-k scan:', 'occlusion:', 'rotate:', 'translate:'):
    assert any(l.startswith(bar) for l in result.stderr.splitlines()), bar
  figures = workdir / 'figures'
  for name in ('top9_conv1_maps2_image_dir-photos.png',
               'occlusion_face0_size8_stride8.png',
               'occlusion_face1_size8_stride8.png',
               'invariance_files-face0-face1_transforms-rotate.png',
               'correspondence_parts_file-parts_set_size2.csv'):
    assert (figures / name).stat().st_size > 0, name
  # No data set was rendered, read or looked for.
  assert not (workdir.parent / 'tfds').exists()
  assert _listing(moved) == before
  # (TensorFlow and matplotlib keep their caches under HOME; no data set.)
  assert not [p for p in home.rglob('*')
              if p.name in ('tensorflow_datasets', 'zfjax_shapes',
                            'downloads')]
