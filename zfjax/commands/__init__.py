"""The command lines: `train.py`, `visualize.py` and `python -m zfjax COMMAND`.

Each command parses its options, builds what it needs once (a data source,
a trained run), calls the library and writes its files; every bad input
becomes one `error:` line and exit status 2. The process set-up
(`zfjax.runtime.configure()`) is the entry points' first call, not theirs.

May import: everything in zfjax.
"""
