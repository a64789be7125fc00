"""Growth of the unstable modes of the uniform state, and how many clusters first appear (USA,
identity weights; Bruno–Pasqualotto–Agazzi, arXiv 2410.23228, Thm 4.3 and Fig. 4; noisy linear theory
of particles.meanfield.linear: lambda_l = l (l + d - 2) (a_l(beta) / beta - 1 / kappa)).

(a) d = 2, the Fokker–Planck equation (particles.meanfield.solve_circle, N = 256, ETDRK4) from
rho = 1 + 1e-10 x (random modes 1..12): the rate of |rho_k(t)| fitted on the linear phase (modes at
rounding level or driven by the square of a grown mode are left out) against lambda_k, for
beta = 2, 5, 10 without noise and at kappa = 4 kappa_c.
(b) d = 2, 10^5 particles from i.i.d. uniform angles (the O(n K) solver, Heun, no noise), 4 runs,
beta = 5: the mean of |c_k(t)|^2 (c_k = mean_j e^{-ik theta_j}) against (1/n) e^{2 lambda_k t}.
(c) d = 3, 1000 particles (the numba noisy ensembles with kappa = inf), 4 runs, beta = 6: the mean of
the harmonic mode powers m_l(t)^2 = mean_ij P_l(<x_i, x_j>) against (1/n) e^{2 lambda_l t}.
In (b) and (c) the measured rate of a mode is the median over runs of each run's slope of
log(power) / 2 before the power reaches 0.01 (without noise every run's power grows exactly like
e^{2 lambda t} while linear theory holds); modes whose power is fed by products of faster modes grow
faster than lambda_l late in the window (quadratic coupling).
(d) d = 2, no noise, 2000 particles from uniform angles, 6 runs per beta: the number of clusters
(runs of particles between gaps > 0.1 rad holding >= 2 % of the particles) once the linear phase is
over (t = (ln sqrt(n) + 6) / lambda_max) against the fastest mode l* = argmax_l l^2 I_l(beta).
The mode amplitudes (PDE) and powers (every particle run) are saved; :func:`claims` fits the rates
from them. ``--quick``: fewer and
smaller runs. Full size: about 3 minutes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles import meanfield as mf
from particles.plotting import new_figure
from particles.plotting.figures import numbers_figure, run_script
from particles.solvers.ensemble import ensemble_noisy, random_points_batch

HERE = Path(__file__).resolve().parent


def _rates(t, power, hi=0.01):
    """Growth rates from mode powers (runs, T, modes) of deterministic runs: in the linear phase every
    run's power grows exactly like e^{2 lambda t}, so each run gives the slope of log(power) / 2 over
    its times before the power first exceeds ``hi``; the median over runs (NaN with < 3 points)."""
    R, T, M = power.shape
    out = np.full((R, M), np.nan)
    for r in range(R):
        for k in range(M):
            y = power[r, :, k]
            stop = np.argmax(y > hi) if np.any(y > hi) else T
            if stop >= 3:
                out[r, k] = np.polyfit(t[:stop], np.log(y[:stop]), 1)[0] / 2
    return np.nanmedian(out, axis=0)


def _pde_rates(t, m) -> np.ndarray:
    """Growth rate of each mode amplitude |rho_k(t)| (``m``: times x modes) fitted on its linear
    phase: the times from 0 while it is above 1e-13 and above 1e3 times the square of the largest
    mode (below that it is driven by a product of grown modes); NaN with fewer than 5 such times."""
    meas = np.full(m.shape[1], np.nan)
    for k in range(m.shape[1]):
        ok = (m[:, k] > 1e-13) & (m[:, k] > 1e3 * m.max(axis=1) ** 2)
        if ok.sum() >= 5 and ok[0]:
            last = np.argmin(ok) if not ok.all() else ok.size
            if last >= 5:
                meas[k] = np.polyfit(t[:last], np.log(m[:last, k]), 1)[0]
    return meas


def count_clusters_circle(theta, gap: float = 0.1, frac: float = 0.02) -> int:
    """Runs of sorted angles separated by gaps > ``gap`` that hold >= ``frac`` of the particles."""
    s = np.sort(np.mod(theta, 2 * np.pi))
    g = np.diff(np.append(s, s[0] + 2 * np.pi))
    cut = np.nonzero(g > gap)[0]
    if cut.size == 0:
        return 1
    sizes = np.diff(np.append(cut, cut[0] + s.size))
    return int((sizes >= frac * s.size).sum())


def compute(quick: bool = False) -> tuple[dict, dict]:
    data, numbers = {}, {}
    # (a) PDE
    K = 12
    cases = [(2.0, None), (5.0, None), (10.0, None)]
    cases += [(b, 4 * mf.critical_kappa(b, 2)) for b in (2.0, 5.0, 10.0)]
    errs = []
    for j, (beta, kappa) in enumerate(cases):
        lam = mf.growth_rates(beta, 2, np.inf if kappa is None else kappa, modes=K)
        tmax = 10.0 / max(np.abs(lam).max(), 1e-9) * (0.5 if quick else 1.0)
        rho0 = mf.initial_density("perturbed", N=256, eps=1e-10, modes=K, rng=j)
        t = np.linspace(0, tmax, 21)
        sol = mf.solve_circle(rho0, beta, kappa, tmax, dt=tmax / 400, save_at=t)
        m = sol.modes(K)
        meas = _pde_rates(t, m)
        data[f"pde_lambda_{j}"] = lam
        data[f"pde_t_{j}"], data[f"pde_modes_{j}"] = t, m
        data[f"pde_measured_{j}"] = meas
        good = np.isfinite(meas)
        errs.append(
            float(np.max(np.abs(meas[good] - lam[good]) / np.maximum(np.abs(lam[good]), 1e-3)))
        )
    data["pde_cases"] = np.array([(b, np.inf if k is None else k) for b, k in cases])
    numbers["pde_max_rel_error"] = max(errs)
    numbers["pde_modes_checked"] = int(
        sum(np.isfinite(data[f"pde_measured_{j}"]).sum() for j in range(len(cases)))
    )
    # (b) d = 2 particles, beta = 5
    beta, n, runs = 5.0, (10000 if quick else 100000), (2 if quick else 4)
    lam2 = mf.growth_rates(beta, 2, modes=6)
    T = np.log(np.sqrt(n) * 0.3) / lam2.max()
    ts = np.linspace(0, T, 16)
    pw_runs = np.zeros((runs, ts.size, 6))
    for s in range(runs):
        th0 = np.random.default_rng(10 + s).uniform(0, 2 * np.pi, n)
        p = mf.circle_particles(
            th0, beta, None, T, dt=T / 150, rng=0, save_at=ts, modes=6, keep=False
        )
        pw_runs[s] = p.modes**2
    pw = pw_runs.mean(axis=0)
    data.update({"p2_t": ts, "p2_power": pw, "p2_lambda": lam2, "p2_n": np.array(n)})
    data["p2_power_runs"] = pw_runs
    fit2 = _rates(ts, pw_runs)
    data["p2_measured"] = fit2
    numbers["particles_d2"] = {
        "beta": beta,
        "n": n,
        "runs": runs,
        "lambda": lam2.tolist(),
        "measured": fit2.tolist(),
    }
    # (c) d = 3 particles, beta = 6
    beta3, n3 = 6.0, (300 if quick else 1000)
    lam3 = mf.growth_rates(beta3, 3, modes=6)
    T3 = np.log(np.sqrt(n3) * 0.3) / lam3.max()
    steps = 120
    dt3 = T3 / steps
    X0 = random_points_batch(n3, 3, runs, rng=5)
    res = ensemble_noisy(
        X0, beta3, None, steps * dt3, seeds=np.arange(runs), dt=dt3, modes=6, save_every=8
    )
    pw3 = (res.modes**2).mean(axis=0)
    fit3 = _rates(res.t, res.modes**2)
    data.update(
        {
            "p3_t": res.t,
            "p3_power": pw3,
            "p3_power_runs": res.modes**2,
            "p3_lambda": lam3,
            "p3_measured": fit3,
            "p3_n": np.array(n3),
        }
    )
    numbers["particles_d3"] = {
        "beta": beta3,
        "n": n3,
        "runs": runs,
        "lambda": lam3.tolist(),
        "measured": fit3.tolist(),
    }
    # (d) clusters against the fastest mode
    betas = np.array(
        [1, 2, 3, 5, 8, 12] if quick else [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 18, 22, 26, 32, 40],
        float,
    )
    nc, reps = (1000 if quick else 2000), (2 if quick else 6)
    counts = np.zeros((betas.size, reps), int)
    kstar = np.zeros(betas.size, int)
    for a, b in enumerate(betas):
        kstar[a], lmax = mf.fastest_mode(b, 2)
        Tc = (np.log(np.sqrt(nc)) + 6) / lmax
        for s in range(reps):
            th0 = np.random.default_rng(100 + s).uniform(0, 2 * np.pi, nc)
            p = mf.circle_particles(
                th0, b, None, Tc, dt=min(0.05, 0.1 / lmax), rng=0, save_at=[Tc], modes=1
            )
            counts[a, s] = count_clusters_circle(p.theta[-1])
    data.update({"cl_betas": betas, "cl_counts": counts, "cl_kstar": kstar})
    numbers["clusters"] = {
        "betas": betas.tolist(),
        "fastest_mode": kstar.tolist(),
        "mean_count": counts.mean(axis=1).tolist(),
        "fraction_equal": float((counts == kstar[:, None]).mean()),
        "fraction_within_1": float((np.abs(counts - kstar[:, None]) <= 1).mean()),
    }
    return data, numbers


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    cases = range(len(a["pde_cases"]))
    c: dict = {
        "pde_modes_checked": int(
            sum(np.isfinite(_pde_rates(a[f"pde_t_{j}"], a[f"pde_modes_{j}"])).sum() for j in cases)
        )
    }
    errs = []
    for j in cases:
        lam, meas = a[f"pde_lambda_{j}"], _pde_rates(a[f"pde_t_{j}"], a[f"pde_modes_{j}"])
        ok = np.isfinite(meas)
        errs.append(np.max(np.abs(meas[ok] - lam[ok]) / np.maximum(np.abs(lam[ok]), 1e-3)))
    c["pde_max_rel_error"] = float(max(errs))
    for tag in ("p2", "p3"):
        lam, meas = a[f"{tag}_lambda"], _rates(a[f"{tag}_t"], a[f"{tag}_power_runs"])
        c[f"{tag}_lambda"] = [float(v) for v in lam]
        c[f"{tag}_measured"] = [float(v) for v in meas]
        rel = 100 * np.abs(meas - lam) / lam
        c[f"{tag}_rel_err_pct_2to4"] = [float(v) for v in rel[1:4]]
        c[f"{tag}_rel_err_pct_max_1to4"] = float(rel[:4].max())
    counts, kstar = a["cl_counts"], a["cl_kstar"][:, None]
    c["cl_fraction_equal_pct"] = 100 * float((counts == kstar).mean())
    c["cl_fraction_within_1_pct"] = 100 * float((np.abs(counts - kstar) <= 1).mean())
    # where the count falls short: beta = 4 (two close rates) and the largest beta
    b = list(a["cl_betas"])
    if 4.0 in b:
        i4 = b.index(4.0)
        lam = mf.growth_rates(4.0, 2, modes=3)
        c["cl_rates_b4"] = [float(lam[2]), float(lam[1])]  # l = 3, 2
        c["cl_mean_b4"], c["cl_kstar_b4"] = float(counts[i4].mean()), int(kstar[i4, 0])
    c["cl_mean_bmax"], c["cl_kstar_bmax"] = float(counts[-1].mean()), int(kstar[-1, 0])
    return c


def plot(data: dict, numbers: dict):
    cl = claims(data, {})  # the quoted numbers, from the arrays
    fig = new_figure((13, 9))
    ax = fig.add_subplot(2, 2, 1)
    k = np.arange(1, 13)
    for j, (beta, kappa) in enumerate(data["pde_cases"]):
        c = f"C{j % 3}"
        ls = "-" if not np.isfinite(kappa) else "--"
        lab = f"beta = {beta:g}, " + ("no noise" if not np.isfinite(kappa) else "kappa = 4 kappa_c")
        lam = data[f"pde_lambda_{j}"]
        ax.plot(k, np.sign(lam) * np.log1p(np.abs(lam)), ls, color=c, lw=1, label=lab)
        m = _pde_rates(data[f"pde_t_{j}"], data[f"pde_modes_{j}"])
        ax.plot(
            k,
            np.sign(m) * np.log1p(np.abs(m)),
            "o" if ls == "-" else "s",
            color=c,
            ms=5,
            mfc="none",
        )
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_xlabel("mode k")
    ax.set_ylabel("sign(lambda) log(1 + |lambda|)")
    ax.set_title(
        f"(a) d = 2 PDE: measured (markers) vs linear theory; max rel. error "
        f"{cl['pde_max_rel_error']:.1e}",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    for pan, key, d in ((2, "p2", 2), (3, "p3", 3)):
        ax = fig.add_subplot(2, 2, pan)
        t, pw, lam, n = (
            data[f"{key}_t"],
            data[f"{key}_power"],
            data[f"{key}_lambda"],
            float(data[f"{key}_n"]),
        )
        for ell in range(pw.shape[1]):
            ax.semilogy(t, pw[:, ell], "o", ms=3, color=f"C{ell}", label=f"l = {ell + 1}")
            ax.semilogy(t, np.exp(2 * lam[ell] * t) / n, "-", color=f"C{ell}", lw=0.8)
        ax.set_ylim(0.3 / n, 1.2)
        ax.set_xlabel("t")
        ax.set_ylabel("mean mode power" + (" |c_k|^2" if d == 2 else " m_l^2"))
        nm = numbers["particles_d2" if d == 2 else "particles_d3"]
        ax.set_title(
            f"({'b' if d == 2 else 'c'}) d = {d}, n = {nm['n']}, beta = {nm['beta']:g}, no noise: "
            "points measured, lines (1/n) e^{2 lambda t}",
            fontsize=9,
        )
        ax.legend(fontsize=7, ncol=2)
    ax = fig.add_subplot(2, 2, 4)
    b, c, ks = data["cl_betas"], data["cl_counts"], data["cl_kstar"]
    for s in range(c.shape[1]):
        ax.plot(b * (1 + 0.015 * (s - c.shape[1] / 2)), c[:, s], "o", ms=4, color="C0", alpha=0.5)
    ax.step(b, ks, where="mid", color="k", label="fastest mode l* (theory)")
    bb = np.linspace(1, b.max(), 200)
    ax.plot(bb, np.sqrt(2 * bb), "k:", lw=0.8, label="sqrt(2 beta)")
    ax.set_xlabel("beta")
    ax.set_ylabel("clusters after the linear phase")
    ax.set_title(
        f"(d) d = 2: {cl['cl_fraction_equal_pct']:.0f}% of runs = l*, "
        f"{cl['cl_fraction_within_1_pct']:.0f}% within 1",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(outdir: Path = HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Compute and draw (``redraw``: draw from the saved ``<outdir>/noise_mode_growth.npz`` alone)."""
    return numbers_figure(outdir, Path(__file__).stem, quick, redraw, compute, plot, kind="USA")


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
