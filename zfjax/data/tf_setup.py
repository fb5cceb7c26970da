"""TensorFlow as the data code uses it: `from zfjax.data.tf_setup import tf`.

tf.data only reads and decodes images, so TensorFlow is kept off the
accelerators (they are JAX's) and its Python warnings are silenced (TFDS's
deprecated tf.data calls warn on every first read). Its C++ logging is
quieted by `zfjax.runtime.configure()` before this first import.
"""

import tensorflow as tf

tf.get_logger().setLevel('ERROR')
try:
  tf.config.set_visible_devices([], 'GPU')
except RuntimeError:
  pass  # TensorFlow was initialised before this import; its setting stands.

__all__ = ['tf']
