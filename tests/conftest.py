import os
import signal

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def default_sigint_handler():
    """Python's own SIGINT handler in every test: an earlier test's library (a Dask cluster, a
    progress bar) may leave another handler installed, and the interrupt tests inject Ctrl-C."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)
