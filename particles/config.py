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
#: compiled kernels are cached on disk (``__pycache__`` next to the module).
CACHE = True
#: rows per tile of the attention field (one BLAS GEMM produces a TILE_ROWS x TILE_COLS block).
TILE_ROWS = 256
#: columns (keys) per tile; the online softmax runs over column tiles so memory stays O(n d + tile).
TILE_COLS = 4096
#: side of the square tiles of the symmetric Gram path (self-attention with Q = K).
TILE_GRAM = 512
