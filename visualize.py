r"""Figures of a trained run: see `python visualize.py --help`.

  python visualize.py --workdir workdir/synthetic top9         # ZF Fig. 2
  python visualize.py --workdir DIR occlusion --files dog.jpg  # ZF Fig. 7

The commands are `zfjax/commands/visualize.py` (also `python -m zfjax
visualize`).
"""

import sys

if __name__ == '__main__':
  from zfjax import runtime
  runtime.configure()  # first: before numpy's, XLA's and TensorFlow's start
  # pylint: disable-next=g-import-not-at-top
  from zfjax.commands import visualize
  sys.exit(visualize.main())
