"""What a request costs before it is made: memory estimates checked against this machine.

A request that cannot fit is refused up front with the estimate ("needs ~N GiB, this machine has
M GiB") instead of ending in a MemoryError traceback or the kernel's out-of-memory killer.
"""

from __future__ import annotations

import os

from .errors import ParticlesError, number

#: the share of physical memory one request may plan to use
MEMORY_FRACTION = 0.8


def machine_memory() -> int:
    """Physical memory of this machine in bytes (0 where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def check_memory(nbytes: float, what: str) -> None:
    """Refuse ``what`` when its estimated ``nbytes`` exceed the usable share of this machine."""
    total = machine_memory()
    if total and nbytes > MEMORY_FRACTION * total:
        raise ParticlesError(
            f"{what} needs ~{_gib(nbytes)} of memory, this machine has {_gib(total)}; "
            "ask for less (fewer particles, saved times, seeds or grid points)"
        )


def check_count(count: float, what: str, limit: float = 1e9) -> int:
    """``count`` as an int, refused when it is not finite or above ``limit`` (a loop or a list of
    that length would not finish or not fit)."""
    c = number(count, what)
    if not c < float("inf") or c > limit:
        raise ParticlesError(f"{what} = {c:.3g} is more than this tool handles (limit {limit:.3g})")
    return int(c)
