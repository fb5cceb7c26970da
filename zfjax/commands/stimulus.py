"""`visualize.py stimulus`: each chosen unit's optimised stimulus, the
gradient ascent in image space that ZF §1.1 contrast with the deconvnet
(`zfjax.analyses.stimulus`).

Light at import time (for `--help`): JAX and the analyses are imported when
the command runs.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from zfjax.commands import common
from zfjax.errors import ZfjaxError
from zfjax.training import workdirs

# The ascent's options and their defaults, those of
# `zfjax.analyses.stimulus.Settings` (a test holds them equal): (name,
# type, default, help).
SETTINGS = (
    ('steps', int, 256, 'gradient steps (Adam)'),
    ('learning_rate', float, 1.0, "Adam's step, in pixels"),
    ('start', str, 'random', 'random (the mean image plus noise) or mean '
     '(the mean image)'),
    ('start_std', float, 10.0, 'pixel noise of the random start'),
    ('l2_decay', float, 1e-3, 'after each step x <- (1 - decay) x'),
    ('blur_every', int, 4, 'a Gaussian blur every this many steps (0: '
     'never)'),
    ('blur_sigma', float, 0.5, 'the blur, in pixels'),
    ('clip_pixels', float, 0.0, 'percentile: pixels of a smaller norm '
     'are set to the mean after each step (0: off)'),
    ('clip_contribution', float, 0.0, 'percentile: pixels of a smaller '
     'contribution |x . grad| are set to the mean (0: off)'),
    ('jitter', int, 2, 'each step sees the image shifted by up to this '
     'many pixels each way'),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
  common.add_map_choice(parser, maps=16)
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


def _file_name(layer: str, objective: str | None,
               args: argparse.Namespace) -> str:
  """stimulus_<layer>[_<objective>], then each setting that differs from
  its default as _<name><value>: what changes the pictures."""
  parts = ['stimulus', layer] + ([objective] if objective else [])
  parts += [f'{name}{getattr(args, name)}' for name, _, default, _ in SETTINGS
            if getattr(args, name) != default]
  return '_'.join(parts)


def _units(args: argparse.Namespace, run: workdirs.TrainedRun,
           layer: str) -> np.ndarray:
  """The maps of a conv layer (`common.channels`), or for the logits the
  listed classes or a seeded random subset of them."""
  if layer in run.spec.conv_names:
    return common.channels(args, run.spec, layer)
  classes = run.spec.num_classes
  if args.channels:
    return np.asarray(args.channels)  # `stimulus.maximize` checks them
  rng = np.random.default_rng([args.seed, len(run.spec.layers)])
  return np.sort(rng.choice(classes, min(args.maps, classes), replace=False))


def stimulus_command(args: argparse.Namespace, run: workdirs.TrainedRun,
                     out_dir: pathlib.Path) -> common.Paths:
  """Optimised stimuli (gradient ascent in image space, Erhan et al. 2009,
  with the regularisers of Yosinski et al. 2015 and jitter, Olah et al.
  2017), one grid per layer: stimulus_<layer>_<objective>.png, the options
  that differ from their defaults added to the name. --layers takes conv
  layers and the last layer (the logits: --channels then lists classes).
  --seed also seeds the starts and the jitter."""
  # pylint: disable=g-import-not-at-top
  from zfjax.analyses import stimulus
  from zfjax.figures import grids
  spec = run.spec
  layers = args.layers or list(spec.conv_names)
  settings = stimulus.Settings(**{name: getattr(args, name)
                                  for name, *_ in SETTINGS})
  if args.maps < 1:
    raise ZfjaxError(f'--maps must be at least 1, got {args.maps}')
  paths = []
  for layer in layers:
    units = _units(args, run, layer)
    logits = layer not in spec.conv_names
    result = stimulus.maximize(
        run.params, spec, layer, units, objective=args.objective,
        settings=settings, image_size=run.config.crop_size,
        mean=run.preprocessing.mean_crop, seed=args.seed)
    shown = (run.preprocessing.to_display(result.images) if args.as_is
             else common.show(result.images, 0.5))
    zoom = grids.display_factor(shown.shape[1], 96)
    image = grids.tile(grids.upscale(shown, zoom),
                       max(1, round(np.sqrt(len(units)))))
    names = ([run.class_names[u] for u in units] if logits
             else [str(u) for u in units])
    gain = result.objective[:, -1] - result.objective[:, 0]
    what = 'class logits' if logits else f'{args.objective} units'
    how = ('as the network sees them' if args.as_is
           else 'each on its own scale, grey = the mean image')
    caption = (f'{spec.name} epoch {run.epoch} {layer}, optimised stimuli '
               f'of {what} ({settings.steps} steps, objective up by '
               f'{gain.mean():.3g} on average; {how}), row-major: '
               f'{" ".join(names)}')
    name = _file_name(layer, None if logits else args.objective, args)
    name += '_as_is' if args.as_is else ''
    paths.append(pathlib.Path(grids.write_png(out_dir / f'{name}.png',
                                              image, caption)))
    if args.npz:
      paths.append(common.save_npz(out_dir / f'{name}.npz',
                                   units=units, **result._asdict()))
  return paths
