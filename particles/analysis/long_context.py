"""Long context: the attention scale β_n = γ log n and its critical γ (arXiv 2510.05554; arXiv
2512.01868 §6.3 "Long context Transformers", Theorem 7).

Theorem 7 of arXiv 2512.01868 (numbered from its LaTeX source: one counter for theorems, the
corollary and the remark) is credited there to its reference [chen2025quantitative], which its
bibliography gives as arXiv 2504.14697 (*Quantitative clustering in mean-field transformer models*);
the same bibliography lists arXiv 2510.05554 (*Critical attention scaling in long-context
transformers*, same authors) without the text ever citing it. We take the credit to be a slip for
2510.05554, whose abstract states this result. Its hypotheses are ρ in (0, 1); the functions here
also accept ρ = 0 (γ_c = 1, and the three limits 1, 0, 0 then follow the same formulas).

With β_n = γ log n the softmax weights of n equiangular unit tokens (<x_i, x_j> = ρ, i != j) are

    A_ii = n^γ / Z,  A_ij = n^{γρ} / Z,  Z = n^γ + (n-1) n^{γρ},

so the off-diagonal mass (n-1) A_ij = 1 / (1 + n^{γ(1-ρ)} / (n-1)) tends to 1 when
γ < 1/(1-ρ) (every token averages all others: collapse), to 0 when γ > 1/(1-ρ) (attention is the
identity), and to 1/2 at the critical γ_c = 1/(1-ρ). arXiv 2512.01868 §6.3 states this as
A_ij ~ n^{-1} for γ < γ_c and A_ij ~ n^{-γ(1-ρ)} for γ > γ_c (tests/test_papers_2512.py).

**One layer** (the Pre-LN attention layer of arXiv 2512.01868 §6.3: ATT(x_i) = Σ_j A_ij x_j = r_i θ_i,
no residual, Q = K = V = I, SA weights). Its outputs o_i = a x_i + b Σ_{j != i} x_j (a = A_ii, b = A_ij) are equiangular again, with
(:func:`one_layer_inner`, exact for every n)

    <o_i, o_k> / |o_i|^2 = (a^2 ρ + 2ab (1 + (m-1) ρ) + b^2 (n - 2 + (m^2 - n + 2) ρ))
                           / (a^2 + 2ab m ρ + b^2 m (1 + (m-1) ρ)),      m = n - 1,

whose limit as n -> oo (:func:`one_layer_limit`; arXiv 2512.01868 Theorem 7) is 1 for γ < γ_c,
4ρ/(1+3ρ) at γ = γ_c (a/b = n there: o_i ∝ (n-1) x_i + Σ_j x_j) and ρ for γ > γ_c.

**Random inputs** ("almost simplex"): x_i = N(sqrt(ρ) u + sqrt(1-ρ) g_i / sqrt(d)) with g_i standard
Gaussian in R^d; <x_i, x_j> = ρ + O(1/sqrt(d)). :func:`one_layer_random` computes the outputs of a
subset of query tokens against all n keys with the O(n d)-memory attention of :mod:`particles.field`,
the keys generated chunk by chunk (memory O(chunk d), so n = 10^6 in d = 256 is a few seconds per γ).
The finite-d fluctuations of the logits, of variance β^2 (1-ρ)^2 / d, favour the off-diagonal terms
by about e^{β^2 (1-ρ)^2 / (2d)}, which moves the transition up by ~ γ^2 (1-ρ) log n / (2 d)
(derived here; it vanishes as d -> oo).

**Dynamics** (derived here from :mod:`particles.analysis.equiangular`): in the equiangular ODE with
β = β_n, (n-1) b -> 1{γ (1 - ρ) < 1}, so as n -> oo the tokens stay put when γ > γ_c(ρ0) and otherwise
follow ρ̇ = 2 ρ (1 - ρ) / s (s = 1 for Post-LN, s = r with ṙ = ρ for Pre-LN), which never becomes
supercritical again (ρ only grows): the critical γ of the flow is the one-layer γ_c(ρ0).
:func:`flow` solves the finite-n ODE and :func:`flow_limit` the limit.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.integrate as si

from ..errors import ParticlesError, count, finite, real_array, whole
from ..model.sphere import as_rng
from ..resources import check_memory
from . import equiangular


def beta_n(n, gamma: float):
    """β_n = γ log n."""
    n, gamma, _ = _check(n, gamma, 0.0)
    return gamma * np.log(n)


def critical_gamma(rho: float) -> float:
    """γ_c = 1 / (1 - ρ) (arXiv 2512.01868 §6.3, Theorem 7; arXiv 2510.05554)."""
    rho = finite(rho, "rho")
    if not -1.0 < rho < 1.0:
        raise ParticlesError(f"rho must lie in (-1, 1), got {rho}")
    return 1.0 / (1.0 - rho)


def _check(n, gamma, rho):
    n = real_array(n, "n (the number of tokens)")
    if np.any(~(n >= 2)) or not np.all(np.isfinite(n)) or np.any(n > 1e150):
        raise ParticlesError("n must lie in [2, 1e150]")
    gamma = real_array(gamma, "gamma")
    if np.any(gamma < 0) or not np.all(np.isfinite(gamma)):
        raise ParticlesError("gamma must be finite and >= 0")
    rho = finite(rho, "rho")
    if not 0.0 <= rho < 1.0:
        raise ParticlesError(f"rho must lie in [0, 1), got {rho}")
    return n, gamma, rho


def one_layer_inner(n, gamma, rho: float):
    """Exact <θ_i, θ_k> of the outputs of one Pre-LN attention layer on n equiangular unit tokens
    with <x_i, x_j> = ``rho`` and β = γ log n (module docstring). Broadcasts over n and gamma."""
    n, gamma, rho = _check(n, gamma, rho)
    m = n - 1.0
    # a = 1 / (1 + m w), b = w a, w = n^{-γ (1-ρ)}; divide through by a^2: p = 1, q = w
    w = np.exp(-gamma * (1.0 - rho) * np.log(n))
    q = w
    dot = rho + 2 * q * (1 + (m - 1) * rho) + q * q * (n - 2 + (m * m - n + 2) * rho)
    norm2 = 1 + 2 * q * m * rho + q * q * m * (1 + (m - 1) * rho)
    return dot / norm2


def one_layer_limit(gamma, rho: float):
    """lim_{n -> oo} of :func:`one_layer_inner`: 1 (γ < γ_c), 4ρ/(1+3ρ) (γ = γ_c), ρ (γ > γ_c)."""
    _, gamma, rho = _check(2, gamma, rho)
    gc = critical_gamma(rho)
    crit = 4 * rho / (1 + 3 * rho)
    out = np.where(gamma < gc, 1.0, np.where(gamma > gc, rho, crit))
    return out[()] if out.ndim == 0 else out


def almost_simplex(n: int, d: int, rho: float, rng=None, *, start: int = 0, u=None) -> np.ndarray:
    """Rows ``start..start+n-1`` of the random almost-simplex tokens N(sqrt(ρ) u + sqrt(1-ρ) g_i/sqrt(d))
    (module docstring); ``u`` a unit vector (default e_1). Row i is drawn from
    ``default_rng([seed, i // 4096])`` so any block of rows can be regenerated on its own."""
    n, d = whole(n, "n", 1), whole(d, "d", 2)
    check_memory(8.0 * 3 * n * d + 8.0 * 4096 * d, f"{n} tokens in dimension {d}")
    rho = finite(rho, "rho", "[0, 1)")
    start = whole(start, "start", 0)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        seed = count(rng, "rng (a seed)", 0)
    else:
        seed = int(as_rng(rng).integers(1 << 62))
    if u is None:
        u = np.zeros(d)
        u[0] = 1.0
    else:
        u = real_array(u, "u", f"({d},)", finite=True)
        if u.shape != (d,) or not abs(np.linalg.norm(u) - 1.0) < 1e-6:
            raise ParticlesError(f"u must be a unit vector of shape ({d},)")
    rows = []
    i, stop = start, start + n
    while i < stop:
        blk = i // 4096
        g = np.random.default_rng([seed, blk]).standard_normal((4096, d))
        lo, hi = i - blk * 4096, min(4096, stop - blk * 4096)
        rows.append(g[lo:hi])
        i = blk * 4096 + hi
    g = np.concatenate(rows)
    x = math.sqrt(rho) * u + math.sqrt(1.0 - rho) * g / math.sqrt(d)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def one_layer_random(
    n: int,
    d: int,
    rho: float,
    gammas,
    *,
    queries: int = 64,
    seed: int = 0,
    chunk: int = 1 << 15,
) -> dict:
    """One Pre-LN attention layer with β = γ log n on n random almost-simplex tokens in R^d, for
    every γ of ``gammas``: the mean output inner product <θ_i, θ_k> over pairs of the first
    ``queries`` tokens, and their mean input inner product.

    The keys are regenerated chunk by chunk (:func:`almost_simplex`) and each chunk goes through
    :func:`particles.field.attention` with ``normalize=False`` and values [x_j, 1], so that the chunks'
    numerators and softmax denominators add up exactly (logits <= β since the tokens are unit
    vectors, so nothing overflows). Memory O((queries + chunk) d).

    **Returns:** ``{"gamma": (G,), "inner": (G,), "inner_se": (G,), "input": float}``.
    """
    from ..field import attention

    gammas = np.atleast_1d(np.asarray(gammas, dtype=np.float64))
    n, d, queries = int(n), int(d), int(queries)
    if not 2 <= queries <= n:
        raise ParticlesError(f"queries must lie in [2, n], got {queries}")
    q = almost_simplex(queries, d, rho, seed)
    num = np.zeros((gammas.size, queries, d))
    den = np.zeros((gammas.size, queries))
    for c0 in range(0, n, chunk):
        k = almost_simplex(min(chunk, n - c0), d, rho, seed, start=c0)
        aug = np.concatenate([k, np.ones((k.shape[0], 1))], axis=1)
        for gi, g in enumerate(gammas):
            part = attention(q, k, aug, float(beta_n(n, g)), normalize=False) * k.shape[0]
            num[gi] += part[:, :d]
            den[gi] += part[:, d]
    iu = np.triu_indices(queries, 1)
    gin = q @ q.T
    inner, se = np.empty(gammas.size), np.empty(gammas.size)
    for gi in range(gammas.size):
        o = num[gi] / den[gi][:, None]
        o /= np.linalg.norm(o, axis=1, keepdims=True)
        vals = (o @ o.T)[iu]
        inner[gi] = vals.mean()
        se[gi] = vals.std(ddof=1) / math.sqrt(queries)  # pairs share tokens: per-token scale
    return {"gamma": gammas, "inner": inner, "inner_se": se, "input": float(gin[iu].mean())}


def flow(t, n, gamma: float, rho0: float, *, norm: str = "pre", kind: str = "SA", **kw):
    """ρ(t) of the equiangular flow of scheme ``norm`` with β = γ log n (finite n;
    :func:`particles.analysis.equiangular.solve`)."""
    n, g, rho0 = _check(n, gamma, rho0)
    if np.ndim(n) or np.ndim(g):
        raise ParticlesError("flow takes one n and one gamma")
    return equiangular.solve(t, float(beta_n(n, g)), int(n), kind=kind, rho0=rho0, norm=norm, **kw)[
        0
    ]


def flow_limit(t, gamma: float, rho0: float, *, norm: str = "pre") -> np.ndarray:
    """The n -> oo limit of :func:`flow` (module docstring): ρ0 for γ > γ_c(ρ0), otherwise the
    solution of ρ̇ = 2ρ(1-ρ)/s (Post-LN s = 1; Pre-LN s = r, ṙ = ρ, r(0) = 1) — at γ = γ_c the
    flow starts at half this speed, which the limit below ignores (it only shifts the time)."""
    _, gamma, rho0 = _check(2, gamma, rho0)
    if np.ndim(gamma) != 0:
        raise ParticlesError("gamma must be one number here")
    t = real_array(t, "t (the times)")
    equiangular._check_times(t.ravel())
    if t.size == 0:
        return t.copy()
    if float(gamma) > critical_gamma(rho0):
        return np.full(t.shape, rho0)
    if norm == "post":
        e = math.exp(1.0)  # logistic: ρ/(1-ρ) = ρ0/(1-ρ0) e^{2t}
        odds = rho0 / (1 - rho0) * np.power(e, 2 * t)
        return odds / (1 + odds)
    if norm != "pre":
        raise ParticlesError("flow_limit is written for norm='post' or 'pre'")

    def f(_t, y):
        rho, r = y
        return [2 * rho * (1 - rho) / r, rho]

    sol = si.solve_ivp(
        f,
        (0.0, float(t.max(initial=0.0))),
        [rho0, 1.0],
        rtol=1e-10,
        atol=1e-12,
        dense_output=True,
        method="DOP853",
    )
    return sol.sol(t.ravel())[0].reshape(t.shape)
