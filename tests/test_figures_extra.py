"""The figures of the noise and normalisation papers added after the first set (nGPT's rate and
the Pre-/Peri-LN portrait, the fluctuations below κ_c, the (β, κ) phase diagram) run in --quick mode, and their committed full-size outputs exist."""

import numpy as np
import pytest

from tests.figure_helpers import check_committed, load, quick_figure

SCRIPTS = ["norm_ngpt_rate_portrait", "noise_phase_diagram", "noise_fluctuations"]


@pytest.mark.parametrize("stem", SCRIPTS)
def test_quick(tmp_path, stem):
    arrays, meta = quick_figure(tmp_path, stem)
    c = load(stem).claims(arrays, meta)
    if stem == "norm_ngpt_rate_portrait":
        assert c["rate_relerr_max"] < 1e-6
        assert c["curve_gap_max"] < 1e-6 and c["usa_sa_relgap"] < 1e-10
        assert np.all(np.diff(arrays["alphas"]) > 0)
    if stem == "noise_phase_diagram":
        assert c["usa_fold_below_bstar"] and c["sa_fold_is_kappa_c"] and c["usa_first_between"]
    if stem == "noise_fluctuations":  # quick runs are short: only the order of magnitude
        assert 0.2 < c["max_dev_pct"] / 100 + 0.5 < 2.0 and c["points"] == 6


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_full_size_outputs(stem):
    check_committed(stem)
