"""The networks: layer tables (specs), pure layers, the forward pass and its
trace, the Flax module, per-layer summaries and the torchvision converter.

May import: `zfjax.errors` only. Reads no environment variable and no process
setting (those are `zfjax.runtime`'s, set by the entry points).
"""
