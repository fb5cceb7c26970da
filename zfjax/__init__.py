"""zfjax: Zeiler & Fergus's ZFNet and its AlexNet baseline in JAX.

  import zfjax
  run = zfjax.load_run('workdir/synthetic')   # params, spec, preprocessing, class names

The library, by role (each folder's docstring says what it may import;
imports point down only):

  networks/  layer tables (specs), pure layers, the forward pass and its trace
  data/      the TFDS input pipeline (one DataSource per config), the built-in
             data set, image files as model inputs
  training/  the data-parallel trainer, checkpoints, workdirs, several hosts,
             transfer runs
  analyses/  deconvnet, top-k, occlusion, invariance, correspondence, per-layer
             features, transfer protocols: pure functions of params and arrays
  figures/   image grids, the paper's plots, CSV and text tables
  commands/  train.py, visualize.py and `python -m zfjax COMMAND`
  runtime    the process set-up every entry point makes first

Importing `zfjax` imports nothing heavy; `load_run` loads on first use.
"""

__version__ = '0.2.0'


def __getattr__(name):
  # `zfjax.load_run` without importing JAX and Orbax at `import zfjax`.
  if name in ('load_run', 'TrainedRun'):
    from zfjax.training import workdirs  # pylint: disable=g-import-not-at-top
    return getattr(workdirs, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
