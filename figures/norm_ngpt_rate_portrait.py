"""arXiv 2510.22026 (Normalization in Attention Dynamics, §4.1 and §4.3 Theorem 4.3): the nGPT
clustering rate against α, and the (ρ, r) portrait of Pre-LN and Peri-LN, in the equiangular model
of :mod:`particles.analysis.equiangular` (n = 8 tokens, Q = K = V = I).

(a) nGPT: the late-time rate −d log(1 − ρ)/dt, a least-squares slope of log(1 − ρ(t)) on the times
where 1e-10 < 1 − ρ < 1e-6, from ρ0 = 0, for 24 values of α in [0.05, 2] (log-spaced) and three
models (SA β = 1, SA β = 4, USA β = 1), against the closed form 2α (linearising the equiangular
ODE at ρ = 1: s → |A|/α with |A| → 1 (SA) or e^β (USA), so ε̇ ≈ −2α ε for both; derived here,
Theorem 4.3's scale 1/α). nGPT's field b/|A| does not depend on the normalisation of the weights,
so USA and SA coincide at equal β. (b) Pre-LN (solid) and Peri-LN (dashed), SA, β = 1, r0 = 1, from ρ0 =
−0.1, 0, 0.3, 0.6, 0.9, up to t = 10^4: the trajectories in the plane (1 − ρ, r). Markers at the
same times t = 1, 10, 100, 1000 on both: the curves coincide, the speeds along them do not.
(c) the relative distance |r_peri(ρ) / r_pre(ρ) − 1| between the two curves at equal ρ
(cubic splines of log r in u = −log(1 − ρ) through the saved points), for each ρ0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from particles.analysis import equiangular as eq
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main
from particles.plotting.schemes import COLORS, LINESTYLES

HERE = Path(__file__).resolve().parent
MODELS = (("SA", 1.0), ("SA", 4.0), ("USA", 1.0))
RHO0S = (-0.1, 0.0, 0.3, 0.6, 0.9)
MARK_T = (1.0, 10.0, 100.0, 1000.0)
FIT = (1e-10, 1e-6)


def _tag(kind: str, beta: float) -> str:
    return f"{kind}_b{beta:g}"


def compute(quick: bool = False) -> tuple[dict, dict]:
    n = 8
    alphas = np.geomspace(0.05, 2.0, 8 if quick else 24)
    data: dict = {"alphas": alphas}
    meta: dict = {"n": n, "models": [list(m) for m in MODELS], "fit": list(FIT)}
    # (a) nGPT: 1 - rho on a time grid scaled by 1/alpha (nGPT's clock is alpha t)
    T = np.linspace(0.0, 40.0, 801)
    data["T"] = T
    for kind, beta in MODELS:
        eps = np.empty((alphas.size, T.size))
        for k, al in enumerate(alphas):
            eps[k] = eq.solve(T / al, beta, n, kind=kind, norm="ngpt", alpha=al, complement=True)[0]
        data[f"ngpt_eps_{_tag(kind, beta)}"] = eps
    # (b) Pre-LN and Peri-LN, SA beta = 1
    beta = 1.0
    t = np.concatenate([[0.0], np.geomspace(1e-3, 1e2 if quick else 1e4, 700)])
    data["t"], data["rho0s"], data["mark_t"] = t, np.array(RHO0S), np.array(MARK_T)
    meta["beta_portrait"] = beta
    for nm in ("pre", "peri"):
        for j, r0 in enumerate(RHO0S):
            eps, r = eq.solve(t, beta, n, rho0=r0, norm=nm, complement=True)
            data[f"{nm}_eps_{j}"], data[f"{nm}_r_{j}"] = eps, r
            em, rm = eq.solve(np.array(MARK_T), beta, n, rho0=r0, norm=nm, complement=True)
            data[f"{nm}_eps_mark_{j}"], data[f"{nm}_r_mark_{j}"] = em, rm
    return data, meta


def _rate(T_over_alpha, eps):
    ok = (eps > FIT[0]) & (eps < FIT[1])
    return float(-np.polyfit(T_over_alpha[ok], np.log(eps[ok]), 1)[0])


def _rates(a: dict, kind: str, beta: float) -> np.ndarray:
    eps = a[f"ngpt_eps_{_tag(kind, beta)}"]
    return np.array([_rate(a["T"] / al, e) for al, e in zip(a["alphas"], eps, strict=True)])


def _gap(a: dict, j: int):
    """(1 - ρ, |r_peri / r_pre - 1|) on the ρ range both curves cover, in u = -log(1 - ρ)."""
    u = {nm: -np.log(a[f"{nm}_eps_{j}"]) for nm in ("pre", "peri")}
    lr = {nm: np.log(a[f"{nm}_r_{j}"]) for nm in ("pre", "peri")}
    hi = min(u["pre"].max(), u["peri"].max())
    grid = np.linspace(u["pre"].min(), hi, 400)
    pre = CubicSpline(u["pre"], lr["pre"])(grid)
    peri = CubicSpline(u["peri"], lr["peri"])(grid)
    return np.exp(-grid), np.abs(np.expm1(peri - pre))


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((13, 4.3))
    axa, axb, axc = (fig.add_subplot(1, 3, k) for k in (1, 2, 3))
    al = data["alphas"]
    for (kind, beta), mk in zip(MODELS, ("o", "s", "^"), strict=True):
        axa.loglog(
            al, _rates(data, kind, beta), mk, mfc="none", ms=6, label=f"{kind}, β = {beta:g}"
        )
    axa.loglog(al, 2 * al, "k-", lw=1, label="2α")
    axa.set_xlabel("α")
    axa.set_ylabel(r"$-\,d\log(1-\rho)/dt$ (late)")
    axa.set_title("(a) nGPT clustering rate against α")
    axa.legend(fontsize=8)
    cols = ("C0", "C1", "C4", "C5", "C7")
    for j, r0 in enumerate(data["rho0s"]):
        for nm, lw in (("pre", 2.6), ("peri", 0.9)):
            e, r = data[f"{nm}_eps_{j}"], data[f"{nm}_r_{j}"]
            lab = f"ρ0 = {r0:g}" if nm == "pre" else None
            col = cols[j] if nm == "pre" else "k"  # Peri-LN in black on top: the curves coincide
            axb.loglog(e, r, color=col, ls=LINESTYLES[nm], lw=lw, label=lab)
            mk = "s" if nm == "pre" else "D"
            axb.loglog(
                data[f"{nm}_eps_mark_{j}"],
                data[f"{nm}_r_mark_{j}"],
                mk,
                color=COLORS[nm],
                ms=4,
                mfc="none",
            )
        x, g = _gap(data, j)
        axc.loglog(x, np.maximum(g, 1e-17), color=cols[j], label=f"ρ0 = {r0:g}")
    axb.plot([], [], "s", color=COLORS["pre"], mfc="none", label="Pre-LN at t = 1, 10, 100, 1000")
    axb.plot([], [], "D", color=COLORS["peri"], mfc="none", label="Peri-LN at the same t")
    axb.invert_xaxis()
    axb.set_xlabel(r"$1-\rho$")
    axb.set_ylabel("r")
    axb.set_title("(b) (ρ, r): Pre-LN solid, Peri-LN black dashed")
    axb.legend(fontsize=7)
    axc.invert_xaxis()
    axc.set_xlabel(r"$1-\rho$")
    axc.set_ylabel(r"$|r_{peri}(\rho)/r_{pre}(\rho) - 1|$")
    axc.set_title("(c) distance between the curves at equal ρ")
    axc.legend(fontsize=7)
    fig.suptitle(
        f"Equiangular model, n = {meta['n']}: nGPT rate (a); Pre-LN vs Peri-LN, SA, "
        f"β = {meta['beta_portrait']:g}, r0 = 1 (b, c)",
        fontsize=10,
    )
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    al = a["alphas"]
    c: dict = {"alpha_min": float(al[0]), "alpha_max": float(al[-1]), "alphas": int(al.size)}
    errs = []
    for kind, beta in MODELS:
        rel = np.abs(_rates(a, kind, beta) / (2 * al) - 1.0)
        c[f"rate_relerr_{_tag(kind, beta)}"] = float(rel.max())
        errs.append(rel.max())
    c["rate_relerr_max"] = float(max(errs))
    c["rate_at_alpha_max"] = float(_rates(a, "SA", 1.0)[-1])
    gaps = [float(_gap(a, j)[1].max()) for j in range(len(a["rho0s"]))]
    c["curve_gap_max"] = max(gaps)
    r_end = {
        nm: [float(a[f"{nm}_r_{j}"][-1]) for j in range(len(a["rho0s"]))] for nm in ("pre", "peri")
    }
    c["t_end"] = float(a["t"][-1])
    c["eps_end_pre"] = [float(a[f"pre_eps_{j}"][-1]) for j in range(len(a["rho0s"]))]
    c["eps_end_peri"] = [float(a[f"peri_eps_{j}"][-1]) for j in range(len(a["rho0s"]))]
    # the speeds differ: at t = 100 (mark index 2), the ratio of (1 - ρ) Peri-LN / Pre-LN, ρ0 = 0
    j0 = list(np.round(a["rho0s"], 12)).index(0.0)
    c["eps_ratio_t100_rho0_0"] = float(a[f"peri_eps_mark_{j0}"][2] / a[f"pre_eps_mark_{j0}"][2])
    c["r_ratio_t100_rho0_0"] = float(a[f"peri_r_mark_{j0}"][2] / a[f"pre_r_mark_{j0}"][2])
    c["r_end_pre"], c["r_end_peri"] = r_end["pre"], r_end["peri"]
    # nGPT divides by |A|, so the normalisation of the weights cancels: USA = SA at equal β
    e_sa, e_usa = a["ngpt_eps_SA_b1"], a["ngpt_eps_USA_b1"]
    ok = e_sa > 1e-250
    c["usa_sa_relgap"] = float(np.max(np.abs(e_usa[ok] / e_sa[ok] - 1.0)))
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
