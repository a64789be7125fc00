"""Interaction energy E_beta and pairwise diagnostics, all in O(n d + tile) memory.

E_beta(X) = 1/(2 beta n^2) sum_{i,j} exp(beta <x_i, x_j>)   (arXiv 2312.10794, eq. 3.5; Rem. 3.8).
It lies between the uniform-measure value and the Dirac value e^beta / (2 beta); it is
non-decreasing along SA and USA and non-increasing along USA with V = -I.
"""

from __future__ import annotations

import numpy as np

from .. import config
from ..errors import ParticlesError, finite
from ..model.params import check_beta
from .states import _states, bounded_points


def _row_blocks(n: int, size: int | None = None):
    size = size or config.TILE_ROWS
    for r0 in range(0, n, size):
        yield r0, min(n, r0 + size)


def energy(x, beta: float) -> float:
    """E_beta(X) for X (n, d): (1/(2 beta n^2)) sum_ij e^{beta <x_i, x_j>}, i.e. E_beta of the empirical
    measure in the normalisation of arXiv 2312.10794 (3.5) and of arXiv 2512.01868 eq. (3). At beta = 0
    returns the limit of E_beta - 1/(2 beta): |mean x|^2 / 2."""
    x = bounded_points(x)
    beta = check_beta(finite(beta, "beta", ">= 0"))
    n = x.shape[0]
    if beta == 0.0:
        m = x.mean(axis=0)
        return 0.5 * float(m @ m)
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for r0, r1 in _row_blocks(n):
            total += float(np.exp(beta * (x[r0:r1] @ x.T)).sum())
        e = total / (2.0 * beta * n * n)
    if np.isfinite(e):
        return e
    return _energy_log_domain(x, beta)


def _energy_log_domain(x: np.ndarray, beta: float) -> float:
    """E_beta from shifted exponentials (log-sum-exp), for when the plain sum overflows; a
    :class:`ParticlesError` when E_beta itself is beyond the float64 range."""
    n = x.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        m = max(float((beta * (x[r0:r1] @ x.T)).max()) for r0, r1 in _row_blocks(n))
        if not np.isfinite(m):
            raise ParticlesError(
                f"energy: the exponents beta <x_i, x_j> overflow float64 (beta = {beta:g}, "
                f"max |x_i| = {float(np.sqrt(np.max(np.einsum('ij,ij->i', x, x)))):.3g})"
            )
        s = sum(float(np.exp(beta * (x[r0:r1] @ x.T) - m).sum()) for r0, r1 in _row_blocks(n))
        log_e = m + np.log(s) - np.log(2.0 * beta * n * n)
    if not log_e < np.log(np.finfo(np.float64).max):
        raise ParticlesError(
            f"energy E_beta overflows float64 at beta = {beta:g} (log E_beta = {log_e:.1f})"
        )
    return float(np.exp(log_e))


def gram(x) -> np.ndarray:
    """All pairwise inner products <x_i, x_j>, shape (n, n). Only for moderate n."""
    x = bounded_points(x)
    return x @ x.T


def min_inner_product(x) -> float:
    """min_{i != j} <x_i, x_j> (1 means a single cluster); 1.0 when n = 1."""
    x = bounded_points(x)
    n = x.shape[0]
    if n == 1:
        return 1.0
    best = np.inf
    for r0, r1 in _row_blocks(n):
        g = x[r0:r1] @ x.T
        idx = np.arange(r0, r1)
        g[idx - r0, idx] = np.inf
        best = min(best, float(g.min()))
    return best


def mean_inner_product(x) -> float:
    """mean_{i != j} <x_i, x_j> = (|sum x_i|^2 - sum |x_i|^2) / (n (n - 1)); 1.0 when n = 1."""
    x = bounded_points(x)
    n = x.shape[0]
    if n == 1:
        return 1.0
    s = x.sum(axis=0)
    return float((s @ s - np.sum(x * x)) / (n * (n - 1)))


def energy_over_time(xs, beta: float) -> np.ndarray:
    """:func:`energy` at every saved time of a Trajectory (its directions) or of states (T, n, d):
    (T,). The states of a zarr store are read one at a time. (``Trajectory.energy()`` also handles
    Piecewise dynamics.)"""
    _, states = _states(xs)
    return np.array([energy(x, beta) for x in states])
