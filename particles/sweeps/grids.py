"""Lists of numbers written as text: ``"0,5,10"`` or a range ``"start:stop:step"`` (the grids of
betas, times, seeds, ... that the commands take), counted before they are built."""

from __future__ import annotations

import math

from ..errors import ParticlesError, count
from ..resources import check_count

#: the most values one list may hold (a grid beyond it is a typo or a request that cannot finish)
MAX_VALUES = 1_000_000


def parse_numbers(
    text: str,
    name: str = "values",
    *,
    integer: bool = False,
    limit: int = MAX_VALUES,
    allow_inf: bool = False,
) -> list[float] | list[int]:
    """The numbers of ``text``: a comma list ``"0,5,10"`` or a range ``"start:stop:step"`` (``step``
    > 0, ``stop`` >= ``start``, ``stop`` included when it lies on the grid). Every value must be
    finite (and, with ``integer``, a whole number, returned as ``int``); a range of more than
    ``limit`` values is refused before it is built. ``name`` (e.g. ``"--beta"``) starts the
    messages of the :class:`ParticlesError` raised for anything else. ``allow_inf``: ``inf`` (+inf,
    e.g. beta = inf, hardmax attention) may be one of the values of a comma list."""
    limit = count(limit, "limit")
    src = str(text).strip()
    kind = "integers" if integer else "numbers"
    usage = f"{name}: expected {kind} separated by commas or start:stop:step, got {src!r}"
    try:
        if ":" in src:
            parts = [float(p) for p in src.split(":")]
            if len(parts) != 3:
                raise ParticlesError(usage)
            start, stop, step = parts
            if not all(math.isfinite(p) for p in parts):
                raise ParticlesError(f"{name}: start:stop:step must be finite numbers, got {src!r}")
            if step <= 0 or stop < start:
                raise ParticlesError(
                    f"{name}: start:stop:step needs step > 0 and stop >= start, got {src!r}"
                )
            k = math.floor((stop - start) / step + 1e-9)
            check_count(k + 1, f"{name} {src}: the number of values", limit)
            vals = [round(start + i * step, 12) for i in range(k + 1)]
        else:
            vals = [float(p) for p in src.split(",") if p.strip()]
            check_count(len(vals), f"{name}: the number of values", limit)
    except ValueError as e:
        if isinstance(e, ParticlesError):
            raise
        raise ParticlesError(usage) from None
    if not vals:
        raise ParticlesError(f"{name}: expected at least one value, got {src!r}")
    bad = [v for v in vals if not math.isfinite(v) and not (allow_inf and v == math.inf)]
    if bad:
        raise ParticlesError(
            f"{name}: values must be finite{' (or inf)' if allow_inf else ''}, got {bad[0]}"
        )
    if integer:
        frac = [v for v in vals if v != int(v)]
        if frac:
            raise ParticlesError(f"{name}: expected integers, got {frac[0]:g}")
        return [int(v) for v in vals]
    return vals
