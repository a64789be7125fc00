"""The mean-field Sinkhorn (SK) dynamics: the density's potentials, velocity and functional on the
circle (d = 2) and on S^2 (d = 3), with identity weights Q = K = V = I.

**Equation** (derived here from the particle field of :mod:`particles.field.sinkhorn`, arXiv
2110.11773). For n particles drawn from a density rho (with respect to the normalised measure
dsigma: dtheta / 2pi on the circle, the area / 4pi on S^2), the doubly stochastic matrix is
K^inf_ij ~ (1/n) P(x_i, x_j) with the symmetric plan

    P(x, y) = exp(beta <x, y> + f(x) + f(y)),    int P(x, y) rho(y) dsigma(y) = 1 for every x,

i.e. the potential f solves the symmetric Sinkhorn fixed point (the column equation is the same
one: the logits are symmetric, so f = g)

    f(x) = -log int exp(beta <x, y> + f(y)) rho(y) dsigma(y) = -log (h * (e^f rho))(x),

h the kernel e^{beta <x, y>}, diagonal in the Fourier modes (I_k(beta)) and the spherical harmonics
(Funk–Hecke: i_l(beta)). The particle velocity P_perp(x_i) sum_j K^inf_ij x_j tends to

    X[rho](x) = P_perp_x int P(x, y) y rho(y) dsigma(y) = (1/beta) grad log (h * (e^f rho))(x)
              = -(1/beta) grad f(x),

SA's field (1/beta) grad log (h * rho) with rho reweighted by e^f. The continuity equation
d_t rho + div(rho X[rho]) = (1/kappa) Lap rho is stepped by the same ETDRK4 solvers as SA and USA
(:func:`particles.meanfield.solve_circle`, :func:`particles.meanfield.sphere.solve_sphere` with
``kind="SK"``); each evaluation of the transport term solves the fixed point on the grid by
Sinkhorn's averaged iteration (:func:`particles.field.sinkhorn.iterate`, the particles' iteration
and stopping test) to :data:`TOL`.

**Functional.** The particles' F = (log n + mean_i f_i + mean_j g_j) / (2 beta) = 1/2 OT_eps(mu, mu)
(:func:`particles.analysis.sinkhorn.ot_energy`; cost -<x, y>, eps = 1/beta) has the limit

    F[rho] = (1/beta) int f rho dsigma                                         (:func:`energy`),

and, X = -grad (f / beta) being the Wasserstein gradient of F, along the noiseless equation
dF/dt = -int |X|^2 rho dsigma; with noise the free energy F + (1/kappa) int rho log rho decreases
(derived here; measured in tests/test_meanfield_sinkhorn.py).

**Linear theory** (derived here). At the uniform density f is constant; a perturbation rho = 1 +
eps Y (Y a mode of eigenvalue -lambda of the Laplacian, lambda = k^2 on the circle, l (l + d - 2) on
S^{d-1}) gives f_1 = -a/(1 + a) Y with a = a_l(beta) / a_0(beta) (the Funk–Hecke eigenvalues of
e^{beta <x, y>}: I_k(beta) / I_0(beta) on the circle), so the mode grows at the rate
lambda (a / (beta (1 + a)) - 1/kappa): SA's rate lambda (a / beta - 1/kappa) with a replaced by
a / (1 + a), in any d (:func:`particles.meanfield.growth_rates` with ``kind="SK"``). The threshold
is kappa_c(SK) = beta (1 + a_0 / a_1) = kappa_c(SA) + beta (mode 1 is the first to grow:
:func:`particles.meanfield.critical_kappa`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ive

from ..errors import ParticlesError, finite, real_array
from ..field import sinkhorn

#: the tolerance of the mean-field Sinkhorn iteration (on the marginals, as ``sinkhorn_tol``)
TOL = 1e-12


def _beta(beta) -> float:
    beta = finite(beta, "beta", ">= 0")
    if beta > 1e4:
        raise ParticlesError(f"beta must be at most 1e4 for the mean-field solvers, got {beta:g}")
    return beta


def _positive(H: np.ndarray) -> np.ndarray:
    if not np.all(H > 0):
        raise ParticlesError(
            "the smoothed density h * (e^f rho) is not positive on the grid: the density is "
            "under-resolved (raise the resolution or reduce beta)"
        )
    return np.log(H)


# --- the circle ---------------------------------------------------------------------------------------


def _rfft(f):
    return np.fft.rfft(f) / f.shape[-1]


def _irfft(c, N):
    return np.fft.irfft(c * N, n=N)


def circle_potential(rho, beta: float, tol: float = TOL) -> np.ndarray:
    """The Sinkhorn potential f of the density ``rho`` (values on N equispaced angles 2 pi j / N,
    mean 1) on the circle: f = -log (h * (e^f rho)) to ``tol`` (module docstring). Shape (N,)."""
    rho = real_array(rho, "rho (grid values)", "(N,)", finite=True).ravel()
    beta = _beta(beta)
    N = rho.shape[0]
    Ik = ive(np.arange(N // 2 + 1), beta)  # I_k(beta) e^{-beta}

    def row_pass(g):
        mg = float(g.max())
        return -(beta + mg + _positive(_irfft(Ik * _rfft(np.exp(g - mg) * rho), N)))

    return sinkhorn.iterate(row_pass, None, N, tol, symmetric=True, beta=beta).f


def circle_reweighted(c, beta: float, tol: float = TOL) -> np.ndarray:
    """Fourier coefficients (k = 0..N/2, ``_rfft`` convention) of e^{f - max f} rho for the
    density with coefficients ``c``: SK's velocity is SA's formula applied to them."""
    N = 2 * (c.shape[0] - 1)
    rho = _irfft(c, N)
    f = circle_potential(rho, beta, tol)
    return _rfft(np.exp(f - f.max()) * rho)


def circle_velocity(rho, beta: float, theta=None, tol: float = TOL) -> np.ndarray:
    """X[rho] = (1/beta) d_theta log (h * (e^f rho)) on the circle, at the grid angles or at the
    angles ``theta`` (any, by the Fourier series of h * (e^f rho): the fixed point extends f off
    the grid). ``rho``: values on N equispaced angles."""
    rho = real_array(rho, "rho (grid values)", "(N,)", finite=True).ravel()
    beta = _beta(beta)
    N = rho.shape[0]
    th = None if theta is None else real_array(theta, "theta", finite=True).ravel()
    if th is None:
        th = 2 * np.pi * np.arange(N) / N
    if beta == 0.0:  # the Kuramoto field (P = 1): int sin(phi - theta) rho = -Im(rho_1 e^{i theta})
        return -np.imag(_rfft(rho)[1] * np.exp(1j * th))
    w = circle_reweighted(_rfft(rho), beta, tol)
    k = np.arange(w.shape[0])
    g = ive(k, beta) * w
    wk = np.where(k > 0, 2.0, 1.0)
    if N % 2 == 0:
        wk[-1] = 1.0  # the Nyquist mode counts once
    E = np.exp(1j * np.outer(th, k))
    H = np.real(E @ (wk * g))
    dH = np.real(E @ (wk * 1j * k * g))
    return dH / (beta * H)


def energy(rho, beta: float, tol: float = TOL) -> float:
    """F[rho] = (1/beta) int f rho dsigma on the circle (``rho``: values on N equispaced angles,
    mean 1): the limit of the particles' 1/2 OT_eps(mu, mu) (module docstring)."""
    rho = real_array(rho, "rho (grid values)", "(N,)", finite=True).ravel()
    beta = _beta(beta)
    if beta == 0.0:
        raise ParticlesError("the Sinkhorn functional needs beta > 0 (eps = 1/beta)")
    f = circle_potential(rho, beta, tol)
    return float(np.mean(f * rho) / beta)


