r"""ZF Table 3: the architecture ablations, each trained from scratch.

Command (ImageNet prepared for TFDS in --config.data_dir), VARIANT one of
the names below:

  python train.py --config configs/ablation.py:VARIANT \
      --workdir workdir/VARIANT --config.data_dir=$HOME/tensorflow_datasets

e.g. `--config configs/ablation.py:alexnet_remove34`. Each variant is its
base config (configs/alexnet_imagenet.py or configs/zfnet_imagenet.py) with
another `model`, a spec of the same name in zfjax/networks/specs.py; settings,
hardware notes and time are the base's.

Expected results (ZF Table 3: train top-1 / validation top-1 / top-5 error, %):

  alexnet_remove34                 41.8 / 45.4 / 22.1
  alexnet_remove7                  27.4 / 40.0 / 18.4
  alexnet_remove67                 27.4 / 44.8 / 22.4
  alexnet_remove3467               71.1 / 71.3 / 50.1
  alexnet_fc2048                   40.3 / 41.7 / 18.8
  alexnet_fc8192                   26.8 / 40.0 / 18.1
  zfnet_fc2048                     38.2 / 40.2 / 17.6
  zfnet_fc8192                     22.0 / 38.8 / 17.0
  zfnet_conv512_1024_512           18.8 / 37.5 / 16.0
  zfnet_conv512_1024_512_fc8192    10.0 / 38.3 / 16.9
"""

from configs import alexnet_imagenet
from configs import common
from configs import zfnet_imagenet

# Variant -> the config it changes only in architecture.
BASES = {
    'alexnet_remove34': alexnet_imagenet,
    'alexnet_remove7': alexnet_imagenet,
    'alexnet_remove67': alexnet_imagenet,
    'alexnet_remove3467': alexnet_imagenet,
    'alexnet_fc2048': alexnet_imagenet,
    'alexnet_fc8192': alexnet_imagenet,
    'zfnet_fc2048': zfnet_imagenet,
    'zfnet_fc8192': zfnet_imagenet,
    'zfnet_conv512_1024_512': zfnet_imagenet,
    'zfnet_conv512_1024_512_fc8192': zfnet_imagenet,
}


def get_config(variant: str = ''):
  if variant not in BASES:
    raise ValueError(
        f'configs/ablation.py needs a Table 3 variant after a colon, e.g. '
        f'configs/ablation.py:alexnet_remove34; got {variant!r}, known: '
        f'{", ".join(BASES)}')
  return common.ablation(BASES[variant].get_config(), variant)
