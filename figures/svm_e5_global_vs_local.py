"""E5 -- new figure (none of the papers has it; protocol set here): fraction of GD runs that
converge to the global Att-SVM W^mm of arXiv 2308.16898 (alpha = opt), to a local one W^mm_alpha
(alpha != opt, locally optimal by the SVM-neighbour test), or to neither, as d grows.

Parameters: n=6, T=8, d in {2, 3, 4, 5, 6, 8, 10, 15, 20, 30}, seeds 0..99 per d, W-param, default
init, 2000 normalised GD steps lr 0.1, logistic loss; converged = corr(W, W^mm_alpha) > 0.99.

Run: ``python figures/svm_e5_global_vs_local.py [--quick] [--outdir DIR]``
(or ``particles svm figure E5``).
"""

from __future__ import annotations

from pathlib import Path

from particles.figscript import run_script
from particles.svm.figures import make_figure, redraw_figure

HERE = Path(__file__).resolve().parent


def main(outdir=HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Run experiment E5; write ``<outdir>/<stem>.png`` and ``.npz``; return the PNG path
    (``redraw``: draw the PNG again from the saved npz)."""
    if redraw:
        return redraw_figure("E5", outdir, stem="svm_e5_global_vs_local")
    return make_figure("E5", outdir, quick=quick, stem="svm_e5_global_vs_local", progress=not quick)


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
