"""`visualize.py atlas` on a run of configs/tiny.py: the site's links and
pictures, its numbers against brute force and against topk.scan +
deconv.project_units, escaping, one-line errors, a killed build, and the
pages in a real browser (headless Chromium)."""

import hashlib
import html.parser
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

from configs import tiny
from shared import ROOT
from zfjax.analyses import deconv
from zfjax.analyses import topk
from zfjax.commands import visualize
from zfjax.data import pipeline
from zfjax.figures import grids
from zfjax.figures import site as site_lib
from zfjax.networks import models
from zfjax.networks import specs
from zfjax.training import trainer
from zfjax.training import workdirs

EVIL = '<script>alert("atlas")</script> & <b>co</b>'
LAYERS = ('conv1', 'conv2', 'conv5')


class Run:
  """The trained tiny run, its config and the class of validation 0."""

  def __init__(self, workdir, config, label):
    self.workdir, self.config, self.label = workdir, config, label


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  root = tmp_path_factory.mktemp('atlas')
  config = tiny.get_config()
  config.data_dir = str(root / 'tfds')
  workdir = str(root / 'wd')
  trainer.train_and_evaluate(config, workdir)
  # The class of validation image 0 gets a name that would run as a
  # script if it were not escaped.
  label = int(pipeline.DataSource(config).load_examples(
      'validation', [0]).labels[0])
  names = list(workdirs.load_class_names(workdir))
  names[label] = EVIL
  workdirs.save_class_names(workdir, names)
  return Run(workdir, config, label)


@pytest.fixture(scope='module')
def site(run):
  assert visualize.main(['--workdir', run.workdir, 'atlas', '--layers',
                         *LAYERS, '--indices', '0,1', '--maps', '4',
                         '--stimulus_steps', '8', '--npz']) == 0
  return pathlib.Path(run.workdir) / 'atlas'


class _Links(html.parser.HTMLParser):
  """Every href and src of a page, and its script tags."""

  def __init__(self):
    super().__init__()
    self.refs, self.scripts = [], []

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    for key in ('href', 'src'):
      if attrs.get(key) is not None:
        self.refs.append((tag, attrs[key]))
    if tag == 'script':
      self.scripts.append(attrs.get('src'))


def parse(path):
  links = _Links()
  links.feed(path.read_text(encoding='utf-8'))
  return links


def assert_self_contained(root):
  """Every link and picture of every page is a file inside the site."""
  pages = sorted(root.rglob('*.html'))
  assert pages
  for page in pages:
    for tag, ref in parse(page).refs:
      parts = urllib.parse.urlsplit(ref)
      assert not parts.scheme and not parts.netloc, (page, ref)
      assert not ref.startswith('/'), (page, ref)
      if not parts.path:  # an anchor on the same page
        continue
      target = (page.parent / urllib.parse.unquote(parts.path)).resolve()
      assert target.is_file(), (page.relative_to(root), tag, ref)
      assert root.resolve() in target.parents, (page, ref)
  return pages


def test_every_link_and_picture_resolves_inside_the_site(site):
  pages = assert_self_contained(site)
  # index, 3 layer pages, their units, 2 image pages.
  spec = specs.zfnet_small()
  units = sum(spec.layer(l).features for l in LAYERS)
  assert len(pages) == 1 + len(LAYERS) + units + 2


def test_every_unit_of_every_requested_layer_has_a_page(site):
  spec = specs.zfnet_small()
  for layer in LAYERS:
    count = spec.layer(layer).features
    pages = {p.name for p in (site / layer).glob('*.html')}
    assert pages == {f'{c}.html' for c in range(count)} | {'index.html'}
    listed = [ref for tag, ref in parse(site / layer / 'index.html').refs
              if tag == 'a' and ref[0].isdigit()]
    assert sorted(listed) == sorted(f'{c}.html' for c in range(count))
  links = [ref for _, ref in parse(site / 'index.html').refs]
  for layer in LAYERS:
    assert f'{layer}/index.html' in links
  assert not (site / 'conv3').exists()  # not requested


