"""Sinkhorn attention (``kind="SK"``) on a Dask cluster: row blocks of the log-domain iteration.

The local evaluation (:mod:`particles.field.sinkhorn`) keeps only the dual potentials f, g (length n)
and makes passes of log-sum-exps over the tiles of the logits C_ij = beta <q_i, k_j>. Here each pass
is one round of tasks, one per row block r0:r1 of the queries (aligned with the local tiles):

- **row pass** f_i = -LSE_j(C_ij + g_j): local to the block given all of g (every column is read);
  :func:`_row_block` computes its rows in the local pass's own tiles, so they are the local rows to
  the last bit;
- **column pass** g_j = -LSE_i(C_ij + f_i): each block returns its partial L^b_j = LSE_{i in b}(C_ij +
  f_i) for every column j (:func:`_column_block`), and the partials are combined here by a
  log-sum-exp over the blocks, g_j = -(M_j + log sum_b e^{L^b_j - M_j}), M_j = max_b L^b_j (in
  block order: the same sum every time). Locally the column pass folds the rows in column tiles
  instead, so g agrees with the local one to rounding, not to the bit;
- **output** sum_j K^inf_ij [v_j, 1] for the block's rows (:func:`_output_block`, the local output
  pass's tiles), divided by the row sum.

The iteration and its stopping test are the local one's (:func:`particles.field.sinkhorn.iterate`):
the same ``sinkhorn_tol``, the same :class:`~particles.field.sinkhorn.SinkhornNotConverged` after
``MAX_ITER`` iterations. The field agrees with the local one to rounding: general Q != K within
about 1e-15 relative (the column sums are grouped by blocks); symmetric logits (Q^T K symmetric)
take only row passes, in the local tiles, and gave the local field bit for bit under OpenBLAS's
Haswell kernels, within about 1e-15 under SkylakeX (measured in tests/test_sinkhorn_dask.py).

Per worker the memory is O(n d): q, k and the values (n x d_k, n x d_v, sent once per head and
evaluation), one potential (n) per pass, and a tile; a column partial (n floats) comes back per
block. The cost is one round trip to the workers per pass: (iterations + 1) round trips per head
(symmetric), 2 iterations + 1 otherwise, each carrying a length-n vector out to the workers and,
for the column pass, one back per block.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import config
from ..errors import ParticlesError
from ..model.params import Dynamics
from . import kernels, sinkhorn, tiles
from .inputs import add_head, check_logits, head_inputs
from .rows import Plan

#: potentials up to this many bytes travel inside the tasks; larger ones are scattered once per pass
SMALL = 1 << 16

# --- the tasks (run on the workers) -----------------------------------------------------------------


def _lse_rows(a, b, beta, pot, r0, r1, tr, tc) -> np.ndarray:
    """-LSE_j(beta <a_i, b_j> + pot_j) for rows r0:r1 of ``a``, in row tiles of ``tr`` starting at
    r0 and column tiles of ``tc``: the tiles of :func:`particles.field.sinkhorn._lse_pass`."""
    npot = np.ascontiguousarray(-pot)
    out = np.empty(r1 - r0)
    ws = (np.empty(tr * tc), np.empty(tr), np.empty(tr))
    for a0 in range(r0, r1, tr):
        a1 = min(r1, a0 + tr)
        out[a0 - r0 : a1 - r0] = sinkhorn.lse_row_tile(a[a0:a1], b, beta, npot, tc, ws, True)
    return out


def _aligned(*arrays):
    # an array unpickled on a worker may sit at any address; numpy then copies it into another
    # layout before a GEMM, which some OpenBLAS kernels round differently (particles.field.rows)
    return [np.require(a, np.float64, ["C", "A"]) for a in arrays]


def _row_block(q, k, beta, g, r0, r1, plan) -> np.ndarray:
    """One task of a row pass: f_i = -LSE_j(beta <q_i, k_j> + g_j) for i in r0:r1."""
    q, k, g = _aligned(q, k, g)
    _, tr, tc = plan.online(q.shape[0], k.shape[0], q.shape[1], 0)
    with config.blas_threads(1):
        return _lse_rows(q, k, beta, g, r0, r1, tr, tc)


def _column_block(q, k, beta, f, r0, r1, plan) -> np.ndarray:
    """One task of a column pass: L_j = LSE_{i in r0:r1}(beta <q_i, k_j> + f_i) for every column j."""
    q, k, f = _aligned(q, k, f)
    qb = np.ascontiguousarray(q[r0:r1])
    _, tr, tc = plan.online(k.shape[0], r1 - r0, q.shape[1], 0)
    with config.blas_threads(1):
        return -_lse_rows(k, qb, beta, f[r0:r1], 0, k.shape[0], tr, tc)


def _output_block(q, k, v, beta, f, g, r0, r1, plan) -> np.ndarray:
    """One task of the output pass: rows r0:r1 of sum_j K^inf_ij v_j (float64, (r1 - r0, d_v)),
    in the tiles of :func:`particles.field.sinkhorn.apply`."""
    q, k, v, f, g = _aligned(q, k, v, f, g)
    n, m = q.shape[0], k.shape[0]
    aug = tiles.with_ones(v)
    dv = aug.shape[1] - 1
    _, tr, tc = plan.online(n, m, q.shape[1], dv)
    nf, ng = -f, np.ascontiguousarray(-g)
    out = np.zeros((r1 - r0, dv))
    sbuf, acc, part = np.empty(tr * tc), np.empty((tr, dv + 1)), np.empty((tr, dv + 1))
    with config.blas_threads(1):
        for a0 in range(r0, r1, tr):
            a1 = min(r1, a0 + tr)
            B = a1 - a0
            for c0 in range(0, m, tc):
                c1 = min(m, c0 + tc)
                s = sbuf[: B * (c1 - c0)].reshape(B, c1 - c0)
                np.matmul(q[a0:a1], k[c0:c1].T, out=s)
                kernels._exp_shift_tile.serial(s, beta, nf[a0:a1], ng[c0:c1], 0, False)
                if c0 == 0:
                    np.matmul(s, aug[c0:c1], out=acc[:B])
                else:
                    np.matmul(s, aug[c0:c1], out=part[:B])
                    acc[:B] += part[:B]
            tiles.finish(acc[:B], out[a0 - r0 : a1 - r0], True, None)
    return out


# --- the evaluation (runs here) ---------------------------------------------------------------------


def alignment(n: int, d: int, dyn: Dynamics, plan: Plan) -> int:
    """Row blocks start at multiples of this: the row tiles of every head's passes (capped at n)."""
    a = 1
    for h in range(dyn.heads):
        Q, _, V = dyn.head(h)
        dk = d if Q is None else Q.shape[0]
        dv = dyn.d_v if dyn.factored else V.shape[0] if isinstance(V, np.ndarray) else d
        for tile in (plan.online(n, n, dk, 0)[1], plan.online(n, n, dk, dv)[1]):
            a = math.lcm(a, tile)
            if a >= n:
                return n
    return a


