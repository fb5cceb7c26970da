"""Data: the TFDS input pipeline and its one `DataSource` per config, the
built-in procedural data set, image files, device-side preprocessing and
prefetching.

May import: `zfjax.errors`, `zfjax.progress`. Nothing here knows a network.
"""