# --- the sphere S^2 -------------------------------------------------------------------------------------


def sphere_energy(sol, i: int = -1, tol: float = TOL) -> float:
    """F[rho] = (1/beta) int f rho dsigma for save ``i`` of a
    :class:`particles.meanfield.sphere.SphereSolution` (any kind; beta > 0)."""
    from . import sphere as S

    beta = _beta(sol.params["beta"])
    if beta == 0.0:
        raise ParticlesError("the Sinkhorn functional needs beta > 0 (eps = 1/beta)")
    L = sol.params["L"]
    g = S.Grid.for_degree(L)
    rho = g.synthesis(sol.alm[i])
    f = S.sinkhorn_potential(g, rho, S.bessel_table(beta, L)[S.degrees(L)], beta, tol)
    return float(np.sum(g.weights() * f * rho) / beta)


def sphere_velocity_at(points, sol, i: int = -1, tol: float = TOL) -> np.ndarray:
    """X[rho](x) at unit vectors ``points`` (m, 3) for save ``i`` of a sphere solution: the fixed
    point's extension f(x) = -log int e^{beta <x,y> + f(y)} rho(y) dsigma(y) by the grid's
    quadrature, and X(x) = P_perp_x int e^{beta <x,y> + f(x) + f(y)} y rho(y) dsigma(y)."""
    from . import sphere as S

    beta = _beta(sol.params["beta"])
    L = sol.params["L"]
    g = S.Grid.for_degree(L)
    rho = g.synthesis(sol.alm[i])
    f = S.sinkhorn_potential(g, rho, S.bessel_table(beta, L)[S.degrees(L)], beta, tol)
    y = g.points().reshape(-1, 3)
    wy = (g.weights() * rho * np.exp(f - f.max())).ravel()
    x = real_array(points, "points", "(m, 3)", finite=True).reshape(-1, 3)
    logits = beta * (x @ y.T)
    logits -= logits.max(axis=1, keepdims=True)
    E = np.exp(logits) * wy[None, :]
    u = (E @ y) / E.sum(axis=1, keepdims=True)
    return u - np.einsum("ij,ij->i", u, x)[:, None] * x
