"""Quick mode of the phase-diagram figure scripts (Figs. 3, 4, 5)."""

import pytest

from particles.storage.npz import load_npz
from tests.figure_helpers import run_quick


@pytest.mark.parametrize(
    "name", ["fig3_phase_diagrams", "fig4_circle_metastability", "fig5_random_weights"]
)
def test_quick(tmp_path, name):
    mod, png = run_quick(tmp_path, name, progress=False)
    assert png.stat().st_size > 5000
    arrays, meta = load_npz(tmp_path / f"{name}.npz", "figure_data")
    assert meta["quick"] is True and "seed" in meta
    assert arrays["P"].min() >= 0 and arrays["P"].max() <= 1
    assert mod.__doc__ and "Fig." in mod.__doc__
