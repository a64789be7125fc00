"""arXiv 2312.10794, Fig. 3 (p. 26): (t, beta) phase diagrams of SA with Q = K = V = I.

Heat map of P(<x_1(t), x_2(t)> >= 1 - delta), estimated as the fraction of ordered pairs i != j with
<x_i, x_j> > 1 - delta pooled over the seeds, colormap RdBu_r on [0, 1], with the curve
Gamma_{inf,delta} of the equiangular ODE (6.9) computed by particles.analysis.equiangular (solid black) and the
same curve for the authors' dt = 0.1 Euler scheme in the equiangular model (dashed).

Parameters (full size): n = 32, delta = 1e-3, d in {2, 8, 32, 128, 512, 1024} (panels a–f),
1024 seeds per beta, beta = linspace(0.1, 9, 90) (the authors' grid), t in [0, 30] with the authors'
scheme (explicit Euler + renormalisation, dt = 0.1, 300 steps, statistics at every step). Seed 0.
A seventh panel compares the P = 1/2 boundaries with the curve and with a faithful integrator (RK4,
dt = 0.1) at d = 1024 on 64 seeds and every third beta.

``--large-d-seeds K`` runs d >= 128 with K seeds (the committed PNG has 1024 seeds in every panel).
``--quick``: n = 8, d in {2, 16}, 16 seeds, 6 betas, t in [0, 6].
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from particles.analysis import equiangular
from particles.analysis.phase import PhaseParams, boundary_t, phase_diagrams, plot_phase
from particles.plotting.figures import STORE_OPTION, figure_paths, result_store, run_script

HERE = Path(__file__).resolve().parent
STEM = "fig3_phase_diagrams"


def params(quick: bool, large_d_seeds: int | None = None):
    if quick:
        base = PhaseParams(n=8, d=2, betas=tuple(np.linspace(0.1, 9, 6)), t_end=6.0, seeds=16)
        ds = (2, 16)
        rk4 = replace(base, d=16, method="rk4", seeds=8)
    else:
        base = PhaseParams(
            n=32, d=2, betas=tuple(np.round(np.linspace(0.1, 9, 90), 10)), seeds=1024
        )
        ds = (2, 8, 32, 128, 512, 1024)
        rk4 = replace(base, d=1024, method="rk4", seeds=64, betas=base.betas[::3])
    plist = [replace(base, d=d) for d in ds]
    if large_d_seeds:  # fewer seeds where the transition is sharp (d >= 128), to save time
        plist = [replace(p, seeds=large_d_seeds) if p.d >= 128 else p for p in plist]
    return plist, rk4


def _diagrams_from_npz(arrays: dict, meta: dict):
    """The plotted diagrams rebuilt from the saved npz (P only: what the figure uses)."""
    from particles.analysis.phase import PhaseDiagram

    diagrams = [
        PhaseDiagram.from_saved(p, arrays["t"], P)
        for p, P in zip(meta["params"], arrays["P"], strict=True)
    ]
    return diagrams, PhaseDiagram.from_saved(meta["rk4_params"], arrays["t"], arrays["P_rk4"])


def plot(diagrams, d_rk4, png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plist = [dg.params for dg in diagrams]
    rk4 = d_rk4.params
    # the heat maps (two rows, as many columns as they need) with their colour bar on the left, the
    # summaries (g) and (h) on the right: only the panels drawn are laid out (--quick draws two)
    k = len(diagrams)
    cols = -(-k // 2)
    fig = plt.figure(figsize=(3.9 * cols + 1.2 + 4.6, 7.6), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[3.9 * cols + 1.2, 4.6], wspace=0.02)
    axes = left.subplots(2, cols, squeeze=False)
    panels = list(axes.T.flat) if k == 2 else list(axes.flat)
    mesh = None
    for ax, dg, lab in zip(panels, diagrams, "abcdef", strict=False):
        title = f"({lab}) d = {dg.params.d}, {dg.params.seeds} seeds"
        mesh = plot_phase(ax, dg, euler_curve=True, title=title)
    for ax in panels[k:]:
        ax.set_visible(False)
    left.colorbar(mesh, ax=panels[:k], aspect=40, label=r"P($\langle x_1,x_2\rangle\geq 1-\delta$)")
    ax_g, ax_h = right.subplots(2, 1)
    # boundaries: P = 1/2 per beta, against the exact curve
    ax = ax_g
    n, delta = plist[0].n, plist[0].delta
    bs = np.linspace(0.0, float(max(plist[0].betas)), 200)
    ts, _ = equiangular.gamma_curve(n, delta, betas=bs)
    ax.plot(ts, bs, "k-", lw=2, label=r"$\Gamma_{\infty,\delta}$ of the equiangular ODE (exact)")
    te = [equiangular.euler_hitting_time(b, n, delta, plist[0].dt) for b in bs[::5]]
    ax.plot(te, bs[::5], "k--", lw=1.2, label=f"same, Euler dt = {plist[0].dt:g}")
    cmap = plt.get_cmap("viridis")
    for i, dg in enumerate(diagrams):
        ax.plot(
            boundary_t(dg),
            dg.betas,
            color=cmap(i / max(len(diagrams) - 1, 1)),
            lw=1,
            label=f"P = 1/2, d = {dg.params.d} (Euler)",
        )
    ax.plot(
        boundary_t(d_rk4),
        d_rk4.betas,
        "r:",
        lw=2,
        label=f"P = 1/2, d = {rk4.d} (RK4, {rk4.seeds} seeds)",
    )
    ax.set_xlim(0, plist[0].t_end)
    ax.set_ylim(0, float(max(plist[0].betas)))
    ax.set_xlabel("t")
    ax.set_ylabel(r"$\beta$")
    ax.set_title("(g) where P crosses 1/2")
    # one legend for all panels, below them (P = 1/2 curves of (g) and the black curves of all)
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="outside lower center",
        ncol=5 if cols >= 3 else 3,
        frameon=False,
    )
    # width of the 0.1–0.9 band, median over beta, against d
    ax = ax_h
    ds = [dg.params.d for dg in diagrams]
    widths = band_widths(diagrams)
    ax.semilogx(ds, widths, "o-")
    ax.set_xlabel("d")
    ax.set_ylabel("median width in t of the band 0.1 < P < 0.9")
    ax.set_title("(h) the transition sharpens with d")
    fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return png


def band_widths(diagrams) -> list[float]:
    """Median over beta of the time between P = 0.1 and P = 0.9, per diagram."""
    widths = []
    for dg in diagrams:
        lo, hi = boundary_t(dg, 0.1), boundary_t(dg, 0.9)
        w = hi - lo
        widths.append(np.nanmedian(w) if np.any(np.isfinite(w)) else np.nan)
    return widths


def main(
    outdir=HERE,
    quick: bool = False,
    store=None,
    progress: bool = True,
    large_d_seeds=None,
    redraw: bool = False,
) -> Path:
    """Compute (or, with ``redraw``, load from ``<outdir>/<stem>.npz``) and draw the figure."""
    from particles.storage.npz import load_npz, save_npz

    npz, png = figure_paths(outdir, STEM)
    if redraw:
        arrays, meta = load_npz(npz, "figure_data")
        diagrams, d_rk4 = _diagrams_from_npz(arrays, meta)
        return plot(diagrams, d_rk4, png)
    plist, rk4 = params(quick, large_d_seeds)
    with result_store(store, quick, HERE / ".store") as store:
        t0 = time.perf_counter()
        diagrams = phase_diagrams(plist, store=store, progress=progress)
        wall_euler = time.perf_counter() - t0
        (d_rk4,) = phase_diagrams([rk4], store=store, progress=progress)
    plot(diagrams, d_rk4, png)
    n, delta = plist[0].n, plist[0].delta
    bs = np.linspace(0.0, float(max(plist[0].betas)), 200)
    ts, _ = equiangular.gamma_curve(n, delta, betas=bs)
    arrays = {
        "t": diagrams[0].t,
        "betas": diagrams[0].betas,
        "d": np.array([dg.params.d for dg in diagrams]),
        "P": np.stack([dg.P for dg in diagrams]).astype(np.float32),
        "P_rk4": d_rk4.P.astype(np.float32),
        "band_width_median": np.array(band_widths(diagrams)),
        "gamma_t": ts,
        "gamma_beta": bs,
    }
    save_npz(
        npz,
        arrays,
        {
            "format": "figure_data",
            "figure": "arXiv 2312.10794 Fig. 3",
            "params": [p.record() for p in plist],
            "rk4_params": rk4.record(),
            "seed": plist[0].seed,
            "quick": quick,
            "wall_s_this_run": wall_euler,
            "kernel_run_s": [dg.run_s for dg in diagrams],
            "system_steps": [dg.system_steps for dg in diagrams],
        },
    )
    return png


if __name__ == "__main__":
    run_script(
        main,
        __doc__,
        HERE,
        STORE_OPTION,
        (
            "--large-d-seeds",
            {"type": int, "default": None, "help": "seeds for d >= 128 (default: all 1024)"},
        ),
    )
