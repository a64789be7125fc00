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

import functools
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from particles.analysis import equiangular
from particles.analysis.phase import PhaseParams, boundary_t, phase_diagrams, plot_phase
from particles.plotting.claimtools import first_time, grid_index, md_table
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
    # one distinct qualitative colour per d (tab10 without its red, which the RK4 curve uses)
    palette = ["C0", "C1", "C2", "C4", "C5", "C6", "C8", "C9", "C7"]
    for i, dg in enumerate(diagrams):
        ax.plot(
            boundary_t(dg),
            dg.betas,
            color=palette[i % len(palette)],
            lw=1.2,
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


# the numbers figures/README.md quotes (figures/claims.py checks them)
@functools.cache
def _equiangular_curves(n: int, delta: float, dt: float, betas: tuple[float, ...]):
    from particles.analysis import equiangular

    exact = np.array([equiangular.hitting_time(b, n, delta) for b in betas])
    euler = np.array([equiangular.euler_hitting_time(b, n, delta, dt) for b in betas])
    return exact, euler


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    t, betas, P, ds = a["t"], a["betas"], a["P"], [int(d) for d in a["d"]]
    p0 = meta["params"][0]
    n, delta, dt = p0["n"], p0["delta"], p0["dt"]
    exact, euler = _equiangular_curves(n, delta, dt, tuple(float(b) for b in betas))
    bt = np.array([[first_time(t, P[k, i]) for i in range(len(betas))] for k in range(len(ds))])
    c: dict = {}
    from particles.analysis import equiangular

    c["gamma_beta0"] = equiangular.hitting_time(0.0, n, delta)
    # the Euler-equiangular curve against the exact one
    for b in (1, 4, 5, 6):
        i = grid_index(betas, b)
        c[f"euler_lag_b{b}"] = euler[i] - exact[i]
    rel = [
        (euler[grid_index(betas, b)] - exact[grid_index(betas, b)]) / exact[grid_index(betas, b)]
        for b in (1, 4, 5, 6)
    ]
    c["euler_lag_pct_min"], c["euler_lag_pct_max"] = 100 * min(rel), 100 * max(rel)
    # the table of first times with P >= 1/2
    rows = []
    for b in (0.1, 1, 2, 3, 4, 5, 6, 6.5, 7):
        i = grid_index(betas, b)
        cells = [f"{b:g}", f"{exact[i]:.2f}", f"{euler[i]:.1f}"]
        cells += ["–" if np.isnan(bt[k, i]) else f"{bt[k, i]:.1f}" for k in range(len(ds))]
        rows.append(cells)
    c["boundary_table"] = md_table(["β", "Γ exact", "Euler dt=0.1"] + [f"d={d}" for d in ds], rows)
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
    i6, i7 = grid_index(betas, 6), grid_index(betas, 7)
    c["d128_b6"], c["gamma_b6"], c["euler_b6"] = bt[k128, i6], exact[i6], euler[i6]
    c["d128_b7"], c["gamma_b7"] = bt[k128, i7], exact[i7]
    c["gamma_beta_at_tend"] = float(betas[exact <= t[-1]].max())
    # blue before t ~ 5
    c["max_P_before_t5"] = float(P[:, :, t <= 5.0 + 1e-9].max())
    # metastable zone at small d
    for d, bs in ((2, (2, 3, 4, 7)), (8, (4, 5))):
        for b in bs:
            c[f"P30_d{d}_b{b}"] = float(P[ds.index(d), grid_index(betas, b), -1])
    # RK4 (every third beta, d = 1024)
    br = betas[::3]
    rk = np.array([first_time(t, row) for row in a["P_rk4"]])
    ex_r, eu_r = exact[::3], euler[::3]
    quoted = (0.1, 4.0, 5.2, 5.8, 6.4)
    idx = [grid_index(br, b) for b in quoted]
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
