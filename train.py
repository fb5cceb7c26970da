r"""Train a convnet, or evaluate an ensemble of trained ones.

  python train.py --config configs/synthetic.py --workdir workdir/synthetic
  python train.py --config configs/zfnet_imagenet.py --workdir DIR \
      --config.data_dir=... --config.batch_size=256   # dotted overrides
  python train.py --ensemble workdir/a,workdir/b      # ZF Table 2

Rerunning a training command resumes from the newest checkpoint in its
workdir. Each config's docstring gives its command, time and result; the
command itself is `zfjax/commands/train.py` (also `python -m zfjax train`).
"""

if __name__ == '__main__':
  from zfjax import runtime
  runtime.configure()  # first: before numpy's, XLA's and TensorFlow's start
  # pylint: disable-next=g-import-not-at-top
  from zfjax.commands import train
  train.run()
