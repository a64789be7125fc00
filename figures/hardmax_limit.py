"""Finite beta against hardmax (beta = inf): the zero-temperature limit of arXiv 2508.09628 (Alcalde,
Geshkovski, Ruiz-Balet, *Attention's forward pass and Frank-Wolfe*), whose abstract proves "dynamic
metastability: with high probability, interior tokens reach near-vertex configurations in a constant
number of steps and remain within a small neighborhood for times that grow exponentially in the
inverse temperature beta", so that "the hardmax dynamics accurately approximate the finite-beta
process over exponentially long time horizons". The layer map (SA-inf) of that paper (tokens in R^2,
A = M M^T + I/2, alpha = 1, :func:`particles.analysis.hardmax.layers`) with softmax weights
softmax_j(beta <A z_i, z_j>) against hardmax.

(a) After K = 4 layers, e(beta) = max_i |z_i^beta - z_i^inf| against beta; the rate expected of it is
the smallest score margin g (best minus second-best <A z_i, z_j> over the rows and the first K
states of the hardmax run), since the weight softmax leaves off the maximisers is ~ exp(-beta g).
(b) max_i min_a |z_i^beta(k) - v_a| against the layer k, v_a the leaders (the hardmax equilibrium's
cluster points): the entry into delta = 0.1 after the same few layers for every beta, the exit after many.
(c) The exit layer (:func:`particles.analysis.hardmax.exit_layers`) against beta Delta for three
configurations (seeds 0-5), Delta the leader gap min_{a != b} <A v_a, v_a> - <A v_a, v_b>
(:func:`particles.analysis.hardmax.leader_gap`): the expected law is exit ~ C exp(beta Delta),
slope 1 in these units (derived in :mod:`particles.analysis.hardmax`). (d) The package's dynamics on
the sphere, ``Dynamics(beta)`` against ``Dynamics(beta=inf)`` (n = 16 on S^2, random Q, K, the
``euler`` layer x <- N(x + dt H(x)), dt = 0.5, 4 layers): the same exp(-beta g) law, g the margin
of <Q x_i, K x_j> along the hardmax run. ``--quick``: fewer beta.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import particles as pt
from particles.analysis import hardmax as H
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main

HERE = Path(__file__).resolve().parent
K, DELTA, ALPHA = 4, 0.1, 1.0
SEEDS_C = (0, 1, 2, 3, 4, 5)


def config(seed: int, n: int = 30, d: int = 2):
    rng = np.random.default_rng(seed)
    z0 = rng.standard_normal((n, d))
    M = rng.standard_normal((d, d))
    return z0, M @ M.T + 0.5 * np.eye(d)


def margin(states, scores) -> float:
    """min over the states and rows of (best score - best score below it by more than 1e-9)."""
    g = np.inf
    for z in states:
        s = scores(z)
        m = s.max(axis=1, keepdims=True)
        other = np.where(s < m - 1e-9, s, -np.inf).max(axis=1)
        g = min(g, float(np.min(m[:, 0] - other)))
    return g


def _panel_a(data, quick):
    z0, A = config(0)
    zinf = H.layers(z0, K, A=A, alpha=ALPHA)
    betas = np.array([10, 80, 160, 240] if quick else np.arange(10, 341, 15), float)
    data["a_betas"] = betas
    data["a_err"] = np.array(
        [np.abs(H.layers(z0, K, A=A, alpha=ALPHA, beta=b)[-1] - zinf[-1]).max() for b in betas]
    )
    data["a_states"] = zinf[:K]
    data["A0"], data["z0"] = A, z0


def _panel_b(data, quick):
    z0, A = config(0)
    eq = H.equilibrium(z0, A=A, alpha=ALPHA)
    lead = z0[eq.leaders]
    betas = (8.0, 10.0) if quick else (8.0, 10.0, 12.0, 14.0)
    for b in betas:
        z, dist = z0, []
        for _ in range(300 if quick else 8000):
            z = H.layer(z, A=A, alpha=ALPHA, beta=b)
            dist.append(
                float(np.min(np.linalg.norm(z[:, None] - lead[None], axis=2), axis=1).max())
            )
        data[f"b_dist_beta{b:g}"] = np.array(dist)
    data["b_betas"] = np.array(betas)


def _panel_c(data, quick):
    xs = np.array([6.0, 7.0, 8.0] if quick else np.arange(6.0, 14.01, 1.0))
    data["c_x"] = xs
    gaps = []
    for s in SEEDS_C[:2] if quick else SEEDS_C:
        z0, A = config(s)
        eq = H.equilibrium(z0, A=A, alpha=ALPHA)
        D = H.leader_gap(z0[eq.leaders], A)
        gaps.append(D)
        res = [
            H.exit_layers(z0, x / D, A=A, alpha=ALPHA, delta=DELTA, max_layers=300_000) for x in xs
        ]
        data[f"c_entry_seed{s}"] = np.array([-1 if e is None else e for e, _ in res])
        data[f"c_exit_seed{s}"] = np.array([-1 if x is None else x for _, x in res])
    data["c_gaps"] = np.array(gaps)


def _panel_d(data, quick):
    rng = np.random.default_rng(5)
    Q, Kk = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    x0 = pt.random_points(16, 3, rng=5)

    def run(beta):
        dyn = pt.Dynamics(beta=beta, Q=Q, K=Kk)
        return pt.simulate(x0, dyn, 2.0, method="euler", dt=0.5, saves=5).x

    xinf = run(np.inf)
    betas = np.array([50, 300, 600] if quick else np.arange(50, 1001, 50), float)
    data["d_betas"] = betas
    data["d_err"] = np.array([np.abs(run(b)[-1] - xinf[-1]).max() for b in betas])
    data["d_states"], data["d_Q"], data["d_K"] = xinf[:-1], Q, Kk


def compute(quick: bool = False) -> tuple[dict, dict]:
    data: dict = {}
    for panel in (_panel_a, _panel_b, _panel_c, _panel_d):
        panel(data, quick)
    seeds = list(SEEDS_C[:2] if quick else SEEDS_C)
    return data, {"K": K, "delta": DELTA, "alpha": ALPHA, "seeds_c": seeds}


def _tail_rate(betas, err, floor=1e-13):
    """-(slope) of log err against beta over the last half of the points above ``floor``."""
    ok = err > floor
    b, e = betas[ok], err[ok]
    h = b.size // 2
    return float(-np.polyfit(b[h:], np.log(e[h:]), 1)[0])


def _margins(a):
    A = a["A0"]
    ga = margin(a["a_states"], lambda z: (z @ A.T) @ z.T)
    Q, Kk = a["d_Q"], a["d_K"]
    gd = margin(a["d_states"], lambda x: (x @ Q.T) @ (x @ Kk.T).T)
    return ga, gd


def _exit_slopes(a, meta, last: int = 3):
    """Per configuration: the slope of log(exit layer) against beta Delta over the last ``last``
    points (the largest beta), and whether the run entered the neighbourhood there (a metastable
    stay exists only after the entry)."""
    out, entered = [], []
    for s in meta["seeds_c"]:
        x, ex = a["c_x"], a[f"c_exit_seed{s}"]
        ok = ex > 0
        out.append(float(np.polyfit(x[ok][-last:], np.log(ex[ok][-last:]), 1)[0]))
        entered.append(bool(np.all(a[f"c_entry_seed{s}"][-last:] > 0)))
    return out, entered


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((13, 9))
    ax = [fig.add_subplot(2, 2, i + 1) for i in range(4)]
    ga, gd = _margins(data)
    b, e = data["a_betas"], data["a_err"]
    ax[0].semilogy(b, e, "o-", ms=4, label="max_i |z_i^beta(K) - z_i^inf(K)|")
    ax[0].semilogy(b, e[-1] * np.exp(-ga * (b - b[-1])), "k:", label=f"exp(-beta g), g = {ga:.4f}")
    ax[0].set_xlabel("beta")
    ax[0].legend(fontsize=8)
    ax[0].set_title(f"(a) after K = {meta['K']} layers: error against beta")
    for j, bb in enumerate(data["b_betas"]):
        d = data[f"b_dist_beta{bb:g}"]
        ax[1].loglog(np.arange(1, d.size + 1), d, color=f"C{j}", lw=1, label=f"beta = {bb:g}")
    ax[1].axhline(meta["delta"], color="gray", lw=0.8, ls="--", label="delta")
    ax[1].set_xlabel("layer k")
    ax[1].set_ylabel("max_i min_a |z_i^beta(k) - v_a|")
    ax[1].legend(fontsize=8)
    ax[1].set_title("(b) entry and exit of the hardmax equilibrium's neighbourhood")
    slopes, entered = _exit_slopes(data, meta)
    for j, s in enumerate(meta["seeds_c"]):
        x, ex = data["c_x"], data[f"c_exit_seed{s}"]
        ok = ex > 0
        lab = f"config {s}: Delta = {data['c_gaps'][j]:.3f}, " + (
            f"slope {slopes[j]:.2f}" if entered[j] else "never enters"
        )
        ax[2].semilogy(x[ok], ex[ok], "o-" if entered[j] else "x--", color=f"C{j}", label=lab)
        if entered[j]:
            ax[2].semilogy(
                x[ok], ex[ok][-1] * np.exp(x[ok] - x[ok][-1]), ":", color=f"C{j}", lw=0.8
            )
    ax[2].plot([], [], "k:", label="slope 1: exp(beta Delta)")
    ax[2].set_xlabel("beta Delta")
    ax[2].set_ylabel("exit layer")
    ax[2].legend(fontsize=8)
    ax[2].set_title(f"(c) metastability: exit from delta = {meta['delta']:g}")
    b, e = data["d_betas"], data["d_err"]
    ax[3].semilogy(b, e, "o-", ms=4, color="C3", label="max_i |x_i^beta - x_i^inf| after 4 layers")
    ax[3].semilogy(b, e[-1] * np.exp(-gd * (b - b[-1])), "k:", label=f"exp(-beta g), g = {gd:.4f}")
    ax[3].set_xlabel("beta")
    ax[3].legend(fontsize=8)
    ax[3].set_title("(d) on S^2: Dynamics(beta) vs Dynamics(beta=inf), euler layers")
    fig.suptitle(
        "Finite beta against hardmax attention (arXiv 2508.09628, 2407.01602)", fontsize=11
    )
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    ga, gd = _margins(a)
    ra = _tail_rate(a["a_betas"], a["a_err"])
    rd = _tail_rate(a["d_betas"], a["d_err"])
    slopes, entered = _exit_slopes(a, meta)
    ent = [s for s, e in zip(slopes, entered, strict=True) if e]
    entries = np.concatenate([a[f"c_entry_seed{s}"] for s in meta["seeds_c"]])
    entries = entries[entries > 0]
    never = [s for s, e in zip(meta["seeds_c"], entered, strict=True) if not e]
    c: dict = {
        "margin_a": ga, "rate_a": ra, "rate_over_margin_a": ra / ga,
        "err_a_first": float(a["a_err"][0]), "err_a_last": float(a["a_err"][-1]),
        "margin_d": gd, "rate_d": rd, "rate_over_margin_d": rd / gd,
        "err_d_first": float(a["d_err"][0]), "err_d_last": float(a["d_err"][-1]),
        "gaps": [float(x) for x in a["c_gaps"]], "exit_slopes": slopes,
        "entered_configs": len(ent), "exit_slope_min": min(ent), "exit_slope_max": max(ent),
        "never_entered": never,
        "never_entered_seed": never[0] if never else -1,
        "never_exit_max": int(max([a[f"c_exit_seed{s}"].max() for s in never], default=0)),
        "entry_min": int(entries.min()), "entry_max": int(entries.max()),
        "all_exit": bool(all(np.all(a[f"c_exit_seed{s}"] > 0) for s in meta["seeds_c"])),
        "exit_max": int(max(a[f"c_exit_seed{s}"].max() for s in meta["seeds_c"])),
    }  # fmt: skip
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
