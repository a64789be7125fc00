"""Each analysis figure script runs in --quick mode and writes its PNG and npz."""

import numpy as np
import pytest

from tests.figure_helpers import check_committed, quick_figure

SCRIPTS = ["fig2_phase_regions", "fig6_hessian_g", "wendel", "repulsive_shapes", "staircase_d2"]


@pytest.mark.parametrize("stem", SCRIPTS)
def test_quick(tmp_path, stem):
    arrays, meta = quick_figure(tmp_path, stem)
    if stem == "wendel":
        assert np.all(np.abs(arrays["z"]) < 5)
    if stem == "repulsive_shapes":
        assert meta["shapes"] == ["tetrahedron", "octahedron"]
    if stem == "staircase_d2":
        c = arrays["n_clusters_0"]
        assert c[0] == 6 and c[-1] < 6 and np.all(np.diff(c) <= 0)


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_full_size_outputs(stem):
    check_committed(stem)
