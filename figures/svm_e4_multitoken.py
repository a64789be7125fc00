"""E4 -- multi-token selection with a nonlinear head ("Transformers as Support Vector Machines",
arXiv 2308.16898, section "towards a more general SVM equivalence";
notebook ``multi_token_converge``).

Parameters (the authors' notebook): n=3, T=4, d in {4, 6, 8, 10}, head h(u) = 1^T ReLU(V^T u) with
V (d, d) ~ N(0, I)/|V|_F, labels +-1 with at least one -1; W-param, default init, 2000 normalised
GD steps lr 0.1, snapshots every 100; 500 accepted runs per d (no softmax value in (1e-6, 1e-3],
at least one <= 1e-6, all SVMs solvable). Top: 1 - corr of W(k) with W^SVMeq (solid), W^mm(O)
(dotted), W^1token (dashed); bottom: max unselected softmax vs final 1 - corr(W, W^SVMeq).

Run: ``python figures/svm_e4_multitoken.py [--quick] [--redraw] [--outdir DIR]``
(or ``particles svm figure E4``).
"""

from __future__ import annotations

from pathlib import Path

from particles.plotting.figures import run_script
from particles.svm.plotting import experiment_figure

HERE = Path(__file__).resolve().parent
STEM = "svm_e4_multitoken"


def main(
    outdir=HERE, quick: bool = False, progress: bool | None = None, redraw: bool = False
) -> Path:
    """Run experiment E4; write ``<outdir>/<STEM>.png`` and ``.npz``; return the PNG path.
    ``progress``: a progress bar (default: unless ``quick``); ``redraw``: draw the PNG again from
    the saved npz, computing nothing."""
    return experiment_figure("E4", outdir, STEM, quick=quick, progress=progress, redraw=redraw)


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
