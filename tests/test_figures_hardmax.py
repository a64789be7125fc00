"""The hardmax figure scripts (figures/hardmax_*.py): quick runs and the committed outputs."""

import pytest

from tests.figure_helpers import check_committed, load, quick_figure

SCRIPTS = ["hardmax_leaders", "hardmax_limit"]


@pytest.mark.parametrize("stem", SCRIPTS)
def test_quick(tmp_path, stem):
    arrays, meta = quick_figure(tmp_path, stem)
    c = load(stem).claims(arrays, meta)
    if stem == "hardmax_leaders":
        assert c["all_reached"] and c["leaders_fixed"] and c["excess_min"] >= 0
        assert c["ratio_a1"] == pytest.approx(0.5, rel=1e-5)
    if stem == "hardmax_limit":
        assert c["rate_over_margin_a"] == pytest.approx(1.0, rel=0.01)
        assert c["entry_min"] >= 1 and c["all_exit"]


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_full_size_outputs(stem):
    check_committed(stem)
