r"""AlexNet as ZF replicated it (dense connections) on ImageNet 2012.

Command (ImageNet must already be prepared for TFDS in --config.data_dir):

  python train.py --config configs/alexnet_imagenet.py \
      --workdir workdir/alexnet --config.data_dir=$HOME/tensorflow_datasets

On a TPU VM pod slice, add --config.distributed=True and run it on every
host (see configs/zfnet_imagenet.py).

Settings (Krizhevsky et al. §5): batch 128, learning rate 1e-2 divided by 10
on validation plateaus (3 epochs without improvement), momentum 0.9, weight
decay 5e-4, dropout 0.5, weights N(0, 1e-2), biases 1 in conv2, conv4, conv5,
fc6, fc7 and 0 elsewhere, PCA colour augmentation, no feature scale
clipping, 90 epochs.

Expected time: Krizhevsky et al. took 5 to 6 days on two GTX 580s. Measured
here with benchmarks/train_step.py: 6.4 s per step of 128 images on a 2-core
CPU (20 images/s), about 18 hours per epoch; no GPU figure yet.

Expected result (ZF Table 2/3, ZF's replication): top-1 / top-5 validation
error 40.5 / 18.1 %, train top-1 error 35.1 % (Krizhevsky et al.: 40.7 /
18.2 % for one net).
"""

from configs import common


def get_config():
  config = common.get_config()
  config.model = 'alexnet'
  config.pca_augment = True
  config.num_epochs = 90
  return config
