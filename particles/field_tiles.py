"""The tiles of the exact attention field: their sizes, their work, and the order of their sums.

One implementation serves the local evaluation (:func:`particles.field.attention`: every tile, on
``config.THREADS`` Python threads) and the row blocks of the distributed one
(:mod:`particles.field_rows`: the tiles of some rows, on one thread). Both call the tile functions
here on the same slices, in the same order per row block, which makes a row block bit-identical to
the same rows of the local evaluation. What is decided here, once:

- :class:`Tiling`: tile heights and widths, and how many threads run the tiles;
- Gram path (k is q): the tasks (tiles (I, J), J >= I, :func:`gram_tasks`), the order in which
  they are added into row block R (:func:`gram_row_order`: increasing partner block, i.e. the
  transposed tiles (I, R), I < R, then the direct tiles (R, J), J >= R) and one tile's work
  (:func:`gram_tile`);
- online path (q != k): one row tile against every column tile, finished (:func:`online_tile`);
- who runs them: :func:`run_tasks` (a shared queue; per-thread sums for the Gram path, so the
  order of the sums depends on scheduling) and :func:`run_ordered` (each row block receives its
  contributions in :func:`gram_row_order`, on any number of threads: the one-thread bits).

Inside :func:`fixed_order` tile heights do not depend on the thread count, BLAS runs on one thread
and the Gram path uses :func:`run_ordered`, so the field is bitwise the one-thread field on any
number of threads.
"""

from __future__ import annotations

import contextlib
import heapq
import threading
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from . import config, kernels

# --- fixed order ------------------------------------------------------------------------------------

#: > 0 inside :func:`fixed_order`
_FIXED_ORDER = 0


@contextlib.contextmanager
def fixed_order():
    """Inside this block the exact field is bitwise the same whatever the number of threads
    (``config.THREADS``, numba's, OpenBLAS's). The noisy runs of :func:`particles.simulate` use it,
    so that a seed fixes the path.

    How: OpenBLAS runs on one thread for the whole block (a GEMM's bits depend on how OpenBLAS
    splits a tile between its threads when the tile's height is not a multiple of its kernel's
    unroll); tile heights are the one-thread ones; the tiles still run on ``config.THREADS`` Python
    threads, the Gram path's in a fixed order of accumulation per row block (:func:`run_ordered`).
    The result is the one-thread field with BLAS on one thread, bit for bit. Cost, n = 4096, d = 64
    on 2 threads: the same tiles as the free evaluation; the ordered Gram path waits for its
    dependencies (see benchmarks/RESULTS.md §6a). With a BLAS that cannot be limited (not
    OpenBLAS) tiles run in turn and the bits are that BLAS's business.
    """
    global _FIXED_ORDER
    _FIXED_ORDER += 1
    try:
        with config.blas_threads(1):
            yield
    finally:
        _FIXED_ORDER -= 1


