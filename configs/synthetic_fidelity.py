r"""The fidelity run: a built-in world rich enough for the paper's findings.

  python train.py --config configs/synthetic_fidelity.py \
      --workdir workdir/fidelity
  python visualize.py --workdir workdir/fidelity claims \
      --siblings workdir/fidelity_11x11 workdir/fidelity_noclip

The small ZFNet on 96x96 images (84x84 crops) of all 24 built-in classes,
a partial occluder in front of the object in 30 % of the images, with
feature scale clipping (ZF §3), every epoch kept for Fig. 4. Variants (the
sibling runs of claim 4, ZF Fig. 6), each trained for half as many epochs
(the scorecard compares them with this run's checkpoint of the same epoch,
which the rate cut after epoch 12 has not yet touched):

  configs/synthetic_fidelity.py:conv1_11x11s4  conv1 11x11 stride 4
      (`zfnet_small_11x11s4`), the AlexNet-style first layer
  configs/synthetic_fidelity.py:no_clipping    no feature scale clipping

  python train.py --config configs/synthetic_fidelity.py:conv1_11x11s4 \
      --workdir workdir/fidelity_11x11
  python train.py --config configs/synthetic_fidelity.py:no_clipping \
      --workdir workdir/fidelity_noclip

Measured 2026-12-05 on the 2-core CPU (v3, this config): 20.5 min wall
for the 16 epochs while sharing the cores with both siblings for its first
8 (its last 8 epochs took 35-43 s each alone: about 11 min unshared).
Validation top-1 error 95.4, 92.4, 68.0, 42.0, 20.7, 13.9, 8.4, 6.1, 8.0,
5.2, 4.5, 3.3 % after epochs 1-12, then at the cut rate 2.0, 1.8, 1.9,
1.7 %; final 10-crop 1.04 %. The no_clipping sibling gave the same numbers
through its 8 epochs (clipping had not yet acted: no conv1 filter had
reached RMS 0.1); the conv1_11x11s4 sibling 9.0 % after 8.

Its scorecard (`visualize.py claims --siblings ...`, 72 s with the
transfer runs made, 3.5 min for them the first time; docs/claims.md has
the numbers and the earlier versions): 4 of 7 claims hold. Holds: 1
(Fig. 2: 0.59 of |projection| inside the box, share 0.42), 2 (Fig. 4:
settling epochs conv1 5, conv2 9, conv3 12, conv4 11, conv5 12; rank
correlation 0.82), 3 (Fig. 5: conv1 0.65 / 0.48 vs fc7 0.22 / 0.20 for
translation / scale), 5 (Fig. 7: lowest p(true) inside the box in 92 % of
images). Does not hold: 4 (Fig. 6: 0 dead and 0 dominant filters in all
three runs at epoch 8, RMS within 0.68-1.31x the median), 6 (Table 1:
conv5 parts below random by 2.9-4.9 SE, but fc7's relative gap 0.056 is
not smaller than conv5's 0.039: the nose's alone is 0.18), 7 (§5.2:
pretrained beats scratch, 76.9 vs 9.2 % at 1/class, but the best
linear-SVM layer is conv4, 95.0 %, conv5 93.6 %). With --config.seed=1
(11.8 min alone): 10-crop error 1.42 %; claims 1, 2, 3, 5 and 6 hold, 7
does not (conv4 93.4 %, fc7 92.4 %), 4 not measured (no siblings). With
--config.seed=2: 10-crop error 1.08 %; claims 1, 2, 3, 6 and 7 hold, 5
does not (p(true) off minus on the object 0.043, needs 0.05).
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
