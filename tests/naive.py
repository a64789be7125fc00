"""Plain-numpy twins of particles' numba kernels, and references of the public maths.

Written from the definitions (full n x n matrices, no tiles, no loops copied from the kernels), so
that the kernels can be checked against them (STYLE §3, stumpy's ``tests/naive.py``).

**Twins of the kernels.** ``naive.<name>`` is the twin of the numba kernel ``<name>`` wherever that
kernel lives (``naive._exp_row`` for ``particles.field.kernels._exp_row``, ``naive._gram_stats`` for
``_gram_stats`` of the ensemble solver); kernels are matched by name, not module, so they may move.
``tests/test_kernels.py`` compares each pair, and its meta-test fails for a kernel without a twin,
and for a twin that no test calls. Conventions:

- same name, same parameters in the same order, so a test can pass the very arguments it gave the
  kernel (taken before the kernel overwrote them);
- a twin never modifies its arguments; scratch arguments (``buf``, ``bits``, ``work``, ``tmp``, ...)
  and out-parameters are accepted and ignored;
- it returns what the kernel returns, or else what the kernel writes as its result: the new value of
  the array it updates in place, or of its out-parameter(s) (a tuple, in argument order, when there
  are several; each docstring says which).

**References of the public maths** (``attention_naive``, ``velocity_naive``, ``energy_naive``,
``gamma_equiangular``) check the public functions end to end.
"""

import math

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


def gamma_equiangular(kind, n, beta, ts):
    """gamma(t) of the equiangular reduction (Thm 6.8, eqs. 6.9 / 6.10) from gamma(0) = 0, by DOP853."""
    from scipy.integrate import solve_ivp

    def f(t, g):
        g = g[0]
        if kind == "SA":
            return [2 * (1 - g) * ((n - 1) * g + 1) / (math.exp(beta * (1 - g)) + n - 1)]
        return [(2 / n) * math.exp(beta * g) * (1 - g) * ((n - 1) * g + 1)]

    ts = np.atleast_1d(np.asarray(ts, float))
    sol = solve_ivp(f, (0, ts[-1]), [0.0], t_eval=ts, rtol=1e-12, atol=1e-14, method="DOP853")
    return sol.y[0]


# ==================================================================================================
# twins of the field kernels (particles/field/kernels.py)

#: exponents below these give exactly 0 in the kernels' exponentials (results stay normal or 0)
EXP_MIN = -708.0
EXP_MIN32 = -87.0


