"""The one exception type the library raises for bad input (the CLI turns it into a one-line
error), and the checks that raise it: user arrays (:func:`real_array`) and scalar parameters
(:func:`number`, :func:`finite`, :func:`count`), so that one check reads the same everywhere."""

from __future__ import annotations

import numbers

import numpy as np


class ParticlesError(ValueError):
    """Bad input or a bad file: the message says what is wrong and, where it can, what to do."""


class Overflow(ParticlesError):
    """A result (or an intermediate the result needs) is beyond the floating-point range for
    these inputs; the message names the parameter that makes it so."""


def real_array(a, name: str, shape: str = "", *, finite: bool = False, copy: bool = False):
    """``a`` as a C-contiguous float64 array (a new one with ``copy``), or a :class:`ParticlesError`
    naming ``name`` when ``a`` is not numeric (strings, booleans, ragged nested lists, objects), is
    complex (numpy would drop the imaginary part silently) or, with ``finite``, has NaN or infinite
    entries. ``shape`` completes the message, e.g. ``"(n, d)"``."""
    what = f"a real numeric array of shape {shape}" if shape else "a real numeric array"
    if isinstance(a, (str, bytes)):
        raise ParticlesError(f"{name} must be {what}, got a string")
    if a is None or isinstance(a, (dict, set)):
        raise ParticlesError(f"{name} must be {what}, got {type(a).__name__}")
    try:
        raw = np.asarray(a)
    except (TypeError, ValueError, OverflowError):  # ragged nested sequences, odd objects
        raise ParticlesError(f"{name} must be {what} (not ragged)") from None
    kind = raw.dtype.kind
    if kind == "c" or (kind == "O" and any(isinstance(v, complex) for v in raw.ravel())):
        raise ParticlesError(f"{name} must be {what}; got complex numbers")
    if kind == "O" and any(
        isinstance(v, (str, bytes, bool, np.bool_)) or np.ndim(v) for v in raw.ravel()
    ):
        raise ParticlesError(f"{name} must be {what}")
    if kind not in "iufO":  # booleans, strings, dates, structured records
        got = "booleans" if kind == "b" else f"dtype {raw.dtype}"
        raise ParticlesError(f"{name} must be {what}, got {got}")
    try:
        arr = np.array(raw, dtype=np.float64, order="C", copy=True if copy else None)
    except (TypeError, ValueError, OverflowError):
        raise ParticlesError(f"{name} must be {what}") from None
    if finite and not np.all(np.isfinite(arr)):
        raise ParticlesError(f"{name} has non-finite entries")
    return arr


def number(value, name: str) -> float:
    """``value`` as a float, or ``"{name} must be a number, got {value!r}"``: a real number (Python
    or numpy, a 0-d real array, or a string that spells one); booleans, complex numbers and other
    objects are refused (``True`` is a slip, not a number, and ``float`` would take it)."""
    v = value
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, (bool, np.bool_)) or not isinstance(
        v, (numbers.Real, np.integer, np.floating, str)
    ):
        raise ParticlesError(f"{name} must be a number, got {value!r}")
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        raise ParticlesError(f"{name} must be a number, got {value!r}") from None


def finite(value, name: str, bound: str = "") -> float:
    """``value`` as a finite float within ``bound``, else a :class:`ParticlesError` naming ``name``.

    ``bound`` is ``""`` (any finite number), a comparison with 0 (``"> 0"``, ``">= 0"``) or an
    interval in the usual notation (``"(0, 2]"``, ``"[0, 1)"``); the message quotes it:
    ``"dt must be finite and > 0, got -1.0"``, ``"delta must lie in (0, 2], got 3.0"``.
    """
    v = number(value, name)
    if bound and bound[0] in "([":
        lo, hi = (float(s) for s in bound[1:-1].split(","))
        ok = (lo < v if bound[0] == "(" else lo <= v) and (v < hi if bound[-1] == ")" else v <= hi)
        if not (np.isfinite(v) and ok):
            raise ParticlesError(f"{name} must lie in {bound}, got {v}")
        return v
    ok = {"": True, "> 0": v > 0, ">= 0": v >= 0}[bound]
    if not (np.isfinite(v) and ok):
        raise ParticlesError(f"{name} must be finite{' and ' + bound if bound else ''}, got {v}")
    return v


def count(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int >= ``minimum`` (and <= ``maximum``), else a :class:`ParticlesError`:
    ``"seed must be an integer >= 0, got -1"``, ``"workers must be an integer in 1..1024, got 0"``
    (a bool or a float, even a whole one, is refused: it is a slip, not a count)."""
    top = value if maximum is None else maximum
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not minimum <= value <= top
    ):
        span = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        got = int(value) if isinstance(value, np.integer) else repr(value)
        raise ParticlesError(f"{name} must be an integer {span}, got {got}")
    return int(value)


def whole(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """Like :func:`count`, but a whole float (``8.0``, ``1e4``) is taken as the integer it is:
    for the sizes and counts that callers compute in floating point. Fractions, NaN, infinities,
    bools and strings are refused with the same message."""
    if (
        isinstance(value, (float, np.floating))
        and np.isfinite(value)
        and value == np.floor(value)
        and abs(value) < 2**63
    ):
        value = int(value)
    return count(value, name, minimum, maximum)


def flag(value, name: str) -> bool:
    """``value`` as a bool: ``True`` or ``False`` (Python or numpy) only; ``"no"``, 1 or None is
    refused (``bool("no")`` is True: a silent reversal)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ParticlesError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def text(value, name: str) -> str:
    """``value`` if it is a string, else ``"{name} must be a string, got ..."``."""
    if not isinstance(value, str):
        raise ParticlesError(f"{name} must be a string, got {value!r}")
    return value
