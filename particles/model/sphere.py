"""Geometry of the unit sphere S^{d-1}: sampling, normalising, tangent projection, exponential map."""

from __future__ import annotations

import numpy as np

from ..errors import ParticlesError, count
from ..resources import check_memory


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator, an integer seed >= 0, or None (fresh entropy); what
    else :func:`numpy.random.default_rng` takes (a SeedSequence, a list of seeds) passes too."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (bool, int, np.integer)):
        return np.random.default_rng(count(rng, "seed", 0))
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError):
        raise ParticlesError(
            f"rng must be a numpy Generator, an int seed or None, got {rng!r}"
        ) from None


def random_points(n: int, d: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """n points drawn i.i.d. uniformly on S^{d-1}: normalised standard Gaussians. Shape (n, d)."""
    n = count(n, "n (the number of particles)")
    d = count(d, "d (particles live on S^(d-1))", 2)
    check_memory(2 * 8.0 * n * d, f"{n} points in dimension {d}")
    g = as_rng(rng).standard_normal((n, d))
    return normalize(g)


def rescale_rows(x: np.ndarray) -> np.ndarray:
    """``x`` (..., d) with each row whose squared norm is not a normal float64 (a row of subnormal
    entries, whose square underflows to 0, or of entries above 1e154, whose square overflows)
    divided by its largest entry in absolute value, so that it can be normalised; other rows, and
    zero rows, are left as they are (bit for bit). A float64 array (a new one where rows were
    scaled); non-finite entries are an error."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ParticlesError("cannot normalise rows with NaN or infinite entries onto the sphere")
    if x.ndim == 0 or x.size == 0:
        return x
    with np.errstate(over="ignore", under="ignore"):
        ss = np.einsum("...i,...i->...", x, x)
    bad = ((ss < np.finfo(np.float64).tiny) | ~np.isfinite(ss)) & np.any(x != 0, axis=-1)
    if np.any(bad):
        scale = np.max(np.abs(x[bad]), axis=-1, keepdims=True)
        x = x.copy()
        x[bad] = x[bad] / scale
    return x


def normalize(x: np.ndarray) -> np.ndarray:
    """x_i / |x_i| row by row (a new array), for any leading shape (..., d). A zero row is an error.

    This divides by the norm (as numpy does); :func:`normalize_rows` is the per-step version. Rows
    too small or too large to square in float64 are scaled first (:func:`rescale_rows`).
    """
    from ..errors import real_array

    x = rescale_rows(real_array(x, "x", "(..., d)"))
    if x.ndim == 0:
        raise ParticlesError("x must be an array of vectors (..., d), got a scalar")
    nrm = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(nrm == 0):
        raise ParticlesError("cannot normalise a zero vector onto the sphere")
    return x / nrm


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """x_i * (1 / |x_i|) for every row of ``x`` (n, d): a new C-contiguous float64 array.

    The renormalisation after every fixed step (LayerNorm as projection, arXiv 2312.10794, Sect. 2),
    by the numba kernel ``_normalize_rows`` (threaded for large n). No check for zero rows: the
    states it sees are perturbations of unit vectors.
    """
    from . import kernels

    y = np.array(x, dtype=np.float64, order="C")
    kernels.pick(kernels._normalize_rows, y.size)(y)
    return y


def project_tangent(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """P_perp(x_i) v_i = v_i - <x_i, v_i> x_i, row by row."""
    return v - np.sum(x * v, axis=-1, keepdims=True) * x


def exp_map(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Riemannian exponential map on the sphere: cos|v| x + sin|v| v/|v| (v tangent at x)."""
    nv = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(nv > 1e-12, np.sin(nv) / np.where(nv > 0, nv, 1.0), 1.0 - nv**2 / 6.0)
    return np.cos(nv) * x + sinc * v


def rotate_in_plane(x: np.ndarray, p: np.ndarray, u: np.ndarray, h: float) -> np.ndarray:
    """Apply exp(h Omega_i) to x_i, with Omega_i = u_i p_i^T - p_i u_i^T (a rotation of R^d).

    ``p`` (n, d) are unit vectors and ``u`` (n, d) tangent vectors at ``p`` (u_i ⟂ p_i). Omega_i rotates
    the plane span(p_i, u_i) by the angle h |u_i| and fixes its orthogonal complement, so x_i keeps its
    norm exactly. With x = p this is the exponential map exp_p(h u).
    """
    nu = np.linalg.norm(u, axis=-1, keepdims=True)
    safe = np.where(nu > 0, nu, 1.0)
    e = np.where(nu > 0, u / safe, 0.0)  # unit direction in the plane, ⟂ p
    xp = np.sum(x * p, axis=-1, keepdims=True)
    xe = np.sum(x * e, axis=-1, keepdims=True)
    th = h * nu
    c, s = np.cos(th), np.sin(th)
    # in-plane coordinates (xp, xe) rotate: p -> c p + s e, e -> -s p + c e
    return x + (c - 1.0) * (xp * p + xe * e) + s * (xp * e - xe * p)
