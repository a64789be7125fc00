"""The numba kernels of the geometry (row normalisation) and the helpers every kernel module uses:
the compile options (``_jit``), serial/parallel twins (``_serial_and_parallel``) and :func:`pick`.

The field's kernels (:mod:`particles.field.kernels`) and the stepping kernels
(:mod:`particles.solvers.kernels`) build on these. Each kernel has a plain-numpy twin of the same
name in ``tests/naive.py``.
"""

from __future__ import annotations

import types as pytypes

import numpy as np
from numba import njit, prange

from .. import config

_jit = dict(cache=config.CACHE, fastmath=set(config.FASTMATH))

#: below this many elements a parallel kernel's launch cost (~0.1 ms with workqueue) outweighs its gain
PARALLEL_MIN_WORK = 1 << 16


def _serial_and_parallel(fn):
    """Compile ``fn`` twice: serial (``fn.serial``, prange runs as range; releases the GIL so tiles
    can run on several Python threads) and parallel (the result).

    Call :func:`pick` to choose by the amount of work.
    """
    par = njit(parallel=True, **_jit)(fn)
    # The twin must be a distinct function: numba's on-disk cache is keyed by the function's
    # qualified name and signature, not by its flags, so compiling ``fn`` twice would let the serial
    # twin load the parallel machine code (which the workqueue layer aborts on from several threads).
    twin = pytypes.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__
    )
    twin.__qualname__ = fn.__qualname__ + "_serial"
    twin.__doc__ = fn.__doc__
    par.serial = njit(nogil=True, **_jit)(twin)
    return par


def pick(kernel, work: int):
    """The parallel kernel for large work, its serial twin for small work."""
    return kernel if work >= PARALLEL_MIN_WORK else kernel.serial


@_serial_and_parallel
def _normalize_rows(x):
    """x_i <- x_i / |x_i| in place."""
    n, d = x.shape
    for i in prange(n):
        s = 0.0
        for k in range(d):
            s += x[i, k] * x[i, k]
        s = 1.0 / np.sqrt(s)
        for k in range(d):
            x[i, k] *= s


_normalize_rows_serial = _normalize_rows.serial
