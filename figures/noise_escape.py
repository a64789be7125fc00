"""Finite-n escape from the metastable uniform state in the bistable window κ_f < κ < κ_c of the
noisy particle system on the circle (USA, d = 2, identity weights, β = 6 > β_* ≈ 2.447, where the
one-cluster branch is subcritical: arXiv 2604.16288 for d = 2). In the window the uniform state is
linearly stable and the mean field never leaves it; at finite n the noise carries r = |mean_j
e^{iθ_j}| over the unstable branch r_u(κ) to the cluster r_s(κ) (:func:`particles.meanfield.
stationary_branch`), in a time expected to grow exponentially with n (a barrier per particle).

κ = κ_f + 0.05 (κ_c − κ_f), near the fold where the barrier of the uniform state is largest (κ_f
the grid minimum of the branch, κ_c the linear threshold). n = 40 … 240 particles
(:func:`particles.meanfield.circle_particles`, Heun, dt = 0.05 κ) from i.i.d. uniform angles; the
escape time is the first save (every 0.05) with r ≥ r_s(κ); runs are stopped at T_max = 150
(censored). Mean escape time by the exponential-law maximum likelihood with censoring: (the sum of
all observed times, censored included) / (the number of escapes), standard error mean/√escapes.
(a) r(t) of one run per n; (b) the escape times and their mean against n, with a weighted
least-squares line of log(mean) against n over the n with at least 2 escapes, and the slope
predicted by the mean-field barrier (:func:`barrier`: log tau ≈ n κ (F[ρ_u] − F[1]), the free
energy of the saddle above the uniform state's). ``--quick``: two n, two runs, T_max = 5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles import meanfield as mf
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main

HERE = Path(__file__).resolve().parent
BETA, FOLD_FRAC, SAVE, CHUNK = 6.0, 0.05, 0.05, 5.0


def compute(quick: bool = False) -> tuple[dict, dict]:
    ns = (40, 80) if quick else (40, 80, 120, 160, 200, 240)
    runs = 2 if quick else 8
    t_max = 5.0 if quick else 150.0
    kappa, kc, kf, r_u, r_s = window(points=60 if quick else 200)
    dt = 0.05 * kappa
    data: dict = {"ns": np.array(ns), "kappa": np.array(kappa), "kappa_c": np.array(kc),
                  "kappa_f": np.array(kf), "r_u": np.array(r_u), "r_s": np.array(r_s)}  # fmt: skip
    meta: dict = {"beta": BETA, "runs": runs, "t_max": t_max, "dt": dt, "save": SAVE}
    times, escaped = np.zeros((len(ns), runs)), np.zeros((len(ns), runs), bool)
    for a, n in enumerate(ns):
        for b in range(runs):
            seed = 1000 * n + b
            th = np.random.default_rng(seed).uniform(0, 2 * np.pi, n)
            gen = np.random.default_rng([seed, 1])
            r0 = np.abs(np.exp(1j * th).mean())
            t_now, trace_t, trace_r = 0.0, [np.zeros(1)], [np.array([r0])]
            while t_now < t_max - 1e-9:
                h = min(CHUNK, t_max - t_now)
                p = mf.circle_particles(th, BETA, kappa, h, kind="USA", dt=dt, rng=gen,
                                        save_at=np.arange(SAVE, h + 1e-9, SAVE), modes=1)  # fmt: skip
                hit = np.nonzero(p.r >= r_s)[0]
                stop = hit[0] + 1 if hit.size else p.r.size
                trace_t.append(t_now + p.t[:stop])
                trace_r.append(p.r[:stop])
                if hit.size:
                    times[a, b], escaped[a, b] = t_now + p.t[hit[0]], True
                    break
                th, t_now = p.theta[-1], t_now + h
            else:
                times[a, b] = t_max
            if b == 0:
                data[f"trace_t_n{n}"] = np.concatenate(trace_t)
                data[f"trace_r_n{n}"] = np.concatenate(trace_r)
    data["times"], data["escaped"] = times, escaped
    return data, meta


def window(beta: float = BETA, points: int = 200) -> tuple[float, float, float, float, float]:
    """``(kappa, kappa_c, kappa_f, r_u, r_s)``: the run's kappa, FOLD_FRAC of the bistable window
    above the fold kappa_f (the grid minimum of a ``points``-point branch), kappa_c the linear
    threshold, and the unstable and stable branch's r there."""
    br = mf.stationary_branch(beta, 2, "USA", points=points)
    kc, kf = float(br.meta["kappa_c"]), float(br.fold[0])
    kappa = kf + FOLD_FRAC * (kc - kf)
    i = int(np.argmin(br.kappa))
    r_u = float(np.interp(kappa, br.kappa[: i + 1][::-1], br.r[: i + 1][::-1]))
    r_s = float(np.interp(kappa, br.kappa[i:], br.r[i:]))
    return kappa, kc, kf, r_u, r_s


