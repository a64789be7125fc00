"""The numbers that figures/README.md quotes, recomputed from the figures' saved .npz files.

One function per figure (``fig3(data_dir)``, ``svm_e2(data_dir)``, ...) loads ``<stem>.npz`` and
returns ``{name: value}`` for every number the README quotes about that figure: floats, ints,
lists of numbers, booleans (for qualitative claims that reduce to a yes/no test of the data) and
markdown tables (strings). The README refers to them by ``prefix.name`` with HTML comments that
GitHub does not render:

- ``0.9946<!--claim:svm_e2.kqj_final_mean-->``: the number just before the tag (``**`` around it
  is allowed) must equal the value rounded to the printed precision (``0.9946`` has four
  decimals, ``6e-7`` one significant digit, ``97`` none, ``−0.14`` uses a Unicode minus);
- ``0.40, 0.30, 0.18<!--claims:ss_snap.drop_k2_z1-->``: a list (separated by ", " or " / "),
  checked element by element against a list value;
- ``<!--check:fig6h.g_sign-->``: a qualitative statement; the value must be ``True``;
- ``<!--table:fig3.boundary_table-->`` on its own line, followed by a markdown table that must
  equal the string value line for line;
- ``<!--inputs: 0.1 1e-3-->``: numbers of the section (heading to heading) that are inputs
  (parameters, paper values), not results, and so carry no tag;
- ``<!--untracked: reason-->``: a section whose numbers are not figure data (tests, solver
  checks); only allowed for a section that names no figure with a saved .npz.

``tests/test_figure_claims.py`` checks every tag and that every non-integer number (and every
percentage) of a checked section is either tagged or listed as an input; wall times (a number
followed by s, ms, min or h) are exempt.

Command line (from the repository root)::

    python figures/claims.py            # check figures/README.md against the .npz files
    python figures/claims.py --write    # rewrite the tagged numbers and tables in place
    python figures/claims.py --list     # print every claim name and value

``--write`` keeps each number's printed format (decimals, exponent, sign) and replaces tables
whole; review the diff, then fix any sentence whose wording no longer fits the new numbers.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"


def _load(data_dir: Path, stem: str):
    from particles.storage.npz import load_npz

    return load_npz(Path(data_dir) / f"{stem}.npz")


def _first_time(t: np.ndarray, row: np.ndarray, level: float = 0.5) -> float:
    """First checkpoint time with row >= level (NaN if never): the P = level boundary."""
    hit = np.nonzero(row >= level)[0]
    return float(t[hit[0]]) if hit.size else float("nan")


def _index(values, x) -> int:
    i = int(np.argmin(np.abs(np.asarray(values, float) - x)))
    if not math.isclose(float(values[i]), x, rel_tol=0, abs_tol=1e-9):
        raise KeyError(f"{x} is not on the grid")
    return i


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _sig(x: float, digits: int = 2) -> str:
    """x with ``digits`` significant digits: 0.15 / 3.5e-2 style as in the E4 table."""
    if x >= 0.1:
        return f"{x:.{digits}f}"
    m, e = f"{x:.{digits - 1}e}".split("e")
    return f"{m}e{int(e)}"


# ---------------------------------------------------------------------------------------------
# Phase diagrams (Figs. 3-5 of arXiv 2312.10794)


@functools.cache
def _equiangular_curves(n: int, delta: float, dt: float, betas: tuple[float, ...]):
    from particles.analysis import equiangular

    exact = np.array([equiangular.hitting_time(b, n, delta) for b in betas])
    euler = np.array([equiangular.euler_hitting_time(b, n, delta, dt) for b in betas])
    return exact, euler


def fig3(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "fig3_phase_diagrams")
    t, betas, P, ds = a["t"], a["betas"], a["P"], [int(d) for d in a["d"]]
    p0 = meta["params"][0]
    n, delta, dt = p0["n"], p0["delta"], p0["dt"]
    exact, euler = _equiangular_curves(n, delta, dt, tuple(float(b) for b in betas))
    bt = np.array([[_first_time(t, P[k, i]) for i in range(len(betas))] for k in range(len(ds))])
    c: dict = {}
    from particles.analysis import equiangular

    c["gamma_beta0"] = equiangular.hitting_time(0.0, n, delta)
    # the Euler-equiangular curve against the exact one
    for b in (1, 4, 5, 6):
        i = _index(betas, b)
        c[f"euler_lag_b{b}"] = euler[i] - exact[i]
    rel = [
        (euler[_index(betas, b)] - exact[_index(betas, b)]) / exact[_index(betas, b)]
        for b in (1, 4, 5, 6)
    ]
    c["euler_lag_pct_min"], c["euler_lag_pct_max"] = 100 * min(rel), 100 * max(rel)
    # the table of first times with P >= 1/2
    rows = []
    for b in (0.1, 1, 2, 3, 4, 5, 6, 6.5, 7):
        i = _index(betas, b)
        cells = [f"{b:g}", f"{exact[i]:.2f}", f"{euler[i]:.1f}"]
        cells += ["–" if np.isnan(bt[k, i]) else f"{bt[k, i]:.1f}" for k in range(len(ds))]
        rows.append(cells)
    c["boundary_table"] = _md_table(["β", "Γ exact", "Euler dt=0.1"] + [f"d={d}" for d in ds], rows)
    c["seeds_all_1024"] = all(p["seeds"] == 1024 for p in meta["params"])
    c["band_width"] = [float(w) for w in a["band_width_median"]]
    # where each d's boundary follows the Euler curve, and where it leaves it
    step = dt + 1e-9
    for k, d in enumerate(ds):
        ok = np.isfinite(bt[k])
        dev = bt[k] - euler
        within = ok & (np.abs(dev) <= step)
        # the largest beta up to which every reached beta is within one step of the Euler curve
        bad = ok & ~within
        first_bad = int(np.argmax(bad)) if bad.any() else len(betas)
        c[f"euler_within_step_to_d{d}"] = float(betas[first_bad - 1]) if first_bad else None
        c[f"max_lead_over_euler_d{d}"] = float(np.nanmax(-dev[ok]))
        c[f"min_lag_vs_gamma_d{d}"] = float(np.nanmin(bt[k][ok] - exact[ok]))
        c[f"max_lag_vs_gamma_d{d}"] = float(np.nanmax(bt[k][ok] - exact[ok]))
        left = ok & (bt[k] < exact)
        c[f"first_beta_left_of_gamma_d{d}"] = float(betas[left].min()) if left.any() else None
        if left.any():  # every reached beta from the first one on is left of Gamma
            c[f"left_of_gamma_from_then_on_d{d}"] = bool(
                np.all(left[np.argmax(left) :] == ok[np.argmax(left) :])
            )
        c[f"last_beta_reached_d{d}"] = float(betas[ok].max())
    c["min_lag_vs_gamma_d512_1024"] = min(c["min_lag_vs_gamma_d512"], c["min_lag_vs_gamma_d1024"])
    c["all_d_ge_32_lead_euler"] = all(c[f"max_lead_over_euler_d{d}"] > step for d in ds if d >= 32)
    c["wall_s_resumed_run"] = float(meta["wall_s_this_run"])
    k32, k128 = ds.index(32), ds.index(128)
    both = np.isfinite(bt[k32]) & np.isfinite(bt[k128])
    # from which beta on the d = 128 boundary stays left of (earlier than) the d = 32 one
    not_before = np.nonzero(both & (bt[k128] >= bt[k32]))[0]
    c["beta_d128_before_d32"] = float(betas[not_before[-1] + 1])
    c["beta_d32_d128_equal"] = float(betas[not_before[-1]])
    c["t_d32_d128_equal"] = float(bt[k128, not_before[-1]])
    # the two quoted cells
    i6, i7 = _index(betas, 6), _index(betas, 7)
    c["d128_b6"], c["gamma_b6"], c["euler_b6"] = bt[k128, i6], exact[i6], euler[i6]
    c["d128_b7"], c["gamma_b7"] = bt[k128, i7], exact[i7]
    c["gamma_beta_at_tend"] = float(betas[exact <= t[-1]].max())
    # blue before t ~ 5
    c["max_P_before_t5"] = float(P[:, :, t <= 5.0 + 1e-9].max())
    # metastable zone at small d
    for d, bs in ((2, (2, 3, 4, 7)), (8, (4, 5))):
        for b in bs:
            c[f"P30_d{d}_b{b}"] = float(P[ds.index(d), _index(betas, b), -1])
    # RK4 (every third beta, d = 1024)
    br = betas[::3]
    rk = np.array([_first_time(t, row) for row in a["P_rk4"]])
    ex_r, eu_r = exact[::3], euler[::3]
    quoted = (0.1, 4.0, 5.2, 5.8, 6.4)
    idx = [_index(br, b) for b in quoted]
    c["rk4_times"] = [rk[i] for i in idx]
    c["rk4_gamma"] = [ex_r[i] for i in idx]
    c["rk4_euler"] = [eu_r[i] for i in idx]
    okr = np.isfinite(rk)
    close = okr & (np.abs(rk - ex_r) <= step)
    badr = okr & ~close
    c["rk4_within_step_to"] = (
        float(br[: np.argmax(badr)][-1]) if badr.any() else float(br[okr].max())
    )
    lead = okr & (rk < ex_r - step)
    c["rk4_lead_min"], c["rk4_lead_max"] = (
        float((ex_r - rk)[lead].min()),
        float((ex_r - rk)[lead].max()),
    )
    c["rk4_lead_beta_min"], c["rk4_lead_beta_max"] = float(br[lead].min()), float(br[lead].max())
    c["rk4_seeds"] = meta["rk4_params"]["seeds"]
    return c


def fig4(data_dir=HERE) -> dict:
    from scipy.sparse.csgraph import connected_components

    a, meta = _load(data_dir, "fig4_circle_metastability")
    betas, P = a["betas"], a["P"]
    delta = meta["params"]["delta"]
    c: dict = {}
    for b in (4, 9):
        x = a[f"traj_beta{b}"]
        counts = [connected_components(xi @ xi.T > 1 - delta, directed=False)[0] for xi in x]
        c[f"traj_clusters_b{b}"] = counts[1:]  # t = 18, 30
        fc = a[f"final_clusters_beta{b}"]
        for k in range(1, int(fc.max()) + 1):
            if np.any(fc == k):
                c[f"pct_b{b}_k{k}"] = 100 * float(np.mean(fc == k))
    c["seeds"] = int(a["final_clusters_beta4"].size)
    p30 = P[:, -1]
    c["P30_b2"] = float(p30[_index(betas, 2)])
    c["P30_ge_0.8_up_to"] = float(betas[p30 >= 0.8].max())
    c["P30_ge_0.5_up_to"] = float(betas[p30 >= 0.5].max())
    # the d = 2 panel is the d = 2 panel of Fig. 3
    f3, _ = _load(data_dir, "fig3_phase_diagrams")
    c["same_as_fig3_d2"] = bool(np.array_equal(f3["P"][list(f3["d"]).index(2)], P))
    return c


FIG5_PANELS = {"a": "ginibre-v=g", "b": "goe", "c": "ginibre-v=b", "d": "goe-v=b", "a2": "ginibre"}


def fig5(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "fig5_random_weights")
    t, betas, P = a["t"], a["betas"], a["P"]
    c: dict = {}
    p = meta["params"][0]
    c["seeds"], c["n_betas"] = p["seeds"], len(betas)
    c["pairs"] = p["n"] * (p["n"] - 1)
    i10 = _index(t, 10.0)
    for lab, name in FIG5_PANELS.items():
        k = meta["panels"].index(name)
        bt = np.array([_first_time(t, row) for row in P[k]])
        ok = np.isfinite(bt)
        c[f"{lab}_half_reached"] = int(ok.sum())
        c[f"{lab}_half_tmin"] = float(np.nanmin(bt)) if ok.any() else None
        c[f"{lab}_half_tmax"] = float(np.nanmax(bt)) if ok.any() else None
        p30, p10 = P[k, :, -1], P[k, :, i10]
        c[f"{lab}_P30_ge_0.99_up_to"] = float(betas[p30 >= 0.99].max())
        c[f"{lab}_P30_ge_0.9_up_to"] = float(betas[p30 >= 0.9].max())
        c[f"{lab}_P30_ge_0.5_up_to"] = float(betas[p30 >= 0.5].max())
        above = betas > c[f"{lab}_P30_ge_0.99_up_to"]
        if not above.any():
            continue
        c[f"{lab}_P30_above_min"] = float(p30[above].min())
        c[f"{lab}_P30_above_max"] = float(p30[above].max())
        c[f"{lab}_P10_above_min"] = float(p10[above].min())
        c[f"{lab}_P10_above_max"] = float(p10[above].max())
        c[f"{lab}_P30_above_argmin_beta"] = float(betas[above][np.argmin(p30[above])])
        c[f"{lab}_P30_above_argmax_beta"] = float(betas[above][np.argmax(p30[above])])
        c[f"{lab}_P10_b9"] = float(p10[-1])
        c[f"{lab}_P30_b9"] = float(p30[-1])
    return c


# ---------------------------------------------------------------------------------------------
# Clustering analysis


def fig2(data_dir=HERE) -> dict:
    a, _ = _load(data_dir, "fig2_phase_regions")
    proved = a["proved"]
    return {
        "red_cells": int((proved == 0).sum()),
        "red_cell_is_d2_mid_beta": bool(proved[1, 0] == 0),
    }


def fig6h(data_dir=HERE) -> dict:
    a, _ = _load(data_dir, "fig6_hessian_g")
    tau, g, bg, ts = a["tau"], a["g"], a["betas_g"], a["tau_star"]
    c: dict = {}
    for k, b in enumerate(bg):
        c[f"tau_star_b{b:g}"] = float(ts[k])
    res = np.abs(bg * np.sin(ts) ** 2 - np.cos(ts))
    c["tau_star_residual_below_1e-15"] = bool(res.max() < 1e-15)
    i6 = list(bg).index(6.0)
    c["six_sin2"] = float(6 * np.sin(ts[i6]) ** 2)
    c["cos_tau6"] = float(np.cos(ts[i6]))
    c["g_sign"] = bool(
        all(
            np.all(g[k][np.abs(tau) < ts[k]] > 0) and np.all(g[k][np.abs(tau) > ts[k]] < 0)
            for k in range(len(bg))
        )
    )
    lam, ns, bs = a["lambda_max"], a["n_saddle"], a["betas_saddle"]
    c["all_positive"] = bool(np.all(lam > 0))
    for k, n in enumerate(ns):
        c[f"lambda_min_n{n}"] = float(lam[k].min())
    c["n_betas"], c["beta_min"], c["beta_max"] = len(bs), float(bs.min()), float(bs.max())
    scaled = lam * ns[:, None] ** 2 * np.exp(-bs)
    k8 = list(ns).index(8)
    i10 = int(np.argmin(np.abs(bs - 10)))
    c["scaled_n8_b10_beta"] = float(bs[i10])
    c["scaled_n8_b10"] = float(scaled[k8, i10])
    c["scaled_n8_b50"] = float(scaled[k8, -1])
    c["weight_pi4_b10"] = float(np.exp(bs[i10] * (np.cos(np.pi / 4) - 1)))
    c["weight_pi4_b50"] = float(np.exp(bs[-1] * (np.cos(np.pi / 4) - 1)))
    return c


def wendel(data_dir=HERE) -> dict:
    from scipy.stats import norm

    a, _ = _load(data_dir, "wendel")
    z, se = a["z"], a["stderr"]
    nz = se > 0
    c: dict = {"n_nonzero_se": int(nz.sum()), "within_2se": int(np.sum(np.abs(z[nz]) <= 2))}
    c["max_abs_z"] = float(np.abs(z).max())
    top = np.argsort(-np.abs(z))[:2]
    c["max_abs_z_cases"] = [[int(a["n"][i]), int(a["d"][i])] for i in top]
    c["expected_excursions"] = float(nz.sum() * 2 * norm.sf(2))
    c["samples"] = int(a["samples"])
    c["total_lps"] = int(a["samples"]) * len(a["n"])
    for n, d in ((8, 3), (6, 2), (10, 4), (16, 2), (16, 14)):
        i = int(np.nonzero((a["n"] == n) & (a["d"] == d))[0][0])
        c[f"exact_n{n}_d{d}"] = float(a["exact"][i])
        c[f"mc_n{n}_d{d}"] = float(a["mc"][i])
        c[f"se_n{n}_d{d}"] = float(a["stderr"][i])
        c[f"hits_n{n}_d{d}"] = int(round(a["mc"][i] * int(a["samples"])))
    c["d_ge_n_all_in_hemisphere"] = bool(np.all(a["mc"][a["d"] >= a["n"]] == 1.0))
    c["top_cases_are_n6_d4_d5"] = sorted(map(tuple, c["max_abs_z_cases"])) == [(6, 4), (6, 5)]
    return c


REPULSIVE_EXPECTED = {
    (4, 3): {-1 / 3: 6},
    (6, 3): {-1.0: 3, 0.0: 12},
    (12, 3): {-1.0: 6, -1 / math.sqrt(5): 30, 1 / math.sqrt(5): 30},
    (5, 4): {-1 / 4: 10},
    (8, 4): {-1.0: 4, 0.0: 24},
}


def repulsive(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "repulsive_shapes")
    cases, seeds = [tuple(int(v) for v in c) for c in a["cases"]], [int(s) for s in a["seeds"]]
    match, worst = 0, 0.0
    for n, d in cases:
        exp = REPULSIVE_EXPECTED[(n, d)]
        for s in seeds:
            vals, mult = a[f"values_{n}_{d}_{s}"], a[f"mult_{n}_{d}_{s}"]
            ev = np.array(sorted(exp))
            if len(vals) != len(ev):
                continue
            order = np.argsort(vals)
            dev = np.abs(vals[order] - ev).max()
            if np.array_equal(mult[order], [exp[v] for v in ev]) and dev < 1e-4:
                match += 1
            worst = max(worst, float(dev))
    tf = a["t_final"].reshape(len(cases), len(seeds))
    c: dict = {"matches": match, "runs": len(cases) * len(seeds), "all_within_1e-4": worst < 1e-4}
    c["max_speed"] = float(a["max_speed"].max())
    names = {(4, 3): "tet", (6, 3): "oct", (12, 3): "ico", (5, 4): "simplex", (8, 4): "cross"}
    for k, nd in enumerate(cases):
        c[f"t_{names[nd]}_min"], c[f"t_{names[nd]}_max"] = float(tf[k].min()), float(tf[k].max())
    c["shapes_named"] = meta["shapes"][:: len(seeds)] == [
        "tetrahedron",
        "octahedron",
        "icosahedron",
        "simplex",
        "cross-polytope",
    ]
    return c


def staircase(data_dir=HERE) -> dict:
    from scipy.sparse.csgraph import connected_components

    a, _ = _load(data_dir, "staircase_d2")
    delta = float(a["delta"])
    c: dict = {}
    for k, (n, beta, _seed) in enumerate(a["runs"]):
        n = int(n)
        t, E, cl, th = (a[f"{s}_{k}"] for s in ("t", "energy", "n_clusters", "theta"))
        dirac = np.exp(beta) / (2 * beta)
        c[f"n{n}_E_ratio_final"] = float(E[-1] / dirac)
        c[f"n{n}_clusters_final"] = int(cl[-1])
        c[f"n{n}_clusters_t10"] = int(cl[np.searchsorted(t, 10.0)])
        c[f"n{n}_E_nondecreasing"] = bool(np.all(np.diff(E) >= -1e-12 * np.abs(E).max()))
        # merges after t = 10: the first saved time with the new count, and how fast they are
        ch = [i for i in np.nonzero(np.diff(cl))[0] if t[i + 1] >= 10.0]
        c[f"n{n}_merges"] = [[int(cl[i]), int(cl[i + 1]), float(t[i + 1])] for i in ch]
        for j, i in enumerate(ch):
            c[f"n{n}_merge_t{j}"] = float(t[i + 1])
        # after t = 10, the share of the energy increase made in the save intervals of a merge
        i10 = int(np.searchsorted(t, 10.0))
        c[f"n{n}_merge_intervals"] = len(ch)
        c[f"n{n}_intervals_after_10"] = len(t) - 1 - i10
        c[f"n{n}_energy_pct_in_merges"] = 100 * float(
            sum(E[i + 1] - E[i] for i in ch) / (E[-1] - E[i10])
        )
        c[f"n{n}_xcheck"] = float(a[f"xcheck_max_angle_err_{k}"])
        G = np.cos(th[-1][:, None] - th[-1][None, :]) > 1 - delta
        kk, lab = connected_components(G, directed=False)
        c[f"n{n}_final_sizes"] = sorted(int(s) for s in np.bincount(lab))
        c[f"n{n}_final_size_small"] = c[f"n{n}_final_sizes"][0]
        c[f"n{n}_final_size_large"] = c[f"n{n}_final_sizes"][-1]
        if kk == 2:
            m = [np.angle(np.exp(1j * th[-1][lab == j]).mean()) for j in range(2)]
            sep = float(abs(np.angle(np.exp(1j * (m[0] - m[1])))))
            c[f"n{n}_separation_deg"] = math.degrees(sep)
            c[f"n{n}_cross_weight"] = math.exp(beta * (math.cos(sep) - 1))
            s = c[f"n{n}_final_sizes"]
            c[f"n{n}_E_ratio_two_diracs"] = (s[0] ** 2 + s[1] ** 2) / n**2
    c["save_ratio"] = float(a["t_0"][2] / a["t_0"][1])
    c["t_end"] = float(a["t_end"])
    return c


# ---------------------------------------------------------------------------------------------
# Scan and Snap (arXiv 2305.16380)


def _ss_task(meta):
    from particles.scansnap import SyntheticTask

    tk = meta["task"]
    return SyntheticTask(num_classes=tk["num_classes"], classes_per_query=tk["classes_per_query"])


def ss_fig4(data_dir=HERE) -> dict:
    from particles.scansnap import kendall_tau, snap_time

    a, meta = _load(data_dir, "scansnap_fig4")
    task = _ss_task(meta)
    cm, loss, c_ = a["common"], a["loss"], a["c"]
    c: dict = {"M": task.vocab_size, "log_M": math.log(task.vocab_size)}
    c["loss0"], c["loss10"], c["loss_end"] = float(loss[0]), float(loss[10]), float(loss[-1])
    c["loss0_is_log_M"] = abs(loss[0] - math.log(task.vocab_size)) < 1e-12
    for s in (0, 10, 48, 300):
        c[f"common_{s}"] = [float(v) for v in cm[s]]
    c["common0"] = float(cm[0, 0])
    c["common_change_after_100"] = float(np.abs(cm[-1] - cm[100]).max())
    c["common_total_fall"] = float(np.abs(cm[-1] - cm[0]).max())
    c["snap"] = snap_time(c_, a["steps"])
    c["max_weight_end"] = float(a["max_weight"][-1].max())
    sup = list(task.support)

    def tau(step):
        # z_l - z_l' = log(c_l / P_l) - log(c_l' / P_l'): the order of z from the saved c
        out = []
        for k in range(task.num_classes):
            toks = task.distinct_tokens(k)
            cols = [sup.index(tk) for tk in toks]
            z = np.log(c_[step, k, cols] / task.probs[k, toks])
            out.append(kendall_tau(z, task.probs[k, toks]))
        return float(np.mean(out))

    c["tau10"], c["tau48"] = tau(10), tau(48)
    c["tau_min_from_48"] = min(tau(s) for s in range(48, len(a["steps"])))
    return c


def ss_fig6(data_dir=HERE) -> dict:
    a, _ = _load(data_dir, "scansnap_fig6")
    K, ez, r = list(a["classes"]), list(a["eta_z"]), list(a["ratio"])
    ent = a["entropy"]
    mean, std = ent.mean(-1), ent.std(-1)
    c: dict = {}
    c["seeds"] = int(a["seeds"].size)
    c["falls_with_eta_z_pct"] = 100 * float(np.mean(np.diff(mean, axis=1) < 0))
    c["rises_with_ratio_pct"] = 100 * float(np.mean(np.diff(mean, axis=2) > 0))
    c["rises_with_ratio_K2_pct"] = 100 * float(np.mean(np.diff(mean[0], axis=1) > 0))
    k2 = K.index(2)
    c["ent_K2_r1_vs_eta_z"] = [float(v) for v in mean[k2, :, r.index(1)]]
    c["ent_K2_z1_vs_ratio"] = [float(v) for v in mean[k2, ez.index(1), :]]
    c["ent_K20_z3_vs_ratio"] = [float(v) for v in mean[K.index(20), ez.index(3), :]]
    # the large-step cells: K = 2, eta_z >= 2, ratio >= 5
    big = np.zeros(mean.shape, bool)
    for j, e in enumerate(ez):
        for q, x in enumerate(r):
            big[k2, j, q] = e >= 2 and x >= 5
    c["std_K2_z2_r10"] = float(std[k2, ez.index(2), r.index(10)])
    c["std_K2_z3_r10"] = float(std[k2, ez.index(3), r.index(10)])
    c["std_K2_z2_r5"] = float(std[k2, ez.index(2), r.index(5)])
    c["std_K2_z3_r5"] = float(std[k2, ez.index(3), r.index(5)])
    c["std_max_elsewhere"] = float(std[~big].max())
    mw = np.nanmax(a["max_weight"], axis=-1)
    c["max_weight_max"] = float(mw.max())
    c["max_weight_max_in_big"] = bool(mw[big].max() == mw.max())
    c["max_weight_elsewhere"] = float(mw[~big].max())
    return c


def ss_fig6a(data_dir=HERE) -> dict:
    """Fig. 6 against the authors' table (scansnap_fig6_authors.npz)."""
    a, _ = _load(data_dir, "scansnap_fig6_authors")
    d, diff, z = a["dev_pooled"], a["diff"], a["dev_se"]
    ad = np.abs(d)
    c: dict = {"cells": int(d.size)}
    c["dev_median"], c["dev_mean"] = float(np.median(ad)), float(ad.mean())
    c["dev_lt1_pct"], c["dev_lt2_pct"] = 100 * float(np.mean(ad < 1)), 100 * float(np.mean(ad < 2))
    w = np.unravel_index(np.argmax(ad), d.shape)
    c["dev_max"] = float(ad[w])
    c["worst_eta_z"], c["worst_ratio"] = float(a["eta_z"][w[1]]), float(a["ratio"][w[2]])
    c["worst_ours"], c["worst_authors"] = float(a["ours_mean"][w]), float(a["authors_mean"][w])
    c["dev_mean_per_panel"] = [float(ad[i].mean()) for i in range(d.shape[0])]
    c["diff_mean"] = float(diff.mean())
    c["ours_above_pct"] = 100 * float(np.mean(diff > 0))
    c["diff_median_abs"], c["diff_max_abs"] = (
        float(np.median(np.abs(diff))),
        float(np.abs(diff).max()),
    )
    c["corr_means"] = float(np.corrcoef(a["ours_mean"].ravel(), a["authors_mean"].ravel())[0, 1])
    c["std_ratio_median"] = float(np.median(a["ours_std"] / a["authors_std"]))
    c["z_lt2_pct"] = 100 * float(np.mean(np.abs(z) < 2))
    for name, m in (("ours", a["ours_mean"]), ("authors", a["authors_mean"])):
        c[f"falls_eta_z_pct_{name}"] = 100 * float(np.mean(np.diff(m, axis=1) < 0))
        c[f"rises_ratio_pct_{name}"] = 100 * float(np.mean(np.diff(m, axis=2) > 0))
    rows = []
    for i, k in enumerate(a["num_last"]):
        for j, ez in enumerate(a["eta_z"]):
            rows.append(
                [str(int(k)), str(int(a["classes"][i])), f"{ez:g}"]
                + [f"{v:.2f}".replace("-", "−") for v in d[i, j]]
            )
    c["dev_table"] = _md_table(
        ["query tokens", "K", "η_Z"] + [f"η_Y/η_Z = {r:g}" for r in a["ratio"]], rows
    )
    return c


