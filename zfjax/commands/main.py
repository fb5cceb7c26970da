"""`python -m zfjax COMMAND [options]`: every command line of the library.

  python -m zfjax train --config configs/synthetic.py --workdir DIR   # = train.py
  python -m zfjax visualize --workdir DIR top9                       # = visualize.py
  python -m zfjax prepare --dataset=imagenet2012                     # data, ahead of time
  python -m zfjax convert alexnet-owt-7be5be79.pth DIR               # torchvision's AlexNet
  python -m zfjax summary zfnet                                      # a spec's layer table
  python -m zfjax transfer caltech101 --from_workdir DIR --out DIR   # ZF Tables 4, 5, 7
  python -m zfjax layer_features --config ... --out DIR              # ZF Table 6

`python -m zfjax COMMAND --help` gives a command's options.
"""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

# Command -> its module; each has main(argv) -> exit status, except the
# absl-flag commands (train, layer_features), whose run(argv) parses
# argv[0]-first and exits.
COMMANDS = {
    'train': 'zfjax.commands.train',
    'visualize': 'zfjax.commands.visualize',
    'prepare': 'zfjax.commands.prepare',
    'convert': 'zfjax.commands.convert',
    'summary': 'zfjax.commands.summary',
    'transfer': 'zfjax.commands.transfer',
    'layer_features': 'zfjax.commands.layer_features',
}
_ABSL = ('train', 'layer_features')


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] in ('-h', '--help'):
    print(__doc__)
    return 0 if argv else 2
  name, rest = argv[0], argv[1:]
  if name not in COMMANDS:
    print(f'error: unknown command {name!r}; choose one of '
          f'{", ".join(COMMANDS)}', file=sys.stderr)
    return 2
  module = importlib.import_module(COMMANDS[name])
  if name in _ABSL:
    return module.run([f'python -m zfjax {name}'] + rest) or 0
  return module.main(rest)
