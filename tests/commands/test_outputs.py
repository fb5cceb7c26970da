"""File names from the options that change a file's content, the staging
folder, and the JSON records (`zfjax.commands.outputs`)."""

import json
import os
import subprocess
import sys

import pytest

from zfjax.commands import options
from zfjax.commands import outputs


def parser():
  p = options.Parser(prog='test')
  p.add_argument('--maps', type=options.positive, default=16)
  p.add_argument('--indices', type=options.int_list, default='0,1,2')
  p.add_argument('--files', nargs='+')
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--saturate', type=options.percentage, default=0.5)
  p.add_argument('--per_filter', action='store_true')
  options.neutral(p.add_argument('--chunk_size', type=int, default=32))
  return p


@pytest.mark.parametrize('argv, tag', [
    ([], ''),
    (['--maps', '16', '--indices', '0,1,2', '--chunk_size', '8'], ''),
    (['--maps', '9'], 'maps9'),
    (['--indices', '3,7', '--maps', '9'], 'maps9_indices3-7'),  # as defined
    (['--files', 'photos/dog.jpg', 'cat.PNG'], 'files-dog-cat'),
    (['--seed', '-1'], 'seed-1'),
    (['--seed', '1'], 'seed1'),
    (['--saturate', '2.5', '--per_filter'], 'saturate2.5_per_filter'),
])
def test_content_tag(argv, tag):
  p = parser()
  assert outputs.content_tag(p._actions, p.parse_args(argv)) == tag


def test_long_tags_become_a_hash_of_the_options():
  p = parser()
  files = [f'photo_number_{i}.jpg' for i in range(10)]
  tag = outputs.content_tag(p._actions, p.parse_args(['--files'] + files))
  assert tag.startswith('opts-') and len(tag) == 13
  other = outputs.content_tag(p._actions,
                              p.parse_args(['--files'] + files[:-1] + ['x']))
  assert other.startswith('opts-') and other != tag


def test_staging_publishes_with_the_tag_and_a_record_per_stem(tmp_path):
  out = tmp_path / 'figures'
  with outputs.Staging(out) as staging:
    assert not out.exists()  # nothing made before a file is written
    staging.path.mkdir(parents=True)
    for name in ('a_conv1.png', 'a_conv1.npz', 'a_conv2.png'):
      (staging.path / name).write_text(name)
    paths = staging.publish(
        [staging.path / n for n in ('a_conv1.png', 'a_conv1.npz',
                                    'a_conv2.png')], 'maps9', {'command': 'x'})
  assert sorted(os.listdir(out)) == [
      'a_conv1_maps9.json', 'a_conv1_maps9.npz', 'a_conv1_maps9.png',
      'a_conv2_maps9.json', 'a_conv2_maps9.png']
  assert [p.name for p in paths] == [
      'a_conv1_maps9.png', 'a_conv1_maps9.npz', 'a_conv1_maps9.json',
      'a_conv2_maps9.png', 'a_conv2_maps9.json']
  record = json.loads((out / 'a_conv1_maps9.json').read_text())
  assert record == {'command': 'x',
                    'files': ['a_conv1_maps9.png', 'a_conv1_maps9.npz']}
  assert (out / 'a_conv1_maps9.png').read_text() == 'a_conv1.png'


def test_an_error_leaves_nothing_and_stale_staging_goes(tmp_path):
  out = tmp_path / 'new'
  with pytest.raises(RuntimeError):
    with outputs.Staging(out) as staging:
      staging.path.mkdir(parents=True)
      (staging.path / 'half.png').write_text('x')
      raise RuntimeError('the command failed')
  assert not out.exists()  # made for the files, removed with them
  # A staging folder of a process that is gone (killed) is removed.
  done = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                        capture_output=True, text=True, check=True)
  stale = tmp_path / 'kept' / f'.staging-{done.stdout.strip()}'
  stale.mkdir(parents=True)
  (tmp_path / 'kept' / 'good.png').write_text('good')
  with pytest.raises(RuntimeError):
    with outputs.Staging(tmp_path / 'kept'):
      raise RuntimeError
  assert os.listdir(tmp_path / 'kept') == ['good.png']
