"""Row blocks of the attention field, bit for bit the rows of the whole evaluation.

The unit of work of the distributed field (:mod:`particles.field.dask`): rows ``r0:r1`` of
``raw_field(x, dyn)`` (the attention part, every head, before the feed-forward term and the
projection), computed against all n columns with **the same tiles, the same kernels and the same
order of floating-point operations** as the local evaluation in :mod:`particles.field`, so that the
rows put together are the local result to the last bit. Both run the tile functions of
:mod:`particles.field.tiles`; this module only says which tiles a block needs, in which order.
What that takes (measured, see tests/test_distributed.py):

- a BLAS GEMM's result for a row depends on the shape and position of the tile it is computed in
  (OpenBLAS's edge kernels and K-blocking), so blocks are unions of the local evaluation's own row
  tiles, and every GEMM is called on the same slices as locally (:func:`alignment`);
- and on the memory layout of its operands: x unpickled on a worker may be unaligned, and numpy's
  matmul then copies it into another layout (an NN GEMM for an NT one), which OpenBLAS's SkylakeX
  kernels round differently; blocks take an aligned copy first, as :func:`field.check_points` does;
- online path (Q != K): row tiles are independent, so a block repeats the local work of its tiles;
- Gram path (Q = K): locally, tile (I, J), J >= I, is exponentiated once and serves row block I
  directly and row block J transposed, and every row block adds its products in one fixed order
  (``field_tiles.gram_row_order``: partner block increasing, whatever order the tiles finish in);
  a block repeats, for each of its row tiles R, that sequence from zeros: the transposed tiles
  (I, R), I < R, then the direct tiles (R, J), J >= R. The symmetric saving is lost (each
  off-diagonal tile is exponentiated by both of its row blocks: about 1.3-1.5x the local flops),
  the price of needing no reduction across workers.

- factored value maps (:func:`particles.field.inputs.factored_field`): every block computes the
  projections of all rows in the same row blocks as locally, its rows of the Gram heads as above,
  then for each of its row tiles every online head and the output GEMM, as the local task does.

The reference is the local evaluation with the requester's settings, threaded or not: its tiles
run with BLAS on one thread (threaded, and inside ``field.fixed_order()``), as blocks do. The one
exception is a one-thread local evaluation (``config.THREADS = 1``, or too small to be threaded)
outside ``fixed_order``: it runs each GEMM on OpenBLAS's own threads, whose split of a tile can
change its last bits (benchmarks/RESULTS.md §6a); with OpenBLAS on one thread it is matched too.

The tiling to replicate is the evaluating machine's (``Plan``, a ``field_tiles.Tiling``): tile
sizes, thread count, the threading threshold and whether ``fixed_order`` is on are read from
:mod:`particles.config` where the evaluation is requested and shipped with every block, so a worker
with other settings still repeats the requester's tiles. Blocks run single-threaded (BLAS on one
thread, the serial kernel twins): parallelism comes from running many blocks at once.

All of this holds under every OpenBLAS kernel (tested under Haswell and SkylakeX), as long as the
blocks run the kernel of the requesting process: kernels chosen for other CPUs round some GEMM
entries differently (``particles.field.dask``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import config
from ..model.params import Dynamics
from . import inputs, tiles
from .tiles import Tiling as Plan  # the requester's tiling, shipped with every block

__all__ = ["Plan", "alignment", "attention_field_rows", "attention_rows"]


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
        dv = dyn.d_v if dyn.factored else V.shape[0] if isinstance(V, np.ndarray) else d
        for tile in (plan.gram(n, dk, dv)[1], plan.online(n, n, dk, dv)[1]):
            a = math.lcm(a, tile)
            if a >= n:
                return n
    return a


def attention_field_rows(x: np.ndarray, dyn: Dynamics, r0: int, r1: int, plan: Plan) -> np.ndarray:
    """Rows r0:r1 of :func:`particles.field.raw_field` without the feed-forward term. Shape (r1 - r0, d).

    ``x`` (n, d) validated, float64 or float32 (the result has its dtype); ``r0``, ``r1`` aligned
    (:func:`alignment`). Bit-identical to those rows of the local evaluation (module docstring).
    """
    # An array unpickled on a worker may sit at any byte address (measured: a scattered x at 45
    # mod 64). numpy's matmul copies unaligned operands first, q_J^T as a C array, so OpenBLAS runs
    # another GEMM variant (NN for NT), which its SkylakeX kernels round differently (1 ulp; the
    # Haswell ones happen to agree). An aligned x gives the workers the local GEMM calls.
    x = np.require(x, requirements=["C", "A"])
    n, d = x.shape
    dt = x.dtype
    acc = np.zeros((r1 - r0, d), dtype=dt)
    if dyn.factored:
        return factored_rows(x, dyn, r0, r1, plan, acc)
    kw = dict(normalize=dyn.kind == "SA", causal=dyn.causal, plan=plan)
    with config.blas_threads(1):
        for h in range(dyn.heads):
            q, k, vals, scale = inputs.head_inputs(x, dyn, h)
            if scale is None:
                attention_rows(q, k, vals, dyn.beta, r0, r1, out=acc, **kw)
            else:
                acc += scale * attention_rows(q, k, vals, dyn.beta, r0, r1, **kw)
    return acc


def factored_rows(x: np.ndarray, dyn: Dynamics, r0: int, r1: int, plan: Plan, acc) -> np.ndarray:
    """Rows r0:r1 of :func:`particles.field.inputs.factored_field` (factored value maps), added
    into ``acc``: the same projections (every row, in the same row blocks), the Gram heads' rows
    (:func:`_gram_rows`), then for each local row tile every online head and the output GEMM."""
    n = x.shape[0]
    with config.blas_threads(1):
        hd = inputs.factored_inputs(x, dyn, plan, threads=1)
        dv, tr = hd.dv, hd.tr
        _check_aligned(r0, r1, n, tr)
        Y = np.zeros((r1 - r0, dyn.heads * dv), dtype=x.dtype)
        normalize = dyn.kind == "SA"
        for h, c in hd.gram:
            side = plan.gram(n, hd.dk, dv)[1]
            g, log_scale = tiles.gram_setup(hd.q[h], hd.v[h], dyn.beta, c, dyn.causal, side)
            _gram_rows(g, dv, normalize, log_scale, Y[:, h * dv : (h + 1) * dv], r0, r1)
        onl = [
            (
                h,
                tiles.online_setup(
                    hd.q[h], hd.k[h], hd.v[h], dyn.beta, dyn.causal, normalize, tr, hd.tc, shift
                ),
            )
            for h, shift in hd.online
        ]
        ws = tiles.online_workspace(onl[0][1]) if onl else None
        out = np.empty_like(acc)
        for a0 in range(r0, r1, tr):
            b0, b1 = a0 - r0, min(n, a0 + tr) - r0
            inputs.factored_tile(onl, Y, hd, a0, ws, out[b0:b1], True, offset=r0)
    acc += out
    return acc


def attention_rows(
    q, k, v, beta, r0: int, r1: int, *, normalize=True, causal=False, out=None, plan=None
) -> np.ndarray:
    """Rows r0:r1 of :func:`particles.field.attention` (q, k, v, beta), added into ``out`` (r1 - r0, dv).

    Same dispatch as ``attention`` (:func:`particles.field.inputs.attention_path`); ``r0``, ``r1`` must be
    multiples of the local tile height (or ``r1 = n``).
    """
    plan = plan or Plan.here()
    q, k, v, same = inputs.attention_inputs(q, k, v)
    n, m = q.shape[0], k.shape[0]
    if out is None:
        out = np.zeros((r1 - r0, v.shape[1]), dtype=q.dtype)
    if n == 0 or m == 0 or r1 <= r0:
        return out
    beta = float(beta)
    c, shift = inputs.attention_path(q, k, v, beta, same)
    if c is not None:
        side = plan.gram(n, q.shape[1], v.shape[1])[1]
        g, log_scale = tiles.gram_setup(q, v, beta, c, causal, side)
        return _gram_rows(g, v.shape[1], normalize, log_scale, out, r0, r1)
    _, tr, tc = plan.online(n, m, q.shape[1], v.shape[1])
    o = tiles.online_setup(q, k, v, beta, causal, normalize, tr, tc, shift)
    return _online_rows(o, out, r0, r1)


def _check_aligned(r0: int, r1: int, n: int, tile: int) -> None:
    if r0 % tile or (r1 % tile and r1 != n) or not 0 <= r0 < r1 <= n:
        raise ValueError(f"rows {r0}:{r1} are not aligned with the local tiles of {tile} rows")


def _gram_rows(g: tiles.Gram, dv: int, normalize, log_scale, out, r0, r1):
    """Rows r0:r1 of the Gram path: for each row tile R its contributions, in the local order."""
    n, T = g.q.shape[0], g.T
    _check_aligned(r0, r1, n, T)
    scale = None if normalize else tiles.usa_scale(log_scale, g.q.dtype)
    sbuf, part = np.empty(T * T, g.q.dtype), np.empty((T, dv + 1), g.q.dtype)
    for R in range(r0 // T, -(-r1 // T)):
        rows = slice(R * T, min(n, R * T + T))
        acc = np.zeros((rows.stop - rows.start, dv + 1), dtype=g.q.dtype)
        for I, J in tiles.gram_row_order(R, g.blocks, g.causal):
            if I == R:  # direct: s aug_J
                tiles.gram_tile(g, I, J, sbuf, part, None, True)
            else:  # (I, R) seen from row block R: s^T aug_I
                tiles.gram_tile(g, I, J, sbuf, None, part, True)
            acc += part[: len(acc)]
        dst = out[rows.start - r0 : rows.stop - r0]
        tiles.finish(acc, dst, normalize, None if scale is None else scale[rows])
    return out


def _online_rows(o: tiles.Online, out, r0, r1):
    """Rows r0:r1 of the online path: its row tiles inside r0:r1, one after the other."""
    n = o.q.shape[0]
    _check_aligned(r0, r1, n, o.tr)
    ws = tiles.online_workspace(o)
    for a0 in range(r0, r1, o.tr):
        tiles.online_tile(o, a0, ws, out[a0 - r0 : min(n, a0 + o.tr) - r0], True)
    return out
