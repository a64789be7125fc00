"""Particles against the mean-field equation on the circle (d = 2, USA, identity weights): the
Fokker–Planck equation d_t rho + d_theta(rho v) = (1/kappa) d_theta^2 rho, v = (1/beta) d_theta(h * rho)
(arXiv 2312.10794, §7 with the noise of Rigollet, arXiv 2512.01868 §7; conventions in
particles.meanfield), against the noisy particle system dtheta_i = v dt + sqrt(2/kappa) dW_i.

beta = 4, kappa = 1 (kappa_c = 0.410; noisy growth rates of modes 1..4: 1.44, 2.42, -1.49, -10.3, so
two clusters form first and then merge into one), from the smooth density 1 + 0.05 x (random modes
1..6, seed 3).

Left: histograms (720 bins) of 10^6 particles drawn i.i.d. from rho(0) and run with the O(n K)
particle solver (particles.meanfield.circle_particles, Heun, dt = 0.005, noise seed 0) over the PDE
density (particles.meanfield.solve_circle, N = 512, ETDRK4, dt = 0.005) at t = 0, 0.5, 1, 2, 4, 8;
the same sample and noise seed are also run at dt = 0.02 (saved as ``hist_coarse``) to measure the
particles' time-step error. Panel titles: r of both, and the peak of the particles against the PDE's
after the same 15-bin moving average of both.
Right: the Wasserstein-1 distance (exact on the circle, from the CDFs) between the empirical measure
of n particles and rho(t) at t = 0 (sampling alone), 0.5 and 2: mean and standard deviation over 12
runs for n = 10^2..10^5, and the 10^6 run (stars). The uniform state is unstable here, so
fluctuations of the empirical measure grow like e^{lambda t} (lambda up to 2.4) before the
nonlinearity saturates them: W1 ~ C(t) n^{-1/2} holds once C(t) n^{-1/2} is small. Slopes of log W1
against log n with their standard errors (over all n at t = 0 and 0.5, over n >= 10^4 at t = 2):
:func:`claims`, which computes every number figures/README.md quotes from the saved arrays.
``--quick``: 2 x 10^4 particles, n up to 3000, 2 runs, t <= 2. Full size: about 13 CPU minutes.
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


DT_PDE, DT, DT_COARSE = 0.005, 0.005, 0.02


def big_sample(quick: bool) -> int:
    """Particles of the large run (the histograms)."""
    return 20000 if quick else 10**6


def compute(quick: bool = False) -> tuple[dict, dict]:
    times = np.array([0, 0.5, 1, 2] if quick else [0, 0.5, 1, 2, 4, 8], float)
    t_w = 2.0
    rho0 = mf.initial_density("perturbed", N=512, eps=0.05, modes=6, rng=3)
    sol = mf.solve_circle(rho0, BETA, KAPPA, times[-1], dt=DT_PDE, save_at=times)
    big_n = big_sample(quick)
    th0 = mf.sample_density(sol, big_n, rng=0, i=0)
    edges = np.linspace(0, 2 * np.pi, BINS + 1)
    mid = 0.5 * (edges[1:] + edges[:-1])
    data = {"times": times, "bin_centres": mid}
    # the same initial sample and noise seed at the figure's step and at a 4x coarser one
    for key, dt in (("", DT), ("_coarse", DT_COARSE)):
        big = mf.circle_particles(th0, BETA, KAPPA, times[-1], dt=dt, rng=0, save_at=times, modes=4)
        hist = np.array([np.histogram(th, edges)[0] for th in big.theta]) / big_n * BINS
        data[f"hist{key}"] = hist  # mean 1, as the density
        data[f"r_particles{key}"] = big.r
        data[f"w1_big{key}"] = np.array(
            [mf.w1_circle(big.theta[i], sol, i) for i in range(times.size)]
        )
        del big
    data["density"] = np.array([sol.density(i, mid) for i in range(times.size)])
    data["r_pde"] = sol.r
    data["pde_mass_error"] = np.float64(sol.stats["max_mass_error"])
    data["pde_min_density"] = np.float64(sol.min_density.min())
    i_w = int(np.nonzero(times == t_w)[0][0])
    i_h = int(np.nonzero(times == 0.5)[0][0])
    ns = np.array([100, 300, 1000, 3000] if quick else [100, 316, 1000, 3162, 10000, 31623, 100000])
    runs = 2 if quick else RUNS
    w = np.empty((3, ns.size, runs))
    for a, n in enumerate(ns):
        for s in range(runs):
            th = mf.sample_density(sol, int(n), rng=1000 + s, i=0)
            w[0, a, s] = mf.w1_circle(th, sol, 0)
            p = mf.circle_particles(th, BETA, KAPPA, t_w, dt=DT, rng=2000 + s, save_at=[0.5, t_w])
            w[1, a, s] = mf.w1_circle(p.theta[0], sol, i_h)
            w[2, a, s] = mf.w1_circle(p.theta[-1], sol, i_w)
    data.update(ns=ns, w1_t0=w[0], w1_t05=w[1], w1_t2=w[2])
    numbers = {"beta": BETA, "kappa": KAPPA, "n_big": big_n, "dt": DT, "dt_coarse": DT_COARSE}
    numbers.update(dt_pde=DT_PDE, runs=runs)
    return data, numbers


#: independent runs per n of the W1 study
RUNS = 12
#: n from which W1 ~ n^(-1/2) is fitted at t = 2 (below, the fluctuations are not small)
N_FIT_T2 = 10000


def w1_slope(ns, w, n_min=0.0) -> tuple[float, float]:
    """Slope of log W1 against log n (least squares on the per-run logs of the n >= n_min) and its
    standard error from the scatter of the runs: ``(slope, stderr)``."""
    ok = np.asarray(ns) >= n_min
    x = np.repeat(np.log(np.asarray(ns, float)[ok]), w.shape[1])
    y = np.log(w[ok]).ravel()
    A = np.vstack([x, np.ones_like(x)]).T
    coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
    s2 = float(res[0]) / (x.size - 2) if res.size else 0.0
    cov = s2 * np.linalg.inv(A.T @ A)
    return float(coef[0]), float(np.sqrt(cov[0, 0]))


#: bins of the moving average before the peaks are compared (0.13 rad, narrower than a cluster)
SMOOTH = 15


def _smooth(y: np.ndarray) -> np.ndarray:
    """Circular moving average of SMOOTH bins along the last axis."""
    k = np.ones(SMOOTH) / SMOOTH
    pad = np.concatenate([y[..., -SMOOTH:], y, y[..., :SMOOTH]], axis=-1)
    return np.apply_along_axis(lambda r: np.convolve(r, k, "same"), -1, pad)[..., SMOOTH:-SMOOTH]


def peak_excess_pct(hist, density) -> np.ndarray:
    """Per saved time, 100 (max hist / max density - 1) after the same moving average of both (the
    maximum of raw 720-bin counts is biased up by their noise): the particle peak above the PDE's."""
    return 100 * (_smooth(hist).max(axis=-1) / _smooth(density).max(axis=-1) - 1)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    n_big = big_sample(bool(meta.get("quick", False)))  # the run's inputs: BETA, KAPPA, n_big
    c: dict = {"kappa_c": float(mf.critical_kappa(BETA, 2))}
    c["growth_rates"] = [float(v) for v in mf.growth_rates(BETA, 2, KAPPA, modes=4)]
    c["max_growth_rate"] = max(c["growth_rates"])
    c["r_pde"] = [float(v) for v in a["r_pde"]]
    c["r_max_abs_diff"] = float(np.max(np.abs(a["r_pde"] - a["r_particles"])))
    c["r_max_abs_diff_coarse"] = float(np.max(np.abs(a["r_pde"] - a["r_particles_coarse"])))
    c["w1_big"] = [float(v) for v in a["w1_big"]]
    c["w1_big_coarse"] = [float(v) for v in a["w1_big_coarse"]]
    # the PDE density at the 720 bin centres of each saved time: its mean is the mass (exact for the
    # solver's 256 harmonics), its minimum the positivity check
    c["pde_mass_error"] = float(np.abs(a["density"].mean(axis=1) - 1).max())
    c["pde_min_density"] = float(a["density"].min())
    later = a["times"] >= 1.0
    c["peak_excess_pct"] = [float(v) for v in peak_excess_pct(a["hist"], a["density"])[later]]
    c["peak_excess_pct_coarse"] = [
        float(v) for v in peak_excess_pct(a["hist_coarse"], a["density"])[later]
    ]
    c["peak_times"] = [float(v) for v in a["times"][later]]
    # binomial standard deviation of the smoothed peak, relative: 1 / sqrt(n_big p), p = the mass of
    # SMOOTH bins at the lowest of the peaks
    peak = _smooth(a["density"]).max(axis=1)[later]
    c["peak_noise_pct"] = float(100 / np.sqrt(n_big * peak.min() * SMOOTH / BINS))
    ns = a["ns"]
    c["runs"] = int(a["w1_t2"].shape[1])
    c["n_fit_t2"] = int(min(N_FIT_T2, ns[-2]))  # (--quick: its two largest n)
    for key, n_min in (("t0", 0.0), ("t05", 0.0), ("t2", c["n_fit_t2"])):
        c[f"w1_slope_{key}"], c[f"w1_slope_{key}_se"] = w1_slope(ns, a[f"w1_{key}"], n_min)
    c["w1_sqrt_n_t2"] = [float(v) for v in a["w1_t2"].mean(axis=1) * np.sqrt(ns)]
    w = a["w1_t2"][-1]
    c["w1_t2_rel_std_nmax_pct"] = float(100 * w.std() / w.mean())  # spread of the runs at max n
    m2, large = a["w1_t2"].mean(axis=1), ns >= c["n_fit_t2"]
    c["w1_sqrt_n_t2_large"] = [float(np.min(m2[large] * np.sqrt(ns[large])))]
    c["w1_sqrt_n_t2_large"].append(float(np.max(m2[large] * np.sqrt(ns[large]))))
    c["w1_t2_small_n"] = [float(m2[~large].min()), float(m2[~large].max())]
    i2 = int(np.nonzero(a["times"] == 2.0)[0][0])
    c["w1_big_sqrt_n_t2"] = float(a["w1_big"][i2] * np.sqrt(n_big))
    c["w1_big_coarse_sqrt_n_t2"] = float(a["w1_big_coarse"][i2] * np.sqrt(n_big))
    return c


