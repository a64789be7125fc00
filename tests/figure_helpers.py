"""Shared helpers of the figure-script tests: import a script from figures/, run it in quick mode,
check its committed full-size outputs."""

import importlib.util
from pathlib import Path

from particles.storage import npz as io

FIGDIR = Path(__file__).resolve().parent.parent / "figures"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load(stem: str):
    """The figure script ``figures/<stem>.py`` imported as a module (its ``__main__`` not run)."""
    spec = importlib.util.spec_from_file_location(f"_fig_{stem}", FIGDIR / f"{stem}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_quick(tmp_path: Path, stem: str, **options):
    """Run ``main(tmp_path, quick=True, **options)`` of the script ``stem``; checks that it wrote
    ``<tmp_path>/<stem>.png`` (a PNG) and ``.npz``; returns ``(module, png)``."""
    mod = load(stem)
    png = mod.main(tmp_path, quick=True, **options)
    assert png == tmp_path / f"{stem}.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / f"{stem}.npz").is_file()
    return mod, png


def quick_figure(tmp_path: Path, stem: str, **options) -> tuple[dict, dict]:
    """:func:`run_quick` for a script built on ``compute_and_draw`` (format ``"figure"``): its
    docstring cites arXiv and its npz says quick and its own name; returns ``(arrays, meta)``."""
    mod, _ = run_quick(tmp_path, stem, **options)
    assert mod.__doc__ and "arXiv" in mod.__doc__
    arrays, meta = io.load_npz(tmp_path / f"{stem}.npz", "figure")
    assert meta["quick"] is True and meta["figure"] == stem
    return arrays, meta


def check_committed(stem: str, fmt: str = "figure") -> None:
    """The committed ``figures/<stem>.png`` and ``.npz`` exist, the npz is small (< 2 MiB) and was
    made at full size."""
    png, npz = FIGDIR / f"{stem}.png", FIGDIR / f"{stem}.npz"
    assert png.exists() and npz.exists()
    assert npz.stat().st_size < 2 * 1024 * 1024
    _, meta = io.load_npz(npz, fmt)
    assert meta["quick"] is False
