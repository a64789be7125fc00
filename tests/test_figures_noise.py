"""The noise figures (issue 13, §4): each script runs in --quick mode and writes its PNG and npz with
the numbers; the committed full-size outputs exist and were made at full size."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from particles import io

FIGDIR = Path(__file__).resolve().parent.parent / "figures"
SCRIPTS = ["noise_bifurcation", "noise_mode_growth", "noise_pde_particles"]


def load(stem):
    spec = importlib.util.spec_from_file_location(f"_fig_{stem}", FIGDIR / f"{stem}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("stem", SCRIPTS)
def test_quick(tmp_path, stem):
    mod = load(stem)
    assert mod.__doc__ and "arXiv" in mod.__doc__
    kw = {"progress": False} if stem == "noise_bifurcation" else {}
    png = mod.main(tmp_path, quick=True, **kw)
    assert png == tmp_path / f"{stem}.png" and png.read_bytes()[:4] == b"\x89PNG"
    arrays, meta = io.load_npz(tmp_path / f"{stem}.npz", "figure")
    assert meta["quick"] is True and meta["figure"] == stem
    num = meta["numbers"]
    if stem == "noise_bifurcation":
        assert num["d2_beta6"]["transition"] == "discontinuous"
        assert num["d3_beta1.5"]["transition"] == "continuous"
        assert (
            num["d2_beta6"]["fold_kappa"] < num["d2_beta6"]["kappa_1"] < num["d2_beta6"]["kappa_c"]
        )
    if stem == "noise_mode_growth":
        assert num["pde_max_rel_error"] < 1e-3
        assert num["clusters"]["fraction_within_1"] >= 0.8
    if stem == "noise_pde_particles":
        assert num["pde_mass_error"] < 1e-13 and num["pde_min_density"] > 0
        assert np.all(np.array(num["w1_big_particles"]) < 0.2)


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_full_size_outputs(stem):
    png, npz = FIGDIR / f"{stem}.png", FIGDIR / f"{stem}.npz"
    assert png.exists() and npz.exists()
    assert npz.stat().st_size < 2 * 1024 * 1024
    _, meta = io.load_npz(npz, "figure")
    assert meta["quick"] is False
