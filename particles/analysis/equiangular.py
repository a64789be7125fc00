"""The equiangular reduction (arXiv 2312.10794, Thm 6.8) and the phase-transition curve (6.12).

If the n tokens start pairwise equiangular, <x_i(0), x_j(0)> = rho0 for i != j (rho0 = 0: orthonormal,
so d >= n), they stay so, and the common inner product gamma(t) solves

- SA  (6.9):  gamma' = 2 (1 - gamma)((n - 1) gamma + 1) / (exp(beta (1 - gamma)) + n - 1),
- USA (6.10): gamma' = (2 / n) exp(beta gamma) (1 - gamma)((n - 1) gamma + 1).

Both are separable, so the time to reach gamma is a quadrature,

    t(gamma) = int_rho0^gamma ds / rhs(s),

computed here with adaptive Gauss–Kronrod (scipy ``quad``) at tight tolerance. At beta = 0 both models
reduce to gamma' = (2/n)(1 - gamma)(1 + (n - 1) gamma), whose solution is

    gamma(t) = (R - 1) / (R + n - 1),  R = exp(2 t) (1 + (n - 1) rho0) / (1 - rho0),

i.e. (e^{2t} - 1)/(e^{2t} + n - 1) from orthonormal tokens. The curve (6.12) is
Gamma_{inf,delta} = {(t, beta): gamma_beta(t) = 1 - delta}: for each beta the hitting time
:func:`hitting_time`, or for each t the beta with that hitting time (:func:`critical_beta`).

:func:`euler_gamma` gives the same reduction for the authors' discrete scheme (Euler step with dt, then
renormalise, no tangent projection), which maps an equiangular configuration to an equiangular one; its
hitting time shows how far the dt = 0.1 scheme lags the exact curve.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.integrate as si
import scipy.optimize as so

from ..errors import ParticlesError

KINDS = ("SA", "USA")


def _kind(kind: str) -> str:
    k = str(kind).upper()
    if k not in KINDS:
        raise ParticlesError(f"kind must be 'SA' or 'USA', got {kind!r}")
    return k


def _check(n, beta, rho0=0.0):
    n = int(n)
    if n < 2:
        raise ParticlesError(f"the equiangular model needs n >= 2 tokens, got n = {n}")
    beta = float(beta)
    if not np.isfinite(beta) or beta < 0:
        raise ParticlesError(f"beta must be finite and >= 0, got {beta}")
    rho0 = float(rho0)
    if not (-1.0 / (n - 1) < rho0 < 1.0):
        raise ParticlesError(
            f"rho0 must lie in (-1/(n-1), 1) for n equiangular unit vectors, got {rho0}"
        )
    return n, beta, rho0


def rhs(gamma, beta: float, n: int, kind: str = "SA"):
    """The right-hand side of (6.9) (SA) or (6.10) (USA) at gamma (scalar or array)."""
    kind = _kind(kind)
    g = np.asarray(gamma, dtype=np.float64)
    core = (1.0 - g) * ((n - 1) * g + 1.0)
    if kind == "SA":
        return 2.0 * core / (np.exp(beta * (1.0 - g)) + (n - 1))
    return (2.0 / n) * np.exp(beta * g) * core


def _inv_rhs(s: float, beta: float, n: int, kind: str) -> float:
    """1 / rhs(s): the integrand of t(gamma); written without exp overflow for SA."""
    den = 2.0 * (1.0 - s) * (1.0 + (n - 1) * s)
    if kind == "SA":
        return ((n - 1) + math.exp(beta * (1.0 - s))) / den
    return n * math.exp(-beta * s) / den


def gamma_beta0(t, n: int, rho0: float = 0.0):
    """Closed form of gamma(t) at beta = 0 (SA and USA alike). ``t`` scalar or array."""
    n, _, rho0 = _check(n, 0.0, rho0)
    t = np.asarray(t, dtype=np.float64)
    R = np.exp(2.0 * t) * (1.0 + (n - 1) * rho0) / (1.0 - rho0)
    with np.errstate(over="ignore", invalid="ignore"):
        g = (R - 1.0) / (R + n - 1.0)
    return np.where(np.isinf(R), 1.0, g)


def hitting_time(
    beta: float, n: int, delta: float = 1e-3, *, kind: str = "SA", rho0: float = 0.0
) -> float:
    """The time t at which gamma_beta(t) = 1 - delta: t = int_rho0^{1-delta} ds / rhs(s) (quadrature)."""
    kind = _kind(kind)
    n, beta, rho0 = _check(n, beta, rho0)
    delta = float(delta)
    if not (0.0 < delta < 1.0 - rho0):
        raise ParticlesError(f"delta must lie in (0, 1 - rho0) = (0, {1.0 - rho0}), got {delta}")
    g1 = 1.0 - delta
    if g1 >= 1.0:
        raise ParticlesError(f"delta = {delta:g} is below float64 resolution at 1 (need > 1.2e-16)")
    if g1 <= rho0:
        return 0.0
    if kind == "SA" and beta * (1.0 - rho0) > 700.0:
        # the integrand exceeds e^700 / n^2 near rho0: the time is beyond float range
        return math.inf
    # split where the integrand varies fastest (near 1, where 1/(1 - s) blows up)
    pts = [p for p in (0.5, 0.9, 0.99) if rho0 < p < g1]
    val, _ = si.quad(
        _inv_rhs,
        rho0,
        g1,
        args=(beta, n, kind),
        epsabs=0.0,
        epsrel=1e-13,
        limit=400,
        points=pts or None,
    )
    return float(val)


def gamma(
    t, beta: float, n: int, *, kind: str = "SA", rho0: float = 0.0, rtol: float = 1e-12
) -> np.ndarray:
    """gamma_beta(t) for an array of times, by integrating (6.9)/(6.10) for eps = 1 - gamma.

    Integrating eps keeps relative accuracy as gamma -> 1 (DOP853, ``rtol``, atol = 1e-300).
    """
    kind = _kind(kind)
    n, beta, rho0 = _check(n, beta, rho0)
    t = np.asarray(t, dtype=np.float64)
    flat = t.ravel()
    if flat.size == 0:
        return t.copy()
    if np.any(flat < 0) or not np.all(np.isfinite(flat)):
        raise ParticlesError("times must be finite and >= 0")
    t_max = float(flat.max())
    if t_max == 0.0:
        return np.full(t.shape, rho0)

    def f(_t, y):
        e = y[0]
        return [-float(rhs(1.0 - e, beta, n, kind))]

    sol = si.solve_ivp(
        f, (0.0, t_max), [1.0 - rho0], method="DOP853", rtol=rtol, atol=1e-300, dense_output=True
    )
    if not sol.success:  # pragma: no cover - the ODE is smooth and monotone
        raise ParticlesError(f"equiangular ODE failed: {sol.message}")
    eps = sol.sol(flat)[0]
    return (1.0 - eps).reshape(t.shape)


def critical_beta(
    t: float,
    n: int,
    delta: float = 1e-3,
    *,
    kind: str = "SA",
    beta_max: float = 200.0,
) -> float:
    """The beta on Gamma_{inf,delta} at time t: hitting_time(beta) = t, for SA.

    The SA integrand 1/rhs grows with beta, so the hitting time is increasing and the root unique
    (brentq to 1e-12). Returns NaN for t before the beta = 0 hitting time and inf beyond
    ``beta_max``. USA clusters faster as beta grows (no such curve), so it raises an error.
    """
    kind = _kind(kind)
    if kind != "SA":
        raise ParticlesError("critical_beta is defined for SA (its hitting time grows with beta)")
    t = float(t)
    t0 = hitting_time(0.0, n, delta, kind=kind)
    if t < t0:
        return float("nan")
    tmax = hitting_time(beta_max, n, delta, kind=kind)
    if t >= tmax:
        return float("inf")
    return float(
        so.brentq(
            lambda b: hitting_time(b, n, delta, kind=kind) - t,
            0.0,
            beta_max,
            xtol=1e-12,
            rtol=1e-14,
        )
    )


def gamma_curve(
    n: int = 32,
    delta: float = 1e-3,
    *,
    betas=None,
    times=None,
    kind: str = "SA",
) -> tuple[np.ndarray, np.ndarray]:
    """The curve Gamma_{inf,delta} as arrays ``(t, beta)``.

    Give ``betas`` (hitting time for each beta) or ``times`` (critical beta for each t; NaN before the
    beta = 0 hitting time). Default: 400 betas in [0, 9].
    """
    if betas is not None and times is not None:
        raise ParticlesError("give betas or times, not both")
    if times is not None:
        ts = np.asarray(times, dtype=np.float64).ravel()
        bs = np.array([critical_beta(t, n, delta, kind=kind) for t in ts])
        return ts, bs
    bs = np.linspace(0.0, 9.0, 400) if betas is None else np.asarray(betas, float).ravel()
    ts = np.array([hitting_time(b, n, delta, kind=kind) for b in bs])
    return ts, bs


def euler_gamma(
    steps: int, beta: float, n: int, dt: float = 0.1, *, kind: str = "SA", rho0: float = 0.0
) -> np.ndarray:
    """The authors' scheme x_i <- normalise(x_i + dt sum_j A_ij x_j) on equiangular tokens, exactly.

    With A_ii = a and A_ij = b (i != j), y_i = (1 + dt a) x_i + dt b sum_{j != i} x_j stays equiangular, so
    the scheme reduces to a scalar map gamma_k -> gamma_{k+1}. Returns gamma_0..gamma_steps, shape (steps+1,).
    """
    kind = _kind(kind)
    n, beta, rho0 = _check(n, beta, rho0)
    out = np.empty(int(steps) + 1)
    g = rho0
    out[0] = g
    for k in range(int(steps)):
        if kind == "SA":
            # a = e^beta / Z, b = e^{beta g} / Z with Z = e^beta + (n-1) e^{beta g}; divide by e^beta
            w = math.exp(beta * (g - 1.0))
            z = 1.0 + (n - 1) * w
            a, b = 1.0 / z, w / z
        else:
            if beta > 700.0:
                raise ParticlesError(f"USA with beta = {beta} > 700: e^beta overflows")
            a, b = math.exp(beta) / n, math.exp(beta * g) / n
        p, q = 1.0 + dt * a, dt * b  # y_i = p x_i + q sum_{j != i} x_j
        # |y_i|^2 and <y_i, y_k> from <x_i, x_j> = g (i != j), |x_i| = 1
        m = n - 1
        sum_sq = m + m * (m - 1) * g  # |sum_{j != i} x_j|^2
        norm2 = p * p + 2 * p * q * m * g + q * q * sum_sq
        # <y_i, y_k>: p^2 g + p q (<x_i, S_k> + <S_i, x_k>) + q^2 <S_i, S_k>, S_i = sum_{j != i} x_j
        xi_sk = 1.0 + (m - 1) * g  # S_k contains x_i
        # S_i.S_k = sum_{j != i} sum_{l != k} <x_j, x_l>: n - 2 terms with j = l, the rest equal g
        si_sk = (n - 2) + ((n - 1) * (n - 1) - (n - 2)) * g
        dot = p * p * g + 2 * p * q * xi_sk + q * q * si_sk
        g = dot / norm2
        out[k + 1] = g
    return out


def euler_hitting_time(
    beta: float, n: int, delta: float = 1e-3, dt: float = 0.1, *, kind: str = "SA", t_max=1e4
) -> float:
    """First time k*dt at which the authors' scheme :func:`euler_gamma` has gamma >= 1 - delta."""
    steps = int(math.ceil(t_max / dt))
    chunk = 1024
    g0, done = 0.0, 0
    while done < steps:
        gs = euler_gamma(min(chunk, steps - done), beta, n, dt, kind=kind, rho0=g0)
        hit = np.nonzero(gs >= 1.0 - delta)[0]
        if hit.size:
            return (done + int(hit[0])) * dt
        done += gs.size - 1
        g0 = float(gs[-1])
    return float("inf")