def ss_snap(data_dir=HERE) -> dict:
    from particles.scansnap import SyntheticTask

    a, meta = _load(data_dir, "scansnap_snaptime")
    K, ez, r = list(a["classes"]), list(a["eta_z"]), list(a["ratio"])
    snap = a["snap_time"].mean(-1)
    c: dict = {}
    c["snap_K2_z0.5"] = [float(v) for v in snap[K.index(2), ez.index(0.5)]]
    c["snap_K10_z1"] = [float(v) for v in snap[K.index(10), ez.index(1)]]
    for k in K:
        c[f"snap_K{k}_z1_r1"] = float(snap[K.index(k), ez.index(1), r.index(1)])
    n_cells = len(ez) * len(r)
    c["cells"] = n_cells
    c["K6_after_K2"] = int(np.sum(snap[K.index(6)] > snap[K.index(2)]))
    c["K10_after_K6"] = int(np.sum(snap[K.index(10)] > snap[K.index(6)]))
    c["K10_after_K2"] = int(np.sum(snap[K.index(10)] > snap[K.index(2)]))
    eta_y = (np.array(ez)[:, None] * np.array(r)[None, :]).ravel()
    for i, k in enumerate(K):
        c[f"slope_K{k}"] = float(np.polyfit(np.log(eta_y), np.log(snap[i].ravel()), 1)[0])
    c["snap_min"] = float(snap.min())
    jm = np.unravel_index(np.argmin(snap), snap.shape)
    c["snap_min_K"], c["snap_min_eta_y"] = int(K[jm[0]]), float(ez[jm[1]] * r[jm[2]])
    common0 = np.array(
        [SyntheticTask(num_classes=int(k), classes_per_query=1).probs[0, :10].sum() for k in K]
    )
    drop_runs = 1 - a["common"] / common0[:, None, None, None]
    drop = drop_runs.mean(-1)
    ent = a["entropy"].mean(-1)
    c["pairs"] = int(np.diff(drop, axis=2).size)
    c["drop_falls"] = int(np.sum(np.diff(drop, axis=2) < 0))
    c["entropy_rises"] = int(np.sum(np.diff(ent, axis=2) > 0))
    c["drop_K2_z1"] = [float(v) for v in drop[K.index(2), ez.index(1)]]
    e = ent[K.index(2), ez.index(1)]
    c["ent_K2_z1_first"], c["ent_K2_z1_last"] = float(e[0]), float(e[-1])
    for z in (1, 2):
        d = drop[K.index(10), ez.index(z)]
        c[f"drop_K10_z{z}_r1"], c[f"drop_K10_z{z}_r2"] = float(d[0]), float(d[1])
    i6, j2, q20 = K.index(6), ez.index(2), r.index(20)
    c["drop_K6_z2_r20"] = float(drop_runs[i6, j2, q20].mean())
    c["drop_K6_z2_r20_std"] = float(drop_runs[i6, j2, q20].std())
    c["maxw_K6_z2_r20"] = float(np.nanmax(a["max_weight"][i6, j2, q20]))
    c["ratio_max"] = float(max(r))
    return c


