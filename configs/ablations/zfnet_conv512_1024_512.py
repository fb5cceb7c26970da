r"""ZF Table 3: ZFNet with 512, 1024, 512 maps in conv3, conv4, conv5.

Command (ImageNet prepared for TFDS in --config.data_dir):

  python train.py --config configs/ablations/zfnet_conv512_1024_512.py \
      --workdir workdir/zfnet_conv512_1024_512 \
      --config.data_dir=$HOME/tensorflow_datasets

Settings, hardware notes and time: as configs/zfnet_imagenet.py, of which
this config differs only in the architecture (trained from scratch).

Expected result (ZF Table 3): train top-1 error 18.8 %, validation top-1 /
top-5 error 37.5 / 16.0 %.
"""

from configs import common
from configs import zfnet_imagenet


def get_config():
  return common.ablation(zfnet_imagenet.get_config(), 'zfnet_conv512_1024_512')
