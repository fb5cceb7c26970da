r"""Transfer (ZF §5.2): a new softmax on a frozen trained net, or the same
architecture from scratch, on Caltech-101, Caltech-256, PASCAL VOC 2012 or
the built-in set's novel classes. One config per (data set, images per
class, pretrained or scratch):

  python train.py --config configs/transfer.py:shapes_novel_5 \
      --workdir workdir/novel_5 --config.transfer.from_workdir=workdir/synthetic
  python train.py --config configs/transfer.py:shapes_novel_5_scratch \
      --workdir workdir/novel_5_scratch
  python train.py --config configs/transfer.py:caltech101_30 \
      --workdir workdir/c101_30 --config.transfer.from_workdir=workdir/zfnet \
      --config.transfer.split_index=2             # the third random split
  python train.py --config configs/transfer.py:caltech256_60_scratch ...
  python train.py --config configs/transfer.py:voc2012 ...

Variants: `{shapes_novel,caltech101,caltech256}_N` with N training images
per class (any N; the paper's 15/30 and 15/30/45/60, Fig. 9's 1-60), a
`_scratch` suffix for the same architecture trained from random weights on
the same images, and `voc2012` (pretrained only: train on train, test on
validation).
`python -m zfjax transfer` runs the paper's protocols (every
split and N, pretrained and scratch) and prints their tables.

Pretrained runs keep layers 1-7 fixed (`transfer.train_from='fc8'`): the
frozen layers' outputs are computed once per image and cached in
`<from_workdir>/feature_cache/`, so the softmax trains in seconds. Scratch
runs cache the preprocessed images (centre crop and mirror) instead.

Built-in analogue (shapes_novel_*): 10 object classes that zfjax_shapes
does not have (`zfjax.data.shapes.NOVEL_CLASS_NAMES`), made of the same kinds of
parts, 64x64 images, a pool of 100 + 50 images per class; the source run is
`configs/synthetic.py`'s. (A fidelity source's world has 30 novel classes:
`python -m zfjax transfer shapes_novel --from_workdir ...` sizes the set,
batch and input from the source run; this file is the 10-class default.) On a shared 2-core CPU (2026-11-25) a pretrained
run takes 30-60 s once the features are cached (about 30 s, once), and
reaches 72 +- 4 % mean per-class accuracy at 5 images per class (chance
10 %); more numbers in docs/transfer.md.
"""

import ml_collections

from zfjax.training import defaults


def get_config(variant: str = 'shapes_novel_5') -> ml_collections.ConfigDict:
  return defaults.transfer_config(variant)
