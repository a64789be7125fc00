"""The one-core redesign moved no number: fixed-step trajectories, ensemble statistics and phase
diagrams are bit-identical to those of commit 98190a2 (tests/data/regression.npz, written by
tests/data/make_regression.py at that commit).

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
def test_simulate_bit_identical(case, old):
    x0, dyn = CASES[case]
    tr = pt.simulate(
        x0, dyn, 1.5, method=SIMULATE_NAME[old], dt=0.1, save_at=np.linspace(0, 1.5, 7)
    )
    np.testing.assert_array_equal(tr.x, REF[f"simulate/{case}/{old}"])


def test_simulate_float32_bit_identical():
    x0, dyn = CASES["usa_qkv"]
    tr = pt.simulate(x0, dyn, 1.0, method="rk4", dt=0.1, dtype=np.float32)
    np.testing.assert_array_equal(tr.x, REF["simulate/usa_qkv/rk4-f32"])


@pytest.mark.parametrize("method", ["euler", "euler-tangent", "rk4"])
@pytest.mark.parametrize("kind,betas", [("SA", [0.5, 2.0, 6.0]), ("USA", [0.3, 1.0, 2.0])])
def test_ensembles_bit_identical(method, kind, betas):
    G0 = ensemble.random_gram(8, 5, 3, rng=5)
    X0 = ensemble.random_points_batch(7, 4, 3, rng=6)
    B, V = ensemble.random_weights("ginibre-v=g", 4, 3, rng=7)
    r = ensemble.ensemble_gram(G0, betas, 2.0, dt=0.1, method=method, kind=kind, early_stop=False)
    np.testing.assert_array_equal(r.final, REF[f"gram/{method}/{kind}/final"])
    np.testing.assert_array_equal(r.pair_fraction, REF[f"gram/{method}/{kind}/pair_fraction"])
    r = ensemble.ensemble_coords(
        X0, betas, 2.0, B=B, V=V, dt=0.1, method=method, kind=kind, early_stop=False
    )
    for k in ("final", "pair_fraction", "n_clusters"):
        np.testing.assert_array_equal(getattr(r, k), REF[f"coords/{method}/{kind}/{k}"])


@pytest.mark.parametrize("d,w", [(2, None), (16, None), (4, "ginibre")])
def test_phase_diagram_bit_identical(d, w):
    p = PhaseParams(n=8, d=d, betas=(0.0, 1.0, 4.0), t_end=3.0, dt=0.1, seeds=16, weights=w)
    ph = phase_diagram(p, progress=False)
    for k in ("P", "P_se", "mean_clusters", "final_clusters"):
        np.testing.assert_array_equal(getattr(ph, k), REF[f"phase/d{d}_{w}/{k}"])
