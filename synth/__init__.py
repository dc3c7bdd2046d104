"""synth: a data foundry for critic, reward and self-correcting models.

`synth.load(name, version=None)` returns a built version as a `datasets.Dataset`.
"""

from synth import native as _native

_native.install()  # the compiled CPU-bound modules, where built from this code (synth/native.py)


def load(name, version=None, table=None, data_dir=None, split=None):
    """A built version's table as a `datasets.Dataset` (latest version, default config, all splits,
    unless given; `split="test"` reads one held-out split)."""
    from synth.access import load as _load

    return _load(name, version, table, data_dir, split)
