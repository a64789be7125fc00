"""E1 -- Fig. 1 of Tarzanagh, Li, Thrampoulidis, Oymak, "Transformers as Support Vector Machines"
(arXiv 2308.16898; authors' notebook ``visualization1``): the GD path of the attention weights
in 2-D turns onto the Att-SVM rays.

Parameters (the authors' notebook): n=2, T=3, d=2, seed 1, Y=(+1,+1), unit v; X_i = 0.3 N(0, I)
shifted by (-1, 0) for sequence 1 and (+1, 0) for sequence 2; z_i random unit. Init W = 0; (K,Q):
Q = 0, K = 0.1 N(0, 1). 2000 normalised GD steps, lr 0.1, logistic loss. Rays W^mm z_i (solid) and
W^mm_* z_i (dashed); trajectories W(k) z_i.

Run: ``python figures/svm_e1_trajectories.py [--quick] [--redraw] [--outdir DIR]``
(or ``particles svm figure E1``).
"""

from __future__ import annotations

from pathlib import Path

from particles.plotting.figures import run_script
from particles.svm.plotting import experiment_figure

HERE = Path(__file__).resolve().parent
STEM = "svm_e1_trajectories"


def main(
    outdir=HERE, quick: bool = False, progress: bool | None = None, redraw: bool = False
) -> Path:
    """Run experiment E1; write ``<outdir>/<STEM>.png`` and ``.npz``; return the PNG path.
    ``progress``: a progress bar (default: unless ``quick``); ``redraw``: draw the PNG again from
    the saved npz, computing nothing."""
    return experiment_figure("E1", outdir, STEM, quick=quick, progress=progress, redraw=redraw)


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    from particles.svm.model import correlation

    return {
        "corr_W": float(correlation(a["Ws_W"][-1], a["W_mm"])),
        "corr_KQ": float(correlation(a["Ws_KQ"][-1], a["W_nuc"])),
        "corr_W_nuc": float(correlation(a["Ws_W"][-1], a["W_nuc"])),
        "corr_mm_nuc": float(correlation(a["W_mm"], a["W_nuc"])),
    }


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
