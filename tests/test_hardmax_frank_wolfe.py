"""The hardmax layer map against the positive definite case of arXiv 2508.09628 (§4, Theorem 4.2
and Proposition 4.5, numbered as in a public transcription of the arXiv source; see
docs/papers.md): with B = A symmetric positive definite and vertices of equal A-norm, every
interior token attends to the vertex of its A-norm Voronoi cell, stays in that cell, and follows
the closed form x_i^t - v = (1 - gamma)^t (x_i^0 - v), gamma = alpha / (1 + alpha)."""

from __future__ import annotations

import numpy as np
import pytest

from particles.analysis import hardmax as H


def _polygon_with_interior(k, A, n_inner, seed):
    """k vertices of equal A-norm 1 (a regular k-gon mapped by A^(-1/2)) and n_inner points
    strictly inside their convex hull (random convex combinations)."""
    w, U = np.linalg.eigh(A)
    A_mhalf = U @ np.diag(w**-0.5) @ U.T
    ang = 2 * np.pi * np.arange(k) / k
    v = np.stack([np.cos(ang), np.sin(ang)], axis=1) @ A_mhalf.T
    rng = np.random.default_rng(seed)
    lam = rng.dirichlet(np.full(k, 2.0), size=n_inner)
    return v, lam @ v


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("alpha", [0.25, 1.0, 4.0])
def test_interior_tokens_follow_the_closed_form(k, alpha):
    M = np.array([[2.0, 0.6], [0.6, 1.0]])
    A = M @ M.T  # symmetric positive definite
    v, inner = _polygon_with_interior(k, A, 40, seed=k)
    z0 = np.vstack([v, inner])
    assert list(H.leaders(z0, A)) == list(range(k))  # the vertices, and only they, lead
    # Proposition 4.5: the cell of an interior token (its hardmax target) is its nearest vertex in
    # the A-norm
    diff = inner[:, None, :] - v[None, :, :]
    nearest = np.argmin(np.einsum("nkd,de,nke->nk", diff, A, diff), axis=1)
    scores = (inner @ A.T) @ v.T
    assert np.array_equal(np.argmax(scores, axis=1), nearest)
    # Theorem 4.2, constant step: straight to the cell's vertex, distance times (1 - gamma)
    T = 12
    traj = H.layers(z0, T, A=A, alpha=alpha)
    c = 1.0 / (1.0 + alpha)
    target = v[nearest]
    for t in range(T + 1):
        expect = target + c**t * (inner - target)
        np.testing.assert_allclose(traj[t, k:], expect, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(traj[:, :k], np.broadcast_to(v, (T + 1, k, 2)))
