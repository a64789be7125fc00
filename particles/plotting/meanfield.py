"""matplotlib helpers for the noisy model and its mean-field equation (every function takes an ``ax``;
the ``*_png`` helpers write a whole figure on an Agg canvas)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_branch(ax, branch, *, color="k", label=True):
    """The stationary branch r(kappa) (solid where stable, dashed where unstable), the uniform
    state r = 0 (solid below kappa_c, dashed above) and kappa_c."""
    kc = branch.meta["kappa_c"]
    st = branch.stable
    lab = f"stationary branch (beta = {branch.beta:g})" if label else None
    ax.plot(branch.kappa[st], branch.r[st], "-", color=color, lw=1.5, label=lab)
    if np.any(~st):
        ax.plot(branch.kappa[~st], branch.r[~st], "--", color=color, lw=1.2)
    lo, hi = ax.get_xlim()
    ax.plot([min(lo, kc), kc], [0, 0], "-", color=color, lw=1.5)
    ax.plot([kc, max(hi, kc)], [0, 0], "--", color=color, lw=1.2)
    ax.axvline(kc, color=color, lw=0.6, ls=":")


def plot_sweep(
    ax, kappas, r_up, r_down, err_up=None, err_down=None, *, ms=4, labels=("sweep up", "sweep down")
):
    """Measured r against kappa for the upward (triangles up) and downward (down) sweeps."""
    ax.errorbar(kappas, r_up, yerr=err_up, fmt="^", ms=ms, color="C3", label=labels[0], capsize=2)
    ax.errorbar(
        kappas,
        r_down,
        yerr=err_down,
        fmt="v",
        ms=ms,
        color="C0",
        label=labels[1],
        capsize=2,
        mfc="none",
    )


def transition_png(result, path, branches=None) -> Path:
    """One panel per beta of a :class:`~particles.analysis.transition.TransitionResult`, with the
    stationary branches ``branches`` (list, one per beta, or None) as theory."""
    B = len(result.params.betas)
    fig = Figure(figsize=(4.6 * B, 3.6), constrained_layout=True)
    FigureCanvasAgg(fig)
    mu, eu = result.mean_and_error("up")
    md, ed = result.mean_and_error("down")
    k = result.kappas
    for i, beta in enumerate(result.params.betas):
        ax = fig.add_subplot(1, B, i + 1)
        ax.set_xlim(k.min() - 0.02 * np.ptp(k), k.max() + 0.02 * np.ptp(k))
        if branches is not None and branches[i] is not None:
            plot_branch(ax, branches[i])
        plot_sweep(ax, k, mu[i], md[i], eu[i], ed[i])
        p = result.params
        size = {"pde": f"N = {p.N}", "pde-sphere": f"L = {p.N}"}.get(
            p.engine, f"n = {p.n}, {p.seeds} systems"
        )
        ax.set_title(f"d = {p.d}, {p.kind}, beta = {beta:g} ({p.engine}, {size})", fontsize=9)
        ax.set_xlabel("kappa (inverse noise)")
        ax.set_ylabel("stationary r = |mean x|")
        ax.set_ylim(-0.03, 1.02)
        ax.legend(fontsize=7, loc="upper left")
    fig.savefig(path, dpi=130)
    return Path(path)


def plot_density(ax, sol, i, *, theta=None, **kw):
    """The mean-field density rho (with respect to dtheta / 2pi) of save ``i`` on [0, 2 pi)."""
    th = np.linspace(0, 2 * np.pi, 721) if theta is None else theta
    ax.plot(th, sol.density(i, th), **kw)


def meanfield_png(sol, path, times=None) -> Path:
    """Densities at a few save times and r(t) of a :class:`~particles.meanfield.CircleSolution`."""
    fig = Figure(figsize=(10, 3.6), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1)
    idx = (
        np.linspace(0, sol.t.size - 1, 5).round().astype(int)
        if times is None
        else [int(np.argmin(np.abs(sol.t - t))) for t in times]
    )
    for j, i in enumerate(idx):
        plot_density(ax, sol, i, color=f"C{j}", label=f"t = {sol.t[i]:.3g}")
    p = sol.params
    ax.set_title(f"{p['kind']}, beta = {p['beta']:g}, kappa = {p['kappa']}", fontsize=9)
    ax.set_xlabel("theta")
    ax.set_ylabel("density (w.r.t. dtheta / 2 pi)")
    ax.legend(fontsize=7)
    ax = fig.add_subplot(1, 2, 2)
    ax.plot(sol.t, sol.r, "k-", label="r = |rho_1|")
    for k in range(2, 5):
        ax.plot(sol.t, np.abs(sol.rho_hat[:, k]), lw=0.8, label=f"|rho_{k}|")
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=130)
    return Path(path)
