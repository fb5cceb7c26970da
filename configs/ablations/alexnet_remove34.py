r"""ZF Table 3: AlexNet with layers 3 and 4 (conv3, conv4) removed.

Command (ImageNet prepared for TFDS in --config.data_dir):

  python train.py --config configs/ablations/alexnet_remove34.py \
      --workdir workdir/alexnet_remove34 \
      --config.data_dir=$HOME/tensorflow_datasets

Settings, hardware notes and time: as configs/alexnet_imagenet.py, of which
this config differs only in the architecture (trained from scratch).

Expected result (ZF Table 3): train top-1 error 41.8 %, validation top-1 /
top-5 error 45.4 / 22.1 %.
"""

from configs import common
from configs import alexnet_imagenet


def get_config():
  return common.ablation(alexnet_imagenet.get_config(), 'alexnet_remove34')
