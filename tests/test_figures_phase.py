"""Quick mode of the phase-diagram figure scripts (Figs. 3, 4, 5)."""

import importlib.util
from pathlib import Path

import pytest

from particles.io import load_npz

FIG = Path(__file__).resolve().parent.parent / "figures"


def load(name):
    spec = importlib.util.spec_from_file_location(name, FIG / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    "name", ["fig3_phase_diagrams", "fig4_circle_metastability", "fig5_random_weights"]
)
def test_quick(tmp_path, name):
    mod = load(name)
    png = mod.main(tmp_path, quick=True, progress=False)
    assert png == tmp_path / f"{name}.png" and png.stat().st_size > 5000
    arrays, meta = load_npz(tmp_path / f"{name}.npz", "figure_data")
    assert meta["quick"] is True and "seed" in meta
    assert arrays["P"].min() >= 0 and arrays["P"].max() <= 1
    assert mod.__doc__ and "Fig." in mod.__doc__