def blocks(field, n: int, d: int, dyn: Dynamics, plan: Plan) -> list[tuple[int, int]]:
    """The row blocks of one evaluation on ``field`` (a DaskField): aligned, about
    ``field.blocks_per_thread`` per worker thread, or ``field.block_rows`` rows each."""
    a = alignment(n, d, dyn, plan)
    if field.block_rows:
        size = a * max(1, -(-int(field.block_rows) // a))
    else:
        size = a * max(1, -(-n // (a * field.blocks_per_thread * field.threads())))
    return [(r0, min(n, r0 + size)) for r0 in range(0, n, size)]


def combine_columns(parts) -> np.ndarray:
    """g_j = -LSE_b(L^b_j) from the blocks' column partials L^b (:func:`_column_block`), in block
    order (the same sum every time); O(n) memory beyond the partials."""
    mx = parts[0].copy()
    for p in parts[1:]:
        np.maximum(mx, p, out=mx)
    tot = np.zeros(mx.shape[0])
    for p in parts:
        tot += np.exp(p - mx)
    return -(mx + np.log(tot))


class _Passes:
    """The passes of one head on the cluster: q, k, v scattered once, a potential per pass."""

    def __init__(self, field, distributed, q, k, v, beta, blocks, plan):
        self.field, self.dist = field, distributed
        self.client = field.client
        self.beta, self.blocks, self.plan = beta, blocks, plan
        ts = time.perf_counter()
        sc = self.client.scatter
        self.q = sc(q, broadcast=True, hash=False)
        self.k = self.q if k is q else sc(k, broadcast=True, hash=False)
        self.v = sc(v, broadcast=True, hash=False)
        field.timing["scatter"] += time.perf_counter() - ts

    def _run(self, fn, *args):
        ts = time.perf_counter()
        args = [
            self.client.scatter(a, hash=False)
            if isinstance(a, np.ndarray) and a.nbytes > SMALL
            else a
            for a in args
        ]
        self.field.timing["scatter"] += time.perf_counter() - ts
        futs = [
            self.client.submit(fn, *args, r0, r1, self.plan, pure=False, retries=1)
            for r0, r1 in self.blocks
        ]
        try:
            ts = time.perf_counter()
            self.dist.wait(futs, timeout=self.field.timeout)
            res = self.client.gather(futs)
            self.field.timing["compute"] += time.perf_counter() - ts
            return res
        except BaseException:
            self.client.cancel(futs)
            raise

    def rows(self, g):
        return np.concatenate(self._run(_row_block, self.q, self.k, self.beta, g))

    def columns(self, f):
        return combine_columns(self._run(_column_block, self.q, self.k, self.beta, f))

    def output(self, pot: sinkhorn.Potentials):
        rows = self._run(_output_block, self.q, self.k, self.v, self.beta, pot.f, pot.g)
        return np.concatenate(rows, axis=0)


def attention(field, x: np.ndarray, dyn: Dynamics, distributed) -> np.ndarray:
    """The attention part of the SK field (every head, no ffn, no projection) at a validated x, on
    ``field`` (a :class:`particles.field.dask.DaskField`): the local
    ``raw_field``'s SK heads, with every pass in row blocks on the workers (module docstring).
    A failed round (a lost worker, lost data) sends the whole evaluation again, up to
    ``field.retries`` times; a :class:`~particles.field.sinkhorn.SinkhornNotConverged` is raised
    at once. ``distributed``: the ``distributed`` module (imported by the caller)."""
    n, d = x.shape
    plan = Plan.here()
    bl = blocks(field, n, d, dyn, plan)
    last = None
    t0 = time.perf_counter()
    for attempt in range(field.retries + 1):
        try:
            acc = np.zeros((n, d), dtype=x.dtype)
            for h in range(dyn.heads):
                q, k, vals, scale = head_inputs(x, dyn, h)
                check_logits(q, k, dyn.beta)
                sym = sinkhorn.symmetric(dyn, h)
                q64 = np.ascontiguousarray(q, dtype=np.float64)
                k64 = q64 if k is q else np.ascontiguousarray(k, dtype=np.float64)
                v64 = np.ascontiguousarray(vals, dtype=np.float64)
                if q64.shape[0] != k64.shape[0]:  # pragma: no cover - self-attention is square
                    raise ParticlesError("Sinkhorn attention needs as many keys as queries")
                ps = _Passes(field, distributed, q64, k64, v64, float(dyn.beta), bl, plan)
                pot = sinkhorn.iterate(
                    ps.rows, ps.columns, n, dyn.sinkhorn_tol, symmetric=sym, beta=dyn.beta
                )
                add_head(acc, ps.output(pot).astype(x.dtype), scale)
            field.evaluations += 1
            field.timing["total"] += time.perf_counter() - t0
            return acc
        except (KeyboardInterrupt, ParticlesError):
            raise
        except Exception as e:  # a lost worker, lost data, a closed connection: send again
            last = e
            if attempt < field.retries:
                field.resubmitted += 1
                time.sleep(min(5.0, 0.5 * 2**attempt))
    raise ParticlesError(
        f"the distributed field evaluation failed {field.retries + 1} times; last error: "
        f"{type(last).__name__}: {last}"
    )
