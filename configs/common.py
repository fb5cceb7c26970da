"""Defaults shared by every config: the paper's ImageNet training (ZF §3).

Not a config to run by itself; the runnable ones start from `get_config()`
and change what differs. Every key the trainer, the data pipeline and the
analyses read is declared here, so that a misspelt `--config.key=...` is an
error (configs are locked).
"""

import ml_collections
from ml_collections import config_dict

# Epochs whose end-of-epoch checkpoints are kept for ZF Fig. 4 (evolution).
FIG4_EPOCHS = (1, 2, 5, 10, 20, 30, 40, 64)


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()

  # Model: a name in zfjax.specs.SPECS.
  c.model = 'zfnet'
  c.num_classes = config_dict.placeholder(int)  # None: the data set's
  # ZF §3 / Krizhevsky §5: N(0, 0.01^2); None: He init.
  c.weight_std = config_dict.placeholder(float)
  c.weight_std = 0.01
  c.bias_value = config_dict.placeholder(float)  # None: the spec's choice
  c.clip_radius = config_dict.placeholder(float)  # None: no clipping

  # Data (zfjax.input_pipeline).
  c.dataset = 'imagenet2012'  # or 'zfjax_shapes', the built-in set
  c.data_dir = config_dict.placeholder(str)  # None: TFDS's default
  c.manual_dir = config_dict.placeholder(str)  # ImageNet tars; see README
  c.resize_size = 256
  c.crop_size = 224
  c.batch_size = 128  # global, over all devices and hosts
  c.pca_augment = False
  c.train_split = 'train'
  c.eval_split = 'validation'
  c.shuffle_buffer = 10_000
  # Read the stored form (squares resized once, JPEG; see the README).
  c.stored_images = False
  c.shapes = ml_collections.ConfigDict()  # the built-in set (zfjax_shapes)
  c.shapes.image_size = 64
  c.shapes.num_train = 20_000
  c.shapes.num_eval = 2_000
  c.shapes.seed = 0
  # A per-channel mean (R, G, B in 0..255) subtracted instead of the training
  # split's mean image; set by `python -m zfjax.convert` for torchvision's
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
  # with an error naming it (zfjax.distributed.PeerWatch).
  c.peer_timeout_seconds = 120.0


  # Transfer (ZF §5.2, zfjax.transfer, configs/transfer.py). A run is a
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


def ablation(base: ml_collections.ConfigDict,
             model: str) -> ml_collections.ConfigDict:
  """`base` with another architecture (ZF Table 3 trains each from scratch
  with the base's settings)."""
  base.model = model
  return base
