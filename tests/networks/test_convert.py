"""torchvision's AlexNet converted to zfjax, against an independent numpy
forward pass in torchvision's layout (NCHW, OIHW, (out, in) Linear weights,
inputs normalised as (x / 255 - mean) / std), and against torchvision's own
`alexnet()` where torchvision imports."""

import math
import os

import jax
import numpy as np
import pytest

from zfjax.networks import convert, layers, models, specs
from zfjax.analyses import deconv
from zfjax.errors import ZfjaxError

from shared import random_state_dict
from zfjax.training import workdirs
from zfjax.commands import convert as convert_command

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


# ------------------------------------------------ the numpy reference (NCHW)


def np_conv(x, w, b, stride, pad):
  x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  k = w.shape[-1]
  win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
  win = win[:, :, ::stride, ::stride]  # (N, C, Ho, Wo, k, k)
  out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, O)
  return out.transpose(0, 3, 1, 2) + b[None, :, None, None]


def np_max_pool(x):  # 3x3, stride 2, no padding, floor
  win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))
  return win[:, :, ::2, ::2].max(axis=(4, 5))


def np_adaptive_avg_pool(x, out):
  """torch.nn.AdaptiveAvgPool2d written as its documented loop."""
  n, c, h, w = x.shape
  y = np.zeros((n, c, out, out))
  for i in range(out):
    for j in range(out):
      h0, h1 = math.floor(i * h / out), math.ceil((i + 1) * h / out)
      w0, w1 = math.floor(j * w / out), math.ceil((j + 1) * w / out)
      y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
  return y


def np_torchvision_alexnet(state, pixels):
  """Logits of torchvision's AlexNet in eval mode; pixels (N, H, W, 3) RGB
  in 0..255, normalised as torchvision's transforms do."""
  s = {k: np.asarray(v, np.float64) for k, v in state.items()}
  x = ((pixels / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2)
  relu = lambda a: np.maximum(a, 0)  # noqa: E731
  x = np_max_pool(relu(np_conv(x, s['features.0.weight'],
                               s['features.0.bias'], 4, 2)))
  x = np_max_pool(relu(np_conv(x, s['features.3.weight'],
                               s['features.3.bias'], 1, 2)))
  for i in (6, 8, 10):
    x = relu(np_conv(x, s[f'features.{i}.weight'], s[f'features.{i}.bias'],
                     1, 1))
  x = np_adaptive_avg_pool(np_max_pool(x), 6).reshape(len(x), -1)
  for i in (1, 4):
    x = relu(x @ s[f'classifier.{i}.weight'].T + s[f'classifier.{i}.bias'])
  return x @ s['classifier.6.weight'].T + s['classifier.6.bias']


@pytest.fixture(scope='module')
def state():
  return random_state_dict()


@pytest.fixture(scope='module')
def converted(state):
  return convert.torchvision_alexnet(state)


def pixel_images(n, size, seed=1):
  return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3))


# ------------------------------------------------------------------- tests


@pytest.mark.parametrize('h, w, out', [(7, 7, 6), (13, 13, 6), (6, 6, 6),
                                       (2, 3, 6), (10, 7, 4), (9, 12, 5)])
