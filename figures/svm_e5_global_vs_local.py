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

import numpy as np

from particles.plotting.claimtools import md_table
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


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    dims = [int(d) for d in a["dims"]]
    fr = a["fractions"]
    rows = [
        [lab] + [f"{v:.2f}".lstrip("0") if v < 1 else "1" for v in fr[:, k]]
        for k, lab in enumerate(meta["labels"])
    ]
    c: dict = {"table": md_table(["d"] + [str(d) for d in dims], rows)}
    g, loc, nei = fr[:, 0], fr[:, 1], fr[:, 2]
    c["global_first_pct"], c["global_last_pct"] = 100 * g[0], 100 * g[-1]
    drops = [(dims[i], dims[i + 1]) for i in range(len(dims) - 1) if g[i + 1] < g[i]]
    c["global_only_drop_8_to_10"] = drops == [(8, 10)]
    c["global_d8"], c["global_d10"] = float(g[dims.index(8)]), float(g[dims.index(10)])
    c["local_above_global_up_to"] = max(d for d, x, y in zip(dims, loc, g, strict=True) if x > y)
    c["local_above_global_only_small_d"] = bool(
        all(
            (x > y) == (d <= c["local_above_global_up_to"])
            for d, x, y in zip(dims, loc, g, strict=True)
        )
    )
    c["global_d6"], c["local_d6"] = float(g[dims.index(6)]), float(loc[dims.index(6)])
    c["feasible_all_alpha_d"] = max(int(meta["T"]) - 1, int(meta["n"]))
    c["neither_ge_0.2_up_to"] = max(d for d, x in zip(dims, nei, strict=True) if x >= 0.2)
    c["neither_max_beyond"] = float(
        max(x for d, x in zip(dims, nei, strict=True) if d > c["neither_ge_0.2_up_to"])
    )
    lo = a["locally_optimal"].mean(1)
    sel = np.array(dims) >= 3
    c["lo_pct_min_d3"], c["lo_pct_max_d3"] = 100 * float(lo[sel].min()), 100 * float(lo[sel].max())
    c["lo_pct_d2"] = 100 * float(lo[0])
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
