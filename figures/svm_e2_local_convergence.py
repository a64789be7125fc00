"""E2 -- the "softmax probability / correlation" figure of "Transformers as Support Vector Machines"
(arXiv 2308.16898; authors' notebook ``local_converge``).

Parameters (the authors' notebook): n=6, T=8, d=10, cross-attention, seeds 0..99, default init
uniform(+-1/sqrt(d)) for W, K, Q; normalised GD, lr 0.1, logistic loss. The paper runs 2000
steps (and shows 1000); we run 100 000 steps (recorded on a log grid, log iteration axis) and
summarise at step 2000 (dashed line) and at the end, with alpha = argmax of the softmax there.
Three runs: W; (K,Q) with K and Q normalised separately (the authors' code); (K,Q) normalised
jointly (a reparametrised gradient flow), continued along the same path with constant angular
steps to |W|_F = 1e12. (a) mean_i max_t s_it; (b) corr(W(k), W^mm_alpha) for W and
corr(W_KQ(k), W^mm_{*,alpha}) for (K,Q) (cross-correlations dotted), mean +- std over runs;
(c) 1 - corr, median and 10-90 % band; (d) 1 - corr against |W|_F, with each joint run. The
statistics table is printed and stored in the npz meta (``summary``).

Run: ``python figures/svm_e2_local_convergence.py [--quick] [--iters N] [--redraw] [--outdir DIR]``
(or ``particles svm figure E2``).
"""

from __future__ import annotations

from pathlib import Path

from particles.plotting.figures import run_script
from particles.storage.npz import load_npz
from particles.svm.experiments import FIGURE_FORMAT, e2_report
from particles.svm.plotting import experiment_figure

HERE = Path(__file__).resolve().parent
STEM = "svm_e2_local_convergence"


def main(
    outdir=HERE,
    quick: bool = False,
    progress: bool | None = None,
    iters: int | None = None,
    redraw: bool = False,
) -> Path:
    """Run experiment E2; write ``<outdir>/<STEM>.png`` and ``.npz``; return the PNG path.
    ``progress``: a progress bar (default: unless ``quick``); ``iters``: GD steps
    (default 100 000, quick 300); ``redraw``: draw the PNG again from the saved npz, computing
    nothing."""
    return experiment_figure(
        "E2", outdir, STEM, quick=quick, progress=progress, redraw=redraw, iters=iters
    )


def report(png) -> str:
    """The statistics table, from the figure's data (printed after the PNG path)."""
    return e2_report(load_npz(Path(png).with_suffix(".npz"), FIGURE_FORMAT)[1])


if __name__ == "__main__":
    run_script(
        main,
        __doc__,
        HERE,
        ("--iters", {"type": int, "default": None, "help": "GD steps (default 100000)"}),
    )
