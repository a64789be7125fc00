"""Order parameter and harmonic modes of particle configurations: r = |mean_i x_i| and the
amplitudes m_l = sqrt(mean_ij P_l(<x_i, x_j>)) of the degree-l spherical-harmonic part of the
empirical measure (P_l the Gegenbauer polynomial of S^{d-1} with P_l(1) = 1; m_1 = r; on the circle
m_l = |mean_i exp(i l theta_i)|, the Fourier modes). In the linear regime around the uniform state
m_l grows like exp(lambda_l t) with the rates of :func:`particles.meanfield.growth_rates`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParticlesError, count, real_array
from ..solvers import kernels


def _states(x) -> np.ndarray:
    a = real_array(x, "x", "(n, d) or (T, n, d) (points)")
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[2] < 2 or a.shape[1] < 1:
        raise ParticlesError(f"expected points (n, d) or (T, n, d) with d >= 2, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParticlesError("the points have non-finite entries")
    if np.max(np.abs(a)) > 1e150:
        raise ParticlesError(
            "the points have entries beyond 1e150: their products overflow float64"
        )
    return a


def _lazy(x) -> bool:
    """Saved states of a zarr store (:class:`particles.storage.zarr.Frames`): read one at a time."""
    return bool(getattr(x, "lazy", False))


def order_parameter(x) -> np.ndarray | float:
    """r = |mean_i x_i| of ``x`` (n, d) (a float) or of each state of ``x`` (T, n, d) (shape (T,));
    the states of a zarr store (``Trajectory.load("run.zarr").x``) are read one at a time."""
    if _lazy(x):
        return np.array([order_parameter(f) for f in x])
    a = _states(x)
    r = np.linalg.norm(a.mean(axis=1), axis=-1)
    return float(r[0]) if np.ndim(x) == 2 else r


def harmonic_modes(x, modes: int = 8) -> np.ndarray:
    """m_1..m_modes of ``x`` (n, d) (shape (modes,)) or of each state of ``x`` (T, n, d) (shape
    (T, modes)); O(n^2 modes) per state (the Gram matrix), or O(n modes) on the circle (Fourier).
    The states of a zarr store are read one at a time."""
    modes = count(modes, "modes", 1, 10**4)
    if _lazy(x):
        return np.array([harmonic_modes(f, modes) for f in x]).reshape(len(x), modes)
    a = _states(x)
    T, n, d = a.shape
    out = np.empty((T, modes))
    for t in range(T):
        if d == 2:
            th = np.arctan2(a[t, :, 1], a[t, :, 0])
            out[t] = np.abs(np.exp(-1j * np.outer(np.arange(1, modes + 1), th)).mean(axis=1))
        else:
            kernels._harmonic_modes(np.ascontiguousarray(a[t] @ a[t].T), d, out[t])
    return out[0] if np.ndim(x) == 2 else out
