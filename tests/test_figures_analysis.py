"""Each analysis figure script runs in --quick mode and writes its PNG and npz."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from particles import io

FIGDIR = Path(__file__).resolve().parent.parent / "figures"
SCRIPTS = ["fig2_phase_regions", "fig6_hessian_g", "wendel", "repulsive_shapes", "staircase_d2"]


def load(stem):
    spec = importlib.util.spec_from_file_location(f"_fig_{stem}", FIGDIR / f"{stem}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("stem", SCRIPTS)
def test_quick(tmp_path, stem):
    mod = load(stem)
    assert mod.__doc__ and "arXiv" in mod.__doc__
    png = mod.main(tmp_path, quick=True)
    assert png == tmp_path / f"{stem}.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    arrays, meta = io.load_npz(tmp_path / f"{stem}.npz", "figure")
    assert meta["quick"] is True and meta["figure"] == stem
    if stem == "wendel":
        assert np.all(np.abs(arrays["z"]) < 5)
    if stem == "repulsive_shapes":
        assert meta["shapes"] == ["tetrahedron", "octahedron"]
    if stem == "staircase_d2":
        c = arrays["n_clusters_0"]
        assert c[0] == 6 and c[-1] < 6 and np.all(np.diff(c) <= 0)


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_full_size_outputs(stem):
    png, npz = FIGDIR / f"{stem}.png", FIGDIR / f"{stem}.npz"
    assert png.exists() and npz.exists()
    assert npz.stat().st_size < 2 * 1024 * 1024
    _, meta = io.load_npz(npz, "figure")
    assert meta["quick"] is False