def _means(a: dict):
    """Per n: escapes, the censored-exponential mean escape time and its standard error."""
    esc = a["escaped"].sum(axis=1)
    mean = np.where(esc > 0, a["times"].sum(axis=1) / np.maximum(esc, 1), np.nan)
    return esc, mean, mean / np.sqrt(np.maximum(esc, 1))


def _fit(a: dict, n_max: float = np.inf):
    """Weighted least squares of log(mean) against n over the n ≤ n_max with ≥ 2 escapes: slope,
    its standard error, intercept, mask."""
    esc, mean, _ = _means(a)
    ok = (esc >= 2) & (a["ns"] <= n_max)
    x, y, w = a["ns"][ok].astype(float), np.log(mean[ok]), esc[ok].astype(float)  # var log ≈ 1/esc
    X = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    coef = cov @ (X.T @ (w * y))
    return float(coef[1]), float(np.sqrt(cov[1, 1])), float(coef[0]), ok


def barrier(kappa: float, beta: float = BETA, points: int = 800) -> tuple[float, float]:
    """The mean-field barriers per particle at ``kappa``: ``(kappa (F[rho_u] - F[1]), kappa (F[rho_s]
    - F[1]))``, rho_u the unstable (saddle) and rho_s the stable one-cluster stationary state, F the
    free energy of :func:`particles.meanfield.stationary_branch` (USA, d = 2), 1 the uniform state.

    The n particles are a reversible diffusion: dtheta = -grad U dt + sqrt(2/kappa) dW with
    U = -(1/(2 beta n)) sum_ij e^{beta cos(theta_i - theta_j)}, so their invariant law is
    exp(-kappa U) and, with Sanov's theorem for the entropy, exp(-n kappa F[mu_n]) to leading order
    (derived here). The quasi-potential of the empirical measure from the uniform state is then
    kappa (F - F[1]) per particle (Dawson and Gärtner, Mem. Amer. Math. Soc. 78, no. 398, 1989:
    large deviations of the McKean–Vlasov limit, free energy and quasi-potential), and the
    Freidlin–Wentzell / Kramers escape time obeys log tau = n kappa (F[rho_u] - F[1]) + o(n): the
    predicted slope of log tau against n. Each branch point is a stationary state at its own kappa;
    both values are interpolated in kappa along the unstable and the stable part of a ``points``-point
    branch (:func:`claims` quotes the change from 200 to 800 points as the error)."""
    br = mf.stationary_branch(beta, 2, "USA", points=points)
    i = int(np.argmin(br.kappa))
    bk = br.kappa * (br.free_energy - br.meta["free_energy_uniform"])
    saddle = float(np.interp(kappa, br.kappa[: i + 1][::-1], bk[: i + 1][::-1]))
    cluster = float(np.interp(kappa, br.kappa[i:], bk[i:]))
    return saddle, cluster


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((12, 4.5))
    axa, axb = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for i, n in enumerate(data["ns"]):
        axa.plot(data[f"trace_t_n{n}"], data[f"trace_r_n{n}"], color=f"C{i}", lw=0.7,
                 label=f"n = {int(n)}")  # fmt: skip
    axa.axhline(float(data["r_u"]), color="k", ls=":", lw=1, label="unstable branch r_u(κ)")
    axa.axhline(float(data["r_s"]), color="k", ls="--", lw=1, label="cluster r_s(κ) (escape)")
    axa.set_xscale("symlog", linthresh=1.0)
    axa.set_xlim(left=0.0)
    axa.set_xlabel("t")
    axa.set_ylabel("r(t) = |mean e^{iθ}|")
    axa.set_title("(a) r(t) from uniform angles, one run per n")
    axa.set_ylim(0.0, 1.08)
    axa.legend(fontsize=7.5, ncol=3, loc="upper left")
    ns, t, e = data["ns"], data["times"], data["escaped"]
    for a, n in enumerate(ns):
        axb.plot(np.full(e[a].sum(), n), t[a][e[a]], "k.", ms=4)
        axb.plot(np.full((~e[a]).sum(), n), t[a][~e[a]], "rv", ms=5, mfc="none")
    esc, mean, se = _means(data)
    axb.errorbar(
        ns,
        mean,
        se,
        fmt="o",
        color="C0",
        capsize=3,
        label="mean escape time (ML, censored) ± mean/√escapes",
    )
    if (esc >= 2).sum() >= 2:
        s, ds, c0, _ = _fit(data)
        nn = np.linspace(ns[0], ns[-1], 50)
        axb.plot(nn, np.exp(c0 + s * nn), "C0-", lw=1, label=f"exp fit: slope {s:.3f} ± {ds:.3f}")
        # the mean-field barrier's slope, through the fit at its weighted mean n
        b = barrier(float(data["kappa"]), meta["beta"])[0]
        _, _, _, ok = _fit(data)
        nbar = float(np.average(ns[ok], weights=esc[ok]))
        axb.plot(
            nn,
            np.exp(c0 + s * nbar + b * (nn - nbar)),
            "k--",
            lw=1,
            label=f"mean-field barrier: slope κ(F[ρ_u] − F[1]) = {b:.4f}",
        )
    axb.plot([], [], "k.", label="escape times")
    axb.plot([], [], "rv", mfc="none", label=f"censored at T_max = {meta['t_max']:g}")
    axb.set_yscale("log")
    axb.set_xlabel("n")
    axb.set_ylabel("escape time")
    axb.set_title("(b) escape time against n")
    axb.legend(fontsize=7.5)
    fig.suptitle(
        f"Noisy particles on the circle, USA, β = {meta['beta']:g}: escape from the uniform state at "
        f"κ = {float(data['kappa']):.4f} (κ_f = {float(data['kappa_f']):.4f}, "
        f"κ_c = {float(data['kappa_c']):.4f})",
        fontsize=10,
    )
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    esc, mean, se = _means(a)
    # the window from the theory (the run's inputs, saved beside its results, must be these)
    kappa, kc, kf, r_u, r_s = window(meta["beta"], 60 if meta.get("quick") else 200)
    saved = [float(a[k]) for k in ("kappa", "kappa_c", "kappa_f", "r_u", "r_s")]
    c: dict = {
        "kappa": kappa, "kappa_f": kf, "kappa_c": kc, "r_u": r_u, "r_s": r_s,
        "inputs_are_theory": bool(np.allclose(saved, [kappa, kc, kf, r_u, r_s], rtol=1e-12)),
        "runs": int(a["times"].shape[1]), "n_min": int(a["ns"][0]), "n_max": int(a["ns"][-1]),
        "escapes": [int(x) for x in esc], "censored": int((~a["escaped"]).sum()),
        "mean_times": [float(x) for x in mean],
    }  # fmt: skip
    if (esc >= 2).sum() >= 2:
        s, ds, _, ok = _fit(a)
        c["slope"], c["slope_se"], c["fit_points"] = s, ds, int(ok.sum())
        c["fold_per_20"] = float(np.exp(20 * s))
        s2, ds2, _, ok2 = _fit(a, 160)
        c["slope_n160"], c["slope_se_n160"], c["fit_points_n160"] = s2, ds2, int(ok2.sum())
        c["censored_per_n"] = [int(x) for x in (~a["escaped"]).sum(axis=1)]
        c["mean_over_tmax_last"] = float(mean[-1] / meta["t_max"])
        # against the mean-field barrier per particle (the predicted slope, see barrier())
        b, bs = barrier(c["kappa"], meta["beta"])
        c["barrier_slope"], c["barrier_cluster"] = b, bs
        full = mf.stationary_branch(meta["beta"], 2, "USA", points=300, r_max=0.985)
        c["kappa_1"] = mf.first_order_kappa(full)  # as noise_bifurcation.py computes it
        c["barrier_grid_error"] = abs(b - barrier(c["kappa"], meta["beta"], points=200)[0])
        c["slope_minus_barrier_se"] = (s - b) / ds
        c["slope_n160_minus_barrier_se"] = (s2 - b) / ds2
        c["slope_over_barrier"] = s / b
        # a prefactor n^p in tau adds p times the weighted slope of log n against n to the fit
        _, _, _, ok = _fit(a)
        x, w = a["ns"][ok].astype(float), esc[ok].astype(float)
        xm = np.average(x, weights=w)
        c["logn_slope"] = float(np.sum(w * (x - xm) * np.log(x)) / np.sum(w * (x - xm) ** 2))
        c["prefactor_p_2se"] = 2 * ds / c["logn_slope"]
    c["all_escape_small_n"] = bool(a["escaped"][0].all())
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
