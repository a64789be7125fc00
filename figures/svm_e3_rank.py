"""E3 -- rank of the Att-SVM solutions ("Transformers as Support Vector Machines", arXiv 2308.16898;
authors' notebook ``svm_rank``).

Parameters (the authors' notebook): no training, alpha = opt; d in {1, 2, 3, 4, 5, 10, 15, 20} with
(n in {5, 10, 15}, T=5) or (n=5, T in {5, 10, 15}); 100 feasible seeds per point (infeasible
ones skipped). Mean rank counted as #{sigma_i > 1e-4 sigma_1}; solid = Frobenius, dashed = nuclear.

Run: ``python figures/svm_e3_rank.py [--quick] [--redraw] [--outdir DIR]``
(or ``particles svm figure E3``).
"""

from __future__ import annotations

from pathlib import Path

from particles.plotting.figures import run_script
from particles.svm.plotting import experiment_figure

HERE = Path(__file__).resolve().parent
STEM = "svm_e3_rank"


def main(
    outdir=HERE, quick: bool = False, progress: bool | None = None, redraw: bool = False
) -> Path:
    """Run experiment E3; write ``<outdir>/<STEM>.png`` and ``.npz``; return the PNG path.
    ``progress``: a progress bar (default: unless ``quick``); ``redraw``: draw the PNG again from
    the saved npz, computing nothing."""
    return experiment_figure("E3", outdir, STEM, quick=quick, progress=progress, redraw=redraw)


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