def _exp_clamped(v, lo):
    """exp(v), and exactly 0 where v < lo."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v < lo, 0.0, np.exp(np.maximum(v, lo)))


def _exp_poly(r):
    """e^r (the kernel is a polynomial for |r| <= ln2 / 2, the only range it is used on)."""
    return np.exp(r)


def _exp_row(x, out, bits):
    """Returns out: exp(x_j), exactly 0 where x_j < -708 (the documented clamp)."""
    return _exp_clamped(x, EXP_MIN)


def _exp_array(x, out):
    """Returns out: exp(x_j), exactly 0 where x_j < -708."""
    return _exp_clamped(x, EXP_MIN)


def _shift_exponent(row, lim, a, b, cj):
    """a row_j - b - cj_j for j < lim, in float64 (cj empty: no cj term)."""
    c = np.zeros(lim) if len(cj) == 0 else np.asarray(cj[:lim], dtype=np.float64)
    return a * np.asarray(row[:lim], dtype=np.float64) - b - c


def _exp_shift_row(row, lim, a, b, cj, buf):
    """Returns the new row: exp(a row_j - b - cj_j) for j < lim (0 below the clamp: float64 -708,
    float32 -87), the rest unchanged, in row's dtype.

    float32: ``a`` and ``b`` are rounded to float32 first (as the kernel does); the exponent and exp
    are then evaluated in float64 and rounded once to float32.
    """
    if row.dtype == np.float32:
        a, b = float(np.float32(a)), float(np.float32(b))
        new = np.array(row, dtype=np.float32)
        v = _shift_exponent(row, lim, a, b, cj)
        new[:lim] = _exp_clamped(v, EXP_MIN32).astype(np.float32)
        return new
    new = np.array(row, dtype=np.float64)
    new[:lim] = _exp_clamped(_shift_exponent(row, lim, a, b, cj), EXP_MIN)
    return new


def _float_bits(x):
    """The bits of a float64 (float32) as an int64 (int32)."""
    x = np.asarray(x)
    return x.view(np.int32 if x.dtype == np.float32 else np.int64)[()]


def _bits_float(i, like):
    """The integer i, cut to the width of like's type (two's complement), read as such a float."""
    f32 = np.asarray(like).dtype == np.float32
    it, width = (np.int32, 32) if f32 else (np.int64, 64)
    u = int(i) % (1 << width)
    if u >= 1 << (width - 1):
        u -= 1 << width
    return np.array(u, it).view(np.float32 if f32 else np.float64)[()]


def _pow2_from_magic(t, off, shift):
    """2^k as t's dtype, k = t - 1.5 * 2^52 (float32: 2^23), the integer the magic-number sum t holds
    (``off`` and ``shift`` are the kernel's means to it)."""
    f32 = isinstance(t, np.float32)
    magic = 1.5 * 2.0 ** (23 if f32 else 52)
    return (np.float32 if f32 else np.float64)(2.0 ** (float(t) - magic))


def _exp_precision(buf, a, b):
    """(a, b, integer view of buf, constants) in the dtype of ``buf``: the constants are the clamp,
    log2 e, 1.5 * 2^(mantissa bits), ln 2 (high and low parts summing to it), 0, the exponent
    offset that turns the magic number's bits into those of 2^0, the mantissa bits and the Taylor
    coefficients 1/k! of e^r from the highest degree (12 for float64, 7 for float32) down."""
    import math

    f32 = buf.dtype == np.float32
    ft, it, mant, deg = (np.float32, np.int32, 23, 7) if f32 else (np.float64, np.int64, 52, 12)
    magic = ft(1.5 * 2.0**mant)
    consts = (
        ft(EXP_MIN32 if f32 else EXP_MIN),
        ft(1.0 / math.log(2.0)),
        magic,
        *_ln2_split(ft),
        ft(0.0),
        it((127 if f32 else 1023) - np.array(magic).view(it).item()),
        mant,
        tuple(ft(1.0 / math.factorial(k)) for k in range(deg, -1, -1)),
    )
    return ft(a), ft(b), buf.view(it), consts


def _ln2_split(ft):
    """ln 2 = high + low with few bits in high (so k * high is exact), low from 40 digits of ln 2."""
    from decimal import Decimal

    ln2 = Decimal("0.6931471805599453094172321214581765680755")
    hi = 0.693145751953125 if ft is np.float32 else 0.6931471803691238
    return ft(hi), ft(float(ln2 - Decimal(hi)))


def _row_max(row, lim):
    """max_{j < lim} row_j."""
    return np.max(row[:lim])


def _row_min(row, lim):
    """min_{j < lim} row_j."""
    return np.min(row[:lim])


def _causal_mask(shape, diag):
    """True at (i, j) with j > i + diag: the entries a causal tile hides."""
    B, C = shape
    return np.arange(C)[None, :] > np.arange(B)[:, None] + diag


def _exp_shift_tile(s, beta, ci, cj, diag, causal):
    """Returns the new s: exp(beta s_ij - ci_i - cj_j) (cj empty: no cj term), in the dtype of s.

    0 where causal and j > i + diag, and where the exponent is below the clamp (-708; float32: -87).
    For a float32 tile, beta and ci are rounded to float32 first (the kernel's precision).
    """
    f32 = s.dtype == np.float32
    B, C = s.shape
    beta = float(np.float32(beta)) if f32 else float(beta)
    ci = np.asarray(ci[:B], dtype=np.float32 if f32 else np.float64).astype(np.float64)
    cj = np.zeros(C) if len(cj) == 0 else np.asarray(cj[:C], dtype=np.float64)
    z = beta * s.astype(np.float64) - ci[:, None] - cj[None, :]
    w = _exp_clamped(z, EXP_MIN32 if f32 else EXP_MIN)
    if causal:
        w[_causal_mask(s.shape, diag)] = 0.0
    return w.astype(s.dtype)


def _exp_shift_sum_tile(s, beta, ci, diag, causal, z):
    """Returns (new s, z): the new s of :func:`_exp_shift_tile` with no cj term, and its row sums."""
    w = _exp_shift_tile(s, beta, ci, np.empty(0), diag, causal)
    return w, w.astype(np.float64).sum(axis=1)


def _row_sum(row, lim):
    """sum_{j < lim} row_j."""
    return np.sum(np.asarray(row[:lim], dtype=np.float64))


def _softmax_tile(s, beta, diag, causal, m, alpha, z):
    """One online-softmax step. Returns (new s, new m, alpha, z).

    z_ij = beta s_ij, or -inf where causal and j > i + diag; m_new_i = max(m_i, max_j z_ij);
    s_ij <- exp(z_ij - m_new_i) (0 where masked); alpha_i = exp(m_i - m_new_i), which is 0 for
    m_i = -inf, and 1 for a row whose entries are all masked so far (m_new_i = -inf: nothing to
    scale); z_i = sum_j of the new s_ij.
    """
    z = beta * s.astype(np.float64)
    if causal:
        z[_causal_mask(s.shape, diag)] = -np.inf
    m = np.asarray(m, dtype=np.float64)
    m_new = np.maximum(m, z.max(axis=1, initial=-np.inf))
    seen = np.isfinite(m_new)
    shift = np.where(seen, m_new, 0.0)
    w = np.where(np.isfinite(z), _exp_clamped(z - shift[:, None], -np.inf), 0.0)
    with np.errstate(invalid="ignore"):
        a = np.where(seen, np.exp(m - shift), 1.0)
    w = w.astype(s.dtype)
    return w, m_new, a, w.astype(np.float64).sum(axis=1)


def _shifted_row_max(row, beta, npot):
    """max_j (beta row_j - npot_j)."""
    return float(np.max(beta * np.asarray(row, dtype=np.float64) - np.asarray(npot)))


def _lse_tile(s, beta, npot, m, acc):
    """One running log-sum-exp step per row. Returns (m_new, acc_new): with v_ij = beta s_ij -
    npot_j, m_new_i = max(m_i, max_j v_ij), acc_new_i = acc_i e^{m_i - m_new_i} + sum_j e^{v_ij -
    m_new_i} (0 for m_i = -inf), exponents below -708 giving 0 (the kernels' clamp)."""
    v = beta * np.asarray(s, dtype=np.float64) - np.asarray(npot, dtype=np.float64)[None, :]
    m = np.asarray(m, dtype=np.float64)
    m_new = np.maximum(m, v.max(axis=1))
    tot = _exp_clamped(v - m_new[:, None], EXP_MIN).sum(axis=1)
    with np.errstate(invalid="ignore"):
        old = np.where(np.isfinite(m), np.asarray(acc, dtype=np.float64) * np.exp(m - m_new), 0.0)
    return m_new, old + tot


def sinkhorn_naive(L, tol=1e-12, max_iter=100000, symmetric=False):
    """The doubly stochastic scaling of exp(L) (L (n, n) logits), dense, in the log domain with
    scipy's logsumexp: alternate column and row normalisations until the row sums of the
    column-normalised matrix are within ``tol`` of 1 (``symmetric``: L symmetric, the averaged
    iteration f <- (f + T f) / 2 with g = f). Returns (P, f, g, iterations)."""
    from scipy.special import logsumexp

    L = np.asarray(L, dtype=np.float64)
    if symmetric:
        f = -0.5 * logsumexp(L, axis=1)
        for it in range(1, max_iter + 1):
            t = -logsumexp(L + f[None, :], axis=1)
            if np.max(np.abs(np.expm1(f - t))) <= tol:
                P = np.exp(L + f[:, None] + f[None, :])
                return P / P.sum(axis=1, keepdims=True), f, f, it
            f = 0.5 * (f + t)
        raise RuntimeError("sinkhorn_naive did not converge")
    g = np.zeros(L.shape[1])
    f = -logsumexp(L + g[None, :], axis=1)
    for it in range(1, max_iter + 1):
        g = -logsumexp(L + f[:, None], axis=0)
        f_new = -logsumexp(L + g[None, :], axis=1)
        err = np.max(np.abs(np.expm1(f - f_new)))
        f = f_new
        if err <= tol:
            return np.exp(L + f[:, None] + g[None, :]), f, g, it
    raise RuntimeError("sinkhorn_naive did not converge")


def sinkhorn_velocity_naive(x, beta, Q=None, K=None, V=None, tol=1e-12, project=True):
    """The SK field of one head: P_perp(x_i) sum_j P_ij V x_j with P the doubly stochastic
    scaling of exp(beta <Q x_i, K x_j>) (dense)."""
    x = np.asarray(x, dtype=np.float64)
    q = x if Q is None else x @ np.asarray(Q).T
    k = x if K is None else x @ np.asarray(K).T
    if V is None:
        vals = x
    elif np.isscalar(V):
        vals = V * x
    else:
        vals = x @ np.asarray(V).T
    L = beta * q @ k.T
    P = sinkhorn_naive(L, tol, symmetric=np.allclose(L, L.T, rtol=1e-13, atol=1e-13))[0]
    out = P @ vals
    if project:
        out = out - np.einsum("ij,ij->i", x, out)[:, None] * x
    return out


def _rescale_add(acc, alpha, part):
    """Returns the new acc: alpha_i acc_i + part_i (rows)."""
    return np.asarray(alpha)[:, None] * acc + part


def _rescale_rows(acc, alpha):
    """Returns the new acc: alpha_i acc_i (rows)."""
    return np.asarray(alpha)[:, None] * acc


def _project_tangent(x, v, out):
    """Returns out: P_perp(x_i) v_i = v_i - <x_i, v_i> x_i."""
    return v - np.einsum("ik,ik->i", x, v)[:, None] * x


def _project_scan(x, v, out, ratio, bad):
    """Returns (out, bad): out as :func:`_project_tangent`; bad_i = row i of out is not finite, or
    max_k |out_ik| < ratio max_k |v_ik| (the repair scan of particles.field.stable.repaired)."""
    with np.errstate(invalid="ignore", over="ignore"):
        out = _project_tangent(x, v, None)
        bad = ~np.all(np.isfinite(out), axis=1)
        bad |= np.max(np.abs(out), axis=1) < ratio * np.max(np.abs(v), axis=1)
    return out, bad


def _normalize_rows(x):
    """Returns the new x: x_i / |x_i|."""
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ==================================================================================================
# twins of the ensemble kernels (particles/solvers/ensemble.py): Gram and coordinate formulations
#
# methods: 0 = "euler" (authors' scheme, no projection), 1 = "euler-tangent", 2 = "rk4"; each step
# is followed by normalisation. ``usa``: Z_i = n instead of the softmax normaliser.


def _transpose(a, out):
    """Returns out: a^T."""
    return np.array(a.T)


def _mm(a, b, out):
    """Returns out: the matrix product a b."""
    return np.asarray(a) @ np.asarray(b)


def _lse_rows(L, beta, pot, trans, out):
    """Returns out: -LSE_j(beta L_ij + pot_j) (``trans``: L_ji), with scipy's logsumexp."""
    from scipy.special import logsumexp

    L = np.asarray(L, dtype=np.float64)
    return -logsumexp(beta * (L.T if trans else L) + np.asarray(pot)[None, :], axis=1)


SK_TOL = 1e-10  # particles.solvers.kernels.SK_TOL


def _sinkhorn_rows(L, beta, out):
    """Returns (out, iterations): Sinkhorn's doubly stochastic scaling of exp(beta L), rows
    divided by their sums (the averaged iteration where L is exactly symmetric)."""
    L = np.asarray(L, dtype=np.float64)
    P, _, _, it = sinkhorn_naive(beta * L, SK_TOL, symmetric=bool(np.array_equal(L, L.T)))
    return P / P.sum(axis=1, keepdims=True), it


def _attention_rows(L, beta, usa, out, work, bits):
    """Returns out: A_ij = exp(beta L_ij) / Z_i, Z_i = sum_j exp(beta L_ij) (SA) or n (USA);
    ``usa`` = 2: Sinkhorn's doubly stochastic matrix (SK)."""
    if usa == 2:
        return _sinkhorn_rows(L, beta, out)[0]
    z = beta * np.asarray(L, dtype=np.float64)
    n = z.shape[0]
    if usa:
        return np.exp(z) / n
    w = np.exp(z - z.max(axis=1, keepdims=True))  # softmax is invariant under the shift
    return w / w.sum(axis=1, keepdims=True)


def _find(parent, i):
    """The root of i in the forest ``parent`` (the node with parent[r] = r reached from i)."""
    seen = set()
    while parent[i] != i:
        if i in seen:
            raise ValueError("parent has a cycle")
        seen.add(i)
        i = parent[i]
    return i


def components_naive(adj):
    """Number of connected components of the undirected graph with (symmetric) adjacency ``adj``.

    The reachability relation is the transitive closure of adj | I (repeated boolean squaring); each
    component is one distinct row of it.
    """
    n = adj.shape[0]
    R = (np.asarray(adj, dtype=bool) | np.eye(n, dtype=bool)).astype(np.int64)
    while True:
        R2 = (R @ R > 0).astype(np.int64)
        if np.array_equal(R2, R):
            return len(np.unique(R, axis=0))
        R = R2


def _gram_stats(G, thr_pair, thr_cluster, count_clusters, parent):
    """(fraction of ordered pairs i != j with G_ij > thr_pair, number of connected components of the
    graph G_ij > thr_cluster, or -1 when not counted). G is symmetric; the fraction is 1 when n = 1
    (no pairs: the kernel's convention)."""
    n = G.shape[0]
    off = ~np.eye(n, dtype=bool)
    frac = float(np.mean(G[off] > thr_pair)) if n > 1 else 1.0
    ncl = components_naive(G > thr_cluster) if count_clusters else -1
    return frac, ncl


def _collapsed(G, thr_pair, thr_cl):
    """True when min_ij G_ij exceeds both thresholds and 0."""
    return bool(np.min(G) > max(thr_pair, thr_cl, 0.0))


def _fill_collapsed(frac, ncl, k, count_cl):
    """Returns (frac, ncl) with entries from k on set to 1 and to 1 (or -1 when not counted)."""
    frac, ncl = np.array(frac), np.array(ncl)
    frac[k:] = 1.0
    ncl[k:] = 1 if count_cl else -1
    return frac, ncl


def _normalize_gram(H, out):
    """Returns out: H_ij / sqrt(H_ii H_jj), the Gram matrix of the normalised points (diagonal 1)."""
    h = np.sqrt(np.diag(H))
    out = H / np.outer(h, h)
    np.fill_diagonal(out, 1.0)
    return out


def _congruence(C, G, tmp, tmpT, CT, out):
    """Returns out: C G C^T, symmetric."""
    H = C @ G @ C.T
    return 0.5 * (H + H.T)


def _gram_coeffs(C, G, beta, usa, tangent, H, A, F, tmp, tmpT, CT, bits):
    """Returns (H, A, F) for Y = C X with X X^T = G: H = C G C^T the Gram matrix of Y, A the attention
    of H, and F with F X = f(Y), where f(Y)_i = [P_perp(y_i)] sum_j A_ij y_j (so F = A C, minus
    <y_i, (A Y)_i> C_i = (sum_j A_ij H_ij) C_i with ``tangent``)."""
    H = C @ G @ C.T
    A = _attention_rows(H, beta, usa, None, None, None)
    F = A @ C
    if tangent:
        F = F - np.sum(A * H, axis=1)[:, None] * C
    return H, A, F


def field_naive(X, beta, usa, B=None, V=None, tangent=True):
    """[P_perp(x_i)] sum_j A_ij V x_j with A = attention of the logits x_i^T B x_j (None: identity)."""
    d = X.shape[1]
    B = np.eye(d) if B is None else B
    V = np.eye(d) if V is None else V
    A = _attention_rows(X @ B @ X.T, beta, usa, None, None, None)
    F = A @ X @ V.T
    if tangent:
        F = F - np.sum(F * X, axis=1, keepdims=True) * X
    return F


def _combine(base, Ks, nums, den, dt, out):
    """Returns base + (dt/den) sum_q nums[q] Ks[q]."""
    return base + (dt / den) * np.tensordot(np.asarray(nums, dtype=np.float64), Ks, axes=1)


def _subtract_along(a, b, s, r):
    """Returns r_i - <a_i, b_i> s_i for every row i."""
    return r - np.sum(a * b, axis=1, keepdims=True) * s


def _gram_of(Y, YT, L):
    """Returns Y Y^T."""
    return Y @ Y.T


def step_naive(X, f, dt, scheme):
    """One explicit Runge–Kutta step of ``scheme`` = (a_num, a_den, b_num, b_den, projected, step), read
    as the tableau a = a_num / a_den (row-wise), b = b_num / b_den, for the field ``f(X, tangent)``;
    then every row normalised."""
    a_num, a_den, b_num, b_den, projected = scheme[:5]
    a = np.asarray(a_num, dtype=np.float64) / np.asarray(a_den, dtype=np.float64)[:, None]
    b = np.asarray(b_num, dtype=np.float64) / b_den
    ks = []
    for q in range(len(b)):
        ks.append(f(X + dt * sum((a[q, j] * ks[j] for j in range(q)), np.zeros_like(X)), projected))
    Y = X + dt * sum((b[j] * ks[j] for j in range(len(b))), np.zeros_like(X))
    return Y / np.linalg.norm(Y, axis=1, keepdims=True)


def _checkpoint(G, k, frac, ncl, stats, parent):
    """Returns (stop, frac, ncl): the statistics of G written at checkpoint k; stop (and the later
    entries filled as one cluster) when k > 0, early stopping is on and G is collapsed."""
    thr_pair, thr_cl, count_cl, early = stats
    frac, ncl = np.array(frac), np.array(ncl)
    frac[k], ncl[k] = _gram_stats(G, thr_pair, thr_cl, count_cl, None)
    if early and k > 0 and _collapsed(G, thr_pair, thr_cl):
        frac, ncl = _fill_collapsed(frac, ncl, k + 1, count_cl)
        return True, frac, ncl
    return False, frac, ncl


def run_naive(X, f, scheme, dt, nsteps, save_every, stats, frac, ncl):
    """(X, frac, ncl, steps) after nsteps of :func:`step_naive`, with the statistics of X X^T at
    step 0 and every save_every steps; with early stopping the run ends at the first checkpoint
    where :func:`_collapsed` holds (``steps`` < nsteps)."""
    _, frac, ncl = _checkpoint(X @ X.T, 0, frac, ncl, stats, None)
    k = 0
    for step in range(1, nsteps + 1):
        X = step_naive(X, f, dt, scheme)
        if step % save_every == 0:
            k += 1
            stop, frac, ncl = _checkpoint(X @ X.T, k, frac, ncl, stats, None)
            if stop:
                return X, frac, ncl, step
    return X, frac, ncl, nsteps


def points_of_gram(G):
    """Points X (n, n) with X X^T = G (G symmetric positive semi-definite), from its eigenvectors."""
    w, U = np.linalg.eigh(G)
    return U * np.sqrt(np.clip(w, 0.0, None))


def _gram_system(G, beta, usa, scheme, dt, nsteps, save_every, stats, frac, ncl):
    """Returns (G, frac, ncl, steps): the Gram matrix of points X with X X^T = G after the steps of
    the scheme (identity weights), and the statistics as in :func:`run_naive`."""
    f = lambda Y, tangent: field_naive(Y, beta, usa, tangent=tangent)
    X = points_of_gram(np.asarray(G, dtype=np.float64))
    X, frac, ncl, steps = run_naive(X, f, scheme, dt, nsteps, save_every, stats, frac, ncl)
    Gf = X @ X.T
    np.fill_diagonal(Gf, 1.0)
    return Gf, frac, ncl, steps


def _gram_ensemble(G, betas, usa, scheme, dt, nsteps, save_every, stats, frac, ncl, done):
    """Returns (G, frac, ncl, done) stacked over systems s: :func:`_gram_system` of G[s], betas[s]."""
    common = (usa, scheme, dt, nsteps, save_every, stats)
    runs = [_gram_system(G[s], betas[s], *common, frac[s], ncl[s]) for s in range(G.shape[0])]
    return tuple(np.stack(r) for r in zip(*runs, strict=True))


def _coord_field(Y, B, VT, has_B, has_V, beta, usa, tangent, YB, L, Lw, YT, A, AY, out, bits):
    """Returns out: [P_perp(y_i)] sum_j A_ij V y_j with A the attention of the logits y_i^T B y_j
    (B = I without ``has_B``; V = VT^T, or I without ``has_V``)."""
    return field_naive(Y, beta, usa, B if has_B else None, VT.T if has_V else None, tangent)


# --- the noisy ensembles and the circle (issue 13) -------------------------------------------------

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


def _circle_moments(theta, K, out):
    """Block sums of exp(-i k theta_j) (blocks of particles.field.kernels.FOURIER_BLOCK); returns new out."""
    from particles.field.kernels import FOURIER_BLOCK

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


# --- coordinate formulation under a normalisation scheme (particles.field.norms) ----------------------


def _directions(Y, out):
    """Returns Y_i / |Y_i| row by row."""
    return Y / np.linalg.norm(Y, axis=1, keepdims=True)


def norm_field_naive(Y, beta, usa, B, V, code, alpha, tangent):
    """The drift of scheme ``code`` (0 post, 1 pre, 2 peri, 3 ngpt, 4 lns) at Y, from the
    definitions (arXiv 2510.22026, Table 1): post P_perp(y) F(y) at Y itself, lns α times it
    (α = 1/s, s its speed factor); else F = the attention output on θ = Y/|Y| and pre F,
    peri F/|F|, ngpt α P_perp(θ)(F/|F|) (α (F/|F| - θ) unprojected)."""
    if code in (0, 4):  # Post-LN: the field at Y itself (Runge–Kutta stages are off the sphere)
        f = field_naive(Y, beta, usa, B, V, tangent=bool(tangent))
        return f if code == 0 else alpha * f
    th = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    F = field_naive(th, beta, usa, B, V, tangent=False)
    if code == 1:
        return F
    nrm = np.linalg.norm(F, axis=1, keepdims=True)
    u = np.where(nrm > 0, F / np.where(nrm > 0, nrm, 1.0), 0.0)
    if code == 2:
        return u
    if tangent:
        return alpha * (u - np.sum(u * th, axis=1, keepdims=True) * th)
    return alpha * (u - th)


def _norm_field(
    Y, B, VT, has_B, has_V, beta, usa, code, alpha, tangent, Th, YB, L, Lw, YT, A, AY, out, bits
):
    """Returns out: :func:`norm_field_naive` (B = I without has_B; V = VT^T, or I without has_V)."""
    return norm_field_naive(
        Y, beta, usa, B if has_B else None, VT.T if has_V else None, code, alpha, tangent
    )


# --- the one coordinate stepping loop: Runge–Kutta, geodesic and Strang steps, with noise ----------


def _exp_rows(X, U, out):
    """Returns exp_{x_i}(u_i) row by row (particles.model.sphere.exp_map, the numpy path of simulate)."""
    from particles.model.sphere import exp_map

    return exp_map(np.asarray(X, dtype=np.float64), np.asarray(U, dtype=np.float64))


def _rotate_rows(X, P, U, h):
    """Returns exp(h Omega_i) x_i, Omega_i = u_i p_i^T - p_i u_i^T, from its matrix exponential."""
    from scipy.linalg import expm

    return np.array(
        [expm(h * (np.outer(u, p) - np.outer(p, u))) @ x for x, p, u in zip(X, P, U, strict=True)]
    )


def _record(X, code, k, Th, YT, L, stats, parent, frac, ncl, r, modes):
    """Returns (stop, frac, ncl, r, modes) with checkpoint k written: r[k] = |mean x_i| (r not
    empty), modes[k] (modes with columns) and the pair statistics (frac not empty) of the Gram
    matrix of the directions (of X itself for code 0)."""
    X = np.asarray(X, dtype=np.float64)
    frac, ncl, r, modes = (np.array(a) for a in (frac, ncl, r, modes))
    D = X if code == 0 else X / np.linalg.norm(X, axis=1, keepdims=True)
    G = D @ D.T
    if len(r):
        r[k] = _order_parameter(X)
    if modes.shape[1]:
        modes[k] = _harmonic_modes(G, X.shape[1], modes[k])
    stop = False
    if len(frac):
        stop, frac, ncl = _checkpoint(G, k, frac, ncl, stats, None)
    return stop, frac, ncl, r, modes


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
    """Returns (X, frac, ncl, r, modes, steps) after the steps of ``scheme`` for the drift
    :func:`norm_field_naive` of the schemes ``norm`` = (codes, k_switch, alpha) (code codes[0] up to
    step k_switch, codes[1] after; rows renormalised after the steps of post, ngpt and lns only), with
    the noise sqrt(2/kappa) dB (none for kappa = inf) driven by z = the counter normals of ``key``
    (:func:`_counter_normals`, numbers (step n + i) d + c, steps from 0):

    - step 0: the Runge–Kutta step of the tableau a = a_num / a_den, b = b_num / b_den, plus
      sqrt(2 dt / kappa) P_perp(x_i) z_i;
    - steps 1 and 2: the registry's own numpy steps of ``particles.simulate``
      (:func:`particles.solvers.steps.lie_euler_maruyama`, :func:`~particles.solvers.steps.strang`)
      with the Brownian increments dW = sqrt(dt) z.

    LN-Scaling (code 4, ``alpha`` its offset c) steps Post-LN by Δτ = τ(k dt) - τ((k-1) dt) in its
    clock τ(t) = 2 sqrt(t + c). Records at step 0 and every save_every steps by :func:`_record`."""
    from particles.solvers import steps

    a_num, a_den, b_num, b_den, projected, kind = scheme
    codes, k_switch, alpha = norm
    a = np.asarray(a_num, dtype=np.float64) / np.asarray(a_den, dtype=np.float64)[:, None]
    b = np.asarray(b_num, dtype=np.float64) / b_den
    Bm, Vm = (B if has_B else None), (V if has_V else None)
    X = np.array(X, dtype=np.float64)
    n, d = X.shape
    noisy = kappa < np.inf
    rec = (frac, ncl, r, modes)
    _, *rec = _record(X, codes[0], 0, None, None, None, stats, None, *rec)
    k = 0
    for step in range(1, nsteps + 1):
        code = codes[0] if step <= k_switch else codes[1]
        h, fcode = dt, code
        if code == 4:  # LN-Scaling: a Post-LN step in the clock τ
            h, fcode = 2.0 * (np.sqrt(step * dt + alpha) - np.sqrt((step - 1) * dt + alpha)), 0
        f = lambda Y, c=fcode: norm_field_naive(Y, beta, usa, Bm, Vm, c, alpha, projected)
        z = _counter_normals(key, (step - 1) * n * d, np.empty(n * d)).reshape(n, d)
        if kind == 0:
            ks = []
            for q in range(len(b)):
                ks.append(f(X + h * sum((a[q, j] * ks[j] for j in range(q)), np.zeros_like(X))))
            Y = X + h * sum((b[j] * ks[j] for j in range(len(b))), np.zeros_like(X))
            if noisy:
                Y += np.sqrt(2 * dt / kappa) * (z - np.sum(X * z, axis=1, keepdims=True) * X)
            X = Y
        else:
            step_fn = steps.lie_euler_maruyama if kind == 1 else steps.strang
            X, _ = step_fn(X, h, f, np.sqrt(dt) * z if noisy else None, kappa if noisy else None)
        if code in (0, 3, 4):
            X = X / np.linalg.norm(X, axis=1, keepdims=True)
        if step % save_every == 0:
            k += 1
            stop, *rec = _record(X, code, k, None, None, None, stats, None, *rec)
            if stop:
                return (X, *rec, step)
    return (X, *rec, nsteps)


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
    """Returns (X, frac, ncl, r, modes, done) stacked over systems s: :func:`_coord_system` of X[s]
    with betas[s], kappas[s], keys[s]; B, V hold 0 (identity), 1 (shared) or S matrices."""
    nb, nv = len(B), len(V)
    runs = []
    for s in range(X.shape[0]):
        Bs = B[0 if nb == 1 else s] if nb else None
        Vs = V[0 if nv == 1 else s] if nv else None
        head = (X[s], Bs, Vs, nb > 0, nv > 0, betas[s], usa, scheme, norm, kappas[s], keys[s])
        rest = (dt, nsteps, save_every, stats, frac[s], ncl[s], r[s], modes[s])
        runs.append(_coord_system(*head, *rest))
    return tuple(np.stack(v) for v in zip(*runs, strict=True))


def _s1r_moments(c, s, q, p, Q, chunks, acc_re, acc_im):
    """Twin of kernels._s1r_moments: (acc_re, acc_im), slot [t, k, l] = sum of q_j^l (c_j + i s_j)^k
    over the particles j of chunk t (j in [t n / chunks, (t + 1) n / chunks))."""
    n = c.shape[0]
    w = c + 1j * s
    acc = np.zeros((chunks, p + 1, Q + 1), dtype=complex)
    for t in range(chunks):
        j = np.arange(t * n // chunks, (t + 1) * n // chunks)
        for k in range(p + 1):
            for l in range(Q + 1):
                acc[t, k, l] = np.sum(q[j] ** l * w[j] ** k)
    return acc.real, acc.imag


def _s1r_sums(c, s, q, coef, G, N):
    """Twin of kernels._s1r_sums: (G (n,), N (n, 2)) with v = q^a (c + i s)^k,
    G = sum_ka coef[k,a,0] Re v + coef[k,a,1] Im v, N_re = sum coef[k,a,2] Re v + coef[k,a,3] Im v,
    N_im = sum coef[k,a,4] Im v + coef[k,a,5] Re v."""
    K, A = coef.shape[:2]
    w = c + 1j * s
    v = (w[:, None, None] ** np.arange(K)[None, :, None]) * (q[:, None, None] ** np.arange(A))
    v = v.reshape(c.shape[0], K * A)
    cf = coef.reshape(K * A, 6)
    g = v.real @ cf[:, 0] + v.imag @ cf[:, 1]
    nn = np.empty((c.shape[0], 2))
    nn[:, 0] = v.real @ cf[:, 2] + v.imag @ cf[:, 3]
    nn[:, 1] = v.imag @ cf[:, 4] + v.real @ cf[:, 5]
    return g, nn


def kernel_sums_naive(x, beta):
    """(G, N): G_i = sum_j e^{beta (<x_i, x_j> - 1)}, N_i = sum_j e^{beta (<x_i, x_j> - 1)} x_j."""
    w = np.exp(beta * (x @ x.T) - beta)
    return w.sum(axis=1), w @ x


def _state_gram(X, code, Th, YT, L):
    """Returns the Gram matrix of the token directions: X X^T for Post-LN (code 0), else of X/|X|."""
    D = X if code == 0 else X / np.linalg.norm(X, axis=1, keepdims=True)
    return D @ D.T


def _tile_rowmax(L, r0, c0, causal, m):
    """m[a] <- max(m[a], max of the allowed L[a, b]) (hardmax pass 1, particles.field.hardmax)."""
    tr, tc = L.shape
    for a in range(tr):
        lim = min(tc, max(0, r0 + a - c0 + 1)) if causal else tc
        if lim:
            m[a] = max(m[a], L[a, :lim].max())


def _tile_ties(L, thr, v, r0, c0, causal, acc, cnt):
    """acc[a] += v[b], cnt[a] += 1 where L[a, b] >= thr[a], columns b in order (hardmax pass 2)."""
    tr, tc = L.shape
    lim = np.array(
        [min(tc, max(0, r0 + a - c0 + 1)) if causal else tc for a in range(tr)], dtype=np.int64
    )
    for b in range(tc):
        sel = (L[:, b] >= thr) & (b < lim)
        cnt[sel] += 1
        acc[sel] += v[b]
