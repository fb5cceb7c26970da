"""TFDS builder of Caltech-256 from its official archive (manual download).

Griffin, Holub and Perona's set: 30,607 images in 256 object categories plus
a clutter category, distributed as `256_ObjectCategories.tar`, whose members
are `256_ObjectCategories/NNN.name/NNN_XXXX.jpg` (NNN from 001 to 257, 257
being `clutter`). Put the tar, as it is, in the TFDS manual directory
(`<data_dir>/downloads/manual/` or `--manual_dir`) and run

    python -m zfjax prepare --dataset=caltech256 [--data_dir=DIR]

Nothing is downloaded. One split, `train`, holds every image; the transfer
protocols draw their training and test images per class from it
(`training.transfer.sample_split`), as the paper does. Features per example:
  image      the JPEG as stored (any size; the pipeline takes the central
             square)
  label      NNN - 1 in [0, 257); names are the archive's directory names
             without the number ('ak47', ..., 'clutter')
  file_name  the member's path inside the archive
A few files in the archive are not JPEGs (e.g. a stray `greg` directory or
`RENAME2`): only `*.jpg` members under a `NNN.name/` directory are read.
"""

from __future__ import annotations

import io
import os
import re

import tensorflow_datasets as tfds

ARCHIVE = '256_ObjectCategories.tar'
NUM_CLASSES = 257
_MEMBER = re.compile(r'(?:^|/)(\d{3})\.([^/]+)/[^/]+\.jpe?g$', re.IGNORECASE)


def parse_member(path: str) -> tuple[int, str] | None:
  """(label, class name) of an archive member, or None if it is not one of
  the data set's images."""
  match = _MEMBER.search(path.replace(os.sep, '/'))
  if match is None:
    return None
  number = int(match[1])
  if not 1 <= number <= NUM_CLASSES:
    return None
  return number - 1, match[2]


class Caltech256(tfds.core.GeneratorBasedBuilder):
  """Caltech-256 from 256_ObjectCategories.tar in the manual directory."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'From the official tar, one split.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f'Download {ARCHIVE} (1.2 GB) from '
      'https://data.caltech.edu/records/nyy15-4j048 and put it, as it is, in '
      'the manual directory.')

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='Caltech-256 object categories (256 + clutter).',
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(encoding_format='jpeg'),
            'label': tfds.features.ClassLabel(num_classes=NUM_CLASSES),
            'file_name': tfds.features.Text(),
        }),
        supervised_keys=('image', 'label'),
        homepage='https://data.caltech.edu/records/nyy15-4j048',
    )

  def _split_generators(self, dl_manager):
    path = os.path.join(dl_manager.manual_dir, ARCHIVE)
    names = [f'{n + 1:03d}' for n in range(NUM_CLASSES)]
    for member, _ in dl_manager.iter_archive(path):
      parsed = parse_member(member)
      if parsed is not None:
        names[parsed[0]] = parsed[1]
    self.info.features['label'].names = names
    return {'train': self._generate_examples(dl_manager.iter_archive(path))}

  def _generate_examples(self, members):
    for member, fobj in members:
      parsed = parse_member(member)
      if parsed is None:
        continue
      # Stored as they are (a few are greyscale): the pipeline decodes with
      # channels=3.
      yield member, {'image': io.BytesIO(fobj.read()), 'label': parsed[0],
                     'file_name': member}

