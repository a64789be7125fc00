"""arXiv 2510.05554 (Critical attention scaling in long-context transformers) and arXiv 2512.01868
§6.3 (Theorem 7, the long-context phase transition): the attention scale β_n = γ log n and its critical γ_c = 1/(1 - ρ).

Inputs with pairwise inner product ρ = 0.5 (γ_c = 2), SA, Q = K = V = I, n from 10^2 to 10^6.

(a) One Pre-LN attention layer: the output inner product <θ_i, θ_k> against γ. Lines: the exact
equiangular formula at each n (:func:`particles.analysis.long_context.one_layer_inner`); black: the
n -> oo limit (1, 4ρ/(1+3ρ) = 0.8 at γ_c, ρ). Markers: random almost-simplex inputs in d = 128 (the
outputs of 32 query tokens against all n keys through the O(n d)-memory attention; keys regenerated
chunk by chunk), up to n = 10^6.

(b) The dynamics: <θ_i, θ_j> at time T = 3 of the Pre-LN flow with β = γ log n. Lines: the
equiangular ODE at each n and its n -> oo limit (:func:`long_context.flow`, :func:`flow_limit`);
markers: the full particle system on random almost-simplex inputs (d = 128, RK4, dt = 0.25) for
n = 10^2 and 10^3.

(c) Where the random one-layer curve crosses 0.8, against n, with the finite-d estimate
γ_c (1 + log n / (2d)) (module docstring of long_context) and the exact equiangular crossing; the
data stay above γ_c = 2 and rise with n from 10^3 on (figures/README.md has the numbers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import particles as pt
from particles.analysis import long_context as lc
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main

HERE = Path(__file__).resolve().parent
RHO, D, T = 0.5, 128, 3.0


def _crossing(g, y, level):
    """The γ where y(γ) (decreasing) crosses ``level``, by linear interpolation (NaN if never)."""
    for k in range(len(g) - 1):
        if (y[k] - level) * (y[k + 1] - level) <= 0 and y[k] != y[k + 1]:
            return float(g[k] + (level - y[k]) * (g[k + 1] - g[k]) / (y[k + 1] - y[k]))
    return float("nan")


def compute(quick: bool = False) -> tuple[dict, dict]:
    gc = lc.critical_gamma(RHO)
    ns = np.array([1e2, 1e3] if quick else [1e2, 1e3, 1e4, 1e5, 1e6])
    gf = np.linspace(0.5, 4.0, 351)
    gr = (
        np.array([1.0, 1.5, 1.8, 2.0, 2.2, 2.5, 3.0])
        if quick
        else np.array([1.0, 1.5, 1.7, 1.85, 2.0, 2.15, 2.3, 2.5, 3.0, 3.5])
    )
    data: dict = {"n": ns, "gamma_fine": gf, "gamma_rand": gr}
    data["exact"] = np.stack([lc.one_layer_inner(n, gf, RHO) for n in ns])
    data["limit"] = lc.one_layer_limit(gf, RHO)
    queries = 8 if quick else 32
    rand, rand_se, rin = [], [], []
    for n in ns:
        r = lc.one_layer_random(int(n), D, RHO, gr, queries=queries, seed=7)
        rand.append(r["inner"])
        rand_se.append(r["inner_se"])
        rin.append(r["input"])
    data["random"], data["random_se"], data["random_input"] = map(np.array, (rand, rand_se, rin))
    level = 4 * RHO / (1 + 3 * RHO)
    data["cross_random"] = np.array([_crossing(gr, y, level) for y in data["random"]])
    data["cross_exact"] = np.array([_crossing(gf, y, level) for y in data["exact"]])
    data["cross_finite_d"] = gc * (1 + np.log(ns) / (2 * D))
    # dynamics
    gd = np.linspace(0.5, 4.0, 36 if quick else 141)
    data["gamma_dyn"] = gd
    data["flow"] = np.stack([[lc.flow([T], n, g, RHO)[0] for g in gd] for n in ns])
    data["flow_limit"] = np.array([lc.flow_limit([T], g, RHO)[0] for g in gd])
    ns_sim = [100] if quick else [100, 1000]
    gs = np.array([1.0, 2.0, 3.0]) if quick else np.array([1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    sim = np.empty((len(ns_sim), gs.size))
    for i, n in enumerate(ns_sim):
        x0 = lc.almost_simplex(n, D, RHO, 11)
        iu = np.triu_indices(n, 1)
        for k, g in enumerate(gs):
            dyn = pt.Dynamics(beta=float(lc.beta_n(n, g)), norm="pre")
            tr = pt.simulate(x0, dyn, T, method="rk4", dt=0.25, save_at=[T])
            th = tr.theta[-1]
            sim[i, k] = (th @ th.T)[iu].mean()
    data["n_sim"], data["gamma_sim"], data["sim"] = np.array(ns_sim), gs, sim
    meta = {"rho": RHO, "d": D, "T": T, "gamma_c": gc, "queries": queries, "level": level}
    return data, meta


def plot(data: dict, meta: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig = new_figure((15, 4.6))
    axa, axb, axc = (fig.add_subplot(1, 3, k) for k in (1, 2, 3))
    ns = data["n"]
    cmap = plt.get_cmap("viridis")
    cols = [cmap(k / max(1, len(ns) - 1) * 0.85) for k in range(len(ns))]
    gc = meta["gamma_c"]
    for k, n in enumerate(ns):
        lab = f"n = 1e{int(round(np.log10(n)))}"
        axa.plot(data["gamma_fine"], data["exact"][k], color=cols[k], lw=1.3, label=lab)
        axa.errorbar(
            data["gamma_rand"],
            data["random"][k],
            yerr=2 * data["random_se"][k],
            fmt="o",
            color=cols[k],
            ms=4,
            mfc="none",
            capsize=1.5,
        )
        axb.plot(data["gamma_dyn"], data["flow"][k], color=cols[k], lw=1.3, label=lab)
    axa.plot(data["gamma_fine"], data["limit"], "k-", lw=1.0, label="n → ∞")
    axa.plot([gc], [meta["level"]], "ko", ms=5)
    axb.plot(data["gamma_dyn"], data["flow_limit"], "k-", lw=1.0, label="n → ∞")
    for i, n in enumerate(data["n_sim"]):
        k = int(np.argmin(np.abs(ns - n)))
        axb.plot(
            data["gamma_sim"],
            data["sim"][i],
            "sD"[i % 2],
            color=cols[k],
            ms=6,
            mfc="none",
            mew=1.3,
            label=f"particles, n = 1e{int(round(np.log10(n)))}",
        )
    for ax in (axa, axb):
        ax.axvline(gc, color="0.5", ls=":", lw=1)
        ax.set_xlabel(r"$\gamma$  ($\beta_n = \gamma \log n$)")
    axa.set_ylabel(r"output $\langle\theta_i,\theta_k\rangle$ after one layer")
    axa.set_title(f"(a) one Pre-LN layer, inputs at ρ = {meta['rho']:g}")
    axa.legend(fontsize=7.5, title=f"lines exact, ○ random (d = {meta['d']})", title_fontsize=7)
    axb.set_ylabel(rf"$\langle\theta_i,\theta_j\rangle$ at t = {meta['T']:g}")
    axb.set_title(f"(b) Pre-LN flow at t = {meta['T']:g}")
    axb.legend(
        title=f"lines: equiangular ODE\n□ ◇: particles, d = {meta['d']}",
        title_fontsize=6.5,
        loc="lower left",
        fontsize=6.5,
    )
    c = claims(data, meta)
    se = [
        _crossing_se(data["gamma_rand"], y, e, meta["level"])
        for y, e in zip(data["random"], data["random_se"], strict=True)
    ]
    axc.errorbar(
        ns,
        data["cross_random"],
        yerr=se,
        fmt="o-",
        color="C3",
        capsize=2,
        label=f"random inputs (d = {meta['d']}), ± standard error",
    )
    axc.semilogx(
        ns, data["cross_finite_d"], "--", color="C3", lw=1, label=r"$\gamma_c(1 + \log n / 2d)$"
    )
    axc.semilogx(
        ns, data["cross_exact"], "s-", color="k", ms=4, label="equiangular (exact), ρ = 0.5"
    )
    axc.semilogx(
        ns,
        c["cross_exact_at_input"],
        "s:",
        color="k",
        ms=4,
        mfc="none",
        label=f"equiangular (exact), ρ = {c['input_mean']:.3f} (the random inputs' mean)",
    )
    axc.axhline(gc, color="0.5", ls=":", lw=1)
    axc.set_xlabel("n")
    axc.set_ylabel(f"γ where the output crosses {meta['level']:g}")
    axc.set_title(r"(c) the critical $\gamma$ against n ($\gamma_c$ = 2 dotted)")
    axc.legend(fontsize=7)
    return save_drawn(fig, path)


def _crossing_se(g, y, se, level) -> float:
    """Standard error of the crossing of ``level``: the outputs' standard error over the slope of the
    interval that crosses."""
    for k in range(len(g) - 1):
        if (y[k] - level) * (y[k + 1] - level) <= 0 and y[k] != y[k + 1]:
            slope = (y[k + 1] - y[k]) / (g[k + 1] - g[k])
            return float(max(se[k], se[k + 1]) / abs(slope))
    return float("nan")


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    rho, ns, gr = float(meta["rho"]), a["n"], a["gamma_rand"]
    gamma_c, level = 1 / (1 - rho), 4 * rho / (1 + 3 * rho)  # the inputs' theory
    c: dict = {"gamma_c": gamma_c, "level": level, "n_max": float(ns.max())}
    k6 = int(np.argmax(ns))
    # the crossings of the level, from the saved outputs (random inputs; exact equiangular formula)
    cross_random = np.array([_crossing(gr, y, level) for y in a["random"]])
    cross_finite_d = gamma_c * (1 + np.log(ns) / (2 * int(meta["d"])))
    c["cross_random"] = [float(v) for v in cross_random]
    c["cross_exact"] = [float(_crossing(a["gamma_fine"], y, level)) for y in a["exact"]]
    c["cross_finite_d"] = [float(v) for v in cross_finite_d]
    se = [_crossing_se(gr, y, e, level) for y, e in zip(a["random"], a["random_se"], strict=True)]
    c["cross_random_se_max"] = max(se)
    dev = cross_random - cross_finite_d
    c["finite_d_below_min"], c["finite_d_below_max"] = float(dev.min()), float(dev.max())
    c["finite_d_below_everywhere"] = bool(np.all(dev > 0))
    c["random_rise_3to6"] = float(cross_random[-1] - cross_random[1])
    c["finite_d_rise_3to6"] = float(cross_finite_d[-1] - cross_finite_d[1])
    c["random_first_step_down"] = bool(cross_random[1] < cross_random[0])
    c["random_rises_from_1e3"] = bool(np.all(np.diff(cross_random[1:]) > 0))
    # the exact equiangular crossing at the measured mean input inner product
    c["input_mean"] = float(np.mean(a["random_input"]))
    gf = a["gamma_fine"]
    ex = [_crossing(gf, lc.one_layer_inner(n, gf, c["input_mean"]), level) for n in ns]
    c["cross_exact_at_input"] = [float(v) for v in ex]
    c["exact_at_input_falls"] = bool(np.all(np.diff(ex) < 0))
    for g in (1.5, 2.0, 2.5):
        i = int(np.argmin(np.abs(gr - g)))
        c[f"random_g{g:g}_nmax"] = float(a["random"][k6, i])
        c[f"exact_g{g:g}_nmax"] = float(lc.one_layer_inner(ns[k6], g, rho))
    c["max_random_vs_exact"] = float(
        max(
            np.max(np.abs(a["random"][k] - lc.one_layer_inner(ns[k], gr, rho)))
            for k in range(len(ns))
        )
    )
    gd = a["gamma_dyn"]
    for k, n in enumerate(ns):
        half = 0.5 * (a["flow"][k][0] + rho)
        c[f"flow_cross_n{int(round(np.log10(n)))}"] = _crossing(gd, a["flow"][k], half)
    c["flow_limit_sub"] = float(a["flow_limit"][0])
    gs = a["gamma_sim"]
    for i, n in enumerate(a["n_sim"]):
        j = int(np.argmin(np.abs(ns - n)))
        dev = np.abs(a["sim"][i] - np.interp(gs, gd, a["flow"][j]))
        e = int(round(np.log10(n)))
        c[f"sim_vs_ode_n{e}"] = float(dev.max())
        c[f"sim_vs_ode_n{e}_gamma"] = float(gs[np.argmax(dev)])
        c[f"sim_vs_ode_n{e}_below_gamma_c"] = float(dev[gs < gamma_c].max())
    return c


main = script_main(__file__, compute, plot)


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
