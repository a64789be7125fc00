"""Row blocks of the attention field, bit for bit the rows of the whole evaluation.

The unit of work of the distributed field (:mod:`particles.distributed`): rows ``r0:r1`` of
``raw_field(x, dyn)`` (the attention part, every head, before the feed-forward term and the
projection), computed against all n columns with **the same tiles, the same kernels and the same
order of floating-point operations** as the local evaluation in :mod:`particles.field`, so that the
rows put together are the local result to the last bit. What that takes (measured, see
tests/test_distributed.py):

- a BLAS GEMM's result for a row depends on the shape and position of the tile it is computed in
  (OpenBLAS's edge kernels and K-blocking), so blocks are unions of the local evaluation's own row
  tiles, and every GEMM is called on the same slices as locally (:func:`alignment`);
- online path (Q != K): row tiles are independent, so a block repeats the local work of its tiles;
- Gram path (Q = K): locally, tile (I, J), J >= I, is exponentiated once and serves row block I
  directly and row block J transposed; a block repeats, for each of its row tiles R, exactly the
  local sequence of contributions: transposed tiles (I, R) for I < R in increasing I, then the direct
  tiles (R, J), J >= R, starting from zeros. The symmetric saving is lost (each off-diagonal tile is
  exponentiated by both of its row blocks: about 1.3-1.5x the local flops), the price of needing no
  reduction across workers.

The reference is the local evaluation on one thread (``config.THREADS = 1``, and any evaluation
too small to be threaded). The local *threaded* Gram path sums per-thread accumulators whose split
of the tiles depends on scheduling, so it differs from itself, run to run, in the last bits; the
online path is deterministic at any thread count, and the blocks match it to the last bit either way.

The tiling to replicate is the evaluating machine's (``Plan``): tile sizes, thread count and the
threading threshold are read from :mod:`particles.config` where the evaluation is requested and
shipped with every block, so a worker with other settings still repeats the requester's tiles.
Blocks run single-threaded (BLAS on one thread, the serial kernel twins): parallelism comes from
running many blocks at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import config, field, kernels
from .field import (
    BOUND_SPAN_MAX,
    GRAM_SPREAD_MAX,
    _float_type,
    _with_ones,
)
from .params import Dynamics


@dataclass(frozen=True)
class Plan:
    """The local evaluation's tiling parameters (from :mod:`particles.config` of the requester)."""

    tile_rows: int
    tile_cols: int
    tile_gram: int
    threads: int
    threaded_min_work: int

    @classmethod
    def here(cls) -> Plan:
        return cls(
            tile_rows=int(config.TILE_ROWS),
            tile_cols=int(config.TILE_COLS),
            tile_gram=int(config.TILE_GRAM),
            threads=1 if field._FIXED_ORDER else int(config.THREADS),  # field.fixed_order()
            threaded_min_work=int(config.THREADED_MIN_WORK),
        )

    def online_rows(self, n: int, m: int, dk: int, dv: int) -> int:
        """Rows per tile of the local online path for q (n, dk), k (m, dk), v (m, dv)."""
        tr = min(self.tile_rows, n)
        threads = self.threads if n * m * (dk + dv + 1) >= self.threaded_min_work else 1
        if threads > 1:
            tr = max(min(tr, -(-n // (2 * threads))), min(n, 64))
        return tr

    def gram_rows(self, n: int) -> int:
        """Side of the Gram path's tiles in the one-thread local evaluation."""
        return min(self.tile_gram, n)


def alignment(n: int, d: int, dyn: Dynamics, plan: Plan | None = None) -> int:
    """Row blocks must start at multiples of this (and end there or at n) to repeat local tiles.

    The least common multiple of the tile heights any head may use (its Gram tile and its online
    row tile) for n particles in dimension d, capped at n.
    """
    plan = plan or Plan.here()
    a = 1
    for h in range(dyn.heads):
        Q, _, V = dyn.head(h)
        dk = d if Q is None else Q.shape[0]
        dv = V.shape[0] if isinstance(V, np.ndarray) else d
        for tile in (plan.gram_rows(n), plan.online_rows(n, n, dk, dv)):
            a = math.lcm(a, tile)
            if a >= n:
                return n
    return a


def attention_field_rows(x: np.ndarray, dyn: Dynamics, r0: int, r1: int, plan: Plan) -> np.ndarray:
    """Rows r0:r1 of :func:`particles.field.raw_field` without the feed-forward term. Shape (r1 - r0, d).

    ``x`` (n, d) validated, float64 or float32 (the result has its dtype); ``r0``, ``r1`` aligned
    (:func:`alignment`). Bit-identical to those rows of the local evaluation (module docstring).
    """
    n, d = x.shape
    dt = x.dtype
    acc = np.zeros((r1 - r0, d), dtype=dt)
    kw = dict(normalize=dyn.kind == "SA", causal=dyn.causal, plan=plan)
    with config.blas_threads(1):
        for h in range(dyn.heads):
            q, k, vals, scale = field.head_inputs(x, dyn, h)
            if scale is None:
                attention_rows(q, k, vals, dyn.beta, r0, r1, out=acc, **kw)
            else:
                acc += scale * attention_rows(q, k, vals, dyn.beta, r0, r1, **kw)
    return acc


def attention_rows(
    q, k, v, beta, r0: int, r1: int, *, normalize=True, causal=False, out=None, plan=None
) -> np.ndarray:
    """Rows r0:r1 of :func:`particles.field.attention` (q, k, v, beta), added into ``out`` (r1 - r0, dv).

    Same dispatch as ``attention`` (Gram path when ``k is q``); ``r0``, ``r1`` must be multiples of
    the local tile height (or ``r1 = n``).
    """
    plan = plan or Plan.here()
    same = k is q
    dt = _float_type(q, k, v)
    q = np.ascontiguousarray(q, dtype=dt)
    k = q if same else np.ascontiguousarray(k, dtype=dt)
    v = np.ascontiguousarray(v, dtype=dt)
    n, m = q.shape[0], k.shape[0]
    if out is None:
        out = np.zeros((r1 - r0, v.shape[1]), dtype=dt)
    if n == 0 or m == 0 or r1 <= r0:
        return out
    beta = float(beta)
    if same and v.shape[0] == n and beta >= 0.0:
        c = 0.5 * beta * np.einsum("ij,ij->i", q, q, dtype=np.float64)
        if c.max() - c.min() <= GRAM_SPREAD_MAX:
            return _gram_rows(q, v, beta, c, normalize, causal, out, r0, r1, plan.gram_rows(n))
    tr = plan.online_rows(n, m, q.shape[1], v.shape[1])
    tc = min(plan.tile_cols, m)
    kmax = float(np.sqrt(np.einsum("ij,ij->i", k, k, dtype=np.float64).max()))
    c = abs(beta) * kmax * np.sqrt(np.einsum("ij,ij->i", q, q, dtype=np.float64))
    shift = c if 2.0 * float(c.max()) <= BOUND_SPAN_MAX[dt] else None
    return _online_rows(q, k, v, beta, normalize, causal, out, r0, r1, tr, tc, shift)


def _check_aligned(r0: int, r1: int, n: int, tile: int) -> None:
    if r0 % tile or (r1 % tile and r1 != n) or not 0 <= r0 < r1 <= n:
        raise ValueError(f"rows {r0}:{r1} are not aligned with the local tiles of {tile} rows")


def _finish_rows(acc, out, normalize: bool, scale) -> None:
    """:func:`particles.field._finish` with ``scale`` = exp(log_scale) already evaluated on the same
    array as locally (numpy's exp may round a value differently in its SIMD body and its tail)."""
    dv = acc.shape[1] - 1
    if normalize:
        out += acc[:, :dv] / acc[:, dv:]
    else:
        out += acc[:, :dv] * scale[:, None]


def _gram_rows(q, v, beta, c, normalize, causal, out, r0, r1, T):
    """Rows r0:r1 of :func:`particles.field._attention_gram` run on one thread (tiles of T)."""
    n, dv = v.shape
    dt = q.dtype
    _check_aligned(r0, r1, n, T)
    cmax = float(c.max())
    aug = _with_ones(v, np.exp(c - cmax).astype(dt))
    cs = c.astype(dt)
    scale = None
    if not normalize:
        with np.errstate(over="ignore"):
            scale = np.exp(c + cmax - np.log(n)).astype(dt)
    sbuf = np.empty(T * T, dtype=dt)
    part = np.empty((T, dv + 1), dt)
    kern = kernels._exp_shift_tile.serial
    for R in range(r0, r1, T):
        R1 = min(n, R + T)
        bR = R1 - R
        acc = np.zeros((bR, dv + 1), dtype=dt)
        if not causal:  # the tiles (I, R), I < R, seen from their row block I: transposed
            for i0 in range(0, R, T):
                i1 = min(n, i0 + T)
                bi = i1 - i0
                s = sbuf[: bi * bR].reshape(bi, bR)
                np.matmul(q[i0:i1], q[R:R1].T, out=s)
                kern(s, beta, cs[i0:i1], cs[R:R1], i0 - R, False)
                np.matmul(s.T, aug[i0:i1], out=part[:bR])
                acc += part[:bR]
        for j0 in range(0, R + 1, T) if causal else range(R, n, T):
            j1 = min(n, j0 + T)
            bj = j1 - j0
            s = sbuf[: bR * bj].reshape(bR, bj)
            np.matmul(q[R:R1], q[j0:j1].T, out=s)
            kern(s, beta, cs[R:R1], cs[j0:j1], R - j0, causal and j0 == R)
            np.matmul(s, aug[j0:j1], out=part[:bR])
            acc += part[:bR]
        _finish_rows(acc, out[R - r0 : R1 - r0], normalize, None if scale is None else scale[R:R1])
    return out


def _online_rows(q, k, v, beta, normalize, causal, out, r0, r1, tr, tc, shift):
    """Rows r0:r1 of :func:`particles.field._attention_online`: its row tiles of tr inside r0:r1."""
    n, m = q.shape[0], k.shape[0]
    dv = v.shape[1]
    dt = q.dtype
    _check_aligned(r0, r1, n, tr)
    aug = _with_ones(v)
    cs = None if shift is None else shift.astype(dt)
    empty = np.empty(0, dt)
    sbuf = np.empty(tr * tc, dtype=dt)
    acc = np.empty((tr, dv + 1), dtype=dt)
    part = np.empty((tr, dv + 1), dtype=dt)
    mrow = np.empty(tr)
    alpha = np.empty(tr)
    for a0 in range(r0, r1, tr):
        a1 = min(n, a0 + tr)
        B = a1 - a0
        mx = mrow[:B]
        mx[:] = -np.inf
        cend = min(m, a1) if causal else m
        for c0 in range(0, cend, tc):
            c1 = min(cend, c0 + tc)
            s = sbuf[: B * (c1 - c0)].reshape(B, c1 - c0)
            np.matmul(q[a0:a1], k[c0:c1].T, out=s)
            if shift is not None:
                kernels._exp_shift_tile.serial(
                    s, beta, cs[a0:a1], empty, a0 - c0, causal and c1 - 1 > a0
                )
                if c0 == 0:
                    np.matmul(s, aug[c0:c1], out=acc[:B])
                else:
                    np.matmul(s, aug[c0:c1], out=part[:B])
                    acc[:B] += part[:B]
                continue
            kernels._softmax_tile.serial(s, beta, a0 - c0, causal and c1 - 1 > a0, mx, alpha[:B])
            if c0 == 0:
                np.matmul(s, aug[c0:c1], out=acc[:B])
            else:
                np.matmul(s, aug[c0:c1], out=part[:B])
                kernels._rescale_add.serial(acc[:B], alpha[:B], part[:B])
        if shift is not None:
            mx[:] = shift[a0:a1]
        scale = None
        if not normalize:
            with np.errstate(over="ignore"):
                scale = np.exp(mx - np.log(m)).astype(dt)
        _finish_rows(acc[:B], out[a0 - r0 : a1 - r0], normalize, scale)
    return out
