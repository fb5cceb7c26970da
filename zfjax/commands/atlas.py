r"""`visualize.py atlas`: every unit of a trained run as a static web site.

  python visualize.py --workdir workdir/synthetic atlas
  python visualize.py --workdir DIR atlas --layers conv1 conv5 --limit 500
  python visualize.py --workdir DIR atlas --files dog.jpg cat.jpg
  python visualize.py --workdir DIR atlas --image_dir my_photos/

Writes WORKDIR/atlas/ (or --out DIR), a folder of HTML pages and PNG pictures
that opens from file://, from a zip or from any static host (no server,
nothing fetched from the internet):

  index.html          the run: layers, chosen images, training curves,
                      final errors, first-layer filters (Fig. 6), the
                      network's table, the config
  conv5/index.html    every unit of the layer as a tile (its strongest
                      projection), sortable by how strongly and how often
                      it fires, dead units marked; the Fig. 2 grid of a
                      subset (--maps / --channels)
  conv5/117.html      one unit: its 9 strongest activations over the split
                      projected (deconvnet; gradient and guided backprop,
                      --rules) beside their patches (Fig. 2) with their
                      images' classes, its optimised stimulus
                      (--stimulus_steps), the same unit at every kept epoch
                      (Fig. 4), its activation histogram, previous / next
  images/NAME.html    one chosen image (--indices or --files): occlusion
                      (Fig. 7), invariance (Fig. 5), its strongest units
  atlas.json          what was built, from which checkpoint, how long

One scan of the split serves every layer and unit (and one more per kept
epoch); each image is loaded and run forward once for all its
projections. The site is built beside the old one and swapped in when
complete: a killed build leaves the previous atlas as it was.
"""

from __future__ import annotations

import argparse
import pathlib

from zfjax.commands import options

# The work is in atlas_build (JAX, TensorFlow, the analyses), imported when
# the command runs, so that listing the commands stays quick.

# The site is one folder replaced whole when complete (`site.publish`), not
# files renamed into --out one by one: `visualize.main` passes the folder.
WRITES_A_FOLDER = True

# The unit pages' extra pictures by default. On the synthetic run (2-core
# CPU, load 6-9, 2026-12-05) all three rules' projections keep the whole
# atlas at 2 min 28 s; optimised stimuli of its 352 units take 160 s more
# at 128 steps, past the atlas's 5-minute budget: asked for, not default.
RULES = options.RULES
STIMULUS_STEPS = 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
  options.add_map_choice(parser, maps=16,
                         for_what=' in the layer page\'s Fig. 2 grid')
  options.add_scan(parser, 'split to scan (default: config.eval_split)')
  parser.add_argument(
      '--image_dir', help='scan your own JPEG/PNG images in this folder '
      'instead of a split (sorted by name; --indices then count in it; the '
      'run\'s data set is not needed)')
  options.add_image_choice(parser, '0,1,2', split=False, none=True, what=(
      'scanned images that get a page (default 0,1,2; those past the '
      'scanned ones are left out; --indices "" for none)'))
  parser.add_argument('--units_per_image', type=options.positive, default=8,
                      help='strongest units per layer on an image page')
  parser.add_argument(
      '--rules', nargs='+', choices=options.RULES, metavar='RULE',
      default=list(RULES), help='backward rules whose projections of the '
      'same 9 activations each unit page shows (the deconvnet\'s always; '
      f'choices {", ".join(options.RULES)}; default all)')
  parser.add_argument(
      '--stimulus_steps', type=options.nonnegative, default=STIMULUS_STEPS,
      help='show each unit\'s optimised stimulus, from this many steps of '
      'gradient ascent on its centre unit (`visualize.py stimulus`\'s '
      'regularisers; 128 steps: about 0.45 s per unit on a 2-core CPU); '
      f'0: none (default {STIMULUS_STEPS})')


def atlas(args: argparse.Namespace, run, site: pathlib.Path
          ) -> list[pathlib.Path]:
  """Every unit of every conv layer as a browsable static site: a page per
  layer, per unit (Fig. 2, 4, histogram) and per chosen image (Fig. 7, 5),
  and an index (Fig. 6, training curves, the network). The site is --out
  DIR (default WORKDIR/atlas): replaced when the build completes, refused
  if it holds something other than an atlas."""
  # pylint: disable-next=g-import-not-at-top
  from zfjax.commands import atlas_build
  return atlas_build.build(args, run, site)
