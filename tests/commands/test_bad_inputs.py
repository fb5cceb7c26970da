"""Every bad input gives one `error:` line saying what to do, exit status 2,
no traceback, and changes no file; what a command only warns about is said,
not silent; a rerun with other options never replaces earlier figures.

The cases are lists per command line: a new command adds its bad inputs to
VISUALIZE (run in-process against the tiny trained run) or TRAIN (train.py
in a subprocess). Placeholders: {wd} the tiny run's workdir, {files} a
folder of good and broken image files (`files` below).
"""

import io
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest
from PIL import Image

from shared import ROOT
from zfjax.commands import common
from zfjax.commands import visualize
from zfjax.data import shapes
from zfjax.errors import ZfjaxError

# (id, visualize.py arguments, a part of the error line)
VISUALIZE = [
    ('workdir is a file', ['--workdir', '{wd}/config.json', 'top9'],
     'is a file, not a folder'),
    ('missing workdir', ['--workdir', '{files}/absent', 'top9'],
     'does not exist'),
    ('not a run', ['--workdir', '{files}/empty', 'top9'],
     'no zfjax training run'),
    ('out is a file', ['filters', '--out', '{files}/notes.txt'],
     'is a file, not a folder'),
    ('out under a file', ['filters', '--out', '{files}/notes.txt/figures'],
     'is a file, not a folder'),
    ('truncated JPEG', ['occlusion', '--files', '{files}/truncated.jpg'],
     'truncated.jpg cannot be decoded'),
    ('missing file', ['occlusion', '--files', '{files}/absent.jpg'],
     'does not exist'),
    ('non-image file', ['occlusion', '--files', '{files}/notes.txt'],
     'neither JPEG nor PNG'),
    ('empty image dir', ['top9', '--image_dir', '{files}/empty'],
     'holds no .jpg'),
    ('missing image dir', ['top9', '--image_dir', '{files}/absent'],
     'is not a directory'),
    ('only unreadable images', ['top9', '--image_dir', '{files}/only_bad',
                                '--layers', 'conv1'],
     'none of the 2 image files could be read'),
    ('unknown layer', ['top9', '--layers', 'conv9'],
     "no layer 'conv9'; choose a conv layer: conv1, conv2, conv3, conv4, "
     'conv5'),
    ('not a conv layer', ['top9', '--layers', 'pool2'], 'not a conv layer'),
    ('occlusion layer', ['occlusion', '--layer', 'fc6'], 'not a conv layer'),
    ('invariance layer', ['invariance', '--layers', 'conv9'], "'conv9'"),
    ('bad channel', ['top9', '--layers', 'conv1', '--channels', '40'],
     'maps 0..31'),
    ('zero maps', ['top9', '--maps', '0'], '--maps'),
    ('zero k', ['top9', '--k', '0'], '--k'),
    ('limit 0', ['top9', '--limit', '0'], '--limit'),
    ('chunk size 0', ['top9', '--chunk_size', '0'], '--chunk_size'),
    ('bad saturate', ['top9', '--saturate', '100'], '--saturate'),
    ('bad split', ['top9', '--split', 'test'], "split 'test'"),
    ('bad split of images', ['occlusion', '--split', 'test'],
     "split 'test'"),
    ('bad epoch', ['--epoch', '7', 'filters'], 'epoch 7'),
    ('bad evolution epochs', ['evolution', '--epochs', '1', '5'], '[5]'),
    ('bad square size', ['occlusion', '--size', '0'], '--size'),
    ('negative index', ['occlusion', '--indices', '-1'], '--indices'),
    ('index past the split', ['occlusion', '--indices', '64'],
     'indices must be in [0, 64)'),
    ('labels without files', ['occlusion', '--labels', '1'], '--labels'),
    ('labels per file', ['occlusion', '--files', '{files}/good.png',
                         '--labels', '1,2'], 'one --labels entry'),
    ('label past the classes', ['occlusion', '--files', '{files}/good.png',
                                '--labels', '12'], 'class indices 0..11'),
    ('render files', ['invariance', '--files', '{files}/good.png',
                      '--method', 'render'], '--method resample'),
    ('unknown rule', ['top9', '--rule', 'lrp'], "invalid choice: 'lrp'"),
    ('unknown evolution rule', ['evolution', '--rule', 'saliency'],
     "invalid choice: 'saliency'"),
    ('stimulus of a pool', ['stimulus', '--layers', 'pool2'],
     'neither a conv layer nor the logits'),
    ('stimulus of a hidden fc', ['stimulus', '--layers', 'fc6'],
     'neither a conv layer nor the logits'),
    ('stimulus class past the classes', ['stimulus', '--layers', 'fc8',
                                         '--channels', '12'],
     'classes 0..11; [12] do not exist'),
    ('stimulus map past the maps', ['stimulus', '--layers', 'conv1',
                                    '--channels', '40'], 'maps 0..31'),
    ('stimulus zero steps', ['stimulus', '--steps', '0'], '--steps'),
    ('stimulus bad clip', ['stimulus', '--clip_pixels', '100'],
     '--clip_pixels'),
    ('stimulus negative jitter', ['stimulus', '--jitter', '-1'], '--jitter'),
    ('stimulus unknown start', ['stimulus', '--start', 'noise'], '--start'),
    ('claim number', ['claims', '--claims', '8'], '--claims'),
    ('missing sibling', ['claims', '--claims', '4', '--siblings',
                         '{files}/absent'], 'does not exist'),
    ('sibling not a run', ['claims', '--claims', '4', '--siblings',
                           '{files}/empty'], 'no zfjax training run'),
    ('claims out is a file', ['claims', '--out', '{files}/notes.txt'],
     'is a file, not a folder'),
    ('unknown command', ['top10'], 'invalid choice'),
    ('unknown option', ['top9', '--mapz', '3'], 'unrecognized arguments'),
]

