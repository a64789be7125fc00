"""The figure script figures/hardmax_chain.py (the Markov chain (SA_P)† of arXiv 2508.09628 §5):
a quick run and the committed outputs."""

from tests.figure_helpers import check_committed, load, quick_figure


def test_quick(tmp_path):
    arrays, meta = quick_figure(tmp_path, "hardmax_chain")
    c = load("hardmax_chain").claims(arrays, meta)
    assert c["censored"] == 0 and c["all_det_exit"]
    assert c["theorem_rate"] < c["chain_rate"]
    assert c["entry_beats_theorem"]


def test_committed_full_size_outputs():
    check_committed("hardmax_chain")
