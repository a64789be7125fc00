"""Dynamic metastability of the self-attention Markov chain (SA_P)† of arXiv 2508.09628 (Alcalde,
Geshkovski, Ruiz-Balet, *Attention's forward pass and Frank-Wolfe*, §5; labels † from a public
transcription of its arXiv source), against its Theorems 5.2† and 5.4† and against our
deterministic map (SA_beta)†, the chain's mean step.

Setup (the paper's hypotheses: B = I, vertices of equal norm, as in the authors' figure scripts,
which draw vertices on the unit circle): three vertices of norm 1 at 120 degrees in the plane and
three interior tokens per vertex within 0.1 of it (n = 12), step gamma = 0.1, eps = 2 gamma
diam(K) (the smallest eps / gamma the theorem admits), c_0 = 1.5 (eq. bound.max†: the leader
gap, the largest admissible constant), :mod:`particles.analysis.hardmax_chain`.

(a) Theorem 5.4†: the exit time T_2 (first step a token is eps from the hull of its group's
initial positions) of the chain against beta, over many runs (seeds), its fitted exponential
rate, the theorem's guaranteed rate c_0 eps / (2 gamma (1 + eps / gamma)) and the leader gap
Delta = c_0 (the rate derived for the mean map); next to it the exit layer of the deterministic
map (:func:`particles.analysis.hardmax.exit_layers`, a leader moved by eps). (b) Theorem 5.2†:
the entry step (every token within 0.05 of its vertex) against beta, with the hardmax count, and
the fraction entered by two steps after it against 1 - beta^(-1/8). (c) The survival P(T_2 >= t)
at the three largest beta against the theorem's lower bound. ``--quick``: fewer beta and runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles.analysis import hardmax as H
from particles.analysis import hardmax_chain as C
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main

HERE = Path(__file__).resolve().parent
GAMMA, M, R_IN, RADIUS, SEED = 0.1, 3, 0.1, 0.05, 0
DIAM = float(np.sqrt(3.0))
#: the entry claims are over beta >= LARGE_BETA (Theorem 5.2† holds for beta above a threshold)
LARGE_BETA = 100.0
EPS = 2 * GAMMA * DIAM


def triangle(m: int = M, r: float = R_IN, seed: int = SEED):
    """Three vertices of norm 1 at 120 degrees, and m interior tokens per vertex within r of it."""
    rng = np.random.default_rng(seed)
    th = 2 * np.pi * np.arange(3) / 3 + 0.3
    v = np.c_[np.cos(th), np.sin(th)]
    pts = [v]
    for a in range(3):
        ang = np.pi + th[a] + rng.uniform(-0.4, 0.4, m)
        rr = rng.uniform(0.3, 1.0, m) * r
        pts.append(v[a] + rr[:, None] * np.c_[np.cos(ang), np.sin(ang)])
    return np.vstack(pts), v


def compute(quick: bool = False) -> tuple[dict, dict]:
    z, v = triangle()
    runs = 30 if quick else 200
    betas = np.array([2.0, 3.0, 4.0] if quick else np.arange(2.0, 9.01, 1.0))
    data: dict = {"z0": z, "v": v, "exit_betas": betas}
    for k, b in enumerate(betas):
        t = C.chain_times(z, b, gamma=GAMMA, runs=runs, rng=100 + k, eps=EPS, max_steps=10**6)
        data[f"exit_beta{b:g}"] = t.exit
        ent, ex = H.exit_layers(z, b, alpha=GAMMA / (1 - GAMMA), delta=EPS, max_layers=10**7)
        data[f"det_beta{b:g}"] = np.array([-1 if ent is None else ent, -1 if ex is None else ex])
    eb = np.array([50.0, 100.0, 800.0] if quick else [25.0, 50, 100, 200, 400, 800, 1600, 3200])
    data["entry_betas"] = eb
    for k, b in enumerate(eb):
        t = C.chain_times(
            z, b, gamma=GAMMA, runs=runs, rng=500 + k, radius=RADIUS, stop="entry", max_steps=1000
        )
        data[f"entry_beta{b:g}"] = t.entry
    eq = H.equilibrium(z, alpha=GAMMA / (1 - GAMMA), eps=RADIUS)
    data["hardmax_entry"] = np.array(eq.layers)
    meta = {"gamma": GAMMA, "eps": EPS, "radius": RADIUS, "runs": runs, "m": M, "r_in": R_IN}
    return data, meta


def _exit_stats(a):
    b = a["exit_betas"]
    ex = [a[f"exit_beta{x:g}"] for x in b]
    mean = np.array([e[e > 0].mean() for e in ex])
    censored = int(sum((e < 0).sum() for e in ex))
    det = np.array([a[f"det_beta{x:g}"][1] for x in b], float)
    return b, ex, mean, censored, det


def _fit(b, y, last: int = 5):
    ok = y > 0
    bb, yy = b[ok][-last:], y[ok][-last:]
    return float(np.polyfit(bb, np.log(yy), 1)[0])


def _bound(t, beta, c0, n):
    r = EPS / GAMMA
    return 1 - np.exp((1 + r) * np.log(GAMMA * t / EPS) + (1 + r) * np.log(n) - beta * c0 * r / 2)


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((15, 4.8))
    ax = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    c0 = H.leader_gap(data["v"])
    coef, rate = C.theorem_exponent(data["v"], gamma=meta["gamma"], eps=meta["eps"])
    b, ex, mean, _, det = _exit_stats(data)
    for x, e in zip(b, ex, strict=True):
        e = e[e > 0]
        ax[0].semilogy(x + np.random.default_rng(0).uniform(-0.12, 0.12, e.size), e, ".",
                       color="C0", alpha=0.15, ms=3)  # fmt: skip
    s_chain, s_det = _fit(b, mean), _fit(b, det)
    ax[0].semilogy(
        b, mean, "o-", color="C0", label=f"chain (SA_P): mean T_2, fitted rate {s_chain:.2f}"
    )
    okd = det > 0
    ax[0].semilogy(b[okd], det[okd], "s-", color="C3",
                   label=f"mean map (SA_beta): exit layer, fitted rate {s_det:.2f}")  # fmt: skip
    ref = mean[-1]
    ax[0].semilogy(
        b,
        ref * np.exp(c0 * (b - b[-1])),
        "k:",
        label=f"slope Delta = c_0 = {c0:.2f} (mean map, derived)",
    )
    ax[0].semilogy(b, ref * np.exp(rate * (b - b[-1])), "g--",
                   label=f"slope c_0 eps/(2 gamma (1+eps/gamma)) = {rate:.2f} (Thm 5.4, guaranteed)")  # fmt: skip
    ax[0].set_xlabel("beta")
    ax[0].set_ylabel("steps")
    ax[0].legend(fontsize=7)
    ax[0].set_title(f"(a) exit from eps = {meta['eps']:.3f} (eps/gamma = 2 diam K)")
    eb = data["entry_betas"]
    hm = int(data["hardmax_entry"])
    q = np.array([np.percentile(data[f"entry_beta{x:g}"], [10, 50, 90]) for x in eb])
    ax[1].semilogx(eb, q[:, 1], "o-", label="chain: median entry step")
    ax[1].fill_between(eb, q[:, 0], q[:, 2], alpha=0.25, label="10-90 %")
    ax[1].axhline(hm, color="k", ls=":", label=f"hardmax: {hm} steps")
    frac = [np.mean(data[f"entry_beta{x:g}"] <= hm + 2) for x in eb]
    ax1 = ax[1].twinx()
    ax1.semilogx(eb, frac, "^-", color="C2", label="fraction entered by hardmax + 2")
    ax1.semilogx(eb, 1 - eb ** (-1 / 8), "g--", label="Thm 5.2: 1 - beta^(-1/8)")
    ax1.set_ylim(0, 1.05)
    ax[1].set_xlabel("beta")
    ax[1].set_ylabel("entry step")
    ax[1].legend(fontsize=7, loc="upper left")
    ax1.legend(fontsize=7, loc="center right")
    ax[1].set_title(f"(b) entry within {meta['radius']:g} of the vertices")
    n = data["z0"].shape[0]
    for j, x in enumerate(b[-3:]):
        e = np.sort(ex[-3 + j][ex[-3 + j] > 0])
        ax[2].semilogx(
            e, 1 - np.arange(e.size) / e.size, color=f"C{j}", label=f"beta = {x:g}: P(T_2 >= t)"
        )
        t = np.logspace(0, np.log10(e.max()), 200)
        lb = _bound(t, x, c0, n)
        ok = lb > 0
        ax[2].semilogx(
            t[ok], lb[ok], "--", color=f"C{j}", label=f"beta = {x:g}: Thm 5.4 lower bound"
        )
    ax[2].set_xlabel("t (steps)")
    ax[2].set_ylim(0, 1.05)
    ax[2].legend(fontsize=7)
    ax[2].set_title("(c) survival of the metastable stay")
    fig.suptitle(f"The Markov chain (SA_P) of arXiv 2508.09628 §5: 3 vertices, n = {n}, "
                 f"gamma = {meta['gamma']:g}, {meta['runs']} runs per beta", fontsize=10)  # fmt: skip
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    c0 = H.leader_gap(a["v"])
    coef, rate = C.theorem_exponent(a["v"], gamma=meta["gamma"], eps=meta["eps"])
    b, ex, mean, censored, det = _exit_stats(a)
    n = a["z0"].shape[0]
    eb = a["entry_betas"]
    hm = int(a["hardmax_entry"])
    large = eb[eb >= LARGE_BETA]
    med = [float(np.median(a[f"entry_beta{x:g}"])) for x in eb]
    frac = [float(np.mean(a[f"entry_beta{x:g}"] <= hm + 2)) for x in large]
    medl = [float(np.median(a[f"entry_beta{x:g}"])) for x in large]
    # the largest t at which the theorem's bound is positive, at the largest beta
    r = meta["eps"] / meta["gamma"]
    tmax = meta["eps"] / meta["gamma"] * np.exp((b[-1] * c0 * r / 2) / (1 + r) - np.log(n))
    surv = float(np.mean(ex[-1] >= tmax))
    s_chain = _fit(b, mean)
    c: dict = {
        "c0": c0, "theorem_coef": coef, "theorem_rate": rate, "eps": meta["eps"],
        "chain_rate": s_chain, "det_rate": _fit(b, det),
        "chain_over_delta": s_chain / c0, "chain_over_theorem": s_chain / rate,
        "exit_mean_first": float(mean[0]), "exit_mean_last": float(mean[-1]),
        "det_exit_last": int(det[-1]), "censored": censored,
        "all_det_exit": bool(np.all(det > 0)),
        "det_over_chain_last": float(det[-1] / mean[-1]),
        "hardmax_entry": hm, "entry_medians": med, "large_beta": float(large[0]),
        "entry_median_min": min(medl), "entry_median_max": max(medl),
        "entry_fraction_min": min(frac),
        "entry_beats_theorem": bool(all(f >= 1 - x ** (-1 / 8) for f, x in zip(frac, large, strict=True))),
        "bound_tmax": float(tmax), "survival_at_tmax": surv,
    }  # fmt: skip
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
