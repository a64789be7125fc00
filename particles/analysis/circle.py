"""Dynamics on the circle, d = 2 (arXiv 2312.10794, §7, App. B, Fig. 6).

Write x_i = (cos theta_i, sin theta_i). Then SA and USA become ODEs for the angles (7.1):

    thetadot_i = (1 / Z_i) sum_j e^{beta cos(theta_i - theta_j)} sin(theta_j - theta_i),

with Z_i = n (USA) or Z_i = sum_k e^{beta cos(theta_i - theta_k)} (SA). At beta = 0 both are the
Kuramoto model (7.2) with equal frequencies and coupling K = 1. USA is the gradient flow
thetadot = n grad E_beta(theta) of E_beta(theta) = 1/(2 beta n^2) sum_{i,j} e^{beta cos(theta_i - theta_j)}
(7.4), whose Hessian (App. B) has off-diagonal entries g(theta_i - theta_j) / n^2 and diagonal minus
the off-diagonal row sum, with g(x) = (cos x - beta sin^2 x) e^{beta cos x}.

Functions take angles ``theta`` (n,) or ``thetas`` (T, n) and are plain numpy (n is small here).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.integrate as si
from scipy.optimize import brentq

from ..errors import ParticlesError, count, finite, real_array, whole
from ..resources import check_count, check_memory


def _theta(theta, name: str = "theta") -> np.ndarray:
    th = real_array(theta, name, "(n,) (angles)")
    if th.ndim != 1 or th.size < 1:
        raise ParticlesError(f"{name} must have shape (n,) with n >= 1, got {th.shape}")
    if not np.all(np.isfinite(th)):
        raise ParticlesError(f"{name} has non-finite entries")
    return th


#: the largest beta of the energy and the fields on the circle: e^beta overflows float64 beyond
BETA_MAX = 700.0


def _beta(beta, cap: float | None = BETA_MAX) -> float:
    b = finite(beta, "beta", ">= 0")
    if cap is not None and b > cap:
        raise ParticlesError(
            f"beta must be <= {cap:g} (e^beta overflows float64 beyond), got {b:g}"
        )
    if 0 < b < np.finfo(np.float64).tiny:
        raise ParticlesError("beta is below float64 resolution (subnormal); use beta = 0")
    return b


def _kind(kind: str) -> str:
    k = kind.upper() if isinstance(kind, str) else None
    if k not in ("SA", "USA"):
        raise ParticlesError(f"kind must be 'SA' or 'USA', got {kind!r}")
    return k


# --- angles <-> points ------------------------------------------------------------------------


def to_angles(x) -> np.ndarray:
    """Angles theta (..., n) in (-pi, pi] of points x (..., n, 2) on the circle."""
    x = real_array(x, "x", "(..., n, 2)", finite=True)
    if x.ndim < 2 or x.shape[-1] != 2:
        raise ParticlesError(f"points on the circle must have shape (..., n, 2), got {x.shape}")
    return np.arctan2(x[..., 1], x[..., 0])


def from_angles(theta) -> np.ndarray:
    """Points (..., n, 2) = (cos theta, sin theta) from angles theta (..., n)."""
    th = real_array(theta, "theta", "(..., n) (angles)", finite=True)
    return np.stack([np.cos(th), np.sin(th)], axis=-1)


def equally_spaced(n: int, phase: float = 0.0) -> np.ndarray:
    """n equally spaced angles phase + 2 pi k / n: a critical point of E_beta for every beta."""
    n = whole(n, "n (the number of angles)")
    check_count(n, "n (the number of angles)", 1e9)
    check_memory(8.0 * n, f"{n} angles")
    phase = finite(phase, "phase")
    return phase + 2.0 * np.pi * np.arange(n) / n


def wrap(theta) -> np.ndarray:
    """Angles reduced to (-pi, pi]."""
    th = real_array(theta, "theta", "(angles)", finite=True)
    return np.pi - np.mod(np.pi - th, 2.0 * np.pi)


# --- vector fields ----------------------------------------------------------------------------


def angle_velocity(theta, beta: float, kind: str = "SA") -> np.ndarray:
    """thetadot (n,) of SA or USA on the circle, eq. (7.1): see the module docstring. The USA case is
    eq. (4) of arXiv 2512.01868 (§3.3), printed there with the same 1/n and no time rescaling."""
    th = _theta(theta)
    beta = _beta(beta)
    kind = _kind(kind)
    diff = th[None, :] - th[:, None]  # theta_j - theta_i
    c = np.cos(diff)
    w = np.exp(beta * (c - 1.0))  # e^{beta cos} / e^{beta}: cancels in SA, restored for USA
    num = np.sum(w * np.sin(diff), axis=1)
    if kind == "SA":
        return num / np.sum(w, axis=1)
    return num * (math.exp(beta) / th.size)


def kuramoto_velocity(theta, coupling: float = 1.0, omega=None) -> np.ndarray:
    """Kuramoto (7.2): thetadot_i = omega_i + (K / n) sum_j sin(theta_j - theta_i). (n,)

    With omega = 0 and K = 1 this is SA and USA at beta = 0.
    """
    th = _theta(theta)
    out = (finite(coupling, "coupling") / th.size) * np.sum(
        np.sin(th[None, :] - th[:, None]), axis=1
    )
    if omega is not None:
        om = real_array(omega, "omega", finite=True)
        if om.shape not in ((), th.shape):
            raise ParticlesError(f"omega must be a scalar or have shape {th.shape}, got {om.shape}")
        out = out + om
    return out


def energy(theta, beta: float) -> float:
    """E_beta(theta) = 1/(2 beta n^2) sum_{i,j} e^{beta cos(theta_i - theta_j)}, eq. (7.4).

    At beta = 0 returns the limit of E_beta - 1/(2 beta), (1/(2 n^2)) sum cos(theta_i - theta_j),
    the Kuramoto potential with K = 1 (the same convention as :func:`particles.energy`).
    """
    th = _theta(theta)
    beta = _beta(beta)
    n = th.size
    c = np.cos(th[None, :] - th[:, None])
    if beta == 0.0:
        return float(c.sum() / (2.0 * n * n))
    return float(np.exp(beta * c).sum() / (2.0 * beta * n * n))


def energy_gradient(theta, beta: float) -> np.ndarray:
    """grad E_beta(theta) (n,): -(1/n^2) sum_j e^{beta cos(theta_i - theta_j)} sin(theta_i - theta_j).

    USA is thetadot = n grad E_beta (arXiv 2312.10794, eq. 7.4); valid at beta = 0 with the beta = 0
    energy above.
    """
    th = _theta(theta)
    beta = _beta(beta)
    n = th.size
    diff = th[:, None] - th[None, :]
    return -np.sum(np.exp(beta * np.cos(diff)) * np.sin(diff), axis=1) / (n * n)


def g(x, beta: float):
    """g(x) = (cos x - beta sin^2 x) e^{beta cos x}, the pair term of the Hessian (App. B, Fig. 6)."""
    beta = _beta(beta)
    x = real_array(x, "x", finite=True)
    return (np.cos(x) - beta * np.sin(x) ** 2) * np.exp(beta * np.cos(x))


def hessian(theta, beta: float) -> np.ndarray:
    """Hessian (n, n) of E_beta on the torus: g(theta_i - theta_j) / n^2 off the diagonal, rows sum to 0."""
    th = _theta(theta)
    n = th.size
    h = g(th[:, None] - th[None, :], beta) / (n * n)
    np.fill_diagonal(h, 0.0)
    h[np.diag_indices(n)] = -h.sum(axis=1)
    return h


def is_critical_point(theta, beta: float, tol: float = 1e-10) -> bool:
    """True when |grad E_beta(theta)| <= tol * (scale of the gradient's terms)."""
    th = _theta(theta)
    tol = finite(tol, "tol", ">= 0")
    scale = math.exp(_beta(beta)) / th.size
    return bool(np.max(np.abs(energy_gradient(th, beta))) <= tol * scale)


def strict_saddle(theta, beta: float, tol: float = 1e-12) -> tuple[bool, float]:
    """Strict-saddle test at a critical point (Problem 3): (largest Hessian eigenvalue > tol, it).

    USA *ascends* E_beta, so a positive eigenvalue is an unstable direction: the critical point
    is a strict saddle (or a minimum) that gradient ascent leaves for almost every start.
    ``tol`` is relative to the scale e^beta / n^2 of the Hessian entries.
    """
    th = _theta(theta)
    beta = _beta(beta)
    tol = finite(tol, "tol")
    lam = float(np.linalg.eigvalsh(hessian(th, beta))[-1])
    scale = math.exp(beta) / th.size**2
    return lam > tol * scale, lam


def tau_star(beta: float, d: int = 2) -> float:
    """tau*_beta in (0, pi/2]: the root of beta sin^2 tau = (d - 1) cos tau (Thm 5.1, Fig. 6).

    g < 0 outside [-tau*, tau*] for d = 2; tau* ~ sqrt((d - 1) / beta) as beta grows.
    """
    beta = _beta(beta, cap=None)
    d = count(d, "d", 2, 10**6)
    if beta == 0.0:
        return math.pi / 2
    f = lambda t: beta * math.sin(t) ** 2 - (d - 1) * math.cos(t)
    return float(brentq(f, 0.0, math.pi / 2, xtol=1e-15, rtol=1e-15))


# --- integration and the energy staircase -----------------------------------------------------

#: the integrators of :func:`simulate_angles` (scipy's)
METHODS = ("LSODA", "RK45", "RK23", "DOP853", "Radau", "BDF")


def _usa_jacobian(th, beta):
    # thetadot = n grad E, so its Jacobian is n * Hessian
    return th.size * hessian(th, beta)


def simulate_angles(
    theta0,
    beta: float,
    t_end: float,
    *,
    kind: str = "SA",
    save_at=None,
    method: str = "LSODA",
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the angle ODE (7.1) from theta0 (n,); returns (t (T,), thetas (T, n)).

    The default LSODA switches to a stiff method on the long plateaus of metastable states, where
    an explicit method would need ~t_end steps; USA gets the exact Jacobian n * Hessian.
    ``save_at`` defaults to 200 log-spaced times in [t_end * 1e-4, t_end] plus t = 0.
    """
    th0 = _theta(theta0, "theta0")
    beta = _beta(beta)
    kind = _kind(kind)
    t_end = finite(t_end, "t_end", "> 0")
    if t_end < 1e-100:  # LSODA's step control underflows on much shorter spans (1e-150 hangs)
        raise ParticlesError(f"t_end = {t_end:g} is below the integrator's resolution (>= 1e-100)")
    if save_at is None and t_end * 1e-4 > 0:
        save_at = np.concatenate([[0.0], np.geomspace(t_end * 1e-4, t_end, 200)])
    elif save_at is None:
        save_at = np.array([0.0, t_end])
    save_at = real_array(save_at, "save_at", finite=True)
    if method not in METHODS:
        raise ParticlesError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    rtol = finite(rtol, "rtol", "(0, 1)")
    atol = finite(atol, "atol", "> 0")
    if rtol < 1e-15 or atol < 1e-300:
        raise ParticlesError(
            f"rtol = {rtol:g}, atol = {atol:g}: below float64 resolution (rtol >= 1e-15, "
            "atol >= 1e-300)"
        )
    if save_at.ndim != 1 or save_at.size == 0 or np.any(np.diff(save_at) <= 0):
        raise ParticlesError("save_at must be a strictly increasing sequence of times")
    if save_at[0] < 0 or save_at[-1] > t_end * (1 + 1e-12):
        raise ParticlesError(f"save_at times must lie in [0, t_end] = [0, {t_end}]")
    fun = lambda t, y: angle_velocity(y, beta, kind)
    extra = {}
    if kind == "USA" and method in ("LSODA", "BDF", "Radau"):
        extra["jac"] = lambda t, y: _usa_jacobian(y, beta)
    sol = si.solve_ivp(
        fun, (0.0, t_end), th0, method=method, t_eval=save_at, rtol=rtol, atol=atol, **extra
    )
    if not sol.success:
        raise ParticlesError(f"angle integration failed: {sol.message}")
    return sol.t, sol.y.T


def angle_clusters(theta, delta: float = 1e-3) -> int:
    """Number of clusters of angles (the same rule as particles.analysis.clusters: cos(theta_i - theta_j) > 1 - delta)."""
    from .clusters import count_clusters

    return count_clusters(from_angles(_theta(theta)), delta)


def staircase(
    theta0,
    beta: float,
    t_end: float,
    *,
    kind: str = "SA",
    delta: float = 1e-3,
    save_at=None,
    **kw,
) -> dict[str, np.ndarray]:
    """The metastability staircase on the circle: cluster count and E_beta along the angle ODE.

    Returns ``{"t": (T,), "theta": (T, n), "energy": (T,), "n_clusters": (T,)}``. On a log time axis
    the energy climbs in steps: long plateaus near multi-cluster saddles (arXiv 2312.10794,
    Problem 1), then a quick merge. Note E_beta is non-decreasing for both SA and USA.
    """
    t, thetas = simulate_angles(theta0, beta, t_end, kind=kind, save_at=save_at, **kw)
    E = np.array([energy(th, beta) for th in thetas])
    counts = np.array([angle_clusters(th, delta) for th in thetas], dtype=np.int64)
    return {"t": t, "theta": thetas, "energy": E, "n_clusters": counts}
