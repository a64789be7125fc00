"""The one-core redesign moved no number: fixed-step trajectories, ensemble statistics and phase
diagrams are those of commit 98190a2 (tests/data/regression.npz, written by
tests/data/make_regression.py at that commit), to rounding.

The references were written on another machine: on the machine and OpenBLAS kernel that wrote them
(Haswell kernels) today's arrays are the same bits, elsewhere they may differ by a few ulp. So
floats are compared within a tolerance derived from each run, a few ulp times the run's steps
times its measured amplification, and each test checks that a change of 1e-10 in the initial state
is seen (tests/regression_helpers.py, with the differences measured across kernels). Counts are
compared exactly.

At that commit ``simulate(method="euler")`` was Euler on the tangent field, which is now called
``"euler-tangent"``; ``"euler"`` now means the residual-layer update everywhere (as the ensembles'
``"euler"`` always did).
"""

from pathlib import Path

import numpy as np
import pytest

import particles as pt
from particles.analysis.phase import PhaseParams, phase_diagram
from particles.solvers import ensemble
from tests.data.make_regression import cases
from tests.regression_helpers import assert_close, assert_sensitive, growth, moved, tolerance

DATA = Path(__file__).parent / "data"
REF = np.load(DATA / "regression.npz")
# today's name of each method name of commit 98190a2, for simulate
SIMULATE_NAME = {
    "euler": "euler-tangent",
    "rk4": "rk4",
    "lie-euler": "lie-euler",
    "geometric": "geometric",
}


CASES = cases()  # the inputs of make_regression.py, rebuilt with the same seeds


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("old", list(SIMULATE_NAME))
def test_simulate_matches_the_reference(case, old):
    x0, dyn = CASES[case]
    kw = dict(method=SIMULATE_NAME[old], dt=0.1, save_at=np.linspace(0, 1.5, 7))
    tr = pt.simulate(x0, dyn, 1.5, **kw)
    mv = pt.simulate(moved(x0), dyn, 1.5, **kw)
    ref = REF[f"simulate/{case}/{old}"]
    tol = tolerance(ref, tr.stats["nsteps"], growth({"x": tr.x}, {"x": mv.x}))
    assert_close(tr.x, ref, tol)
    assert_sensitive(mv.x[-1], ref[-1], tol)


def test_simulate_float32_matches_the_reference():
    """Computed in float32 (saved as float64): eps = 1.2e-7, and the amplification and the
    sensitivity are measured with a move of 1e-2 instead of 1e-10."""
    x0, dyn = CASES["usa_qkv"]
    kw = dict(method="rk4", dt=0.1, dtype=np.float32)
    tr = pt.simulate(x0, dyn, 1.0, **kw)
    mv = pt.simulate(moved(x0, 1e-2), dyn, 1.0, **kw)
    ref = REF["simulate/usa_qkv/rk4-f32"]
    tol = tolerance(ref, tr.stats["nsteps"], growth({"x": tr.x}, {"x": mv.x}, 1e-2), np.float32)
    assert_close(tr.x, ref, tol)
    assert_sensitive(mv.x[-1], ref[-1], tol)


def _gram(X):
    """ensemble.random_gram's Gram matrices of the points X (S, n, d)."""
    G = X @ np.swapaxes(X, 1, 2)
    idx = np.arange(X.shape[1])
    G[:, idx, idx] = 1.0
    return G


@pytest.mark.parametrize("method", ["euler", "euler-tangent", "rk4"])
@pytest.mark.parametrize("kind,betas", [("SA", [0.5, 2.0, 6.0]), ("USA", [0.3, 1.0, 2.0])])
def test_ensembles_match_the_references(method, kind, betas):
    points = ensemble.random_points_batch(8, 5, 3, rng=5)  # those of random_gram(8, 5, 3, rng=5)
    G0 = ensemble.random_gram(8, 5, 3, rng=5)
    X0 = ensemble.random_points_batch(7, 4, 3, rng=6)
    B, V = ensemble.random_weights("ginibre-v=g", 4, 3, rng=7)
    steps = 20  # t_end / dt
    kw = dict(dt=0.1, method=method, kind=kind, early_stop=False)
    r = ensemble.ensemble_gram(G0, betas, 2.0, **kw)
    m = ensemble.ensemble_gram(_gram(moved(points)), betas, 2.0, **kw)
    key = f"gram/{method}/{kind}"
    tol = tolerance(REF[f"{key}/final"], steps, growth({"f": r.final}, {"f": m.final}))
    assert_close(r.final, REF[f"{key}/final"], tol, key)
    assert_sensitive(m.final, REF[f"{key}/final"], tol, key)
    assert_close(r.pair_fraction, REF[f"{key}/pair_fraction"], tolerance(r.pair_fraction, 1, 1))

    r = ensemble.ensemble_coords(X0, betas, 2.0, B=B, V=V, **kw)
    m = ensemble.ensemble_coords(moved(X0), betas, 2.0, B=B, V=V, **kw)
    key = f"coords/{method}/{kind}"
    tol = tolerance(REF[f"{key}/final"], steps, growth({"f": r.final}, {"f": m.final}))
    assert_close(r.final, REF[f"{key}/final"], tol, key)
    assert_sensitive(m.final, REF[f"{key}/final"], tol, key)
    assert_close(r.pair_fraction, REF[f"{key}/pair_fraction"], tolerance(r.pair_fraction, 1, 1))
    assert_close(r.n_clusters, REF[f"{key}/n_clusters"], 0)


@pytest.mark.parametrize("d,w", [(2, None), (16, None), (4, "ginibre")])
def test_phase_diagram_matches_the_reference(d, w):
    """Statistics of cluster counts: a few ulp (one changed count moves P by 1/16)."""
    p = PhaseParams(n=8, d=d, betas=(0.0, 1.0, 4.0), t_end=3.0, dt=0.1, seeds=16, weights=w)
    ph = phase_diagram(p, progress=False)
    for k in ("P", "P_se", "mean_clusters", "final_clusters"):
        ref = REF[f"phase/d{d}_{w}/{k}"]
        assert_close(getattr(ph, k), ref, tolerance(ref, 1, 1), k)


def test_the_tolerance_tells_neighbouring_methods_and_betas_apart():
    """A simulate tolerance with G = 10 (above the largest measured, 8.2: piecewise rk4) against
    real changes: another method's reference is 1e8 tolerances away, beta changed by 1e-10
    (relative) about 80."""
    x0, _ = CASES["sa_identity"]
    kw = dict(dt=0.1, save_at=np.linspace(0, 1.5, 7))
    tol = tolerance(REF["simulate/sa_identity/rk4"], 18, 10.0)
    got = pt.simulate(x0, pt.Dynamics(beta=2.0), 1.5, method="rk4", **kw).x
    assert np.abs(got - REF["simulate/sa_identity/geometric"]).max() > 1e6 * tol
    got = pt.simulate(x0, pt.Dynamics(beta=2.0 * (1 + 1e-10)), 1.5, method="rk4", **kw).x
    assert np.abs(got - REF["simulate/sa_identity/rk4"]).max() > 10 * tol
