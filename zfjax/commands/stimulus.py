"""`visualize.py stimulus`: each chosen unit's optimised stimulus, the
gradient ascent in image space that ZF §1.1 contrast with the deconvnet
(`zfjax.analyses.stimulus`).

Imports at the top only what parsing needs (`options`); the library loads
inside the run function, so that `--help` is fast.
"""

from __future__ import annotations

import argparse
import pathlib

from zfjax.commands import options

# The ascent's options and their defaults, those of
# `zfjax.analyses.stimulus.Settings` (a test holds them equal): (name,
# type, default, help).
SETTINGS = (
    ('steps', options.positive, 256, 'gradient steps (Adam)'),
    ('learning_rate', float, 1.0, "Adam's step, in pixels"),
    ('start', str, 'random', 'random (the mean image plus noise) or mean '
     '(the mean image)'),
    ('start_std', float, 10.0, 'pixel noise of the random start'),
    ('l2_decay', float, 1e-3, 'after each step x <- (1 - decay) x'),
    ('blur_every', options.nonnegative, 4, 'a Gaussian blur every this many '
     'steps (0: never)'),
    ('blur_sigma', float, 0.5, 'the blur, in pixels'),
    ('clip_pixels', options.percentage, 0.0, 'percentile: pixels of a '
     'smaller norm are set to the mean after each step (0: off)'),
    ('clip_contribution', options.percentage, 0.0, 'percentile: pixels of a '
     'smaller contribution |x . grad| are set to the mean (0: off)'),
    ('jitter', options.nonnegative, 2, 'each step sees the image shifted by '
     'up to this many pixels each way'),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
  options.add_map_choice(parser, maps=16)
  parser.add_argument(
      '--objective', choices=('centre', 'mean'), default='centre',
      help="a conv map's centre unit (default) or its spatial mean, before "
      'the ReLU; with the last layer (the logits) in --layers, the class '
      'logit')
  for name, kind, default, text in SETTINGS:
    choices = ('random', 'mean') if name == 'start' else None
    parser.add_argument(f'--{name}', type=kind, default=default,
                        choices=choices, help=f'{text} (default {default})')
  parser.add_argument(
      '--as_is', action='store_true',
      help='show the stimuli as the network sees them (the mean image added '
      'back) instead of each on its own contrast scale around the mean '
      '(mid-grey: the mean image; 0.5%% of the pixels saturate)')


def _units(args: argparse.Namespace, run, layer: str):
  """The maps of a conv layer (`common.channels`), or for the logits the
  listed classes or a seeded random subset of them."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from zfjax.commands import common
  # pylint: enable=g-import-not-at-top
  if layer in run.spec.conv_names:
    return common.channels(args, run.spec, layer)
  classes = run.spec.num_classes
  if args.channels:
    return np.asarray(args.channels)  # `stimulus.maximize` checks them
  rng = np.random.default_rng([args.seed, len(run.spec.layers)])
  return np.sort(rng.choice(classes, min(args.maps, classes), replace=False))


def stimulus_command(args: argparse.Namespace, run,
                     out_dir: pathlib.Path) -> list:
  """Optimised stimuli (gradient ascent in image space, Erhan et al. 2009,
  with the regularisers of Yosinski et al. 2015 and jitter, Olah et al.
  2017), one grid per layer: stimulus_<layer>.png. --layers takes conv
  layers and the last layer (the logits: --channels then lists classes).
  --seed also seeds the starts and the jitter."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from zfjax.analyses import stimulus
  from zfjax.commands import common
  from zfjax.figures import grids
  # pylint: enable=g-import-not-at-top
  spec = run.spec
  layers = args.layers or list(spec.conv_names)
  settings = stimulus.Settings(**{name: getattr(args, name)
                                  for name, *_ in SETTINGS})
  units = {layer: _units(args, run, layer) for layer in layers}
  for layer in layers:  # every bad layer or unit before any work
    stimulus.check_request(spec, layer, units[layer], args.objective,
                           settings)
  paths = []
  for layer in layers:
    logits = layer not in spec.conv_names
    result = stimulus.maximize(
        run.params, spec, layer, units[layer], objective=args.objective,
        settings=settings, image_size=run.config.crop_size,
        mean=run.preprocessing.mean_crop, seed=args.seed)
    shown = (run.preprocessing.to_display(result.images) if args.as_is
             else common.show(result.images, 0.5))
    zoom = grids.display_factor(shown.shape[1], 96)
    names = ([run.class_names[u] for u in units[layer]] if logits
             else [f'map {u}' for u in units[layer]])
    image = grids.tile(grids.titled(grids.upscale(shown, zoom), names),
                       max(1, round(np.sqrt(len(units[layer])))))
    gain = result.objective[:, -1] - result.objective[:, 0]
    what = 'class logits' if logits else f'{args.objective} units'
    how = ('as the network sees them' if args.as_is
           else 'each on its own scale, grey = the mean image')
    caption = (f'{spec.name} epoch {run.epoch} {layer}, optimised stimuli '
               f'of {what} ({settings.steps} steps, objective up by '
               f'{gain.mean():.3g} on average; {how})')
    paths.append(pathlib.Path(grids.write_png(
        out_dir / f'stimulus_{layer}.png', image, caption)))
    if args.npz:
      paths.append(common.save_npz(out_dir / f'stimulus_{layer}.npz',
                                   units=units[layer], **result._asdict()))
  return paths
