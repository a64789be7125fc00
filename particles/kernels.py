"""numba kernels: arrays and scalars in, results written into preallocated ``out`` arrays.

Every kernel here has a plain-numpy reference in ``tests/reference.py``; the public wrappers that
validate input live in :mod:`particles.fields`. Kernels are private (``_name``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import config

_jit = dict(cache=config.CACHE, fastmath=set(config.FASTMATH))

#: below this many elements a parallel kernel's launch cost (~0.1 ms with workqueue) outweighs its gain
PARALLEL_MIN_WORK = 1 << 16


def _serial_and_parallel(fn):
    """Compile ``fn`` twice: serial (``fn.serial``, prange runs as range) and parallel (the result).

    Call :func:`pick` to choose by the amount of work.
    """
    par = njit(parallel=True, **_jit)(fn)
    par.serial = njit(**_jit)(fn)
    return par


def pick(kernel, work: int):
    """The parallel kernel for large work, its serial twin for small work."""
    return kernel if work >= PARALLEL_MIN_WORK else kernel.serial


_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # high bits of ln 2 (exact product with small integers)
_LN2_LO = 1.9082149292705877e-10
_EXP_MIN = -708.0  # below this exp underflows to a denormal; clamp so results stay normal (or 0)


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
        p = p * r + 1.0
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


@_serial_and_parallel
def _softmax_tile(s, beta, row0, col0, causal, m, l, alpha):
    """Online-softmax update for one tile of logits, in place.

    ``s`` (B, C) holds <q_i, k_j> for rows row0..row0+B and columns col0..col0+C. On return
    ``s[i, j] = exp(beta s[i, j] - m_new[i])`` (0 where masked: causal and col > row),
    ``alpha[i] = exp(m_old[i] - m_new[i])`` (the factor by which earlier partial sums must be rescaled),
    ``m`` holds the new running maxima and ``l`` the rescaled running row sums.
    Rows whose every entry so far is masked keep m = -inf, l = 0 and alpha = 1.
    """
    B, C = s.shape
    for i in prange(B):
        row = s[i]
        lim = C
        if causal:
            lim = min(C, row0 + i - col0 + 1)
        if lim <= 0:
            row[:] = 0.0
            alpha[i] = 1.0
            continue
        mx = -np.inf
        for j in range(lim):
            v = beta * row[j]
            row[j] = v
            if v > mx:
                mx = v
        m_old = m[i]
        m_new = max(m_old, mx)
        for j in range(lim):
            row[j] = row[j] - m_new
        bits = np.empty(lim, np.int64)
        _exp_row(row[:lim], row[:lim], bits)
        acc = 0.0
        for j in range(lim):
            acc += row[j]
        for j in range(lim, C):
            row[j] = 0.0
        if m_old == -np.inf:
            a = 0.0
        else:
            a = np.exp(m_old - m_new)
        alpha[i] = a
        l[i] = l[i] * a + acc
        m[i] = m_new


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
