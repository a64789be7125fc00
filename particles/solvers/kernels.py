"""The stepping kernels of the batched ensembles (wrappers in :mod:`particles.solvers.ensemble`):
arrays and scalars in, results written into preallocated ``out`` arrays.

Many small systems, one per ``prange`` iteration: Gram-matrix and coordinate formulations, the
normalisation schemes, the noise (counter-based normals) and the statistics recorded at checkpoints.
They use the field's exp and row normalisation (:mod:`particles.field.kernels`). Each kernel has a
plain-numpy twin of the same name in ``tests/naive.py``. Kernels are private (``_name``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..field.kernels import _BLAS_SERIAL_WORK, _exp_row
from ..model.kernels import _jit, _normalize_rows_serial

# --------------------------------------------------------------------------------------------------
# batched ensembles (particles.solvers.ensemble): many small systems, one per prange iteration.
# Small dense helpers (n <= a few hundred): rows are contiguous so the inner loops vectorise.


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


#: the Sinkhorn attention (SK) of the ensembles: its tolerance (the ensembles take a kind, not a
#: Dynamics; :mod:`particles.field.sinkhorn` explains the test) and its iteration cap
SK_TOL = 1e-10
SK_MAX_ITER = 5000
#: the ensembles' kind codes (the ``usa`` argument of the kernels)
KIND_CODES = {"SA": 0, "USA": 1, "SK": 2}


@njit(**_jit)
def _lse_rows(L, beta, pot, trans, out):
    """out_i = -LSE_j(beta L_ij + pot_j) (``trans``: L_ji), max-subtracted, for an (n, n) L."""
    n = L.shape[0]
    for i in range(n):
        mx = -np.inf
        for j in range(n):
            v = beta * (L[j, i] if trans else L[i, j]) + pot[j]
            mx = max(mx, v)
        s = 0.0
        for j in range(n):
            s += math.exp(beta * (L[j, i] if trans else L[i, j]) + pot[j] - mx)
        out[i] = -(mx + math.log(s))


@njit(**_jit)
def _sinkhorn_rows(L, beta, out):
    """out = the doubly stochastic scaling diag(e^f) exp(beta L) diag(e^g) of an (n, n) L, each row
    divided by its sum; log domain (:mod:`particles.field.sinkhorn`): the averaged iteration where
    L is exactly symmetric, else alternating column and row passes, until the row sums of the
    column-normalised matrix are within ``SK_TOL`` of 1. Returns the iterations, or -1 (and out
    NaN) past ``SK_MAX_ITER``."""
    n = L.shape[0]
    sym = True
    for i in range(n):
        for j in range(i):
            if L[i, j] != L[j, i]:
                sym = False
    f = np.zeros(n)
    g = np.zeros(n)
    t = np.empty(n)
    _lse_rows(L, beta, g, False, f)
    it = 0
    done = False
    if sym:
        for j in range(n):
            f[j] *= 0.5
        while it < SK_MAX_ITER:
            _lse_rows(L, beta, f, False, t)
            it += 1
            err = 0.0
            for j in range(n):
                err = max(err, abs(math.expm1(f[j] - t[j])))
            if err <= SK_TOL:
                done = True
                break
            for j in range(n):
                f[j] = 0.5 * (f[j] + t[j])
        for j in range(n):
            g[j] = f[j]
    else:
        while it < SK_MAX_ITER:
            _lse_rows(L, beta, f, True, g)
            _lse_rows(L, beta, g, False, t)
            it += 1
            err = 0.0
            for j in range(n):
                err = max(err, abs(math.expm1(f[j] - t[j])))
                f[j] = t[j]
            if err <= SK_TOL:
                done = True
                break
    if not done:
        for i in range(n):
            for j in range(n):
                out[i, j] = np.nan
        return -1
    for i in range(n):
        s = 0.0
        for j in range(n):
            w = math.exp(beta * L[i, j] + f[i] + g[j])
            out[i, j] = w
            s += w
        for j in range(n):
            out[i, j] /= s
    return it


@njit(**_jit)
def _attention_rows(L, beta, usa, out, work, bits):
    """out[i, j] = exp(beta L_ij) / Z_i with Z_i = sum_j exp(beta L_ij) (SA) or n (USA); max-subtracted.
    ``usa`` is the kind's code (:data:`KIND_CODES`): 2 (SK) gives Sinkhorn's doubly stochastic
    matrix instead (:func:`_sinkhorn_rows`).

    ``work`` (n, n) and ``bits`` (n * n, int64) are scratch: the exponentials are taken in one vectorised
    sweep from ``work`` into ``out`` (distinct arrays, so the compiler can vectorise it).
    Row maxima and sums use four partial accumulators (no fastmath reassociation needed).
    """
    if usa == 2:
        _sinkhorn_rows(L, beta, out)
        return
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
def _checkpoint(G, k, frac, ncl, stats, parent):
    """Record the statistics of the Gram matrix G at checkpoint k; True when the run may stop
    early (k > 0, ``early`` set and every pair above both thresholds: later ones are then known)."""
    thr_pair, thr_cl, count_cl, early = stats
    f, c = _gram_stats(G, thr_pair, thr_cl, count_cl, parent)
    frac[k] = f
    ncl[k] = c
    if early and k > 0 and _collapsed(G, thr_pair, thr_cl):
        _fill_collapsed(frac, ncl, k + 1, count_cl)
        return True
    return False


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
def _subtract_along(a, b, s, r):
    """r_i <- r_i - <a_i, b_i> s_i for every row i (the tangent projection, in coordinates
    (a = s = Y, b = r = field) or in Gram coefficients (a = A, b = H, s = C, r = F))."""
    n, m = a.shape
    for i in range(n):
        c = 0.0
        for j in range(m):
            c += a[i, j] * b[i, j]
        for j in range(r.shape[1]):
            r[i, j] -= c * s[i, j]


@njit(**_jit)
def _gram_coeffs(C, G, beta, usa, tangent, H, A, F, tmp, tmpT, CT, bits):
    """Field coefficients F with f(C X) = F X, given G = X X^T.

    H = C G C^T is the Gram matrix of Y = C X, A = attention(H); the raw field is A Y = (A C) X and its
    tangent projection subtracts c_i y_i with c_i = <y_i, (A Y)_i> = sum_j A_ij H_ij.
    """
    _congruence(C, G, tmp, tmpT, CT, H)
    _attention_rows(H, beta, usa, A, tmpT, bits)
    _mm(A, C, F)
    if tangent:
        _subtract_along(A, H, C, F)


@njit(**_jit)
def _combine(base, Ks, nums, den, dt, out):
    """out = base + (dt/den) sum_q nums[q] Ks[q] (one Runge–Kutta combination; out may be base)."""
    n, m = out.shape
    c = dt / den
    for i in range(n):
        for j in range(m):
            acc = 0.0
            for q in range(nums.shape[0]):
                if nums[q] != 0.0:
                    acc += nums[q] * Ks[q, i, j]
            out[i, j] = base[i, j] + c * acc


@njit(**_jit)
def _gram_system(G, beta, usa, scheme, dt, nsteps, save_every, stats, frac, ncl):
    """Advance one system's Gram matrix G (in place) by nsteps of an explicit Runge–Kutta scheme;
    statistics every save_every steps.

    ``scheme`` = (a_num (s, s), a_den (s,), b_num (s,), b_den, projected, step): stage q has coefficients
    C_q = I + (dt/a_den[q]) sum_j a_num[q, j] K_j, where K_j = F(C_j) are the field coefficients
    of :func:`_gram_coeffs`; the step is G <- normalised C G C^T with C = I + (dt/b_den) sum b_num K.
    ``step`` (:data:`STEP_CODES`) is not read: the Gram formulation runs Runge–Kutta steps only.
    An unprojected first stage (C = I) reads the attention of G itself: K = A(G).
    ``stats`` = (thr_pair, thr_cl, count_cl, early); with ``early`` the run stops once every pair
    is above both thresholds (see :func:`_collapsed`).
    """
    a_num, a_den, b_num, b_den, projected, _ = scheme
    s = b_num.shape[0]
    n = G.shape[0]
    A = np.empty((n, n))
    H = np.empty((n, n))
    tmp = np.empty((n, n))
    tmpT = np.empty((n, n))
    CT = np.empty((n, n))
    Cn = np.empty((n, n))
    Cs = np.empty((n, n))
    Ks = np.empty((s, n, n))
    bits = np.empty(n * n, np.int64)
    parent = np.empty(n, np.int64)
    eye = np.eye(n)
    _checkpoint(G, 0, frac, ncl, stats, parent)
    k = 0
    for step in range(1, nsteps + 1):
        for q in range(s):
            if q == 0 and not projected:
                _attention_rows(G, beta, usa, Ks[0], tmpT, bits)
                continue
            if q == 0:
                Cs[:] = eye
            else:
                _combine(eye, Ks[:q], a_num[q, :q], a_den[q], dt, Cs)
            _gram_coeffs(Cs, G, beta, usa, projected, H, A, Ks[q], tmp, tmpT, CT, bits)
        if s == 1 and not projected:
            # C = I + dt A: the diagonal is added after the product, as in the authors' code
            for i in range(n):
                for j in range(n):
                    Cn[i, j] = (dt / b_den) * (b_num[0] * Ks[0, i, j])
                Cn[i, i] += 1.0
        else:
            _combine(eye, Ks, b_num, b_den, dt, Cn)
        _congruence(Cn, G, tmp, tmpT, CT, H)
        _normalize_gram(H, G)
        if step % save_every == 0:
            k += 1
            if _checkpoint(G, k, frac, ncl, stats, parent):
                return step
    return nsteps


@njit(parallel=True, **_jit)
def _gram_ensemble(G, betas, usa, scheme, dt, nsteps, save_every, stats, frac, ncl, done):
    """Advance every system s (G[s] in place) by nsteps; prange over systems. ``done[s]``: the
    steps system s took (fewer than nsteps when it stopped early)."""
    for s in prange(G.shape[0]):
        done[s] = _gram_system(
            G[s], betas[s], usa, scheme, dt, nsteps, save_every, stats, frac[s], ncl[s]
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
        _subtract_along(Y, out, Y, out)


@njit(**_jit)
def _gram_of(Y, YT, L):
    """L = Y Y^T (YT is scratch for Y^T)."""
    _transpose(Y, YT)
    _mm(Y, YT, L)


# --------------------------------------------------------------------------------------------------
# coordinate formulation under a normalisation scheme (particles.field.norms)

#: scheme codes of the kernels below
NORM_CODES = {"post": 0, "pre": 1, "peri": 2, "ngpt": 3, "lns": 4}


@njit(**_jit)
def _directions(Y, out):
    """out_i = Y_i / |Y_i| (the directions θ of a residual stream)."""
    n, d = Y.shape
    for i in range(n):
        s = 0.0
        for k in range(d):
            s += Y[i, k] * Y[i, k]
        inv = 1.0 / math.sqrt(s)
        for k in range(d):
            out[i, k] = Y[i, k] * inv


@njit(**_jit)
def _norm_field(
    Y, B, VT, has_B, has_V, beta, usa, code, alpha, tangent, Th, YB, L, Lw, YT, A, AY, out, bits
):
    """out = the drift of scheme ``code`` (0 post, 1 pre, 2 peri, 3 ngpt, 4 lns; particles.field.norms)
    at the state Y (n, d). Post-LN: :func:`_coord_field` at Y itself; LN-Scaling: α times it (the
    caller passes α = Δτ/Δt of the step, :func:`_coord_norm_system`). Otherwise the attention
    output F_i is read on the directions Th = Y/|Y|; then pre: F_i; peri: F_i/|F_i|; ngpt:
    α P_perp(θ_i) u_i with u = F/|F| (α (u_i - θ_i) when not ``tangent``). A zero F_i gives
    u_i = 0."""
    n, d = Y.shape
    if code == 0 or code == 4:  # Post-LN reads the (Runge–Kutta stage) state itself, as velocity
        _coord_field(Y, B, VT, has_B, has_V, beta, usa, tangent, YB, L, Lw, YT, A, AY, out, bits)
        if code == 4:
            for i in range(n):
                for k in range(d):
                    out[i, k] *= alpha
        return
    _directions(Y, Th)
    _coord_field(Th, B, VT, has_B, has_V, beta, usa, False, YB, L, Lw, YT, A, AY, out, bits)
    if code == 1:
        return
    for i in range(n):
        s = 0.0
        for k in range(d):
            s += out[i, k] * out[i, k]
        inv = 1.0 / math.sqrt(s) if s > 0.0 else 0.0
        for k in range(d):
            out[i, k] *= inv
        if code == 3:
            c = 0.0
            if tangent:
                for k in range(d):
                    c += Th[i, k] * out[i, k]
            else:
                c = 1.0
            for k in range(d):
                out[i, k] = alpha * (out[i, k] - c * Th[i, k])


@njit(**_jit)
def _state_gram(X, code, Th, YT, L):
    """L = the Gram matrix of the token directions: of X itself for Post-LN (code 0: X is on the
    sphere), of Th = X/|X| otherwise."""
    if code == 0:
        _gram_of(X, YT, L)
    else:
        _directions(X, Th)
        _gram_of(Th, YT, L)


# --------------------------------------------------------------------------------------------------
# the one coordinate stepping loop (ensemble_coords, ensemble_noisy): the Runge–Kutta, geodesic and
# Strang steps of dx_i = f_i dt + sqrt(2/kappa) dB_i (B_i Brownian motion on the sphere; kappa = inf:
# the ODE), under every normalisation scheme, one system per prange iteration. Noise comes from a
# counter-based generator, so every Gaussian depends only on (system key, step, particle, coordinate).

#: the steps of the coordinate loop (``scheme[5]``); a stochastic method of the registry names the
#: one that integrates it (``registry.Method.kernel``)
STEP_CODES = {"additive": 0, "geodesic": 1, "strang": 2}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO53 = 1.0 / 9007199254740992.0


@njit(**_jit)
def _splitmix64(z):
    """SplitMix64's output function (Steele, Lea, Flood 2014) of the uint64 ``z`` (wrapping arithmetic).

    The k-th output of SplitMix64 seeded with ``key`` is _splitmix64(key + k * golden): a counter-based
    generator, so a value needs no state, only its counter."""
    z = z + _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(**_jit)
def _counter_normals(key, start, out):
    """out[:] = standard normals number start, start + 1, ... of the stream ``key`` (uint64).

    Normal number g comes from the Box–Muller pair p = g // 2 (cosine for even g, sine for odd g),
    whose two uniforms in (0, 1] are the 53 high bits of _splitmix64(key + (2p + 1) golden) and
    _splitmix64(key + (2p + 2) golden): each value is a function of (key, g) only.
    """
    m = out.shape[0]
    for j in range(m):
        g = start + j
        p = np.uint64(g // 2)
        c1 = key + (np.uint64(2) * p + np.uint64(1)) * _GOLDEN
        c2 = c1 + _GOLDEN
        u1 = (np.float64(_splitmix64(c1) >> _S11) + 1.0) * _TWO53
        u2 = np.float64(_splitmix64(c2) >> _S11) * _TWO53
        rad = math.sqrt(-2.0 * math.log(u1))
        if g % 2 == 0:
            out[j] = rad * math.cos(2.0 * math.pi * u2)
        else:
            out[j] = rad * math.sin(2.0 * math.pi * u2)


@njit(**_jit)
def _harmonic_modes(G, d, out):
    """out[l - 1] = sqrt((1/n^2) sum_ij P_l(G_ij)) for l = 1..len(out): the amplitude of the degree-l
    spherical harmonic part of the empirical measure with Gram matrix G (n, n) on S^{d-1}.

    P_l is the Gegenbauer polynomial of S^{d-1} normalised by P_l(1) = 1 (Chebyshev T_l for d = 2),
    from P_0 = 1, P_1 = t, (k + d - 2) P_{k+1} = (2k + d - 2) t P_k - k P_{k-1}. By the addition
    theorem the sum is (n^2 / N_l) sum_m |mean_i Y_lm(x_i)|^2 >= 0; on the circle out[l - 1] is
    |mean_i exp(i l theta_i)|, and out[0] is the order parameter |mean x_i|.
    """
    n = G.shape[0]
    L = out.shape[0]
    acc = np.zeros(L)
    for i in range(n):
        for j in range(n):
            t = G[i, j]
            pm = 1.0
            p = t
            acc[0] += p
            for k in range(1, L):
                pn = ((2 * k + d - 2) * t * p - k * pm) / (k + d - 2)
                pm = p
                p = pn
                acc[k] += p
    for k in range(L):
        out[k] = math.sqrt(max(acc[k], 0.0)) / n


@njit(**_jit)
def _order_parameter(X):
    """|mean_i x_i| of the rows of X (n, d)."""
    n, d = X.shape
    s = 0.0
    for k in range(d):
        m = 0.0
        for i in range(n):
            m += X[i, k]
        s += m * m
    return math.sqrt(s) / n


@njit(**_jit)
def _exp_rows(X, U, out):
    """out_i = exp_{x_i}(u_i) = cos|u_i| x_i + (sin|u_i| / |u_i|) u_i, the sphere's exponential map
    (u_i tangent at x_i; sin|u|/|u| is 1 - |u|^2/6 below |u| = 1e-12, as particles.model.sphere.exp_map).
    ``out`` may be X."""
    n, d = X.shape
    for i in range(n):
        s = 0.0
        for q in range(d):
            s += U[i, q] * U[i, q]
        nu = math.sqrt(s)
        c = math.cos(nu)
        sc = math.sin(nu) / nu if nu > 1e-12 else 1.0 - s / 6.0
        for q in range(d):
            out[i, q] = c * X[i, q] + sc * U[i, q]


@njit(**_jit)
def _rotate_rows(X, P, U, h):
    """x_i <- exp(h Omega_i) x_i in place, Omega_i = u_i p_i^T - p_i u_i^T (p_i unit, u_i tangent at
    p_i): the rotation of the plane span(p_i, u_i) by the angle h |u_i| (particles.model.sphere.rotate_in_plane)."""
    n, d = X.shape
    for i in range(n):
        s = 0.0
        for q in range(d):
            s += U[i, q] * U[i, q]
        nu = math.sqrt(s)
        inv = 1.0 / nu if nu > 0.0 else 0.0
        xp = 0.0
        xe = 0.0
        for q in range(d):
            xp += X[i, q] * P[i, q]
            xe += X[i, q] * (U[i, q] * inv)
        c = math.cos(h * nu) - 1.0
        sn = math.sin(h * nu)
        for q in range(d):
            e = U[i, q] * inv
            X[i, q] += c * (xp * P[i, q] + xe * e) + sn * (xp * e - xe * P[i, q])


@njit(**_jit)
def _record(X, code, k, Th, YT, L, stats, parent, frac, ncl, r, modes):
    """Checkpoint k of one system: r[k] = |mean x_i| (when r is not empty), the harmonic modes
    modes[k] (:func:`_harmonic_modes`, when modes has columns) and the pair statistics frac[k],
    ncl[k] (:func:`_checkpoint`, when frac is not empty) of the directions' Gram matrix. True when
    the run may stop early."""
    if r.shape[0] > 0:
        r[k] = _order_parameter(X)
    if frac.shape[0] == 0 and modes.shape[1] == 0:
        return False
    _state_gram(X, code, Th, YT, L)
    if modes.shape[1] > 0:
        _harmonic_modes(L, X.shape[1], modes[k])
    if frac.shape[0] > 0:
        return _checkpoint(L, k, frac, ncl, stats, parent)
    return False


@njit(**_jit)
def _coord_system(
    X,
    B,
    V,
    has_B,
    has_V,
    beta,
    usa,
    scheme,
    norm,
    kappa,
    key,
    dt,
    nsteps,
    save_every,
    stats,
    frac,
    ncl,
    r,
    modes,
):
    """Advance one state X (n, d) in place by nsteps of dx_i = f_i dt + sqrt(2/kappa) dB_i (the noisy
    transformer of arXiv 2512.01868 §7, B_i Brownian motion on the sphere), the drift f of
    :func:`_norm_field` (the attention field of arXiv 2312.10794, (2.3)–(2.8), under the schemes of
    arXiv 2510.22026, Table 1); returns the steps taken (fewer than nsteps after an early stop).

    ``scheme`` = (a_num (s, s), a_den (s,), b_num (s,), b_den, projected, step): a Runge–Kutta
    tableau as in :func:`_gram_system` and the step (:data:`STEP_CODES`), with sigma = sqrt(2 dt/kappa)
    and z_i the standard normals number (step n + i) d + c of the stream ``key``
    (:func:`_counter_normals`, steps counted from 0; none drawn for kappa = inf):

    - 0 (additive): x_i <- x_i + dt sum_q b_q k_q + sigma P_perp(x_i) z_i, the Runge–Kutta step plus
      the tangent noise; with the one-stage tangent tableau, projected Euler–Maruyama
      (:func:`particles.solvers.steps.euler_maruyama`), for kappa = inf the Runge–Kutta step;
    - 1 (geodesic): x_i <- exp_{x_i}(dt f_i + sigma P_perp(x_i) z_i), Lie–Euler–Maruyama
      (:func:`particles.solvers.steps.lie_euler_maruyama`);
    - 2 (strang): half a Lie-midpoint drift step, the Brownian step x_i <- exp_{x_i}(tau P_perp(x_i)
      z_i) with tau^2 of :func:`particles.solvers.steps.bm_step_variance`, half a drift step
      (:func:`particles.solvers.steps.strang`, weak order 2).

    ``norm`` = (codes, k_switch, alpha): the scheme codes[0] (0 post, 1 pre, 2 peri, 3 ngpt, 4 lns)
    on steps 1..k_switch and codes[1] after (Mix-LN: post, then pre); alpha for nGPT, and for
    LN-Scaling its clock offset c: step k is the Post-LN step of length
    Δτ = 2 (sqrt(k dt + c) - sqrt((k - 1) dt + c)) (:func:`particles.solvers.integrate.step`), i.e.
    the field scaled by Δτ/dt. After a step of a scheme on the sphere (post, ngpt, lns) the rows are
    renormalised; a residual stream (pre, peri) is not. The
    geodesic steps and the noise are for states on the sphere. Every ``save_every`` steps (and at
    step 0) :func:`_record` writes the statistics (``stats`` = (thr_pair, thr_cl, count_cl, early))."""
    a_num, a_den, b_num, b_den, projected, kind = scheme
    codes, k_switch, alpha = norm
    s = b_num.shape[0]
    n, d = X.shape
    Th = np.empty((n, d))
    YB = np.empty((n, d))
    L = np.empty((n, n))
    Lw = np.empty((n, n))
    YT = np.empty((d, n))
    A = np.empty((n, n))
    AY = np.empty((n, d))
    Ys = np.empty((n, d))
    Ks = np.empty((max(s, 2), n, d))
    bits = np.empty(n * n, np.int64)
    parent = np.empty(n, np.int64)
    VT = np.empty((d, d))
    if has_V:
        _transpose(V, VT)
    noisy = kappa < np.inf
    sigma = math.sqrt(2.0 * dt / kappa) if noisy else 0.0
    z = np.empty(n * d if noisy else 0)
    Z = z.reshape((n, d) if noisy else (0, d))
    N = np.empty((n, d))  # the tangent noise P_perp(x_i) z_i, or a geodesic step's velocity
    _record(X, codes[0], 0, Th, YT, L, stats, parent, frac, ncl, r, modes)

    def drift(Y, code, al, out):
        _norm_field(
            Y,
            B,
            VT,
            has_B,
            has_V,
            beta,
            usa,
            code,
            al,
            projected,
            Th,
            YB,
            L,
            Lw,
            YT,
            A,
            AY,
            out,
            bits,
        )

    def lie_midpoint(Y, h, code, al):
        # Y <- exp(h Omega(y_m)) Y with y_m = normalise(exp_Y(h/2 f(Y))) (steps.lie_midpoint)
        drift(Y, code, al, Ks[0])
        for i in range(n):
            for q in range(d):
                N[i, q] = (0.5 * h) * Ks[0, i, q]
        _exp_rows(Y, N, Ys)
        _normalize_rows_serial(Ys)
        drift(Ys, code, al, Ks[1])
        _rotate_rows(Y, Ys, Ks[1], h)

    k = 0
    for step in range(1, nsteps + 1):
        code = codes[0] if step <= k_switch else codes[1]
        al = alpha
        if code == 4:  # LN-Scaling: the field is scaled by Δτ/dt of this step
            al = 2.0 * (math.sqrt(step * dt + alpha) - math.sqrt((step - 1) * dt + alpha)) / dt
        if noisy:
            _counter_normals(key, (step - 1) * n * d, z)
        if kind == 0:
            if noisy:
                N[:] = Z
                _subtract_along(X, Z, X, N)
            for q in range(s):
                if q == 0:
                    Ys[:] = X
                else:
                    _combine(X, Ks[:q], a_num[q, :q], a_den[q], dt, Ys)
                drift(Ys, code, al, Ks[q])
            _combine(X, Ks[:s], b_num, b_den, dt, X)
            if noisy:
                for i in range(n):
                    for q in range(d):
                        X[i, q] += sigma * N[i, q]
        elif kind == 1:
            drift(X, code, al, Ks[0])
            if noisy:
                N[:] = Z
                _subtract_along(X, Z, X, N)
            for i in range(n):
                for q in range(d):
                    v = dt * Ks[0, i, q]
                    N[i, q] = v + sigma * N[i, q] if noisy else v
            _exp_rows(X, N, X)
        else:
            lie_midpoint(X, 0.5 * dt, code, al)
            _normalize_rows_serial(X)
            if noisy:
                s2 = 2.0 / kappa
                tau = math.sqrt(s2 * dt * math.exp(-(d - 2) * s2 * dt / 6.0))
                N[:] = Z
                _subtract_along(X, Z, X, N)
                for i in range(n):
                    for q in range(d):
                        N[i, q] *= tau
                _exp_rows(X, N, X)
                _normalize_rows_serial(X)
            lie_midpoint(X, 0.5 * dt, code, al)
        if code == 0 or code == 3 or code == 4:
            _normalize_rows_serial(X)
        if step % save_every == 0:
            k += 1
            if _record(X, code, k, Th, YT, L, stats, parent, frac, ncl, r, modes):
                return step
    return nsteps


@njit(parallel=True, **_jit)
def _coord_ensemble(
    X,
    B,
    V,
    betas,
    usa,
    scheme,
    norm,
    kappas,
    keys,
    dt,
    nsteps,
    save_every,
    stats,
    frac,
    ncl,
    r,
    modes,
    done,
):
    """:func:`_coord_system` for every system X[s] (prange) with beta = betas[s], kappa = kappas[s]
    and the noise stream keys[s]; B, V have 0 (identity), 1 (shared) or S entries. ``done[s]``: the
    steps system s took. Each system is computed by one thread from its own counter-based stream, so
    the results do not depend on the number of threads."""
    nb = B.shape[0]
    nv = V.shape[0]
    unused = np.zeros((X.shape[2], X.shape[2]))  # stands for an identity B or V (never read)
    for s in prange(X.shape[0]):
        bs = unused if nb == 0 else B[min(np.int64(s), nb - 1)]
        vs = unused if nv == 0 else V[min(np.int64(s), nv - 1)]
        done[s] = _coord_system(
            X[s],
            bs,
            vs,
            nb > 0,
            nv > 0,
            betas[s],
            usa,
            scheme,
            norm,
            kappas[s],
            keys[s],
            dt,
            nsteps,
            save_every,
            stats,
            frac[s],
            ncl[s],
            r[s],
            modes[s],
        )
