"""One fixed step of each method: ``(x, h, f) -> (y, nfev)`` with ``x`` (n, d) on the sphere, ``f`` the
vector field (a function of the state), ``y`` the new state *before* normalisation (the driver
normalises every step), ``nfev`` the number of field evaluations.

Explicit Runge–Kutta methods need no function here: :func:`explicit_rk` steps any
:class:`~particles.solvers.registry.Tableau`.
"""

from __future__ import annotations

import math

import numpy as np

from ..model.sphere import exp_map, normalize_rows, rotate_in_plane


def _combine(x: np.ndarray, h: float, ks: list, nums: tuple[int, ...], den: int) -> np.ndarray:
    """x + (h/den) (nums[0] ks[0] + nums[1] ks[1] + ...), zero terms skipped, left to right."""
    acc = None
    for c, k in zip(nums, ks, strict=False):
        if c == 0:
            continue
        term = k if c == 1 else float(c) * k
        acc = term if acc is None else acc + term
    if acc is None:
        return x.copy()
    return x + (h / den) * acc


def explicit_rk(tableau, x: np.ndarray, h: float, f) -> tuple[np.ndarray, int]:
    """One step of the explicit Runge–Kutta method ``tableau``."""
    ks: list[np.ndarray] = []
    for nums, den in tableau.stage_integers():
        ks.append(f(_combine(x, h, ks, nums, den) if ks else x))
    nums, den = tableau.weight_integers()
    return _combine(x, h, ks, nums, den), len(ks)


def lie_euler(x: np.ndarray, h: float, f) -> tuple[np.ndarray, int]:
    """x <- exp_x(h f(x)) (Riemannian exponential map). Order 1; on the sphere by construction."""
    return exp_map(x, h * f(x)), 1


def lie_midpoint(x: np.ndarray, h: float, f) -> tuple[np.ndarray, int]:
    """Lie midpoint (RKMK of order 2): x_m = exp_x(h/2 f(x)), then x <- exp(h Omega) x with the
    rotation Omega = f(x_m) x_m^T - x_m f(x_m)^T. Order 2; on the sphere by construction."""
    xm = normalize_rows(exp_map(x, 0.5 * h * f(x)))
    return rotate_in_plane(x, xm, f(xm), h), 2


# --------------------------------------------------------------------------------------------------
# stochastic steps: ``(x, h, f, dW, kappa) -> (y, nfev)``
#
# The SDE is dx_i = f(x)_i dt + sqrt(2/kappa) dB_i with B_i Brownian motion on the sphere S^{d-1}:
# generator L = f . grad + (1/kappa) Delta_S. It is driven by ambient Brownian increments ``dW`` (n, d),
# dW ~ N(0, h I) (the driver draws them; tests refine one path to measure strong orders), whose tangent
# part P_perp(x_i) dW_i is the spherical increment. ``kappa=None`` means no noise.


def _sigma(kappa) -> float:
    return 0.0 if kappa is None else math.sqrt(2.0 / kappa)


