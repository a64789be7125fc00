"""The records that both file formats store: a run's dynamics as (metadata, arrays) and back,
and the checks of saved times, states and metadata (what a file must hold to be read back)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ParticlesError
from ..model.params import Dynamics, Piecewise


def dynamics_to_record(dyn: Dynamics | Piecewise) -> tuple[dict, dict]:
    """(metadata, arrays) for a Dynamics or a Piecewise schedule."""
    if isinstance(dyn, Piecewise):
        segs, arrays = [], {}
        for k, (d, dur) in enumerate(dyn.segments):
            meta, arr = d.to_record(prefix=f"seg{k}_")
            segs.append({"duration": dur, **meta})
            arrays.update(arr)
        return {"piecewise": segs}, arrays
    return dyn.to_record(prefix="dyn_")


#: record fields that hold numbers (a string there is a lying file, not a number)
_NUMBER_FIELDS = ("beta", "alpha", "t_switch", "t_offset", "kappa", "duration")


def _check_dynamics_record(m, what: str) -> None:
    if not isinstance(m, dict):
        raise ParticlesError(f"{what} must be a record (a JSON object), got {type(m).__name__}")
    for k in _NUMBER_FIELDS:
        v = m.get(k)
        if v is not None and (isinstance(v, (bool, str)) or not isinstance(v, (int, float))):
            raise ParticlesError(f"{what}: {k} must be a number, got {v!r}")
    for k in ("kind", "norm"):
        if k in m and not isinstance(m[k], str):
            raise ParticlesError(f"{what}: {k} must be a string, got {m[k]!r}")
    for k in ("Q", "K", "V"):
        v = m.get(k, "identity")
        if v not in ("identity", "array") and (
            isinstance(v, (bool, str)) or not isinstance(v, (int, float))
        ):
            raise ParticlesError(f"{what}: {k} must be 'identity', 'array' or a number, got {v!r}")
    if "ffn" in m and m["ffn"] is not None and m["ffn"] is not False:
        if not isinstance(m["ffn"], dict) or not isinstance(m["ffn"].get("activation"), str):
            raise ParticlesError(f"{what}: ffn must be a record with an activation")


def dynamics_from_record(meta: dict, arrays: dict) -> Dynamics | Piecewise:
    """The Dynamics (or Piecewise) of a record written by :func:`dynamics_to_record`, re-validated
    by their constructors; a :class:`ParticlesError` for a record that is not one."""
    try:
        if isinstance(meta, dict) and "piecewise" in meta:
            recs = meta["piecewise"]
            if not isinstance(recs, list) or not recs:
                raise ParticlesError("piecewise must be a non-empty list of segment records")
            segs = []
            for k, m in enumerate(recs):
                _check_dynamics_record(m, f"segment {k}")
                segs.append((Dynamics.from_record(m, arrays, prefix=f"seg{k}_"), m["duration"]))
            return Piecewise(segments=segs)
        _check_dynamics_record(meta, "dynamics")
        return Dynamics.from_record(meta, arrays, prefix="dyn_")
    except ParticlesError as e:
        raise ParticlesError(f"bad dynamics record: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise ParticlesError(f"bad dynamics record ({type(e).__name__}: {e})") from None


#: a saved state of a scheme on the sphere (Post-LN, nGPT, LN-Scaling) must have every |x_i|
#: within this of 1 (simulate keeps them within ~1e-12)
SPHERE_TOL = 1e-6
#: meta fields that are numbers or None, and integers or None
_META_NUMBERS = ("dt", "rtol", "atol", "t_end")
_META_INTS = ("seed", "noise_seed", "n", "d")
#: numpy's bit generators, whose states a noisy run records (``rng_state``)
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


def _as_array(a, where: str, what: str) -> np.ndarray:
    """``np.asarray(a)``, or a :class:`ParticlesError` for ragged or odd objects."""
    try:
        return np.asarray(a)
    except (TypeError, ValueError, OverflowError):
        raise ParticlesError(f"{where}: {what} must be a real numeric array (not ragged)") from None


def check_times(t, where: str) -> np.ndarray:
    """Save times: a 1-D real array, finite, strictly increasing; else a :class:`ParticlesError`."""
    t = _as_array(t, where, "the save times t")
    if t.dtype.kind not in "fiu":
        raise ParticlesError(f"{where}: the save times t must be real numbers, got dtype {t.dtype}")
    t = t.astype(np.float64, copy=False)
    if t.ndim != 1:
        raise ParticlesError(f"{where}: the save times t must be 1-D, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        k = int(np.flatnonzero(~np.isfinite(t))[0])
        raise ParticlesError(f"{where}: save time {k} is {t[k]} (not finite)")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        k = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise ParticlesError(
            f"{where}: the save times are not strictly increasing (t[{k}] = {t[k]:g}, "
            f"t[{k + 1}] = {t[k + 1]:g})"
        )
    return t


def check_states(x, where: str, on_sphere: bool, first: int = 0) -> np.ndarray:
    """Saved states (k, n, d) or one state (n, d): real, finite and, ``on_sphere``, every row of
    norm 1 within :data:`SPHERE_TOL`; ``first`` numbers the states in messages."""
    x = _as_array(x, where, "the states x")
    if x.dtype.kind not in "fiu":
        raise ParticlesError(f"{where}: the states x must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    one = x.ndim == 2
    xs = x[None] if one else x
    bad = ~np.all(np.isfinite(xs), axis=(1, 2))
    if bad.any():
        k = first + int(np.flatnonzero(bad)[0])
        raise ParticlesError(
            f"{where}: saved state {k} has non-finite entries (a corrupted or missing chunk?)"
        )
    if on_sphere and xs.size:
        dev = np.abs(np.sqrt(np.einsum("tij,tij->ti", xs, xs)) - 1.0).max(axis=1)
        if np.any(dev > SPHERE_TOL):
            k = int(np.flatnonzero(dev > SPHERE_TOL)[0])
            raise ParticlesError(
                f"{where}: saved state {first + k} is off the unit sphere (| |x_i| - 1 | up to "
                f"{dev[k]:.3g}), but its dynamics keeps the tokens on it"
            )
    return x


def check_meta(meta, stats, where: str) -> None:
    """A trajectory's metadata typed as the simulator writes it: dicts, ``complete`` a bool, the
    step sizes and tolerances numbers (or None), seeds integers (or None)."""
    if not isinstance(meta, dict):
        raise ParticlesError(f"{where}: meta must be a dict, got {type(meta).__name__}")
    if not isinstance(stats, dict):
        raise ParticlesError(f"{where}: stats must be a dict, got {type(stats).__name__}")
    if "complete" in meta and not isinstance(meta["complete"], (bool, np.bool_)):
        raise ParticlesError(f"{where}: complete must be true or false, got {meta['complete']!r}")
    for k in _META_NUMBERS:
        v = meta.get(k)
        if v is not None and (
            isinstance(v, (bool, np.bool_))
            or not isinstance(v, (int, float, np.number))
            or not np.isfinite(v)
        ):
            raise ParticlesError(f"{where}: {k} must be a finite number or null, got {v!r}")
    for k in _META_INTS:
        v = meta.get(k)
        if v is not None and (
            isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0
        ):
            raise ParticlesError(f"{where}: {k} must be an integer >= 0 or null, got {v!r}")
    for k in ("fingerprint", "version", "format"):
        if meta.get(k) is not None and not isinstance(meta[k], str):
            raise ParticlesError(f"{where}: {k} must be a string, got {meta[k]!r}")
    if meta.get("dtype") is not None and meta["dtype"] not in ("float64", "float32"):
        raise ParticlesError(
            f"{where}: dtype must be 'float64' or 'float32', got {meta['dtype']!r}"
        )
    if meta.get("rng_state") is not None:  # what a resumed noisy run hands to its generator
        st = meta["rng_state"]
        try:
            name = st["bit_generator"] if isinstance(st, dict) else None
            if name not in _BIT_GENERATORS:
                raise ValueError
            getattr(np.random, name)(0).state = st
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError, IndexError):
            raise ParticlesError(f"{where}: rng_state is not a generator state") from None
    for k, v in stats.items():
        number = isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
        if v is not None and not (number and np.isfinite(v)):
            raise ParticlesError(f"{where}: stats {k} must be a finite number or null, got {v!r}")


def _is_store(path) -> bool:
    """A zarr trajectory store: a ``*.zarr`` path, or an existing directory that is one."""
    p = Path(path)
    return p.suffix == ".zarr" or (p.is_dir() and (p / "zarr.json").exists())