def ss_ode(data_dir=HERE) -> dict:
    from particles.scansnap import snap_time

    a, meta = _load(data_dir, "scansnap_ode")
    ts = a["ts"]
    num = meta["numbers"]
    labels = [case[0] for case in meta["cases"]]
    c: dict = {"steps": int(ts[-1])}
    for k, lab in enumerate(labels):
        cs, co = a[f"case{k}_c_sgd"], a[f"case{k}_c_ode"]
        cm_s, cm_o = cs[..., :10].sum(-1).mean(-1), co[..., :10].sum(-1).mean(-1)
        c[f"case{k}_max_c_diff"] = float(np.abs(cs - co).max())
        c[f"case{k}_common_sgd"], c[f"case{k}_common_ode"] = float(cm_s[-1]), float(cm_o[-1])
        c[f"case{k}_common_sgd_std"] = float(num[lab]["common_final_sgd_std"])
        c[f"case{k}_common0"] = float(cm_o[0])
        c[f"case{k}_loss_sgd_end"] = float(a[f"case{k}_loss_sgd"][-1])
        c[f"case{k}_loss_ode_end"] = float(a[f"case{k}_loss_ode"][-1])
        # snap time: per-run mean (stored number) and of the seed-mean trajectory (recomputed)
        c[f"case{k}_snap_sgd_runs"] = float(num[lab]["snap_sgd"])
        c[f"case{k}_snap_sgd"] = snap_time(cs, ts)
        c[f"case{k}_snap_ode"] = snap_time(co, ts)
        c[f"case{k}_tau_sgd"] = float(num[lab]["tau_sgd"])
        c[f"case{k}_tau_ode"] = float(num[lab]["tau_ode"])
        c[f"case{k}_same_order"] = bool(num[lab]["same_distinct_order"])
    c["ratio_order_kept"] = bool(
        c["case1_common_sgd"] > c["case0_common_sgd"]
        and c["case1_common_ode"] > c["case0_common_ode"]
    )
    # the plain-SGD control never leaves the scan phase: its c still moves at the end
    c["case2_drop_pct_of_momentum"] = 100 * (
        (c["case2_common0"] - c["case2_common_sgd"]) / (c["case0_common0"] - c["case0_common_sgd"])
    )
    return c


