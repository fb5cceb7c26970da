r"""ZF Table 3: ZFNet with 2048 units in fc6 and fc7.

Command (ImageNet prepared for TFDS in --config.data_dir):

  python train.py --config configs/ablations/zfnet_fc2048.py \
      --workdir workdir/zfnet_fc2048 \
      --config.data_dir=$HOME/tensorflow_datasets

Settings, hardware notes and time: as configs/zfnet_imagenet.py, of which
this config differs only in the architecture (trained from scratch).

Expected result (ZF Table 3): train top-1 error 38.2 %, validation top-1 /
top-5 error 40.2 / 17.6 %.
"""

from configs import common
from configs import zfnet_imagenet


def get_config():
  return common.ablation(zfnet_imagenet.get_config(), 'zfnet_fc2048')