def test_index_shows_what_training_added_to_the_filters(run, site):
  """The first layer's filters less the initial ones train.py drew (a run
  trained at a tiny rate would end at them: tests/training), as a picture
  of the same grid as the filters'."""
  model = workdirs.load_run(run.workdir)
  start = models.init_params(jax.random.key(run.config.seed), model.spec,
                             run.config.crop_size,
                             weight_std=run.config.weight_std,
                             bias_value=run.config.bias_value)
  change = (np.asarray(model.params['conv1']['kernel'])
            - np.asarray(start['conv1']['kernel']))
  refs = parse(site / 'index.html').refs
  assert ('img', 'run/filters_change.png') in refs
  picture = matplotlib.image.imread(site / 'run' / 'filters_change.png')
  want = grids.filter_grid(change)
  assert picture.shape[:2] == want.shape[:2]
  np.testing.assert_allclose(picture[..., :3] * 255, want, atol=1)
  assert 'What training added' in (site / 'index.html').read_text()


def _brute_maxima(run, layer):
  """Every validation image's maximum of every map, from plain forward
  passes of the images one batch at a time."""
  model = workdirs.load_run(run.workdir)
  source = pipeline.DataSource(run.config)
  n = source.info.split_sizes['validation']
  images = source.load_examples('validation', np.arange(n)).images
  acts = np.asarray(models.features(model.params, images, model.spec, layer))
  return acts.max(axis=(1, 2))


def test_layer_page_rates_and_dead_units_are_brute_force(run, site):
  """The tiles' firing rates, peaks and dead marks against the maps'
  maxima over every validation image."""
  maxima = _brute_maxima(run, 'conv2')
  page = (site / 'conv2' / 'index.html').read_text()
  for c in range(maxima.shape[1]):
    start = page.index(f'href="{c}.html"')
    tile = page[page.rindex('<a ', 0, start):page.index('</a>', start)]
    rate = float(tile.split('data-rate="')[1].split('"')[0])
    peak = float(tile.split('data-peak="')[1].split('"')[0])
    # A maximum within float rounding of 0 may fall either side: one image.
    assert rate == pytest.approx((maxima[:, c] > 0).mean(),
                                 abs=1.01 / len(maxima))
    assert peak == pytest.approx(maxima[:, c].max(), rel=1e-5,
                                 abs=1e-5 * float(maxima.max()))
    assert ('tile dead' in tile) == (maxima[:, c].max() <= 0)


# The unit pages' pictures per backward rule: the --npz key, the file.
RULE_FILES = {'deconvnet': ('projections', 'deconv'),
              'gradient': ('projections_gradient', 'gradient'),
              'guided': ('projections_guided', 'guided')}


def test_unit_projections_are_those_of_scan_and_project_units(run, site):
  """The unit pages' 9 projections under each rule (saved with --npz)
  against a fresh topk.scan of the split and deconv.project_units(rule=)
  on a forward trace of those 9 images; the PNGs show those arrays."""
  model = workdirs.load_run(run.workdir)
  spec, size = model.spec, run.config.crop_size
  source = pipeline.DataSource(run.config)
  layer = 'conv2'
  saved = np.load(site / layer / 'units.npz')
  top = topk.scan(model.params, spec, source.eval_batches(
      'validation', batch_size=run.config.eval_batch_size), [layer],
                  9)[layer]
  np.testing.assert_array_equal(saved['index'], top.index)
  np.testing.assert_allclose(saved['value'], top.value, rtol=1e-5)
  filled = (top.index >= 0).sum(axis=1)
  for c in np.argsort(-filled, kind='stable')[:2]:
    k = int(filled[c])
    images = source.load_examples('validation', top.index[c, :k]).images
    _, trace = models.forward_trace(model.params, jnp.asarray(images), spec)
    for rule, (key, name) in RULE_FILES.items():
      full = np.asarray(deconv.project_units(
          model.params, trace, spec, layer, jnp.arange(k), jnp.full(k, c),
          jnp.asarray(top.y[c, :k]), jnp.asarray(top.x[c, :k]),
          image_size=size, rule=rule))
      for j in range(k):
        y0, x0, y1, x1 = specs.receptive_box(spec, layer, int(top.y[c, j]),
                                             int(top.x[c, j]), size)
        window = saved['windows'][c, j]
        cropped = saved[key][c, j]
        # The crop holds the whole projection, and equals it in the field.
        np.testing.assert_allclose(np.abs(cropped).sum(),
                                   np.abs(full[j]).sum(), rtol=1e-4)
        oy, ox = y0 - window[0], x0 - window[1]
        np.testing.assert_allclose(
            cropped[oy:oy + y1 - y0, ox:ox + x1 - x0], full[j, y0:y1, x0:x1],
            atol=1e-4 * np.abs(full[j]).max(), err_msg=rule)
      # The unit page's picture: a 3x3 grid, 1-pixel gaps, cell j of
      # row-major order the display of projection j.
      picture = np.round(matplotlib.image.imread(
          site / layer / 'img' / f'{c}-{name}.png')[..., :3] * 255)
      side = saved[key].shape[-2]
      shown = grids.normalize_for_display(saved[key][c])
      for j in range(k):
        r, q = divmod(j, 3)
        np.testing.assert_array_equal(
            picture[r * (side + 1):r * (side + 1) + side,
                    q * (side + 1):q * (side + 1) + side], shown[j])
  html = (site / layer / f'{int(np.argmax(filled))}.html').read_text()
  assert html.count('<td class="num">') == filled.max()
  for rule in ('gradient', 'guided'):
    assert f'img/0-{rule}.png' in (site / layer / '0.html').read_text()


