r"""ZFNet (ZF Fig. 3) on ImageNet 2012 with the paper's settings (ZF §3).

Command (ImageNet must already be prepared for TFDS in --config.data_dir;
TFDS cannot download it, see the README):

  python train.py --config configs/zfnet_imagenet.py --workdir workdir/zfnet \
      --config.data_dir=$HOME/tensorflow_datasets

A TPU VM pod slice (every host runs the same command; the workdir must be a
directory all hosts share, e.g. an NFS or gcsfuse mount):

  gcloud compute tpus tpu-vm ssh $TPU --zone $ZONE --worker=all --command \
      "cd zfjax && python train.py --config configs/zfnet_imagenet.py \
       --workdir /mnt/shared/zfnet --config.distributed=True"

Settings: batch 128, learning rate 1e-2 divided by 10 when the validation
error has not improved for 3 epochs, momentum 0.9, weight decay 5e-4,
dropout 0.5 in fc6/fc7, weights N(0, 1e-2), biases 0, feature scale clipping
of conv filters to RMS 0.1 after each update, 70 epochs, random 224 crops of
256x256 images with flips.

Expected time: ZF trained for 12 days on one GTX 580. Measured here with
benchmarks/train_step.py (step only, no input pipeline): 12.1 s and 17.9 s
per step of 128 images in two sessions on a shared 2-core CPU (7-11
images/s), i.e. 34-50 hours per epoch of 10,009 steps: a CPU is for trying
the command, not for training. No GPU figure was measured yet (the
benchmark prints one on any device).

Expected result (ZF Table 2/3): top-1 / top-5 validation error 38.4 / 16.5 %
(10-crop), train top-1 error 33.1 %.
"""

from configs import common


def get_config():
  config = common.get_config()
  config.model = 'zfnet'
  config.clip_radius = 0.1
  config.num_epochs = 70
  return config
