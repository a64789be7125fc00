"""The tiles of the exact attention field: their sizes, their work, and the order of their sums.

One implementation serves the local evaluation (:func:`particles.field.attention`: every tile, on
``config.THREADS`` Python threads) and the row blocks of the distributed one
(:mod:`particles.field.rows`: the tiles of some rows, on one thread). Both call the tile functions
here on the same slices, in the same order per row block, which makes a row block bit-identical to
the same rows of the local evaluation. What is decided here, once:

- :class:`Tiling`: tile heights and widths, and how many threads run the tiles;
- Gram path (k is q): the tasks (tiles (I, J), J >= I, :class:`GramTasks`), the order in which
  they are added into row block R (:func:`gram_row_order`: increasing partner block, i.e. the
  transposed tiles (I, R), I < R, then the direct tiles (R, J), J >= R) and one tile's work
  (:func:`gram_tile`);
- online path (q != k): one row tile against every column tile, finished (:func:`online_tile`);
- who runs them: :func:`run_tasks` (Python threads pulling tasks from a shared queue, BLAS on one
  thread). The Gram path's row blocks add their products in :func:`gram_row_order` whatever order
  the tiles finish in (:func:`gram_sums`), so that, for given tiles, the result does not depend on
  the number of threads or on scheduling.

What still changes the bits with the thread count: free threaded evaluations cut smaller tiles for
more threads (:class:`Tiling`), and a one-thread evaluation runs each GEMM on OpenBLAS's own
threads. Inside :func:`fixed_order` neither happens: the field is bitwise the one-thread field with
BLAS on one thread, on any number of threads.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from .. import config
from . import kernels

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
    threads, and the Gram path's row blocks add their products in a fixed order (a product that
    is early waits for its turn). The result is the one-thread field with BLAS on one thread, bit
    for bit. Cost, measured on 2 threads against the free evaluation (interleaved, CPU seconds of a
    loaded 2-core machine, medians of 15): n = 4096, d = 64 uses the same tiles and takes the same
    time (identity weights 0.078-0.084 s free, 0.078-0.081 s fixed; general Q, K, V 0.090-0.103 s
    free, 0.094-0.102 s fixed); n = 1500-4096, d = 16-64 within 5 %, except n = 1500, d = 16 (7 ms
    instead of 5.5 ms: one-thread tiles of 512 rows instead of 375). With a BLAS that cannot be
    limited (not OpenBLAS) tiles run in turn and the bits are that BLAS's business.
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

    def gram(self, n: int, dk: int, dv: int) -> tuple[int, int]:
        """(threads, side of the square tiles) of the Gram path for q (n, dk), v (n, dv)."""
        threads = self.threads_for(n * n * (dk + dv + 1) / 2)
        return threads, self._shrink(self.tile_gram, n, threads, 128)

    def online(self, n: int, m: int, dk: int, dv: int) -> tuple[int, int, int]:
        """(threads, rows, columns) of the online path's tiles for q (n, dk), k (m, dk), v (m, dv)."""
        threads = self.threads_for(n * m * (dk + dv + 1))
        return threads, self._shrink(self.tile_rows, n, threads, 64), min(self.tile_cols, m)


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


