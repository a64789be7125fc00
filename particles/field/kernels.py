"""The field's numba kernels: arrays and scalars in, results written into preallocated ``out`` arrays.

The tiled attention field (wrappers in :mod:`particles.field`), the O(n p) circle expansion, the
mean-field circle's Fourier sums, and the shared helpers (``pick``, the vectorised exp); the stepping
kernels of the batched ensembles are in :mod:`particles.solvers.kernels`. Each kernel has a
plain-numpy twin of the same name in ``tests/naive.py``. Kernels are private (``_name``).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from .. import config
from ..model.kernels import PARALLEL_MIN_WORK, _jit, _serial_and_parallel, pick  # noqa: F401

_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # high bits of ln 2 (exact product with small integers)
_LN2_LO = 1.9082149292705877e-10
_EXP_MIN = -708.0  # below this exp underflows to a denormal; clamp so results stay normal (or 0)
_EXP_MAX = 709.79  # just above log(DBL_MAX): the clamp keeps 2^(k-1) finite, the product overflows


#: Taylor coefficients 1/k! of e^r, highest degree (12) first (Horner)
_EXP_COEFFS = tuple(1.0 / math.factorial(k) for k in range(12, -1, -1))


@njit(inline="always", **_jit)
def _exp_poly(r):
    """e^r for |r| <= ln2/2: degree-12 Taylor polynomial in Horner form (relative error < 2e-16)."""
    p = _EXP_COEFFS[0]
    for c in _EXP_COEFFS[1:]:  # a loop over a constant tuple: unrolled
        p = p * r + c
    return p


@njit(**_jit)
def _exp_row(x, out, bits):
    """out[j] = exp(x[j]) for a 1-D array, vectorisable (no SVML in numba here).

    Cody–Waite reduction x = k ln2 + r with |r| <= ln2/2, a degree-12 Taylor polynomial for e^r
    (truncation error < 2e-16 relative) and the factor 2^k assembled from exponent bits.
    Inputs below -708 give exactly 0, above log(DBL_MAX) = 709.78 +inf, NaN gives NaN (callers
    exponentiate x <= 0 after max-subtraction). The factor is applied as (2p) 2^(k-1), exact like
    p 2^k, so that k = 1024 (x up to 709.78) does not overflow the exponent bits.
    ``bits`` is an int64 scratch array of the same length; ``x`` and ``out`` may be the same array.
    """
    m = x.shape[0]
    for j in range(m):
        v0 = x[j]
        v = min(max(v0, _EXP_MIN), _EXP_MAX)
        kf = np.floor(v * _LOG2E + 0.5)
        r = (v - kf * _LN2_HI) - kf * _LN2_LO
        p = 2.0 * _exp_poly(r)
        out[j] = p if v0 >= _EXP_MIN else (0.0 if v0 < _EXP_MIN else v0)
        bits[j] = (np.int64(kf) + 1022) << 52
    scale = bits.view(np.float64)
    for j in range(m):
        out[j] = out[j] * scale[j]


@njit(**_jit)
def _exp_array(x, out):
    """Elementwise exp of a 1-D array through :func:`_exp_row` (used in tests)."""
    bits = np.empty(x.shape[0], np.int64)
    _exp_row(x, out, bits)


# --- tile kernels of the attention field --------------------------------------------------------
# The exponential of a whole row is computed in one vectorised loop: a polynomial for e^r and the
# rounding of x log2(e) by the "magic number" trick (adding 1.5 * 2^52 leaves the integer k in the low
# mantissa bits), then integer arithmetic on those bits (bit casts, no conversion) builds 2^k. AVX2
# has no packed float64 -> int64 conversion, so this is ~0.7 ns/element faster than
# ``np.int64(np.floor(...))``.
_MAGIC = 6755399441055744.0  # 1.5 * 2^52
_MAGIC_OFF = np.int64(1023) - np.array(_MAGIC).view(np.int64).item()
_MAGIC32 = np.float32(12582912.0)  # 1.5 * 2^23
_MAGIC_OFF32 = np.int32(127) - np.array(_MAGIC32).view(np.int32).item()
_EXP_MIN32 = np.float32(-87.0)  # exp(-87) ~ 1.6e-38 is still a normal float32
_LOG2E32 = np.float32(_LOG2E)
_LN2_HI32 = np.float32(0.693145751953125)  # 12 significant bits: k * hi is exact for |k| < 2^12
_LN2_LO32 = np.float32(1.4286067653e-06)
_ZERO32 = np.float32(0.0)
_C32 = tuple(np.float32(1.0 / f) for f in (1.0, 1.0, 2.0, 6.0, 24.0, 120.0, 720.0, 5040.0))


#: float32 Taylor coefficients of e^r (degree 7), highest degree first (Horner)
_EXP_COEFFS32 = _C32[::-1]
_PRECISION64 = (_EXP_MIN, _LOG2E, _MAGIC, _LN2_HI, _LN2_LO, 0.0, _MAGIC_OFF, 52, _EXP_COEFFS)
_PRECISION32 = (
    _EXP_MIN32, _LOG2E32, _MAGIC32, _LN2_HI32, _LN2_LO32, _ZERO32, _MAGIC_OFF32, 23, _EXP_COEFFS32
)  # fmt: skip


def _exp_precision(buf, a, b):
    """The precision-dependent part of :func:`_exp_shift_row`, by the dtype of ``buf``:
    ``(a, b, bits, consts)`` with a, b rounded to that dtype, ``bits`` the integer view of ``buf``
    and ``consts`` = (clamp, log2 e, magic, ln2 high, ln2 low, zero, exponent offset, mantissa
    bits, Taylor coefficients), all of that dtype. (Python body for NUMBA_DISABLE_JIT; compiled
    through the overload below.)"""
    if buf.dtype == np.float32:
        return np.float32(a), np.float32(b), buf.view(np.int32), _PRECISION32
    return float(a), float(b), buf.view(np.int64), _PRECISION64


@overload(_exp_precision, jit_options=dict(cache=config.CACHE))
def _exp_precision_impl(buf, a, b):
    if buf.dtype == types.float32:
        return lambda buf, a, b: (np.float32(a), np.float32(b), buf.view(np.int32), _PRECISION32)
    return lambda buf, a, b: (np.float64(a), np.float64(b), buf.view(np.int64), _PRECISION64)


def _pow2_from_magic(t, off, shift):
    """2^k as t's dtype, from t = v log2(e) + 1.5 * 2^52 (float32: 2^23), whose low mantissa bits
    hold the integer k nearest v log2(e): the bits of t plus ``off`` (giving k + 1023, float32:
    k + 127), shifted into the exponent field by ``shift`` (52 or 23), read as a float. (Python body
    for NUMBA_DISABLE_JIT; compiled through the overload below, as bit casts that vectorise.)"""
    ft, it = (np.float32, np.int32) if isinstance(t, np.float32) else (np.float64, np.int64)
    bits = np.array(t, ft).view(it)[()]
    return np.array((bits + it(off)) << it(shift), it).view(ft)[()]


@intrinsic
def _float_bits(typingctx, x):
    """The bits of a float64 (float32) as an int64 (int32)."""
    it = types.int64 if x == types.float64 else types.int32

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(it))

    return it(x), codegen


@intrinsic
def _bits_float(typingctx, i, like):
    """The integer ``i`` (cut or widened to the width of ``like``'s type) read as such a float."""
    width = 64 if like == types.float64 else 32

    def codegen(context, builder, sig, args):
        v = args[0]
        if v.type.width > width:
            v = builder.trunc(v, ir.IntType(width))
        elif v.type.width < width:
            v = builder.sext(v, ir.IntType(width))
        return builder.bitcast(v, context.get_value_type(like))

    return like(i, like), codegen


@overload(_pow2_from_magic, jit_options=dict(cache=config.CACHE), inline="always")
def _pow2_from_magic_impl(t, off, shift):
    return lambda t, off, shift: _bits_float((_float_bits(t) + off) << shift, t)


@njit(**_jit)
def _exp_shift_row(row, lim, a, b, cj, buf):
    """row[j] = exp(a * row[j] - b - cj[j]) for j < lim, in the precision of ``row``; ``cj`` may be
    empty (then 0).

    The caller guarantees the exponent is <= 0 up to rounding; exponents below the clamp (float64
    -708, float32 -87) give 0. float64: degree-12 polynomial; float32: degree 7, ``a`` and ``b``
    rounded to float32 first. ``buf``: a scratch array of row's dtype (typing only: the factor 2^k
    is built in the same loop, :func:`_pow2_from_magic`, with the same bits as the earlier three
    loops through ``buf`` and 10-15 % faster: 0.48 -> 0.43 ns per element in float64, 0.25 ->
    0.22 in float32, 512 x 512 tiles on one core).
    One source for both precisions (:func:`_exp_precision` types the constants); it replaced two
    hand-written twins with the same bits and no slowdown: ``_exp_shift_tile.serial`` on a
    512 x 512 tile, interleaved runs on one core, 0.177 -> 0.156 ms (float64) and 0.107 -> 0.094 ms
    (float32), best of 300.
    """
    a, b, ib, consts = _exp_precision(buf, a, b)
    emin, log2e, magic, ln2_hi, ln2_lo, zero, off, shift, coeffs = consts
    use_c = cj.shape[0] > 0
    for j in range(lim):
        v = a * row[j] - b
        if use_c:
            v = v - cj[j]
        under = v < emin
        v = max(v, emin)
        t = v * log2e + magic
        kf = t - magic
        r = (v - kf * ln2_hi) - kf * ln2_lo
        p = coeffs[0]
        for c in coeffs[1:]:  # Horner; the loop over a constant tuple is unrolled
            p = p * r + c
        row[j] = zero if under else p * _pow2_from_magic(t, off, shift)


@njit(cache=config.CACHE, fastmath=set(config.FASTMATH_MINMAX))
def _row_max(row, lim):
    """max(row[:lim]) (reassociation is exact for max, so the loop may vectorise)."""
    mx = row[0]
    for j in range(1, lim):
        mx = max(mx, row[j])
    return mx


@njit(cache=config.CACHE, fastmath=set(config.FASTMATH_MINMAX))
def _row_min(row, lim):
    mn = row[0]
    for j in range(1, lim):
        mn = min(mn, row[j])
    return mn


#: rows per chunk of the tile kernels: one scratch row per chunk, not per row (allocating it per
#: row cost ~15 % of a 512-wide row's exponentials: 0.58 -> 0.50 ns per element on one core)
_CHUNK_ROWS = 16

#: fastmath flags of the row sums: reassociation lets the sum vectorise (a fixed order for the
#: compiled code: the same bits on any number of threads)
_SUM_FASTMATH = set(config.FASTMATH) | {"reassoc"}


@njit(cache=config.CACHE, fastmath=_SUM_FASTMATH)
def _row_sum(row, lim):
    """sum(row[:lim]) (vectorised; not inlined, which kept the callers' loops from vectorising)."""
    t = row[0] - row[0]
    for j in range(lim):
        t += row[j]
    return t


@_serial_and_parallel
def _exp_shift_tile(s, beta, ci, cj, diag, causal):
    """s[i, j] <- exp(beta s[i, j] - ci[i] - cj[j]) in place; 0 where causal and j > i + diag.

    The shifts make every exponent <= 0 (e.g. ci = beta |q_i|^2 / 2 = cj for the Gram tile of
    q q^T, where the exponent is -beta |q_i - q_j|^2 / 2), so no row maximum is needed.
    ``diag`` = first row index - first column index of the tile (global).
    """
    B, C = s.shape
    for b in prange((B + _CHUNK_ROWS - 1) // _CHUNK_ROWS):
        buf = np.empty(C, s.dtype)
        for i in range(b * _CHUNK_ROWS, min(B, b * _CHUNK_ROWS + _CHUNK_ROWS)):
            row = s[i]
            lim = min(C, i + diag + 1) if causal else C
            if lim <= 0:
                row[:] = 0.0
                continue
            _exp_shift_row(row, lim, beta, ci[i], cj[:lim], buf)
            row[lim:] = 0.0


@_serial_and_parallel
def _exp_shift_sum_tile(s, beta, ci, diag, causal, z):
    """s[i, j] <- exp(beta s[i, j] - ci[i]) in place (0 where causal and j > i + diag), and
    z[i] = sum_j s[i, j] of the new row: the online path's tile with its row sums, so that the
    values' GEMM needs no column of ones. ``z`` may be a strided view (a column of the partial sums).
    """
    B, C = s.shape
    empty = np.empty(0, s.dtype)
    for b in prange((B + _CHUNK_ROWS - 1) // _CHUNK_ROWS):
        buf = np.empty(C, s.dtype)
        for i in range(b * _CHUNK_ROWS, min(B, b * _CHUNK_ROWS + _CHUNK_ROWS)):
            row = s[i]
            lim = min(C, i + diag + 1) if causal else C
            if lim <= 0:
                row[:] = 0.0
                z[i] = 0.0
                continue
            _exp_shift_row(row, lim, beta, ci[i], empty, buf)
            z[i] = _row_sum(row, lim)
            row[lim:] = 0.0


@_serial_and_parallel
def _softmax_tile(s, beta, diag, causal, m, alpha, z):
    """Online-softmax update for one tile of logits, in place (FlashAttention style).

    ``s`` (B, C) holds <q_i, k_j>. On return ``s[i, j] = exp(beta s[i, j] - m_new[i])`` (0 where
    masked: causal and j > i + diag, with ``diag`` = first row - first column of the tile),
    ``alpha[i] = exp(m_old[i] - m_new[i])`` (the factor for the earlier partial sums), ``z[i]`` the
    new row's sum and ``m`` holds the new running maxima. Rows with every entry so far masked keep
    m = -inf and get alpha = 1, z = 0. The caller multiplies s by v and rescales its partial sums
    (with their row sums) by alpha.
    """
    B, C = s.shape
    empty = np.empty(0, s.dtype)
    for b in prange((B + _CHUNK_ROWS - 1) // _CHUNK_ROWS):
        buf = np.empty(C, s.dtype)
        for i in range(b * _CHUNK_ROWS, min(B, b * _CHUNK_ROWS + _CHUNK_ROWS)):
            row = s[i]
            lim = min(C, i + diag + 1) if causal else C
            if lim <= 0:
                row[:] = 0.0
                alpha[i] = 1.0
                z[i] = 0.0
                continue
            mx = beta * (_row_max(row, lim) if beta >= 0 else _row_min(row, lim))
            m_old = m[i]
            m_new = max(m_old, mx)
            _exp_shift_row(row, lim, beta, m_new, empty, buf)
            z[i] = _row_sum(row, lim)
            row[lim:] = 0.0
            alpha[i] = 0.0 if m_old == -np.inf else np.exp(m_old - m_new)
            m[i] = m_new


@njit(cache=config.CACHE, fastmath=set(config.FASTMATH_MINMAX))
def _shifted_row_max(row, beta, npot):
    """max_j (beta row[j] - npot[j]) over finite values (reassociation is exact for max); four
    partial maxima (measured 0.28 against 0.63 ns per entry with one, rows of 2048)."""
    C = row.shape[0]
    C4 = C - C % 4
    m0 = m1 = m2 = m3 = -np.inf
    for j in range(0, C4, 4):
        m0 = max(m0, beta * row[j] - npot[j])
        m1 = max(m1, beta * row[j + 1] - npot[j + 1])
        m2 = max(m2, beta * row[j + 2] - npot[j + 2])
        m3 = max(m3, beta * row[j + 3] - npot[j + 3])
    for j in range(C4, C):
        m0 = max(m0, beta * row[j] - npot[j])
    return max(max(m0, m1), max(m2, m3))


@_serial_and_parallel
def _lse_tile(s, beta, npot, m, acc):
    """One tile of a running log-sum-exp per row (Sinkhorn's passes, :mod:`particles.field.sinkhorn`).

    ``s`` (B, C) holds <q_i, k_j> and is overwritten. For each row i, with v_ij = beta s_ij - npot_j:
    ``m[i]`` <- max(m[i], max_j v_ij) and ``acc[i]`` <- acc[i] e^{m_old - m_new} + sum_j e^{v_ij -
    m_new}, so that LSE_j v_ij = m[i] + log acc[i] once every tile is folded in. Start with
    m = -inf, acc = 0. ``npot`` is the negated potential of the tile's columns (finite).
    """
    B, C = s.shape
    C4 = C - C % 4
    for i in prange(B):
        row = s[i]
        m_old = m[i]
        m_new = max(m_old, _shifted_row_max(row, beta, npot))
        buf = np.empty(C, s.dtype)
        _exp_shift_row(row, C, beta, m_new, npot, buf)
        a0 = a1 = a2 = a3 = 0.0  # four partial sums: a fixed order, and no serial chain
        for j in range(0, C4, 4):
            a0 += row[j]
            a1 += row[j + 1]
            a2 += row[j + 2]
            a3 += row[j + 3]
        for j in range(C4, C):
            a0 += row[j]
        tot = (a0 + a1) + (a2 + a3)
        acc[i] = tot if m_old == -np.inf else acc[i] * np.exp(m_old - m_new) + tot
        m[i] = m_new


@_serial_and_parallel
def _rescale_add(acc, alpha, part):
    """acc[i, :] = alpha[i] acc[i, :] + part[i, :]."""
    for i in prange(acc.shape[0]):
        a = alpha[i]
        for k in range(acc.shape[1]):
            acc[i, k] = a * acc[i, k] + part[i, k]


@_serial_and_parallel
def _rescale_rows(acc, alpha):
    """acc[i, :] *= alpha[i]."""
    for i in prange(acc.shape[0]):
        a = alpha[i]
        if a != 1.0:
            for k in range(acc.shape[1]):
                acc[i, k] *= a


@_serial_and_parallel
def _project_tangent(x, v, out):
    """out_i = v_i - <x_i, v_i> x_i (the tangent projection P_perp at x_i)."""
    n, d = x.shape
    for i in prange(n):
        dot = 0.0
        for k in range(d):
            dot += x[i, k] * v[i, k]
        for k in range(d):
            out[i, k] = v[i, k] - dot * x[i, k]


@_serial_and_parallel
def _project_scan(x, v, out, ratio, bad):
    """out_i = v_i - <x_i, v_i> x_i as :func:`_project_tangent` (the same bits), and in the same
    pass over the row the repair scan of :func:`particles.field.stable.repaired`: bad_i = row i of
    ``out`` is not finite, or max_k |out_ik| < ratio max_k |v_ik| (the projection cancelled).
    ``ratio``: a scalar of out's dtype, so that the product rounds as numpy's does."""
    n, d = x.shape
    for i in prange(n):
        dot = 0.0
        for k in range(d):
            dot += x[i, k] * v[i, k]
        for k in range(d):
            out[i, k] = v[i, k] - dot * x[i, k]
        finite = True
        mo = abs(out[i, 0])
        mv = abs(v[i, 0])
        for k in range(d):
            a = abs(out[i, k])
            b = abs(v[i, k])
            if not np.isfinite(a):
                finite = False
            if a > mo:
                mo = a
            if b > mv:
                mv = b
        bad[i] = (not finite) or mo < ratio * mv


#: largest rows * inner * cols of one BLAS call (OpenBLAS runs GEMMs below 4 * 65536 single-threaded)
_BLAS_SERIAL_WORK = 131072


# --- O(n p) field on the circle (particles.field.expansion) ---------------------------------------------
# z_j = c_j + i s_j = e^{i theta_j}. The kernel e^{beta cos(theta_i - theta_j)} = sum_k I_k(beta) e^{ik(theta_i - theta_j)}
# (Jacobi–Anger) turns the kernel sums into the moments m_k = sum_j z_j^k. Powers z^k are formed by
# repeated complex multiplication (error ~ k eps, |z| = 1), B particles at a time with k outermost, so
# every inner loop is elementwise over particles and vectorises.

#: particles per block of the circle kernels (the inner, vectorised loop)
CIRCLE_BLOCK = 256

#: most partial-sum slots of the circle moments (prange iterations of :func:`_s1r_moments`): a fixed
#: number, not the thread count, so that the moments are summed in the same order, and the field has
#: the same bits, on any number of threads (noisy runs: same seed, same path)
CIRCLE_CHUNKS = 32


@_serial_and_parallel
def _s1r_moments(c, s, q, p, Q, chunks, acc_re, acc_im):
    """Partial sums of mu_kl = sum_j q_j^l (c_j + i s_j)^k, k <= p, l <= Q, into acc (chunks, p + 1,
    Q + 1).

    Chunk t (a prange iteration) handles particles [t n / chunks, (t + 1) n / chunks): it sums them
    per block position b into a buffer (p + 1, Q + 1, B), then over b in order into ``acc_*[t]``, so
    ``acc_re.sum(axis=0)`` is Re mu (the caller reduces; the order is fixed by ``chunks``).
    Reference: naive._s1r_moments.
    """
    n = c.shape[0]
    B = CIRCLE_BLOCK
    for t in prange(chunks):
        lo = t * n // chunks
        hi = (t + 1) * n // chunks
        br = np.zeros((p + 1, Q + 1, B))
        bi = np.zeros((p + 1, Q + 1, B))
        wr = np.empty(B)
        wi = np.empty(B)
        tr = np.empty(B)
        ti = np.empty(B)
        for b0 in range(lo, hi, B):
            m = min(B, hi - b0)
            cz = c[b0 : b0 + m]
            sz = s[b0 : b0 + m]
            qz = q[b0 : b0 + m]
            for b in range(m):
                wr[b] = 1.0
                wi[b] = 0.0
            for k in range(p + 1):
                for b in range(m):
                    tr[b] = wr[b]
                    ti[b] = wi[b]
                for l in range(Q + 1):
                    rk = br[k, l]
                    ik = bi[k, l]
                    for b in range(m):
                        rk[b] += tr[b]
                        ik[b] += ti[b]
                    for b in range(m):
                        tr[b] *= qz[b]
                        ti[b] *= qz[b]
                for b in range(m):
                    r = wr[b] * cz[b] - wi[b] * sz[b]
                    wi[b] = wr[b] * sz[b] + wi[b] * cz[b]
                    wr[b] = r
        for k in range(p + 1):
            for l in range(Q + 1):
                sr = 0.0
                si = 0.0
                for b in range(B):
                    sr += br[k, l, b]
                    si += bi[k, l, b]
                acc_re[t, k, l] = sr
                acc_im[t, k, l] = si


@_serial_and_parallel
def _s1r_sums(c, s, q, coef, G, N):
    """Kernel sums off the circle from the moment coefficients into G (n,) and N (n, 2).

    With v = q_i^a (c_i + i s_i)^k (k < coef.shape[0], a < coef.shape[1]) and
    coef[k, a] = (g1, g2, a1, a2, a3, a4): G_i = sum g1 Re v + g2 Im v,
    N_re = sum a1 Re v + a2 Im v, N_im = sum a3 Im v + a4 Re v (on the circle: q = 1, one column a = 0).
    Reference: naive._s1r_sums.
    """
    n = c.shape[0]
    K = coef.shape[0]
    A = coef.shape[1]
    B = CIRCLE_BLOCK
    nb = (n + B - 1) // B
    for blk in prange(nb):
        b0 = blk * B
        m = min(B, n - b0)
        wr = np.ones(m)
        wi = np.zeros(m)
        tr = np.empty(m)
        ti = np.empty(m)
        g = np.zeros(m)
        nr = np.zeros(m)
        ni = np.zeros(m)
        cz = c[b0 : b0 + m]
        sz = s[b0 : b0 + m]
        qz = q[b0 : b0 + m]
        for k in range(K):
            for b in range(m):
                tr[b] = wr[b]
                ti[b] = wi[b]
            for a in range(A):
                g1 = coef[k, a, 0]
                g2 = coef[k, a, 1]
                a1 = coef[k, a, 2]
                a2 = coef[k, a, 3]
                a3 = coef[k, a, 4]
                a4 = coef[k, a, 5]
                for b in range(m):
                    g[b] += g1 * tr[b] + g2 * ti[b]
                    nr[b] += a1 * tr[b] + a2 * ti[b]
                    ni[b] += a3 * ti[b] + a4 * tr[b]
                for b in range(m):
                    tr[b] *= qz[b]
                    ti[b] *= qz[b]
            for b in range(m):
                r = wr[b] * cz[b] - wi[b] * sz[b]
                wi[b] = wr[b] * sz[b] + wi[b] * cz[b]
                wr[b] = r
        for b in range(m):
            G[b0 + b] = g[b]
            N[b0 + b, 0] = nr[b]
            N[b0 + b, 1] = ni[b]


# --------------------------------------------------------------------------------------------------
# the circle (d = 2) with identity weights: the SA / USA field from the empirical Fourier coefficients,
# O(n K) (particles.meanfield.circle). e^{beta cos(theta_i - theta_j)} = sum_k I_k(beta) e^{ik(...)},
# truncated where I_k(beta) / I_0(beta) is below rounding, so the field is exact to rounding.

#: particles per block of the Fourier sums; the blocks' partial sums are added in block order, so the
#: result does not depend on the number of threads
FOURIER_BLOCK = 4096


@njit(parallel=True, **_jit)
def _circle_moments(theta, K, out):
    """out[b, k] = sum over block b of exp(-i k theta_j), k = 0..K (blocks of FOURIER_BLOCK particles).
    ``out`` (nblocks, K + 1) complex128."""
    n = theta.shape[0]
    nb = out.shape[0]
    for b in prange(nb):
        i0 = b * FOURIER_BLOCK
        i1 = min(n, i0 + FOURIER_BLOCK)
        for k in range(K + 1):
            out[b, k] = 0.0
        for i in range(i0, i1):
            zc = complex(math.cos(theta[i]), -math.sin(theta[i]))
            zk = complex(1.0, 0.0)
            for k in range(K + 1):
                out[b, k] += zk
                zk *= zc


@njit(parallel=True, **_jit)
def _circle_field(theta, coef, usa, scale, out):
    """out[i] = the angular velocity of particle i from coef[k] = I_k(beta) e^{-beta} c_k (k = 0..K,
    c_k = mean_j exp(-i k theta_j)): with S(theta) = sum_{|k| <= K} coef_k e^{ik theta} (the attention
    normaliser Z_i / n, scaled by e^{-beta}) and S' its derivative, USA: out = scale * S' (scale =
    e^beta / beta), SA: out = S' / (scale * S) (scale = beta)."""
    n = theta.shape[0]
    K = coef.shape[0] - 1
    for i in prange(n):
        z = complex(math.cos(theta[i]), math.sin(theta[i]))
        zk = z
        s = coef[0].real
        ds = 0.0
        for k in range(1, K + 1):
            t = coef[k] * zk
            s += 2.0 * t.real
            ds -= 2.0 * k * t.imag
            zk *= z
        if usa:
            out[i] = scale * ds
        else:
            out[i] = ds / (scale * s)
