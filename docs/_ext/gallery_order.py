"""The gallery's order: the user guide's topics (a module, so Sphinx can pickle the key)."""

from __future__ import annotations

from pathlib import Path

GALLERY_ORDER = [
    "plot_first_simulation",
    "plot_integrators",
    "plot_clustering",
    "plot_phase_diagram",
    "plot_noise",
    "plot_normalisation",
    "plot_transformer",
    "plot_svm",
    "plot_scansnap",
    "plot_dask_zarr",
    "plot_command_line",
]


def gallery_key(path: str) -> tuple[int, str]:
    """The topics' order; an example not listed comes after them, by name."""
    stem = Path(path).stem
    return (GALLERY_ORDER.index(stem) if stem in GALLERY_ORDER else len(GALLERY_ORDER), stem)
