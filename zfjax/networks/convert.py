r"""torchvision's pretrained AlexNet as a zfjax model.

  python -m zfjax convert alexnet-owt-7be5be79.pth OUTDIR

writes OUTDIR as a workdir (`training.workdirs.create`) that `visualize.py
--workdir OUTDIR` and `workdirs.load_run(OUTDIR)` read like a training
run's: spec `alexnet_torchvision`, ImageNet's 1000 classes and their names,
256-pixel squares centre-cropped to 224, torchvision's mean as the mean
image, and one checkpoint (step 0, epoch 0) holding the params.

The conversion is exact. torchvision feeds its AlexNet
(x / 255 - mean) / std per channel, for x in 0..255; every zfjax model takes
x - mean image. So the mean image is 255 * mean (a constant per channel), and
conv1's weights of input channel c are divided by 255 * std[c]: conv1 then
computes on x - 255 * mean exactly what torchvision's conv1 computes on its
normalised input (zero padding stays zero on both sides). Kernels go from
PyTorch's OIHW to HWIO, Linear weights from (out, in) to (in, out), and fc6's
rows from PyTorch's flattening of (C, 6, 6) maps (NCHW) to zfjax's of
(6, 6, C) (NHWC).

Reading a .pth file needs PyTorch (imported only there); the conversion
itself takes any mapping of names to arrays.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, NamedTuple

import jax
import numpy as np

from zfjax.networks import models
from zfjax.networks import specs
from zfjax.errors import ZfjaxError

# torchvision.transforms.Normalize of its ImageNet models, for x / 255.
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)
SPEC_NAME = 'alexnet_torchvision'
# torchvision's module of each zfjax layer (features.N, classifier.N).
TORCHVISION_NAMES = {
    'conv1': 'features.0', 'conv2': 'features.3', 'conv3': 'features.6',
    'conv4': 'features.8', 'conv5': 'features.10', 'fc6': 'classifier.1',
    'fc7': 'classifier.4', 'fc8': 'classifier.6',
}


class Converted(NamedTuple):
  """A converted model: its spec, its params (the zfjax tree, float32) and
  the mean (3,) float32 in 0..255 pixel units to subtract from RGB pixel
  images (N, H, W, 3) before `models.apply`."""
  spec: specs.Spec
  params: models.Params
  mean: np.ndarray


def torchvision_shapes(spec: specs.Spec) -> dict[str, tuple[int, ...]]:
  """The state-dict shape of every tensor of torchvision's AlexNet."""
  abstract = jax.eval_shape(
      lambda key: models.init_params(key, spec), jax.random.PRNGKey(0))
  shapes = {}
  for layer, prefix in TORCHVISION_NAMES.items():
    kernel = abstract[layer]['kernel'].shape
    # HWIO -> OIHW; (in, out) -> (out, in).
    shapes[f'{prefix}.weight'] = (
        (kernel[3], kernel[2], kernel[0], kernel[1]) if len(kernel) == 4
        else (kernel[1], kernel[0]))
    shapes[f'{prefix}.bias'] = abstract[layer]['bias'].shape
  return shapes


def _as_numpy(value: Any) -> np.ndarray:
  if hasattr(value, 'detach'):  # a torch tensor, without importing torch
    value = value.detach().cpu().float().numpy()
  return np.asarray(value, np.float64)


def torchvision_alexnet(state_dict: Mapping[str, Any]) -> Converted:
  """Converts the state dict of torchvision's `alexnet()` (names to numpy
  arrays or torch tensors) into zfjax's `alexnet_torchvision`.

  Raises ZfjaxError naming any missing or unexpected key and any tensor of
  the wrong shape.
  """
  spec = specs.get_spec(SPEC_NAME, 1000)
  expect = torchvision_shapes(spec)
  missing = [k for k in expect if k not in state_dict]
  unexpected = [k for k in state_dict if k not in expect]
  if missing or unexpected:
    parts = ([f'missing {", ".join(missing)}'] if missing else []) + (
        [f'unexpected {", ".join(unexpected)}'] if unexpected else [])
    raise ZfjaxError(
        f'not the state dict of torchvision\'s alexnet(): {"; ".join(parts)}')
  arrays = {k: _as_numpy(v) for k, v in state_dict.items()}
  for key, shape in expect.items():
    if arrays[key].shape != shape:
      raise ZfjaxError(f'{key} has shape {arrays[key].shape}; torchvision\'s '
                       f'alexnet() has {shape}')
  std = 255.0 * np.asarray(TORCHVISION_STD)
  params = {}
  for layer, prefix in TORCHVISION_NAMES.items():
    weight = arrays[f'{prefix}.weight']
    if weight.ndim == 4:
      kernel = weight.transpose(2, 3, 1, 0)  # OIHW -> HWIO
      if layer == 'conv1':
        kernel = kernel / std[None, None, :, None]
    elif layer == 'fc6':
      # Rows c * 36 + h * 6 + w (NCHW flattening) -> h * 6 * C + w * C + c.
      size = spec.layer('pool6').output_size
      out, inputs = weight.shape
      kernel = weight.reshape(out, inputs // size ** 2, size, size).transpose(
          2, 3, 1, 0).reshape(inputs, out)
    else:
      kernel = weight.T
    params[layer] = {'kernel': np.ascontiguousarray(kernel, np.float32),
                     'bias': arrays[f'{prefix}.bias'].astype(np.float32)}
  mean = (255.0 * np.asarray(TORCHVISION_MEAN)).astype(np.float32)
  return Converted(spec, params, mean)


def read_pth(path: str) -> dict[str, np.ndarray]:
  """The state dict in a PyTorch .pth file, as numpy arrays."""
  if not os.path.isfile(path):
    raise ZfjaxError(f'{path} does not exist; download torchvision\'s '
                     f'AlexNet weights (alexnet-owt-7be5be79.pth) first')
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ZfjaxError('reading a .pth file needs PyTorch: pip install torch '
                     '(the CPU build is enough)') from None
  try:
    loaded = torch.load(path, map_location='cpu', weights_only=True)
  except Exception as e:  # pylint: disable=broad-exception-caught
    # torch raises many types (pickle, zip, runtime) for a damaged file.
    raise ZfjaxError(f'{path} is not a readable PyTorch file '
                     f'({type(e).__name__}: {str(e).splitlines()[0]})'
                     ) from None
  if isinstance(loaded, Mapping) and isinstance(loaded.get('state_dict'),
                                                Mapping):
    loaded = loaded['state_dict']  # a training checkpoint around it
  if not isinstance(loaded, Mapping):
    raise ZfjaxError(f'{path} holds a {type(loaded).__name__}, not a state '
                     f'dict')
  return {k: _as_numpy(v) for k, v in loaded.items()}
