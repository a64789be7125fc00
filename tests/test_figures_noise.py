"""The noise figures (issue 13, §4): each script runs in --quick mode and writes its PNG and npz with
the numbers; the committed full-size outputs exist and were made at full size."""

import numpy as np
import pytest

from tests.figure_helpers import check_committed, quick_figure

SCRIPTS = ["noise_bifurcation", "noise_mode_growth", "noise_pde_particles"]


@pytest.mark.parametrize("stem", SCRIPTS)
def test_quick(tmp_path, stem):
    kw = {"progress": False} if stem == "noise_bifurcation" else {}
    arrays, meta = quick_figure(tmp_path, stem, **kw)
    num = meta["numbers"]
    if stem == "noise_bifurcation":
        assert num["d2_beta6"]["transition"] == "discontinuous"
        assert num["d3_beta1.5"]["transition"] == "continuous"
        assert (
            num["d2_beta6"]["fold_kappa"] < num["d2_beta6"]["kappa_1"] < num["d2_beta6"]["kappa_c"]
        )
        # d = 3: the S^2 PDE swept both ways, hysteresis above beta_*; SA panels continuous
        assert num["d3_beta4"]["pde_engine"] == "pde-sphere"
        assert num["d3_beta4"]["pde_jump_up"] > num["d3_beta4"]["pde_drop_down"]
        for key in ("sa_d2_beta1.5", "sa_d2_beta6", "sa_d3_beta1.5", "sa_d3_beta4"):
            assert num[key]["transition"] == "continuous"
            assert num[key]["fold_kappa"] == num[key]["kappa_c"]
        assert all(f"pde_up_{j}" in arrays and f"branch_r_{j}" in arrays for j in range(8))
    if stem == "noise_mode_growth":
        assert num["pde_max_rel_error"] < 1e-3
        assert num["clusters"]["fraction_within_1"] >= 0.8
    if stem == "noise_pde_particles":
        # the numbers are computed from the saved arrays (the script's claims())
        assert arrays["pde_mass_error"] < 1e-13 and arrays["pde_min_density"] > 0
        assert np.all(arrays["w1_big"] < 0.2) and np.all(arrays["w1_big_coarse"] < 0.2)
        assert arrays["w1_t2"].shape == (arrays["ns"].size, num["runs"])


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_full_size_outputs(stem):
    check_committed(stem)