def _tangent(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    return v - np.einsum("ij,ij->i", x, v)[:, None] * x


def euler_maruyama(x, h, f, dW, kappa) -> tuple[np.ndarray, int]:
    """Projected Euler–Maruyama: y = x + h f(x) + sqrt(2/kappa) P_perp(x) dW, then normalised by the
    driver. The normalisation supplies the Itô drift -(d-1)/kappa x of Brownian motion on the sphere,
    so the scheme is consistent with L; weak order 1, strong order 1/2 (the noise fields P_perp e_j do
    not commute)."""
    s = _sigma(kappa)
    y = x + h * f(x)
    if s:
        y += s * _tangent(x, dW)
    return y, 1


def lie_euler_maruyama(x, h, f, dW, kappa) -> tuple[np.ndarray, int]:
    """Geodesic Euler–Maruyama: x <- exp_x(h f(x) + sqrt(2/kappa) P_perp(x) dW) (on the sphere by
    construction). Weak order 1, strong order 1/2."""
    s = _sigma(kappa)
    v = h * f(x)
    if s:
        v += s * _tangent(x, dW)
    return exp_map(x, v), 1


def bm_step_variance(h: float, kappa, d: int) -> float:
    """tau^2 of the weak-order-2 Brownian step x <- exp_x(u), u ~ N(0, tau^2 P_perp(x)).

    Brownian motion with generator (1/kappa) Delta on S^{d-1} (sigma^2 = 2/kappa, m = d - 1): the
    spherical mean of radius rho acts on a harmonic of eigenvalue -lam as the normalised Gegenbauer
    polynomial G(cos rho) = 1 - lam rho^2 / (2m) + [lam^2 / (8 m (m+2)) - lam (m-1) / (12 m (m+2))]
    rho^4 + O(rho^6) (checked symbolically for m <= 7). With rho = |u|, E rho^2 = m tau^2,
    E rho^4 = m (m+2) tau^4, matching exp(-lam sigma^2 h / 2) to O(h^3) for every lam needs
    tau^2 = sigma^2 h - (m-1) sigma^4 h^2 / 6 + O(h^3); we take sigma^2 h exp(-(d-2) sigma^2 h / 6)
    (positive for any h). On the circle (d = 2) this is sigma^2 h: the exact rotation.
    """
    if kappa is None:
        return 0.0
    s2 = 2.0 / kappa
    return s2 * h * math.exp(-(d - 2) * s2 * h / 6.0)


def strang(x, h, f, dW, kappa) -> tuple[np.ndarray, int]:
    """Strang splitting, weak order 2 and geometric: half a drift step (Lie midpoint, order 2), a
    Brownian step of weak order 2 (:func:`bm_step_variance`, driven by P_perp dW rescaled), half a
    drift step. Every sub-step is a rotation of each particle, so it stays on the sphere. The generator
    splitting L = A + B gives e^{hA/2} e^{hB} e^{hA/2} = e^{hL} + O(h^3): weak order 2. Strong order
    1/2 like every scheme that uses only the increments of non-commuting noise. 4 field evaluations."""
    y = normalize_rows(lie_midpoint(x, 0.5 * h, f)[0])
    if kappa is not None:
        tau = math.sqrt(bm_step_variance(h, kappa, x.shape[1]) / h)
        y = normalize_rows(exp_map(y, tau * _tangent(y, dW)))
    z, _ = lie_midpoint(y, 0.5 * h, f)
    return z, 4


# --- the residual-stream schemes (Pre-LN, Peri-LN): h = r θ in R^d, no normalisation ---------------
#
# The Lie methods above act on the sphere. For a state h_i = r_i θ_i in R^d they act on the product
# S^{d-1} x R_+ through its polar coordinates: θ̇_i = P⊥(θ_i) F_i / r_i (a rotation of θ_i) and
# ṙ_i = <θ_i, F_i> (a translation of r_i), with F = ḣ the drift. Both steps reduce to the sphere
# versions when F is tangent and r = 1.


def _polar(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.sqrt(np.einsum("ij,ij->i", h, h))[:, None]
    return h / r, r


def _angular(theta: np.ndarray, r: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(angular velocity P⊥(θ) k / r, radial velocity <θ, k>) of the drift k at h = r θ."""
    kr = np.sum(theta * k, axis=-1, keepdims=True)
    return (k - kr * theta) / r, kr


def lie_euler_free(h: np.ndarray, dt: float, f) -> tuple[np.ndarray, int]:
    """Lie–Euler on S^{d-1} x R_+: θ <- exp_θ(dt P⊥(θ) F / r), r <- r + dt <θ, F>. Order 1."""
    theta, r = _polar(h)
    u, v = _angular(theta, r, f(h))
    return (r + dt * v) * exp_map(theta, dt * u), 1


def lie_midpoint_free(h: np.ndarray, dt: float, f) -> tuple[np.ndarray, int]:
    """Lie midpoint (RKMK 2) on S^{d-1} x R_+: the midpoint state from a half Lie–Euler step, then
    θ rotated by exp(dt Ω(θ_m)) and r translated by dt <θ_m, F(h_m)>. Order 2."""
    theta, r = _polar(h)
    u, v = _angular(theta, r, f(h))
    tm = normalize_rows(exp_map(theta, 0.5 * dt * u))
    rm = r + 0.5 * dt * v
    um, vm = _angular(tm, rm, f(rm * tm))
    return (r + dt * vm) * rotate_in_plane(theta, tm, um, dt), 2


# the stochastic methods on a residual stream (Pre-/Peri-LN) integrate the noiseless drift (noise is
# Brownian motion on the sphere, so a noisy Dynamics keeps its state on the sphere)


def euler_free(h: np.ndarray, dt: float, f) -> tuple[np.ndarray, int]:
    """Euler–Maruyama without noise on a residual stream: h <- h + dt F(h). Order 1."""
    return h + dt * f(h), 1


def strang_free(h: np.ndarray, dt: float, f) -> tuple[np.ndarray, int]:
    """Strang without noise on a residual stream: two Lie-midpoint half steps on S^{d-1} x R_+."""
    y, _ = lie_midpoint_free(h, 0.5 * dt, f)
    z, _ = lie_midpoint_free(y, 0.5 * dt, f)
    return z, 4
