"""numba kernels: arrays and scalars in, results written into preallocated ``out`` arrays.

Every kernel here has a plain-numpy reference in ``tests/reference.py``; the public wrappers that
validate input live in :mod:`particles.fields`. Kernels are private (``_name``).
"""

from __future__ import annotations

import types as pytypes

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from . import config

_jit = dict(cache=config.CACHE, fastmath=set(config.FASTMATH))

#: below this many elements a parallel kernel's launch cost (~0.1 ms with workqueue) outweighs its gain
PARALLEL_MIN_WORK = 1 << 16


def _serial_and_parallel(fn):
    """Compile ``fn`` twice: serial (``fn.serial``, prange runs as range; releases the GIL so tiles
    can run on several Python threads) and parallel (the result).

    Call :func:`pick` to choose by the amount of work.
    """
    par = njit(parallel=True, **_jit)(fn)
    # The twin must be a distinct function: numba's on-disk cache is keyed by the function's
    # qualified name and signature, not by its flags, so compiling ``fn`` twice would let the serial
    # twin load the parallel machine code (which the workqueue layer aborts on from several threads).
    twin = pytypes.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__
    )
    twin.__qualname__ = fn.__qualname__ + "_serial"
    twin.__doc__ = fn.__doc__
    par.serial = njit(nogil=True, **_jit)(twin)
    return par


def pick(kernel, work: int):
    """The parallel kernel for large work, its serial twin for small work."""
    return kernel if work >= PARALLEL_MIN_WORK else kernel.serial


_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # high bits of ln 2 (exact product with small integers)
_LN2_LO = 1.9082149292705877e-10
_EXP_MIN = -708.0  # below this exp underflows to a denormal; clamp so results stay normal (or 0)


@njit(inline="always", **_jit)
def _exp_poly(r):
    """e^r for |r| <= ln2/2: degree-12 Taylor polynomial in Horner form (relative error < 2e-16)."""
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    return p * r + 1.0


@njit(**_jit)
def _exp_row(x, out, bits):
    """out[j] = exp(x[j]) for a 1-D array, vectorisable (no SVML in numba here).

    Cody–Waite reduction x = k ln2 + r with |r| <= ln2/2, a degree-12 Taylor polynomial for e^r
    (truncation error < 2e-16 relative) and the factor 2^k assembled from exponent bits.
    Inputs below -708 give exactly 0 (the caller only ever exponentiates x <= 0 after max-subtraction).
    ``bits`` is an int64 scratch array of the same length; ``x`` and ``out`` may be the same array.
    """
    m = x.shape[0]
    for j in range(m):
        v0 = x[j]
        v = max(v0, _EXP_MIN)
        kf = np.floor(v * _LOG2E + 0.5)
        r = (v - kf * _LN2_HI) - kf * _LN2_LO
        p = _exp_poly(r)
        out[j] = p if v0 >= _EXP_MIN else 0.0
        bits[j] = (np.int64(kf) + 1023) << 52
    scale = bits.view(np.float64)
    for j in range(m):
        out[j] = out[j] * scale[j]


@njit(**_jit)
def _exp_array(x, out):
    """Elementwise exp of a 1-D array through :func:`_exp_row` (used in tests)."""
    bits = np.empty(x.shape[0], np.int64)
    _exp_row(x, out, bits)


# --- tile kernels of the attention field --------------------------------------------------------
# The exponential of a whole row is computed in two vectorised loops: a polynomial for e^r and the
# rounding of x log2(e) by the "magic number" trick (adding 1.5 * 2^52 leaves the integer k in the low
# mantissa bits), then integer arithmetic on those bits builds 2^k. AVX2 has no packed
# float64 -> int64 conversion, so this is ~0.7 ns/element faster than ``np.int64(np.floor(...))``.
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


@njit(**_jit)
def _exp_shift_row(row, lim, a, b, cj, buf):
    """row[j] = exp(a * row[j] - b - cj[j]) for j < lim (float64); ``cj`` may be empty (then 0).

    The caller guarantees the exponent is <= 0 up to rounding; exponents below -708 give 0.
    ``buf`` is a float64 scratch array of length >= lim.
    """
    ib = buf.view(np.int64)
    use_c = cj.shape[0] > 0
    for j in range(lim):
        v = a * row[j] - b
        if use_c:
            v = v - cj[j]
        under = v < _EXP_MIN
        v = max(v, _EXP_MIN)
        t = v * _LOG2E + _MAGIC
        kf = t - _MAGIC
        r = (v - kf * _LN2_HI) - kf * _LN2_LO
        p = _exp_poly(r)
        row[j] = 0.0 if under else p
        buf[j] = t
    for j in range(lim):
        ib[j] = (ib[j] + _MAGIC_OFF) << 52
    for j in range(lim):
        row[j] = row[j] * buf[j]


