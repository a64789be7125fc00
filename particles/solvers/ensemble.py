"""Many independent small systems (seeds x beta) advanced by one numba kernel call, parallel over systems.

Two formulations, three fixed-step schemes, statistics at checkpoints without storing trajectories.

**Gram formulation** (identity weights, SPEC Part A §5 item 8). Every scheme below maps X to C X for an
n x n matrix C that depends on X only through its Gram matrix G = X X^T, so the state can be G itself:
G <- D^{-1} C G C^T D^{-1} with D^2 = diag(C G C^T). The cost per step is O(n^3) whatever d is; only the
initial Gram matrix depends on d. For the authors' scheme C = I + dt A with A = softmax(beta G).

**Coordinate formulation** (any weights). X (n, d) with logits beta <Q x_i, K x_j> = beta x_i^T B x_j,
B = Q^T K (d, d), and values V x_j; B and V are given per system or shared (or identity).

**Schemes** (``method``):

- ``"euler"``: the authors' scheme (phase-diagrams.py): x_i <- normalise(x_i + dt sum_j A_ij V x_j), no
  tangent projection. One residual attention layer + normalisation per step.
- ``"euler-tangent"``: x_i <- normalise(x_i + dt P_perp(x_i) sum_j A_ij V x_j), the core's ``"euler"``.
- ``"rk4"``: classical RK4 on the projected field, then normalise (the core's ``"rk4"``); a faithful
  integrator (error O(dt^4)).

``kind`` is ``"SA"`` (softmax, Z_i = sum_k exp(...)) or ``"USA"`` (Z_i = n).

Statistics recorded every ``save_every`` steps (and at t = 0): the fraction of ordered pairs i != j with
<x_i, x_j> > 1 - delta (the phase-diagram statistic, SPEC Fig. 3) and the number of clusters, the
connected components of the graph <x_i, x_j> > 1 - cluster_delta.

Compiled kernels are cached on disk (``cache=True``); :func:`compile_kernels` compiles (or loads) them and
returns the seconds it took, so callers can report compile time apart from run time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from .. import config
from ..errors import ParticlesError
from ..kernels import _exp_row
from ..sphere import as_rng

_jit = dict(cache=config.CACHE, fastmath=set(config.FASTMATH))

#: largest rows * inner * cols of one BLAS call (OpenBLAS runs GEMMs below 4 * 65536 single-threaded)
_BLAS_SERIAL_WORK = 131072

METHODS = {"euler": 0, "euler-tangent": 1, "rk4": 2}
KINDS = ("SA", "USA")


# --------------------------------------------------------------------------------------------------
# small dense helpers (n <= a few hundred): rows are contiguous so the inner loops vectorise


@njit(**_jit)
def _transpose(a, out):
    n, m = a.shape
    for i in range(n):
        for j in range(m):
            out[j, i] = a[i, j]


@njit(**_jit)
def _mm(a, b, out):
    """out = a @ b. BLAS (single-threaded at these sizes) unless an inner size is tiny, where a loop in
    i-k-j order (an axpy over contiguous rows of b) avoids the call overhead."""
    n, m = a.shape
    p = b.shape[1]
    if m >= 8 and p >= 8 and m * p <= _BLAS_SERIAL_WORK:
        # OpenBLAS threads a GEMM once rows * m * p exceeds 4 * 65536; threads started from inside a
        # prange over systems fight each other (20x slower here), so products are cut into row blocks
        # that stay below that size and run on the calling thread
        rows = max(1, _BLAS_SERIAL_WORK // (m * p))
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            np.dot(a[r0:r1], b, out[r0:r1])
        return
    if p < 8 and n >= 8:
        # narrow output (e.g. A @ X with d = 2): accumulate out^T row by row, vectorised over i
        aT = np.empty((m, n))
        _transpose(a, aT)
        oT = np.zeros((p, n))
        for k in range(m):
            ak = aT[k]
            for j in range(p):
                bkj = b[k, j]
                o = oT[j]
                for i in range(n):
                    o[i] += bkj * ak[i]
        _transpose(oT, out)
        return
    for i in range(n):
        o = out[i]
        for j in range(p):
            o[j] = 0.0
        ai = a[i]
        for k in range(m):
            aik = ai[k]
            bk = b[k]
            for j in range(p):
                o[j] += aik * bk[j]


@njit(**_jit)
def _attention_rows(L, beta, usa, out, work, bits):
    """out[i, j] = exp(beta L_ij) / Z_i with Z_i = sum_j exp(beta L_ij) (SA) or n (USA); max-subtracted.

    ``work`` (n, n) and ``bits`` (n * n, int64) are scratch: the exponentials are taken in one vectorised
    sweep from ``work`` into ``out`` (distinct arrays, so the compiler can vectorise it).
    Row maxima and sums use four partial accumulators (no fastmath reassociation needed).
    """
    n = L.shape[0]
    n4 = n - n % 4
    mxs = np.empty(n)
    for i in range(n):
        li = L[i]
        m0 = m1 = m2 = m3 = -np.inf
        for j in range(0, n4, 4):
            m0 = max(m0, li[j])
            m1 = max(m1, li[j + 1])
            m2 = max(m2, li[j + 2])
            m3 = max(m3, li[j + 3])
        for j in range(n4, n):
            m0 = max(m0, li[j])
        mx = beta * max(max(m0, m1), max(m2, m3))  # beta >= 0
        mxs[i] = mx
    for i in range(n):
        li = L[i]
        wi = work[i]
        mx = mxs[i]
        for j in range(n):
            wi[j] = beta * li[j] - mx
    _exp_row(work.reshape(n * n), out.reshape(n * n), bits)
    for i in range(n):
        oi = out[i]
        if usa:
            scale = math.exp(mxs[i]) / n
        else:
            a0 = a1 = a2 = a3 = 0.0
            for j in range(0, n4, 4):
                a0 += oi[j]
                a1 += oi[j + 1]
                a2 += oi[j + 2]
                a3 += oi[j + 3]
            for j in range(n4, n):
                a0 += oi[j]
            scale = 1.0 / ((a0 + a1) + (a2 + a3))
        for j in range(n):
            oi[j] *= scale


@njit(**_jit)
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(**_jit)
def _gram_stats(G, thr_pair, thr_cluster, count_clusters, parent):
    """(fraction of ordered pairs i != j with G_ij > thr_pair, number of components of G > thr_cluster)."""
    n = G.shape[0]
    hits = 0
    for i in range(n):
        parent[i] = i
    ncl = n
    for i in range(n):
        gi = G[i]
        for j in range(i + 1, n):
            v = gi[j]
            if v > thr_pair:
                hits += 1
            if count_clusters and v > thr_cluster:
                ri = _find(parent, i)
                rj = _find(parent, j)
                if ri != rj:
                    parent[ri] = rj
                    ncl -= 1
    frac = 2.0 * hits / (n * (n - 1)) if n > 1 else 1.0
    return frac, (ncl if count_clusters else -1)


@njit(**_jit)
def _collapsed(G, thr_pair, thr_cl):
    """True when min_{i,j} G_ij exceeds both thresholds and is > 0.

    Then every later statistic is known: a step y_i = sum_j c_ij x_j with c_ij >= 0 (the authors' Euler
    step, and Euler on the projected field for dt < 1) gives <y_i, y_k> >= m |c_i|_1 |c_k|_1 >= m |y_i| |y_k|
    with m = min <x_j, x_l> > 0, so the minimum inner product never decreases: all pairs stay above
    1 - delta and there is one cluster.
    """
    n = G.shape[0]
    thr = max(max(thr_pair, thr_cl), 0.0)
    for i in range(n):
        for j in range(n):
            if G[i, j] <= thr:
                return False
    return True


@njit(**_jit)
def _fill_collapsed(frac, ncl, k, count_cl):
    for q in range(k, frac.shape[0]):
        frac[q] = 1.0
        ncl[q] = 1 if count_cl else -1


@njit(**_jit)
def _normalize_gram(H, out):
    """out_ij = H_ij / sqrt(H_ii H_jj), diagonal set to exactly 1."""
    n = H.shape[0]
    inv = np.empty(n)
    for i in range(n):
        inv[i] = 1.0 / math.sqrt(H[i, i])
    for i in range(n):
        for j in range(n):
            out[i, j] = H[i, j] * inv[i] * inv[j]
        out[i, i] = 1.0


@njit(**_jit)
def _congruence(C, G, tmp, tmpT, CT, out):
    """out = C G C^T (G symmetric): tmp = C G, then out = tmp C^T through the transpose of C."""
    _mm(C, G, tmp)
    _transpose(C, CT)
    _mm(tmp, CT, out)
    n = out.shape[0]
    for i in range(n):  # symmetrise exactly: the two triangles differ only by rounding
        for j in range(i + 1, n):
            v = 0.5 * (out[i, j] + out[j, i])
            out[i, j] = v
            out[j, i] = v


# --------------------------------------------------------------------------------------------------
# Gram formulation


@njit(**_jit)
def _gram_coeffs(C, G, beta, usa, tangent, H, A, F, tmp, tmpT, CT, bits):
    """Field coefficients F with f(C X) = F X, given G = X X^T.

    H = C G C^T is the Gram matrix of Y = C X, A = attention(H); the raw field is A Y = (A C) X and its
    tangent projection subtracts c_i y_i with c_i = <y_i, (A Y)_i> = sum_j A_ij H_ij.
    """
    n = G.shape[0]
    _congruence(C, G, tmp, tmpT, CT, H)
    _attention_rows(H, beta, usa, A, tmpT, bits)
    _mm(A, C, F)
    if tangent:
        for i in range(n):
            c = 0.0
            for j in range(n):
                c += A[i, j] * H[i, j]
            for j in range(n):
                F[i, j] -= c * C[i, j]


@njit(**_jit)
def _gram_system(
    G, beta, usa, method, dt, nsteps, save_every, thr_pair, thr_cl, count_cl, early, frac, ncl
):
    """Advance one system's Gram matrix G (in place) by nsteps; statistics every save_every steps.

    With ``early`` the run stops once every pair is above both thresholds (see :func:`_collapsed`).
    """
    n = G.shape[0]
    A = np.empty((n, n))
    H = np.empty((n, n))
    tmp = np.empty((n, n))
    tmpT = np.empty((n, n))
    CT = np.empty((n, n))
    Cn = np.empty((n, n))
    Cs = np.empty((n, n))
    K1 = np.empty((n, n))
    K2 = np.empty((n, n))
    K3 = np.empty((n, n))
    K4 = np.empty((n, n))
    bits = np.empty(n * n, np.int64)
    parent = np.empty(n, np.int64)
    eye = np.eye(n)
    f, c = _gram_stats(G, thr_pair, thr_cl, count_cl, parent)
    frac[0] = f
    ncl[0] = c
    k = 1
    for step in range(1, nsteps + 1):
        if method == 0:  # authors' Euler: C = I + dt A(G)
            _attention_rows(G, beta, usa, A, tmpT, bits)
            for i in range(n):
                for j in range(n):
                    Cn[i, j] = dt * A[i, j]
                Cn[i, i] += 1.0
        elif method == 1:  # Euler on the projected field
            _gram_coeffs(eye, G, beta, usa, True, H, A, K1, tmp, tmpT, CT, bits)
            for i in range(n):
                for j in range(n):
                    Cn[i, j] = eye[i, j] + dt * K1[i, j]
        else:  # RK4 on the projected field, stages Y_s = C_s X
            _gram_coeffs(eye, G, beta, usa, True, H, A, K1, tmp, tmpT, CT, bits)
            for i in range(n):
                for j in range(n):
                    Cs[i, j] = eye[i, j] + 0.5 * dt * K1[i, j]
            _gram_coeffs(Cs, G, beta, usa, True, H, A, K2, tmp, tmpT, CT, bits)
            for i in range(n):
                for j in range(n):
                    Cs[i, j] = eye[i, j] + 0.5 * dt * K2[i, j]
            _gram_coeffs(Cs, G, beta, usa, True, H, A, K3, tmp, tmpT, CT, bits)
            for i in range(n):
                for j in range(n):
                    Cs[i, j] = eye[i, j] + dt * K3[i, j]
            _gram_coeffs(Cs, G, beta, usa, True, H, A, K4, tmp, tmpT, CT, bits)
            for i in range(n):
                for j in range(n):
                    Cn[i, j] = eye[i, j] + (dt / 6.0) * (
                        K1[i, j] + 2.0 * K2[i, j] + 2.0 * K3[i, j] + K4[i, j]
                    )
        _congruence(Cn, G, tmp, tmpT, CT, H)
        _normalize_gram(H, G)
        if step % save_every == 0:
            f, c = _gram_stats(G, thr_pair, thr_cl, count_cl, parent)
            frac[k] = f
            ncl[k] = c
            k += 1
            if early and _collapsed(G, thr_pair, thr_cl):
                _fill_collapsed(frac, ncl, k, count_cl)
                return


@njit(parallel=True, **_jit)
def _gram_ensemble(
    G, betas, usa, method, dt, nsteps, save_every, thr_pair, thr_cl, count_cl, early, frac, ncl
):
    """Advance every system s (G[s] in place) by nsteps; prange over systems. Reference: tests."""
    for s in prange(G.shape[0]):
        _gram_system(
            G[s],
            betas[s],
            usa,
            method,
            dt,
            nsteps,
            save_every,
            thr_pair,
            thr_cl,
            count_cl,
            early,
            frac[s],
            ncl[s],
        )


# --------------------------------------------------------------------------------------------------
# coordinate formulation (general weights)


@njit(**_jit)
def _coord_field(Y, B, VT, has_B, has_V, beta, usa, tangent, YB, L, Lw, YT, A, AY, out, bits):
    """out = [P_perp] A Y V^T with A = attention(beta Y B Y^T) for one system. Y (n, d), VT = V^T."""
    n, d = Y.shape
    _transpose(Y, YT)
    if has_B:
        _mm(Y, B, YB)
        _mm(YB, YT, L)
    else:
        _mm(Y, YT, L)
    _attention_rows(L, beta, usa, A, Lw, bits)
    if has_V:
        _mm(A, Y, AY)
        _mm(AY, VT, out)
    else:
        _mm(A, Y, out)
    if tangent:
        for i in range(n):
            c = 0.0
            for k in range(d):
                c += Y[i, k] * out[i, k]
            for k in range(d):
                out[i, k] -= c * Y[i, k]


@njit(**_jit)
def _normalize_rows_(Y):
    n, d = Y.shape
    for i in range(n):
        s = 0.0
        for k in range(d):
            s += Y[i, k] * Y[i, k]
        s = 1.0 / math.sqrt(s)
        for k in range(d):
            Y[i, k] *= s


@njit(**_jit)
def _coord_stats(Y, YT, L, thr_pair, thr_cl, count_cl, parent):
    _transpose(Y, YT)
    _mm(Y, YT, L)
    return _gram_stats(L, thr_pair, thr_cl, count_cl, parent)


@njit(**_jit)
def _coord_system(
    X,
    B,
    V,
    has_B,
    has_V,
    beta,
    usa,
    method,
    dt,
    nsteps,
    save_every,
    thr_pair,
    thr_cl,
    count_cl,
    early,
    frac,
    ncl,
):
    """Advance one system X (n, d) in place."""
    n, d = X.shape
    YB = np.empty((n, d))
    L = np.empty((n, n))
    Lw = np.empty((n, n))
    YT = np.empty((d, n))
    A = np.empty((n, n))
    AY = np.empty((n, d))
    Ys = np.empty((n, d))
    K1 = np.empty((n, d))
    K2 = np.empty((n, d))
    K3 = np.empty((n, d))
    K4 = np.empty((n, d))
    bits = np.empty(n * n, np.int64)
    parent = np.empty(n, np.int64)
    VT = np.empty((d, d))
    if has_V:
        _transpose(V, VT)
    f, c = _coord_stats(X, YT, L, thr_pair, thr_cl, count_cl, parent)
    frac[0] = f
    ncl[0] = c
    k = 1
    tangent = method != 0
    for step in range(1, nsteps + 1):
        if method <= 1:
            _coord_field(X, B, VT, has_B, has_V, beta, usa, tangent, YB, L, Lw, YT, A, AY, K1, bits)
            for i in range(n):
                for j in range(d):
                    X[i, j] += dt * K1[i, j]
        else:
            _coord_field(X, B, VT, has_B, has_V, beta, usa, True, YB, L, Lw, YT, A, AY, K1, bits)
            for i in range(n):
                for j in range(d):
                    Ys[i, j] = X[i, j] + 0.5 * dt * K1[i, j]
            _coord_field(Ys, B, VT, has_B, has_V, beta, usa, True, YB, L, Lw, YT, A, AY, K2, bits)
            for i in range(n):
                for j in range(d):
                    Ys[i, j] = X[i, j] + 0.5 * dt * K2[i, j]
            _coord_field(Ys, B, VT, has_B, has_V, beta, usa, True, YB, L, Lw, YT, A, AY, K3, bits)
            for i in range(n):
                for j in range(d):
                    Ys[i, j] = X[i, j] + dt * K3[i, j]
            _coord_field(Ys, B, VT, has_B, has_V, beta, usa, True, YB, L, Lw, YT, A, AY, K4, bits)
            for i in range(n):
                for j in range(d):
                    X[i, j] += (dt / 6.0) * (K1[i, j] + 2.0 * K2[i, j] + 2.0 * K3[i, j] + K4[i, j])
        _normalize_rows_(X)
        if step % save_every == 0:
            f, c = _coord_stats(X, YT, L, thr_pair, thr_cl, count_cl, parent)
            frac[k] = f
            ncl[k] = c
            k += 1
            if early and _collapsed(L, thr_pair, thr_cl):
                _fill_collapsed(frac, ncl, k, count_cl)
                return


@njit(parallel=True, **_jit)
def _coord_ensemble(
    X,
    B,
    V,
    betas,
    usa,
    method,
    dt,
    nsteps,
    save_every,
    thr_pair,
    thr_cl,
    count_cl,
    early,
    frac,
    ncl,
):
    """Advance every system X[s] (n, d) in place; B, V have 0 (identity), 1 (shared) or S entries."""
    S = X.shape[0]
    nb = B.shape[0]
    nv = V.shape[0]
    for s in prange(S):
        bs = B[0] if nb == 1 else B[s % max(nb, 1)]
        vs = V[0] if nv == 1 else V[s % max(nv, 1)]
        _coord_system(
            X[s],
            bs,
            vs,
            nb > 0,
            nv > 0,
            betas[s],
            usa,
            method,
            dt,
            nsteps,
            save_every,
            thr_pair,
            thr_cl,
            count_cl,
            early,
            frac[s],
            ncl[s],
        )


# --------------------------------------------------------------------------------------------------
# public wrappers


@dataclass(frozen=True, kw_only=True)
class EnsembleResult:
    """Statistics of an ensemble run.

    ``t`` (T,) checkpoint times; ``pair_fraction`` (S, T) fraction of ordered pairs with
    <x_i, x_j> > 1 - delta; ``n_clusters`` (S, T) int (-1 where not counted); ``final`` the final state
    ((S, n, n) Gram matrices or (S, n, d) points); ``compile_s``/``run_s`` seconds.
    """

    t: np.ndarray
    pair_fraction: np.ndarray
    n_clusters: np.ndarray
    final: np.ndarray
    compile_s: float = 0.0
    run_s: float = 0.0
    meta: dict = field(default_factory=dict)


def _early(early_stop: bool, method: int, dt: float, has_V: bool) -> bool:
    """Stopping at collapse is exact only for steps that are nonnegative combinations (see _collapsed):
    the two Euler schemes with identity values and dt < 1."""
    return bool(early_stop) and method in (0, 1) and dt < 1.0 and not has_V


def _method(method: str) -> int:
    m = str(method).lower()
    if m not in METHODS:
        raise ParticlesError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[m]


def _kind(kind: str) -> bool:
    k = str(kind).upper()
    if k not in KINDS:
        raise ParticlesError(f"kind must be 'SA' or 'USA', got {kind!r}")
    return k == "USA"


def _steps(t_end, dt, save_every):
    try:
        t_end, dt = float(t_end), float(dt)
    except (TypeError, ValueError):
        raise ParticlesError("t_end and dt must be numbers") from None
    if not (np.isfinite(dt) and dt > 0):
        raise ParticlesError(f"dt must be finite and > 0, got {dt}")
    if not (np.isfinite(t_end) and t_end >= 0):
        raise ParticlesError(f"t_end must be finite and >= 0, got {t_end}")
    nsteps = int(round(t_end / dt))
    if abs(nsteps * dt - t_end) > 1e-9 * max(1.0, t_end):
        raise ParticlesError(f"t_end = {t_end} is not a whole number of steps dt = {dt}")
    save_every = int(save_every)
    if save_every < 1:
        raise ParticlesError(f"save_every must be >= 1, got {save_every}")
    if nsteps % save_every:
        raise ParticlesError(f"the {nsteps} steps are not a multiple of save_every = {save_every}")
    return nsteps, dt, save_every


def _betas(betas, S):
    b = np.asarray(betas, dtype=np.float64)
    if b.ndim == 0:
        b = np.full(S, float(b))
    b = np.ascontiguousarray(b.ravel())
    if b.shape[0] != S:
        raise ParticlesError(f"need one beta per system ({S}), got {b.shape[0]}")
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ParticlesError("betas must be finite and >= 0")
    return b


def _thresholds(delta, cluster_delta):
    delta = float(delta)
    if not (0 < delta < 2):
        raise ParticlesError(f"delta must lie in (0, 2), got {delta}")
    cl = delta if cluster_delta is None else float(cluster_delta)
    if not (0 < cl < 2):
        raise ParticlesError(f"cluster_delta must lie in (0, 2), got {cl}")
    return 1.0 - delta, 1.0 - cl


def _weights(M, name, S, d):
    if M is None:
        return np.zeros((0, d, d))
    a = np.asarray(M, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1:] != (d, d) or a.shape[0] not in (1, S):
        raise ParticlesError(
            f"{name} must have shape ({d}, {d}), (1, {d}, {d}) or ({S}, {d}, {d}); got {np.shape(M)}"
        )
    if not np.all(np.isfinite(a)):
        raise ParticlesError(f"{name} has non-finite entries")
    return np.ascontiguousarray(a)


def ensemble_gram(
    G0,
    betas,
    t_end: float,
    *,
    dt: float = 0.1,
    method: str = "euler",
    kind: str = "SA",
    save_every: int = 1,
    delta: float = 1e-3,
    cluster_delta: float | None = None,
    count_clusters: bool = True,
    early_stop: bool = True,
) -> EnsembleResult:
    """Advance S systems given by their Gram matrices ``G0`` (S, n, n) with identity weights.

    ``betas``: one per system (S,) or a scalar. Returns an :class:`EnsembleResult` whose ``final`` is
    the (S, n, n) Gram matrices at ``t_end``. Cost O(S n^3) per step, independent of d.
    """
    m, usa = _method(method), _kind(kind)
    try:
        G = np.array(G0, dtype=np.float64, order="C", copy=True)
    except (TypeError, ValueError):
        raise ParticlesError("G0 must be a numeric array of shape (S, n, n)") from None
    if G.ndim == 2:
        G = G[None]
    if G.ndim != 3 or G.shape[1] != G.shape[2] or G.shape[1] < 1:
        raise ParticlesError(f"G0 must have shape (S, n, n), got {np.shape(G0)}")
    if not np.all(np.isfinite(G)):
        raise ParticlesError("G0 has non-finite entries")
    if np.max(np.abs(np.diagonal(G, axis1=1, axis2=2) - 1.0), initial=0.0) > 1e-8:
        raise ParticlesError("G0 must be Gram matrices of unit vectors (diagonal = 1)")
    S, n = G.shape[0], G.shape[1]
    b = _betas(betas, S)
    nsteps, dt, save_every = _steps(t_end, dt, save_every)
    thr, thr_cl = _thresholds(delta, cluster_delta)
    T = nsteps // save_every + 1
    frac = np.empty((S, T))
    ncl = np.empty((S, T), np.int64)
    compile_s = compile_kernels()
    t0 = time.perf_counter()
    early = _early(early_stop, m, dt, has_V=False)
    _gram_ensemble(
        G, b, usa, m, dt, nsteps, save_every, thr, thr_cl, bool(count_clusters), early, frac, ncl
    )
    run_s = time.perf_counter() - t0
    return EnsembleResult(
        t=np.arange(T) * (save_every * dt),
        pair_fraction=frac,
        n_clusters=ncl,
        final=G,
        compile_s=compile_s,
        run_s=run_s,
        meta={"method": method, "kind": kind.upper(), "dt": dt, "delta": delta, "n": n},
    )


def ensemble_coords(
    X0,
    betas,
    t_end: float,
    *,
    B=None,
    V=None,
    dt: float = 0.1,
    method: str = "euler",
    kind: str = "SA",
    save_every: int = 1,
    delta: float = 1e-3,
    cluster_delta: float | None = None,
    count_clusters: bool = True,
    early_stop: bool = True,
) -> EnsembleResult:
    """Advance S systems ``X0`` (S, n, d) with logits beta x_i^T B x_j (B = Q^T K) and values V x_j.

    ``B``, ``V``: None (identity), one (d, d) matrix shared by all systems, or (S, d, d) one per system.
    ``final`` is the (S, n, d) points at ``t_end``.
    """
    m, usa = _method(method), _kind(kind)
    try:
        X = np.array(X0, dtype=np.float64, order="C", copy=True)
    except (TypeError, ValueError):
        raise ParticlesError("X0 must be a numeric array of shape (S, n, d)") from None
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3 or X.shape[1] < 1 or X.shape[2] < 2:
        raise ParticlesError(f"X0 must have shape (S, n, d) with d >= 2, got {np.shape(X0)}")
    if not np.all(np.isfinite(X)):
        raise ParticlesError("X0 has non-finite entries")
    if np.max(np.abs(np.linalg.norm(X, axis=2) - 1.0), initial=0.0) > 1e-8:
        raise ParticlesError("X0 must be points on the unit sphere (normalise the rows first)")
    S, n, d = X.shape
    b = _betas(betas, S)
    Bw, Vw = _weights(B, "B", S, d), _weights(V, "V", S, d)
    nsteps, dt, save_every = _steps(t_end, dt, save_every)
    thr, thr_cl = _thresholds(delta, cluster_delta)
    T = nsteps // save_every + 1
    frac = np.empty((S, T))
    ncl = np.empty((S, T), np.int64)
    compile_s = compile_kernels()
    t0 = time.perf_counter()
    early = _early(early_stop, m, dt, has_V=Vw.shape[0] > 0)
    _coord_ensemble(
        X,
        Bw,
        Vw,
        b,
        usa,
        m,
        dt,
        nsteps,
        save_every,
        thr,
        thr_cl,
        bool(count_clusters),
        early,
        frac,
        ncl,
    )
    run_s = time.perf_counter() - t0
    return EnsembleResult(
        t=np.arange(T) * (save_every * dt),
        pair_fraction=frac,
        n_clusters=ncl,
        final=X,
        compile_s=compile_s,
        run_s=run_s,
        meta={"method": method, "kind": kind.upper(), "dt": dt, "delta": delta, "n": n, "d": d},
    )


_COMPILED = False


def compile_kernels() -> float:
    """Compile (or load from the on-disk cache) the ensemble kernels; seconds taken (0 if done)."""
    global _COMPILED
    if _COMPILED:
        return 0.0
    t0 = time.perf_counter()
    G = np.eye(2)[None].copy()
    f = np.empty((1, 2))
    c = np.empty((1, 2), np.int64)
    _gram_ensemble(G, np.ones(1), False, 0, 0.1, 1, 1, 0.5, 0.5, True, True, f, c)
    X = np.eye(2)[None].copy()
    e = np.zeros((0, 2, 2))
    _coord_ensemble(X, e, e, np.ones(1), False, 0, 0.1, 1, 1, 0.5, 0.5, True, True, f, c)
    _COMPILED = True
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------------
# initial conditions and random weights


def random_gram(
    n: int, d: int, size: int, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """Gram matrices of ``size`` independent sets of n i.i.d. uniform points on S^{d-1}: (size, n, n).

    Drawn as normalised Gaussians, exactly like :func:`particles.random_points` (cost O(n^2 d) once).
    """
    n, d, size = int(n), int(d), int(size)
    if n < 1 or d < 2 or size < 1:
        raise ParticlesError(f"need n >= 1, d >= 2, size >= 1; got n={n}, d={d}, size={size}")
    X = random_points_batch(n, d, size, rng)
    G = X @ np.swapaxes(X, 1, 2)
    idx = np.arange(n)
    G[:, idx, idx] = 1.0
    return G


def random_points_batch(
    n: int, d: int, size: int, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """(size, n, d) i.i.d. uniform points on S^{d-1} (normalised standard Gaussians)."""
    g = as_rng(rng).standard_normal((int(size), int(n), int(d)))
    return g / np.linalg.norm(g, axis=2, keepdims=True)


#: the random weight ensembles of SPEC Fig. 5 (authors' phase-diagrams.py flags in brackets)
WEIGHT_ENSEMBLES = {
    "ginibre": "Q, K, V real Ginibre: B = G1 G2 / sqrt(d), V = G3 G3^T / d Wishart [KQ=1, V=1]",
    "goe": "B GOE (G + G^T) / sqrt(2), V = G3 G3^T / d Wishart [KQ=3, V=1]",
    "ginibre-v=g": "Q, K, V real Ginibre: B = G1 G2 / sqrt(d), V = G3 / sqrt(d) (paper's Fig. 5a)",
    "ginibre-v=b": "B = G1 G2 / sqrt(d), V = B / sqrt(d) [KQ=1, V=2]",
    "goe-v=b": "B GOE (G + G^T) / sqrt(2), V = B / sqrt(d + 1) [KQ=3, V=2]",
}


def random_weights(
    ensemble: str, d: int, size: int = 1, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Random (B, V) = (Q^T K, V) pairs of SPEC Fig. 5, each (size, d, d).

    Entries are i.i.d. N(0, 1) before scaling (SPEC Part A §4):

    - ``"ginibre"``: B = G1 G2 / sqrt(d) (product of Ginibre Q^T and K), V = G3 G3^T / d (Wishart, PSD,
      eigenvalues in [0, 4], mean 1);
    - ``"ginibre-v=g"``: B = G1 G2 / sqrt(d), V = G3 / sqrt(d) (Ginibre V, eigenvalues filling the
      unit disk): what the paper's Fig. 5a label says, and its transition time (t ~ 7 for every beta);
    - ``"goe"``: B = (G + G^T) / sqrt(2) (GOE: off-diagonal entries of variance 1, like G1 G2 / sqrt(d)),
      V Wishart as above;
    - ``"ginibre-v=b"``: B = G1 G2 / sqrt(d), V = B / sqrt(d);
    - ``"goe-v=b"``: B GOE as above, V = B / sqrt(d + 1).

    These are the authors' scalings (phase-diagrams.py flags randomKQ = 1, 3 and randomV = 1, 2) as
    SPEC §4 reports them, except the Wishart V: SPEC writes G G^T / sqrt(d), whose spectrum reaches
    4 sqrt(d) (45 at d = 128) and makes every panel cluster ~sqrt(d) times faster than the paper's Fig. 5a
    (transition at t ~ 0.5); G G^T / d (mean eigenvalue 1, like V = I) moves it to t ~ 2.5, and only the
    Ginibre V of ``"ginibre-v=g"`` (spectral radius 1) gives the paper's t ~ 7.
    """
    ens = str(ensemble).lower()
    if ens not in WEIGHT_ENSEMBLES:
        raise ParticlesError(
            f"unknown weight ensemble {ensemble!r}; choose one of {', '.join(WEIGHT_ENSEMBLES)}"
        )
    d, size = int(d), int(size)
    if d < 2 or size < 1:
        raise ParticlesError(f"need d >= 2 and size >= 1, got d={d}, size={size}")
    r = as_rng(rng)
    sq = math.sqrt(d)
    if ens.startswith("ginibre"):
        G1 = r.standard_normal((size, d, d))
        G2 = r.standard_normal((size, d, d))
        B = G1 @ G2 / sq
    else:
        G = r.standard_normal((size, d, d))
        B = (G + np.swapaxes(G, 1, 2)) / math.sqrt(2.0)
    if ens.endswith("v=b"):
        V = B / (sq if ens.startswith("ginibre") else math.sqrt(d + 1))
    elif ens.endswith("v=g"):
        V = r.standard_normal((size, d, d)) / sq
    else:
        G3 = r.standard_normal((size, d, d))
        V = G3 @ np.swapaxes(G3, 1, 2) / d
    return np.ascontiguousarray(B), np.ascontiguousarray(V)