def ss_text(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "scansnap_text")
    st = a["steps"]
    idx = [int(np.nonzero(st == s)[0][0]) for s in (0, 50, 200, 1000)]
    c: dict = {}
    for r in range(2):
        e = a[f"entropy{r}"]
        c[f"entropy{r}"] = [float(e[i]) for i in idx[1:]]
        c[f"max_weight{r}"] = float(a[f"att{r}"][-1].max())
        c[f"loss_last10_{r}"] = float(a[f"loss{r}"][-10:].mean())
        c[f"loss0_{r}"] = float(a[f"loss{r}"][0])
    c["entropy_uniform"] = float(a["entropy0"][0])
    c["log_T"] = math.log(meta["task"]["context_len"])
    c["log_V"] = math.log(meta["task"]["vocab_size"])
    c["num_tokens"] = meta["task"]["num_tokens"]
    return c


# ---------------------------------------------------------------------------------------------
# Real Transformer


TDEPTH_LAYERS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 48)


def tdepth(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "transformer_depth")
    L = list(TDEPTH_LAYERS)
    rows = [
        ["mean ⟨x_i,x_j⟩"] + [f"{v:.3f}" for v in a["stats_mean"][L]],
        ["std"] + [f"{v:.3f}" for v in a["stats_std"][L]],
        ["fraction > 0.9"] + [f"{v:.3f}" for v in a["stats_frac_above"][L]],
        ["clusters (δ = 0.01)"] + [str(int(v)) for v in a["stats_clusters"][L]],
    ]
    c: dict = {"table": _md_table(["layer"] + [str(x) for x in L], rows)}
    m = a["stats_mean"]
    c["n_tokens"] = int(meta["n_tokens"])
    c["mean0"], c["mean1"], c["mean5"], c["mean6"] = (float(m[i]) for i in (0, 1, 5, 6))
    c["mean8"], c["mean12"] = float(m[8]), float(m[12])
    c["frac48_all"] = bool(a["stats_frac_above"][48] == 1.0 and a["stats_clusters"][48] == 1)
    e, h = a["stats_edges"], a["stats_hist"]
    w = np.diff(e)
    for layer in (0, 5):
        mass = h[layer] * w
        c[f"pct_above_0.8_l{layer}"] = 100 * float(mass[e[:-1] >= 0.8 - 1e-12].sum() / mass.sum())

    def one_from(cl):
        cl = np.asarray(cl)
        return int(np.nonzero(cl != 1)[0].max() + 1)

    c["one_cluster_from"] = one_from(a["stats_clusters"])
    c["repeats_to_one"] = c["one_cluster_from"] - int(meta["trained_depth"])
    names = {"melville_loomings": "melville", "lincoln_gettysburg": "lincoln"}
    for key, short in names.items():
        v = meta["other_passages"][key]
        c[f"{short}_means"] = [float(v["mean"][i]) for i in (0, 5, 6, 12, 48)]
        c[f"{short}_one_from"] = one_from(v["clusters"])
    c["others_one_from_min"] = min(c["melville_one_from"], c["lincoln_one_from"])
    c["others_one_from_max"] = max(c["melville_one_from"], c["lincoln_one_from"])
    c["others_one_from_same"] = c["melville_one_from"] == c["lincoln_one_from"]
    return c


