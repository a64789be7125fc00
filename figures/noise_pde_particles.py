"""Particles against the mean-field equation on the circle (d = 2, USA, identity weights): the
Fokker–Planck equation d_t rho + d_theta(rho v) = (1/kappa) d_theta^2 rho, v = (1/beta) d_theta(h * rho)
(arXiv 2312.10794, §7 with the noise of Rigollet, arXiv 2512.01868 §7; conventions in
particles.meanfield), against the noisy particle system dtheta_i = v dt + sqrt(2/kappa) dW_i.

beta = 4, kappa = 1 (kappa_c = 0.410; noisy growth rates of modes 1..4: 1.44, 2.42, -1.49, -10.3, so
two clusters form first and then merge into one), from the smooth density 1 + 0.05 x (random modes
1..6, seed 3).

Left: histograms (720 bins) of 10^6 particles drawn i.i.d. from rho(0) and run with the O(n K)
particle solver (particles.meanfield.circle_particles, Heun, weak order 2, dt = 0.02, noise seed 0)
over the PDE density (particles.meanfield.solve_circle, N = 512, ETDRK4, dt = 0.005) at
t = 0, 0.5, 1, 2, 4, 8.
Right: the Wasserstein-1 distance (exact on the circle, from the CDFs) between the empirical measure
of n particles and rho(t) at t = 0 (sampling alone), 0.5 and 2, mean over 4 runs for n = 10^2..10^5
and the 10^6 run. The uniform state is unstable here, so fluctuations of the empirical measure grow
like e^{lambda t} (lambda up to 2.4) before the nonlinearity saturates them: W1 ~ C(t) n^{-1/2} holds
once C(t) n^{-1/2} is small, for n >~ 10^4 at t = 2. The slopes fitted over n >= 10^4 (t = 2) and over
all n (t = 0, 0.5) are in ``meta["numbers"]``.
``--quick``: 2 x 10^4 particles, n up to 3000, 2 runs, t <= 2. Full size: about 5 minutes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles import meanfield as mf
from particles.plotting import new_figure
from particles.plotting.figures import numbers_figure, run_script

HERE = Path(__file__).resolve().parent
BETA, KAPPA = 4.0, 1.0
BINS = 720


def compute(quick: bool = False) -> tuple[dict, dict]:
    times = np.array([0, 0.5, 1, 2] if quick else [0, 0.5, 1, 2, 4, 8], float)
    t_w = 2.0
    rho0 = mf.initial_density("perturbed", N=512, eps=0.05, modes=6, rng=3)
    sol = mf.solve_circle(rho0, BETA, KAPPA, times[-1], dt=0.005, save_at=times)
    big_n = 20000 if quick else 10**6
    th0 = mf.sample_density(sol, big_n, rng=0, i=0)
    big = mf.circle_particles(th0, BETA, KAPPA, times[-1], dt=0.02, rng=0, save_at=times, modes=4)
    edges = np.linspace(0, 2 * np.pi, BINS + 1)
    mid = 0.5 * (edges[1:] + edges[:-1])
    hist = np.array([np.histogram(th, edges)[0] for th in big.theta]) / big_n * BINS  # mean 1
    dens = np.array([sol.density(i, mid) for i in range(times.size)])
    i_w = int(np.nonzero(times == t_w)[0][0])
    i_h = int(np.nonzero(times == 0.5)[0][0])
    ns = np.array([100, 300, 1000, 3000] if quick else [100, 316, 1000, 3162, 10000, 31623, 100000])
    runs = 2 if quick else 4
    w0 = np.empty((ns.size, runs))
    wh = np.empty((ns.size, runs))
    wt = np.empty((ns.size, runs))
    for a, n in enumerate(ns):
        for s in range(runs):
            th = mf.sample_density(sol, int(n), rng=1000 + s, i=0)
            w0[a, s] = mf.w1_circle(th, sol, 0)
            p = mf.circle_particles(th, BETA, KAPPA, t_w, dt=0.02, rng=2000 + s, save_at=[0.5, t_w])
            wh[a, s] = mf.w1_circle(p.theta[0], sol, i_h)
            wt[a, s] = mf.w1_circle(p.theta[-1], sol, i_w)
    w_big = np.array([mf.w1_circle(big.theta[i], sol, i) for i in range(times.size)])
    n_all = np.append(ns, big_n).astype(float)
    w_all = np.append(wt.mean(axis=1), w_big[i_w])
    large = n_all >= (1000 if quick else 10000)
    slope_t = float(np.polyfit(np.log(n_all[large]), np.log(w_all[large]), 1)[0])
    slope_h = float(np.polyfit(np.log(n_all), np.log(np.append(wh.mean(axis=1), w_big[i_h])), 1)[0])
    slope_0 = float(np.polyfit(np.log(ns), np.log(w0.mean(axis=1)), 1)[0])
    numbers = {
        "beta": BETA,
        "kappa": KAPPA,
        "kappa_c": mf.critical_kappa(BETA, 2),
        "growth_rates_1_4": mf.growth_rates(BETA, 2, KAPPA, modes=4).tolist(),
        "n_big": big_n,
        "times": times.tolist(),
        "r_pde": sol.r.tolist(),
        "r_particles": big.r.tolist(),
        "w1_big_particles": w_big.tolist(),
        "w1_slope_t2_large_n": slope_t,
        "w1_slope_t05": slope_h,
        "w1_slope_t0": slope_0,
        "w1_sqrt_n_t2": (w_all * np.sqrt(n_all)).tolist(),
        "pde_mass_error": sol.stats["max_mass_error"],
        "pde_min_density": float(sol.min_density.min()),
        "hist_max_abs_dev": float(np.max(np.abs(hist - dens))),
    }
    data = {
        "times": times,
        "bin_centres": mid,
        "hist": hist,
        "density": dens,
        "ns": ns,
        "w1_t0": w0,
        "w1_t05": wh,
        "w1_t2": wt,
        "w1_big": w_big,
        "r_pde": sol.r,
        "r_particles": big.r,
        "modes_particles": big.modes,
        "modes_pde": sol.modes(4),
    }
    return data, numbers


def plot(data: dict, numbers: dict):
    times = data["times"]
    T = times.size
    fig = new_figure((13, 6.5))
    gs = fig.add_gridspec(2, 4)
    mid = data["bin_centres"]
    for i in range(T):
        ax = fig.add_subplot(gs[i // 3, i % 3])
        edges = np.append(mid - 0.5 * (mid[1] - mid[0]), 2 * np.pi)
        ax.stairs(
            data["hist"][i],
            edges,
            fill=True,
            color="0.75",
            label=f"{numbers['n_big']:.0e} particles",
        )
        ax.plot(mid, data["density"][i], "C3-", lw=1.2, label="PDE")
        ax.set_title(
            f"t = {times[i]:g}: r = {data['r_particles'][i]:.4f} (particles), "
            f"{data['r_pde'][i]:.4f} (PDE)",
            fontsize=8,
        )
        ax.set_xlim(0, 2 * np.pi)
        ax.set_xlabel("theta", fontsize=8)
        if i == 0:
            ax.legend(fontsize=7)
    ax = fig.add_subplot(gs[:, 3])
    ns = data["ns"]
    for key, lab, c in (
        ("w1_t0", "t = 0 (sampling)", "C0"),
        ("w1_t05", "t = 0.5", "C2"),
        ("w1_t2", "t = 2", "C3"),
    ):
        w = data[key]
        ax.errorbar(
            ns, w.mean(axis=1), yerr=w.std(axis=1), fmt="o-", color=c, ms=4, label=lab, capsize=2
        )
    for t, c in ((0.5, "C2"), (2.0, "C3")):
        i = int(np.nonzero(times == t)[0][0])
        ax.plot([numbers["n_big"]], [data["w1_big"][i]], "*", color=c, ms=10)
    nn = np.append(ns, numbers["n_big"]).astype(float)
    i2 = int(np.nonzero(times == 2.0)[0][0])
    ax.plot(nn, data["w1_big"][i2] * np.sqrt(nn[-1] / nn), "k:", lw=1, label="n^-1/2")
    ax.plot([], [], "k*", ms=8, label="stars: one run of n = 10^6")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n")
    ax.set_ylabel("W1(empirical, PDE)")
    ax.set_title(
        f"W1 slopes: {numbers['w1_slope_t0']:.2f} (t = 0), {numbers['w1_slope_t05']:.2f} "
        f"(t = 0.5),\n{numbers['w1_slope_t2_large_n']:.2f} (t = 2, n >= 10^4)",
        fontsize=8,
    )
    ax.legend(fontsize=7)
    fig.suptitle(
        f"USA on the circle, beta = {numbers['beta']:g}, kappa = {numbers['kappa']:g}", fontsize=10
    )
    fig.tight_layout()
    return fig


def main(outdir: Path = HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Compute and draw (``redraw``: draw from the saved ``<outdir>/noise_pde_particles.npz`` alone)."""
    return numbers_figure(outdir, Path(__file__).stem, quick, redraw, compute, plot, kind="USA")


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
