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

Measured 2026-12-05 on the shared 2-core CPU (loads 4-10): 83 min wall
for the 14 epochs while sharing the cores with both siblings for most of
it (its last epochs took 3.5 min each: about 50 min unshared, estimated).
Validation top-1 error 95.8, 95.8, 89.8, 62.9, 38.2, 25.0, 14.5, 9.6,
10.8, 7.5, 5.4, 5.7, 8.9, 3.0 % after epochs 1-14 (the rate cut to 5e-4
after epoch 12), final 10-crop 2.08 %. The no_clipping sibling: 13.75 %
after its 7 epochs. The conv1_11x11s4 sibling never left chance (95.83 %,
loss ln 24, all 7 epochs; the plateau rule cut its rate after epochs 3, 5
and 7; with --config.plateau_patience=7, the rate held at 0.005, it stayed
at chance too).

Its scorecard (`visualize.py claims --siblings ...`; docs/claims.md has
the numbers): 3 of 7 claims hold. Holds: 1 (Fig. 2: 0.65 of |projection|
inside the box, share 0.42), 3 (Fig. 5: conv1 0.58 / 0.43 vs fc7 0.29 /
0.27 for translation / scale), 5 (Fig. 7: lowest p(true) inside the box
in 90 % of images). Does not hold: 2 (Fig. 4: conv1 settles at epoch 7,
conv2-5 at 13-14; rank correlation 0.11, needs > 0.5), 4 (Fig. 6: 0 dead
and 0 dominant filters in all three runs, the 11x11 one untrained), 6
(Table 1: conv5 gaps 0.001 or less, needs 2 SE), 7 (§5.2: pretrained beats
scratch, 67.5 vs 9.2 % at 1/class, but the best linear-SVM layer is conv4,
88.8 %).
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
  # A rate of 0.002: at the built-in 0.005 the 11x11 stride-4 sibling
  # never left chance (98 % of its conv5 maps silent after 7 epochs; the
  # 7x7 reference lost 77 % of them in its first epoch and sat at chance
  # for two); at 0.002 it left chance in its third epoch. Cut by 10 after
  # epoch 12 of 16 by the calendar, not the plateau rule, which cut after
  # epoch 13 of 14 in v1, so that conv2-5's projections changed again in
  # the last epoch (claim 2). The paper's 0.01, constant, with dark details
  # (v2) stayed at chance for 3 epochs in all three runs (docs/claims.md).
  config.learning_rate = 0.002
  config.num_epochs = 16
  config.plateau_patience = config.num_epochs
  config.rate_cuts = (12,)
  config.keep_epochs = tuple(range(1, config.num_epochs + 1))
  if variant:
    config.num_epochs //= 2
    config.rate_cuts = ()
    config.keep_epochs = (config.num_epochs,)
  if variant == 'conv1_11x11s4':
    config.model = 'zfnet_small_11x11s4'
  elif variant == 'no_clipping':
    config.clip_radius = None
  return config
