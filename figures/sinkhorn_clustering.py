"""Clustering under Sinkhorn attention (SK, arXiv 2110.11773) compared with SA and USA (arXiv
2312.10794), Q = K = V = I.

(a) The equiangular reduction: from n = 8 orthonormal tokens (d = 8) the common inner product
gamma(t) of SA's (6.9) and USA's (6.10) at beta = 1 and 4, against simulations (RK4, dt = 0.01) of SA
and SK. SK's reduction is SA's (``particles.analysis.equiangular``: an equiangular configuration's
SoftMax matrix is already doubly stochastic).
(b) Consensus times over seeds: n = 32 uniform points on S^2 (d = 3), 64 seeds per beta, the
authors' scheme (Euler + renormalisation, dt = 0.1, ``particles.solvers.ensemble``), consensus
= every pair with <x_i, x_j> > 1 - delta, delta = 1e-3; runs stopped at T = 200 are censored.
Median and quartiles per kind and beta (censored runs count as T, so a median at T means more
than half did not reach consensus).
(c, d) (t, beta) phase diagrams like arXiv 2312.10794 Fig. 3 (a) for SA and SK: n = 32, d = 2,
64 seeds, beta = 0.25 ... 9 (step 0.25), the authors' scheme to t = 30; colour: the fraction of
ordered pairs with <x_i, x_j> > 1 - delta. Black: the equiangular curve Gamma_{inf,delta} (SA's =
SK's), white: the empirical P = 1/2 boundary of the panel, dashed white in (d): SA's boundary.
``--quick``: fewer seeds, betas and times.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import particles as pt
from particles.analysis import equiangular
from particles.analysis.phase import PhaseParams, phase_diagrams
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main
from particles.solvers import ensemble

HERE = Path(__file__).resolve().parent
KINDS = ("SA", "USA", "SK")
DELTA = 1e-3


def compute(quick: bool = False) -> tuple[dict, dict]:
    data: dict = {}
    # (a) equiangular
    n_eq, eq_betas = 8, (1.0, 4.0)
    t_eq = np.linspace(0.0, 2.0 if quick else 8.0, 21 if quick else 41)
    for b in eq_betas:
        for kind in ("SA", "USA"):
            data[f"eq_{kind}_b{b:g}"] = equiangular.gamma(t_eq, b, n_eq, kind=kind)
        for kind in ("SA", "SK"):
            dyn = pt.Dynamics(beta=b, kind=kind, sinkhorn_tol=1e-12)
            tr = pt.simulate(np.eye(n_eq), dyn, t_end=float(t_eq[-1]), method="rk4", dt=0.01,
                             save_at=t_eq)  # fmt: skip
            G = np.einsum("tid,tjd->tij", tr.x, tr.x)
            data[f"sim_{kind}_b{b:g}"] = G[:, ~np.eye(n_eq, dtype=bool)]
    data["t_eq"] = t_eq
    # (b) consensus times
    n_c, d_c = 32, 3
    seeds = 4 if quick else 64
    c_betas = np.array([0.5, 4.0] if quick else [0.5, 1.0, 2.0, 4.0, 6.0, 8.0])
    T, dt = (20.0 if quick else 200.0), 0.1
    X = np.stack([pt.random_points(n_c, d_c, rng=s) for s in range(seeds)])
    for kind in KINDS:
        times = np.empty((c_betas.size, seeds))
        for i, b in enumerate(c_betas):
            res = ensemble.ensemble_coords(X, np.full(seeds, b), T, dt=dt, method="euler",
                                           kind=kind, delta=DELTA, count_clusters=False,
                                           early_stop=True, save_every=10)  # fmt: skip
            done = res.pair_fraction >= 1.0
            times[i] = np.where(done.any(axis=1), res.t[np.argmax(done, axis=1)], np.inf)
        data[f"consensus_{kind}"] = times
    data["c_betas"] = c_betas
    # (c, d) phase diagrams
    betas = tuple(np.round(np.arange(0.25, 9.0 + 1e-9, 2.0 if quick else 0.25), 10))
    for kind in ("SA", "SK"):
        p = PhaseParams(n=32, d=2, betas=betas, t_end=10.0 if quick else 30.0, dt=0.1,
                        seeds=4 if quick else 64, kind=kind, delta=DELTA)  # fmt: skip
        (dg,) = phase_diagrams(p, progress=False)
        data[f"P_{kind}"] = dg.P
        data["t_phase"], data["betas"] = dg.t, dg.betas
    g_t = np.array([equiangular.hitting_time(b, 32, DELTA, kind="SK") for b in betas])
    data["gamma_curve_t"] = g_t
    meta = {"n_eq": n_eq, "eq_betas": list(eq_betas), "n_c": n_c, "d_c": d_c, "seeds": seeds,
            "T": T, "dt": dt, "delta": DELTA, "phase_n": 32, "phase_d": 2,
            "phase_seeds": 4 if quick else 64}  # fmt: skip
    return data, meta


def _boundary(a: dict, kind: str) -> np.ndarray:
    out = np.full(a["betas"].shape, np.nan)
    for i, row in enumerate(a[f"P_{kind}"]):
        hit = np.nonzero(row >= 0.5)[0]
        if hit.size:
            out[i] = a["t_phase"][hit[0]]
    return out


def _quartiles(t: np.ndarray, T: float) -> np.ndarray:
    """(3, n_beta) quartiles with censored runs counted as T."""
    return np.percentile(np.minimum(t, T), [25, 50, 75], axis=1)


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((13, 9.5))
    ax = [fig.add_subplot(2, 2, i + 1) for i in range(4)]
    t = data["t_eq"]
    for j, b in enumerate(meta["eq_betas"]):
        ax[0].plot(t, data[f"eq_SA_b{b:g}"], color=f"C{j}", lw=1.5,
                   label=f"(6.9) SA = SK, β = {b:g}")  # fmt: skip
        ax[0].plot(t, data[f"eq_USA_b{b:g}"], color=f"C{j}", ls=":", lw=1.5,
                   label=f"(6.10) USA, β = {b:g}")  # fmt: skip
        ax[0].plot(t[::4], data[f"sim_SK_b{b:g}"][::4, 0], "o", color=f"C{j}", mfc="none",
                   label=f"SK simulated, β = {b:g}")  # fmt: skip
        ax[0].plot(t[2::4], data[f"sim_SA_b{b:g}"][2::4, 0], "x", color=f"C{j}",
                   label=f"SA simulated, β = {b:g}")  # fmt: skip
    ax[0].set_xlabel("t")
    ax[0].set_ylabel("γ(t) = <x_i, x_j>")
    ax[0].set_title(f"(a) equiangular start, n = {meta['n_eq']}: SK follows SA's (6.9)")
    ax[0].legend(fontsize=7, ncol=2)
    cb = data["c_betas"]
    for j, kind in enumerate(KINDS):
        q = _quartiles(data[f"consensus_{kind}"], meta["T"])
        off = (j - 1) * 0.06
        ax[1].errorbar(cb * (1 + off), q[1], [q[1] - q[0], q[2] - q[1]], fmt="o-", capsize=3,
                       color=f"C{j + 2}", label=f"{kind}: median, quartiles")  # fmt: skip
    ax[1].axhline(meta["T"], color="k", ls=":", lw=1, label=f"censored at T = {meta['T']:g}")
    ax[1].set_xscale("log")
    ax[1].set_yscale("log")
    ax[1].set_xticks(cb, [f"{b:g}" for b in cb])
    ax[1].minorticks_off()
    ax[1].set_xlabel("β")
    ax[1].set_ylabel("consensus time")
    ax[1].set_title(f"(b) consensus, n = {meta['n_c']} on S^{meta['d_c'] - 1}, "
                    f"{meta['seeds']} seeds, Euler dt = {meta['dt']:g}")  # fmt: skip
    ax[1].legend(fontsize=8)
    tp, betas = data["t_phase"], data["betas"]
    for k, kind in enumerate(("SA", "SK")):
        a = ax[2 + k]
        a.pcolormesh(tp, betas, data[f"P_{kind}"], cmap="RdBu_r", vmin=0, vmax=1, shading="auto")
        a.plot(data["gamma_curve_t"], betas, "k-", lw=1.5, label="equiangular Γ (SA = SK)")
        a.plot(_boundary(data, kind), betas, "w-", lw=1.2, label=f"{kind}: P = 1/2")
        if kind == "SK":
            a.plot(_boundary(data, "SA"), betas, "w--", lw=1.2, label="SA: P = 1/2")
        a.set_xlim(tp[0], tp[-1])
        a.set_xlabel("t")
        a.set_ylabel("β")
        a.set_title(f"({'cd'[k]}) {kind}: P(<x_i, x_j> > 1 − δ), n = {meta['phase_n']}, "
                    f"d = {meta['phase_d']}, {meta['phase_seeds']} seeds")  # fmt: skip
        a.legend(fontsize=7.5, loc="lower right")
    fig.suptitle("Sinkhorn attention (SK) against SoftMax (SA) and USA, Q = K = V = I", fontsize=11)
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    T = meta["T"]
    c: dict = {}
    dev = max(
        float(np.max(np.abs(a[f"sim_{k}_b{b:g}"] - a[f"eq_SA_b{b:g}"][:, None])))
        for b in meta["eq_betas"]
        for k in ("SA", "SK")
    )
    c["eq_max_dev"] = dev
    c["c_betas"] = [float(b) for b in a["c_betas"]]
    for kind in KINDS:
        q = _quartiles(a[f"consensus_{kind}"], T)
        c[f"median_{kind}"] = [float(x) for x in q[1]]
        c[f"censored_{kind}"] = [int(x) for x in np.isinf(a[f"consensus_{kind}"]).sum(axis=1)]
    both = np.isfinite(a["consensus_SK"]) & np.isfinite(a["consensus_SA"])
    ratio = a["consensus_SK"][both] / a["consensus_SA"][both]
    c["sk_over_sa_median_ratio"] = float(np.median(ratio))
    c["sk_slower_fraction_pct"] = float(100.0 * np.mean(ratio > 1.0))
    c["diff_P_mean"] = float(np.mean(a["P_SA"] - a["P_SK"]))
    c["diff_P_max"] = float(np.max(np.abs(a["P_SA"] - a["P_SK"])))
    bs, bk = _boundary(a, "SA"), _boundary(a, "SK")
    pick = [i for i, b in enumerate(a["betas"]) if b in (1.0, 2.0, 4.0)]
    c["boundary_betas"] = [float(a["betas"][i]) for i in pick]
    c["boundary_SA"] = [float(bs[i]) for i in pick]
    c["boundary_SK"] = [float(bk[i]) for i in pick]
    ok = np.isfinite(bs) & np.isfinite(bk)
    c["boundary_sk_later_fraction"] = float(np.mean(bk[ok] >= bs[ok]))
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
