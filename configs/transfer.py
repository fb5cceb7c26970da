r"""Transfer (ZF §5.2): a new softmax on a frozen trained net, or the same
architecture from scratch, on Caltech-101, Caltech-256, PASCAL VOC 2012 or
the built-in set's novel classes. One config per (data set, images per
class, pretrained or scratch):

  python train.py --config configs/transfer.py:shapes_novel_5 \
      --workdir workdir/novel_5 --config.transfer.from_workdir=workdir/synthetic
  python train.py --config configs/transfer.py:shapes_novel_5_scratch \
      --workdir workdir/novel_5_scratch
  python train.py --config configs/transfer.py:caltech101_30 \
      --workdir workdir/c101_30 --config.transfer.from_workdir=workdir/zfnet \
      --config.transfer.split_index=2             # the third random split
  python train.py --config configs/transfer.py:caltech256_60_scratch ...
  python train.py --config configs/transfer.py:voc2012 ...

Variants: `{shapes_novel,caltech101,caltech256}_N` with N training images
per class (any N; the paper's 15/30 and 15/30/45/60, Fig. 9's 1-60), a
`_scratch` suffix for the same architecture trained from random weights on
the same images, and `voc2012` (pretrained only: train on train, test on
validation).
`python -m zfjax.transfer_protocols` runs the paper's protocols (every
split and N, pretrained and scratch) and prints their tables.

Pretrained runs keep layers 1-7 fixed (`transfer.train_from='fc8'`): the
frozen layers' outputs are computed once per image and cached in
`<from_workdir>/feature_cache/`, so the softmax trains in seconds. Scratch
runs cache the preprocessed images (centre crop and mirror) instead.

Built-in analogue (shapes_novel_*): 10 object classes that zfjax_shapes
does not have (`zfjax.shapes.NOVEL_CLASS_NAMES`), made of the same kinds of
parts, 64x64 images, a pool of 100 + 50 images per class; the source run is
`configs/synthetic.py`'s. On a shared 2-core CPU (2026-11-25) a pretrained
run takes 30-60 s once the features are cached (about 30 s, once), and
reaches 72 +- 4 % mean per-class accuracy at 5 images per class (chance
10 %); more numbers in the README, section "Transfer".
"""

import ml_collections

from configs import common

_PHOTO_SETS = {
    # dataset, TFDS splits pooled for the random splits, test images per class
    'caltech101': ('caltech101', ('train', 'test'), 50),
    'caltech256': ('caltech256', ('train',), 25),
    'shapes_novel': ('zfjax_shapes_novel', ('train', 'validation'), 50),
}


def _shapes(config: ml_collections.ConfigDict) -> None:
  """The settings of configs/synthetic.py that the net depends on."""
  config.model = 'zfnet_small'
  config.shapes.image_size = 64
  config.shapes.num_train = 1000  # 100 per class
  config.shapes.num_eval = 500  # 50 per class
  config.resize_size = 64
  config.crop_size = 56
  config.weight_std = 0.04
  config.bias_value = 0.1


def get_config(variant: str = 'shapes_novel_5') -> ml_collections.ConfigDict:
  config = common.get_config()
  scratch = variant.endswith('_scratch')
  name = variant[:-len('_scratch')] if scratch else variant
  if name == 'voc2012':
    if scratch:
      raise ValueError('voc2012 trains a softmax on a pretrained net; there '
                       'is no voc2012_scratch')
    config.dataset = 'voc/2012'
    config.eval_split = 'validation'
    train_images = 5717
  else:
    base, _, count = name.rpartition('_')
    if base not in _PHOTO_SETS or not count.isdigit() or int(count) < 1:
      raise ValueError(f'unknown variant {variant!r}: use '
                       f'{{{",".join(_PHOTO_SETS)}}}_N[_scratch] or '
                       f'voc2012')
    config.dataset, config.transfer.pool_splits, test = _PHOTO_SETS[base]
    config.transfer.images_per_class = int(count)
    config.transfer.test_per_class = test
    # The sampled sets, not TFDS splits (see zfjax.transfer).
    config.train_split, config.eval_split = 'train', 'test'
    classes = {'caltech101': 102, 'caltech256': 257, 'shapes_novel': 10}[base]
    train_images = int(count) * classes
  if config.dataset == 'zfjax_shapes_novel':
    _shapes(config)
    source = 'workdir/synthetic'
  else:
    source = 'workdir/zfnet'  # configs/zfnet_imagenet.py's run
  # Small training sets: a batch of at most 1/5 of them, so an epoch has a
  # few steps; every epoch is evaluated.
  config.batch_size = max(1, min(128, train_images // 5))
  config.eval_batch_size = 250
  config.ten_crop_eval = True  # here: centre crop and mirror averaged
  config.log_every_steps = 50
  config.checkpoint_every_steps = 10_000
  config.keep_latest = 1
  config.keep_epochs = ()
  config.weight_decay = 5e-4
  config.num_epochs = 60
  # A constant rate: with a few images per class the validation error of
  # the first epochs is flat and the plateau rule would divide the rate
  # before anything is learnt.
  config.plateau_patience = config.num_epochs
  config.learning_rate = 0.01
  if scratch:
    # Every layer learns: more steps, at the rate the source run used
    # (configs/synthetic.py, configs/zfnet_imagenet.py).
    config.num_epochs = 100
    config.plateau_patience = config.num_epochs
    config.learning_rate = 0.005 if config.model == 'zfnet_small' else 0.01
  else:
    config.transfer.from_workdir = source
    config.transfer.train_from = 'fc8'
  return config
