r"""ZFNet (ZF Fig. 3) on ImageNet 2012 with the paper's settings (ZF §3).

Command (ImageNet must already be prepared for TFDS in --config.data_dir;
TFDS cannot download it, see docs/data.md):

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

On a GPU, prepare and read the stored 256-px form (docs/data.md, "ImageNet
2012" step 4) and consider bfloat16:

  python -m zfjax prepare --dataset=imagenet2012 --stored
  python train.py --config configs/zfnet_imagenet.py --workdir workdir/zfnet \
      --config.stored_images=True --config.compute_dtype=bfloat16

The trainer sends uint8 crops and finishes the preprocessing in the step
(docs/data.md, "Feeding the accelerator"). Input pipeline on the shared 2-core
CPU, 2026-11-25 (benchmarks/input_pipeline_throughput.py, under heavy load
from other jobs): `train (stored 256)` 249 and 110 images/s/core in two
runs, 6.8x and 3.5x the full-size `train` row of the same run (37 and 31).
Step with host batches (benchmarks/train_step.py --host_batches,
--config.batch_size=32, same load): 93 s per step with the uint8 batches on
the device, 72 s host-fed (float32); 109 and 118 s (bfloat16). GPU
figures (the targets: host-fed >= 0.9 x device-resident, >= 11,000
images/s in float32 and >= 16,000 in bfloat16 at batch 256 on one H100)
are not measured yet.

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
