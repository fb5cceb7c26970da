"""TensorFlow as the data code uses it: `from zfjax.data.tf_setup import tf`.

tf.data only reads and decodes images, so TensorFlow is kept off the
accelerators (they are JAX's) and its Python warnings are silenced (TFDS's
deprecated tf.data calls warn on every first read). Its C++ logging is
quieted by `zfjax.runtime.configure()` before this first import.
`quiet_tfds()` silences TFDS while it prepares a set that downloads
nothing (the built-in one), whose messages would only puzzle.
"""

import contextlib
import io

from absl import logging
import tensorflow as tf
from tensorflow_datasets.core.utils import tqdm_utils

tf.get_logger().setLevel('ERROR')
try:
  tf.config.set_visible_devices([], 'GPU')
except RuntimeError:
  pass  # TensorFlow was initialised before this import; its setting stands.

__all__ = ['tf', 'quiet_tfds']


@contextlib.contextmanager
def quiet_tfds():
  """TFDS without its messages, progress bars and absl warnings ("Downloading
  and preparing dataset Unknown size", "Variant folder ... has no
  dataset_info.json"), restored after; the caller says what happens."""
  # pylint: disable=protected-access
  verbosity, bars = logging.get_verbosity(), tqdm_utils._active
  logging.set_verbosity(logging.ERROR)
  tqdm_utils.display_progress_bar(False)
  try:
    # TFDS prints its two lines with termcolor, to stdout.
    with contextlib.redirect_stdout(io.StringIO()):
      yield
  finally:
    logging.set_verbosity(verbosity)
    tqdm_utils.display_progress_bar(bars)