class GramTasks:
    """The tiles (I, J) of ``nb`` row blocks, J >= I (J <= I if causal), generated as they are
    taken (nb^2 / 2 tuples would need GiBs at n ~ 1e6): in the one-thread order (I, then J
    increasing), or with ``wavefront`` by I + J increasing, then I."""

    def __init__(self, nb: int, causal: bool, wavefront: bool = False):
        self.nb, self.causal, self.wavefront = nb, causal, wavefront

    def __len__(self) -> int:
        return self.nb * (self.nb + 1) // 2

    def __iter__(self):
        nb, causal = self.nb, self.causal
        if not self.wavefront:
            for i in range(nb):
                for j in range(i + 1) if causal else range(i, nb):
                    yield i, j
            return
        for s in range(2 * nb - 1):
            lo, hi = ((s + 1) // 2, min(s, nb - 1)) if causal else (max(0, s - nb + 1), s // 2)
            for i in range(lo, hi + 1):
                yield i, s - i


def gram_row_order(r: int, nb: int, causal: bool) -> list[tuple[int, int]]:
    """The tiles whose products row block ``r`` receives, in the order they are added: partner
    block increasing (the order :class:`GramTasks` run on one thread gives): (I, r) transposed for
    I < r, then (r, J) direct for J >= r; causal: (r, J), J <= r."""
    if causal:
        return [(r, j) for j in range(r + 1)]
    return [(i, r) for i in range(r)] + [(r, j) for j in range(r, nb)]


def gram_tile(g: Gram, I: int, J: int, sbuf, direct, transposed, threaded: bool) -> None:
    """Tile (I, J): s = exp(beta q_I q_J^T - c_I - c_J) in ``sbuf``; the first rows of ``direct``
    get s aug_J (for row block I) and those of ``transposed`` s^T aug_I (for row block J), each
    skipped when None. Returns nothing: the caller adds the products in its order."""
    n, T = g.q.shape[0], g.T
    i0, j0 = I * T, J * T
    i1, j1 = min(n, i0 + T), min(n, j0 + T)
    bi, bj = i1 - i0, j1 - j0
    s = sbuf[: bi * bj].reshape(bi, bj)
    np.matmul(g.q[i0:i1], g.q[j0:j1].T, out=s)
    kern = kernel(kernels._exp_shift_tile, s.size, threaded)
    kern(s, g.beta, g.cs[i0:i1], g.cs[j0:j1], i0 - j0, g.causal and i0 == j0)
    if direct is not None:
        np.matmul(s, g.aug[j0:j1], out=direct[:bi])
    if transposed is not None:
        np.matmul(s.T, g.aug[i0:i1], out=transposed[:bj])


def gram_run(g: Gram, dv: int, threads: int) -> np.ndarray:
    """Every tile of the Gram path: the sums acc (n, dv + 1), the same bits on any number of
    threads (:func:`gram_sums`); several threads take the tiles in wavefront order (I + J
    increasing), so that few products wait for their turn."""
    return gram_sums(g, dv, GramTasks(g.blocks, g.causal, wavefront=threads > 1), threads)


def gram_sums(g: Gram, dv: int, tasks, threads: int) -> np.ndarray:
    """The tiles ``tasks`` on ``threads`` threads, in any order; each row block adds its products in
    :func:`gram_row_order`, i.e. by increasing partner block: a product that arrives before its turn
    waits (in wavefront order, I + J increasing, a few per row block at most). Same bits as one
    thread in :class:`GramTasks` order, whatever the order the tiles finish in."""
    n, T, dt = g.q.shape[0], g.T, g.q.dtype
    nb = g.blocks
    acc = np.zeros((n, dv + 1), dt)
    locks = [threading.Lock() for _ in range(nb)]
    turn = [0] * nb  # the partner block whose product row block r adds next
    early = [{} for _ in range(nb)]
    spare = []  # product buffers to reuse (list.append / pop are atomic)

    def buffer():
        try:
            return spare.pop()
        except IndexError:
            return np.empty((T, dv + 1), dt)

    def deliver(r, partner, part):
        with locks[r]:
            early[r][partner] = part
            rows = acc[r * T : min(n, r * T + T)]
            while turn[r] in early[r]:
                p = early[r].pop(turn[r])
                rows += p[: len(rows)]
                spare.append(p)
                turn[r] += 1

    def work(task, sbuf, threaded):
        I, J = task
        both = I != J and not g.causal
        pi, pj = buffer(), buffer() if both else None
        gram_tile(g, I, J, sbuf, pi, pj, threaded)
        deliver(I, J, pi)
        if both:
            deliver(J, I, pj)

    run_tasks(tasks, work, lambda: np.empty(T * T, dt), threads)
    return acc


# --- online path: row tiles, each against every column tile ---------------------------------------


class Online(NamedTuple):
    """One online evaluation: q (n, dk), k (m, dk), v (m, dv), tiles tr x tc.

    ``shift`` (n,) float64, a fixed upper bound of each row's exponents (cs: as q's dtype), or None
    for the running maximum."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    beta: float
    causal: bool
    normalize: bool
    tr: int
    tc: int
    shift: np.ndarray | None
    cs: np.ndarray | None


def online_setup(q, k, v, beta, causal, normalize, tr, tc, shift) -> Online:
    cs = None if shift is None else shift.astype(q.dtype)
    return Online(q, k, v, beta, causal, normalize, tr, tc, shift, cs)


def online_workspace(o: Online) -> tuple:
    """(logits tile, sums, partial sums, running maxima, rescaling factors); the sums are
    [s v, s 1] (tr, dv + 1): the values' products and, in the last column, the row sums."""
    tr, dt, dv1 = o.tr, o.q.dtype, o.v.shape[1] + 1
    return (
        np.empty(tr * o.tc, dtype=dt),
        np.empty((tr, dv1), dtype=dt),
        np.empty((tr, dv1), dtype=dt),
        np.empty(tr),
        np.empty(tr),
    )


def online_tile(o: Online, r0: int, ws, out, threaded: bool) -> None:
    """Rows r0:r0 + tr against every column tile, finished into ``out`` (those rows, (B, dv)).

    Per column tile: one GEMM of logits, the exponentials in place with their row sums (one numba
    kernel), one GEMM s v into the first dv columns of the partial sums (their last column holds the
    row sums: the GEMM has exactly dv columns, not dv + 1 with a column of ones, which OpenBLAS's
    kernels run 5-7 % slower). With ``o.shift`` rows are exponentiated as exp(beta s_ij - shift_i)
    in one pass: no running maximum, no rescaling of partial sums. Otherwise the online softmax
    (FlashAttention style).
    """
    sbuf, acc, part, mrow, alpha = ws
    q, k, v, beta, causal = o.q, o.k, o.v, o.beta, o.causal
    n, m, dv = q.shape[0], k.shape[0], v.shape[1]
    r1 = min(n, r0 + o.tr)
    B = r1 - r0
    mx = mrow[:B]
    mx[:] = -np.inf
    cend = min(m, r1) if causal else m
    for c0 in range(0, cend, o.tc):
        c1 = min(cend, c0 + o.tc)
        s = sbuf[: B * (c1 - c0)].reshape(B, c1 - c0)
        np.matmul(q[r0:r1], k[c0:c1].T, out=s)
        dst = acc[:B] if c0 == 0 else part[:B]
        mask = causal and c1 - 1 > r0
        if o.shift is not None:
            kern = kernel(kernels._exp_shift_sum_tile, s.size, threaded)
            kern(s, beta, o.cs[r0:r1], r0 - c0, mask, dst[:, dv])
        else:
            kern = kernel(kernels._softmax_tile, s.size, threaded)
            kern(s, beta, r0 - c0, mask, mx, alpha[:B], dst[:, dv])
        np.matmul(s, v[c0:c1], out=dst[:, :dv])
        if c0 == 0:
            continue
        if o.shift is not None:
            acc[:B] += dst
        else:
            kern = kernel(kernels._rescale_add, B * (dv + 1), threaded)
            kern(acc[:B], alpha[:B], dst)
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


def run_tasks(tasks, work, make_ws, threads: int) -> list:
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
    spaces = [make_ws() for _ in range(threads)]
    errors = []

    def loop(ws):
        try:
            while True:
                with lock:
                    t = next(it, None)
                if t is None:
                    return
                work(t, ws, True)
        except BaseException as e:  # pragma: no cover - re-raised below
            errors.append(e)

    with _pool_lock, config.blas_threads(1) as blas:
        if not blas.ok:  # a BLAS we cannot limit (not OpenBLAS): its own threads, tiles in turn
            for t in it:
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