def test_unit_pages_show_each_units_optimised_stimulus(run, site):
  """One stimulus per unit (--npz: all C of the layer, in the model's pixel
  range), shown on its unit page; it raises its unit above the mean
  image's value (a plain forward pass)."""
  model = workdirs.load_run(run.workdir)
  spec, size = model.spec, run.config.crop_size
  layer = 'conv2'
  saved = np.load(site / layer / 'units.npz')['stimulus']
  count = spec.layer(layer).features
  assert saved.shape == (count, size, size, 3)
  mean = model.preprocessing.mean_crop
  assert np.all(saved >= -mean - 1e-3) and np.all(saved <= 255 - mean + 1e-3)
  picture = matplotlib.image.imread(site / layer / 'img' / '5-stimulus.png')
  assert picture.shape[:2] == (size, size)
  assert 'img/5-stimulus.png' in (site / layer / '5.html').read_text()
  # Each unit's centre activation (a plain forward pass) on its stimulus
  # against on the mean image (input 0), where the ascent started near.
  acts = np.asarray(models.features(model.params, jnp.asarray(saved), spec,
                                    layer))
  h, w = acts.shape[1:3]
  reached = acts[np.arange(count), h // 2, w // 2, np.arange(count)]
  flat = np.asarray(models.features(
      model.params, jnp.zeros((1, size, size, 3)), spec, layer))[0,
                                                                 h // 2,
                                                                 w // 2]
  # 8 steps from a noisy start: most units climb well above it, some stay
  # below their ReLU (0 on both).
  assert reached.mean() > flat.mean() + 1 and np.mean(reached > flat) > 0.5


def test_maxima_and_histograms_from_the_one_scan(run, site):
  saved = np.load(site / 'conv5' / 'units.npz')
  maxima = _brute_maxima(run, 'conv5')
  # Other batch sizes, other float rounding: to 1e-5 of the layer's scale.
  np.testing.assert_allclose(saved['maxima'], maxima, rtol=1e-5,
                             atol=1e-5 * maxima.max())
  assert saved['maxima_index'].tolist() == list(range(len(maxima)))
  counts = saved['stats_counts']
  assert np.all(counts.sum(axis=1) == (saved['maxima'] > 0).sum(axis=0))


def test_class_names_and_file_names_are_shown_as_text(run, site):
  page = (site / 'images' / 'validation_0.html').read_text()
  assert '&lt;script&gt;alert(&#34;atlas&#34;)&lt;/script&gt; &amp; ' \
         '&lt;b&gt;co&lt;/b&gt;' in page
  for path in site.rglob('*.html'):
    links = parse(path)
    text = path.read_text()
    assert 'alert("atlas")' not in text and '<b>co' not in text, path
    # The only scripts are the site's own file.
    assert all(src and src.endswith('atlas.js') for src in links.scripts)
  # A unit page lists validation 0 among a unit's strongest images: its
  # class appears there as text as well.
  listing = [p for p in (site / 'conv1').glob('*.html')
             if '>validation 0</a>' in p.read_text()]
  assert listing and '&lt;script&gt;' in listing[0].read_text()


def test_epoch_and_files_with_odd_names(run, tmp_path, capsys):
  """--epoch 1 builds from that checkpoint; a file name with spaces, '#',
  '&' and '<' gets a page whose links resolve and whose name is text."""
  source = pipeline.DataSource(run.config)
  pixels = source.preprocessing.to_display(
      source.load_examples('validation', [3]).images)[0]
  odd = tmp_path / 'my <odd> #1 & co.png'
  matplotlib.image.imsave(odd, pixels)
  out = tmp_path / 'site'
  assert visualize.main(['--workdir', run.workdir, '--epoch', '1', 'atlas',
                         '--layers', 'conv1', '--files', str(odd),
                         '--out', str(out)]) == 0
  assert str(out / 'index.html') in capsys.readouterr().out
  assert_self_contained(out)
  manifest = (out / 'atlas.json').read_text()
  assert '"epoch": 1' in manifest and '"step": 16' in manifest
  page = out / 'images' / 'my <odd> #1 & co.html'
  assert '<h1>my &lt;odd&gt; #1 &amp; co</h1>' in page.read_text()
  index = parse(out / 'index.html').refs
  assert ('a', 'images/my%20%3Codd%3E%20%231%20%26%20co.html') in index


def snapshot(root):
  return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
          for p in root.rglob('*') if p.is_file()}


def test_killing_a_build_midway_leaves_the_previous_atlas(run, site,
                                                          tmp_path):
  before = snapshot(site)
  log = tmp_path / 'log'
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  with open(log, 'w') as f:
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, 'visualize.py'), '--workdir',
         run.workdir, 'atlas', '--layers', 'conv1', '--indices', ''],
        env=env, stdout=f, stderr=subprocess.STDOUT)
  staging = site.parent / f'.atlas.building-{proc.pid}'
  start = time.time()
  # Kill it once it has built part of the new site.
  while not (staging / 'conv1' / 'img').is_dir():
    assert proc.poll() is None, log.read_text()[-3000:]
    assert time.time() - start < 300, 'the build never started its pages'
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert snapshot(site) == before
  # The next build clears what the killed one left.
  fresh = site_lib.staging(site)
  assert not staging.exists()
  fresh.rmdir()


