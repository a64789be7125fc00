"""The Sinkhorn-attention figure (SK against SA and USA) runs in --quick mode, its claims hold on
the quick data, and its committed full-size outputs exist."""

import numpy as np

from tests.figure_helpers import check_committed, load, quick_figure

STEM = "sinkhorn_clustering"


def test_quick(tmp_path):
    arrays, meta = quick_figure(tmp_path, STEM)
    c = load(STEM).claims(arrays, meta)
    assert c["eq_max_dev"] < 1e-8  # SK and SA follow SA's equiangular equation
    for kind in ("SA", "USA", "SK"):
        assert len(c[f"median_{kind}"]) == arrays["c_betas"].size
    assert np.all((arrays["P_SK"] >= 0) & (arrays["P_SK"] <= 1))


def test_committed_full_size_outputs():
    check_committed(STEM)
