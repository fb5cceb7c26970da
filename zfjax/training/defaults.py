"""The keys of a run's config and their defaults, and the transfer variants.

Every key the trainer, the data pipeline and the analyses read is declared
in `base_config()`, with the paper's ImageNet training (ZF §3); configs are
locked, so a misspelt `--config.key=...` is an error. The runnable configs
in the checkout's `configs/` start from it and change what differs
(`configs/common.py`); `transfer_config` builds the transfer runs that
`configs/transfer.py` and the transfer protocols train.
"""

import ml_collections
from ml_collections import config_dict

from zfjax.errors import ZfjaxError

# Epochs whose end-of-epoch checkpoints are kept for ZF Fig. 4 (evolution).
FIG4_EPOCHS = (1, 2, 5, 10, 20, 30, 40, 64)


def base_config() -> ml_collections.ConfigDict:
  """Every key, with the paper's ImageNet training (ZF §3)."""
  c = ml_collections.ConfigDict()

  # Model: a name in zfjax.networks.specs.SPECS.
  c.model = 'zfnet'
  c.num_classes = config_dict.placeholder(int)  # None: the data set's
  # ZF §3 / Krizhevsky §5: N(0, 0.01^2); None: He init.
  c.weight_std = config_dict.placeholder(float)
  c.weight_std = 0.01
  c.bias_value = config_dict.placeholder(float)  # None: the spec's choice
  # The classifier's weights start at zero (big_vision's head_zeroinit):
  # random ones give each image random logits, and with many classes
  # reducing that noise was the net's first move -- it silenced conv5 and
  # never left chance (docs/claims.md, v5).
  c.zero_head = False
  c.clip_radius = config_dict.placeholder(float)  # None: no clipping

  # Data (zfjax.data.pipeline).
  c.dataset = 'imagenet2012'  # or 'zfjax_shapes', the built-in set
  c.data_dir = config_dict.placeholder(str)  # None: TFDS's default
  c.manual_dir = config_dict.placeholder(str)  # ImageNet tars; docs/data.md
  c.resize_size = 256
  c.crop_size = 224
  c.batch_size = 128  # global, over all devices and hosts
  c.pca_augment = False
  c.train_split = 'train'
  c.eval_split = 'validation'
  c.shuffle_buffer = 10_000
  # Read the stored form (squares resized once, JPEG; docs/data.md).
  c.stored_images = False
  c.shapes = ml_collections.ConfigDict()  # the built-in set (zfjax_shapes)
  c.shapes.image_size = 64
  c.shapes.num_train = 20_000
  c.shapes.num_eval = 2_000
  c.shapes.seed = 0
  # The built-in world (zfjax.data.shapes.World): the catalogue's first
  # num_classes classes (12 or up to 96), the probability that an image has
  # a partial occluder in front of its object, detail parts darker than
  # the body, and cat and bear faces drawn as breeds of the round face; and
  # how many novel classes its transfer set has (10 drawn, up to 30).
  c.shapes.num_classes = 12
  c.shapes.occluders = 0.0
  c.shapes.dark_details = False
  c.shapes.face_breeds = False
  c.shapes.novel_classes = 10
  # A per-channel mean (R, G, B in 0..255) subtracted instead of the training
  # split's mean image; set by `python -m zfjax convert` for torchvision's
  # AlexNet. None: the mean image.
  c.mean_rgb = config_dict.placeholder(tuple)

  # Precision of the convolutions and matrix products: 'float32' or
  # 'bfloat16' (params, optimizer state, loss and softmax stay float32).
  c.compute_dtype = 'float32'

  # Optimisation: SGD with momentum, rate divided on validation plateaus.
  c.seed = 0
  c.num_epochs = 70
  c.learning_rate = 0.01
  c.momentum = 0.9
  c.weight_decay = 5e-4  # Krizhevsky §5; on weights, not biases
  c.plateau_patience = 3  # epochs without improvement before dividing
  c.plateau_factor = 0.1
  c.plateau_min_delta = 0.001  # improvements smaller than this do not count
  # Epochs after which the rate is divided by plateau_factor in any case
  # (the paper's hand annealing at chosen epochs); () leaves it to the
  # plateau rule.
  c.rate_cuts = ()

  # Evaluation, logging, checkpoints.
  c.eval_batch_size = 256  # global; a multiple of the device count
  c.ten_crop_eval = True  # 10-crop validation at the end of the run
  c.log_every_steps = 100
  c.checkpoint_every_steps = 2_000
  c.keep_latest = 3
  c.keep_epochs = FIG4_EPOCHS

  # Several hosts (a TPU pod slice): call jax.distributed.initialize().
  c.distributed = False
  # Seconds without a heartbeat from another process before the others stop
  # with an error naming it (zfjax.training.distributed.PeerWatch).
  c.peer_timeout_seconds = 120.0


  # Transfer (ZF §5.2, zfjax.training.transfer, configs/transfer.py). A run is a
  # transfer run when from_workdir or images_per_class is set: it trains on
  # inputs cached once per image (the frozen layers' outputs, or the images
  # themselves when nothing is frozen) instead of the streamed images.
  c.transfer = ml_collections.ConfigDict()
  # A trained run's workdir whose layers below train_from are kept fixed
  # (and whose layers from train_from up, but the classifier, start the
  # training); None: from scratch.
  c.transfer.from_workdir = config_dict.placeholder(str)
  # The first layer that trains, e.g. 'fc8' (ZF: layers 1-7 fixed, a new
  # softmax); None: every layer trains.
  c.transfer.train_from = config_dict.placeholder(str)
  # Training images drawn per class from pool_splits (a seeded random split,
  # the Caltech protocols); None: train on all of train_split, test on all
  # of eval_split (VOC).
  c.transfer.images_per_class = config_dict.placeholder(int)
  c.transfer.test_per_class = config_dict.placeholder(int)  # None: the rest
  c.transfer.pool_splits = ('train',)  # the data set's splits, pooled
  c.transfer.split_seed = 0
  c.transfer.split_index = 0  # which of the seeded random splits
  # Where cached inputs live; None: <from_workdir>/feature_cache, or
  # <workdir>/feature_cache from scratch.
  c.transfer.cache_dir = config_dict.placeholder(str)
  return c


