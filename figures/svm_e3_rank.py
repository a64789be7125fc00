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

import numpy as np

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


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    st = [tuple(int(v) for v in s) for s in a["settings"]]
    dims = list(a["dims"])
    rf, rn, fe = a["rank_fro"], a["rank_nuc"], a["feasible"]
    c: dict = {}
    full = np.array([[min(n, d) for d in dims] for n, _ in st], float)
    ok = np.isfinite(rf)
    c["fro_max_deficit_pct"] = 100 * float(np.max((full - rf)[ok] / full[ok]))
    c["fro_n5_d5"] = float(rf[st.index((5, 5)), dims.index(5)])
    c["fro_n5_d5_std"] = float(a["std_fro"][st.index((5, 5)), dims.index(5)])
    c["fro_n5_d_ge_10_min"] = float(
        min(
            rf[k, j] for k, (n, _) in enumerate(st) if n == 5 for j, d in enumerate(dims) if d >= 10
        )
    )
    j20 = dims.index(20)
    for n, T in st:
        c[f"nuc_n{n}_T{T}_d20"] = float(rn[st.index((n, T)), j20])
    c["nuc_grows_with_n"] = bool(
        rn[st.index((5, 5)), j20] < rn[st.index((10, 5)), j20] < rn[st.index((15, 5)), j20]
    )
    c["nuc_grows_with_T"] = bool(
        rn[st.index((5, 5)), j20] < rn[st.index((5, 10)), j20] < rn[st.index((5, 15)), j20]
    )
    frac20 = rn[:, j20] / full[:, j20]
    c["nuc_d20_pct_min"], c["nuc_d20_pct_max"] = (
        100 * float(frac20.min()),
        100 * float(frac20.max()),
    )
    j1 = dims.index(1)
    c["d1_feasible_total"] = int(fe[:, j1].sum())
    c["d1_tried_min"] = int(a["tried"][:, j1].min())
    c["feasible_n15_d2"] = int(fe[st.index((15, 5)), dims.index(2)])
    c["feasible_n15_d3"] = int(fe[st.index((15, 5)), dims.index(3)])
    c["feasible_n10_d2"] = int(fe[st.index((10, 5)), dims.index(2)])
    c["runs_per_point"] = int(meta["runs_per_point"])
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
