"""zfjax: Zeiler & Fergus's ZFNet and its AlexNet baseline in JAX.

Modules: `specs` (layer tables), `layers` (pure building blocks), `models`
(forward pass and trace), `input_pipeline` (TFDS data), `deconv`
(projections to pixel space), `occlusion`, `invariance`, `correspondence`,
`convert` (torchvision's pretrained AlexNet), `flax_module` (any spec as a
Flax linen module), `summary` (per-layer table of a spec), `host_memory`
(glibc told to keep freed memory for XLA's CPU programs), `xla_cpu` (XLA's
CPU convolutions from Eigen).
"""
