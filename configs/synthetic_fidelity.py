r"""The fidelity run: a built-in world rich enough for the paper's findings.

  python train.py --config configs/synthetic_fidelity.py \
      --workdir workdir/fidelity
  python visualize.py --workdir workdir/fidelity claims \
      --siblings workdir/fidelity_11x11 workdir/fidelity_noclip

The small ZFNet on 96x96 images (84x84 crops) of all 24 built-in classes,
a partial occluder in front of the object in 30 % of the images, with
feature scale clipping (ZF §3), every epoch kept for Fig. 4. Variants (the
sibling runs of claim 4, ZF Fig. 6), each trained for half as many epochs
(the scorecard compares them with this run's checkpoint of the same epoch):

  configs/synthetic_fidelity.py:conv1_11x11s4  conv1 11x11 stride 4
      (`zfnet_small_11x11s4`), the AlexNet-style first layer
  configs/synthetic_fidelity.py:no_clipping    no feature scale clipping

  python train.py --config configs/synthetic_fidelity.py:conv1_11x11s4 \
      --workdir workdir/fidelity_11x11
  python train.py --config configs/synthetic_fidelity.py:no_clipping \
      --workdir workdir/fidelity_noclip
"""

from zfjax.training import defaults

VARIANTS = ('', 'conv1_11x11s4', 'no_clipping')


def get_config(variant: str = ''):
  if variant not in VARIANTS:
    raise ValueError(f'configs/synthetic_fidelity.py has variants '
                     f'{", ".join(v for v in VARIANTS if v)} (or none); got '
                     f'{variant!r}')
  config = defaults.builtin_config()
  config.shapes.image_size = 96
  config.shapes.num_classes = 24
  config.shapes.occluders = 0.3
  config.shapes.num_train = 24_000  # 1000 per class
  config.shapes.num_eval = 2_400
  config.resize_size = 96
  config.crop_size = 84
  config.clip_radius = 0.1
  # The built-in default rate (0.005) and plateau rule. The paper's 0.01,
  # constant, with dark details (v2) stayed at chance for 3 epochs in all
  # three runs and was dropped (docs/claims.md).
  config.num_epochs = 14
  config.keep_epochs = tuple(range(1, config.num_epochs + 1))
  if variant:
    config.num_epochs //= 2
    config.keep_epochs = (config.num_epochs,)
  if variant == 'conv1_11x11s4':
    config.model = 'zfnet_small_11x11s4'
  elif variant == 'no_clipping':
    config.clip_radius = None
  return config