@njit(**_jit)
def _exp_shift_row32(row, lim, a, b, cj, buf):
    """float32 twin of :func:`_exp_shift_row` (degree-7 polynomial, rel. error < 1e-7; clamp at -87)."""
    ib = buf.view(np.int32)
    use_c = cj.shape[0] > 0
    a = np.float32(a)
    b = np.float32(b)
    for j in range(lim):
        v = a * row[j] - b
        if use_c:
            v = v - cj[j]
        under = v < _EXP_MIN32
        v = max(v, _EXP_MIN32)
        t = v * _LOG2E32 + _MAGIC32
        kf = t - _MAGIC32
        r = (v - kf * _LN2_HI32) - kf * _LN2_LO32
        p = _C32[7]
        p = p * r + _C32[6]
        p = p * r + _C32[5]
        p = p * r + _C32[4]
        p = p * r + _C32[3]
        p = p * r + _C32[2]
        p = p * r + _C32[1]
        p = p * r + _C32[0]
        row[j] = _ZERO32 if under else p
        buf[j] = t
    for j in range(lim):
        ib[j] = (ib[j] + _MAGIC_OFF32) << 23
    for j in range(lim):
        row[j] = row[j] * buf[j]


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


def _exp_shift_any(
    row, lim, a, b, cj, buf
):  # typed dispatch (float32 / float64), see overload below
    raise NotImplementedError


@overload(_exp_shift_any, jit_options=dict(cache=config.CACHE))
def _exp_shift_any_impl(row, lim, a, b, cj, buf):
    if row.dtype == types.float32:
        return lambda row, lim, a, b, cj, buf: _exp_shift_row32(row, lim, a, b, cj, buf)
    return lambda row, lim, a, b, cj, buf: _exp_shift_row(row, lim, a, b, cj, buf)


@_serial_and_parallel
def _exp_shift_tile(s, beta, ci, cj, diag, causal):
    """s[i, j] <- exp(beta s[i, j] - ci[i] - cj[j]) in place; 0 where causal and j > i + diag.

    The shifts make every exponent <= 0 (e.g. ci = beta |q_i|^2 / 2 = cj for the Gram tile of
    q q^T, where the exponent is -beta |q_i - q_j|^2 / 2), so no row maximum is needed.
    ``diag`` = first row index - first column index of the tile (global).
    """
    B, C = s.shape
    for i in prange(B):
        row = s[i]
        lim = min(C, i + diag + 1) if causal else C
        if lim <= 0:
            row[:] = 0.0
            continue
        buf = np.empty(lim, s.dtype)
        _exp_shift_any(row, lim, beta, ci[i], cj[:lim], buf)
        row[lim:] = 0.0


@_serial_and_parallel
def _softmax_tile(s, beta, diag, causal, m, alpha):
    """Online-softmax update for one tile of logits, in place (FlashAttention style).

    ``s`` (B, C) holds <q_i, k_j>. On return ``s[i, j] = exp(beta s[i, j] - m_new[i])`` (0 where
    masked: causal and j > i + diag, with ``diag`` = first row - first column of the tile),
    ``alpha[i] = exp(m_old[i] - m_new[i])`` (the factor for the earlier partial sums) and ``m`` holds
    the new running maxima. Rows with every entry so far masked keep m = -inf and get alpha = 1.
    Row sums are not formed here: the caller multiplies by [v, 1] so the GEMM yields them.
    """
    B, C = s.shape
    empty = np.empty(0, s.dtype)
    for i in prange(B):
        row = s[i]
        lim = min(C, i + diag + 1) if causal else C
        if lim <= 0:
            row[:] = 0.0
            alpha[i] = 1.0
            continue
        mx = beta * (_row_max(row, lim) if beta >= 0 else _row_min(row, lim))
        m_old = m[i]
        m_new = max(m_old, mx)
        buf = np.empty(lim, s.dtype)
        _exp_shift_any(row, lim, beta, m_new, empty, buf)
        row[lim:] = 0.0
        alpha[i] = 0.0 if m_old == -np.inf else np.exp(m_old - m_new)
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
def _normalize_rows(x):
    """x_i <- x_i / |x_i| in place."""
    n, d = x.shape
    for i in prange(n):
        s = 0.0
        for k in range(d):
            s += x[i, k] * x[i, k]
        s = 1.0 / np.sqrt(s)
        for k in range(d):
            x[i, k] *= s