# --- tiling -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tiling:
    """Tile sizes and threads of one field evaluation (from :mod:`particles.config`).

    ``fixed``: inside :func:`fixed_order` (tile heights independent of ``threads``). Shipped with
    every distributed row block, so a worker with other settings repeats the requester's tiles.
    """

    tile_rows: int
    tile_cols: int
    tile_gram: int
    threads: int
    threaded_min_work: int
    fixed: bool = False

    @classmethod
    def here(cls, tile_rows: int | None = None, tile_cols: int | None = None) -> Tiling:
        """This process's settings; ``tile_rows`` overrides both row heights (online and Gram)."""
        t = cls(
            tile_rows=int(config.TILE_ROWS),
            tile_cols=int(config.TILE_COLS),
            tile_gram=int(config.TILE_GRAM),
            threads=int(config.THREADS),
            threaded_min_work=int(config.THREADED_MIN_WORK),
            fixed=bool(_FIXED_ORDER),
        )
        if tile_rows:
            t = replace(t, tile_rows=int(tile_rows), tile_gram=int(tile_rows))
        if tile_cols:
            t = replace(t, tile_cols=int(tile_cols))
        return t

    def threads_for(self, work: float) -> int:
        """Threads for an evaluation of ``work`` multiply-adds (1 below the threading threshold)."""
        return self.threads if work >= self.threaded_min_work else 1

    def _shrink(self, tile: int, n: int, threads: int, least: int) -> int:
        """Free threaded evaluations cut at least 2 tiles per thread (not in fixed order)."""
        tile = min(tile, n)
        if threads > 1 and not self.fixed:
            tile = max(min(tile, -(-n // (2 * threads))), min(n, least))
        return tile

    def online_rows(self, n: int, m: int, dk: int, dv: int) -> int:
        """Rows per tile of the online path for q (n, dk), k (m, dk), v (m, dv)."""
        return self._shrink(self.tile_rows, n, self.threads_for(n * m * (dk + dv + 1)), 64)

    def online_cols(self, m: int) -> int:
        return min(self.tile_cols, m)

    def gram_rows(self, n: int, threads: int = 1) -> int:
        """Side of the Gram path's square tiles when run on ``threads`` threads."""
        return self._shrink(self.tile_gram, n, threads, 128)


# --- shared pieces ----------------------------------------------------------------------------------


def with_ones(v: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """[w * v, w] (or [v, 1]): the extra column makes the second GEMM produce the row sums too."""
    m, dv = v.shape
    aug = np.empty((m, dv + 1), dtype=v.dtype)
    if w is None:
        aug[:, :dv] = v
        aug[:, dv] = 1.0
    else:
        np.multiply(v, w[:, None], out=aug[:, :dv])
        aug[:, dv] = w
    return aug


def usa_scale(log_scale: np.ndarray, dt) -> np.ndarray:
    """exp(log_scale) as ``dt`` (USA's factor); always evaluated on the same whole array, since
    numpy's exp may round a value differently in its SIMD body and its tail."""
    with np.errstate(over="ignore"):
        return np.exp(log_scale).astype(dt)


def finish(acc, out, normalize: bool, scale) -> None:
    """out += acc[:, :dv] / acc[:, dv] (SA) or acc[:, :dv] * scale (USA, see :func:`usa_scale`)."""
    dv = acc.shape[1] - 1
    if normalize:
        out += acc[:, :dv] / acc[:, dv:]
    else:
        with np.errstate(over="ignore"):
            out += acc[:, :dv] * scale[:, None]


def kernel(kern, size: int, threaded: bool):
    """The serial twin inside a threaded task, else the parallel/serial choice by size (same bits)."""
    return kern.serial if threaded else kernels.pick(kern, size)


# --- Gram path: tile (I, J), J >= I, serves row blocks I and J ------------------------------------


class Gram(NamedTuple):
    """One Gram evaluation: q (n, dk), aug = [w v, w] (n, dv + 1), shifts cs (n,), tiles of T."""

    q: np.ndarray
    aug: np.ndarray
    cs: np.ndarray
    beta: float
    causal: bool
    T: int

    @property
    def blocks(self) -> int:
        return -(-self.q.shape[0] // self.T)


def gram_setup(q, v, beta: float, c, causal: bool, T: int) -> tuple[Gram, np.ndarray]:
    """The tile inputs and the log of USA's factor: c_i + max c - log n."""
    dt = q.dtype
    cmax = float(c.max())
    aug = with_ones(v, np.exp(c - cmax).astype(dt))
    return Gram(q, aug, c.astype(dt), beta, causal, T), c + cmax - np.log(q.shape[0])


def gram_tasks(nb: int, causal: bool) -> list[tuple[int, int]]:
    """The tiles (I, J) of ``nb`` row blocks in the one-thread order: J >= I (J <= I if causal)."""
    if causal:
        return [(i, j) for i in range(nb) for j in range(i + 1)]
    return [(i, j) for i in range(nb) for j in range(i, nb)]


def gram_row_order(r: int, nb: int, causal: bool) -> list[tuple[int, int]]:
    """The tiles whose products row block ``r`` receives, in the order they are added: partner
    block increasing (the order :func:`gram_tasks` run on one thread gives): (I, r) transposed for
    I < r, then (r, J) direct for J >= r; causal: (r, J), J <= r."""
    if causal:
        return [(r, j) for j in range(r + 1)]
    return [(i, r) for i in range(r)] + [(r, j) for j in range(r, nb)]


def gram_workspace(g: Gram, dv1: int) -> tuple:
    T, dt = g.T, g.q.dtype
    return np.empty(T * T, dtype=dt), np.empty((T, dv1), dt)


def gram_tile(g: Gram, I: int, J: int, ws, direct, transposed, threaded: bool) -> None:
    """Tile (I, J): s = exp(beta q_I q_J^T - c_I - c_J); ``direct`` (rows of I) += s aug_J and
    ``transposed`` (rows of J) += s^T aug_I, each skipped when None."""
    sbuf, part = ws
    n, T = g.q.shape[0], g.T
    i0, j0 = I * T, J * T
    i1, j1 = min(n, i0 + T), min(n, j0 + T)
    bi, bj = i1 - i0, j1 - j0
    s = sbuf[: bi * bj].reshape(bi, bj)
    np.matmul(g.q[i0:i1], g.q[j0:j1].T, out=s)
    kern = kernel(kernels._exp_shift_tile, s.size, threaded)
    kern(s, g.beta, g.cs[i0:i1], g.cs[j0:j1], i0 - j0, g.causal and i0 == j0)
    if direct is not None:
        np.matmul(s, g.aug[j0:j1], out=part[:bi])
        direct += part[:bi]
    if transposed is not None:
        np.matmul(s.T, g.aug[i0:i1], out=part[:bj])
        transposed += part[:bj]


def gram_run(g: Gram, dv: int, threads: int, ordered: bool) -> np.ndarray:
    """Every tile of the Gram path: the sums acc (n, dv + 1). ``ordered``: each row block adds its
    contributions in :func:`gram_row_order` (the one-thread bits) on any number of threads."""
    n, T = g.q.shape[0], g.T
    nb = g.blocks
    tasks = gram_tasks(nb, g.causal)

    def work(task, ws, threaded):
        acc, tile_ws = ws
        I, J = task
        both = I != J and not g.causal
        direct = acc[I * T : min(n, I * T + T)]
        transposed = acc[J * T : min(n, J * T + T)] if both else None
        gram_tile(g, I, J, tile_ws, direct, transposed, threaded)

    if ordered and threads > 1 and len(tasks) > 1:
        acc = np.zeros((n, dv + 1), dtype=g.q.dtype)
        index = {t: i for i, t in enumerate(tasks)}
        chains = [[index[t] for t in gram_row_order(r, nb, g.causal)] for r in range(nb)]
        run_ordered(tasks, chains, work, lambda: (acc, gram_workspace(g, dv + 1)), threads, key=sum)
        return acc
    spaces = run_tasks(
        tasks,
        work,
        lambda: (np.zeros((n, dv + 1), dtype=g.q.dtype), gram_workspace(g, dv + 1)),
        threads,
    )
    acc = spaces[0][0]
    for ws in spaces[1:]:
        acc += ws[0]
    return acc


# --- online path: row tiles, each against every column tile ---------------------------------------


class Online(NamedTuple):
    """One online evaluation: q (n, dk), k (m, dk), aug = [v, 1] (m, dv + 1), tiles tr x tc.

    ``shift`` (n,) float64, a fixed upper bound of each row's exponents (cs: as q's dtype), or None
    for the running maximum."""

    q: np.ndarray
    k: np.ndarray
    aug: np.ndarray
    beta: float
    causal: bool
    normalize: bool
    tr: int
    tc: int
    shift: np.ndarray | None
    cs: np.ndarray | None


def online_setup(q, k, v, beta, causal, normalize, tr, tc, shift) -> Online:
    cs = None if shift is None else shift.astype(q.dtype)
    return Online(q, k, with_ones(v), beta, causal, normalize, tr, tc, shift, cs)


def online_workspace(o: Online) -> tuple:
    tr, dt, dv1 = o.tr, o.q.dtype, o.aug.shape[1]
    return (
        np.empty(tr * o.tc, dtype=dt),
        np.empty((tr, dv1), dtype=dt),
        np.empty((tr, dv1), dtype=dt),
        np.empty(tr),
        np.empty(tr),
    )


def online_tile(o: Online, r0: int, ws, out, threaded: bool) -> None:
    """Rows r0:r0 + tr against every column tile, finished into ``out`` (those rows, (B, dv)).

    With ``o.shift`` rows are exponentiated as exp(beta s_ij - shift_i) in one pass: no running
    maximum, no rescaling of partial sums. Otherwise the online softmax (FlashAttention style).
    """
    sbuf, acc, part, mrow, alpha = ws
    q, k, aug, beta, causal = o.q, o.k, o.aug, o.beta, o.causal
    n, m = q.shape[0], k.shape[0]
    r1 = min(n, r0 + o.tr)
    B = r1 - r0
    mx = mrow[:B]
    mx[:] = -np.inf
    cend = min(m, r1) if causal else m
    empty = np.empty(0, q.dtype)
    for c0 in range(0, cend, o.tc):
        c1 = min(cend, c0 + o.tc)
        s = sbuf[: B * (c1 - c0)].reshape(B, c1 - c0)
        np.matmul(q[r0:r1], k[c0:c1].T, out=s)
        if o.shift is not None:
            kern = kernel(kernels._exp_shift_tile, s.size, threaded)
            kern(s, beta, o.cs[r0:r1], empty, r0 - c0, causal and c1 - 1 > r0)
            if c0 == 0:
                np.matmul(s, aug[c0:c1], out=acc[:B])
            else:
                np.matmul(s, aug[c0:c1], out=part[:B])
                acc[:B] += part[:B]
            continue
        kern = kernel(kernels._softmax_tile, s.size, threaded)
        kern(s, beta, r0 - c0, causal and c1 - 1 > r0, mx, alpha[:B])
        if c0 == 0:
            np.matmul(s, aug[c0:c1], out=acc[:B])
        else:
            np.matmul(s, aug[c0:c1], out=part[:B])
            kern = kernel(kernels._rescale_add, B * aug.shape[1], threaded)
            kern(acc[:B], alpha[:B], part[:B])
    if o.shift is not None:
        mx[:] = o.shift[r0:r1]
    scale = None if o.normalize else usa_scale(mx - np.log(m), q.dtype)
    finish(acc[:B], out, o.normalize, scale)


def online_run(o: Online, out, threads: int) -> None:
    """Every row tile (independent tasks: the same bits on any number of threads)."""
    n = o.q.shape[0]
    tasks = list(range(0, n, o.tr))
    if o.causal:  # the last row tiles have the most columns: start them first
        tasks.reverse()

    def work(r0, ws, threaded):
        online_tile(o, r0, ws, out[r0 : r0 + o.tr], threaded)

    run_tasks(tasks, work, lambda: online_workspace(o), threads)


# --- runners ----------------------------------------------------------------------------------------

_pool_lock = threading.Lock()


def run_tasks(tasks: list, work, make_ws, threads: int) -> list:
    """Call ``work(task, ws, threaded)`` for every task; returns the workspaces (one per thread).

    With ``threads > 1`` the tasks are pulled from a shared queue by that many Python threads, each
    with its own workspace from ``make_ws()``; BLAS runs single-threaded meanwhile and the numba
    kernels are the serial, GIL-free twins. So there is no barrier per GEMM and a core slowed by
    another process only slows its own tiles.
    """
    if threads <= 1 or len(tasks) < 2:
        ws = make_ws()
        for t in tasks:
            work(t, ws, False)
        return [ws]
    threads = min(threads, len(tasks))
    it = iter(tasks)
    lock = threading.Lock()

    def next_task(done):
        with lock:
            return next(it, None)

    return _pool(next_task, lambda: None, work, make_ws, threads)


def run_ordered(tasks: list, chains: list, work, make_ws, threads: int, key=None) -> None:
    """Run every task once, on ``threads`` threads, each task of a chain (a list of task indices)
    after the one before it in that chain. The ready task with the least ``key(task)`` (then index)
    goes first. ``make_ws()`` per thread; the result is whatever ``work`` writes.
    """
    after = [[] for _ in tasks]
    waiting = [0] * len(tasks)
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            after[a].append(b)
            waiting[b] += 1
    key = key or (lambda t: 0)
    ready = [(key(tasks[i]), i) for i in range(len(tasks)) if waiting[i] == 0]
    heapq.heapify(ready)
    cond = threading.Condition()
    left = [len(tasks)]

    def next_task(done):
        with cond:
            if done is not None:
                left[0] -= 1
                for b in after[done]:
                    waiting[b] -= 1
                    if waiting[b] == 0:
                        heapq.heappush(ready, (key(tasks[b]), b))
                cond.notify_all()
            while not ready and left[0] > 0:
                cond.wait()
            return heapq.heappop(ready)[1] if ready else None

    def stop():
        with cond:
            left[0] = 0
            ready.clear()
            cond.notify_all()

    if threads <= 1 or len(tasks) < 2:  # a topological order on this thread
        ws, i = make_ws(), None
        while (i := next_task(i)) is not None:
            work(tasks[i], ws, False)
        return
    run = lambda i, ws, threaded: work(tasks[i], ws, threaded)  # noqa: E731
    _pool(next_task, stop, run, make_ws, min(threads, len(tasks)))


def _pool(next_task, stop, work, make_ws, threads: int) -> list:
    """``threads`` Python threads (this one included) call ``next_task(previous)`` for their next
    task (None: finished) and run it; BLAS on one thread meanwhile. Re-raises the first error."""
    spaces = [make_ws() for _ in range(threads)]
    errors = []

    def loop(ws):
        try:
            t = None
            while (t := next_task(t)) is not None:
                work(t, ws, True)
        except BaseException as e:  # pragma: no cover - re-raised below
            errors.append(e)
            stop()

    with _pool_lock, config.blas_threads(1) as blas:
        if not blas.ok:  # a BLAS we cannot limit (not OpenBLAS): its own threads, tiles in turn
            t = None
            while (t := next_task(t)) is not None:
                work(t, spaces[0], False)
            return spaces
        pool = [threading.Thread(target=loop, args=(ws,)) for ws in spaces[1:]]
        for th in pool:
            th.start()
        loop(spaces[0])
        for th in pool:
            th.join()
    if errors:
        raise errors[0]
    return spaces
