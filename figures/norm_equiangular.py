"""arXiv 2510.22026 (Normalization in Attention Dynamics, §4.1 Theorem 4.1 and §4.3 Theorem 4.3)
and arXiv 2512.01868 §6.1-§6.2: the equiangular model under each normalisation scheme, against the full
particle system.

n = 8 tokens in d = 8 start orthonormal (ρ0 = 0, randomly rotated; |h_i| = 1) and run under Post-LN,
Pre-LN, Peri-LN, nGPT (α = 0.5), Mix-LN (switch at t = 2) and LN-Scaling (s = sqrt(t + 1)), SA,
β = 1, Q = K = V = I, with DOP853 (rtol 1e-11) to t = 1000. Lines: the equiangular ODEs for (ρ, r)
of :mod:`particles.analysis.equiangular`; markers: the full simulation's mean <θ_i, θ_j> and |h_i|.

(a) 1 - ρ(t), log-log: exponential collapse for Post-LN (e^{-2t}) and nGPT (e^{-2αt}), a
stretched exponential for LN-Scaling (e^{-4 sqrt(t)}), polynomial for Pre-LN, Peri-LN and Mix-LN
(t^{-2}): the terminal velocities of arXiv 2510.22026 §4.1. (b) the radius r(t) of the
residual-stream schemes, ~ t. (c) the local exponent -d log(1-ρ)/d log t: it tends to 2 for the
polynomial schemes, grows like sqrt(t) for LN-Scaling and like λ t for the exponential ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import particles as pt
from particles.analysis import equiangular as eq
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main
from particles.plotting.schemes import COLORS, LINESTYLES, MARKERS, NAMES, SCHEMES

HERE = Path(__file__).resolve().parent
LABELS = NAMES | {
    "ngpt": "nGPT (α = 0.5)",
    "mix": "Mix-LN (switch t = 2)",
    "lns": "LN-Scaling (s = √(t+1))",
}


def compute(quick: bool = False) -> tuple[dict, dict]:
    n, d, beta, alpha, t_switch = 8, 8, 1.0, 0.5, 2.0
    t_end = 100.0 if quick else 1000.0
    ts_sim = np.unique(np.concatenate([np.linspace(0, 4, 17), np.geomspace(0.5, t_end, 40)]))
    ts_ode = np.unique(np.concatenate([np.linspace(0, 4, 81), np.geomspace(1e-2, t_end, 400)]))
    x0 = eq.configuration(n, d, 0.0, rng=0)
    data: dict = {"t_sim": ts_sim, "t_ode": ts_ode}
    meta: dict = {"n": n, "d": d, "beta": beta, "alpha": alpha, "t_switch": t_switch, "rho0": 0.0}
    iu = np.triu_indices(n, 1)
    for nm in SCHEMES:
        kw = {"norm": nm, "alpha": alpha, "t_switch": t_switch if nm == "mix" else None}
        dyn = pt.Dynamics(beta=beta, **kw)
        tr = pt.simulate(x0, dyn, t_end, method="DOP853", rtol=1e-11, atol=1e-12, save_at=ts_sim)
        G = np.einsum("tid,tjd->tij", tr.theta, tr.theta)[:, iu[0], iu[1]]
        data[f"{nm}_eps_sim"] = 1.0 - G.mean(axis=1)
        data[f"{nm}_spread_sim"] = np.ptp(G, axis=1)
        data[f"{nm}_r_sim"] = tr.radii().mean(axis=1)
        kw["t_switch"] = t_switch
        eps, r = eq.solve(ts_ode, beta, n, complement=True, **kw)
        data[f"{nm}_eps_ode"], data[f"{nm}_r_ode"] = eps, r
        eps_s, r_s = eq.solve(ts_sim, beta, n, complement=True, **kw)
        data[f"{nm}_eps_ode_at_sim"], data[f"{nm}_r_ode_at_sim"] = eps_s, r_s
        meta[f"{nm}_law"] = eq.late_time(nm, beta, alpha=alpha)
        meta[f"{nm}_nfev"] = tr.stats["nfev"]
    return data, meta


def _local_exponent(t, eps):
    return -np.gradient(np.log(eps), np.log(t))


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((13, 4.3))
    axa, axb, axc = (fig.add_subplot(1, 3, k) for k in (1, 2, 3))
    to, ts = data["t_ode"], data["t_sim"]
    for nm in SCHEMES:
        c, ls, mk = COLORS[nm], LINESTYLES[nm], MARKERS[nm]
        lw = 2.8 if nm in ("pre", "post") else 1.4  # wide under Peri-LN's and Mix-LN's dashes
        e = data[f"{nm}_eps_ode"]
        ok = (to > 0) & (e > 1e-300)
        axa.loglog(to[ok], e[ok], color=c, ls=ls, lw=lw, label=LABELS[nm])
        es = data[f"{nm}_eps_sim"]
        oks = (ts > 0) & (es > 1e-13)
        axa.loglog(ts[oks], es[oks], mk, color=c, ms=3.5, mfc="none", mew=0.8)
        if nm in ("pre", "peri", "mix"):
            axb.loglog(
                to[to > 0], data[f"{nm}_r_ode"][to > 0], color=c, ls=ls, lw=lw, label=LABELS[nm]
            )
            axb.loglog(ts[ts > 0], data[f"{nm}_r_sim"][ts > 0], mk, color=c, ms=3.5, mfc="none")
        okc = ok & (to > 0.05) & (e > 1e-200)
        axc.semilogx(
            to[okc], _local_exponent(to[okc], e[okc]), color=c, ls=ls, lw=lw, label=LABELS[nm]
        )
    tt = np.geomspace(20, to[-1], 10)
    axa.loglog(tt, 3.0 / tt**2, "k--", lw=1, label=r"$\propto t^{-2}$")
    axa.set_ylim(1e-14, 2)
    axa.set_xlabel("t")
    axa.set_ylabel(r"$1-\rho(t)$")
    axa.set_title("(a) 1 − ρ: lines equiangular ODE, markers particles")
    axa.legend(fontsize=7.5, loc="lower left")
    axb.loglog(tt, tt, "k--", lw=1, label="r = t")
    axb.set_xlabel("t")
    axb.set_ylabel("r(t) = |h_i|")
    axb.set_title("(b) radius of the residual stream")
    axb.legend(fontsize=7.5)
    axc.axhline(2.0, color="k", ls="--", lw=1)
    axc.set_ylim(0, 12)
    axc.set_xlabel("t")
    axc.set_ylabel(r"$-\,d\log(1-\rho)/d\log t$")
    axc.set_title("(c) local exponent:\n→ 2 (power), ∝ √t (LN-Scaling), ∝ t (exp.)", fontsize=10)
    fig.suptitle(
        f"Equiangular model per normalisation scheme (n = {meta['n']}, d = {meta['d']}, SA, "
        f"β = {meta['beta']:g}, ρ0 = 0)",
        fontsize=10,
    )
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


# the numbers figures/README.md quotes (figures/claims.py checks them)
_SCHEMES = ("post", "pre", "peri", "ngpt", "mix", "lns")


_NAMES = ("Post-LN", "Pre-LN", "Peri-LN", "nGPT", "Mix-LN", "LN-Scaling")


def _law(nm: str, meta: dict) -> dict:
    """The late-time law of scheme ``nm`` (the theory, recomputed from the run's inputs)."""
    return eq.late_time(nm, meta["beta"], alpha=meta["alpha"])


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    ts = a["t_sim"]
    c: dict = {}
    drho, dr = [], []
    for nm in _SCHEMES:
        es, eo = a[f"{nm}_eps_sim"], a[f"{nm}_eps_ode_at_sim"]
        drho.append(float(np.max(np.abs(es - eo))))
        dr.append(float(np.max(np.abs(a[f"{nm}_r_sim"] / a[f"{nm}_r_ode_at_sim"] - 1.0))))
        c[f"{nm}_spread"] = float(a[f"{nm}_spread_sim"].max())
    c["max_drho"], c["max_dr_rel"] = max(drho), max(dr)
    c["max_spread"] = max(c[f"{nm}_spread"] for nm in _SCHEMES)
    late = (ts >= 100.0) & (ts <= ts[-1])
    for nm in ("pre", "peri", "mix"):
        es = a[f"{nm}_eps_sim"]
        c[f"{nm}_exponent"] = float(-np.polyfit(np.log(ts[late]), np.log(es[late]), 1)[0])
        c[f"{nm}_r_over_t"] = float(a[f"{nm}_r_sim"][-1] / ts[-1])
    for nm in ("post", "ngpt"):
        es = a[f"{nm}_eps_sim"]
        ok = (es > 1e-12) & (es < 1e-4)
        c[f"{nm}_rate"] = float(-np.polyfit(ts[ok], np.log(es[ok]), 1)[0])
        c[f"{nm}_rate_law"] = float(_law(nm, meta)["rate"])
    es = a["lns_eps_sim"]  # LN-Scaling: 1 - ρ ~ C e^{-μ sqrt(t + 1)}
    ok = (es > 1e-12) & (es < 1e-4)
    c["lns_rate"] = float(-np.polyfit(np.sqrt(ts[ok] + 1.0), np.log(es[ok]), 1)[0])
    c["lns_rate_law"] = float(_law("lns", meta)["rate"])
    c["t_end"] = float(ts[-1])
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
