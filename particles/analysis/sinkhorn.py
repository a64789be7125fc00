"""Sinkhorn attention's theory (Sander, Ablin, Blondel, Peyré, arXiv 2110.11773), as measurable
quantities: the functional whose gradient flow the Sinkformer is, the asymmetry that rules one out
for SoftMax, and the heat-diffusion limit.

Only the paper's abstract and the first paragraph of its §1 (up to its eq. (1), the residual form
of self-attention) could be read; ``docs/papers.md`` lists which statements below are the paper's
and which are ours.

**Gradient flow.** The paper's statement (arXiv 2110.11773, abstract): unlike SoftMax, Sinkhorn's
normalisation makes the iterations of self-attention "a discretized gradient-flow for the
Wasserstein metric". The functional and its constant are ours: with a symmetric interaction
W = Q^T K = K^T Q and values V = W, the flow is that of F(mu) = 1/2 OT_eps(mu, mu), the entropic
optimal-transport cost of mu to itself with cost c(x, y) = -<Q x, K y> and eps = 1/beta. For the
empirical measure mu = (1/n) sum_i delta_{x_i} the transport plan is K^inf / n and, with Sinkhorn's
potentials f, g (K^inf_ij = exp(beta <Q x_i, K x_j> + f_i + g_j), :mod:`particles.field.sinkhorn`),
the value is

    F(x) = (log n + mean_i f_i + mean_j g_j) / (2 beta)            (:func:`ot_energy`)

(the dual objective at the optimum: the rows and columns of K^inf sum to 1). By the envelope
theorem, dF/dx_i = -(1/n) sum_j K^inf_ij W x_j (both marginals move, K^inf is symmetric). So the
unprojected SK field u_i = sum_j K^inf_ij V x_j is -n grad_i F in R^d, and on the sphere
xdot_i = P_perp(x_i) u_i is -n times the Riemannian gradient: along any SK trajectory

    dF/dt = -(1/n) sum_i |xdot_i|^2                                 (:func:`dissipation`)

(ours, on the sphere; measured in ``tests/test_sinkhorn_theory.py``: the constant 1/2 is the one
for which this identity holds). SoftMax (SA) has no such functional in general: its field with the
same weights has a Jacobian that is not symmetric, so it is the gradient of no function of the
positions (:func:`jacobian_asymmetry`; USA, the unnormalised kernel, is the gradient of -E_beta:
arXiv 2312.10794 §3).

**Heat diffusion.** The paper's statement (abstract): in the infinite-sample limit, "when rescaling
both attention matrices and depth, Sinkformers operate a heat diffusion"; per arXiv 2509.25040 (§1,
"Related works") that limit is in R^d and appears after subtracting a leading-order term. The
expansion below, on the sphere, is ours. On the sphere <x, y> = 1 - |x - y|^2 / 2, so
exp(beta <x_i, x_j>) is a Gaussian kernel of width beta^(-1/2), and the doubly stochastic scaling
of a Gaussian kernel moves each point by its barycentric displacement
sum_j K^inf_ij x_j - x_i = (1 / (2 beta)) grad log rho(x_i) + O(beta^-2) for points of density rho:
with V = -I and time rescaled by 2 beta the continuity equation is the heat equation
d_t rho = Lap rho (V = +I: the backward heat equation); SoftMax moves points twice as far,
(1 / beta) grad log rho (mean shift; the time scale beta of SoftMax's heat phase on the sphere in
arXiv 2509.25040, Proposition 3.9). :func:`heat_velocity_error` measures both.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParticlesError, finite, real_array, text
from ..field import check_points, sinkhorn, velocity
from ..model.params import Dynamics


def _one_head(dyn: Dynamics) -> None:
    if not isinstance(dyn, Dynamics):
        raise ParticlesError(f"dyn must be a particles.Dynamics, got {type(dyn).__name__}")
    if dyn.heads != 1:
        raise ParticlesError(f"the Sinkhorn functional is defined for one head, got {dyn.heads}")
    if not dyn.beta > 0:
        raise ParticlesError("the Sinkhorn functional needs beta > 0 (eps = 1/beta)")


def ot_energy(x, dyn: Dynamics) -> float:
    """F(x) = 1/2 OT_eps(mu, mu) of the empirical measure of ``x`` (n, d): cost -<Q x, K y>,
    eps = 1/beta, computed from Sinkhorn's potentials to ``dyn.sinkhorn_tol`` (module docstring).
    Any ``kind`` of ``dyn`` (only its beta, Q, K and tolerance are read); one head, beta > 0."""
    _one_head(dyn)
    x = check_points(x)
    dyn.check_dimension(x.shape[1])
    Q, K, _ = dyn.head(0)
    q = x if Q is None else x @ Q.T
    k = x if K is None else x @ K.T
    pot = sinkhorn.solve(q, k, dyn.beta, dyn.sinkhorn_tol, symmetric=sinkhorn.symmetric(dyn, 0))
    n = x.shape[0]
    return float((np.log(n) + pot.f.mean() + pot.g.mean()) / (2.0 * dyn.beta))


def dissipation(x, dyn: Dynamics) -> float:
    """(1/n) sum_i |xdot_i|^2 at ``x``: minus dF/dt along an SK trajectory with V = Q^T K symmetric."""
    v = velocity(x, dyn)
    return float(np.einsum("ij,ij->", v, v) / v.shape[0])


def jacobian_asymmetry(x, dyn: Dynamics, h: float = 1e-5) -> float:
    """|J - J^T|_F / |J|_F for J the Jacobian (central differences, step ``h``) of the unprojected
    field u(x) = sum_j A_ij V x_j in R^{n d}: ~0 where u is a gradient (SK with V = Q^T K
    symmetric; USA with V = I), of order 1 for SA."""
    if not isinstance(dyn, Dynamics):
        raise ParticlesError(f"dyn must be a particles.Dynamics, got {type(dyn).__name__}")
    h = finite(h, "h (the difference step)", "> 0")
    if not (1e-10 <= h <= 0.1):
        raise ParticlesError(f"h (the difference step) must lie in [1e-10, 0.1], got {h:g}")
    x = check_points(x)
    dyn.check_dimension(x.shape[1])
    n, d = x.shape
    if n * d > 400:
        raise ParticlesError(
            f"jacobian_asymmetry takes 2 n d = {2 * n * d} field evaluations and an (n d)^2 "
            "matrix: keep n d <= 400"
        )
    J = np.empty((n * d, n * d))
    for c in range(n * d):
        e = np.zeros(n * d)
        e[c] = h
        up = velocity(x + e.reshape(n, d), dyn, project=False, method="exact")
        dn = velocity(x - e.reshape(n, d), dyn, project=False, method="exact")
        J[:, c] = (up - dn).ravel() / (2 * h)
    return float(np.linalg.norm(J - J.T) / np.linalg.norm(J))


def heat_velocity_error(theta, dlogrho, beta: float, kind: str = "SK") -> float:
    """Relative L2 error of c beta <xdot_i, e_theta> against d/dtheta log rho(theta_i) on the circle
    (points at angles ``theta``, Q = K = V = I), with c = 2 for SK and 1 for SA: the first-order
    heat-diffusion (SK) and mean-shift (SA) velocities of the module docstring; O(1/beta)."""
    theta = real_array(theta, "theta", "(n,)", finite=True)
    dlogrho = real_array(dlogrho, "dlogrho", "(n,)", finite=True)
    if theta.ndim != 1 or theta.size == 0 or dlogrho.shape != theta.shape:
        raise ParticlesError(
            f"theta and dlogrho must be vectors of one length n >= 1, got shapes {theta.shape} "
            f"and {dlogrho.shape}"
        )
    size = float(np.max(np.abs(dlogrho)))
    if not (1e-150 <= size <= 1e150):
        raise ParticlesError(
            f"dlogrho must have entries of moderate size (max |dlogrho| in [1e-150, 1e150]), "
            f"got {size:g}: the relative error is not representable otherwise"
        )
    beta = finite(beta, "beta", "> 0")
    kind = text(kind, "kind").upper()
    if kind not in ("SK", "SA"):
        raise ParticlesError(f"kind must be 'SK' or 'SA', got {kind!r}")
    if np.max(np.abs(theta)) > 1e6:
        raise ParticlesError("theta must be angles of moderate size (|theta| <= 1e6)")
    x = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    e = np.stack([-np.sin(theta), np.cos(theta)], axis=1)
    v = velocity(x, Dynamics(beta=beta, kind=kind), method="exact")
    c = {"SK": 2.0, "SA": 1.0}[kind]
    w = c * beta * np.einsum("ij,ij->i", v, e)
    return float(np.linalg.norm(w - dlogrho) / np.linalg.norm(dlogrho))
