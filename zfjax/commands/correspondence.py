"""`visualize.py correspondence` (ZF Table 1): does masking the same part
change the features the same way in different images?"""

from __future__ import annotations

import argparse
import collections
import pathlib

from zfjax.commands import options
from zfjax.errors import ZfjaxError


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--parts_file', help='JSON or CSV file describing your '
                      'images and their parts (docs/analyses.md); default: the '
                      'built-in faces')
  parser.add_argument('--mask_size', type=options.positive, help='side in file pixels of '
                      'the square masked around a keypoint')
  parser.add_argument('--classes', nargs='+', metavar='CLASS',
                      help='built-in classes to take faces from (default: '
                      'every class drawn with two eyes and a nose, as the '
                      'paper\'s dogs of different breeds)')
  parser.add_argument('--parts', nargs='+', help='built-in parts to mask '
                      '(default: the eyes and nose; with --classes, every '
                      'part they share smaller than a quarter of the object)')
  parser.add_argument('--split', help='split of the built-in images '
                      '(default: config.eval_split)')
  parser.add_argument('--as_stored', action='store_true',
                      help='built-in faces at their stored random position, '
                      'size and tilt (default: re-rendered upright and '
                      'centred, like the paper\'s frontal-pose dogs)')
  parser.add_argument('--placements', type=int, choices=(1, 9),
                      help='built-in frontal faces: measure each set at 9 '
                      'places (the default: moved by one spacing of the top '
                      'conv layer\'s units either way along each axis), or '
                      'at the image centre alone (1)')
  parser.add_argument('--num_images', type=options.positive, default=40,
                      help='built-in images to draw the sets from')
  parser.add_argument('--set_size', type=options.positive, default=5,
                      help='images per set (the paper: 5)')
  parser.add_argument('--num_sets', type=options.positive, default=10,
                      help='seeded draws of the set, pairs pooled')
  parser.add_argument('--layers', nargs='+', metavar='LAYER',
                      help='feature layers (default: the last conv and the '
                      'top hidden layer, the paper\'s 5 and 7)')
  parser.add_argument('--seed', type=int, default=0)


def correspondence_command(args: argparse.Namespace, run,
                           out_dir: pathlib.Path) -> list:
  """ZF Table 1: sign consistency of the feature change when the same part
  is masked in different images, against random masks on the object.
  Prints the table; writes correspondence.csv, correspondence.txt and
  correspondence.png (ZF Fig. 8: the masks on the first images)."""
  # pylint: disable=g-import-not-at-top
  from zfjax.analyses import correspondence
  from zfjax.figures import grids, tables
  # pylint: enable=g-import-not-at-top
  movable = not (args.parts_file or args.as_stored)
  if args.placements == 9 and not movable:
    raise ZfjaxError('--placements 9 moves the built-in frontal faces; your '
                     'images (--parts_file) and the faces as stored '
                     '(--as_stored) are measured where they are')
  if args.parts_file:
    data = correspondence.load_part_file(args.parts_file, run.preprocessing,
                                         mask_size=args.mask_size)
    num_sets = 1 if len(data.images) == args.set_size else args.num_sets
    placed = [data]
  else:
    # Redrawn by the generator: no data set is read.
    faces = dict(class_names=args.classes, split=args.split,
                 num_images=args.num_images, parts=args.parts)
    if movable and args.placements != 1:
      # At one place alone Delta follows where the parts sit in the frame
      # (correspondence's docstring).
      placed, data = correspondence.placed_faces(
          run.config, run.preprocessing, run.spec, **faces)
    else:
      data = correspondence.builtin_faces(
          run.config, run.preprocessing, frontal=movable, **faces)
      placed = [data]
    num_sets = args.num_sets
  table = correspondence.correspondence_table(
      run.params, run.spec, placed, layers=args.layers,
      set_size=args.set_size, num_sets=num_sets, seed=args.seed)
  effect = correspondence.mask_effects(run.params, run.spec, data)
  # ZF Fig. 8: what the table masks, on the first images (centred).
  views, names = correspondence.masked_views(data, seed=args.seed)
  cells = grids.upscale(run.preprocessing.to_display(views),
                        grids.display_factor(views.shape[2], 96))
  figure = grids.headed_rows(cells, list(names))
  text = (tables.format_correspondence(table) + '\n\n'
          + tables.format_mask_effects(effect, run.class_names))
  if not args.parts_file:
    # Which classes the sets mix, so one breed and several read apart.
    counts = collections.Counter(data.labels.tolist())
    text = (('Frontal faces of ' if movable else 'Faces of ') + ', '.join(
        f'{run.class_names[c]} ({n})' for c, n in sorted(counts.items()))
            + '\n\n' + text)
  print(text)
  caption = (f'ZF Fig. 8: the masks of Table 1 on the first {len(views)} '
             f'of its {len(data.images)} images (each set measured '
             + (f'at {len(placed)} places, ' if len(placed) > 1 else '')
             + 'random masks drawn anew for each)')
  return [pathlib.Path(tables.write_correspondence_csv(
      out_dir / 'correspondence.csv', table)),
          pathlib.Path(grids.write_png(out_dir / 'correspondence.png', figure,
                                       caption)),
          pathlib.Path(tables.write_text(out_dir / 'correspondence.txt',
                                         text + '\n'))]
