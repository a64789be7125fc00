"""Hardmax transformers cluster at their leaders (Alcalde, Fantuzzi, Zuazua, arXiv 2407.01602): the
layer map (SA-inf) of arXiv 2508.09628 with a constant step (tokens in R^2, A = Q^T K symmetric positive definite, z_i <- z_i + alpha/(1 + alpha)
(H_i(Z) - z_i), H_i the mean of the maximisers of <A z_i, z_j>), whose abstract states that the
tokens "converge to a clustered equilibrium determined by special points called leaders", and the
straight-line, exponential convergence of each token towards its cell's vertex of arXiv 2508.09628
(Theorem 4.2 there, read in a transcription of the source; positive definite case).

(a) n = 40 tokens, alpha = 1: the trajectories, coloured by the leader each reaches, the leaders
(:func:`particles.analysis.hardmax.leaders`: C_i = {i}) as stars. (b) max_i dist(z_i, leaders)
against the layer for alpha = 0.5, 1, 2, with the straight-line rate (1 + alpha)^(-k). (c) The
layers to reach the equilibrium (every token within eps = 1e-9 of a leader,
:func:`particles.analysis.hardmax.equilibrium`) over 40 random configurations per alpha, against
the straight-line count ceil(log(D/eps) / log(1 + alpha)) with D the largest initial distance to a
leader (:func:`particles.analysis.hardmax.predicted_layers`). ``--quick``: 4 configurations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles.analysis import hardmax as H
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main

HERE = Path(__file__).resolve().parent
N, EPS = 40, 1e-9
ALPHAS_B = (0.5, 1.0, 2.0)
ALPHAS_C = (0.25, 0.5, 1.0, 2.0, 4.0)


def config(seed: int, n: int = N, d: int = 2):
    """Gaussian tokens and A = M M^T + I/2 (symmetric positive definite), seeded."""
    rng = np.random.default_rng(seed)
    z0 = rng.standard_normal((n, d))
    M = rng.standard_normal((d, d))
    return z0, M @ M.T + 0.5 * np.eye(d)


def compute(quick: bool = False) -> tuple[dict, dict]:
    seeds = 4 if quick else 40
    z0, A = config(0)
    eq = H.equilibrium(z0, A=A, alpha=1.0, eps=EPS)
    data: dict = {"z0": z0, "A": A, "leaders": eq.leaders, "assignment": eq.assignment,
                  "traj": H.layers(z0, eq.layers, A=A, alpha=1.0)}  # fmt: skip
    for a in ALPHAS_B:
        data[f"dist_a{a:g}"] = H.equilibrium(z0, A=A, alpha=a, eps=EPS).distance
    layers = np.full((len(ALPHAS_C), seeds), -1)
    pred = np.zeros((len(ALPHAS_C), seeds), dtype=int)
    nlead = np.zeros(seeds, dtype=int)
    for s in range(seeds):
        z, Am = config(100 + s)
        for i, a in enumerate(ALPHAS_C):
            e = H.equilibrium(z, A=Am, alpha=a, eps=EPS)
            layers[i, s] = -1 if e.layers is None else e.layers
            pred[i, s] = H.predicted_layers(e.distance[0], a, EPS)
            nlead[s] = e.leaders.size
    data.update(layers=layers, predicted=pred, n_leaders=nlead, alphas=np.array(ALPHAS_C))
    return data, {"n": N, "eps": EPS, "seeds": seeds, "alphas_b": list(ALPHAS_B)}


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((15, 4.8))
    ax = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    traj, lead, asg = data["traj"], data["leaders"], data["assignment"]
    for i in range(traj.shape[1]):
        ax[0].plot(traj[:, i, 0], traj[:, i, 1], "-", color=f"C{asg[i]}", lw=0.8, alpha=0.8)
    ax[0].scatter(traj[0, :, 0], traj[0, :, 1], s=12, c=[f"C{a}" for a in asg], zorder=3)
    ax[0].scatter(traj[0, lead, 0], traj[0, lead, 1], s=220, marker="*", c="k", zorder=4,
                  label=f"leaders ({lead.size})")  # fmt: skip
    ax[0].set_aspect("equal")
    ax[0].legend(fontsize=8, loc="best")
    ax[0].set_title(f"(a) n = {meta['n']}, alpha = 1: trajectories to the leaders")
    for j, a in enumerate(meta["alphas_b"]):
        d = data[f"dist_a{a:g}"]
        k = np.arange(d.size)
        ax[1].semilogy(k, d, "o-", ms=3, color=f"C{j}", label=f"alpha = {a:g}")
        ax[1].semilogy(k, d[-1] * (1 + a) ** (k[-1] - k), ":", color=f"C{j}", lw=1)
    ax[1].plot([], [], "k:", label="(1 + alpha)^(-k)")
    ax[1].axhline(meta["eps"], color="gray", lw=0.8)
    ax[1].set_xlabel("layer k")
    ax[1].set_ylabel("max_i dist(z_i, leaders)")
    ax[1].legend(fontsize=8)
    ax[1].set_title("(b) distance to the leader set")
    L, P = data["layers"], data["predicted"]
    for i, a in enumerate(data["alphas"]):
        jit = np.linspace(-0.15, 0.15, L.shape[1])
        ax[2].plot(P[i] + jit, L[i], ".", color=f"C{i}", ms=5, label=f"alpha = {a:g}")
    lo, hi = P.min() - 1, P.max() + 2
    ax[2].plot([lo, hi], [lo, hi], "k-", lw=0.8, label="layers = predicted")
    ax[2].set_xlabel("straight-line count ceil(log(D/eps) / log(1 + alpha))")
    ax[2].set_ylabel("layers to the equilibrium (eps = 1e-9)")
    ax[2].set_xscale("log")
    ax[2].set_yscale("log")
    ax[2].legend(fontsize=8)
    ax[2].set_title(f"(c) {L.shape[1]} configurations per alpha")
    fig.suptitle("Hardmax attention (beta = inf), tokens in R^2, A symmetric positive definite "
                 "(arXiv 2407.01602)", fontsize=11)  # fmt: skip
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    L, P = a["layers"], a["predicted"]
    ok = L >= 0
    exc = np.where(ok, L - P, 0)
    d1 = a["dist_a1"]
    c: dict = {
        "n_leaders_a": int(a["leaders"].size),
        "layers_a": int(a["traj"].shape[0] - 1),
        "clusters_a": int(np.unique(a["assignment"]).size),
        "ratio_a": float(d1[-1] / d1[-2]),
        "leaders_fixed": bool(np.all(a["traj"][:, a["leaders"]] == a["z0"][a["leaders"]])),
        "runs": int(L.size),
        "all_reached": bool(ok.all()),
        "excess_min": int(exc.min()),
        "excess_max": int(exc.max()),
        "exact_fraction": float(np.mean(exc[ok] == 0)),
        "mean_layers": [float(x) for x in L.mean(axis=1)],
        "mean_predicted": [float(x) for x in P.mean(axis=1)],
        "leaders_min": int(a["n_leaders"].min()),
        "leaders_max": int(a["n_leaders"].max()),
    }
    for x in meta["alphas_b"]:
        d = a[f"dist_a{x:g}"]
        c[f"ratio_a{x:g}"] = float(d[-1] / d[-2])
        c[f"layers_a{x:g}"] = int(d.size - 1)
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
