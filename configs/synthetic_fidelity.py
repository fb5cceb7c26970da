r"""The fidelity run: a built-in world rich enough for the paper's findings.

  python train.py --config configs/synthetic_fidelity.py \
      --workdir workdir/fidelity
  python visualize.py --workdir workdir/fidelity claims \
      --siblings workdir/fidelity_11x11 workdir/fidelity_noclip

The small ZFNet on 96x96 images (84x84 crops) of all 96 built-in classes
(24 drawn, 72 composites of shared parts; the cat and bear faces drawn as
breeds of the round face; 30 novel classes for transfer), with feature
scale clipping
(ZF §3), every epoch kept for Fig. 4. Variants (the sibling runs of claim
4, ZF Fig. 6), each trained for half as many epochs (the scorecard compares
them with this run's checkpoint of the same epoch, which the rate cut after
epoch 12 has not yet touched):

  configs/synthetic_fidelity.py:conv1_11x11s4  conv1 11x11 stride 4
      (`zfnet_small_11x11s4`), the AlexNet-style first layer
  configs/synthetic_fidelity.py:no_clipping    no feature scale clipping

  python train.py --config configs/synthetic_fidelity.py:conv1_11x11s4 \
      --workdir workdir/fidelity_11x11
  python train.py --config configs/synthetic_fidelity.py:no_clipping \
      --workdir workdir/fidelity_noclip

Measured 2026-12-06 on the 2-core CPU, alone (v6, whose training is this
config's, v7, image for image): 13.9 min
for the 16 epochs. Validation top-1 error (4,800 images) 98.9, 98.5,
96.9, 85.6, 50.6, 32.9, 16.7, 10.1, 8.2, 4.4, 3.6, 3.3 % after epochs
1-12, then at the cut rate 0.85, 0.73, 0.54, 0.56 %; final 10-crop 0.31 %
(15 of 4,800 images). The two siblings together: 11.9 min; the
no_clipping one gave the reference's numbers through its 8 epochs
(clipping never acts), the conv1_11x11s4 one 21.5 % after 8 (10-crop
18.2 %).

Its scorecard (`visualize.py claims --siblings ...`, 4.6 min the first
time with claim 7's transfer runs on 10 novel classes (v6), claim 7 alone
8.3 min on 30; docs/claims.md has the numbers and the
earlier versions): 6 of 7 claims hold. Holds: 1 (Fig. 2: 0.58 of
|projection| inside the box, share 0.42), 2 (Fig. 4: settling epochs conv1
5, conv2 8, conv3 9, conv4 10, conv5 12; rank correlation 1.00), 3 (Fig. 5:
conv1 0.71 / 0.51 vs fc7 0.22 / 0.21 for translation / scale), 5 (Fig. 7:
p(true) 0.227 lower on the object than off it; lowest inside the box in
75 % of images), 6 (Table 1, 40 faces of the three classes drawn with eyes
and a nose, each set at nine places: at conv5 the eyes and nose below
random by 8.8, 6.1 and 8.8 SE; fc7's relative gap 0.033 below conv5's
0.060), 7 (§5.2 on 30 novel classes: pretrained 62.1 vs scratch 4.1 % at
1/class; best linear-SVM layer fc7, 84.1 %, fc6 83.5, conv4 82.9, conv1
10.7; not judged: a softmax on the same features puts conv4 first, 91.2 %
against fc6 85.1). Does not hold: 4 (Fig. 6: 0
dead and 0 dominant filters in all three runs at epoch 8, RMS within
0.62-1.37x the median; docs/claims.md says why a run of this length cannot
show it). Over seeds 0-3 (10-crop error 0.15-0.35 %): claims 1, 2, 3, 5,
6 and 7 hold on all four (claim 7 by 0.2-2.1 points over conv4; on v6's
10 novel classes, at 92-99 % for every layer from conv3 up, on one).
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
  # All 96 classes of the catalogue (v5): the 24 drawn ones and 72
  # composites sharing their parts. Trained on the 24 alone (v4), the top
  # layers were specific to them: on the novel classes a linear SVM did
  # best on conv4, 0.2-2.0 points above the best top layer on 4 seeds (ZF
  # §5.2 found layers 5 and 7 best: claim 7).
  config.shapes.num_classes = 96
  # With 96 classes random initial logits made the net silence conv5 and
  # sit at chance (7 epochs at rate 0.002, 5 at 0.001, 3 at 0.005); with
  # the classifier's weights at zero it left chance in epoch 3.
  config.zero_head = True
  # cat_face and bear_face as breeds of round_face: its head and eyes, their
  # own ears and noses (v6). With faces of their own (v5) the three
  # classes' eyes did not correspond at conv5 on any of 4 seeds (claim 6;
  # ZF's dogs are breeds of one animal); as breeds, claim 6 held on all 4,
  # claims 1, 2, 3, 5 as on v5, claim 7 on 1 of 4 against v5's 3, at the
  # ceiling (docs/claims.md).
  config.shapes.face_breeds = True
  # 30 novel classes for claim 7 (v7; the 10 drawn ones and 20 composites
  # of parts no trained class has). On the 10 alone every layer from conv3
  # up classified them at 92-99 %, where the ranking of layers that Table 6
  # reads is inside a few test images. The trained set does not read it.
  config.shapes.novel_classes = 30
  # No partial occluders (v4): with them in 30 % of the training images
  # (v3) the net learned to ignore a covered part, and Fig. 7's drop in
  # p(true) with the square on the object was 0.043-0.065 over 3 seeds;
  # without, 0.094-0.120 (docs/claims.md).
  config.shapes.occluders = 0.0
  config.shapes.num_train = 24_000  # 250 per class
  # 50 per class: claim 6 once drew its sets from the first 40 faces of one
  # class (with 25 per class it had 25); it now takes 40 of three. The training split does not
  # depend on it: example i of a split is rendered from (seed, split, i).
  config.shapes.num_eval = 4_800
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
