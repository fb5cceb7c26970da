"""Any spec as a Flax linen module whose params are the zfjax params tree.

  net = ConvNet(models.get_spec('zfnet'))
  variables = net.init(jax.random.PRNGKey(0), images)  # images (N, S, S, 3)
  logits = net.apply(variables, images)                  # == models.apply
  logits = net.apply(variables, images, train=True,
                     rngs={'dropout': key})              # dropout on

`variables['params']` is exactly the tree of `models.init_params` ({'conv1':
{'kernel', 'bias'}, ..., 'fc8': {...}}), so a zfjax checkpoint is a Flax
variable dict and back, and the module drops into a Flax model as a
submodule (its params then sit under its name). The forward pass is
`models.apply` itself: the module declares the parameters and calls the one
forward of the project, so the two cannot drift apart.

Why linen and not nnx: linen modules are stateless descriptions, parameters
live in an explicit pytree passed to `apply` -- the project's design (pure
functions of a params pytree, jit/vmap/shard_map over it). An nnx module
keeps its parameters as mutable state inside Python objects, which would
have to be split back into a pytree for every jitted analysis here.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from zfjax.networks import models
from zfjax.networks.specs import AdaptiveAvgPool, Dense, Spec


class ConvNet(nn.Module):
  """The convnet of `spec` (see the module docstring).

  Initialisation is `models.init_params` at the size of the images passed to
  `init`: weights N(0, weight_std^2) (He-scaled when None), biases the spec's
  `bias_init` unless `bias_value` is given. Call with NHWC float32
  mean-subtracted pixel images; returns logits (N, num_classes).
  """
  spec: Spec
  weight_std: float | None = 0.01
  bias_value: float | None = None

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    fresh = {}

    def init(rng: jax.Array, name: str) -> dict[str, jax.Array]:
      # One `models.init_params` for all layers, from the first layer's key.
      if not fresh:
        fresh.update(models.init_params(
            rng, self.spec, images.shape[1], weight_std=self.weight_std,
            bias_value=self.bias_value))
      return fresh[name]

    params = {name: self.param(name, init, name)
              for name in self.spec.conv_names + self.spec.dense_names}
    dropout = any(isinstance(l, (Dense, AdaptiveAvgPool)) and l.dropout > 0
                  for l in self.spec.layers)
    rng = self.make_rng('dropout') if train and dropout else None
    return models.apply(params, images, self.spec, train=train, rng=rng)