TODE_LAYERS = (0, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13, 24)


def tode(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "transformer_ode")
    L = list(TODE_LAYERS)

    def f3(v):
        return "0" if v == 0 else f"{v:.3f}"

    rows = []
    for label, key in (
        ("network mean", "network_mean"),
        ("ODE attention mean", "ode_attention_mean"),
        ("ODE attention+ffn mean", "ode_attention_ffn_mean"),
        ("network std", "network_std"),
        ("ODE attention std", "ode_attention_std"),
    ):
        rows.append([label] + [f3(v) for v in a[key][L]])
    for label, key in (
        ("network clusters", "network_clusters"),
        ("ODE attention clusters", "ode_attention_clusters"),
        ("ODE attention+ffn clusters", "ode_attention_ffn_clusters"),
    ):
        rows.append([label] + [str(int(v)) for v in a[key][L]])
    c: dict = {"table": _md_table(["ℓ"] + [str(x) for x in L], rows)}
    c["r"] = [float(v) for v in a["scale"]]
    c["beta"] = [float(v) for v in a["beta"]]
    med = np.median(a["betas"], axis=1)
    c["head_beta_median_min"], c["head_beta_median_max"] = float(med.min()), float(med.max())
    c["head_beta_max"] = float(a["betas"].max())
    c["dt_attention"], c["dt_ffn"] = meta["dt"]["attention"], meta["dt"]["attention+ffn"]
    nm = a["network_mean"]
    for var, key in (("attention", "ode_attention"), ("ffn", "ode_attention_ffn")):
        err = a[f"{key}_mean"][1:7] - nm[1:7]
        c[f"rms_{var}"] = float(np.sqrt(np.mean(err**2)))
    c["net_mean10"], c["ode_mean10"] = float(nm[10]), float(a["ode_attention_mean"][10])

    def first_one(cl):
        return int(np.nonzero(np.asarray(cl) == 1)[0][0])

    c["ode_one_cluster_at"] = first_one(a["ode_attention_clusters"])
    c["net_one_cluster_at"] = first_one(a["network_clusters"])
    c["ode_std_nonincreasing"] = bool(np.all(np.diff(a["ode_attention_std"]) <= 0))
    c["ode_std6"], c["net_std6"] = float(a["ode_attention_std"][6]), float(a["network_std"][6])
    c["ode_clusters_9_12"] = [int(v) for v in a["ode_attention_clusters"][9:13]]
    c["net_clusters5"] = int(a["network_clusters"][5])
    e = a["edges"]
    w, centres = np.diff(e), 0.5 * (e[1:] + e[:-1])
    c["hist_tv_1_3"] = [
        0.5 * float(np.abs((a["network_hist"][k] - a["ode_attention_hist"][k]) * w).sum())
        for k in (1, 2, 3)
    ]
    c["mode_net_1_3"] = [float(centres[np.argmax(a["network_hist"][k])]) for k in (1, 2, 3)]
    c["mode_ode_1_3"] = [float(centres[np.argmax(a["ode_attention_hist"][k])]) for k in (1, 2, 3)]
    c["ffn_mean5"], c["net_mean5"] = float(a["ode_attention_ffn_mean"][5]), float(nm[5])
    c["ffn_std6"] = float(a["ode_attention_ffn_std"][6])
    neg = e[:-1] < 0
    c["ffn_neg_pct6"] = 100 * float((a["ode_attention_ffn_hist"][6] * w)[neg].sum())
    c["net_neg_pct6"] = 100 * float((a["network_hist"][6] * w)[neg].sum())
    c["ffn_mean24"] = float(a["ode_attention_ffn_mean"][24])
    c["ffn_clusters24"] = int(a["ode_attention_ffn_clusters"][24])
    return c


# ---------------------------------------------------------------------------------------------
# Att-SVM (arXiv 2308.16898)


def svm_e1(data_dir=HERE) -> dict:
    from particles.svm.model import correlation

    a, _ = _load(data_dir, "svm_e1_trajectories")
    return {
        "corr_W": float(a["corr_W"]),
        "corr_KQ": float(a["corr_KQ"]),
        "corr_W_nuc": float(correlation(a["Ws_W"][-1], a["W_nuc"])),
        "corr_mm_nuc": float(correlation(a["W_mm"], a["W_nuc"])),
    }


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


