"""Metastability on the circle (arXiv 2312.10794, Problem 1; HugoKoubbi/2024-transformers-dotm).

SA on the circle (d = 2, Q = K = V = I) with few particles and large beta, integrated as the angle
ODE (7.1) with LSODA (rtol 1e-10, atol 1e-12) up to t = 1e8 and saved at log-spaced times; the
cluster count (components of cos(theta_i - theta_j) > 1 - 1e-3) and the energy
E_beta = 1/(2 beta n^2) sum e^{beta cos(theta_i - theta_j)} form staircases on a log time axis:
quick merging into a few clusters, then plateaus whose length grows exponentially with the
distance between clusters (as e^{beta (1 - cos(angle))}), each ended by a fast merge.
Runs: (n = 8, beta = 12, seed 0) and (n = 16, beta = 25, seed 2), uniform random angles from
numpy default_rng(seed). The authors' staircase.py uses n = 5, beta in 500..4000 with normalised
gradient steps and plots E against rescaled time; we integrate the true ODE instead, so the time
axis is the dynamics' own. Cross-check: up to t = 20 the angle ODE agrees with the core Cartesian
simulator (particles.simulate, d = 2, DOP853, rtol 1e-11); the deviation is stored as
``xcheck_max_angle_err``. --quick: n = 6, beta = 9, t <= 1e5, fewer save times, no cross-check.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import particles as pt
from particles.analysis import circle
from particles.plotting import new_figure, plot_circle, plot_cluster_counts, plot_energy, plural
from particles.plotting.figures import plot_figure, run_script

HERE = Path(__file__).resolve().parent
RUNS = ((8, 12.0, 0), (16, 25.0, 2))
T_END = 1e8
DELTA = 1e-3


def _cross_check(theta0, beta) -> float:
    ts = np.linspace(0.0, 20.0, 41)
    t, th = circle.simulate_angles(theta0, beta, 20.0, save_at=ts)
    traj = pt.simulate(
        circle.from_angles(theta0),
        pt.Dynamics(beta=beta, kind="SA"),
        20.0,
        method="DOP853",
        rtol=1e-11,
        atol=1e-13,
        save_at=ts,
    )
    return float(np.max(np.abs(circle.wrap(circle.to_angles(traj.x) - th))))


def compute(quick: bool = False) -> dict:
    runs = ((6, 9.0, 0),) if quick else RUNS
    t_end = 1e5 if quick else T_END
    save_at = np.concatenate([[0.0], np.geomspace(1e-2, t_end, 120 if quick else 600)])
    out = {"runs": np.array(runs), "t_end": np.array(t_end), "delta": np.array(DELTA)}
    for k, (n, beta, seed) in enumerate(runs):
        theta0 = np.random.default_rng(seed).uniform(-np.pi, np.pi, n)
        r = circle.staircase(theta0, beta, t_end, kind="SA", delta=DELTA, save_at=save_at)
        for key in ("t", "theta", "energy", "n_clusters"):
            out[f"{key}_{k}"] = r[key]
        if not quick:
            out[f"xcheck_max_angle_err_{k}"] = np.array(_cross_check(theta0, beta))
    return out


def _sci(x: float) -> str:
    """2.7e+03 as mathtext 2.7 x 10^3."""
    m, e = f"{x:.1e}".split("e")
    return rf"${m}\times 10^{{{int(e)}}}$"


def plot(data: dict, path: Path) -> Path:
    runs = data["runs"]
    fig = new_figure((13.5, 3.6 * len(runs)))
    for k, (n, beta, _seed) in enumerate(runs):
        n = int(n)
        t, E, c, th = (data[f"{s}_{k}"] for s in ("t", "energy", "n_clusters", "theta"))
        pos = t > 0
        ax1 = fig.add_subplot(len(runs), 3, 3 * k + 1)
        plot_cluster_counts(ax1, t[pos], c[pos], logx=True, color="C0")
        ax1.set_title(rf"n = {n}, $\beta$ = {beta:g}: clusters (δ = {float(data['delta']):g})")
        ax2 = fig.add_subplot(len(runs), 3, 3 * k + 2)
        dirac = np.exp(beta) / (2 * beta)
        plot_energy(ax2, t[pos], E[pos] / dirac, logx=True, color="C1")
        ax2.set_ylabel(r"$E_\beta / E_\beta(\mathrm{Dirac})$")
        ax2.set_title("energy staircase")
        # snapshots: the middle (in log t) of each metastable plateau after t = 10, inner rings later
        ax3 = fig.add_subplot(len(runs), 3, 3 * k + 3)
        levels = [int(v) for v in np.unique(c[t >= 10.0])[::-1]][:4]
        for j, lev in enumerate(levels):
            idx = np.nonzero((c == lev) & (t >= 10.0))[0]
            i = idx[len(idx) // 2]
            r = 0.8 - 0.18 * j
            ax3.scatter(
                r * np.cos(th[i]),
                r * np.sin(th[i]),
                s=25,
                color=f"C{j}",
                label=f"t = {_sci(t[i])}: {plural(lev, 'cluster')}",
            )
            s = np.linspace(0, 2 * np.pi, 200)
            ax3.plot(r * np.cos(s), r * np.sin(s), color="0.85", lw=0.6, zorder=0)
        plot_circle(ax3, th[0], color="0.5", size=8)
        ax3.set_title("plateaus, outer to inner (grey: t = 0)")
        ax3.legend(
            frameon=False,
            fontsize=8,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            handletextpad=0.2,
        )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def main(outdir: Path = HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Compute (or, with ``redraw``, load from ``<outdir>/<stem>.npz``) and draw the figure."""
    return plot_figure(
        outdir, __file__, quick, redraw, compute, plot, {"kind": "SA", "method": "LSODA"}
    )


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    from scipy.sparse.csgraph import connected_components

    delta = float(a["delta"])
    c: dict = {}
    for k, (n, beta, _seed) in enumerate(a["runs"]):
        n = int(n)
        t, E, cl, th = (a[f"{s}_{k}"] for s in ("t", "energy", "n_clusters", "theta"))
        dirac = np.exp(beta) / (2 * beta)
        c[f"n{n}_E_ratio_final"] = float(E[-1] / dirac)
        c[f"n{n}_clusters_final"] = int(cl[-1])
        c[f"n{n}_clusters_t10"] = int(cl[np.searchsorted(t, 10.0)])
        c[f"n{n}_E_nondecreasing"] = bool(np.all(np.diff(E) >= -1e-12 * np.abs(E).max()))
        # merges after t = 10: the first saved time with the new count, and how fast they are
        ch = [i for i in np.nonzero(np.diff(cl))[0] if t[i + 1] >= 10.0]
        c[f"n{n}_merges"] = [[int(cl[i]), int(cl[i + 1]), float(t[i + 1])] for i in ch]
        for j, i in enumerate(ch):
            c[f"n{n}_merge_t{j}"] = float(t[i + 1])
        # after t = 10, the share of the energy increase made in the save intervals of a merge
        i10 = int(np.searchsorted(t, 10.0))
        c[f"n{n}_merge_intervals"] = len(ch)
        c[f"n{n}_intervals_after_10"] = len(t) - 1 - i10
        c[f"n{n}_energy_pct_in_merges"] = 100 * float(
            sum(E[i + 1] - E[i] for i in ch) / (E[-1] - E[i10])
        )
        c[f"n{n}_xcheck"] = float(a[f"xcheck_max_angle_err_{k}"])
        G = np.cos(th[-1][:, None] - th[-1][None, :]) > 1 - delta
        kk, lab = connected_components(G, directed=False)
        c[f"n{n}_final_sizes"] = sorted(int(s) for s in np.bincount(lab))
        c[f"n{n}_final_size_small"] = c[f"n{n}_final_sizes"][0]
        c[f"n{n}_final_size_large"] = c[f"n{n}_final_sizes"][-1]
        if kk == 2:
            m = [np.angle(np.exp(1j * th[-1][lab == j]).mean()) for j in range(2)]
            sep = float(abs(np.angle(np.exp(1j * (m[0] - m[1])))))
            c[f"n{n}_separation_deg"] = math.degrees(sep)
            c[f"n{n}_cross_weight"] = math.exp(beta * (math.cos(sep) - 1))
            s = c[f"n{n}_final_sizes"]
            c[f"n{n}_E_ratio_two_diracs"] = (s[0] ** 2 + s[1] ** 2) / n**2
    c["save_ratio"] = float(a["t_0"][2] / a["t_0"][1])
    c["t_end"] = float(a["t_end"])
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
