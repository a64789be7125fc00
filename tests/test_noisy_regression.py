"""The noisy ensembles (projected Euler–Maruyama), the transition engine built on them and the
coordinate ensembles under every normalisation scheme are those of commit 708af74
(tests/data/noisy_regression.npz, written by tests/data/make_noisy_regression.py at that commit),
from before the noisy and deterministic ensembles shared one coordinate stepping loop.

Same bits with the OpenBLAS kernels that wrote the references (Haswell); elsewhere floats agree
within a few ulp times the runs' steps and measured amplification, and counts exactly
(tests/regression_helpers.py, with the differences measured across kernels).
"""

import importlib.util
from pathlib import Path

import numpy as np

from tests.regression_helpers import assert_close, assert_sensitive, growth, moved, tolerance

DATA = Path(__file__).parent / "data"
#: the longest run's steps: a transition branch, 2 kappas x (t_relax + t_avg) / dt = 2 x 20
STEPS = 40


def test_noisy_ensembles_match_the_stored_references():
    spec = importlib.util.spec_from_file_location("make_noisy", DATA / "make_noisy_regression.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    now, mv = mod.arrays(), mod.arrays(moved)  # same seeds: the same noise along both runs
    ref = np.load(DATA / "noisy_regression.npz")
    assert sorted(ref.files) == sorted(now)
    g = growth(now, mv)
    for k in ref.files:
        tol = tolerance(ref[k], STEPS, g)
        assert_close(now[k], ref[k], tol, k)
        if k.endswith("/final"):  # the runs from moved initial points are seen
            assert_sensitive(mv[k], ref[k], tol, k)
