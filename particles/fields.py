"""The attention vector field on the sphere (SPEC Part A, eqs. 2.3–2.8), tile by tile.

For each head, ``sum_j A_ij V x_j`` is computed over row tiles x column tiles: a BLAS GEMM gives
a tile of logits <Q x_i, K x_j>, a numba kernel turns it into exp(beta * logit - running max) with an
online softmax (running max and row sum, FlashAttention style), and a second GEMM accumulates the
weighted values. No n x n matrix is formed: memory is O(n d + TILE_ROWS * TILE_COLS).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from . import config, kernels
from .errors import ParticlesError
from .params import Dynamics, FeedForward

_gelu_c = 1.0 / np.sqrt(2.0)


def check_points(x, name: str = "x") -> np.ndarray:
    """Validate particle positions: a finite (n, d) array with n >= 1 and d >= 2, as C float64."""
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParticlesError(f"{name} must be a numeric array of shape (n, d)") from None
    if x.ndim != 2:
        raise ParticlesError(f"{name} must have shape (n, d), got shape {x.shape}")
    n, d = x.shape
    if n < 1:
        raise ParticlesError(f"{name} has no particles (n = 0)")
    if d < 2:
        raise ParticlesError(f"particles must live on S^(d-1) with d >= 2, got d = {d}")
    if not np.all(np.isfinite(x)):
        raise ParticlesError(f"{name} has non-finite entries")
    return np.ascontiguousarray(x)


def attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    beta: float,
    *,
    normalize: bool = True,
    causal: bool = False,
    out: np.ndarray | None = None,
    tile_rows: int | None = None,
    tile_cols: int | None = None,
) -> np.ndarray:
    """sum_j a_ij v_j with a_ij = exp(beta <q_i, k_j>) / Z_i, added into ``out``.

    Shapes: q (n, d_k), k (m, d_k), v (m, d_v); returns (n, d_v). ``normalize=True`` uses the softmax
    Z_i = sum_j exp(beta <q_i, k_j>) (SA); ``False`` uses Z_i = m (USA). ``causal`` keeps j <= i only.
    Stable for any beta: logits are max-subtracted; an unnormalised result is only infinite when
    its true value exceeds the float64 range.
    """
    n, m = q.shape[0], k.shape[0]
    tr = tile_rows or config.TILE_ROWS
    tc = tile_cols or config.TILE_COLS
    if out is None:
        out = np.zeros((n, v.shape[1]))
    beta = float(beta)
    for r0 in range(0, n, tr):
        r1 = min(n, r0 + tr)
        B = r1 - r0
        mx = np.full(B, -np.inf)
        ls = np.zeros(B)
        alpha = np.empty(B)
        acc = np.zeros((B, v.shape[1]))
        cmax = min(m, r1) if causal else m
        for c0 in range(0, cmax, tc):
            c1 = min(cmax, c0 + tc)
            s = q[r0:r1] @ k[c0:c1].T
            kernels.pick(kernels._softmax_tile, s.size)(s, beta, r0, c0, causal, mx, ls, alpha)
            kernels.pick(kernels._rescale_rows, acc.size)(acc, alpha)
            acc += s @ v[c0:c1]
        if normalize:
            acc /= ls[:, None]
        else:
            with np.errstate(over="ignore"):
                acc *= (np.exp(mx) / m)[:, None]
        out[r0:r1] += acc
    return out


def feedforward(x: np.ndarray, ffn: FeedForward) -> np.ndarray:
    """ffn(x_i) = W2 s(W1 x_i + b1) + b2 for every row. Shape (n, d)."""
    h = x @ ffn.W1.T + ffn.b1
    if ffn.activation == "relu":
        h = np.maximum(h, 0.0)
    elif ffn.activation == "gelu":
        h = 0.5 * h * (1.0 + erf(h * _gelu_c))
    else:
        h = np.tanh(h)
    y = h @ ffn.W2.T
    if ffn.b2 is not None:
        y += ffn.b2
    return y


def raw_field(x: np.ndarray, dyn: Dynamics) -> np.ndarray:
    """The field before the tangent projection: sum_h sum_j A^h_ij V_h x_j + ffn(x_i). Shape (n, d).

    ``x`` must already be validated (C-contiguous float64 (n, d)).
    """
    n, d = x.shape
    acc = np.zeros((n, d))
    for h in range(dyn.heads):
        Q, K, V = dyn.head(h)
        q = x if Q is None else x @ Q.T
        k = x if K is None else x @ K.T
        if isinstance(V, np.ndarray):
            vals = np.ascontiguousarray(x @ V.T)
            attention(q, k, vals, dyn.beta, normalize=dyn.kind == "SA", causal=dyn.causal, out=acc)
        elif V is None or V == 1.0:
            attention(q, k, x, dyn.beta, normalize=dyn.kind == "SA", causal=dyn.causal, out=acc)
        else:
            part = attention(q, k, x, dyn.beta, normalize=dyn.kind == "SA", causal=dyn.causal)
            acc += V * part
    if dyn.ffn is not None:
        acc += feedforward(x, dyn.ffn)
    return acc


def velocity(x, dyn: Dynamics) -> np.ndarray:
    """The attention dynamics' velocity xdot = P_perp(x_i)[...] at ``x`` (n, d). Shape (n, d).

    ``x`` should lie on the unit sphere (this is not checked here; see :func:`particles.simulate`).
    """
    if not isinstance(dyn, Dynamics):
        raise ParticlesError(f"dyn must be a particles.Dynamics, got {type(dyn).__name__}")
    x = check_points(x)
    dyn.check_dimension(x.shape[1])
    f = raw_field(x, dyn)
    out = np.empty_like(f)
    kernels.pick(kernels._project_tangent, f.size)(x, f, out)
    return out
