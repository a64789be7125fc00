"""The one exception type the library raises for bad input (the CLI turns it into a one-line
error), and the conversion of user arrays that raises it."""

from __future__ import annotations

import numpy as np


class ParticlesError(ValueError):
    """Bad input or a bad file: the message says what is wrong and, where it can, what to do."""


def real_array(a, name: str, shape: str = "", *, finite: bool = False, copy: bool = False):
    """``a`` as a C-contiguous float64 array (a new one with ``copy``), or a :class:`ParticlesError`
    naming ``name`` when ``a`` is not numeric, is complex (numpy would drop the imaginary part
    silently) or, with ``finite``, has NaN or infinite entries. ``shape`` completes the message,
    e.g. ``"(n, d)"``."""
    what = f"a real numeric array of shape {shape}" if shape else "a real numeric array"
    if np.iscomplexobj(a) or (
        isinstance(a, (list, tuple)) and any(isinstance(v, complex) for v in np.ravel(a))
    ):
        raise ParticlesError(f"{name} must be {what}; got complex numbers")
    try:
        arr = np.array(a, dtype=np.float64, order="C", copy=True if copy else None)
    except (TypeError, ValueError):
        raise ParticlesError(f"{name} must be {what}") from None
    if finite and not np.all(np.isfinite(arr)):
        raise ParticlesError(f"{name} has non-finite entries")
    return arr
