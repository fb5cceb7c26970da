"""The one exception type that entry points turn into a one-line message."""


class ZfjaxError(Exception):
  """A user-facing error: bad input, missing data, broken config.

  The message is one line that says what is wrong and what to do.
  `train.py` and `visualize.py` print it without a traceback and exit 2.
  """
