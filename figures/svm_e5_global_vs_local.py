"""E5 -- new figure (none of the papers has it; protocol set here): fraction of GD runs that
converge to the global Att-SVM W^mm of arXiv 2308.16898 (alpha = opt), to a local one W^mm_alpha
(alpha != opt, locally optimal by the SVM-neighbour test), or to neither, as d grows.

Parameters: n=6, T=8, d in {2, 3, 4, 5, 6, 8, 10, 15, 20, 30}, seeds 0..99 per d, W-param, default
init, 2000 normalised GD steps lr 0.1, logistic loss; converged = corr(W, W^mm_alpha) > 0.99.

Run: ``python figures/svm_e5_global_vs_local.py [--quick] [--redraw] [--outdir DIR]``
(or ``particles svm figure E5``).
"""

from __future__ import annotations

from pathlib import Path

from particles.plotting.figures import run_script
from particles.svm.plotting import experiment_figure

HERE = Path(__file__).resolve().parent
STEM = "svm_e5_global_vs_local"


def main(
    outdir=HERE, quick: bool = False, progress: bool | None = None, redraw: bool = False
) -> Path:
    """Run experiment E5; write ``<outdir>/<STEM>.png`` and ``.npz``; return the PNG path.
    ``progress``: a progress bar (default: unless ``quick``); ``redraw``: draw the PNG again from
    the saved npz, computing nothing."""
    return experiment_figure("E5", outdir, STEM, quick=quick, progress=progress, redraw=redraw)


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
