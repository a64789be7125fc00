"""Sinkhorn attention (``Dynamics(kind="SK")``): the attention matrix made doubly stochastic by
Sinkhorn's algorithm, in the log domain, tile by tile, in O(n d) memory.

Sander, Ablin, Blondel, Peyré, *Sinkformers: Transformers with doubly stochastic attention*,
arXiv 2110.11773 (AISTATS 2022; the definition as the authors' code implements it): with
C_ij = beta <Q x_i, K x_j>, K^0 = exp(C), Sinkhorn's algorithm alternates row and column normalisations of K^0; SoftMax is its first step (SA), and
Sinkformers use its limit K^inf, the one matrix diag(e^f) K^0 diag(e^g) whose rows and columns all
sum to 1. The dynamics is then

    xdot_i = P_perp(x_i) sum_j K^inf_ij V x_j.

How it is computed here. The state is the pair of dual potentials f, g (length n each): never the
n x n matrix. One iteration is two passes over the tiles of the logits:

- column pass g_j = -LSE_i(C_ij + f_i) (the columns of diag(e^f) K^0 normalised),
- row pass   f_i = -LSE_j(C_ij + g_j) (then the rows),

where LSE is a log-sum-exp, taken tile by tile with a running maximum (the numba kernel
:func:`particles.field.kernels._lse_tile`, twin ``tests/naive.py::_lse_tile``): a BLAS GEMM writes a
tile of <q_i, k_j>, the kernel folds it into each row's running (max, sum). No exponent is ever
positive, so this is stable for every beta (the scaling-domain iteration u <- 1/(K v) under- or
overflows once beta ~ 700). The column pass is the row pass with q and k exchanged (the same
function on the same tiles when Q = K). Iteration starts from g = 0, whose row pass is SoftMax's
normaliser, and stops when the row sums of the column-normalised matrix are within ``tol`` of 1:
err = max_i |e^{f_i - f_i^new} - 1| <= tol. Then every row sums to 1 to rounding and every column
to within a factor 1 +- err. Symmetric logits (Q^T K symmetric, identity weights included) have
f = g, and take one pass per iteration instead, the averaged iteration f <- (f + T f) / 2 of
:func:`solve`, which converges in ~25 iterations where the alternating one needs thousands. The output pass sum_j exp(C_ij + f_i + g_j) [V x_j, 1] (exponents
<= 0: they are the logs of entries of a row-stochastic matrix) divides by the computed row sum.

Cost: 2 n^2 d_k flops and n^2 exponentials per pass, 2 passes per iteration (1 when symmetric),
plus the output pass; measured at n = 4096, d = 64: benchmarks/RESULTS.md §9.
Sinkhorn's iteration count grows with beta and with how far the configuration is from one where
SoftMax is already doubly stochastic; above :data:`MAX_ITER` iterations a
:class:`SinkhornNotConverged` says so (with the error reached). Everything here is float64 (a
float32 evaluation is computed in float64 and rounded at the end: SK's tolerances are below
float32's resolution).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ParticlesError
from . import kernels, tiles

#: the most Sinkhorn iterations (row + column pass) one evaluation may take
MAX_ITER = 5000


class SinkhornNotConverged(ParticlesError):
    """Sinkhorn's iteration did not reach ``Dynamics.sinkhorn_tol`` within :data:`MAX_ITER`."""


class Potentials(NamedTuple):
    """Sinkhorn's dual potentials: K^inf_ij = exp(beta <q_i, k_j> + f_i + g_j); ``iterations``
    taken and ``error`` reached (max_i |row sum_i - 1| before the last row normalisation)."""

    f: np.ndarray
    g: np.ndarray
    iterations: int
    error: float


def lse_row_tile(a, b, beta, npot, tc: int, ws, threaded: bool) -> np.ndarray:
    """-LSE_j(beta <a_i, b_j> - npot_j) for the rows of ``a`` (one row tile), over column tiles of
    ``tc``; ``ws`` = (sbuf, mx, acc) scratch of at least (len(a) tc, len(a), len(a)); ``threaded``:
    inside a threaded task (the kernel's serial twin; the bits are the same)."""
    sbuf, mx, acc = ws
    B, m = a.shape[0], b.shape[0]
    mx[:B] = -np.inf
    acc[:B] = 0.0
    for c0 in range(0, m, tc):
        c1 = min(m, c0 + tc)
        s = sbuf[: B * (c1 - c0)].reshape(B, c1 - c0)
        np.matmul(a, b[c0:c1].T, out=s)
        kern = tiles.kernel(kernels._lse_tile, s.size, threaded)
        kern(s, beta, npot[c0:c1], mx[:B], acc[:B])
    return -(mx[:B] + np.log(acc[:B]))


