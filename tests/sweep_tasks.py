"""Module-level task functions for tests/test_sweep.py (importable by worker processes)."""

import os
import signal
import time
from pathlib import Path

import numpy as np


def square(x: float, sleep: float = 0.0, log: str | None = None) -> tuple[dict, dict]:
    """A task: returns x^2; appends its pid to ``log`` (one line per execution) to count runs."""
    if sleep:
        time.sleep(sleep)
    if log:
        with open(log, "a") as f:
            f.write(f"{x} {os.getpid()}\n")
    return {"y": np.array([x * x])}, {"x": x}


def die_once(
    x: float, marker: str, sleep: float = 0.0, log: str | None = None
) -> tuple[dict, dict]:
    """Like :func:`square`, but the first execution kills its own worker process (SIGKILL) mid-task."""
    m = Path(marker)
    if not m.exists():
        m.write_text("killed")
        time.sleep(sleep)
        os.kill(os.getpid(), signal.SIGKILL)
    return square(x, sleep, log)


def fail(x: float) -> tuple[dict, dict]:
    raise ValueError(f"task {x} failed on purpose")
