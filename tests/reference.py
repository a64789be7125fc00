"""Plain-numpy references of the maths in particles' numba kernels (naive: full n x n matrices).

Written independently of the library so that the kernels can be checked against them.
"""

import numpy as np
from scipy.special import erf


def attention_naive(q, k, v, beta, normalize=True, causal=False):
    """sum_j a_ij v_j with a_ij = exp(beta <q_i,k_j>) / Z_i (softmax or Z_i = m), full matrix."""
    logits = beta * (q @ k.T)
    n, m = logits.shape
    if causal:
        mask = np.arange(m)[None, :] > np.arange(n)[:, None]
        logits = np.where(mask, -np.inf, logits)
    if normalize:
        logits = logits - logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(axis=1, keepdims=True)
    else:
        w = np.exp(logits) / m
    return w @ v


def velocity_naive(x, beta, kind="SA", Q=None, K=None, V=None, causal=False, ffn=None):
    """P_perp(x_i)[sum_h sum_j A^h_ij V_h x_j + ffn(x_i)] written out directly."""
    n, d = x.shape
    Qs = _stack(Q, d)
    Ks = _stack(K, d)
    Vs = _stack(V, d)
    H = max(len(Qs), len(Ks), len(Vs))
    f = np.zeros((n, d))
    for h in range(H):
        Qh = Qs[h % len(Qs)]
        Kh = Ks[h % len(Ks)]
        Vh = Vs[h % len(Vs)]
        f += attention_naive(x @ Qh.T, x @ Kh.T, x @ Vh.T, beta, kind == "SA", causal)
    if ffn is not None:
        W1, b1, W2, b2, act = ffn
        z = x @ W1.T + b1
        if act == "relu":
            z = np.maximum(z, 0)
        elif act == "gelu":
            z = 0.5 * z * (1 + erf(z / np.sqrt(2)))
        else:
            z = np.tanh(z)
        f += z @ W2.T + (0 if b2 is None else b2)
    return f - np.sum(f * x, axis=1, keepdims=True) * x


def _stack(a, d):
    if a is None:
        return [np.eye(d)]
    if np.isscalar(a):
        return [a * np.eye(d)]
    a = np.asarray(a, float)
    return [a] if a.ndim == 2 else list(a)


def energy_naive(x, beta):
    n = x.shape[0]
    return np.exp(beta * (x @ x.T)).sum() / (2 * beta * n * n)


def exp_shift_tile_naive(s, beta, ci, cj, diag=0, causal=False):
    """exp(beta s_ij - ci_i - cj_j), zero where causal and j > i + diag (the Gram-path tile)."""
    w = np.exp(beta * s.astype(np.float64) - ci[:, None] - cj[None, :])
    if causal:
        w[np.arange(s.shape[1])[None, :] > np.arange(s.shape[0])[:, None] + diag] = 0.0
    return w


def softmax_tile_naive(s, beta, m_old, diag=0, causal=False):
    """One online-softmax step: (exp(beta s - m_new), m_new, alpha = exp(m_old - m_new))."""
    z = beta * s.astype(np.float64)
    if causal:
        z[np.arange(s.shape[1])[None, :] > np.arange(s.shape[0])[:, None] + diag] = -np.inf
    m_new = np.maximum(m_old, z.max(axis=1))
    with np.errstate(invalid="ignore"):
        w = np.where(np.isfinite(z), np.exp(z - m_new[:, None]), 0.0)
        alpha = np.where(np.isfinite(m_old), np.exp(m_old - m_new), 0.0)
    alpha = np.where(np.isfinite(m_new), alpha, 1.0)
    return w, m_new, alpha


def gamma_equiangular(kind, n, beta, ts):
    """gamma(t) of the equiangular reduction (Thm 6.8, eqs. 6.9 / 6.10) from gamma(0) = 0, by DOP853."""
    import math

    from scipy.integrate import solve_ivp

    def f(t, g):
        g = g[0]
        if kind == "SA":
            return [2 * (1 - g) * ((n - 1) * g + 1) / (math.exp(beta * (1 - g)) + n - 1)]
        return [(2 / n) * math.exp(beta * g) * (1 - g) * ((n - 1) * g + 1)]

    ts = np.atleast_1d(np.asarray(ts, float))
    sol = solve_ivp(f, (0, ts[-1]), [0.0], t_eval=ts, rtol=1e-12, atol=1e-14, method="DOP853")
    return sol.y[0]


def _s1_moments(c, s, p, chunks, acc_re, acc_im):
    """Twin of kernels._s1_moments: (acc_re, acc_im), slot [t, k, b] = sum of z_j^k over the
    particles j of chunk t (j in [t n / chunks, (t + 1) n / chunks)) at block position (j - lo) % B."""
    n = c.shape[0]
    B = acc_re.shape[2]
    z = c + 1j * s
    acc = np.zeros((chunks, p + 1, B), dtype=complex)
    for t in range(chunks):
        lo, hi = t * n // chunks, (t + 1) * n // chunks
        j = np.arange(lo, hi)
        for k in range(p + 1):
            np.add.at(acc[t, k], (j - lo) % B, z[j] ** k)
    return acc.real, acc.imag


def _s1_sums(c, s, coef, G, N):
    """Twin of kernels._s1_sums: (G (n,), N (n, 2)) with w = (c + i s)^k,
    G = sum_k coef[k,0] Re w + coef[k,1] Im w, N_re = sum_k coef[k,2] Re w + coef[k,3] Im w,
    N_im = sum_k coef[k,4] Im w + coef[k,5] Re w."""
    z = c + 1j * s
    w = z[:, None] ** np.arange(coef.shape[0])[None, :]
    g = w.real @ coef[:, 0] + w.imag @ coef[:, 1]
    nn = np.empty((c.shape[0], 2))
    nn[:, 0] = w.real @ coef[:, 2] + w.imag @ coef[:, 3]
    nn[:, 1] = w.imag @ coef[:, 4] + w.real @ coef[:, 5]
    return g, nn


def kernel_sums_naive(x, beta):
    """(G, N): G_i = sum_j e^{beta (<x_i, x_j> - 1)}, N_i = sum_j e^{beta (<x_i, x_j> - 1)} x_j."""
    w = np.exp(beta * (x @ x.T) - beta)
    return w.sum(axis=1), w @ x
