"""Training: the data-parallel trainer, checkpoints and workdirs (and the
trained run they load into), several hosts, the learning-rate schedule,
metrics, ensembles and transfer runs.

May import: `zfjax.networks`, `zfjax.data`, `zfjax.errors`, `zfjax.progress`.
"""
