"""scipy's adaptive solvers on the flattened state (n d,), stepped one step at a time.

LSODA is told that the Jacobian is banded with zero bandwidth and BDF/Radau get a block-diagonal
sparsity pattern (one d x d block per particle): otherwise they would form a dense (n d) x (n d)
matrix. The field still couples all particles; these patterns only shape the Newton iterations.

A solver is resumed from the state :func:`particles.solvers.checkpoint.solver_state` took after a
step (``make_solver(..., state=...)``): made at that time and state, with that step size, and its
constructor's field evaluations answered by the stored value (not evaluated again, not counted).
For the explicit Runge-Kutta methods (RK45, RK23, DOP853) this is their whole state between steps.
BDF and Radau also carry a history between steps, which :func:`internal_state` takes (arrays and
numbers) and :func:`make_solver` puts back onto the new solver: BDF's difference array, order and
equal-step count, Radau's previous step and error, Newton iterates and dense output, and for both
the Jacobian, the matrices their LU factorisations were made of (factorised again on resume: the
same matrix gives the same factors) and the numerical Jacobian's step factors. So a resumed run of
any of these methods takes the very steps of the uninterrupted one, bit for bit.

LSODA, in the scipy releases that translated ODEPACK to C (1.17 here), keeps its whole state
between steps in arrays of ``scipy.integrate.ode``'s integrator: the work arrays ``rwork`` and
``iwork`` (Nordsieck history, error weights, Jacobian and LU factors, counters) and
``state_doubles`` and ``state_ints``, which replace ODEPACK's common blocks (step size ratios,
order, method in use); with ``istate`` = 2 (continuing) they are copied after every step and
written back on resume, bit for bit too. scipy's earlier Fortran LSODA keeps part of its state in
those common blocks, out of reach from Python: there it resumes from (t, y, h) only, within its
tolerances.
"""

from __future__ import annotations

import numpy as np
import scipy.integrate as si
import scipy.sparse as sp

from ..errors import ParticlesError

#: the attributes of scipy's BDF and Radau read by their next step (besides t, y, h_abs, J, the
#: LU factorisations and the dense output, handled apart)
_NUMBERS = {
    "BDF": ("order", "n_equal_steps", "h_abs_old", "error_norm_old", "njev", "nlu"),
    "Radau": ("h_abs_old", "error_norm_old", "current_jac", "njev", "nlu", "t_old"),
}
_ARRAYS = {"BDF": ("D", "jac_factor"), "Radau": ("jac_factor", "y_old", "Z")}
#: the LU factorisations each keeps between steps
_LUS = {"BDF": ("LU",), "Radau": ("LU_real", "LU_complex")}
#: LSODA's arrays (on ``scipy.integrate.ode``'s integrator), written into by every step
_LSODA = ("rwork", "iwork", "state_doubles", "state_ints")


def _lsoda_in_arrays() -> bool:
    try:
        from scipy.integrate._ode import lsoda

        made = lsoda()  # its work arrays are made when it starts; these replace common blocks
        return all(isinstance(getattr(made, k, None), np.ndarray) for k in _LSODA[2:])
    except Exception:  # noqa: BLE001  (another scipy's private layout)
        return False


#: the methods whose whole state between steps is stored: resumed bit for bit
EXACT_RESUME = ("RK45", "RK23", "DOP853", "BDF", "Radau") + ("LSODA",) * _lsoda_in_arrays()


def make_solver(
    scipy_name: str, fun, t0: float, y0: np.ndarray, t1: float, rtol, atol, n, d, state=None
):
    """A ``scipy.integrate.OdeSolver`` for ``fun(t, y)`` from (t0, y0) towards t1, or, given a
    ``state`` (a dict with ``t``, ``y``, ``f``, ``h_abs`` and, for LSODA, BDF and Radau,
    ``internal``: :func:`internal_state`), from that state."""
    extra = {}
    if scipy_name == "LSODA":
        extra = {"lband": 0, "uband": 0}
    elif scipy_name in ("BDF", "Radau"):
        extra = {"jac_sparsity": sp.block_diag([np.ones((d, d))] * n, format="csc")}
    cls = getattr(si, scipy_name)
    if state is None:
        return _recording(cls(fun, t0, y0, t1, rtol=rtol, atol=atol, vectorized=False, **extra))
    t, y, h = float(state["t"]), np.array(state["y"], dtype=np.float64), state.get("h_abs")
    f = None if state.get("f") is None else np.array(state["f"], dtype=np.float64)
    internal = state.get("internal") if scipy_name in (*_NUMBERS, "LSODA") else None
    if internal is not None and f is None:  # BDF keeps no field value: whatever it makes of
        f = np.zeros_like(y)  # its constructor's evaluations is replaced by the stored history
    made = {"done": False}

    def resumed(tt, yy):  # the constructor's evaluations: the stored value, not counted
        if not made["done"] and f is not None and (internal is not None or tt == t):
            if internal is None:
                made["done"] = True  # one evaluation, at (t, y)
            return f.copy()
        return fun(tt, yy)

    if h is not None:
        extra["first_step"] = min(float(h), abs(t1 - t))
    solver = cls(resumed, t, y, t1, rtol=rtol, atol=atol, vectorized=False, **extra)
    made["done"] = True
    if h is not None and hasattr(solver, "h_abs"):
        solver.h_abs = float(h)
    solver = _recording(solver)  # before the factorisations are made again
    if internal is not None and scipy_name == "LSODA":
        _restore_lsoda(solver, internal)
    elif internal is not None:
        _restore(solver, scipy_name, internal)
    return solver


