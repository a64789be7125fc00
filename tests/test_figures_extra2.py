"""The figures of the noise papers added last (finite-n escape from the metastable uniform state on
the circle; noisy particles against the mean-field PDE on S²) run in --quick mode, and their committed full-size outputs exist."""

import numpy as np
import pytest

from tests.figure_helpers import check_committed, load, quick_figure

SCRIPTS = ["noise_escape", "noise_pde_sphere"]


@pytest.mark.parametrize("stem", SCRIPTS)
def test_quick(tmp_path, stem):
    arrays, meta = quick_figure(tmp_path, stem)
    c = load(stem).claims(arrays, meta)
    if stem == "noise_escape":  # the window and the branch are mean-field numbers, exact in quick
        assert c["kappa_f"] < c["kappa"] < c["kappa_c"] and 0 < c["r_u"] < c["r_s"] < 1
        assert arrays["times"].shape == (2, 2) and np.all(arrays["times"] <= meta["t_max"])
        assert np.all(arrays["times"][arrays["escaped"]] > 0)
    if stem == "noise_pde_sphere":  # quick: 2 x 500 particles; the PDE conserves mass
        assert float(arrays["mass_err"]) < 1e-10 and c["pde_L_diff"] < 1e-3
        assert c["r_maxdev_dt2"] < 0.15 and c["r_pde_end"] > c["r_pde_0"]


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_full_size_outputs(stem):
    check_committed(stem)
