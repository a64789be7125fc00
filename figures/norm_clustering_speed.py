"""arXiv 2510.22026 (Normalization in Attention Dynamics), arXiv 2512.01868 §6.2: how fast each
normalisation scheme clusters, against β and against n, with the equiangular theory.

Ensembles of S = 16 seeds of n tokens i.i.d. uniform on S^{d-1} (d = 64 >= n, the same initial
points for every scheme) run in the batched numba ensembles (:func:`particles.solvers.ensemble.ensemble_coords`
with ``norm=``; RK4, dt = 0.25, SA, Q = K = V = I) under Post-LN, Pre-LN, Peri-LN, nGPT (α = 0.5),
Mix-LN (switch at t = 5) and LN-Scaling (s = sqrt(t + 1)). The statistic is the consensus time: the first time at which every pair
has <θ_i, θ_j> > 1 - δ, δ = 0.01 (median over seeds, bars from the 10th to the 90th percentile;
a seed that has not reached it by t_end counts as t_end). Lines: the hitting time of 1 - δ in the
equiangular model from ρ0 = 0 (:func:`particles.analysis.equiangular.hitting_time` with ``norm=``).

(a) against β at n = 16; (b) against n at β = 3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles.analysis import equiangular as eq
from particles.plotting import new_figure
from particles.plotting.claimtools import md_table
from particles.plotting.figures import run_script, save_drawn, script_main
from particles.plotting.schemes import COLORS, LINESTYLES, MARKERS, NAMES, SCHEMES
from particles.solvers.ensemble import ensemble_coords, random_points_batch

HERE = Path(__file__).resolve().parent
LABELS = NAMES
ALPHA, T_SWITCH, DELTA = 0.5, 5.0, 1e-2
T_END = {"post": 100.0, "ngpt": 100.0, "mix": 400.0, "pre": 400.0, "peri": 400.0, "lns": 400.0}


def _consensus_times(res, t_end):
    """First checkpoint time with every pair above 1 - delta, per system (t_end if never)."""
    full = res.pair_fraction >= 1.0
    hit = full.argmax(axis=1).astype(float)
    t = res.t[np.minimum(hit.astype(int), res.t.size - 1)]
    return np.where(full.any(axis=1), t, t_end), full.any(axis=1)


def _run(norm, n, d, betas, seeds, dt, t_end, seed):
    X0 = random_points_batch(n, d, seeds, np.random.default_rng([seed, n, d]))
    X = np.concatenate([X0] * len(betas))
    b = np.repeat(betas, seeds)
    res = ensemble_coords(
        X,
        b,
        t_end,
        dt=dt,
        method="rk4",
        delta=DELTA,
        count_clusters=False,
        norm=norm,
        alpha=ALPHA,
        t_switch=T_SWITCH if norm == "mix" else None,
    )
    t, ok = _consensus_times(res, t_end)
    return t.reshape(len(betas), seeds), ok.reshape(len(betas), seeds), res.run_s


def compute(quick: bool = False) -> tuple[dict, dict]:
    seeds = 4 if quick else 16
    d, dt = 64, 0.25
    betas_a = np.array([0.0, 1.0, 2.0, 4.0]) if quick else np.arange(0.0, 6.01, 1.0)
    ns_b = [4, 8, 16] if quick else [4, 8, 16, 32, 64]
    n_a, beta_b = 16, 3.0
    data: dict = {"betas_a": betas_a, "ns_b": np.array(ns_b)}
    meta: dict = {
        "seeds": seeds,
        "d": d,
        "dt": dt,
        "delta": DELTA,
        "alpha": ALPHA,
        "t_switch": T_SWITCH,
        "n_a": n_a,
        "beta_b": beta_b,
        "t_end": T_END,
        "run_s": {},
    }
    for nm in SCHEMES:
        t_end = T_END[nm] / (4 if quick else 1)
        kw = {"norm": nm, "alpha": ALPHA, "t_switch": T_SWITCH}
        ta, oka, sa = _run(nm, n_a, d, betas_a, seeds, dt, t_end, 1)
        data[f"{nm}_a"], data[f"{nm}_a_ok"] = ta, oka
        tb = np.empty((len(ns_b), seeds))
        okb = np.empty((len(ns_b), seeds), bool)
        sb = 0.0
        for k, n in enumerate(ns_b):
            t, ok, s = _run(nm, n, d, np.array([beta_b]), seeds, dt, t_end, 2)
            tb[k], okb[k] = t[0], ok[0]
            sb += s
        data[f"{nm}_b"], data[f"{nm}_b_ok"] = tb, okb
        data[f"{nm}_theory_a"] = np.array([eq.hitting_time(b, n_a, DELTA, **kw) for b in betas_a])
        data[f"{nm}_theory_b"] = np.array([eq.hitting_time(beta_b, n, DELTA, **kw) for n in ns_b])
        bf = np.linspace(0.0, betas_a[-1], 61)
        data["betas_fine"] = bf
        data[f"{nm}_theory_fine"] = np.array([eq.hitting_time(b, n_a, DELTA, **kw) for b in bf])
        meta["run_s"][nm] = sa + sb
        data[f"{nm}_t_end"] = np.array(t_end)
    return data, meta


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((12, 4.8))
    axa, axb = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    seeds = int(meta["seeds"])
    for k, nm in enumerate(SCHEMES):
        c, ls = COLORS[nm], LINESTYLES[nm]
        axa.semilogy(
            data["betas_fine"], data[f"{nm}_theory_fine"], color=c, ls=ls, lw=1.5, label=LABELS[nm]
        )
        axb.loglog(data["ns_b"], data[f"{nm}_theory_b"], color=c, ls=ls, lw=1.5, label=LABELS[nm])
        # the schemes' points side by side around each beta (n) so that none hides another
        off = k - (len(SCHEMES) - 1) / 2
        for ax, key, x in (
            (axa, "a", data["betas_a"] + 0.07 * off),
            (axb, "b", data["ns_b"] * 1.045**off),
        ):
            t = data[f"{nm}_{key}"]
            med = np.median(t, axis=1)
            lo, hi = np.percentile(t, 10, axis=1), np.percentile(t, 90, axis=1)
            reached = data[f"{nm}_{key}_ok"].mean(axis=1) >= 0.5
            err = np.vstack([med - lo, hi - med])[:, reached]
            ax.errorbar(
                x[reached],
                med[reached],
                yerr=err,
                fmt=MARKERS[nm],
                color=c,
                ms=4.5,
                mfc="none",
                capsize=2,
                lw=0.9,
            )
            part = reached & (data[f"{nm}_{key}_ok"].sum(axis=1) < seeds)
            for xi, yi, ki in zip(
                x[part], med[part], data[f"{nm}_{key}_ok"].sum(axis=1)[part], strict=True
            ):
                ax.annotate(
                    f"{ki}/{seeds}",
                    (xi, yi),
                    xytext=(5, 5 if k % 2 else -11),  # Pre-LN above, Peri-LN below
                    textcoords="offset points",
                    fontsize=6.5,
                    color=c,
                )
            if (~reached).any():
                ax.plot(
                    x[~reached],
                    np.full((~reached).sum(), float(data[f"{nm}_t_end"])),
                    "^",
                    color=c,
                    ms=7,
                    mfc=c,
                    alpha=0.6,
                )
    for ax in (axa, axb):
        ax.set_ylim(1.0, 3e4)
        ax.set_ylabel(
            rf"time to consensus, all $\langle\theta_i,\theta_j\rangle > 1-{meta['delta']:g}$"
        )
    axa.set_xlabel(r"$\beta$ (the schemes' points side by side around each β)")
    axa.set_title(f"(a) n = {meta['n_a']}, d = {meta['d']}: against β")
    axb.set_xticks(data["ns_b"], [str(int(v)) for v in data["ns_b"]])
    axb.minorticks_off()
    axb.set_xlabel("n (points side by side around each n)")
    axb.set_title(f"(b) β = {meta['beta_b']:g}, d = {meta['d']}: against n")
    axa.legend(
        fontsize=8,
        title=(
            f"lines: equiangular ODE; open markers: median of {seeds} seeds,\n"
            "bars: 10th to 90th percentile (a seed not at consensus\n"
            f"by t_end counts as t_end); k/{seeds}: seeds at consensus\n"
            "by t_end where not all; filled △: fewer than half"
        ),
        title_fontsize=7,
        loc="upper left",
    )
    fig.suptitle("Clustering speed per normalisation scheme (SA, Q = K = V = I, RK4)", fontsize=10)
    return save_drawn(fig, path)


def _cell(t, ok, theory, seeds: int) -> str:
    """A table cell: the median over seeds ("–" if fewer than half reached consensus by t_end), the
    seeds at consensus in brackets where not all are, the equiangular time in parentheses."""
    med = f"{np.median(t):.3g}" if ok.mean() >= 0.5 else "–"
    got = "" if ok.all() else f" [{int(ok.sum())}/{seeds}]"
    th = f"{theory:.3g}" if theory < 1e5 else f"{theory:.1e}"
    return f"{med}{got} ({th})"


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    seeds = int(meta["seeds"])
    c: dict = {"seeds": seeds}
    header = ["β"] + [f"{NAMES[nm]}: sim (ODE)" for nm in SCHEMES]
    for key, x, first, fmt in (
        ("a", a["betas_a"], "β", "{:g}"),
        ("b", a["ns_b"], "n", "{:.0f}"),
    ):
        rows = [
            [fmt.format(v)]
            + [
                _cell(
                    a[f"{nm}_{key}"][k], a[f"{nm}_{key}_ok"][k], a[f"{nm}_theory_{key}"][k], seeds
                )
                for nm in SCHEMES
            ]
            for k, v in enumerate(x)
        ]
        c["table_beta" if key == "a" else "table_n"] = md_table([first] + header[1:], rows)
    # simulated median over the equiangular time, over the cells with at least half at consensus
    for nm in SCHEMES:
        ratios = []
        for key in ("a", "b"):
            ok = a[f"{nm}_{key}_ok"].mean(axis=1) >= 0.5
            r = np.median(a[f"{nm}_{key}"], axis=1) / a[f"{nm}_theory_{key}"]
            ratios += list(r[ok])
        c[f"{nm}_ratio_min"], c[f"{nm}_ratio_max"] = float(min(ratios)), float(max(ratios))
    ib = {b: int(np.argmin(np.abs(a["betas_a"] - b))) for b in (4.0, 5.0, 6.0)}
    for nm, b in (("pre", 4), ("peri", 4), ("mix", 5), ("lns", 6), ("ngpt", 6)):
        c[f"{nm}_reached_b{b}"] = int(a[f"{nm}_a_ok"][ib[b]].sum())
    c["mix_sim_b5"] = float(np.median(a["mix_a"][ib[5.0]]))
    c["mix_ode_b5"] = float(a["mix_theory_a"][ib[5.0]])
    c["post_sim_b5"] = float(np.median(a["post_a"][ib[5.0]]))
    c["pre_ode_b5"] = float(a["pre_theory_a"][ib[5.0]])
    c["t_end_slow"] = float(a["pre_t_end"])
    # type I censoring at t_end: the median of 16 is exact when its 8th and 9th values are observed
    c["medians_exact"] = all(
        np.all(
            a[f"{nm}_{key}_ok"].sum(axis=1)[a[f"{nm}_{key}_ok"].mean(axis=1) >= 0.5] > seeds // 2
        )
        for nm in SCHEMES
        for key in ("a", "b")
    )
    # the ordering of the simulated medians in every cell where all four reached consensus
    order, peri_faster = True, True
    for key in ("a", "b"):
        med = {nm: np.median(a[f"{nm}_{key}"], axis=1) for nm in SCHEMES}
        ok = np.all([a[f"{nm}_{key}_ok"].mean(axis=1) >= 0.5 for nm in SCHEMES], axis=0)
        order &= bool(
            np.all((med["post"] <= med["ngpt"])[ok])
            and np.all((med["ngpt"] < np.minimum(med["pre"], med["peri"]))[ok])
            and np.all((med["post"] < med["lns"])[ok] & (med["lns"] < med["pre"])[ok])
        )
        both = (a[f"pre_{key}_ok"].mean(axis=1) >= 0.5) & (a[f"peri_{key}_ok"].mean(axis=1) >= 0.5)
        peri_faster &= bool(np.all((med["peri"] < med["pre"])[both]))
    c["ordering_post_ngpt_pre"], c["peri_faster_than_pre"] = order, peri_faster
    i4, i6 = ib[4.0], ib[6.0]
    c["pre_over_post_b4_sim"] = float(np.median(a["pre_a"][i4]) / np.median(a["post_a"][i4]))
    c["pre_over_post_b4_ode"] = float(a["pre_theory_a"][i4] / a["post_theory_a"][i4])
    c["pre_ode_b6"] = float(a["pre_theory_a"][i6])
    c["post_ode_b6"] = float(a["post_theory_a"][i6])
    c["lns_over_post_b6_ode"] = float(a["lns_theory_a"][i6] / a["post_theory_a"][i6])
    c["lns_over_post_b6_sim"] = float(np.median(a["lns_a"][i6]) / np.median(a["post_a"][i6]))
    return c


main = script_main(__file__, compute, plot)


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
