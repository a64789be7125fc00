"""The states the analyses take: one state (n, d) or saved states (T, n, d), checked once (finite,
entries small enough that their inner products stay within float64); a store's frames stay lazy."""

from __future__ import annotations

import numpy as np

from ..errors import ParticlesError, real_array
from ..field import check_points


def _lazy(xs) -> bool:
    """Saved states read on demand (:class:`particles.storage.zarr.Frames`): iterate, never load whole."""
    return bool(getattr(xs, "lazy", False))


#: the largest entry of the states the analyses take: products of two entries stay within float64
MAX_ENTRY = 1e150


def bounded_points(x, name: str = "x") -> np.ndarray:
    """:func:`particles.field.check_points`, and entries within :data:`MAX_ENTRY` in magnitude:
    the inner products <x_i, x_j> the analyses form must stay within float64."""
    x = check_points(x, name)
    if np.max(np.abs(x)) > MAX_ENTRY:
        raise ParticlesError(
            f"{name} has entries beyond {MAX_ENTRY:g} in magnitude: their products overflow float64"
        )
    return x


def _states(xs, name: str = "xs") -> tuple[np.ndarray | None, np.ndarray]:
    """(t or None, xs (T, n, d)) from a Trajectory (its token directions) or an array of saved
    states; lazy frames of a store stay lazy."""
    if hasattr(xs, "t") and hasattr(xs, "x"):  # a Trajectory: its token directions
        if hasattr(xs, "require_states"):
            xs.require_states()
        states = xs.theta if hasattr(xs, "theta") else xs.x
        t = np.asarray(xs.t, dtype=np.float64)
        return t, states if _lazy(states) else np.asarray(states, dtype=np.float64)
    if _lazy(xs):
        if xs.shape[0] == 0:
            raise ParticlesError(f"{name} is empty (shape {xs.shape})")
        return None, xs
    arr = real_array(xs, name, "(T, n, d)")
    if arr.ndim != 3:
        raise ParticlesError(f"{name} must have shape (T, n, d), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ParticlesError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ParticlesError(f"{name} has non-finite entries")
    if np.max(np.abs(arr)) > MAX_ENTRY:
        raise ParticlesError(
            f"{name} has entries beyond {MAX_ENTRY:g} in magnitude: their products overflow float64"
        )
    return None, arr


# --- one configuration ------------------------------------------------------------------------