def test_adaptive_avg_pool_matches_loop(h, w, out):
  x = np.random.default_rng(0).standard_normal((2, h, w, 3)).astype(
      np.float32)
  got = np.asarray(layers.adaptive_avg_pool(x, out))
  # The loop works on NCHW and only pools square outputs per axis pair.
  want = np.zeros((2, 3, out, out))
  xt = x.transpose(0, 3, 1, 2)
  for i in range(out):
    for j in range(out):
      h0, h1 = math.floor(i * h / out), math.ceil((i + 1) * h / out)
      w0, w1 = math.floor(j * w / out), math.ceil((j + 1) * w / out)
      want[:, :, i, j] = xt[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
  np.testing.assert_allclose(got, want.transpose(0, 2, 3, 1), atol=1e-6)


def test_adaptive_avg_unpool_is_the_adjoint():
  x = np.random.default_rng(0).standard_normal((2, 7, 9, 3)).astype(
      np.float32)
  y = np.random.default_rng(1).standard_normal((2, 4, 4, 3)).astype(
      np.float32)
  _, vjp = jax.vjp(lambda a: layers.adaptive_avg_pool(a, 4), x)
  np.testing.assert_allclose(
      np.asarray(layers.adaptive_avg_unpool(y, input_hw=(7, 9))),
      np.asarray(vjp(y)[0]), atol=1e-6)


def test_spec_geometry():
  spec = specs.get_spec('alexnet_torchvision')
  shapes = specs.layer_shapes(spec)
  # torchvision's feature sizes at 224: 55, 27, 27, 13, 13, 13, 13, 6, 6.
  assert [shapes[n][:2] for n in ('conv1', 'pool1', 'conv2', 'pool2',
                                  'conv5', 'pool5', 'pool6')] == [
      (55, 55), (27, 27), (27, 27), (13, 13), (13, 13), (6, 6), (6, 6)]
  assert specs.layer_shapes(spec, 256)['pool5'] == (7, 7, 256)
  assert specs.layer_shapes(spec, 256)['pool6'] == (6, 6, 256)
  fields = specs.receptive_fields(spec)
  # pool5 units see 195 pixels with a jump of 32 (the known AlexNet figure);
  # 6 -> 6 averaging changes nothing; 7 -> 6 bins are irregular: no field.
  assert fields['pool5'] == specs.ReceptiveField(32, 195, -66)
  assert fields['pool6'] == fields['pool5']
  assert 'pool6' not in specs.receptive_fields(spec, 256)
  # 12 -> 6 (at 416 pixels) is a regular 2x2/2 average.
  assert specs.receptive_fields(spec, 416)['pool6'] == (64, 227, -66)


def test_converted_params_and_mean(converted, state):
  assert converted.spec.name == 'alexnet_torchvision'
  want = jax.eval_shape(lambda key: models.init_params(key, converted.spec),
                        jax.random.PRNGKey(0))
  assert jax.tree.map(np.shape, converted.params) == jax.tree.map(
      np.shape, want)
  np.testing.assert_allclose(converted.mean, 255 * MEAN, rtol=1e-6)
  # One fc6 entry by hand: torchvision's input index c * 36 + h * 6 + w is
  # zfjax's h * 6 * 256 + w * 256 + c.
  c, h, w = 17, 4, 2
  np.testing.assert_equal(
      converted.params['fc6']['kernel'][h * 1536 + w * 256 + c, 5],
      state['classifier.1.weight'][5, c * 36 + h * 6 + w])


@pytest.mark.parametrize('size', [224, 256])
def test_logits_match_numpy_reference(converted, state, size):
  # 256 pixels: pool5 gives 7x7 maps, which the adaptive pooling averages
  # in overlapping bins.
  pixels = pixel_images(2 if size == 224 else 1, size)
  want = np_torchvision_alexnet(state, pixels)
  got = np.asarray(models.apply(
      converted.params, (pixels - converted.mean).astype(np.float32),
      converted.spec))
  scale = np.abs(want).max()
  assert scale > 1.0  # a signal that reached the logits
  err = np.abs(got - want).max() / scale
  print(f'{size} px: largest |zfjax - numpy| = {err:.2e} of max |logit|')
  assert err < 2e-5
  assert (got.argmax(-1) == want.argmax(-1)).all()


def test_matches_torchvision_alexnet(converted, state):
  torch = pytest.importorskip('torch')
  tv_models = pytest.importorskip('torchvision.models')
  net = tv_models.alexnet(weights=None).eval()
  net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
  pixels = pixel_images(2, 224)
  x = (pixels / 255.0 - MEAN) / STD
  with torch.no_grad():
    want = net(torch.from_numpy(x.transpose(0, 3, 1, 2)).float()).numpy()
  got = np.asarray(models.apply(
      converted.params, (pixels - converted.mean).astype(np.float32),
      converted.spec))
  err = np.abs(got - want).max() / np.abs(want).max()
  print(f'largest |zfjax - torchvision| = {err:.2e} of max |logit|')
  assert err < 2e-5


def test_accepts_torch_tensors(state, converted):
  torch = pytest.importorskip('torch')
  again = convert.torchvision_alexnet(
      {k: torch.from_numpy(v) for k, v in state.items()})
  for layer in converted.params:
    np.testing.assert_array_equal(again.params[layer]['kernel'],
                                  converted.params[layer]['kernel'])


def test_bad_state_dicts_name_the_key(state):
  missing = dict(state)
  del missing['features.8.bias']
  with pytest.raises(ZfjaxError, match=r'missing features\.8\.bias'):
    convert.torchvision_alexnet(missing)
  extra = {**state, 'features.13.weight': np.zeros(3)}
  with pytest.raises(ZfjaxError, match=r'unexpected features\.13\.weight'):
    convert.torchvision_alexnet(extra)
  prefixed = {'module.' + k: v for k, v in state.items()}
  with pytest.raises(ZfjaxError, match=r'missing features\.0\.weight.*'
                     r'unexpected module\.features\.0\.weight'):
    convert.torchvision_alexnet(prefixed)
  wrong = {**state, 'classifier.4.weight': np.zeros((4096, 9216),
                                                     np.float32)}
  with pytest.raises(ZfjaxError,
                     match=r'classifier\.4\.weight has shape \(4096, 9216\)'):
    convert.torchvision_alexnet(wrong)


def test_pth_errors(tmp_path, state, capsys):
  assert convert_command.main([str(tmp_path / 'nothing.pth'),
                       str(tmp_path / 'out')]) == 2
  assert 'does not exist' in capsys.readouterr().err
  torch = pytest.importorskip('torch')
  bad = {k: torch.from_numpy(v) for k, v in state.items()
         if k != 'classifier.6.bias'}
  torch.save(bad, tmp_path / 'bad.pth')
  assert convert_command.main([str(tmp_path / 'bad.pth'), str(tmp_path / 'out')]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and 'missing classifier.6.bias' in err
  assert len(err.strip().splitlines()) == 1
  assert not os.path.exists(tmp_path / 'out')


def test_pth_without_torch_says_what_to_install(tmp_path, monkeypatch):
  path = tmp_path / 'alexnet.pth'
  path.write_bytes(b'not read')
  monkeypatch.setitem(__import__('sys').modules, 'torch', None)
  with pytest.raises(ZfjaxError, match='needs PyTorch: pip install torch'):
    convert.read_pth(str(path))


def test_workdir_loads_like_a_trained_run(tmp_path, converted):
  workdir = tmp_path / 'alexnet'
  convert_command.write_workdir(converted, str(workdir))
  model = workdirs.load_run(str(workdir))
  assert model.spec == converted.spec
  assert model.config.mean_rgb == pytest.approx(list(255 * MEAN))
  for layer in converted.params:
    np.testing.assert_array_equal(np.asarray(model.params[layer]['kernel']),
                                  converted.params[layer]['kernel'])
  with pytest.raises(ZfjaxError, match='not an empty directory'):
    convert_command.write_workdir(converted, str(workdir))


def test_deconvnet_through_adaptive_pooling_is_the_adjoint():
  # Below a conv layer, with no ReLU and no max-pooling, the deconvnet is the
  # exact transpose of the (bias-free) forward map: jax.vjp's.
  spec = specs.Spec('adaptive_between_convs', (
      specs.Conv('conv1', 4, 3, stride=1, padding=1, relu=False),
      specs.AdaptiveAvgPool('pool', 5),
      specs.Conv('conv2', 6, 3, stride=1, padding=1, relu=False),
      specs.Dense('fc', 3, relu=False)), 13)
  rng = np.random.default_rng(2)
  params = jax.tree.map(
      lambda a: rng.standard_normal(a.shape).astype(np.float32) * 0.3,
      jax.eval_shape(lambda k: models.init_params(k, spec),
                     jax.random.PRNGKey(0)))
  images = np.random.default_rng(0).standard_normal((2, 13, 13, 3)).astype(
      np.float32)
  seed = np.random.default_rng(1).standard_normal((2, 5, 5, 6)).astype(
      np.float32)
  conv2 = lambda x: models.features(params, x, spec, 'conv2')  # noqa: E731
  want = jax.jit(lambda s: jax.vjp(conv2, images)[1](s)[0])(seed)
  got = jax.jit(lambda s: deconv.backproject(params, {}, spec, 'conv2', s,
                                             13))(seed)
  np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
  # 13 -> 5 bins are irregular: conv2 has no receptive field, conv1 has.
  assert set(specs.receptive_fields(spec)) == {'conv1'}
