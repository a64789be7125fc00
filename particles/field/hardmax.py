"""Hardmax attention (beta = inf): each token attends to the maximisers of <q_i, k_j>, ties averaged.

The zero-temperature limit of softmax attention, for one head with queries q (n, d_k), keys
k (m, d_k) and values v (m, d_v):

    H_i = (1 / |C_i|) sum_{j in C_i} v_j,    C_i = { j : <q_i, k_j> = max_l <q_i, k_l> },

the hardmax attention of Alcalde, Fantuzzi, Zuazua, *Clustering in pure-attention hardmax
transformers and its role in sentiment analysis*, arXiv 2407.01602 (SIMODS 2025), and the
beta -> +inf limit of Alcalde, Geshkovski, Ruiz-Balet, *Attention's forward pass and Frank-Wolfe*,
arXiv 2508.09628. The tie rule is ours (the papers' rule at ties could not be read, see
``docs/papers.md``): it is the limit of softmax, softmax_j(beta <q_i, k_j>) -> 1/|C_i| on C_i and 0
elsewhere, so the softmax output tends to the uniform average over the maximisers ("ties
averaged").

**Ties.** The scores are computed in floating point (a GEMM per tile), so an exact tie of the
mathematics (a symmetric configuration, a token equidistant from two others) can come out unequal
in the last bits. Column j is counted as a maximiser of row i when

    <q_i, k_j> >= M_i - tau_i,   tau_i = TIE_RTOL |q_i| max_l |k_l|,   TIE_RTOL = 1e-12,

with M_i the row's computed maximum: |q_i| max |k_l| bounds every |score| of the row, and a GEMM
entry's rounding error is at most ~ d_k eps |q_i| |k_j| (eps = 2.2e-16), below tau_i for
d_k <= 4000. Scores closer than tau_i are one tie.

**Tiles, memory O((n + m)(d_k + d_v) + tile).** Two passes over column tiles per row tile: the first
takes the row maxima M_i, the second adds v_j and counts the columns within tau_i of M_i. One pass
with a running maximum cannot do this exactly: when the maximum rises by less than tau_i, some
members of the tie set must leave it, and a running sum cannot give them back. With a single
column tile (m <= tile width) the tile of scores is computed once and read twice. The numba kernels
:func:`_tile_rowmax` and :func:`_tile_ties` have plain-numpy twins of the same names in
``tests/naive.py``, compared exactly in ``tests/test_hardmax.py`` (same summation order).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import ParticlesError
from ..model.kernels import _jit

#: relative tie tolerance of the hardmax: scores within TIE_RTOL |q_i| max_l |k_l| of the row's
#: maximum are maximisers (see the module docstring)
TIE_RTOL = 1e-12

#: rows x columns of a tile of scores (4 MiB in float64)
TILE_ROWS, TILE_COLS = 256, 2048


@njit(nogil=True, **_jit)
def _tile_rowmax(L, r0, c0, causal, m):
    """m[a] <- max(m[a], max_b L[a, b]) over the columns b allowed for row r0 + a (causal: column
    c0 + b <= r0 + a)."""
    tr, tc = L.shape
    for a in range(tr):
        lim = tc
        if causal:
            lim = min(tc, max(0, r0 + a - c0 + 1))
        best = m[a]
        for b in range(lim):
            if L[a, b] > best:
                best = L[a, b]
        m[a] = best


@njit(nogil=True, **_jit)
def _tile_ties(L, thr, v, r0, c0, causal, acc, cnt):
    """acc[a] += v[b] and cnt[a] += 1 for every allowed column b with L[a, b] >= thr[a], in the
    order b = 0, 1, ... (the twin adds in the same order)."""
    tr, tc = L.shape
    dv = v.shape[1]
    for a in range(tr):
        lim = tc
        if causal:
            lim = min(tc, max(0, r0 + a - c0 + 1))
        t = thr[a]
        for b in range(lim):
            if L[a, b] >= t:
                cnt[a] += 1
                for c in range(dv):
                    acc[a, c] += v[b, c]


def tolerances(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """tau_i = TIE_RTOL |q_i| max_l |k_l| (float64, shape (n,)): the tie tolerance of each row."""
    kn = float(np.sqrt(np.max(np.einsum("ij,ij->i", k, k, dtype=np.float64))))
    return TIE_RTOL * kn * np.sqrt(np.einsum("ij,ij->i", q, q, dtype=np.float64))


def attention(
    q,
    k,
    v,
    *,
    causal: bool = False,
    tile_rows: int = TILE_ROWS,
    tile_cols: int = TILE_COLS,
    details: bool = False,
    rows: tuple[int, int] | None = None,
):
    """H_i = mean of v_j over the maximisers j of <q_i, k_j> (ties within tau_i; module docstring).

    Shapes: q (n, d_k), k (m, d_k), v (m, d_v); returns (n, d_v), float32 when all three are float32,
    else float64. ``causal``: only j <= i compete (then m >= n is expected; row i has j = i).
    ``details=True`` returns ``(H, counts, maxima, tau)``: |C_i|, M_i and tau_i as well.
    ``rows=(r0, r1)``: rows r0:r1 of the result only (shape (r1 - r0, d_v)), computed with the
    same row tiles, column tiles and order of operations as the whole evaluation, so they are its
    rows to the last bit; r0 and r1 (unless r1 = n) must be multiples of ``tile_rows`` (the row blocks of
    :mod:`particles.field.hardmax_dask`). tau_i still takes max_l |k_l| over every key.
    Memory O((n + m)(d_k + d_v) + tile_rows tile_cols).
    """
    dt = np.float32 if all(a.dtype == np.float32 for a in (q, k, v)) else np.float64
    q = np.ascontiguousarray(q, dtype=dt)
    k = np.ascontiguousarray(k, dtype=dt)
    v = np.ascontiguousarray(v, dtype=dt)
    n, m = q.shape[0], k.shape[0]
    if k.shape[1] != q.shape[1] or v.shape[0] != m:
        raise ParticlesError(f"hardmax attention: shapes q {q.shape}, k {k.shape}, v {v.shape}")
    if m == 0:
        raise ParticlesError("hardmax attention needs at least one key")
    tr, tc = int(tile_rows), int(tile_cols)
    lo, hi = (0, n) if rows is None else (int(rows[0]), int(rows[1]))
    if not (0 <= lo <= hi <= n) or lo % tr or (hi % tr and hi != n):
        raise ParticlesError(f"hardmax attention: rows {lo}:{hi} are not whole row tiles of {tr}")
    out = np.zeros((hi - lo, v.shape[1]), dtype=dt)
    cnt = np.zeros(hi - lo, dtype=np.int64)
    maxima = np.full(hi - lo, -np.inf, dtype=dt)
    tau = tolerances(q, k)[lo:hi]
    once = m <= tc
    for r0 in range(lo, hi, tr):
        r1 = min(hi, r0 + tr)
        qr = q[r0:r1]
        stop = min(m, r1) if causal else m  # causal: columns beyond the last row never compete
        starts = range(0, stop, tc)
        a0, a1 = r0 - lo, r1 - lo
        mx = maxima[a0:a1]
        kept = None
        for c0 in starts:
            L = qr @ k[c0 : min(stop, c0 + tc)].T
            _tile_rowmax(L, r0, c0, causal, mx)
            if once:
                kept = L
        thr = (mx - tau[a0:a1]).astype(dt)
        for c0 in starts:
            c1 = min(stop, c0 + tc)
            L = kept if once else qr @ k[c0:c1].T
            _tile_ties(L, thr, v[c0:c1], r0, c0, causal, out[a0:a1], cnt[a0:a1])
    out /= cnt[:, None].astype(dt)
    if details:
        return out, cnt, maxima, tau
    return out
