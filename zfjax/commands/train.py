r"""`train.py`: train a convnet, or evaluate an ensemble of trained ones.

  python train.py --config configs/synthetic.py --workdir workdir/synthetic
  python train.py --config configs/zfnet_imagenet.py --workdir DIR \
      --config.data_dir=... --config.batch_size=256   # dotted overrides
  python train.py --ensemble workdir/a,workdir/b      # ZF Table 2

Rerunning a training command resumes from the newest checkpoint in its
workdir. Each config's docstring gives its command, time and result.

Several processes (hosts): the same command in each, with
--config.distributed=True, a shared workdir and JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID set (or a cluster JAX detects); see the
docs/training.md, "Several hosts".
"""

import logging as std_logging
import re
import signal
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from zfjax.errors import ZfjaxError

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Training config file (configs/*.py).')
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for checkpoints and metrics; rerunning with '
    'the same workdir resumes.')
_ENSEMBLE = flags.DEFINE_list(
    'ensemble', None, 'Workdirs of trained runs whose averaged softmax is '
    'evaluated on the validation split, instead of training.')
_TEN_CROP = flags.DEFINE_bool(
    'ten_crop', True, 'With --ensemble: average over 10 crops per image '
    '(corners, centre, mirrors) instead of the centre crop.')


def _fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def _flag_error(e: Exception) -> str:
  """One line for an exception raised while parsing the flags and loading
  the config file."""
  text = str(e).replace('\\n', '\n')
  lines = [l.strip() for l in text.splitlines() if l.strip()]
  suggestion = re.search(r'Did you mean "(\w+)" instead of "(\w+)"', text)
  if suggestion:
    return (f'unknown config key {suggestion[2]!r}: did you mean '
            f'{suggestion[1]!r}? (configs are locked; configs/common.py lists '
            f'every key)')
  if isinstance(e, (KeyError, AttributeError)):
    return (f'unknown config key {lines[0].strip(chr(39) + chr(34))!r} '
            f'(configs are locked; configs/common.py lists every key)')
  if isinstance(e, OSError):
    if e.filename:
      return f'cannot load the config file {e.filename}: {e.strerror}'
    return f'cannot load the config file: {lines[-1]}'
  if 'Traceback' in text:
    # get_config() itself raised: its message is the last line.
    return 'bad config: ' + re.sub(r'^\w+: ', '', lines[-1])
  return '; '.join(lines) or type(e).__name__


_HELP = ('--help', '-h', '-?', '--helpshort', '--helpfull', '--helpxml')


def _parse_flags(argv: list[str]) -> list[str]:
  # A misspelt --config.key or a broken config file surfaces as an exception
  # from flag parsing; absl would print a traceback or a usage dump.
  try:
    return flags.FLAGS(argv)
  except SystemExit as e:
    # absl ends --help with status 1; it answered what was asked.
    if e.code == 1 and any(a in _HELP for a in argv[1:]):
      sys.exit(0)
    raise
  except Exception as e:  # pylint: disable=broad-exception-caught
    _fail(_flag_error(e))
  raise AssertionError('unreachable')


def _config():
  """The parsed config, or None; a config file that failed to load raises
  only when first used, so use it here."""
  config = _CONFIG.value
  try:
    if config is not None:
      config.get('model')
  except OSError as e:
    _fail(_flag_error(e))
  return config


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    _fail(f'unexpected arguments {argv[1:]}; flags take the form --name=value')
  # Our messages are for people; absl's default prefix is for log scrapers.
  # Orbax and TFDS log every file they touch at INFO: show their warnings
  # only, and zfjax's own progress.
  logging.get_absl_handler().setFormatter(
      std_logging.Formatter('%(asctime)s %(levelname)s %(message)s',
                            '%H:%M:%S'))
  logging.set_verbosity(logging.WARNING)
  std_logging.getLogger('zfjax').setLevel(std_logging.INFO)
  try:
    if _ENSEMBLE.value:
      if _config() is not None:
        _fail('--ensemble evaluates trained runs; leave out --config')
      from zfjax.training import ensemble  # pylint: disable=g-import-not-at-top
      result = ensemble.evaluate_ensemble(_ENSEMBLE.value,
                                          ten_crop=_TEN_CROP.value)
      print(ensemble.format_result(result))
      return
    config = _config()
    if config is None or not _WORKDIR.value:
      _fail('give --config=configs/NAME.py and --workdir=DIR (or '
            '--ensemble=DIR,DIR,...)')
    from zfjax.training import trainer  # pylint: disable=g-import-not-at-top
    result = trainer.train_and_evaluate(config, _WORKDIR.value)
    if result.stopped_by:
      # The conventional status of a process ended by that signal, so that
      # schedulers requeue it; the checkpoint is already saved.
      sys.exit(128 + signal.Signals[result.stopped_by].value)
  except ZfjaxError as e:
    _fail(str(e))


def run(argv: list[str] | None = None) -> None:
  """Parses `argv` (program name first; default sys.argv) with absl and
  trains; exits with the run's status."""
  app.run(main, argv=argv, flags_parser=_parse_flags)
