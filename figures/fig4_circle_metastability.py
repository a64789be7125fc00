"""arXiv 2312.10794, Fig. 4 (p. 27): metastability on the circle (d = 2).

Left: the d = 2 phase diagram of Fig. 3 (SA, Q = K = V = I, n = 32, delta = 1e-3, 1024 seeds,
beta = linspace(0.1, 9, 90), t in [0, 30], the authors' Euler + renormalisation scheme with dt = 0.1)
with the curve Gamma_{inf,delta}; it shares its per-beta results with fig3_phase_diagrams.py (same store).
Middle: SA trajectories of n = 32 tokens on the circle from one random initial condition (seed 0), at
beta = 9 (top) and beta = 4 (bottom), shown at t = 0, 18 and 30 (the paper's panel titles; the caption
says 2.5, 18, 30). Same scheme, dt = 0.1.
Right (a check of the paper's Fig. 4): the number of clusters (connected components of
<x_i, x_j> > 0.999) at t = 30 over the 1024 seeds, at beta = 4 and beta = 9.

``--quick``: n = 8, 16 seeds, 4 betas, t in [0, 6].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import particles as pt
from particles.analysis.phase import PhaseParams, phase_diagram, plot_phase
from particles.plotting.figures import STORE_OPTION, figure_paths, result_store, run_script
from particles.storage.npz import save_npz

HERE = Path(__file__).resolve().parent
STEM = "fig4_circle_metastability"


def params(quick: bool) -> tuple[PhaseParams, tuple[float, ...]]:
    if quick:
        return PhaseParams(n=8, d=2, betas=(0.1, 4.0, 6.0, 9.0), t_end=6.0, seeds=16), (0, 3, 6)
    betas = tuple(np.round(np.linspace(0.1, 9, 90), 10))
    return PhaseParams(n=32, d=2, betas=betas, t_end=30.0, seeds=1024), (0.0, 18.0, 30.0)


def plot(a: dict, meta: dict, png: Path) -> Path:
    """Draw the figure from the saved arrays ``a`` and ``meta`` (see :func:`main`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.sparse.csgraph import connected_components

    from particles.analysis.phase import PhaseDiagram
    from particles.plotting import plural

    p = PhaseParams(**meta["params"])
    e = np.zeros(0)
    dg = PhaseDiagram(
        params=p, t=a["t"], betas=a["betas"], P=a["P"], P_se=e, mean_clusters=e, final_clusters=e
    )
    fig = plt.figure(figsize=(16, 6.4), layout="constrained")
    sub_a, sub_b, sub_c = fig.subfigures(1, 3, width_ratios=[2.6, 3, 1.6], wspace=0.02)
    ax = sub_a.subplots()
    mesh = plot_phase(ax, dg, euler_curve=True, title=f"(a) d = 2, n = {p.n}, {p.seeds} seeds")
    h, lab = ax.get_legend_handles_labels()
    lab = [r"$\Gamma_{\infty,\delta}$ (exact)", f"Euler dt = {p.dt:g} (equiangular)"]
    ax.legend(h, lab, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, frameon=False)
    sub_a.colorbar(mesh, ax=ax, label=r"P($\langle x_1,x_2\rangle\geq 1-\delta$)")
    circles = sub_b.subplots(2, 3)
    sub_b.suptitle(f"(b) one initial condition of n = {p.n} tokens")
    times = a["traj_times"]
    th = np.linspace(0, 2 * np.pi, 200)
    for row, beta in enumerate((9.0, 4.0)):
        xs = a[f"traj_beta{beta:g}"]
        for col, t in enumerate(times):
            ax = circles[row, col]
            ax.plot(np.cos(th), np.sin(th), color="0.85", lw=1)
            x = xs[col]
            ax.scatter(x[:, 0], x[:, 1], s=14, color="C3" if beta == 9.0 else "C0", zorder=3)
            k, _ = connected_components(x @ x.T > 1 - p.delta, directed=False)
            ax.set_title(rf"$\beta$ = {beta:g}, t = {t:g}: {plural(k, 'cluster')}", fontsize=9)
            ax.set_aspect("equal")
            ax.set_xlim(-1.15, 1.15)
            ax.set_ylim(-1.15, 1.15)
            ax.set_xticks([])
            ax.set_yticks([])
    ax = sub_c.subplots()
    b4, b9 = a["final_clusters_beta4"], a["final_clusters_beta9"]
    ks = np.arange(1, int(max(b4.max(), b9.max())) + 1)
    for j, (c, col, beta) in enumerate(((b4, "C0", 4), (b9, "C3", 9))):
        frac = np.array([(c == k).mean() for k in ks])
        ax.bar(ks + (j - 0.5) * 0.4, frac, width=0.4, color=col, label=rf"$\beta$ = {beta}")
    ax.set_xticks(ks)
    ax.set_xlabel(r"clusters (components of $\langle x_i,x_j\rangle > 1-\delta$)")
    ax.set_ylabel(f"fraction of the {p.seeds} seeds")
    ax.set_title(f"(c) number of clusters at t = {p.t_end:g}")
    ax.legend(frameon=False)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def main(
    outdir=HERE, quick: bool = False, store=None, progress: bool = True, redraw: bool = False
) -> Path:
    """Compute (or, with ``redraw``, load from ``<outdir>/<stem>.npz``) and draw the figure."""
    from particles.storage.npz import load_npz

    npz, png = figure_paths(outdir, STEM)
    if redraw:
        return plot(*load_npz(npz, "figure_data"), png)
    p, times = params(quick)
    with result_store(store, quick, HERE / ".store") as store:
        dg = phase_diagram(p, store=store, progress=progress)
    i4 = int(np.argmin(np.abs(dg.betas - 4.0)))
    i9 = int(np.argmin(np.abs(dg.betas - 9.0)))
    x0 = pt.random_points(p.n, 2, 0)
    traj = {}
    for beta in (9.0, 4.0):
        tr = pt.simulate(
            x0, pt.Dynamics(beta=beta), times[-1], method="euler-tangent", dt=p.dt, save_at=times
        )
        traj[beta] = tr.x
    kmax = int(max(dg.final_clusters[i4].max(), dg.final_clusters[i9].max()))
    hist = {
        f"beta{dg.betas[i]:g}": np.bincount(dg.final_clusters[i], minlength=kmax + 1)
        for i in (i4, i9)
    }
    arrays = {
        "t": dg.t,
        "betas": dg.betas,
        "P": dg.P.astype(np.float32),
        "final_clusters_beta4": dg.final_clusters[i4],
        "final_clusters_beta9": dg.final_clusters[i9],
        "traj_beta9": traj[9.0],
        "traj_beta4": traj[4.0],
        "traj_times": np.asarray(times, float),
    }
    meta = {
        "format": "figure_data",
        "figure": "arXiv 2312.10794 Fig. 4",
        "params": p.record(),
        "seed": p.seed,
        "trajectory_seed": 0,
        "cluster_histograms": {k: v.tolist() for k, v in hist.items()},
        "quick": quick,
    }
    save_npz(npz, arrays, meta)
    return plot(arrays, meta, png)


def summary(path) -> dict:
    """Cluster-count fractions at t_end for beta = 4 and 9 from a saved npz (for the README)."""
    from particles.storage.npz import load_npz

    a, _ = load_npz(path, "figure_data")
    out = {}
    for b in ("beta4", "beta9"):
        c = a[f"final_clusters_{b}"]
        out[b] = {int(k): float(np.mean(c == k)) for k in np.unique(c)}
    return out


if __name__ == "__main__":
    run_script(main, __doc__, HERE, STORE_OPTION)