# (id, train.py arguments, a part of the error line); {run} is a fresh
# path, {data} a fresh data dir.
_TINY = ['--config', 'configs/tiny.py', '--workdir', '{run}',
         '--config.data_dir={data}']
TRAIN = [
    ('misspelt key', _TINY + ['--config.learnig_rate=0.1'],
     "did you mean 'learning_rate'"),
    ('zero batch', _TINY + ['--config.batch_size=0'], 'batch_size'),
    ('rate cut past the end', _TINY + ['--config.rate_cuts=(99,)'],
     'config.rate_cuts=(99,)'),
    ('unknown model', _TINY + ['--config.model=zfnett'],
     "unknown spec 'zfnett'"),
    ('unknown data set', _TINY + ['--config.dataset=imagenet'],
     'config.dataset must be one of'),
    ('missing config file', ['--config', 'configs/nope.py', '--workdir',
                             '{run}'], "'configs/nope.py'"),
    ('workdir is a file', ['--config', 'configs/tiny.py', '--workdir',
                           '{files}/notes.txt', '--config.data_dir={data}'],
     'is a file, not a folder'),
]


def listing(root):
  """Every file and folder under `root` with its size and mtime."""
  out = {}
  for folder, dirs, files in os.walk(root):
    for name in dirs + files:
      path = os.path.join(folder, name)
      info = os.stat(path)
      out[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
  return out


def _png(path, pixels, mode='RGB'):
  Image.fromarray(pixels).convert(mode).save(path)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  """Image files as a newcomer's folder holds them: good ones, a truncated
  JPEG, a text file with a .jpg name, an RGBA PNG, and folders of them."""
  root = tmp_path_factory.mktemp('files')
  scenes = [shapes.example('validation', i, 40)[0] for i in range(3)]
  _png(root / 'good.png', scenes[0])
  _png(root / 'rgba.png', scenes[1], 'RGBA')
  buffer = io.BytesIO()
  Image.fromarray(scenes[2]).save(buffer, format='JPEG', quality=90)
  jpeg = buffer.getvalue()
  (root / 'truncated.jpg').write_bytes(jpeg[:len(jpeg) // 2])
  (root / 'notes.txt').write_text('not an image\n')
  (root / 'empty').mkdir()
  for folder, names in (('only_bad', ('truncated.jpg',)),
                        ('mixed', ('good.png', 'truncated.jpg'))):
    (root / folder).mkdir()
    for name in names:
      shutil.copy(root / name, root / folder / name)
    (root / folder / 'fake.jpg').write_text('not a JPEG either\n')
  (root / 'mixed' / 'good2.jpg').write_bytes(jpeg)
  return root


def _fill(argv, **places):
  return [a.format(**places) for a in argv]


def one_error_line(status, err):
  assert status == 2, err[-3000:]
  assert 'Traceback' not in err, err[-3000:]
  lines = [l for l in err.splitlines() if l.startswith('error: ')]
  assert len(lines) == 1, err[-3000:]
  return lines[0]


def run_visualize(argv, capsys):
  try:
    status = visualize.main(argv)
  except SystemExit as e:  # argparse's errors
    status = e.code
  return status, capsys.readouterr()


@pytest.mark.parametrize('argv, message', [c[1:] for c in VISUALIZE],
                         ids=[c[0] for c in VISUALIZE])
def test_visualize_bad_input(tiny_run, files, capsys, argv, message):
  argv = _fill(argv, wd=tiny_run, files=files)
  if argv[0] != '--workdir':
    argv = ['--workdir', str(tiny_run)] + argv
  before = listing(tiny_run), listing(files)
  status, out = run_visualize(argv, capsys)
  line = one_error_line(status, out.err)
  assert message in line
  assert (listing(tiny_run), listing(files)) == before
  if argv[2:4] == ['top9', '--layers'] and 'conv9' in argv:
    # A conv-only option lists conv layers only.
    assert 'pool' not in line and 'fc' not in line


@pytest.mark.parametrize('argv, message', [c[1:] for c in TRAIN],
                         ids=[c[0] for c in TRAIN])
def test_train_bad_input(files, tmp_path, argv, message):
  argv = _fill(argv, run=tmp_path / 'run', data=tmp_path / 'tfds',
               files=files)
  before = listing(files)
  proc = subprocess.run([sys.executable, 'train.py'] + argv, cwd=ROOT,
                        capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, JAX_PLATFORMS='cpu'))
  line = one_error_line(proc.returncode, proc.stderr)
  assert message in line
  assert line.count("'") % 2 == 0, line  # quotes closed
  # Validated before any side effect: no workdir, no data set rendered.
  assert os.listdir(tmp_path) == []
  assert listing(files) == before


def test_an_empty_split_is_refused():
  class Info:  # what split_size reads of a DataSource
    name, split_sizes = 'zfjax_shapes', {'train': 10, 'validation': 0}

  class Data:
    info = Info()

  assert common.split_size(Data(), 'train') == 10
  with pytest.raises(ZfjaxError, match="'validation' of zfjax_shapes has no"):
    common.split_size(Data(), 'validation')


def warnings(err):
  return [l for l in err.splitlines() if l.startswith('warning: ')]


def test_what_is_only_warned_about_is_said(tiny_run, files, tmp_path,
                                           capsys):
  wd = str(tiny_run)
  # More maps than the layer has: all of them, said once.
  status, out = run_visualize(['--workdir', wd, 'top9', '--layers', 'conv1',
                               '--maps', '500', '--limit', '16', '--out',
                               str(tmp_path)], capsys)
  assert status == 0, out.err[-3000:]
  assert warnings(out.err) == [
      'warning: conv1 has 32 maps: showing all of them (--maps 500)']
  # An RGBA file: its alpha is dropped, said once.
  status, out = run_visualize(['--workdir', wd, 'occlusion', '--files',
                               f'{files}/rgba.png', f'{files}/rgba.png',
                               '--out', str(tmp_path)], capsys)
  assert status == 0, out.err[-3000:]
  [line] = warnings(out.err)
  assert 'alpha channel' in line and 'rgba.png' in line
  # Unreadable files in a folder are skipped, each named, then counted.
  status, out = run_visualize(['--workdir', wd, 'top9', '--image_dir',
                               f'{files}/mixed', '--layers', 'conv1',
                               '--maps', '2', '--out', str(tmp_path)], capsys)
  assert status == 0, out.err[-3000:]
  said = warnings(out.err)
  assert len(said) == 3, out.err
  assert any('fake.jpg is neither JPEG nor PNG' in l for l in said)
  assert any('truncated.jpg cannot be decoded' in l for l in said)
  assert said[-1] == ('warning: 2 of 4 image files could not be read and '
                      'were skipped')
  record = json.loads(
      (tmp_path / 'top9_conv1_maps2_image_dir-mixed.json').read_text())
  assert record['checkpoint'] == {'epoch': 2, 'step': 32}


def test_reruns_with_other_options_keep_earlier_files(tiny_run, tmp_path,
                                                      capsys):
  out_dir = tmp_path / 'figures'
  argv = ['--workdir', str(tiny_run), 'filters', '--out', str(out_dir)]
  assert run_visualize(argv, capsys)[0] == 0
  first = listing(out_dir)
  assert sorted(first) == ['filters_conv1.json', 'filters_conv1.png',
                           'filters_conv1_change.json',
                           'filters_conv1_change.png']
  # Other options: other names; the default figure is left as it was.
  assert run_visualize(argv + ['--per_filter'], capsys)[0] == 0
  assert run_visualize(['--epoch', '1'] + argv, capsys)[0] == 0
  after = listing(out_dir)
  assert {k: after[k] for k in first} == first
  assert sorted(set(after) - set(first)) == [
      'filters_conv1_change_epoch1.json', 'filters_conv1_change_epoch1.png',
      'filters_conv1_change_per_filter.json',
      'filters_conv1_change_per_filter.png',
      'filters_conv1_epoch1.json', 'filters_conv1_epoch1.png',
      'filters_conv1_per_filter.json', 'filters_conv1_per_filter.png']
  record = json.loads((out_dir / 'filters_conv1_epoch1.json').read_text())
  assert record['command'] == ('visualize.py --epoch 1 --workdir '
                               f'{tiny_run} filters --out {out_dir}')
  assert record['checkpoint'] == {'epoch': 1, 'step': 16}
  # Nothing of a command that failed is left behind, nothing replaced.
  assert run_visualize(argv + ['--dead_ratio', '0.2', '--epoch', '9'],
                       capsys)[0] == 2
  assert listing(out_dir) == after


def _as_nobody():
  """The command prefix that drops root's right to write anywhere, or None
  where it is not needed (not root) or not available."""
  if os.geteuid() != 0:
    return []
  if not shutil.which('setpriv'):
    return None
  return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']


def test_a_read_only_workdir(tiny_run):
  prefix = _as_nobody()
  if prefix is None:
    pytest.skip('running as root without setpriv: every folder is writable')
  # The unprivileged user runs this checkout's Python and visualize.py: a
  # checkout inside a folder private to root (a clone under `mktemp -d`)
  # is out of its reach.
  script = os.path.join(ROOT, 'visualize.py')
  if subprocess.run(prefix + [sys.executable, '-c',
                              f'open({script!r}).close()'],
                    capture_output=True).returncode:
    pytest.skip(f'{ROOT} is not readable by an unprivileged user')
  # A copy others can read and nobody can write, outside the tests' own
  # temporary folders (private to root).
  top = pathlib.Path(tempfile.mkdtemp(prefix='zfjax-read-only-'))
  shutil.copytree(tiny_run, top / 'run')
  out = top / 'elsewhere'
  out.mkdir()
  for folder, dirs, names in os.walk(top):
    os.chmod(folder, 0o555)
    for name in names:
      os.chmod(os.path.join(folder, name), 0o444)
  os.chmod(top, 0o755)
  os.chmod(out, 0o777)
  before = listing(top / 'run')
  env = dict(os.environ, JAX_PLATFORMS='cpu', MPLCONFIGDIR=str(out),
             HOME=str(out))
  command = prefix + [sys.executable, script,
                      '--workdir', str(top / 'run'), 'filters']
  try:
    proc = subprocess.run(command, capture_output=True, text=True,
                          timeout=300, env=env, cwd=str(out))
    line = one_error_line(proc.returncode, proc.stderr)
    assert f'cannot write to {top / "run"}' in line and '--out' in line
    assert listing(top / 'run') == before
    # With --out elsewhere the read-only run is analysed.
    proc = subprocess.run(command + ['--out', str(out / 'figures')],
                          capture_output=True, text=True, timeout=300,
                          env=env, cwd=str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / 'figures' / 'filters_conv1.png').stat().st_size > 0
  finally:
    for folder, _, _ in os.walk(top):
      os.chmod(folder, stat.S_IRWXU)
    shutil.rmtree(top)
