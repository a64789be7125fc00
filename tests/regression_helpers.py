"""Tolerances for comparing today's results with references stored on another machine.

The same code rounds differently on another CPU: OpenBLAS picks its GEMM kernels by CPU
(``OPENBLAS_CORETYPE``: Haswell and Zen, SkylakeX, Sandybridge, ... round some sums differently)
and numba compiles for the host (fused multiply-adds or not: ``NUMBA_CPU_NAME``). A field
evaluation may then differ by an ulp or so in each entry; each of a run's N steps adds such a
difference to the state, and a difference added at some time grows by at most G up to any later
saved time. So the stored and today's results differ by at most about

    tolerance = ULPS * eps * N * G * max(1, max |reference|)

with eps the dtype's machine epsilon, N the run's steps and G the run's amplification, measured
in the test itself: the run repeated from an initial state moved by DELTA (sup norm) in a random
direction, G = max |change of any output| / DELTA (at least 1: a difference made at the last step
is not damped). ULPS = 8 stands for the few roundings of one step.

Measured (tests/data/regression.npz and noisy_regression.npz against the code that wrote them),
largest difference of any array: 0 under Haswell and Zen; 1 eps under SkylakeX and Cooperlake;
31 eps under Sandybridge, Nehalem and Prescott (no FMA; the piecewise ``rk4`` run, whose
amplification G is largest); 34 eps with ``NUMBA_CPU_NAME=generic`` (numba without FMA). The
bounds: 179-1175 eps for the simulate references, 250-510 eps for the ensembles, 1450 eps for the
noisy set (benchmarks/RESULTS.md §6d).

It still catches a real change: the run from the moved initial state (a change of 1e-10) lies
more than ``SENSITIVITY`` tolerances away from the reference (:func:`assert_sensitive`).

Integer outputs (cluster counts) and statistics of them are compared exactly / to a few ulp: a
count changes only if a distance lies within a tolerance of its threshold (measured: never, under
all the kernels above).
"""

from __future__ import annotations

import os

import numpy as np

#: PARTICLES_REGRESSION_EXACT=1: compare bit for bit (ULPS = 0), to check that a change of code
#: moved no number, on a machine whose kernels wrote the references (OPENBLAS_CORETYPE=Haswell
#: or Zen, numba for the host): the measured differences above are 0 there
ULPS = 0 if os.environ.get("PARTICLES_REGRESSION_EXACT") == "1" else 8
DELTA = 1e-10
SENSITIVITY = 10


def moved(x: np.ndarray, delta: float = DELTA, seed: int = 0, unit: bool = True) -> np.ndarray:
    """x moved by ``delta`` (sup norm) in a random direction; rows renormalised if ``unit``."""
    u = np.random.default_rng(seed).uniform(-1.0, 1.0, x.shape)
    y = x + delta * u / np.abs(u).max()
    if unit:
        y /= np.linalg.norm(y, axis=-1, keepdims=True)
    return y


def growth(now: dict, moved_now: dict, delta: float = DELTA) -> float:
    """G: the largest change of any float output per unit change of the initial state (>= 1)."""
    g = 1.0
    for k, a in now.items():
        a = np.asarray(a)
        if a.dtype.kind == "f":
            g = max(g, float(np.abs(np.asarray(moved_now[k], np.float64) - a).max()) / delta)
    return g


def tolerance(ref: np.ndarray, steps: int, g: float, dtype=None) -> float:
    """ULPS * eps * steps * G * max(1, max |ref|), eps of the computation's ``dtype`` (default:
    ref's); 0 for integers."""
    ref = np.asarray(ref)
    if ref.dtype.kind != "f":
        return 0.0
    scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
    eps = float(np.finfo(dtype or ref.dtype).eps)
    return ULPS * eps * max(1, steps) * max(1.0, g) * scale


def assert_close(now, ref, tol: float, name: str = "") -> None:
    """Same shape and dtype; integers equal; floats within ``tol`` (and NaN where ref is NaN)."""
    now, ref = np.asarray(now), np.asarray(ref)
    assert now.shape == ref.shape and now.dtype == ref.dtype, (name, now.shape, ref.shape)
    if ref.dtype.kind != "f":
        np.testing.assert_array_equal(now, ref, err_msg=name)
        return
    np.testing.assert_allclose(now, ref, rtol=0, atol=tol, err_msg=name)


def assert_sensitive(moved_now, ref, tol: float, name: str = "") -> None:
    """The result of the moved run is more than SENSITIVITY tolerances from the reference: the
    tolerance is tight enough to see a change of DELTA in the input."""
    err = float(np.abs(np.asarray(moved_now, np.float64) - np.asarray(ref, np.float64)).max())
    assert err > SENSITIVITY * tol, (name, err, tol)
