"""scipy's adaptive solvers on the flattened state (n d,), stepped one step at a time.

LSODA is told that the Jacobian is banded with zero bandwidth and BDF/Radau get a block-diagonal
sparsity pattern (one d x d block per particle): otherwise they would form a dense (n d) x (n d)
matrix. The field still couples all particles; these patterns only shape the Newton iterations.
"""

from __future__ import annotations

import numpy as np
import scipy.integrate as si
import scipy.sparse as sp


def make_solver(scipy_name: str, fun, t0: float, y0: np.ndarray, t1: float, rtol, atol, n, d):
    """A ``scipy.integrate.OdeSolver`` for ``fun(t, y)`` from (t0, y0) towards t1."""
    extra = {}
    if scipy_name == "LSODA":
        extra = {"lband": 0, "uband": 0}
    elif scipy_name in ("BDF", "Radau"):
        extra = {"jac_sparsity": sp.block_diag([np.ones((d, d))] * n, format="csc")}
    cls = getattr(si, scipy_name)
    return cls(fun, t0, y0, t1, rtol=rtol, atol=atol, vectorized=False, **extra)
