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


# --- twins of the noise kernels (same names as in particles.kernels; tests/naive.py once it exists) ---

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _splitmix64(z):
    """SplitMix64's output function on Python integers mod 2^64 (returns an int)."""
    z = (int(z) + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _counter_normals(key, start, out):
    """Standard normals number start.. of the stream ``key`` (Box–Muller of two SplitMix64 outputs per
    pair); returns the new ``out``."""
    res = np.empty(len(out))
    for j in range(len(out)):
        g = start + j
        p = g // 2
        c1 = (int(key) + (2 * p + 1) * _GOLDEN) & _M64
        c2 = (c1 + _GOLDEN) & _M64
        u1 = ((_splitmix64(c1) >> 11) + 1.0) / 2.0**53
        u2 = (_splitmix64(c2) >> 11) / 2.0**53
        rad = np.sqrt(-2.0 * np.log(u1))
        res[j] = rad * (np.cos(2 * np.pi * u2) if g % 2 == 0 else np.sin(2 * np.pi * u2))
    return res


def _harmonic_modes(G, d, out):
    """sqrt(mean_ij P_l(G_ij)), l = 1..len(out), with P_l the Gegenbauer polynomial of S^{d-1},
    P_l(1) = 1, from scipy (Chebyshev T_l on the circle); returns the new ``out``."""
    from scipy.special import eval_chebyt, eval_gegenbauer

    G = np.clip(np.asarray(G, dtype=np.float64), -1.0, 1.0)
    res = np.empty(len(out))
    for ell in range(1, len(out) + 1):
        if d == 2:
            P = eval_chebyt(ell, G)
        else:
            a = (d - 2) / 2
            P = eval_gegenbauer(ell, a, G) / eval_gegenbauer(ell, a, 1.0)
        res[ell - 1] = np.sqrt(max(P.mean(), 0.0))
    return res


def _order_parameter(X):
    return float(np.linalg.norm(np.asarray(X).mean(axis=0)))


def _noisy_coord_system(
    X, B, V, has_B, has_V, beta, usa, kappa, dt, nsteps, save_every, key, r, modes
):
    """Projected Euler–Maruyama written out with velocity_naive; returns (X, r, modes) after the run."""
    X = np.array(X, dtype=np.float64)
    n, d = X.shape
    Bm = np.asarray(B) if has_B else None
    Vm = np.asarray(V) if has_V else None
    s = np.sqrt(2 * dt / kappa) if np.isfinite(kappa) else 0.0
    M = modes.shape[1]
    rs, ms = [_order_parameter(X)], [_harmonic_modes(X @ X.T, d, np.empty(M))]
    for step in range(nsteps):
        f = velocity_naive(
            X, beta, "USA" if usa else "SA", Q=None if Bm is None else Bm.T, K=None, V=Vm
        )
        Y = X + dt * f
        if s > 0:
            z = _counter_normals(key, step * n * d, np.empty(n * d)).reshape(n, d)
            Y = Y + s * (z - np.sum(X * z, axis=1, keepdims=True) * X)
        X = Y / np.linalg.norm(Y, axis=1, keepdims=True)
        if (step + 1) % save_every == 0:
            rs.append(_order_parameter(X))
            ms.append(_harmonic_modes(X @ X.T, d, np.empty(M)))
    return X, np.array(rs), np.array(ms)


def _noisy_coord_ensemble(X, B, V, betas, kappas, keys, usa, dt, nsteps, save_every, r, modes):
    """Every system by :func:`_noisy_coord_system`; returns (X, r, modes)."""
    outs = []
    nb, nv = len(B), len(V)
    for s in range(X.shape[0]):
        bs = B[0] if nb == 1 else (B[s] if nb else np.eye(X.shape[2]))
        vs = V[0] if nv == 1 else (V[s] if nv else np.eye(X.shape[2]))
        outs.append(
            _noisy_coord_system(
                X[s],
                bs,
                vs,
                nb > 0,
                nv > 0,
                betas[s],
                usa,
                kappas[s],
                dt,
                nsteps,
                save_every,
                keys[s],
                r[s],
                modes[s],
            )
        )
    return tuple(np.array(v) for v in zip(*outs, strict=True))


def _circle_moments(theta, K, out):
    """Block sums of exp(-i k theta_j) (blocks of particles.kernels.FOURIER_BLOCK); returns new out."""
    from particles.kernels import FOURIER_BLOCK

    theta = np.asarray(theta, dtype=np.float64)
    res = np.zeros(np.shape(out), np.complex128)
    for b in range(res.shape[0]):
        th = theta[b * FOURIER_BLOCK : (b + 1) * FOURIER_BLOCK]
        res[b] = np.exp(-1j * np.outer(np.arange(K + 1), th)).sum(axis=1)
    return res


def _circle_field(theta, coef, usa, scale, out):
    """S(theta) = sum_{|k|<=K} coef_k e^{ik theta} (coef_{-k} = conj coef_k); USA: scale S', SA:
    S' / (scale S); returns the new ``out``."""
    theta = np.asarray(theta, dtype=np.float64)
    k = np.arange(1, len(coef))
    e = np.exp(1j * np.outer(theta, k))
    S = coef[0].real + 2 * (e * coef[1:]).real.sum(axis=1)
    dS = 2 * (1j * k * e * coef[1:]).real.sum(axis=1)
    return scale * dS if usa else dS / (scale * S)