def _recording(solver):
    """``solver`` with its LU factorisation recording the matrices it factorises (the last two:
    Radau's real and complex pair), so :func:`internal_state` can store them."""
    if not hasattr(solver, "lu"):
        return solver
    lu, made = solver.lu, []

    def recorded(A):
        LU = lu(A)
        made.append((LU, A))
        del made[:-2]
        return LU

    solver.lu = recorded
    solver._particles_factorised = made
    return solver


def internal_state(solver) -> dict | None:
    """LSODA's, BDF's or Radau's state between steps besides (t, y, f, h_abs), as numbers, arrays
    and sparse matrices (None for the other methods); arrays the next step writes into are
    copied."""
    name = type(solver).__name__
    if name == "LSODA":
        integrator = solver._lsoda_solver._integrator
        if not _lsoda_arrays(integrator):
            return None
        out = {k: np.array(getattr(integrator, k)) for k in _LSODA}
        out["istate"] = int(integrator.call_args[3])
        return out
    if name not in _NUMBERS:
        return None
    out = {k: _plain(getattr(solver, k)) for k in _NUMBERS[name]}
    for k in _ARRAYS[name]:
        a = getattr(solver, k)
        out[k] = None if a is None else np.array(a)
    out["J"] = solver.J
    made = getattr(solver, "_particles_factorised", [])
    for k in _LUS[name]:
        LU = getattr(solver, k)
        out[k] = None if LU is None else next(A for L, A in made if L is LU)
    return out


def _plain(v):
    if v is None or isinstance(v, bool | np.bool_):
        return None if v is None else bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    return float(v)


def _bad() -> ParticlesError:
    return ParticlesError("corrupted solver state in the checkpoint")


def _shapes(solver, name: str) -> dict:
    """The shape each stored array of ``name`` must have (``solver.n``: the state's size)."""
    N = solver.n
    if name == "BDF":
        return {"D": solver.D.shape, "jac_factor": (N,)}
    return {"jac_factor": (N,), "y_old": (N,), "Z": (3, N)}


def _restore(solver, name: str, internal: dict) -> None:
    """Put :func:`internal_state`'s ``internal`` onto the freshly made ``solver`` (checked: a
    damaged state is a :class:`ParticlesError`, not a failure inside scipy)."""
    try:
        numbers = {k: internal[k] for k in _NUMBERS[name]}
        arrays = {k: internal[k] for k in _ARRAYS[name]}
        matrices = {k: internal[k] for k in ("J", *_LUS[name])}
    except (KeyError, TypeError):
        raise _bad() from None
    for k, v in numbers.items():
        if k == "current_jac":
            good = type(v) is bool
        elif k in ("order", "n_equal_steps", "njev", "nlu"):
            good = type(v) is int
        else:
            good = v is None or type(v) in (float, int)
        if not good:
            raise _bad()
    if name == "BDF" and not 1 <= numbers["order"] <= solver.D.shape[0] - 3:
        raise _bad()
    shapes = _shapes(solver, name)
    if name == "BDF" and arrays["D"] is None:
        raise _bad()
    for k, v in arrays.items():
        if v is not None and (
            not isinstance(v, np.ndarray) or v.dtype != np.float64 or v.shape != shapes[k]
        ):
            raise _bad()
    for k, v in matrices.items():
        if v is None and k != "J":  # no factorisation kept
            continue
        if not sp.issparse(v) or v.shape != (solver.n, solver.n):
            raise _bad()
    for k, v in numbers.items():
        setattr(solver, k, v)
    for k, v in arrays.items():
        setattr(solver, k, None if v is None else np.array(v))
    solver.J = matrices["J"]
    for k in _LUS[name]:
        A = matrices[k]
        try:
            setattr(solver, k, None if A is None else solver.lu(A))
        except (RuntimeError, ValueError, TypeError):  # SuperLU: a singular or damaged matrix
            raise _bad() from None
    solver.njev, solver.nlu = numbers["njev"], numbers["nlu"]
    if name == "Radau":
        solver.sol = None if solver.Z is None else solver._compute_dense_output()


def _restore_lsoda(solver, internal: dict) -> None:
    """Write LSODA's stored arrays into the freshly made ``solver``'s integrator (in place: the
    C code is handed these very arrays)."""
    integrator = solver._lsoda_solver._integrator
    if not _lsoda_arrays(integrator):  # resumed from (t, y, h), within its tolerances
        return
    try:
        stored = {k: internal[k] for k in (*_LSODA, "istate")}
    except (KeyError, TypeError):
        raise _bad() from None
    for k in _LSODA:
        a, v = getattr(integrator, k), stored[k]
        if not isinstance(v, np.ndarray) or a.shape != v.shape or a.dtype != v.dtype:
            raise _bad()
    if stored["istate"] != 2:  # continuing an integration (1 would start one over)
        raise _bad()
    for k in _LSODA:
        getattr(integrator, k)[...] = stored[k]
    integrator.call_args[3] = integrator.istate = 2
    solver.njev = solver.nlu = int(integrator.iwork[12])


def _lsoda_arrays(integrator) -> bool:
    """Whether scipy keeps LSODA's whole state in arrays (its C translation of ODEPACK); its
    earlier Fortran LSODA keeps part of it in common blocks, out of reach."""
    return all(isinstance(getattr(integrator, k, None), np.ndarray) for k in _LSODA)