def svm_e2(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "svm_e2_local_convergence")
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
            rows["corr"].append(f"1 − {_sig(float(np.median(1 - ct)), 1)} (median)")
            rows["medmin"].append(f"max 1 − corr {_sig(float(np.max(1 - ct)), 1)}")
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
            rows["bal"].append(_sig(float(np.median(a[f"balance_{run}"])), 2 if run == "KQ" else 1))
        elif run == "KQj" and j == 1:
            rows["bal"].append("not stored")
        else:
            rows["bal"].append("—")
    header = [f"{S} runs"] + [lab for *_, lab in _e2_cols(a)]
    c["table"] = _md_table(
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
    c["maxprob_one_elsewhere"] = bool(all(np.all(x == 1.0) for x in others)) and all(
        meta["summary"][r][s]["maxprob_min"] == 1.0
        for r in ("KQ", "KQj")
        for s in meta["summary"][r]
        if s != "alpha_changed_seeds"
    )
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


def svm_e3(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "svm_e3_rank")
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


def svm_e4(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "svm_e4_multitoken")
    dims = [int(d) for d in a["dims"]]
    rows, c = [], {}
    multi, order, rho, leak_min = [], [], [], []
    for d in dims:
        eq, di, one = (a[f"{k}_d{d}"][:, -1] for k in ("eq", "dir", "one"))
        rows.append(
            [str(d)]
            + [f"{_sig(float(x.mean()))} ({_sig(float(np.median(x)))})" for x in (eq, di, one)]
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
    c["table"] = _md_table(["d", "W^SVMeq", "W^mm(O)", "W^1token"], rows)
    c["accepted"] = [c[f"accepted_d{d}"] for d in dims]
    c["seeds_tried_max"] = max(c[f"seeds_tried_max_d{d}"] for d in dims)
    c["multi_pct_min"], c["multi_pct_max"] = min(multi), max(multi)
    c["order_pct_min"], c["order_pct_max"] = min(order), max(order)
    c["order_on_average_all"] = all(c[f"order_on_average_d{d}"] for d in dims)
    c["eq_median_max"] = max(c[f"eq_median_d{d}"] for d in dims)
    c["spearman_min"], c["spearman_max"] = min(rho), max(rho)
    c["leak_min"] = min(leak_min)
    return c


def svm_lg(data_dir=HERE) -> dict:
    """The 2-D local/global picture (svm_local_global_2d.npz)."""
    from particles.svm.experiments import local_global_data
    from particles.svm.model import token_scores
    from particles.svm.solvers import local_optimality

    a, meta = _load(data_dir, "svm_local_global_2d")
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


def svm_e5(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "svm_e5_global_vs_local")
    dims = [int(d) for d in a["dims"]]
    fr = a["fractions"]
    rows = [
        [lab] + [f"{v:.2f}".lstrip("0") if v < 1 else "1" for v in fr[:, k]]
        for k, lab in enumerate(meta["labels"])
    ]
    c: dict = {"table": _md_table(["d"] + [str(d) for d in dims], rows)}
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


# ---------------------------------------------------------------------------------------------
# Registry, tags, check and write

#: tag prefix -> function computing that figure's claims

# ---------------------------------------------------------------------------------------------
# The noisy model


def nbif(data_dir=HERE) -> dict:
    """noise_bifurcation: per panel (d, beta, USA or SA) the theory (kappa_c, fold, kappa_1) and where
    the up and down sweeps of the particles and of the PDE (circle or S^2) jump."""
    from particles import meanfield as mf

    _, meta = _load(data_dir, "noise_bifurcation")
    c: dict = {"beta_star_d2": mf.beta_star(2), "beta_star_d3": mf.beta_star(3)}
    for key, v in meta["numbers"].items():
        k = key.replace("_beta", "_b").replace(".", "p")
        for f in (
            "kappa_c",
            "fold_kappa",
            "fold_r",
            "kappa_1",
            "particles_jump_up",
            "particles_drop_down",
            "pde_jump_up",
            "pde_drop_down",
            "pde_max_dev_from_branch",
        ):
            if f in v:
                c[f"{k}_{f}"] = v[f]
        if "particles_max_dev_from_branch_above_1.15kc" in v:
            c[f"{k}_particles_dev_above"] = v["particles_max_dev_from_branch_above_1.15kc"]
        c[f"{k}_window_pct"] = 100 * (v["kappa_c"] - v["fold_kappa"]) / v["kappa_c"]
        c[f"{k}_continuous"] = v["transition"] == "continuous"
        if v["transition"] == "discontinuous":  # (the jump points bracket [fold, kappa_c] there)
            c[f"{k}_particles_hysteresis"] = bool(v["particles_jump_up"] > v["particles_drop_down"])
            if "pde_jump_up" in v:
                c[f"{k}_pde_hysteresis"] = bool(v["pde_jump_up"] > v["pde_drop_down"])
    sa = [v for v in meta["numbers"].values() if v.get("kind") == "SA"]
    if sa:  # every SA panel: a supercritical branch, so a continuous transition at kappa_c
        c["sa_all_continuous"] = all(v["fold_kappa"] == v["kappa_c"] for v in sa)
        c["sa_pde_max_dev"] = max(v["pde_max_dev_from_branch"] for v in sa)
        c["sa_particles_max_dev_above"] = max(
            v["particles_max_dev_from_branch_above_1.15kc"] for v in sa
        )
    return c


def nmode(data_dir=HERE) -> dict:
    """noise_mode_growth: measured growth rates against linear theory, and the cluster counts."""
    a, meta = _load(data_dir, "noise_mode_growth")
    num = meta["numbers"]
    c: dict = {
        "pde_max_rel_error": num["pde_max_rel_error"],
        "pde_modes_checked": num["pde_modes_checked"],
    }
    for key, tag in (("particles_d2", "p2"), ("particles_d3", "p3")):
        lam, meas = np.array(num[key]["lambda"]), np.array(num[key]["measured"])
        c[f"{tag}_lambda"] = [float(v) for v in lam]
        c[f"{tag}_measured"] = [float(v) for v in meas]
        rel = np.abs(meas - lam) / lam
        c[f"{tag}_rel_err_pct"] = [float(100 * v) for v in rel]
        c[f"{tag}_rel_err_pct_2to4"] = [float(100 * v) for v in rel[1:4]]
        c[f"{tag}_rel_err_pct_max_1to4"] = float(100 * rel[:4].max())
    cl = num["clusters"]
    c["cl_fraction_equal_pct"] = 100 * cl["fraction_equal"]
    c["cl_fraction_within_1_pct"] = 100 * cl["fraction_within_1"]
    c["cl_betas"] = cl["betas"]
    c["cl_fastest"] = cl["fastest_mode"]
    c["cl_mean_count"] = cl["mean_count"]
    return c


def npp(data_dir=HERE) -> dict:
    """noise_pde_particles: particles (10^6) against the Fokker-Planck solution, and W1 against n."""
    a, meta = _load(data_dir, "noise_pde_particles")
    num = meta["numbers"]
    c: dict = {
        k: num[k]
        for k in (
            "kappa_c",
            "w1_slope_t2_large_n",
            "w1_slope_t05",
            "w1_slope_t0",
            "pde_mass_error",
            "pde_min_density",
            "hist_max_abs_dev",
        )
    }
    c["growth_rates"] = num["growth_rates_1_4"]
    c["max_growth_rate"] = max(num["growth_rates_1_4"])
    c["r_pde"] = num["r_pde"]
    c["r_particles"] = num["r_particles"]
    c["w1_big"] = num["w1_big_particles"]
    c["w1_sqrt_n_t2"] = num["w1_sqrt_n_t2"]
    c["r_max_abs_diff"] = float(
        np.max(np.abs(np.array(num["r_pde"]) - np.array(num["r_particles"])))
    )
    return c


# ---------------------------------------------------------------------------------------------
# Normalisation schemes and long context

_SCHEMES = ("post", "pre", "peri", "ngpt", "mix", "lns")
_NAMES = ("Post-LN", "Pre-LN", "Peri-LN", "nGPT", "Mix-LN", "LN-Scaling")


def norm_eq(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "norm_equiangular")
    ts = a["t_sim"]
    c: dict = {}
    drho, dr = [], []
    for nm in _SCHEMES:
        es, eo = a[f"{nm}_eps_sim"], a[f"{nm}_eps_ode_at_sim"]
        drho.append(float(np.max(np.abs(es - eo))))
        dr.append(float(np.max(np.abs(a[f"{nm}_r_sim"] / a[f"{nm}_r_ode_at_sim"] - 1.0))))
        c[f"{nm}_spread"] = float(a[f"{nm}_spread_sim"].max())
    c["max_drho"], c["max_dr_rel"] = max(drho), max(dr)
    c["max_spread"] = max(c[f"{nm}_spread"] for nm in _SCHEMES)
    late = (ts >= 100.0) & (ts <= ts[-1])
    for nm in ("pre", "peri", "mix"):
        es = a[f"{nm}_eps_sim"]
        c[f"{nm}_exponent"] = float(-np.polyfit(np.log(ts[late]), np.log(es[late]), 1)[0])
        c[f"{nm}_r_over_t"] = float(a[f"{nm}_r_sim"][-1] / ts[-1])
    for nm in ("post", "ngpt"):
        es = a[f"{nm}_eps_sim"]
        ok = (es > 1e-12) & (es < 1e-4)
        c[f"{nm}_rate"] = float(-np.polyfit(ts[ok], np.log(es[ok]), 1)[0])
        c[f"{nm}_rate_law"] = float(meta[f"{nm}_law"]["rate"])
    es = a["lns_eps_sim"]  # LN-Scaling: 1 - ρ ~ C e^{-μ sqrt(t + 1)}
    ok = (es > 1e-12) & (es < 1e-4)
    c["lns_rate"] = float(-np.polyfit(np.sqrt(ts[ok] + 1.0), np.log(es[ok]), 1)[0])
    c["lns_rate_law"] = float(meta["lns_law"]["rate"])
    c["t_end"] = float(ts[-1])
    return c


def norm_speed(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "norm_clustering_speed")
    c: dict = {}
    rows = []
    for k, b in enumerate(a["betas_a"]):
        cells = [f"{b:g}"]
        for nm in _SCHEMES:
            med = float(np.median(a[f"{nm}_a"][k]))
            reached = a[f"{nm}_a_ok"][k].mean() >= 0.5
            th = float(a[f"{nm}_theory_a"][k])
            ths = f"{th:.3g}" if th < 1e5 else f"{th:.1e}"
            cells.append((f"{med:.3g}" if reached else "–") + f" ({ths})")
        rows.append(cells)
    header = ["β"] + [f"{nm}: sim (ODE)" for nm in _NAMES]
    c["table_beta"] = _md_table(header, rows)
    rows = []
    for k, n in enumerate(a["ns_b"]):
        cells = [str(int(n))]
        for nm in _SCHEMES:
            med = float(np.median(a[f"{nm}_b"][k]))
            reached = a[f"{nm}_b_ok"][k].mean() >= 0.5
            cells.append((f"{med:.3g}" if reached else "–") + f" ({a[f'{nm}_theory_b'][k]:.3g})")
        rows.append(cells)
    c["table_n"] = _md_table(["n"] + header[1:], rows)
    i4 = _index(a["betas_a"], 4.0)
    c["pre_over_post_b4_sim"] = float(np.median(a["pre_a"][i4]) / np.median(a["post_a"][i4]))
    c["pre_over_post_b4_ode"] = float(a["pre_theory_a"][i4] / a["post_theory_a"][i4])
    i6 = _index(a["betas_a"], 6.0)
    c["pre_ode_b6"] = float(a["pre_theory_a"][i6])
    c["post_ode_b6"] = float(a["post_theory_a"][i6])
    c["seeds"] = int(meta["seeds"])
    c["lns_over_post_b6_ode"] = float(a["lns_theory_a"][i6] / a["post_theory_a"][i6])
    c["lns_over_post_b6_sim"] = float(np.median(a["lns_a"][i6]) / np.median(a["post_a"][i6]))
    return c


def norm_rw(data_dir=HERE) -> dict:
    """The random-weight comparison (figures/norm_random_weights.py), means over seeds."""
    a, meta = _load(data_dir, "norm_random_weights")
    ell = a["layer"]
    L = int(meta["L"])
    c: dict = {"L": L, "d": int(meta["d"]), "n": int(meta["n"]), "seeds": int(meta["seeds"])}
    rows = []
    for nm, name in zip(_SCHEMES, _NAMES, strict=True):
        rho = a[f"{nm}_rho"].mean(axis=0)
        dg = a[f"{nm}_dgram"].mean(axis=0)
        hit = np.nonzero(rho >= 0.9)[0]
        c[f"{nm}_layer_090"] = int(hit[0]) if hit.size else -1
        c[f"{nm}_rho_end"] = float(rho[-1])
        c[f"{nm}_dgram_early"] = float(dg[1:11].mean())
        c[f"{nm}_dgram_late"] = float(dg[-20:].mean())
        rows.append(
            [
                name,
                f"{rho[10]:.2f}",
                f"{rho[-1]:.3f}",
                str(int(hit[0])) if hit.size else f"> {L}",
                f"{c[f'{nm}_dgram_early']:.2g}",
                f"{c[f'{nm}_dgram_late']:.2g}",
            ]
        )
    header = ["scheme", "ρ̄ at ℓ = 10", f"ρ̄ at ℓ = {L}", "first ℓ with ρ̄ ≥ 0.9"]
    header += ["mean Δ, ℓ ≤ 10", "mean Δ, last 20"]
    c["table"] = _md_table(header, rows)
    late = ell >= L // 4
    for nm in ("pre", "peri"):
        r = a[f"{nm}_radius"].mean(axis=0)
        c[f"{nm}_radius_exponent"] = float(np.polyfit(np.log(ell[late]), np.log(r[late]), 1)[0])
    return c


def long_ctx(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "long_context")
    c: dict = {"gamma_c": float(meta["gamma_c"]), "level": float(meta["level"])}
    ns = a["n"]
    k6 = int(np.argmax(ns))
    c["n_max"] = float(ns[k6])
    c["cross_random"] = [round(float(v), 3) for v in a["cross_random"]]
    c["cross_exact"] = [round(float(v), 3) for v in a["cross_exact"]]
    c["cross_finite_d"] = [round(float(v), 3) for v in a["cross_finite_d"]]
    gr = a["gamma_rand"]
    for g in (1.5, 2.0, 2.5):
        i = _index(gr, g)
        c[f"random_g{g:g}_nmax"] = float(a["random"][k6, i])
        c[f"exact_g{g:g}_nmax"] = float(lc_exact(ns[k6], g, meta["rho"]))
    c["max_random_vs_exact"] = float(
        max(
            np.max(np.abs(a["random"][k] - lc_exact(ns[k], gr, meta["rho"])))
            for k in range(len(ns))
        )
    )
    c["input_mean"] = float(np.mean(a["random_input"]))
    gd = a["gamma_dyn"]
    for k, n in enumerate(ns):
        c[f"flow_cross_n{int(round(np.log10(n)))}"] = _crossing_decreasing(
            gd, a["flow"][k], 0.5 * (a["flow"][k][0] + meta["rho"])
        )
    c["flow_limit_sub"] = float(a["flow_limit"][0])
    sim, gs = a["sim"], a["gamma_sim"]
    j = int(np.argmin(np.abs(ns - 1e3)))
    c["sim_vs_ode_n1e3"] = float(np.max(np.abs(sim[-1] - np.interp(gs, gd, a["flow"][j]))))
    return c


def pre_ln(data_dir=HERE) -> dict:
    a, meta = _load(data_dir, "transformer_pre_ln")
    L = int(meta["layers"])
    c: dict = {"layers": L, "beta": float(a["beta"])}
    c["att_net_vs_euler"] = float(a["att_max_net_vs_euler"])
    c["att_mean_5"] = float(a["att_net_mean"][5])
    c["att_flow_mean_5"] = float(a["att_flow_mean"][5])
    c["att_net_mean_end"] = float(a["att_net_mean"][-1])
    c["att_flow_mean_end"] = float(a["att_flow_mean"][-1])
    c["ffn_net_mean_end"] = float(a["ffn_net_mean"][-1])
    c["ffn_flow_mean_end"] = float(a["ffn_flow_mean"][-1])
    c["att_norm_end"] = float(a["att_net_norm"][-1])
    c["att_norm_slope"] = float(np.polyfit(a["layer"], a["att_net_norm"], 1)[0])
    c["ffn_euler_err_mean"] = float(np.max(np.abs(a["ffn_euler_mean"] - a["ffn_net_mean"])))
    return c


def lc_exact(n, g, rho):
    from particles.analysis.long_context import one_layer_inner

    return one_layer_inner(n, g, rho)


def _crossing_decreasing(x, y, level) -> float:
    for k in range(len(x) - 1):
        if (y[k] - level) * (y[k + 1] - level) <= 0 and y[k] != y[k + 1]:
            return float(x[k] + (level - y[k]) * (x[k + 1] - x[k]) / (y[k + 1] - y[k]))
    return float("nan")


FIGURES: dict[str, Callable[..., dict]] = {
    "fig2": fig2,
    "fig3": fig3,
    "fig4": fig4,
    "fig5": fig5,
    "fig6h": fig6h,
    "wendel": wendel,
    "repulsive": repulsive,
    "staircase": staircase,
    "ss_fig4": ss_fig4,
    "ss_fig6": ss_fig6,
    "ss_fig6a": ss_fig6a,
    "ss_snap": ss_snap,
    "ss_ode": ss_ode,
    "ss_text": ss_text,
    "tdepth": tdepth,
    "tode": tode,
    "norm_eq": norm_eq,
    "norm_speed": norm_speed,
    "norm_rw": norm_rw,
    "long_ctx": long_ctx,
    "pre_ln": pre_ln,
    "svm_e1": svm_e1,
    "svm_e2": svm_e2,
    "svm_e3": svm_e3,
    "svm_e4": svm_e4,
    "svm_e5": svm_e5,
    "svm_lg": svm_lg,
    "nbif": nbif,
    "nmode": nmode,
    "npp": npp,
}


@functools.cache
def _compute(prefix: str, data_dir: str) -> dict:
    return FIGURES[prefix](Path(data_dir))


def claim(key: str, data_dir=HERE):
    """The value of ``prefix.name`` (KeyError if unknown)."""
    prefix, _, name = key.partition(".")
    if prefix not in FIGURES:
        raise KeyError(f"unknown figure prefix {prefix!r} in {key!r}")
    values = _compute(prefix, str(Path(data_dir).resolve()))
    if name not in values:
        raise KeyError(f"{prefix}() has no claim {name!r}")
    return values[name]


NUM = r"[−-]?\d+(?:\.\d+)?(?:e[−-]?\d+)?"
_GROUPED = r"[−-]?\d{1,3}(?: \d{3})+(?:\.\d+)?"
_TAG = re.compile(r"<!--(claim|claims|check|table):([\w.]+)-->")
_CODE = re.compile(r"`[^`\n]*`")
_SEP = r"(?:, | / )"
_NUM_BEFORE = re.compile(rf"(?:(?<![\w.])({_GROUPED})|(?<![\w.])({NUM}))(\*\*)?$")
_LIST_BEFORE = re.compile(rf"(?<![\w.])((?:{NUM}){_SEP})+{NUM}(\*\*)?$")


def format_like(printed: str, value) -> str:
    """``value`` printed in the style of ``printed``: same decimals or significant digits in
    scientific notation, same minus sign, same thousands grouping ("100 000")."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"cannot print {value!r} as a number")
    uminus = "−" in printed
    grouped = " " in printed
    s = printed.replace("−", "-").replace(" ", "")
    m = re.fullmatch(r"-?\d+(?:\.(\d+))?(?:e(-?\d+))?", s)
    if not m:
        raise ValueError(f"not a number: {printed!r}")
    dec = len(m.group(1) or "")
    value = float(value)
    if m.group(2) is not None:
        mant, exp = f"{value:.{dec}e}".split("e")
        out = f"{mant}e{int(exp)}"
    else:
        out = f"{value:.{dec}f}"
        if re.fullmatch(r"-0(\.0*)?", out):
            out = out[1:]
        if grouped:
            whole, _, frac = out.partition(".")
            neg = whole.startswith("-")
            whole = whole.lstrip("-")
            groups = []
            while len(whole) > 3:
                groups.insert(0, whole[-3:])
                whole = whole[:-3]
            out = ("-" if neg else "") + " ".join([whole, *groups]) + ("." + frac if frac else "")
    return out.replace("-", "−") if uminus else out


@dataclass
class Tag:
    kind: str  # claim, claims, check, table
    key: str
    line: int  # 1-based
    start: int  # offset in the text of the printed number(s) or table
    end: int
    printed: str  # the number, the list or the table as printed ("" for check)


def parse_tags(text: str) -> list[Tag]:
    """Every tag of the README with the text it refers to."""
    tags = []
    code = [(c.start(), c.end()) for c in _CODE.finditer(text)]
    for m in _TAG.finditer(text):
        if any(a <= m.start() < b for a, b in code):
            continue  # an example in a code span, not a tag
        kind, key = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        before = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
        base = m.start() - len(before)
        if kind == "claim":
            nm = _NUM_BEFORE.search(before)
            if not nm:
                tags.append(Tag(kind, key, line, m.start(), m.start(), ""))
                continue
            g = 1 if nm.group(1) else 2
            tags.append(Tag(kind, key, line, base + nm.start(g), base + nm.end(g), nm.group(g)))
        elif kind == "claims":
            lm = _LIST_BEFORE.search(before)
            if not lm:
                tags.append(Tag(kind, key, line, m.start(), m.start(), ""))
                continue
            body = lm.group(0).removesuffix("**")
            tags.append(
                Tag(kind, key, line, base + lm.start(), base + lm.start() + len(body), body)
            )
        elif kind == "check":
            tags.append(Tag(kind, key, line, m.start(), m.start(), ""))
        else:  # table: the lines after the tag that start with "|"
            start = text.find("\n", m.end()) + 1
            end = start
            while end < len(text) and text.startswith("|", end):
                nxt = text.find("\n", end)
                end = len(text) if nxt < 0 else nxt + 1
            table = text[start:end].rstrip("\n")
            tags.append(Tag(kind, key, line, start, start + len(table), table))
    return tags


def _split_list(printed: str) -> list[str]:
    return re.split(_SEP, printed)


def _expected(tag: Tag, value) -> str:
    """What the README should print for ``tag`` given the claim's value."""
    if tag.kind == "claim":
        return format_like(tag.printed, value)
    if tag.kind == "claims":
        parts = _split_list(tag.printed)
        sep = ", " if ", " in tag.printed else " / "
        if not isinstance(value, list | tuple) or len(value) != len(parts):
            raise ValueError(f"list of {len(parts)} printed, claim has {value!r}")
        return sep.join(format_like(p, v) for p, v in zip(parts, value, strict=True))
    if tag.kind == "table":
        return str(value)
    raise ValueError(tag.kind)


def check(text: str | None = None, data_dir=HERE) -> tuple[list[str], int]:
    """Check every tag of ``text`` (default: figures/README.md) against the data.

    Returns ``(errors, count)``: one message per disagreement, and how many numbers, lists,
    checks and tables were verified (a list counts each of its numbers, a table each cell).
    """
    text = README.read_text() if text is None else text
    errors, count = [], 0
    for tag in parse_tags(text):
        where = f"README line {tag.line} [{tag.kind}:{tag.key}]"
        try:
            value = claim(tag.key, data_dir)
        except KeyError as e:
            errors.append(f"{where}: {e}")
            continue
        if tag.kind == "check":
            count += 1
            if not isinstance(value, bool | np.bool_) or not value:
                errors.append(f"{where}: the data say {value!r}, the text states it holds")
            continue
        if not tag.printed:
            errors.append(f"{where}: no number right before the tag")
            continue
        try:
            want = _expected(tag, value)
        except (TypeError, ValueError) as e:
            errors.append(f"{where}: {e}")
            continue
        count += (
            len(_split_list(tag.printed))
            if tag.kind == "claims"
            else (
                sum(r.count("|") - 1 for r in tag.printed.splitlines()[2:])
                if tag.kind == "table"
                else 1
            )
        )
        if want != tag.printed and tag.kind == "table":
            old, new = tag.printed.splitlines(), want.splitlines()
            diff = [
                f"\n    printed: {a}\n    data:    {b}"
                for a, b in zip(old, new, strict=False)
                if a != b
            ]
            if len(old) != len(new):
                diff.append(f"\n    {len(old)} rows printed, {len(new)} from the data")
            errors.append(f"{where}: the table differs from the data:" + "".join(diff))
        elif want != tag.printed:
            errors.append(f"{where}: printed {tag.printed!r}, the data give {want!r}")
    return errors, count


def write(path: Path = README, data_dir=HERE) -> int:
    """Rewrite the tagged numbers, lists and tables of ``path`` from the data; returns how many
    changed. Checks (``check:``) are not rewritten: a failing one needs new wording."""
    text = path.read_text()
    changed, out, pos = 0, [], 0
    for tag in sorted(parse_tags(text), key=lambda t: t.start):
        if tag.kind == "check" or not tag.printed:
            continue
        want = _expected(tag, claim(tag.key, data_dir))
        if want != tag.printed:
            out.append(text[pos : tag.start] + want)
            pos = tag.end
            changed += 1
    out.append(text[pos:])
    if changed:
        path.write_text("".join(out))
    return changed


# ---------------------------------------------------------------------------------------------
# Untagged numbers

_INPUTS = re.compile(r"<!--inputs:([^>]*)-->")
_UNTRACKED = re.compile(r"<!--untracked:[^>]*-->")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
#: words after which a number is a reference, not a value (theorem, figure, section, ...)
_REF_WORDS = (
    r"(?:Thm|Thms|Theorem|Fig\.|Figs\.|Figure|Prop|Lemma|Rem\.|Problem|App\.|Eq\.|p\.|item|items|v)"
)
_TOKEN = re.compile(rf"(?<![\w.§]){NUM}(?![\w.]\d)|(?<![\w.§])\d+(?= ?%)")
_UNITS = re.compile(r"^\s?(?:s|ms|min|h|µs)\b")


@dataclass
class Section:
    title: str
    line: int
    text: str


def sections(text: str) -> list[Section]:
    out, cur, start, title = [], [], 1, "(top)"
    for i, ln in enumerate(text.splitlines(keepends=True), 1):
        if ln.startswith("#"):
            out.append(Section(title, start, "".join(cur)))
            cur, start, title = [], i, ln.strip("# \n")
        cur.append(ln)
    out.append(Section(title, start, "".join(cur)))
    return out


def figure_stems(data_dir=HERE) -> set[str]:
    return {p.stem for p in Path(data_dir).glob("*.npz")}


def untagged(text: str | None = None, data_dir=HERE) -> list[str]:
    """Numbers of checked sections that carry no tag and are not listed as inputs.

    A number counts if it has a decimal point or an exponent, or is followed by "%". Numbers
    in code spans, references (Thm 6.7, Fig. 5, §9.1, (6.9), arXiv ids) and wall times are
    skipped. A section marked ``<!--untracked: ...-->`` is skipped, unless it names a figure
    with a saved .npz (then the marker is itself an error)."""
    text = README.read_text() if text is None else text
    stems = figure_stems(data_dir)
    problems = []
    for sec in sections(text):
        names_figure = any(f"{s}.png" in sec.text or f"{s}.py" in sec.text for s in stems)
        if _UNTRACKED.search(sec.text):
            if names_figure:
                problems.append(f"section {sec.title!r}: marked untracked but names a figure")
            continue
        allowed = set()
        for m in _INPUTS.finditer(sec.text):
            allowed.update(m.group(1).split())
        # blank out tagged spans, comments and code, keeping offsets (so lines stay right)
        body = sec.text
        spans = [
            (t.start, t.end) for t in parse_tags(body) if t.kind in ("claim", "claims", "table")
        ]
        chars = list(body)
        for a, b in spans:
            chars[a:b] = " " * (b - a)
        body = "".join(chars)
        for rx in (_COMMENT, _CODE):
            body = rx.sub(lambda m: " " * len(m.group(0)), body)
        used = set()
        for m in _TOKEN.finditer(body):
            tok = m.group(0)
            is_pct = not re.search(r"[.e]", tok) and re.match(r"\s?%", body[m.end() : m.end() + 2])
            if not (re.search(r"[.e]", tok.lstrip("−-")) or is_pct):
                continue
            pre = body[max(0, m.start() - 12) : m.start()]
            if re.search(rf"{_REF_WORDS}\s?$", pre) or re.search(r"arXiv\s*$", pre):
                continue
            if body[m.start() - 1 : m.start()] == "(" and body[m.end() : m.end() + 1] == ")":
                continue  # an equation number, e.g. (6.9)
            if _UNITS.match(body[m.end() : m.end() + 5]):
                continue
            if tok in allowed:
                used.add(tok)
                continue
            line = sec.line + body.count("\n", 0, m.start())
            problems.append(f"line {line} (section {sec.title!r}): untagged number {tok!r}")
        for tok in sorted(allowed - used):
            problems.append(f"section {sec.title!r}: input {tok!r} is listed but not used")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="rewrite tagged numbers and tables")
    ap.add_argument("--list", action="store_true", help="print every claim")
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--data-dir", type=Path, default=HERE)
    args = ap.parse_args(argv)
    if args.list:
        for prefix in FIGURES:
            for k, v in _compute(prefix, str(args.data_dir.resolve())).items():
                v = v if not isinstance(v, str) else "\n  " + v.replace("\n", "\n  ")
                print(f"{prefix}.{k} = {v}")
        return 0
    if args.write:
        n = write(args.readme, args.data_dir)
        print(f"{n} tagged values rewritten in {args.readme}")
    errors, count = check(args.readme.read_text(), args.data_dir)
    problems = untagged(args.readme.read_text(), args.data_dir)
    for e in errors + problems:
        print(e)
    print(f"{count} numbers checked, {len(errors)} disagree, {len(problems)} untagged or unused")
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
