"""Stationary states of the noisy mean-field equation: the branch of zonal (one-cluster) states that
bifurcates from the uniform state at kappa_c, any d, SA and USA.

A stationary state with zero flux solves (conventions in :mod:`particles.meanfield`)

    USA:  rho = exp((kappa/beta) K rho) / Z,        SA:  rho = (K rho)^{kappa/beta} / Z,

(from rho X[rho] = (1/kappa) grad rho with X[rho] = grad(K rho)/beta, resp. grad log(K rho)/beta).
Zonal states depend on t = <x, e> only; we write rho = sum_l c_l P_l(t) with P_l the Gegenbauer
polynomials of S^{d-1} normalised by P_l(1) = 1, so <P_l P_m>_sigma = delta_lm / N_l (N_l the
dimension of the degree-l harmonics), c_0 = 1, K P_l = a_l P_l (Funk–Hecke, :mod:`.linear`) and the
order parameter is r = |mean x| = c_1 / d. Integrals in t use Gauss–Jacobi quadrature for the weight
(1 - t^2)^{(d-3)/2} of the marginal of sigma. The branch is parametrised by r (it is monotone in r
whether the bifurcation is super- or subcritical): for each r the unknowns kappa and c_2..c_L solve
c_l = N_l <rho P_l> (l = 1..L) by Newton's method, continued from the previous r.

For USA the free energy (arXiv 2312.10794, §3: USA is the Wasserstein gradient flow of -E_beta; with
noise, of F) is

    F[rho] = (1/kappa) int rho log rho dsigma - (1/(2 beta)) int int e^{beta <x,y>} rho rho
           = (1/kappa) <rho log rho> - (1/(2 beta)) sum_l a_l c_l^2 / N_l,

F[uniform] = -a_0 / (2 beta); :func:`first_order_kappa` finds where the stable branch's F crosses it
(the discontinuous transition kappa_1 < kappa_c when beta > beta_*).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq, root
from scipy.special import gammaln, roots_jacobi

from ..errors import ParticlesError, finite
from .linear import _beta_scalar, _count, _d, _kind, critical_kappa, funk_hecke


def harmonic_dimension(ell, d: int) -> np.ndarray:
    """N_l: the dimension of the degree-l spherical harmonics on S^{d-1} (1, 2, 2, ... on the circle)."""
    ell = np.asarray(ell, dtype=np.float64)
    if d == 2:
        return np.where(ell == 0, 1.0, 2.0)
    lg = gammaln(ell + d - 1) - gammaln(ell + 1) - gammaln(d - 1)
    return (2 * ell + d - 2) / (ell + d - 2) * np.exp(lg) * np.where(ell == 0, 0, 1) + (ell == 0)


def gegenbauer(t, d: int, L: int) -> np.ndarray:
    """P_0..P_L at ``t`` (shape t.shape + (L+1,)): Gegenbauer polynomials of S^{d-1} with P_l(1) = 1,
    P_{l+1} = ((2l + d - 2) t P_l - l P_{l-1}) / (l + d - 2)."""
    t = np.asarray(t, dtype=np.float64)
    P = np.empty(t.shape + (L + 1,))
    P[..., 0] = 1.0
    if L >= 1:
        P[..., 1] = t
    for k in range(1, L):
        P[..., k + 1] = ((2 * k + d - 2) * t * P[..., k] - k * P[..., k - 1]) / (k + d - 2)
    return P


def _quadrature(d: int, Q: int) -> tuple[np.ndarray, np.ndarray]:
    a = (d - 3) / 2
    t, w = roots_jacobi(Q, a, a)
    return t, w / w.sum()


@dataclass(frozen=True)
class Branch:
    """The zonal stationary branch: ``r`` (m,), ``kappa`` (m,), ``coeffs`` (m, L+1) (c_0 = 1),
    ``free_energy`` (m,) (USA; NaN for SA), ``stable`` (m,) (d kappa / d r > 0: exchange of
    stability along a branch born at kappa_c), plus the parameters."""

    beta: float
    d: int
    kind: str
    r: np.ndarray
    kappa: np.ndarray
    coeffs: np.ndarray
    free_energy: np.ndarray
    stable: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def fold(self) -> tuple[float, float]:
        """(kappa, r) at the branch's smallest kappa (the saddle-node of a subcritical branch; the
        bifurcation point kappa_c, r = 0 of a supercritical one)."""
        k = int(np.argmin(self.kappa))
        if self.kappa[k] >= self.meta.get("kappa_c", np.inf) - 1e-12:
            return float(self.meta["kappa_c"]), 0.0
        return float(self.kappa[k]), float(self.r[k])

    def r_of_kappa(self, kappa, stable_only: bool = True) -> np.ndarray:
        """r of the (stable) branch at ``kappa`` by interpolation; NaN where there is none."""
        sel = self.stable if stable_only else np.ones_like(self.stable)
        k, r = self.kappa[sel], self.r[sel]
        o = np.argsort(k)
        return np.interp(np.asarray(kappa, float), k[o], r[o], left=np.nan, right=np.nan)


def _density(c, gamma, A, P, kind):
    """rho at the nodes from coefficients c (L+1,), gamma = kappa/beta, A = a_l (L+1,)."""
    if kind == "USA":
        e = gamma * (P[:, 1:] @ (A[1:] * c[1:]))
        e -= e.max()
        rho = np.exp(e)
    else:
        g = P @ (A * c) / A[0]
        # K rho > 0 for a density; a Newton iterate may not be one: clip (continuously) so that
        # the solver can come back
        lg = gamma * np.log(np.maximum(g, 1e-12 * np.abs(g).max()))
        rho = np.exp(lg - lg.max())
    return rho


def stationary_branch(
    beta: float,
    d: int,
    kind: str = "USA",
    *,
    r_max: float = 0.95,
    points: int = 200,
    modes: int | None = None,
    nodes: int | None = None,
) -> Branch:
    """The branch of zonal stationary states born at kappa_c(beta), for r in (0, r_max].

    ``modes`` L (default from beta and r_max) and ``nodes`` (Gauss–Jacobi points, default 4 L + 64)
    set the resolution; the result's ``meta["residual"]`` is the largest residual and
    ``meta["tail"]`` the largest |c_L| / N_L (both should be tiny).
    """
    d, kind = _d(d), _kind(kind)
    beta = _beta_scalar(beta)
    if beta <= 0:
        raise ParticlesError("the stationary branch needs beta > 0")
    r_max = finite(r_max, "r_max", "(0, 1)")
    points = _count(points, "points", 1, 1e5)
    if modes is None:
        # a one-cluster state of order parameter r has angular width ~ sqrt((d-1)(1-r)); its
        # harmonics decay past l ~ 1 / width
        modes = int(min(200, 12 + 6 / math.sqrt(max(1 - r_max, 1e-4)) + 2 * beta))
    L = _count(modes, "modes", 2, 1e4)
    Q = _count(nodes, "nodes", 2, 1e6) if nodes is not None else 4 * L + 64
    t, w = _quadrature(d, Q)
    P = gegenbauer(t, d, L)
    N = harmonic_dimension(np.arange(L + 1), d)
    A = funk_hecke(beta, d, np.arange(L + 1))
    kc = critical_kappa(beta, d, kind)

    def unpack(x, c1):
        gamma = math.exp(x[0])
        c = np.concatenate([[1.0, c1], x[1:]])
        return gamma, c

    def residual(x, c1):
        gamma, c = unpack(x, c1)
        rho = _density(c, gamma, A, P, kind)
        if rho is None:
            return np.full(L, 1e3)
        rho = rho / (w @ rho)
        proj = N * ((w * rho) @ P)
        return (c - proj)[1:]

    rs = np.linspace(r_max / points, r_max, points)
    x = np.concatenate([[math.log(kc / beta)], np.zeros(L - 1)])
    out_k, out_c, res_max = [], [], 0.0
    for r in rs:
        c1 = d * r
        sol = root(residual, x, args=(c1,), method="hybr", options={"xtol": 1e-13})
        if not sol.success or np.max(np.abs(sol.fun)) > 1e-8:
            sol = root(residual, x, args=(c1,), method="lm", options={"xtol": 1e-14})
        if np.max(np.abs(sol.fun)) > 1e-7:
            raise ParticlesError(
                f"stationary branch (beta = {beta}, d = {d}, {kind}): Newton failed at r = {r:.4g} "
                f"(residual {np.max(np.abs(sol.fun)):.2g}); lower r_max or raise modes"
            )
        x = sol.x
        res_max = max(res_max, float(np.max(np.abs(sol.fun))))
        gamma, c = unpack(x, c1)
        out_k.append(gamma * beta)
        out_c.append(c)
    kap = np.array(out_k)
    C = np.array(out_c)
    F = np.full(points, np.nan)
    if kind == "USA":
        for i in range(points):
            rho = _density(C[i], kap[i] / beta, A, P, kind)
            rho = rho / (w @ rho)
            F[i] = (w @ (rho * np.log(rho))) / kap[i] - (A * C[i] ** 2 / N).sum() / (2 * beta)
    dk = np.gradient(kap, rs)
    return Branch(
        beta=beta,
        d=d,
        kind=kind,
        r=rs,
        kappa=kap,
        coeffs=C,
        free_energy=F,
        stable=dk > 0,
        meta={
            "kappa_c": kc,
            "modes": L,
            "nodes": Q,
            "residual": res_max,
            "tail": float(np.max(np.abs(C[:, -1]) / N[-1])),
            "free_energy_uniform": -A[0] / (2 * beta) if kind == "USA" else None,
        },
    )


def first_order_kappa(branch: Branch) -> float:
    """USA: the kappa where the stable branch's free energy equals the uniform state's (the
    discontinuous transition, between the fold and kappa_c); kappa_c when the branch is
    supercritical. NaN for SA (no free energy)."""
    if not isinstance(branch, Branch):
        raise ParticlesError(
            f"branch must be a Branch (stationary_branch), got {type(branch).__name__}"
        )
    if branch.kind != "USA":
        return math.nan
    kf, _ = branch.fold
    kc = branch.meta["kappa_c"]
    if kf >= kc - 1e-12:
        return kc
    sel = branch.stable
    k, f = branch.kappa[sel], branch.free_energy[sel] - branch.meta["free_energy_uniform"]
    o = np.argsort(k)
    k, f = k[o], f[o]
    if not (f[0] > 0 > f[-1]):
        raise ParticlesError("the stable branch's free energy does not cross the uniform state's")
    return float(brentq(lambda q: np.interp(q, k, f), k[0], k[-1]))
