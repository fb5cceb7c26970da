"""`python -m zfjax COMMAND`: see `zfjax.commands.main`."""

from zfjax import runtime

runtime.configure()  # first: before numpy's, XLA's and TensorFlow's start

# pylint: disable=g-import-not-at-top,wrong-import-position
import sys

from zfjax.commands import main

sys.exit(main.main())
