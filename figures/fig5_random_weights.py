"""arXiv 2312.10794, Fig. 5 (p. 28): phase diagrams of SA with random weights, d = 128, n = 32.

Panels (the paper's caption; the flags and scalings of the authors' phase-diagrams.py):
(a) Q, K, V Ginibre: Q^T K = G1 G2 / sqrt(d), V = G3 / sqrt(d) (the paper's label; transition t ~ 7);
(b) Q^T K GOE (G + G^T) / sqrt(2), V = G3 G3^T / d Wishart (PSD, mean eigenvalue 1: the authors'
    randomV=1, whose scaling as first read, G G^T / sqrt(d), clusters sqrt(d) = 11 times faster);
(c) Q, K Ginibre, V = Q^T K / sqrt(d);
(d) Q^T K GOE, V = Q^T K / sqrt(d + 1);
(a') for comparison, (a) with the Wishart V of (b), the authors' code flags randomKQ=1, randomV=1
    (transition at t ~ 2.5: V's spectrum reaches 4, not 1).
One independent draw of (Q^T K, V) per seed (the authors' default: fresh matrices per batch element),
i.i.d. uniform initial tokens, explicit Euler + renormalisation with dt = 0.1 (the authors' scheme),
delta = 1e-3, t in [0, 30]. Heat map of P(<x_1(t), x_2(t)> >= 1 - delta) pooled over seeds and pairs,
RdBu_r on [0, 1]; the identity-weights curve Gamma_{inf,delta} is drawn for reference only (it is the
theory for Q = K = V = I, not for these panels).

Size (reduced from the authors' 2048 systems x 90 betas): 128 seeds x 60 betas (beta = 0.15, 0.3, ..., 9),
seed 0; each cell pools 128 x 992 ordered pairs.
``--quick``: d = 6, n = 6, 4 seeds, 3 betas, t in [0, 3].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles.analysis.phase import PhaseParams, phase_diagrams, plot_phase
from particles.plotting.claimtools import first_time, grid_index
from particles.plotting.figures import STORE_OPTION, figure_paths, result_store, run_script
from particles.storage.npz import save_npz

HERE = Path(__file__).resolve().parent
STEM = "fig5_random_weights"
PANELS = (
    ("ginibre-v=g", r"(a) $Q$, $K$, $V$ Ginibre"),
    ("goe", r"(b) $Q^TK$ GOE, $V$ Wishart"),
    ("ginibre-v=b", r"(c) $Q$, $K$ Ginibre, $V = Q^TK$"),
    ("goe-v=b", r"(d) $Q^TK$ GOE, $V = Q^TK$"),
    ("ginibre", r"(a') $Q$, $K$ Ginibre, $V$ Wishart (authors' flags)"),
)


def params(quick: bool) -> list[PhaseParams]:
    if quick:
        base = dict(n=6, d=6, betas=(0.5, 3.0, 9.0), t_end=3.0, seeds=4)
    else:
        base = dict(
            n=32, d=128, betas=tuple(np.round(np.arange(1, 61) * 0.15, 10)), t_end=30.0, seeds=128
        )
    return [PhaseParams(weights=w, **base) for w, _ in PANELS]


def plot(diagrams, png: Path) -> Path:
    """Five heat maps on a 2 x 3 grid, one shared colour bar; the sixth cell holds the key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 7.6), layout="constrained")
    mesh = None
    for ax, dg, (_, title) in zip(axes.flat, diagrams, PANELS, strict=False):
        mesh = plot_phase(ax, dg, title=title)
        for line in ax.get_lines():
            line.set_alpha(0.6)
            line.set_linestyle(":")
    key = axes.flat[len(diagrams)]
    key.axis("off")
    p = diagrams[0].params
    key.legend(
        axes.flat[0].get_lines()[:1],
        [
            r"$\Gamma_{\infty,\delta}$ for $Q = K = V = I$"
            + "\n(reference only, not the\ntheory of these panels)"
        ],
        loc="upper left",
        frameon=False,
    )
    key.text(
        0.0,
        0.55,
        f"SA, n = {p.n}, d = {p.d}, {p.seeds} seeds per $\\beta$\n"
        f"Euler + renormalisation, dt = {p.dt:g}\n"
        f"one draw of the weights per seed\n$\\delta$ = {p.delta:g}",
        transform=key.transAxes,
        va="top",
    )
    fig.colorbar(mesh, ax=axes, label=r"P($\langle x_1,x_2\rangle\geq 1-\delta$)", shrink=0.8)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def main(
    outdir=HERE, quick: bool = False, store=None, progress: bool = True, redraw: bool = False
) -> Path:
    """Compute (or, with ``redraw``, load from ``<outdir>/<stem>.npz``) and draw the figure."""
    from particles.analysis.phase import PhaseDiagram
    from particles.storage.npz import load_npz

    npz, png = figure_paths(outdir, STEM)
    if redraw:
        a, meta = load_npz(npz, "figure_data")
        diagrams = [
            PhaseDiagram.from_saved(pr, a["t"], P, mc)
            for pr, P, mc in zip(meta["params"], a["P"], a["mean_clusters"], strict=True)
        ]
        return plot(diagrams, png)
    plist = params(quick)
    with result_store(store, quick, HERE / ".store") as store:
        diagrams = phase_diagrams(plist, store=store, progress=progress)
    plot(diagrams, png)
    save_npz(
        npz,
        {
            "t": diagrams[0].t,
            "betas": diagrams[0].betas,
            "P": np.stack([dg.P for dg in diagrams]).astype(np.float32),
            "mean_clusters": np.stack([dg.mean_clusters for dg in diagrams]).astype(np.float32),
        },
        {
            "format": "figure_data",
            "figure": "arXiv 2312.10794 Fig. 5",
            "panels": [w for w, _ in PANELS],
            "params": [p.record() for p in plist],
            "seed": plist[0].seed,
            "quick": quick,
        },
    )
    return png


# the numbers figures/README.md quotes (figures/claims.py checks them)
FIG5_PANELS = {"a": "ginibre-v=g", "b": "goe", "c": "ginibre-v=b", "d": "goe-v=b", "a2": "ginibre"}


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    t, betas, P = a["t"], a["betas"], a["P"]
    c: dict = {}
    p = meta["params"][0]
    c["seeds"], c["n_betas"] = p["seeds"], len(betas)
    c["pairs"] = p["n"] * (p["n"] - 1)
    i10 = grid_index(t, 10.0)
    for lab, name in FIG5_PANELS.items():
        k = meta["panels"].index(name)
        bt = np.array([first_time(t, row) for row in P[k]])
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


if __name__ == "__main__":
    run_script(main, __doc__, HERE, STORE_OPTION)
