"""Small helpers of the ``claims(arrays, meta)`` functions of the figure scripts (figures/*.py), which
compute the numbers figures/README.md quotes from a figure's saved arrays (figures/claims.py
checks them against the README)."""

from __future__ import annotations

import math

import numpy as np


def first_time(t: np.ndarray, row: np.ndarray, level: float = 0.5) -> float:
    """First checkpoint time with row >= level (NaN if never): the P = level boundary."""
    hit = np.nonzero(row >= level)[0]
    return float(t[hit[0]]) if hit.size else float("nan")


def grid_index(values, x) -> int:
    """The index of ``x`` on the grid ``values`` (KeyError if it is not a grid point)."""
    i = int(np.argmin(np.abs(np.asarray(values, float) - x)))
    if not math.isclose(float(values[i]), x, rel_tol=0, abs_tol=1e-9):
        raise KeyError(f"{x} is not on the grid")
    return i


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table (header, separator, rows)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def sig(x: float, digits: int = 2) -> str:
    """x with ``digits`` significant digits: 0.15 / 3.5e-2 style."""
    if x >= 0.1:
        return f"{x:.{digits}f}"
    m, e = f"{x:.{digits - 1}e}".split("e")
    return f"{m}e{int(e)}"