def _lse_pass(q, k, beta, pot, tiling: tiles.Tiling) -> np.ndarray:
    """out_i = -LSE_j(beta <q_i, k_j> + pot_j) for every row i, tile by tile (row tiles are tasks)."""
    n, m, dk = q.shape[0], k.shape[0], q.shape[1]
    threads, tr, tc = tiling.online(n, m, dk, 0)
    npot = np.ascontiguousarray(-pot)
    out = np.empty(n)

    def work(r0, ws, threaded):
        r1 = min(n, r0 + tr)
        out[r0:r1] = lse_row_tile(q[r0:r1], k, beta, npot, tc, ws, threaded)

    tiles.run_tasks(
        list(range(0, n, tr)),
        work,
        lambda: (np.empty(tr * tc), np.empty(tr), np.empty(tr)),
        threads,
    )
    return out


def solve(
    q, k, beta: float, tol: float, *, symmetric: bool | None = None, tiling=None
) -> Potentials:
    """Sinkhorn's potentials of exp(beta q k^T) (q (n, d_k), k (n, d_k)) to the tolerance ``tol``
    (module docstring), or a :class:`SinkhornNotConverged`.

    ``symmetric`` (default: ``k is q``): the logits are symmetric (Q^T K symmetric), so the
    solution has f = g and the averaged iteration f <- (f + T f) / 2, T f = -LSE_j(C_ij + f_j),
    is used: one pass per iteration, and its linearisation (I - P) / 2 damps the modes of the
    attention matrix P with eigenvalues near 1, which make the alternating iteration crawl once
    P is near the identity (large beta). Measured on 50 uniform points of S^2, tol 1e-9:
    alternating 11, 61, 284, 16 073 and > 20 000 iterations at beta = 1, 4, 10, 30, 100; averaged
    25, 25, 26, 26, 26. Otherwise the alternating iteration (for random Gaussian Q, K, the same
    points: 12, 51, 138, 410, 1467 iterations at those beta; the averaged Jacobi variant took
    4x as many).
    """
    if symmetric is None:
        symmetric = k is q
    q = np.ascontiguousarray(q, dtype=np.float64)
    k = q if k is q else np.ascontiguousarray(k, dtype=np.float64)
    if q.shape[0] != k.shape[0]:
        raise ParticlesError(
            f"Sinkhorn attention needs as many keys as queries (a square matrix); got "
            f"{q.shape[0]} and {k.shape[0]}"
        )
    tiling = tiling or tiles.Tiling.here()
    beta = float(beta)
    return iterate(
        lambda pot: _lse_pass(q, k, beta, pot, tiling),
        lambda pot: _lse_pass(k, q, beta, pot, tiling),
        q.shape[0],
        tol,
        symmetric=symmetric,
        beta=beta,
    )


def iterate(row_pass, col_pass, n: int, tol: float, *, symmetric: bool, beta: float) -> Potentials:
    """Sinkhorn's iteration of :func:`solve`, on any evaluation of its two passes: ``row_pass(g)``
    is f_i = -LSE_j(C_ij + g_j) and ``col_pass(f)`` is g_j = -LSE_i(C_ij + f_i) (length-n arrays;
    ``col_pass`` is unused when ``symmetric``). Shared by the local field, the Dask row blocks
    (:mod:`particles.field.sinkhorn_dask`) and the mean-field solvers, so that all stop by the same
    test: err = max_i |e^{f_i - f_i^new} - 1| <= tol, else :class:`SinkhornNotConverged` after
    :data:`MAX_ITER` iterations. ``beta`` is only quoted in that error."""
    err = np.inf
    it = 0
    if symmetric:
        f = 0.5 * row_pass(np.zeros(n))
        while it < MAX_ITER:
            t = row_pass(f)
            it += 1
            with np.errstate(over="ignore"):
                err = float(np.max(np.abs(np.expm1(f - t))))
            if err <= tol:
                return Potentials(f, f, it, err)
            f = 0.5 * (f + t)
        _fail(tol, beta, n, err)
    f = row_pass(np.zeros(n))
    while it < MAX_ITER:
        g = col_pass(f)
        f_new = row_pass(g)
        it += 1
        with np.errstate(over="ignore"):
            err = float(np.max(np.abs(np.expm1(f - f_new))))
        f = f_new
        if err <= tol:
            return Potentials(f, g, it, err)
    _fail(tol, beta, n, err)


