"""zfjax: Zeiler & Fergus's ZFNet and its AlexNet baseline in JAX.

Modules: `specs` (layer tables), `layers` (pure building blocks), `models`
(forward pass and trace), `input_pipeline` (TFDS data), `deconv`
(projections to pixel space), `occlusion`, `invariance`, `correspondence`.
"""
