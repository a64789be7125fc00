"""The causal-attention figures (arXiv 2411.04990: Fig. 2 and 3 with the Rényi centres, the atlas of
Table 1) run in --quick mode, their claims hold on the quick data, and their committed full-size
outputs exist."""

import numpy as np
import pytest

from particles.analysis import clusters
from tests.figure_helpers import check_committed, load, quick_figure

SCRIPTS = ["causal_renyi", "causal_atlas"]


@pytest.mark.parametrize("stem", SCRIPTS)
def test_quick(tmp_path, stem):
    arrays, meta = quick_figure(tmp_path, stem)
    c = load(stem).claims(arrays, meta)
    if stem == "causal_renyi":
        assert c["strong_subset"] and c["lemma_ok_pct"] == 100.0
        assert c["strong_mean"] <= c["renyi_mean"] and c["show_strong"] <= c["show_renyi"]
        assert c["strong_limit"] == pytest.approx(np.pi / meta["delta"])
        assert 0 <= c["cap_s_t10"] <= c["cap_r_t10"] <= 100
        # per-seed statistics as saved are those of the saved angles; the long i.i.d. sequences
        # start with the runs' x(0)
        assert c["stats_match_raw"] and c["park_prefix_is_x0"]
        assert c["park_mean"] == sorted(c["park_mean"])  # more tokens, more Rényi centres
    if stem == "causal_atlas":  # token 1 of V = I never moves; ±xi of row 3 are reached fast
        assert np.allclose(arrays["x_0"][:, 0], arrays["x0"][0], atol=1e-14)
        assert c["dist_2"] < 1e-6 and c["points"][2] == 2
        for i in (5, 6, 8):  # complex rows: token 1 turns at the Euler layer's speed
            assert c[f"omega1_{i}"] == pytest.approx(c[f"omega_euler_{i}"], rel=1e-9)
        assert c["off_L_5"] < 1e-6 and c["dist_7"] < 1e-6  # in L; ±xi reached on spirals


def test_cluster_gaps_are_the_project_clusters():
    """causal_renyi counts clusters as arcs split by gaps > r: the components of dist < r, i.e.
    ``clusters.count_clusters`` at delta = 1 - cos r."""
    mod = load("causal_renyi")
    rng = np.random.default_rng(0)
    r = 1 / 8
    for _ in range(20):
        th = np.concatenate([rng.normal(c, 0.02, 15) for c in rng.uniform(0, 2 * np.pi, 6)])
        x = np.stack([np.cos(th), np.sin(th)], axis=1)
        assert mod._clusters(th, r) == clusters.count_clusters(x, 1 - np.cos(r))


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_full_size_outputs(stem):
    check_committed(stem)
