"""The committed figures: readable widths, and every script can redraw its PNG from its npz."""

import shutil
import struct
from pathlib import Path

import pytest

from tests.figure_helpers import PNG_MAGIC, load

FIG = Path(__file__).resolve().parent.parent / "figures"
# figure scripts: the .py files that save an .npz beside their PNG (not figures/claims.py)
SCRIPTS = sorted(p.stem for p in FIG.glob("*.py") if p.with_suffix(".npz").exists())
MAX_WIDTH_PX = 2000  # wider strips are unreadable when shown at page width


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("stem", SCRIPTS)
def test_committed_png_is_at_most_2000_px_wide(stem):
    w, h = png_size(FIG / f"{stem}.png")
    assert w <= MAX_WIDTH_PX, f"{stem}.png is {w} px wide (wrap it into rows)"
    assert h <= 2 * MAX_WIDTH_PX


@pytest.mark.slow
@pytest.mark.parametrize("stem", SCRIPTS)
def test_redraw_from_the_committed_npz(tmp_path, stem):
    """``main(outdir, redraw=True)`` draws the PNG from the npz alone (copied to a fresh dir)."""
    mod = load(stem)
    shutil.copy(FIG / f"{stem}.npz", tmp_path / f"{stem}.npz")
    png = mod.main(tmp_path, redraw=True)
    assert png == tmp_path / f"{stem}.png"
    assert png_size(png)[0] <= MAX_WIDTH_PX
