"""Run inside Dask workers by tests/test_distributed.py (importable by worker processes)."""

import os
import signal


def install_killer(marker: str, at_call: int) -> int:
    """Replace this worker's block function by one that SIGKILLs the worker at its ``at_call``-th
    block, once in the whole cluster (the first worker to create ``marker``). Returns the pid."""
    import particles.field.dask as D

    real = D._block
    calls = {"n": 0}

    def block(*a, **k):
        calls["n"] += 1
        if calls["n"] >= at_call:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return real(*a, **k)
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*a, **k)

    block.__module__, block.__qualname__ = real.__module__, real.__qualname__
    D._block = block
    return os.getpid()


def configure(tiles: dict) -> None:
    """Set particles.config values in the worker (to check that the requester's tiling is used)."""
    from particles import config

    for k, v in tiles.items():
        setattr(config, k, v)


def install_flaky(marker_dir: str, failures: int) -> None:
    """Make the first ``failures`` blocks of the whole cluster raise (counted with marker files)."""
    import particles.field.dask as D

    real = D._block

    def block(*a, **k):
        for i in range(failures):
            try:
                fd = os.open(os.path.join(marker_dir, f"fail{i}"), os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                continue
            os.close(fd)
            raise RuntimeError("flaky block")
        return real(*a, **k)

    block.__module__, block.__qualname__ = real.__module__, real.__qualname__
    D._block = block


def restore() -> None:
    """Undo install_killer / install_flaky in this worker."""
    import importlib

    import particles.field.dask as D

    fresh = importlib.reload(D)
    assert fresh._block.__name__ == "_block"
