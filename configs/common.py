"""Defaults shared by every config: the paper's ImageNet training (ZF §3).

Not a config to run by itself; the runnable ones start from `get_config()`
and change what differs. Every key the trainer, the data pipeline and the
analyses read is declared, with its meaning, in the library
(`zfjax/training/defaults.py`), so that a misspelt `--config.key=...` is an
error (configs are locked) and the library needs no file from here.
"""

import ml_collections

from zfjax.training import defaults

def get_config() -> ml_collections.ConfigDict:
  return defaults.base_config()


def ablation(base: ml_collections.ConfigDict,
             model: str) -> ml_collections.ConfigDict:
  """`base` with another architecture (ZF Table 3 trains each from scratch
  with the base's settings)."""
  base.model = model
  return base
