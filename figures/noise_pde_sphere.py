"""Noisy particles against the mean-field Fokker–Planck equation on S² (d = 3, USA, identity
weights, β = 1): d_t ρ + div(ρ X[ρ]) = (1/κ) Δρ (arXiv 2312.10794 §7 with the noise of Rigollet,
arXiv 2512.01868 §7; :func:`particles.meanfield.sphere.solve_sphere`, ducc0 spherical harmonics,
ETDRK4) against dx_i = X(x_i) dt + sqrt(2/κ) dW_i (:func:`particles.simulate`, Euler–Maruyama).

κ = 2 κ_c (κ_c = e for USA at β = 1 on S², :func:`particles.meanfield.critical_kappa`: the uniform
state is unstable and one cluster forms), from the von Mises–Fisher density e^{k⟨x, e_z⟩} with
k = 1 (zonal about e_z, which the dynamics keeps). PDE: L = 32, dt = 0.01, and L = 24 to measure
its resolution. Particles: R = 6 runs of n = 4000 i.i.d. draws from ρ(0) (independent seeds), at
dt = 0.005 and at dt = 0.0025 (the same draws and noise seeds) to measure the time-step error.
(a) the order parameter r(t) = |mean_j x_j| of the particles (mean over the runs, error bar its
standard error) against r(t) = |∫ x ρ| of the PDE; (b) the density of u = ⟨x, e_z⟩ (w.r.t. du/2 on
[−1, 1]) at t = 0, 2, 4, 6: the histogram of the R n particles (30 bins) against the PDE's bin
averages; χ² of the counts against the PDE's expected counts (the particles of one run are
independent only to O(1/n), propagation of chaos), also for u taken about each run's own mean
direction (``counts_mean_*``). ``--quick``: n = 500, 2 runs, t ≤ 2, L = 16.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import eval_legendre

import particles
from particles import meanfield as mf
from particles.meanfield import sphere as sp
from particles.model.params import Dynamics
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main

HERE = Path(__file__).resolve().parent
BETA, KIND, K_VMF, BINS = 1.0, "USA", 1.0, 30
E_Z = np.array([0.0, 0.0, 1.0])


def _zonal(alm_row: np.ndarray, L: int, u: np.ndarray) -> np.ndarray:
    """ρ(u) of a zonal density from its m = 0 coefficients (ducc0 layout: index l for m = 0)."""
    a = alm_row[: L + 1].real
    return sum(a[ell] * np.sqrt((2 * ell + 1) / (4 * np.pi)) * eval_legendre(ell, u)
               for ell in range(L + 1))  # fmt: skip


def _bin_probs(alm_row, L, edges):
    """∫ ρ(u) du/2 over each bin (8-point Gauss–Legendre per bin)."""
    x, w = np.polynomial.legendre.leggauss(8)
    lo, hi = edges[:-1, None], edges[1:, None]
    u = 0.5 * (hi - lo) * x + 0.5 * (hi + lo)
    return (0.5 * (hi - lo)[:, 0] * (_zonal(alm_row, L, u.ravel()).reshape(u.shape) @ w)) / 2


def compute(quick: bool = False) -> tuple[dict, dict]:
    n, runs = (500, 2) if quick else (4000, 6)
    L, L_lo = (16, 12) if quick else (32, 24)
    ts = np.array([0.0, 0.5, 1.0, 2.0]) if quick else np.array([0, 0.5, 1, 1.5, 2, 3, 4, 5, 6.0])
    hist_t = (0.0, 2.0) if quick else (0.0, 2.0, 4.0, 6.0)
    kc = mf.critical_kappa(BETA, 3, KIND)
    kappa = 2.0 * kc
    rho0 = sp.von_mises_fisher(E_Z, K_VMF)
    sol = sp.solve_sphere(rho0, BETA, ts[-1], kind=KIND, kappa=kappa, L=L, dt=0.01, save_at=ts)
    lo = sp.solve_sphere(rho0, BETA, ts[-1], kind=KIND, kappa=kappa, L=L_lo, dt=0.01, save_at=ts)
    edges = np.linspace(-1.0, 1.0, BINS + 1)
    hi_idx = [int(np.argmin(np.abs(ts - t))) for t in hist_t]
    data: dict = {
        "t": ts, "hist_t": np.array(hist_t), "edges": edges, "kappa": np.array(kappa),
        "kappa_c": np.array(kc),
        "r_pde": np.array([np.linalg.norm(sol.mean(i)) for i in range(ts.size)]),
        "r_pde_lo": np.array([np.linalg.norm(lo.mean(i)) for i in range(ts.size)]),
        "pde_probs": np.array([_bin_probs(sol.alm[i], L, edges) for i in hi_idx]),
        "mass_err": np.array(np.abs(sol.mass - 1).max()),
    }  # fmt: skip
    uu = np.linspace(-1, 1, 401)
    data["u_fine"], data["rho_fine"] = uu, np.array([_zonal(sol.alm[i], L, uu) for i in hi_idx])
    dyn = Dynamics(beta=BETA, kind=KIND, kappa=kappa)
    for tag, dt in (("dt1", 0.005), ("dt2", 0.0025)):
        r = np.zeros((runs, ts.size))
        counts = np.zeros((len(hist_t), BINS))
        counts_m = np.zeros((len(hist_t), BINS))  # about each run's own mean direction
        for k in range(runs):
            x0 = sp.sample_von_mises_fisher(n, E_Z, K_VMF, 100 + k)
            tr = particles.simulate(x0, dyn, ts[-1], method="euler-maruyama", dt=dt, save_at=ts,
                                    rng=200 + k)  # fmt: skip
            r[k] = np.linalg.norm(tr.x.mean(axis=1), axis=1)
            for j, i in enumerate(hi_idx):
                counts[j] += np.histogram(tr.x[i] @ E_Z, edges)[0]
                m = tr.x[i].mean(axis=0)
                counts_m[j] += np.histogram(tr.x[i] @ (m / np.linalg.norm(m)), edges)[0]
        data[f"r_{tag}"], data[f"counts_{tag}"] = r, counts
        data[f"counts_mean_{tag}"] = counts_m
    meta = {"beta": BETA, "kind": KIND, "k_vmf": K_VMF, "n": n, "runs": runs, "L": L, "L_lo": L_lo,
            "dt": {"dt1": 0.005, "dt2": 0.0025}}  # fmt: skip
    return data, meta


def _r_stats(a: dict, tag: str):
    r = a[f"r_{tag}"]
    return r.mean(axis=0), r.std(axis=0, ddof=1) / np.sqrt(r.shape[0])


def _chi2(a: dict, tag: str):
    """Per histogram time: χ² of the counts against the PDE and its number of bins used (E ≥ 5)."""
    c = a[f"counts_{tag}"]
    N = c.sum(axis=1, keepdims=True)
    E = N * a["pde_probs"] / a["pde_probs"].sum(axis=1, keepdims=True)
    ok = E >= 5
    return np.where(ok, (c - E) ** 2 / np.where(ok, E, 1), 0).sum(axis=1), ok.sum(axis=1)


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((12, 4.5))
    axa, axb = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    t = data["t"]
    tt = np.linspace(t[0], t[-1], 200)
    axa.plot(tt, np.interp(tt, t, data["r_pde"]), "k-", lw=1, label=f"PDE (L = {meta['L']})")
    axa.plot(t, data["r_pde"], "k.", ms=4)
    for tag, mk, dx in (("dt1", "o", -0.04), ("dt2", "s", 0.04)):
        m, se = _r_stats(data, tag)
        axa.errorbar(t + dx, m, se, fmt=mk, ms=4, mfc="none", capsize=2,
                     label=f"particles, dt = {meta['dt'][tag]:g} ({meta['runs']} × n = {meta['n']})")  # fmt: skip
    axa.set_xlabel("t")
    axa.set_ylabel("r(t) = |mean x|")
    axa.set_title("(a) order parameter")
    axa.legend(fontsize=8)
    edges = data["edges"]
    mid, w = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    for j, th in enumerate(data["hist_t"]):
        c = data["counts_dt2"][j]
        axb.stairs(
            2 * c / c.sum() / w, edges, color=f"C{j}", lw=1.2, label=f"particles, t = {th:g}"
        )
        axb.plot(data["u_fine"], data["rho_fine"][j], color=f"C{j}", ls="--", lw=1)
        axb.plot(mid, 2 * data["pde_probs"][j] / w, ".", color=f"C{j}", ms=3)
    axb.plot([], [], "k--", lw=1, label="PDE ρ(u) (dots: bin averages)")
    axb.set_xlabel("u = ⟨x, e_z⟩")
    axb.set_ylabel("density w.r.t. du/2")
    axb.set_title(f"(b) density of ⟨x, e_z⟩ (dt = {meta['dt']['dt2']:g})")
    axb.legend(fontsize=8)
    fig.suptitle(
        f"Noisy particles vs the mean-field PDE on S², USA, β = {meta['beta']:g}, "
        f"κ = 2κ_c = {float(data['kappa']):.3f}, from vMF(k = {meta['k_vmf']:g})",
        fontsize=10,
    )
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    # the theory; the run's kappa is 2 kc
    kc = float(mf.critical_kappa(meta["beta"], 3, meta["kind"]))
    c: dict = {"kappa_c": kc, "kappa": 2.0 * kc,
               "kappa_is_run": bool(np.isclose(float(a["kappa"]), 2.0 * kc, rtol=1e-14, atol=0)),
               "n": int(a["counts_dt1"][0].sum() / a["r_dt1"].shape[0]), "runs": int(a["r_dt1"].shape[0]),
               "r_pde": [float(x) for x in a["r_pde"]]}  # fmt: skip
    c["r_pde_0"], c["r_pde_end"] = float(a["r_pde"][0]), float(a["r_pde"][-1])
    c["pde_L_diff"] = float(np.abs(a["r_pde"] - a["r_pde_lo"]).max())
    for tag in ("dt1", "dt2"):
        m, se = _r_stats(a, tag)
        z = (m - a["r_pde"]) / se
        c[f"r_maxdev_{tag}"] = float(np.abs(m - a["r_pde"]).max())
        c[f"r_maxz_{tag}"] = float(np.abs(z).max())
        c[f"r_within2_{tag}"] = int((np.abs(z) <= 2).sum())
        c[f"r_median_se_{tag}"] = float(np.median(se[1:]))
        c[f"r_end_{tag}"] = float(m[-1])
        c[f"r_z_{tag}"] = [float(x) for x in z]
        c[f"r_below_{tag}"] = int((z[1:] < 0).sum())
        c[f"r_se_at_maxz_{tag}"] = float(se[np.argmax(np.abs(z))])
        chi, dof = _chi2(a, tag)
        c[f"chi2_{tag}"] = [float(x) for x in chi]
        c[f"chi2_dof_{tag}"] = [float(x) for x in chi / np.maximum(dof - 1, 1)]
        c[f"bins_{tag}"] = [int(x) for x in dof]
        c[f"chi2_dof_max_{tag}"] = float(np.max(chi / np.maximum(dof - 1, 1)))
        chi_m, dof_m = _chi2(a, f"mean_{tag}")
        c[f"chi2_dof_mean_{tag}"] = [float(x) for x in chi_m / np.maximum(dof_m - 1, 1)]
    c["points"] = int(a["t"].size)
    c["chi2_dof_sd"] = float(np.sqrt(2.0 / (a["edges"].size - 2)))  # of χ²/(bins − 1), exact match
    dstep = a["r_dt1"].mean(axis=0) - a["r_dt2"].mean(axis=0)
    c["dt_shift_max"] = float(np.abs(dstep).max())
    c["dt_shift_end"] = float(dstep[-1])
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
