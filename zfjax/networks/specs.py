"""Layer tables: one declarative spec per architecture.

A `Spec` is an ordered tuple of layer records. Everything that depends on the
architecture -- the forward pass, the deconvnet, receptive fields, parameter
shapes, the Table 3 ablations -- is derived from this table, so a new variant
is a new table (or a transformation of one), never new code.

Layer records:
  Conv(name, features, kernel, stride, padding, groups, relu, bias_init)
      square kernel, symmetric zero padding in pixels; ReLU fused after it.
  MaxPool(name, window, stride, padding=(before, after))
      padded cells never win the max (they are -inf).
  LRN(name, size, k, alpha, beta)
      local response normalisation across maps (Krizhevsky et al. §3.3).
  Dense(name, features, relu, dropout, bias_init)
      the first Dense reads the NHWC-flattened output of the layer before it.
  AdaptiveAvgPool(name, output_size, dropout)
      average pooling to a fixed (output_size, output_size) map whatever the
      input size, with PyTorch's bins (see `adaptive_bins`); inverted dropout
      on its output when training, as a Dense layer's.

The last Dense layer has `num_classes` outputs and no ReLU (its outputs are
the logits).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple, Union

from zfjax.errors import ZfjaxError


@dataclasses.dataclass(frozen=True)
class Conv:
  name: str
  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  groups: int = 1
  relu: bool = True
  bias_init: float = 0.0


@dataclasses.dataclass(frozen=True)
class MaxPool:
  name: str
  window: int = 3
  stride: int = 2
  padding: tuple[int, int] = (0, 0)


@dataclasses.dataclass(frozen=True)
class LRN:
  name: str
  size: int = 5
  k: float = 2.0
  alpha: float = 1e-4
  beta: float = 0.75


@dataclasses.dataclass(frozen=True)
class Dense:
  name: str
  features: int
  relu: bool = True
  dropout: float = 0.0
  bias_init: float = 0.0


@dataclasses.dataclass(frozen=True)
class AdaptiveAvgPool:
  name: str
  output_size: int = 6
  dropout: float = 0.0


Layer = Union[Conv, MaxPool, LRN, Dense, AdaptiveAvgPool]


@dataclasses.dataclass(frozen=True)
class Spec:
  """An architecture: its name, layer table and native input size (pixels).

  takes_features: the table is the top of a network (see `split_at`), fed
  the activations of the layers below it rather than images.
  """
  name: str
  layers: tuple[Layer, ...]
  image_size: int
  takes_features: bool = False

  def layer(self, name: str) -> Layer:
    for layer in self.layers:
      if layer.name == name:
        return layer
    raise ZfjaxError(
        f"unknown layer '{name}' for spec '{self.name}'; choose one of "
        f"{', '.join(l.name for l in self.layers)}")

  @property
  def conv_names(self) -> tuple[str, ...]:
    return tuple(l.name for l in self.layers if isinstance(l, Conv))

  @property
  def dense_names(self) -> tuple[str, ...]:
    return tuple(l.name for l in self.layers if isinstance(l, Dense))

  @property
  def num_classes(self) -> int:
    return self.layers[-1].features


def split_at(spec: Spec, layer: str) -> tuple[Spec, Spec]:
  """(bottom, top): the layers below `layer`, and `layer` with those above.

  The bottom maps images to what `layer` reads; the top (`takes_features`)
  maps that to the logits. Transfer learning trains the top on the cached
  outputs of a frozen bottom (ZF §5.2).
  """
  names = [l.name for l in spec.layers]
  spec.layer(layer)  # a clear error for an unknown name
  k = names.index(layer)
  return (Spec(f'{spec.name}[:{layer}]', spec.layers[:k], spec.image_size),
          Spec(f'{spec.name}[{layer}:]', spec.layers[k:], spec.image_size,
               takes_features=True))


# ---------------------------------------------------------------- geometry


def _conv_out(size: int, kernel: int, stride: int, before: int,
              after: int) -> int:
  return (size + before + after - kernel) // stride + 1


def adaptive_bins(size: int, output_size: int) -> tuple[tuple[int, int], ...]:
  """PyTorch's adaptive pooling bins along one axis: output cell i averages
  input cells [floor(i * size / output_size), ceil((i + 1) * size /
  output_size)). Bins may overlap (size not a multiple of output_size) or
  repeat a cell (size < output_size)."""
  return tuple((i * size // output_size, -(-(i + 1) * size // output_size))
               for i in range(output_size))


def layer_shapes(spec: Spec,
                 image_size: int | None = None) -> dict[str, tuple[int, ...]]:
  """Output shape (without batch) of every layer: (H, W, C) or (features,)."""
  size = spec.image_size if image_size is None else image_size
  shape: tuple[int, ...] = (size, size, 3)
  shapes = {}
  for layer in spec.layers:
    if isinstance(layer, Conv):
      h = _conv_out(shape[0], layer.kernel, layer.stride, layer.padding,
                    layer.padding)
      w = _conv_out(shape[1], layer.kernel, layer.stride, layer.padding,
                    layer.padding)
      if len(shape) != 3 or h < 1 or w < 1:
        raise ZfjaxError(f"spec '{spec.name}': input of {size} pixels is too "
                         f"small for layer {layer.name}")
      shape = (h, w, layer.features)
    elif isinstance(layer, MaxPool):
      lo, hi = layer.padding
      h = _conv_out(shape[0], layer.window, layer.stride, lo, hi)
      w = _conv_out(shape[1], layer.window, layer.stride, lo, hi)
      if h < 1 or w < 1:
        raise ZfjaxError(f"spec '{spec.name}': input of {size} pixels is too "
                         f"small for layer {layer.name}")
      shape = (h, w, shape[2])
    elif isinstance(layer, AdaptiveAvgPool):
      if len(shape) != 3:
        raise ZfjaxError(f"spec '{spec.name}': {layer.name} needs a spatial "
                         f'input')
      shape = (layer.output_size, layer.output_size, shape[2])
    elif isinstance(layer, Dense):
      shape = (layer.features,)
    shapes[layer.name] = shape
  return shapes


def input_shapes(spec: Spec,
                 image_size: int | None = None) -> dict[str, tuple[int, ...]]:
  """Input shape (without batch) of every layer, before any flattening."""
  size = spec.image_size if image_size is None else image_size
  out = layer_shapes(spec, size)
  shapes = {}
  prev: tuple[int, ...] = (size, size, 3)
  for layer in spec.layers:
    shapes[layer.name] = prev
    prev = out[layer.name]
  return shapes


class ReceptiveField(NamedTuple):
  """Input-pixel geometry of the units of one layer along one axis.

  Unit i of the layer sees input pixels [start + i * jump, start + i * jump +
  size), before clipping to the image; start may be negative (padding).
  """
  jump: int
  size: int
  start: int


def receptive_fields(spec: Spec, image_size: int | None = None
                     ) -> dict[str, ReceptiveField]:
  """Receptive field of every spatial layer (Conv, MaxPool, LRN, and
  AdaptiveAvgPool where its bins are regular).

  An AdaptiveAvgPool's bins depend on its input size (at `image_size` pixels,
  default the spec's): where that size is a multiple of the output size they
  are a pooling of window = stride = size // output_size; otherwise bins of
  unequal sizes and spacing have no (jump, size, start) form, and that layer
  and the ones above it get no entry.
  """
  rf = ReceptiveField(jump=1, size=1, start=0)
  fields = {}
  in_shapes = None
  for layer in spec.layers:
    if isinstance(layer, Conv):
      rf = ReceptiveField(rf.jump * layer.stride,
                          rf.size + (layer.kernel - 1) * rf.jump,
                          rf.start - layer.padding * rf.jump)
    elif isinstance(layer, MaxPool):
      rf = ReceptiveField(rf.jump * layer.stride,
                          rf.size + (layer.window - 1) * rf.jump,
                          rf.start - layer.padding[0] * rf.jump)
    elif isinstance(layer, AdaptiveAvgPool):
      in_shapes = in_shapes or input_shapes(spec, image_size)
      size = in_shapes[layer.name][0]
      if size % layer.output_size:
        break
      window = size // layer.output_size
      rf = ReceptiveField(rf.jump * window, rf.size + (window - 1) * rf.jump,
                          rf.start)
    elif isinstance(layer, Dense):
      break
    fields[layer.name] = rf
  return fields


def receptive_box(spec: Spec, layer: str, y: int, x: int,
                  image_size: int | None = None) -> tuple[int, int, int, int]:
  """Pixel box (y0, x0, y1, x1), end exclusive, seen by unit (y, x) of `layer`.

  Clipped to the image; everything a projection of that unit can touch lies
  inside it.
  """
  size = spec.image_size if image_size is None else image_size
  fields = receptive_fields(spec, size)
  if layer not in fields:
    spec.layer(layer)  # raises for unknown names
    raise ZfjaxError(f"layer '{layer}' of spec '{spec.name}' is not spatial")
  rf = fields[layer]
  y0, x0 = rf.start + y * rf.jump, rf.start + x * rf.jump
  return (max(y0, 0), max(x0, 0), min(y0 + rf.size, size),
          min(x0 + rf.size, size))


# ----------------------------------------------------------- transformations


def remove_layers(spec: Spec, names: tuple[str, ...], new_name: str) -> Spec:
  """The spec without the named layers (a Table 3 'removed layers' variant)."""
  for name in names:
    spec.layer(name)
  return Spec(new_name, tuple(l for l in spec.layers if l.name not in names),
              spec.image_size)


def resize_layers(spec: Spec, features: dict[str, int], new_name: str) -> Spec:
  """The spec with other widths for the named Conv/Dense layers."""
  for name in features:
    spec.layer(name)
  return Spec(new_name,
              tuple(dataclasses.replace(l, features=features[l.name])
                    if l.name in features else l for l in spec.layers),
              spec.image_size)


def regroup_layers(spec: Spec, groups: dict[str, int], new_name: str) -> Spec:
  """The spec with grouped convolutions (AlexNet's two-GPU split)."""
  for name in groups:
    spec.layer(name)
  return Spec(new_name,
              tuple(dataclasses.replace(l, groups=groups[l.name])
                    if l.name in groups else l for l in spec.layers),
              spec.image_size)


# ------------------------------------------------------------- named specs


def _classifier(num_classes: int, width: int, bias: float) -> tuple[Layer, ...]:
  return (Dense('fc6', width, dropout=0.5, bias_init=bias),
          Dense('fc7', width, dropout=0.5, bias_init=bias),
          Dense('fc8', num_classes, relu=False))


def zfnet(num_classes: int = 1000) -> Spec:
  """ZF Fig. 3: 224 -> conv1 110 -> 55 -> conv2 26 -> 13 -> 13 -> 6 -> 9216.

  The paper gives no paddings; these reproduce its sizes exactly: conv1 pad 1
  ((224 + 2 - 7) // 2 + 1 = 110), conv2 pad 0 ((55 - 5) // 2 + 1 = 26), the
  first two pools pad one cell after (Caffe's ceil rounding: 110 -> 55,
  26 -> 13), pool5 unpadded (13 -> 6). Biases start at 0 (ZF §3).
  """
  return Spec('zfnet', (
      Conv('conv1', 96, 7, stride=2, padding=1),
      MaxPool('pool1', 3, 2, (0, 1)),
      LRN('norm1'),
      Conv('conv2', 256, 5, stride=2, padding=0),
      MaxPool('pool2', 3, 2, (0, 1)),
      LRN('norm2'),
      Conv('conv3', 384, 3, padding=1),
      Conv('conv4', 384, 3, padding=1),
      Conv('conv5', 256, 3, padding=1),
      MaxPool('pool5', 3, 2, (0, 0)),
  ) + _classifier(num_classes, 4096, 0.0), 224)


def alexnet(num_classes: int = 1000) -> Spec:
  """Krizhevsky et al. with dense connections, as ZF replicated it.

  At 224 pixels conv1 pads 2 so that it gives 55x55 ((224 + 4 - 11) // 4 + 1),
  the size the original reached with 227-pixel inputs. LRN comes before the
  pool (Krizhevsky §3.5). Biases 1 in conv2, conv4, conv5, fc6, fc7.
  """
  return Spec('alexnet', (
      Conv('conv1', 96, 11, stride=4, padding=2),
      LRN('norm1'),
      MaxPool('pool1', 3, 2),
      Conv('conv2', 256, 5, padding=2, bias_init=1.0),
      LRN('norm2'),
      MaxPool('pool2', 3, 2),
      Conv('conv3', 384, 3, padding=1),
      Conv('conv4', 384, 3, padding=1, bias_init=1.0),
      Conv('conv5', 256, 3, padding=1, bias_init=1.0),
      MaxPool('pool5', 3, 2),
  ) + _classifier(num_classes, 4096, 1.0), 224)


def zfnet_small(num_classes: int = 10) -> Spec:
  """A narrow ZFNet for 64x64 images: the same layer kinds in the same order.

  conv1 7x7/2 (64 -> 32) -> pool (16) -> LRN -> conv2 5x5/1 (16) -> pool (8)
  -> LRN -> conv3..5 3x3 (8) -> pool (4) -> fc 256 -> fc 256 -> fc C. conv2
  keeps stride 1 because at this size a second stride would leave 4x4 maps.
  Used by the built-in CPU default and by the tests.
  """
  return Spec('zfnet_small', (
      Conv('conv1', 32, 7, stride=2, padding=3),
      MaxPool('pool1', 3, 2, (0, 1)),
      LRN('norm1'),
      Conv('conv2', 64, 5, padding=2),
      MaxPool('pool2', 3, 2, (0, 1)),
      LRN('norm2'),
      Conv('conv3', 96, 3, padding=1),
      Conv('conv4', 96, 3, padding=1),
      Conv('conv5', 64, 3, padding=1),
      MaxPool('pool5', 3, 2, (0, 1)),
  ) + _classifier(num_classes, 256, 0.0), 64)


def zfnet_small_11x11s4(num_classes: int = 10) -> Spec:
  """`zfnet_small` with an AlexNet-style first layer, for ZF Fig. 6's
  comparison: conv1 11x11 stride 4 (pad 5) instead of 7x7 stride 2, and
  pool1 at stride 1 (pad 1), so that conv2 and everything above it see maps
  of the same size as in `zfnet_small` (14x14 at 56 pixels): the two differ
  in the first layer's filter size and stride alone, as AlexNet and ZFNet
  do (Krizhevsky's conv2 at stride 1 and ZF's at stride 2 both reach 13x13).
  """
  small = zfnet_small(num_classes)
  first = (Conv('conv1', 32, 11, stride=4, padding=5),
           MaxPool('pool1', 3, 1, (1, 1)))
  return Spec('zfnet_small_11x11s4', first + small.layers[2:],
              small.image_size)


def alexnet_torchvision(num_classes: int = 1000) -> Spec:
  """torchvision's `alexnet()` (the 'one weird trick' variant of AlexNet,
  whose weights are alexnet-owt-7be5be79.pth): 64/192/384/256/256 maps, no
  LRN, max-pools 3x3/2, adaptive average pooling to 6x6 (an identity at 224
  pixels, where pool5 gives 6x6 already), dropout 0.5 before fc6 and fc7.
  Biases 0, as torchvision initialises them. See `networks.convert`.
  """
  return Spec('alexnet_torchvision', (
      Conv('conv1', 64, 11, stride=4, padding=2),
      MaxPool('pool1', 3, 2),
      Conv('conv2', 192, 5, padding=2),
      MaxPool('pool2', 3, 2),
      Conv('conv3', 384, 3, padding=1),
      Conv('conv4', 256, 3, padding=1),
      Conv('conv5', 256, 3, padding=1),
      MaxPool('pool5', 3, 2),
      AdaptiveAvgPool('pool6', 6, dropout=0.5),
      Dense('fc6', 4096, dropout=0.5),
      Dense('fc7', 4096),
      Dense('fc8', num_classes, relu=False),
  ), 224)


def _variant(base: Callable[[int], Spec], name: str, *,
             remove: tuple[str, ...] = (),
             resize: dict[str, int] | None = None,
             groups: dict[str, int] | None = None) -> Callable[[int], Spec]:
  def build(num_classes: int = 1000) -> Spec:
    spec = base(num_classes)
    if remove:
      spec = remove_layers(spec, remove, name)
    if resize:
      spec = resize_layers(spec, resize, name)
    if groups:
      spec = regroup_layers(spec, groups, name)
    return Spec(name, spec.layers, spec.image_size)
  return build


_FC = lambda n: {'fc6': n, 'fc7': n}  # noqa: E731
_WIDE_CONV = {'conv3': 512, 'conv4': 1024, 'conv5': 512}

# Table 3 of ZF, one line each.
SPECS: dict[str, Callable[[int], Spec]] = {
    'zfnet': zfnet,
    'alexnet': alexnet,
    'zfnet_small': zfnet_small,
    'zfnet_small_11x11s4': zfnet_small_11x11s4,
    'alexnet_torchvision': alexnet_torchvision,
    'alexnet_grouped': _variant(alexnet, 'alexnet_grouped',
                                groups={'conv2': 2, 'conv4': 2, 'conv5': 2}),
    'alexnet_remove34': _variant(alexnet, 'alexnet_remove34',
                                 remove=('conv3', 'conv4')),
    'alexnet_remove7': _variant(alexnet, 'alexnet_remove7', remove=('fc7',)),
    'alexnet_remove67': _variant(alexnet, 'alexnet_remove67',
                                 remove=('fc6', 'fc7')),
    'alexnet_remove3467': _variant(alexnet, 'alexnet_remove3467',
                                   remove=('conv3', 'conv4', 'fc6', 'fc7')),
    'alexnet_fc2048': _variant(alexnet, 'alexnet_fc2048', resize=_FC(2048)),
    'alexnet_fc8192': _variant(alexnet, 'alexnet_fc8192', resize=_FC(8192)),
    'zfnet_fc2048': _variant(zfnet, 'zfnet_fc2048', resize=_FC(2048)),
    'zfnet_fc8192': _variant(zfnet, 'zfnet_fc8192', resize=_FC(8192)),
    'zfnet_conv512_1024_512': _variant(zfnet, 'zfnet_conv512_1024_512',
                                       resize=_WIDE_CONV),
    'zfnet_conv512_1024_512_fc8192': _variant(
        zfnet, 'zfnet_conv512_1024_512_fc8192',
        resize={**_WIDE_CONV, **_FC(8192)}),
}


def get_spec(name: str, num_classes: int = 1000) -> Spec:
  """The named architecture with a `num_classes`-way classifier."""
  if name not in SPECS:
    raise ZfjaxError(f"unknown spec '{name}'; choose one of "
                     f"{', '.join(sorted(SPECS))}")
  if num_classes < 1:
    raise ZfjaxError(f'num_classes must be positive, got {num_classes}')
  return SPECS[name](num_classes)
