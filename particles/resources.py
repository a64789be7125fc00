"""What a request costs before it is made: memory estimates checked against the memory this process
may really use.

A request that cannot fit is refused up front with the estimate and the limit that applies
("needs ~N GiB of memory, this process may use M GiB (ulimit -v)") instead of ending in a
MemoryError traceback or the kernel's out-of-memory killer.

The usable memory (:func:`usable_memory`) is the tightest of:

- the physical memory of the machine (:func:`machine_memory`);
- the address-space limit ``RLIMIT_AS`` (``ulimit -v``) less what the process already maps
  (``VmSize``): under that limit every mapping counts, whether touched or not;
- the data limit ``RLIMIT_DATA`` (``ulimit -d``) less the process's private writable mappings
  (``VmData``);
- the memory limit of the process's control group (cgroup v2 ``memory.max``, cgroup v1
  ``memory.limit_in_bytes``, the tightest along the path to the root) less what the group already
  uses that cannot be reclaimed (usage less its inactive page cache).

``MemAvailable`` is deliberately not one of them: it is what the *other* processes leave free at
this instant, not a limit of this one. It moves from second to second (the same request would be
refused or run depending on the load), and the kernel reclaims page cache and overcommits, so an
allocation above it often succeeds. The limits above are the ones an allocation fails against.

One request may plan to use :data:`MEMORY_FRACTION` of the usable memory: the estimates count the
large arrays, not the temporaries around them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .errors import ParticlesError, number

#: the share of the usable memory one request may plan to use
MEMORY_FRACTION = 0.8

#: a cgroup memory limit at or above this is "no limit" (cgroup v1 writes 2^63 rounded to a page)
_UNLIMITED = 2**60


def machine_memory() -> int:
    """Physical memory of this machine in bytes (0 where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def _status_bytes(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (``VmSize``, ``VmData``) in bytes, or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rlimits() -> list[tuple[int, str]]:
    """(bytes left, label) under the soft ``RLIMIT_AS`` and ``RLIMIT_DATA`` limits in force."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return []
    out = []
    for name, used, label in (
        ("RLIMIT_AS", "VmSize", "ulimit -v"),
        ("RLIMIT_DATA", "VmData", "ulimit -d"),
    ):
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            soft, _hard = resource.getrlimit(which)
        except (OSError, ValueError):
            continue
        if soft == resource.RLIM_INFINITY or soft < 0:
            continue
        out.append((max(0, soft - (_status_bytes(used) or 0)), label))
    return out


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _inactive_file(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_dirs(root: Path, rel: str) -> list[Path]:
    """The cgroup directories from the process's own (``rel`` under ``root``) up to ``root``,
    those that exist (in a cgroup namespace the process's group is the mount's root)."""
    parts = [p for p in rel.strip("/").split("/") if p]
    dirs = [root.joinpath(*parts[:k]) for k in range(len(parts), -1, -1)]
    return [d for d in dirs if d.is_dir()]


def _cgroup_limits(
    proc: str | Path = "/proc/self/cgroup", base: str | Path = "/sys/fs/cgroup"
) -> list[tuple[int, str]]:
    """(bytes left, label) under the memory limits of the process's control group, v2 and v1
    (``proc`` and ``base``: where the process's groups and the cgroup file systems are)."""
    try:
        lines = Path(proc).read_text().splitlines()
    except OSError:
        return []
    out = []
    base = Path(base)
    for line in lines:
        hid, _, rest = line.partition(":")
        controllers, _, rel = rest.partition(":")
        if hid == "0" and controllers == "":  # cgroup v2 (unified hierarchy)
            roots = [base, base / "unified"]
            files = ("memory.max", "memory.current", "memory.stat", "inactive_file")
            label = "cgroup memory.max"
        elif "memory" in controllers.split(","):  # cgroup v1 memory controller
            roots = [base / "memory"]
            files = (
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "memory.stat",
                "total_inactive_file",
            )
            label = "cgroup memory.limit_in_bytes"
        else:
            continue
        limit_file, usage_file, stat_file, key = files
        for root in roots:
            for d in _cgroup_dirs(root, rel):
                limit = _read_int(d / limit_file)
                if limit is None or limit >= _UNLIMITED:
                    continue
                usage = _read_int(d / usage_file) or 0
                usage = max(0, usage - _inactive_file(d / stat_file, key))
                out.append((max(0, limit - usage), label))
    return out


def memory_limits() -> list[tuple[int, str]]:
    """Every bound on what this process may still allocate, as (bytes, what sets it): the
    machine's physical memory, ``ulimit -v``/``-d`` less what is mapped, the cgroup's limit less
    its usage (see the module docstring)."""
    out = []
    total = machine_memory()
    if total:
        out.append((total, "this machine"))
    return out + _rlimits() + _cgroup_limits()


def usable_memory() -> tuple[int, str]:
    """The tightest of :func:`memory_limits`: (bytes, what sets it); ``(0, "")`` where none can be
    read (then nothing is refused)."""
    limits = memory_limits()
    if not limits:
        return 0, ""
    return min(limits, key=lambda bl: bl[0])


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def check_memory(nbytes: float, what: str) -> None:
    """Refuse ``what`` when its estimated ``nbytes`` exceed the usable share
    (:data:`MEMORY_FRACTION`) of the memory this process may use (:func:`usable_memory`); the
    message names the limit that applied."""
    nbytes = float(nbytes)
    avail, label = usable_memory()
    if math.isfinite(nbytes) and (not avail or nbytes <= MEMORY_FRACTION * avail):
        return
    if label == "this machine":
        where = f"this machine has {_gib(avail)}"
    elif label:
        where = f"this process may use {_gib(avail)} ({label})"
    else:
        where = "more than any machine has"
    size = f"~{_gib(nbytes)}" if math.isfinite(nbytes) else "more"
    raise ParticlesError(
        f"{what} needs {size} of memory, {where}; "
        "ask for less (fewer particles, saved times, seeds or grid points)"
    )


def check_count(count: float, what: str, limit: float = 1e9) -> int:
    """``count`` as an int, refused when it is not finite or above ``limit`` (a loop or a list of
    that length would not finish or not fit)."""
    c = number(count, what)
    if not c < float("inf") or c > limit:
        raise ParticlesError(f"{what} = {c:.3g} is more than this tool handles (limit {limit:.3g})")
    return int(c)
