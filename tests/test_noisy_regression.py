"""The noisy ensembles (projected Euler–Maruyama), the transition engine built on them and the
coordinate ensembles under every normalisation scheme are bit-identical to commit 708af74
(tests/data/noisy_regression.npz, written by tests/data/make_noisy_regression.py at that commit),
from before the noisy and deterministic ensembles shared one coordinate stepping loop."""

import importlib.util
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def test_noisy_ensembles_are_bit_identical_to_the_stored_references(tmp_path):
    spec = importlib.util.spec_from_file_location("make_noisy", DATA / "make_noisy_regression.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path / "now.npz")
    ref, now = np.load(DATA / "noisy_regression.npz"), np.load(tmp_path / "now.npz")
    assert sorted(ref.files) == sorted(now.files)
    for k in ref.files:
        assert ref[k].dtype == now[k].dtype and np.array_equal(ref[k], now[k]), k
