"""The one place where numba options and tile sizes are set.

numba's default OpenMP threading layer spin-waits against OpenBLAS's threads on these machines
(PERF_NOTES §3, finding 3), so ``workqueue`` is selected before any parallel kernel runs. Users may
override it with the ``NUMBA_THREADING_LAYER`` environment variable.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numba  # noqa: E402

numba.config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]

#: fastmath flags for every kernel: no reassociation, so results match the references to ~1e-12.
FASTMATH = frozenset({"nsz", "arcp", "contract"})
#: flags for max/min reductions only: reassociation is exact for them, and lets the loop vectorise.
FASTMATH_MINMAX = frozenset({"nnan", "ninf", "nsz", "reassoc"})
#: compiled kernels are cached on disk (``__pycache__`` next to the module).
CACHE = True
#: rows per tile of the attention field (one BLAS GEMM produces a TILE_ROWS x TILE_COLS block).
#: 512 x 512 (2 MiB, an L2's worth) rather than 256 x 4096 (8 MiB): alone a thread runs both
#: shapes at the same rate, but two threads streaming 8 MiB tiles each through the shared L3 ran the
#: q != k field 1.3-1.5x slower (benchmarks/RESULTS.md §3).
TILE_ROWS = 512
#: columns (keys) per tile; the online softmax runs over column tiles so memory stays O(n d + tile).
TILE_COLS = 512
#: side of the square tiles of the symmetric Gram path (self-attention with Q = K).
TILE_GRAM = 512

#: threads for the field evaluation: independent tiles run on this many Python threads, each with
#: single-threaded BLAS and serial numba kernels (no barrier per GEMM, robust on a shared machine).
THREADS = max(1, int(numba.config.NUMBA_NUM_THREADS))
#: below this many multiply-adds (n * m * (d_k + d_v)) one thread is used (thread start-up ~0.1 ms).
THREADED_MIN_WORK = 1 << 22


def _openblas_controls() -> list:
    """(get, set) ctypes functions of every OpenBLAS loaded in this process (Linux; [] elsewhere)."""
    import ctypes

    found = []
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and ".so" in ln})
    except OSError:
        return found
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    put.argtypes = [ctypes.c_int]
                    found.append((get, put))
                    break
            else:
                continue
            break
    return found


_blas = None


class blas_threads:
    """Context manager: OpenBLAS (all loaded copies) uses ``n`` threads inside, restored on exit.

    ``ok`` tells whether any OpenBLAS was found to limit (with another BLAS nothing changes).
    """

    def __init__(self, n: int):
        self.n = n
        self.saved: list = []
        self.ok = False

    def __enter__(self):
        global _blas
        if _blas is None:
            _blas = _openblas_controls()
        self.saved = [(put, get()) for get, put in _blas]
        for put, _ in self.saved:
            put(self.n)
        self.ok = bool(self.saved)
        return self

    def __exit__(self, *exc):
        for put, old in self.saved:
            put(old)
        return False
