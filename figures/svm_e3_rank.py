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

from particles.plotting.figures import read_figure, run_script, write_figure, write_png
from particles.svm.experiments import FIGURE_FORMAT, run_experiment
from particles.svm.plotting import draw_experiment

HERE = Path(__file__).resolve().parent
STEM = "svm_e3_rank"


def main(
    outdir=HERE, quick: bool = False, progress: bool | None = None, redraw: bool = False
) -> Path:
    """Run experiment E3; write ``<outdir>/<STEM>.png`` and ``.npz``; return the PNG path.
    ``progress``: a progress bar (default: unless ``quick``); ``redraw``: draw the PNG again from
    the saved npz, computing nothing."""
    if redraw:
        arrays, meta = read_figure(outdir, STEM, FIGURE_FORMAT)
        return write_png(outdir, STEM, draw_experiment("E3", arrays, meta))
    arrays, meta = run_experiment(
        "E3", quick=quick, progress=not quick if progress is None else progress
    )
    return write_figure(outdir, STEM, draw_experiment("E3", arrays, meta), arrays, meta)


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