@pytest.mark.parametrize('argv,message', [
    (['--layers', 'conv9'], "has no layer 'conv9'"),
    (['--layers', 'pool1'], 'not a conv layer'),
    (['--limit', '0'], '--limit: must be at least 1'),
    (['--split', 'test'], "'test'"),
    (['--image_dir', 'EMPTY'], 'holds no .jpg'),
    (['--files', 'BROKEN'], 'cannot be decoded'),
    (['--out', 'OTHER'], 'holds no atlas'),
])
def test_bad_input_gives_one_line_and_writes_nothing(run, tmp_path, capsys,
                                                     argv, message):
  (tmp_path / 'empty').mkdir()
  (tmp_path / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0' + b'x' * 200)
  (tmp_path / 'other').mkdir()
  (tmp_path / 'other' / 'notes.txt').write_text('mine')
  names = {'EMPTY': tmp_path / 'empty', 'BROKEN': tmp_path / 'broken.jpg',
           'OTHER': tmp_path / 'other'}
  argv = [str(names.get(a, a)) for a in argv]
  out = tmp_path / 'out'
  if '--out' not in argv:
    argv += ['--out', str(out)]
  listing = sorted(tmp_path.rglob('*'))
  try:  # argparse's own refusals exit, the command's return
    status = visualize.main(['--workdir', run.workdir, 'atlas'] + argv)
  except SystemExit as e:
    status = e.code
  assert status == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith('error: ') and message in err
  assert len(err.splitlines()) == 1
  assert sorted(tmp_path.rglob('*')) == listing  # nothing written


def test_publish_swaps_whole_folders(tmp_path, monkeypatch):
  target = tmp_path / 'atlas'
  for exchange in (True, False):
    built = site_lib.staging(target)
    (built / site_lib.MANIFEST).write_text('{}')
    (built / 'page.html').write_text(str(exchange))
    if not exchange:
      monkeypatch.setattr(site_lib, '_exchange', lambda a, b: False)
    site_lib.check_target(target)
    site_lib.publish(built, target)
    assert (target / 'page.html').read_text() == str(exchange)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['atlas']


# ------------------------------------------------------------ the browser


def _browser(tmp_path):
  """Headless Chromium through chromedriver (Debian's packages), or a skip
  where they are missing (a failure under .ci/run, which installs them)."""
  required = bool(os.environ.get('ZFJAX_REQUIRE_BROWSER'))
  chromium, driver = shutil.which('chromium'), shutil.which('chromedriver')
  try:
    # pylint: disable-next=g-import-not-at-top
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
  except ImportError:
    webdriver = None
  if not (chromium and driver and webdriver):
    missing = 'chromium, chromium-driver and selenium'
    if required:
      pytest.fail(f'the browser test needs {missing}')
    pytest.skip(f'needs {missing} (.ci/run installs them)')
  options = webdriver.ChromeOptions()
  options.binary_location = chromium
  # Chromium's background connections fail on a closed network: off.
  for flag in ('--headless', '--no-sandbox', '--disable-gpu',
               '--disable-quic', '--no-first-run',
               '--disable-background-networking',
               '--disable-component-update', '--disable-sync',
               '--disable-dev-shm-usage', '--window-size=1280,1000',
               f'--user-data-dir={tmp_path / "profile"}'):
    options.add_argument(flag)
  options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
  return webdriver.Chrome(service=Service(driver), options=options)


def _check_page(browser, shots, name):
  """Every picture loaded, then a full-page screenshot."""
  broken = browser.execute_script(
      'return Array.from(document.images).filter('
      'i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)')
  assert broken == [], broken
  assert browser.execute_script('return document.images.length') > 0
  height = browser.execute_script(
      'return document.documentElement.scrollHeight')
  browser.set_window_size(1280, min(height + 120, 6000))
  browser.save_screenshot(str(shots / f'{name}.png'))
  browser.set_window_size(1280, 1000)


def test_pages_in_a_real_browser(run, site, tmp_path):
  """Index -> layer -> unit -> next -> previous -> layer -> index by
  clicking; every picture loads, the console stays clean, sorting orders
  the tiles, the evil class name is text. Screenshots of the four pages go
  to the test's folder (and to $ZFJAX_TEST_ARTIFACTS if set)."""
  # pylint: disable-next=g-import-not-at-top
  from selenium.webdriver.common.by import By
  browser = _browser(tmp_path)
  shots = tmp_path / 'screenshots'
  shots.mkdir()

  def click(css):
    browser.find_element(By.CSS_SELECTOR, css).click()
    return urllib.parse.urlsplit(browser.current_url).path

  try:
    browser.get((site / 'index.html').as_uri())
    _check_page(browser, shots, 'index')
    assert click('a.layer-link[href="conv2/index.html"]').endswith(
        '/atlas/conv2/index.html')
    tiles = browser.find_elements(By.CSS_SELECTOR, '#units a.tile')
    assert len(tiles) == 64
    browser.find_element(By.CSS_SELECTOR,
                         '#order option[value="rate"]').click()
    rates = [float(t.get_attribute('data-rate')) for t in
             browser.find_elements(By.CSS_SELECTOR, '#units a.tile')]
    assert rates == sorted(rates, reverse=True) and len(set(rates)) > 1
    browser.find_element(By.CSS_SELECTOR,
                         '#order option[value="unit"]').click()
    _check_page(browser, shots, 'layer')
    assert click('#units a[href="5.html"]').endswith('/atlas/conv2/5.html')
    _check_page(browser, shots, 'unit')
    assert click('#next').endswith('/atlas/conv2/6.html')
    assert click('#prev').endswith('/atlas/conv2/5.html')
    assert click('#layer').endswith('/atlas/conv2/index.html')
    assert click('#home').endswith('/atlas/index.html')
    browser.get((site / 'images' / 'validation_0.html').as_uri())
    _check_page(browser, shots, 'image')
    assert EVIL in browser.find_element(By.TAG_NAME, 'body').text
    assert browser.execute_script('return document.scripts.length') == 0
    errors = [e for e in browser.get_log('browser')
              if e['level'] in ('SEVERE', 'WARNING')]
    assert errors == []
  finally:
    browser.quit()
  for name in ('index', 'layer', 'unit', 'image'):
    assert (shots / f'{name}.png').stat().st_size > 10_000
  if os.environ.get('ZFJAX_TEST_ARTIFACTS'):
    shutil.copytree(shots, os.environ['ZFJAX_TEST_ARTIFACTS'],
                    dirs_exist_ok=True)
