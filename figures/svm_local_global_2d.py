"""The local/global picture of "Transformers as Support Vector Machines" (arXiv 2308.16898; the
authors' notebook ``visualization2``): in 2-D, normalised GD on W converges in direction to a
max-margin token selection that may be only locally optimal.

Data (the notebook's recipe): n=2 sequences of T=5 tokens in d=2, Y = (+1, +1), unit head v;
token 1 of sequence 1 (2) fixed at (1, 0.5) ((1, -0.5)), tokens 2..5 at 0.5 N(0, I) + (-1, 0);
z_i random unit; drawn in the order v, X, z from numpy ``default_rng(0)`` (the notebook's seed 3
of torch's generator gives other points; seed 0 here has both a global and a local outcome).
40 default initialisations (uniform(+-1/sqrt(2))), 3000 normalised GD steps, lr 0.1, logistic
loss; a run converges to Att-SVM(alpha) when corr(W, W^mm_alpha) > 0.99, alpha being the tokens
its softmax selects, and alpha is locally optimal by the SVM-neighbour test (every support token
scores below the selected one). Panels: (a) a run reaching the global W^mm, (b) one reaching a
locally optimal W^mm_alpha, with the separating hyperplanes of that SVM; (c) the correlations.

Run: ``python figures/svm_local_global_2d.py [--quick] [--redraw] [--outdir DIR]``
(or ``particles svm figure LG``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles.plotting.figures import run_script
from particles.svm.plotting import experiment_figure

HERE = Path(__file__).resolve().parent
STEM = "svm_local_global_2d"


def main(
    outdir=HERE, quick: bool = False, progress: bool | None = None, redraw: bool = False
) -> Path:
    """Run the experiment (LG); write ``<outdir>/<STEM>.png`` and ``.npz``; return the PNG path.
    ``progress``: a progress bar (default: unless ``quick``); ``redraw``: draw the PNG again from
    the saved npz, computing nothing."""
    return experiment_figure("LG", outdir, STEM, quick=quick, progress=progress, redraw=redraw)


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The 2-D local/global picture (svm_local_global_2d.npz)."""
    from particles.svm.experiments import local_global_data
    from particles.svm.model import token_scores
    from particles.svm.solvers import local_optimality

    data = local_global_data(meta["seed"])
    g = token_scores(data)
    lab = a["labels"]
    c: dict = {"inits": int(lab.size)}
    for k, name in enumerate(("global", "local", "neither")):
        c[f"{name}_pct"] = 100 * float(np.mean(lab == k))
    c["corr_min_all"] = float(np.nanmin(a["corr_final"]))
    c["n_local_alphas"] = int(len(a["local_alphas"]))
    c["opt_is_first_token"] = bool(np.all(a["opt"] == 0))
    al, opt = a["alpha_local"], a["opt"]
    i = int(np.nonzero(al != opt)[0][0])
    c["score_selected"], c["score_optimal"] = float(g[i, al[i]]), float(g[i, opt[i]])
    sup = np.nonzero(local_optimality(data, al).neighbours[i])[0]
    c["n_support"] = int(sup.size)
    c["score_support_max"] = float(g[i, sup].max())
    c["support_score_lower"] = bool(np.all(g[i, sup] < g[i, al[i]]))
    c["corr_local_own"] = float(a["corr_local_own"][-1])
    c["corr_local_mm"] = float(a["corr_local_mm"][-1])
    c["corr_global_own"] = float(a["corr_global_own"][-1])
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
