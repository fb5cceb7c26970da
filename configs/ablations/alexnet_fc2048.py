r"""ZF Table 3: AlexNet with 2048 units in fc6 and fc7.

Command (ImageNet prepared for TFDS in --config.data_dir):

  python train.py --config configs/ablations/alexnet_fc2048.py \
      --workdir workdir/alexnet_fc2048 \
      --config.data_dir=$HOME/tensorflow_datasets

Settings, hardware notes and time: as configs/alexnet_imagenet.py, of which
this config differs only in the architecture (trained from scratch).

Expected result (ZF Table 3): train top-1 error 40.3 %, validation top-1 /
top-5 error 41.7 / 18.8 %.
"""

from configs import common
from configs import alexnet_imagenet


def get_config():
  return common.ablation(alexnet_imagenet.get_config(), 'alexnet_fc2048')
