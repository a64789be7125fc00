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

import math
from pathlib import Path

import numpy as np

from particles.plotting.claimtools import md_table, sig
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


# the numbers figures/README.md quotes (figures/claims.py checks them)
def _e2_cols(a):
    """(run, stage index, label) of the E2 table's columns."""
    return [
        ("W", 0, "W @ 2000"),
        ("W", 1, "W @ 100 000"),
        ("KQ", 0, "(K,Q) sep. @ 2000"),
        ("KQ", 1, "(K,Q) sep. @ 100 000"),
        ("KQj", 1, "(K,Q) joint @ 100 000"),
        ("KQj", 2, "(K,Q) joint, ‖W‖ = 1e12"),
    ]


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    it = list(a["iters"])
    kc, S = it.index(int(meta["checkpoint"])), a["seeds"].size
    seeds = [int(s) for s in a["seeds"]]
    c: dict = {"runs": S}
    steps = a["iters"].astype(float)

    def pct(x):
        return int(round(100 * float(np.mean(x))))

    # ---- the summary table
    rows = {k: [] for k in ("corr", "medmin", "ge", "lo", "opt", "cross", "bal")}
    for run, j, _lab in _e2_cols(a):
        ct = a[f"corr_target_{run}"][j]
        if run == "W" and j == 1:
            rows["corr"].append(f"1 − {sig(float(np.median(1 - ct)), 1)} (median)")
            rows["medmin"].append(f"max 1 − corr {sig(float(np.max(1 - ct)), 1)}")
        else:
            dig = 4 if run == "W" or (run == "KQj" and j >= 1) else 3
            sd = 4 if run == "W" else (3 if run == "KQj" and j >= 1 else 3)
            rows["corr"].append(f"{ct.mean():.{dig}f} ± {ct.std():.{sd}f}")
            mdig = 5 if (run == "KQj" and j == 2) else 4
            rows["medmin"].append(f"{np.median(ct):.{mdig}f} / {ct.min():.3f}")
        rows["ge"].append(str(int(np.sum(ct >= 0.99))))
        lo = a[f"locally_optimal_{run}"][j]
        cell = str(int(lo.sum()))
        if not lo.all():
            cell += " (seed " + ", ".join(str(seeds[b]) for b in np.flatnonzero(~lo)) + " fails)"
        rows["lo"].append(cell)
        rows["opt"].append(str(int(a[f"is_opt_{run}"][j].sum())))
        cross = a["corr_nuc_W"] if run == "W" else a[f"corr_fro_{run}"]
        if j == 2:
            rows["cross"].append("—")
        elif j == 0:
            rows["cross"].append(f"{cross[kc].mean():.3f}")
        else:
            rows["cross"].append(f"{cross[-1].mean():.3f} ({cross[-1].max():.2f})")
        if run == "W":
            rows["bal"].append("—")
        elif (run == "KQ" and j == 1) or (run == "KQj" and j == 2):
            rows["bal"].append(sig(float(np.median(a[f"balance_{run}"])), 2 if run == "KQ" else 1))
        elif run == "KQj" and j == 1:
            rows["bal"].append("not stored")
        else:
            rows["bal"].append("—")
    header = [f"{S} runs"] + [lab for *_, lab in _e2_cols(a)]
    c["table"] = md_table(
        header,
        [
            ["corr with own target: mean ± std"] + rows["corr"],
            ["median / min"] + rows["medmin"],
            ["runs with corr ≥ 0.99"] + rows["ge"],
            ["α passes the SVM-neighbour test"] + rows["lo"],
            ["α = opt"] + rows["opt"],
            ["cross-correlation, mean (max)"] + rows["cross"],
            ["balance ‖KᵀK − QᵀQ‖/‖K‖², median"] + rows["bal"],
        ],
    )
    # ---- numbers in the notes and the text
    mp = a["maxprob_W"][kc]
    c["W_maxprob_min_gap_2000"] = float(1 - mp.min())
    others = [a["maxprob_W"][-1]] + [a[f"maxprob_{r}"][i] for r in ("KQ", "KQj") for i in (kc, -1)]
    c["maxprob_one_elsewhere"] = bool(all(np.all(x == 1.0) for x in others))
    cross_means = [
        float((a["corr_nuc_W"] if r == "W" else a[f"corr_fro_{r}"])[kc].mean())
        for r in ("W", "KQ", "KQj")
    ]
    c["cross_2000_min"], c["cross_2000_max"] = min(cross_means), max(cross_means)
    c["KQ_fro_support_pass"] = int(a["locally_optimal_fro_KQ"][1].sum())
    c["KQ_fro_support_fail_seeds"] = [
        seeds[b] for b in np.flatnonzero(~a["locally_optimal_fro_KQ"][1])
    ]
    for run in ("W", "KQ", "KQj"):
        ct = a[f"corr_target_{run}"]
        for j, st in enumerate(("2000", "100k", "1e12")[: ct.shape[0]]):
            c[f"{run}_{st}_mean"] = float(ct[j].mean())
            c[f"{run}_{st}_std"] = float(ct[j].std())
            c[f"{run}_{st}_ge"] = int(np.sum(ct[j] >= 0.99))
            c[f"{run}_{st}_median_gap"] = float(np.median(1 - ct[j]))
            c[f"{run}_{st}_local"] = S - int(a[f"is_opt_{run}"][j].sum())
    for run in ("W", "KQ", "KQj"):
        mp = a[f"maxprob_{run}"].mean(1)  # mean over runs of mean_i max_t s_it
        c[f"{run}_maxprob_0.99_step"] = int(steps[np.argmax(mp >= 0.99)])
    c["W_2000_fail_seeds_84_94_converge"] = [
        seeds[b] for b in np.flatnonzero(a["corr_target_W"][0] < 0.99)
    ] == [84, 94] and all(a["corr_target_W"][1, seeds.index(s)] >= 0.99 for s in (84, 94))
    c["W_2000_lo"] = int(a["locally_optimal_W"][0].sum())
    c["W_2000_local_pct"] = pct(~a["is_opt_W"][0])
    c["W_2000_fail_seeds"] = [seeds[b] for b in np.flatnonzero(a["corr_target_W"][0] < 0.99)]
    # 1 - corr of the W run against the step: slope of the median on the recorded steps >= 2000
    sel = steps >= meta["checkpoint"]
    med = np.median(1 - a["corr_fro_W"], axis=1)
    c["W_loglog_slope"] = float(np.polyfit(np.log(steps[sel]), np.log(med[sel]), 1)[0])
    c["W_final_median_gap"] = float(med[-1])
    # seed 28: the metastable selection at step 2000 (data regenerated from the seed)
    from particles.svm.model import make_data, token_scores
    from particles.svm.solvers import local_optimality

    b28 = seeds.index(28)
    al = a["alpha_stages_W"][0, b28]
    d28 = make_data(int(meta["n"]), int(meta["T"]), int(meta["d"]), 28)
    lo = local_optimality(d28, al)
    i, t = (int(v) for v in np.argwhere(lo.beaten)[0])
    g = token_scores(d28)
    c["seed28_selected_score"], c["seed28_neighbour_score"] = float(g[i, al[i]]), float(g[i, t])
    c["seed28_gap"] = c["seed28_neighbour_score"] - c["seed28_selected_score"]
    ch = np.any(a["alpha_stages_W"][0] != a["alpha_stages_W"][1], axis=-1)
    c["seed28_alpha_changes"] = bool(ch[b28])
    c["seed28_final_lo"] = bool(a["locally_optimal_W"][1, b28])
    # the separate (K,Q) run stalls
    j10 = int(np.searchsorted(steps, 10_000))
    c["step_near_10k"] = int(steps[j10])
    ck = a["corr_nuc_KQ"]
    m10 = np.median(1 - ck[j10:], axis=1)
    c["KQ_median_gap_after_10k_min"], c["KQ_median_gap_after_10k_max"] = (
        float(m10.min()),
        float(m10.max()),
    )
    c["KQ_lower_at_end"] = int(np.sum(ck[-1] < ck[j10]))
    b21 = seeds.index(21)
    c["seed21_10k"], c["seed21_end"] = float(ck[j10, b21]), float(ck[-1, b21])
    c["KQ_balance_median"] = float(np.median(a["balance_KQ"]))
    c["KQ_nuc_gap_median_pct"] = 100 * float(np.median(a["nuc_gap_KQ"][1]))
    c["mean_10k_sep"], c["mean_10k_joint"] = (
        float(ck[j10].mean()),
        float(a["corr_nuc_KQj"][j10].mean()),
    )
    # the joint run and its continuation
    cc = 1 - a["cont_corr_nuc_KQj"]
    rise = np.array([np.nanmax(x - np.fmin.accumulate(x)) for x in cc.T])
    c["cont_runs_rising_1e-4"] = int(np.sum(rise > 1e-4))
    c["KQj_norm_median_100k"] = float(np.median(a["norm_KQj"][-1]))
    ct = a["corr_target_KQj"]
    slow = [seeds[b] for b in np.flatnonzero(ct[2] < 0.99)]
    c["KQj_slow_seeds"] = slow
    for s in (28, 81, 15):
        b = seeds.index(s)
        c[f"seed{s}_100k"], c[f"seed{s}_1e12"] = float(ct[1, b]), float(ct[2, b])
    b = seeds.index(28)
    x, nrm = a["cont_corr_nuc_KQj"][:, b], a["cont_norm_KQj"][:, b]
    ok = np.isfinite(x) & np.isfinite(nrm)
    c["seed28_rate_per_doubling"] = float(np.polyfit(np.log2(nrm[ok]), x[ok], 1)[0])
    c["KQj_nuc_gap_median_1e12"] = float(np.median(a["nuc_gap_KQj"][2]))
    c["KQj_nuc_gap_median_100k"] = float(np.median(a["nuc_gap_KQj"][1]))
    c["KQj_balance_median_1e12"] = float(np.median(a["balance_KQj"]))
    c["steps_to_1e12_fixed"] = float(
        meta["iters"] * math.sqrt(meta["continuation"]["max_norm"] / c["KQj_norm_median_100k"])
    )
    c["fro_fail_seeds_are_23_59"] = c["KQ_fro_support_fail_seeds"] == [23, 59]
    c["cont_rising_seeds"] = [seeds[b] for b in np.flatnonzero(rise > 1e-4)]
    c["cont_rising_seed"] = c["cont_rising_seeds"][0] if len(c["cont_rising_seeds"]) == 1 else None
    c["slow_seeds_rising"] = bool(all(c[f"seed{s}_1e12"] > c[f"seed{s}_100k"] for s in slow))
    c["KQ_seeds01_100k"] = [float(a["corr_target_KQ"][1, seeds.index(s)]) for s in (0, 1)]
    # Frobenius-support failures of the (K,Q) runs: margins of the outscoring token
    from particles.svm.solvers import att_svm

    for s in (23, 59):
        al = a["alpha_stages_KQ"][1, seeds.index(s)]
        ds = make_data(int(meta["n"]), int(meta["T"]), int(meta["d"]), s)
        fro = local_optimality(ds, al)
        i, t = (int(v) for v in np.argwhere(fro.beaten)[0])
        nuc = att_svm(ds, al, norm="nuc")
        c[f"seed{s}_margin_fro"] = float(fro.solution.margins[i, t])
        c[f"seed{s}_margin_nuc"] = float(nuc.margins[i, t])
    return c


if __name__ == "__main__":
    run_script(
        main,
        __doc__,
        HERE,
        ("--iters", {"type": int, "default": None, "help": "GD steps (default 100000)"}),
    )
