"""scipy's adaptive solvers on the flattened state (n d,), stepped one step at a time.

LSODA is told that the Jacobian is banded with zero bandwidth and BDF/Radau get a block-diagonal
sparsity pattern (one d x d block per particle): otherwise they would form a dense (n d) x (n d)
matrix. The field still couples all particles; these patterns only shape the Newton iterations.

A solver is resumed from the state :func:`particles.solvers.checkpoint.solver_state` took after a
step (``make_solver(..., state=...)``): made at that time and state, with that step size, and its
constructor's field evaluation answered by the stored value (not evaluated again, not counted). For
the explicit Runge-Kutta methods (RK45, RK23, DOP853) this is their whole state between steps, so
the resumed run takes the very steps of the uninterrupted one; LSODA, BDF and Radau also carry a
history (Nordsieck array, Jacobian, Newton iterates) that scipy does not let us set.
"""

from __future__ import annotations

import numpy as np
import scipy.integrate as si
import scipy.sparse as sp

#: the methods whose state between steps is (t, y, f, h_abs): resumed bit for bit
EXACT_RESUME = ("RK45", "RK23", "DOP853")


def make_solver(
    scipy_name: str, fun, t0: float, y0: np.ndarray, t1: float, rtol, atol, n, d, state=None
):
    """A ``scipy.integrate.OdeSolver`` for ``fun(t, y)`` from (t0, y0) towards t1, or, given a
    ``state`` (a dict with ``t``, ``y``, ``f``, ``h_abs``), from that state."""
    extra = {}
    if scipy_name == "LSODA":
        extra = {"lband": 0, "uband": 0}
    elif scipy_name in ("BDF", "Radau"):
        extra = {"jac_sparsity": sp.block_diag([np.ones((d, d))] * n, format="csc")}
    cls = getattr(si, scipy_name)
    if state is None:
        return cls(fun, t0, y0, t1, rtol=rtol, atol=atol, vectorized=False, **extra)
    t, y, h = float(state["t"]), np.array(state["y"], dtype=np.float64), state.get("h_abs")
    stored = [] if state.get("f") is None else [np.array(state["f"], dtype=np.float64)]

    def resumed(tt, yy):  # the constructor's evaluation at (t, y): the stored value
        if stored and tt == t:
            return stored.pop()
        return fun(tt, yy)

    if h is not None:
        extra["first_step"] = min(float(h), abs(t1 - t))
    solver = cls(resumed, t, y, t1, rtol=rtol, atol=atol, vectorized=False, **extra)
    stored.clear()
    if h is not None and hasattr(solver, "h_abs"):
        solver.h_abs = float(h)
    return solver
