"""The paper's analyses as pure functions of params and arrays: deconvnet
projections, top-k scans, occlusion (and its incremental form), invariance,
correspondence, per-layer features and the transfer protocols.

May import: `zfjax.networks`, `zfjax.data`, `zfjax.training` (the transfer
protocols train runs), `zfjax.errors`, `zfjax.progress`; never `figures`.
"""