def plot(data: dict, numbers: dict):
    c = claims(data, {"quick": numbers["n_big"] != big_sample(False)})
    times = data["times"]
    T = times.size
    fig = new_figure((13, 6.5))
    gs = fig.add_gridspec(2, 4)
    mid = data["bin_centres"]
    edges = np.append(mid - 0.5 * (mid[1] - mid[0]), 2 * np.pi)
    excess = peak_excess_pct(data["hist"], data["density"])
    for i in range(T):
        ax = fig.add_subplot(gs[i // 3, i % 3])
        lab = f"{numbers['n_big']:.0e} particles, dt = {numbers['dt']:g}"
        ax.stairs(data["hist"][i], edges, fill=True, color="0.75", label=lab)
        ax.plot(mid, data["density"][i], "C3-", lw=1.2, label="PDE")
        ax.set_title(
            f"t = {times[i]:g}: r = {data['r_particles'][i]:.4f} (particles), "
            f"{data['r_pde'][i]:.4f} (PDE)\npeak: particles {excess[i]:+.1f} % against the PDE",
            fontsize=8,
        )
        ax.set_xlim(0, 2 * np.pi)
        ax.set_xlabel("theta", fontsize=8)
        if i % 3 == 0:
            ax.set_ylabel("density (mean 1)", fontsize=8)
        if i == 0:
            ax.legend(fontsize=7)
    ax = fig.add_subplot(gs[:, 3])
    ns = data["ns"]
    runs = data["w1_t2"].shape[1]
    for key, lab, col in (
        ("w1_t0", "t = 0 (sampling)", "C0"),
        ("w1_t05", "t = 0.5", "C2"),
        ("w1_t2", "t = 2", "C3"),
    ):
        w = data[key]
        ax.errorbar(
            ns, w.mean(axis=1), yerr=w.std(axis=1), fmt="o-", color=col, ms=4, label=lab, capsize=2
        )
    for t, col in ((0.5, "C2"), (2.0, "C3")):
        i = int(np.nonzero(times == t)[0][0])
        ax.plot([numbers["n_big"]], [data["w1_big"][i]], "*", color=col, ms=10)
    nn = np.append(ns, numbers["n_big"]).astype(float)
    i2 = int(np.nonzero(times == 2.0)[0][0])
    ax.plot(nn, data["w1_big"][i2] * np.sqrt(nn[-1] / nn), "k:", lw=1, label="n^-1/2")
    ax.plot([], [], "k*", ms=8, label="stars: the one run of n = 10^6")
    ax.plot([], [], " ", label=f"points: mean of {runs} runs, bars: ±1 std")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n")
    ax.set_ylabel("W1(empirical, PDE)")
    ax.set_title(
        "fitted slopes (± std error):\n"
        f"{c['w1_slope_t0']:.2f} ± {c['w1_slope_t0_se']:.2f} (t = 0), "
        f"{c['w1_slope_t05']:.2f} ± {c['w1_slope_t05_se']:.2f} (t = 0.5),\n"
        f"{c['w1_slope_t2']:.2f} ± {c['w1_slope_t2_se']:.2f} (t = 2, n >= {c['n_fit_t2']:.0e})",
        fontsize=8,
    )
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, 30 * hi)  # room for the legend above the data
    ax.legend(fontsize=7, loc="upper right")
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