def _fail(tol, beta, n, err):
    raise SinkhornNotConverged(
        f"Sinkhorn's iteration did not reach sinkhorn_tol = {tol:g} in {MAX_ITER} iterations "
        f"(beta = {beta:g}, n = {n}; the marginals are off by {err:.2g}): use a larger "
        "sinkhorn_tol or a smaller beta"
    )


def symmetric(dyn, h: int) -> bool:
    """Whether head ``h``'s logits <Q_h x_i, K_h x_j> are symmetric in (i, j): Q_h^T K_h symmetric
    (Q_h = K_h, identities included)."""
    Q, K, _ = dyn.head(h)
    if Q is None and K is None:
        return True
    Qm = np.eye(dyn.d) if Q is None else Q
    Km = np.eye(dyn.d) if K is None else K
    if Q is not None and K is not None and np.array_equal(Q, K):
        return True
    B = Qm.T @ Km
    return bool(np.allclose(B, B.T, rtol=1e-14, atol=1e-14 * float(np.max(np.abs(B)))))


def apply(q, k, v, beta: float, pot: Potentials, *, rows=None, out=None, tiling=None) -> np.ndarray:
    """sum_j K^inf_ij v_j for the rows ``rows`` of q (default: all), added into ``out`` (float64):
    exp(beta <q_i, k_j> + f_i + g_j) tile by tile (exponents <= 0), divided by the computed row
    sum (1 to the tolerance of the potentials: so each row is exactly a convex combination)."""
    q = np.ascontiguousarray(q, dtype=np.float64)
    k = np.ascontiguousarray(k, dtype=np.float64)
    f = pot.f
    if rows is not None:
        q = np.ascontiguousarray(q[rows])
        f = f[rows]
    n, m = q.shape[0], k.shape[0]
    aug = tiles.with_ones(np.ascontiguousarray(v, dtype=np.float64))
    dv = aug.shape[1] - 1
    if out is None:
        out = np.zeros((n, dv))
    tiling = tiling or tiles.Tiling.here()
    threads, tr, tc = tiling.online(n, m, q.shape[1], dv)
    nf = np.ascontiguousarray(-f)
    ng = np.ascontiguousarray(-pot.g)

    def work(r0, ws, threaded):
        sbuf, acc, part = ws
        r1 = min(n, r0 + tr)
        B = r1 - r0
        for c0 in range(0, m, tc):
            c1 = min(m, c0 + tc)
            s = sbuf[: B * (c1 - c0)].reshape(B, c1 - c0)
            np.matmul(q[r0:r1], k[c0:c1].T, out=s)
            kern = tiles.kernel(kernels._exp_shift_tile, s.size, threaded)
            kern(s, beta, nf[r0:r1], ng[c0:c1], 0, False)
            if c0 == 0:
                np.matmul(s, aug[c0:c1], out=acc[:B])
            else:
                np.matmul(s, aug[c0:c1], out=part[:B])
                acc[:B] += part[:B]
        tiles.finish(acc[:B], out[r0:r1], True, None)

    tiles.run_tasks(
        list(range(0, n, tr)),
        work,
        lambda: (np.empty(tr * tc), np.empty((tr, dv + 1)), np.empty((tr, dv + 1))),
        threads,
    )
    return out


def attention(
    q, k, v, beta: float, tol: float, *, symmetric=None, rows=None, out=None
) -> np.ndarray:
    """sum_j K^inf_ij v_j (K^inf the doubly stochastic scaling of exp(beta q k^T)), for ``rows``
    (default: all), added into ``out``; float64. Memory O(n (d_k + d_v) + tile)."""
    pot = solve(q, k, beta, tol, symmetric=symmetric)
    return apply(q, k, v, beta, pot, rows=rows, out=out)
