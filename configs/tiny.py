r"""A seconds-long run for the tests: the small ZFNet on 32-pixel shapes.

  python train.py --config configs/tiny.py --workdir /tmp/tiny \
      --config.data_dir=/tmp/tfds

320 images of the built-in set (rendered on first use into data_dir), two
epochs of 16 steps of 16 images: about half a minute on a 2-core CPU,
compilation included. It shows that everything runs, not that the classes are
learnt: the large initial weights (N(0, 0.06^2)) start the loss near 10 and
the run brings it down to about ln 12 = 2.5, while the error stays near
chance (11/12).
"""

from configs import common


def get_config():
  config = common.get_config()
  config.model = 'zfnet_small'
  config.dataset = 'zfjax_shapes'
  config.shapes.image_size = 32
  config.shapes.num_train = 256
  config.shapes.num_eval = 64
  config.resize_size = 32
  config.crop_size = 28
  config.shuffle_buffer = 256
  config.batch_size = 16
  config.eval_batch_size = 32
  config.weight_std = 0.06
  config.bias_value = 0.1
  config.learning_rate = 0.003
  config.num_epochs = 2
  config.log_every_steps = 4
  config.checkpoint_every_steps = 5
  config.keep_latest = 2
  config.keep_epochs = (1,)
  return config
