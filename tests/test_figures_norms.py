"""The figures of issue 14 (normalisation schemes, long context) run in --quick mode, and their
committed full-size outputs exist."""

import numpy as np
import pytest

from tests.figure_helpers import check_committed, quick_figure

SCRIPTS = [
    "norm_equiangular",
    "norm_clustering_speed",
    "norm_random_weights",
    "long_context",
    "transformer_pre_ln",
]


@pytest.mark.parametrize(
    "stem",
    [
        "norm_equiangular",
        "norm_clustering_speed",
        "norm_random_weights",
        pytest.param("long_context", marks=pytest.mark.slow),
        "transformer_pre_ln",
    ],
)
def test_quick(tmp_path, stem):
    arrays, meta = quick_figure(tmp_path, stem)
    if stem == "norm_equiangular":
        for nm in ("post", "pre", "peri", "ngpt", "mix", "lns"):
            ok = arrays[f"{nm}_eps_sim"] > 1e-8
            np.testing.assert_allclose(
                arrays[f"{nm}_eps_sim"][ok], arrays[f"{nm}_eps_ode_at_sim"][ok], rtol=1e-6
            )
    if stem == "norm_random_weights":  # every scheme saw the same layers and started together
        rho0 = {float(arrays[f"{nm}_rho"][0, 0]) for nm in ("post", "pre", "lns")}
        assert len(rho0) == 1
        assert np.all(arrays["post_radius"] == 1.0) or np.allclose(arrays["post_radius"], 1.0)
        assert np.all(arrays["pre_radius"][:, -1] > 1.0)
    if stem == "transformer_pre_ln":
        assert float(arrays["att_max_net_vs_euler"]) < 1e-9
    if stem == "long_context":
        assert np.all(np.abs(arrays["cross_exact"] - meta["gamma_c"]) < 0.01)


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_full_size_outputs(stem):
    check_committed(stem)
