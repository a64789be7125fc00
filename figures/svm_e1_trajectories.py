"""E1 -- Fig. 1 of Tarzanagh, Li, Thrampoulidis, Oymak, "Transformers as Support Vector Machines"
(arXiv 2308.16898; authors' notebook ``visualization1``): the GD path of the attention weights
in 2-D turns onto the Att-SVM rays.

Parameters (the authors' notebook): n=2, T=3, d=2, seed 1, Y=(+1,+1), unit v; X_i = 0.3 N(0, I)
shifted by (-1, 0) for sequence 1 and (+1, 0) for sequence 2; z_i random unit. Init W = 0; (K,Q):
Q = 0, K = 0.1 N(0, 1). 2000 normalised GD steps, lr 0.1, logistic loss. Rays W^mm z_i (solid) and
W^mm_* z_i (dashed); trajectories W(k) z_i.

Run: ``python figures/svm_e1_trajectories.py [--quick] [--outdir DIR]``
(or ``particles svm figure E1``).
"""

from __future__ import annotations

from pathlib import Path

from particles.figscript import run_script
from particles.svm.figures import make_figure, redraw_figure

HERE = Path(__file__).resolve().parent


def main(outdir=HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Run experiment E1; write ``<outdir>/<stem>.png`` and ``.npz``; return the PNG path
    (``redraw``: draw the PNG again from the saved npz)."""
    if redraw:
        return redraw_figure("E1", outdir, stem="svm_e1_trajectories")
    return make_figure("E1", outdir, quick=quick, stem="svm_e1_trajectories", progress=not quick)


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
