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

import numpy as np

from particles.plotting.claimtools import md_table, sig
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


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    dims = [int(d) for d in a["dims"]]
    rows, c = [], {}
    multi, order, rho, leak_min = [], [], [], []
    for d in dims:
        eq, di, one = (a[f"{k}_d{d}"][:, -1] for k in ("eq", "dir", "one"))
        rows.append(
            [str(d)]
            + [f"{sig(float(x.mean()))} ({sig(float(np.median(x)))})" for x in (eq, di, one)]
        )
        c[f"accepted_d{d}"] = int(eq.size)
        c[f"seeds_tried_max_d{d}"] = int(a[f"seed_d{d}"].max()) + 1
        c[f"eq_mean_d{d}"], c[f"eq_median_d{d}"] = float(eq.mean()), float(np.median(eq))
        multi.append(100 * float(np.mean((a[f"nsel_d{d}"] >= 2).any(1))))
        order.append(100 * float(np.mean((eq < di) & (di < one))))
        c[f"order_on_average_d{d}"] = bool(eq.mean() < di.mean() < one.mean())
        lk = np.log10(a[f"leak_d{d}"])
        rank = [np.argsort(np.argsort(x)) for x in (lk, eq)]
        rho.append(float(np.corrcoef(*rank)[0, 1]))
        leak_min.append(float(a[f"leak_d{d}"].min()))
    c["table"] = md_table(["d", "W^SVMeq", "W^mm(O)", "W^1token"], rows)
    c["accepted"] = [c[f"accepted_d{d}"] for d in dims]
    c["seeds_tried_max"] = max(c[f"seeds_tried_max_d{d}"] for d in dims)
    c["multi_pct_min"], c["multi_pct_max"] = min(multi), max(multi)
    c["order_pct_min"], c["order_pct_max"] = min(order), max(order)
    c["order_on_average_all"] = all(c[f"order_on_average_d{d}"] for d in dims)
    c["eq_median_max"] = max(c[f"eq_median_d{d}"] for d in dims)
    c["spearman_min"], c["spearman_max"] = min(rho), max(rho)
    c["leak_min"] = min(leak_min)
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
