"""One fixed step of each method: ``(x, h, f) -> (y, nfev)`` with ``x`` (n, d) on the sphere, ``f`` the
vector field (a function of the state), ``y`` the new state *before* normalisation (the driver
normalises every step), ``nfev`` the number of field evaluations.

Explicit Runge–Kutta methods need no function here: :func:`explicit_rk` steps any
:class:`~particles.solvers.registry.Tableau`.
"""

from __future__ import annotations

import numpy as np

from ..sphere import exp_map, normalize_rows, rotate_in_plane


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