def builtin_config() -> ml_collections.ConfigDict:
  """The default run (`configs/synthetic.py`, whose docstring gives its
  command, time and result): the small ZFNet on the built-in data set,
  minutes on a CPU."""
  config = base_config()
  config.model = 'zfnet_small'
  config.dataset = 'zfjax_shapes'
  config.shapes.image_size = 64
  config.resize_size = 64
  config.crop_size = 56
  config.batch_size = 32
  config.eval_batch_size = 250
  config.weight_std = 0.04
  config.bias_value = 0.1
  config.learning_rate = 0.005
  config.num_epochs = 6
  config.plateau_patience = 2
  config.log_every_steps = 100
  config.checkpoint_every_steps = 1000
  config.keep_epochs = tuple(range(1, 7))  # every epoch, for Fig. 4
  return config


_PHOTO_SETS = {
    # dataset, TFDS splits pooled for the random splits, test images per class
    'caltech101': ('caltech101', ('train', 'test'), 50),
    'caltech256': ('caltech256', ('train',), 25),
    'shapes_novel': ('zfjax_shapes_novel', ('train', 'validation'), 50),
}


def _shapes(config: ml_collections.ConfigDict, novel_classes: int) -> None:
  """The settings of configs/synthetic.py that the net depends on, and a
  novel set of `novel_classes` classes, 100 train and 50 validation
  images of each."""
  config.model = 'zfnet_small'
  config.shapes.image_size = 64
  config.shapes.novel_classes = novel_classes
  config.shapes.num_train = 100 * novel_classes
  config.shapes.num_eval = 50 * novel_classes
  config.resize_size = 64
  config.crop_size = 56
  config.weight_std = 0.04
  config.bias_value = 0.1


def transfer_config(variant: str, novel_classes: int = 10
                    ) -> ml_collections.ConfigDict:
  """A transfer run's config (`configs/transfer.py` documents the
  variants): `{shapes_novel,caltech101,caltech256}_N[_scratch]` or
  `voc2012`; shapes_novel's with the built-in novel set's first
  `novel_classes` classes."""
  config = base_config()
  scratch = variant.endswith('_scratch')
  name = variant[:-len('_scratch')] if scratch else variant
  if name == 'voc2012':
    if scratch:
      raise ZfjaxError('voc2012 trains a softmax on a pretrained net; there '
                       'is no voc2012_scratch')
    config.dataset = 'voc/2012'
    config.eval_split = 'validation'
    train_images = 5717
  else:
    base, _, count = name.rpartition('_')
    if base not in _PHOTO_SETS or not count.isdigit() or int(count) < 1:
      raise ZfjaxError(f'unknown variant {variant!r}: use '
                       f'{{{",".join(_PHOTO_SETS)}}}_N[_scratch] or '
                       f'voc2012')
    config.dataset, config.transfer.pool_splits, test = _PHOTO_SETS[base]
    config.transfer.images_per_class = int(count)
    config.transfer.test_per_class = test
    # The sampled sets, not TFDS splits (see zfjax.training.transfer).
    config.train_split, config.eval_split = 'train', 'test'
    classes = {'caltech101': 102, 'caltech256': 257,
               'shapes_novel': novel_classes}[base]
    train_images = int(count) * classes
  if config.dataset == 'zfjax_shapes_novel':
    _shapes(config, novel_classes)
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
    # (configs/synthetic.py, configs/zfnet_imagenet.py) at its batch, scaled
    # down in proportion for smaller batches (the linear scaling rule): at
    # 1 image per class (batch 2) the full rate made the 84-pixel net of
    # configs/synthetic_fidelity.py diverge.
    config.num_epochs = 100
    config.plateau_patience = config.num_epochs
    rate, batch = (0.005, 32) if config.model == 'zfnet_small' else (0.01, 128)
    config.learning_rate = rate * min(1.0, config.batch_size / batch)
  else:
    config.transfer.from_workdir = source
    config.transfer.train_from = 'fc8'
  return config
