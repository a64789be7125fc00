"""O(n) attention fields for Q = K = I on S^1 and S^2, exact to a tolerance.

For Q = K = I the weights exp(beta <x_i, x_j>) are a zonal kernel k(t) = e^{beta t} of t = <x_i, x_j>,
and both sums the field needs,

    G_i = sum_j e^{beta <x_i, x_j>}           (the softmax normaliser Z_i of SA)
    N_i = sum_j e^{beta <x_i, x_j>} x_j        (the numerator; the field is V N_i / Z_i),

are kernel sums with convergent expansions in harmonics (arXiv 2312.10794, eq. 2.3 with Q = K = I,
V = v I). Everything is computed in units of e^{beta} (``ive``), so nothing overflows for large beta.

**Circle (d = 2).** With z_j = e^{i theta_j}, Jacobi–Anger gives
e^{beta cos(a)} = sum_{k in Z} I_k(beta) e^{ik a}, so with the moments m_k = sum_j z_j^k:

    G_i = I_0 n + 2 sum_{k>=1} I_k Re(z_i^k conj m_k),
    N_i = I_0 m_1 + sum_{k>=1} I_k [z_i^k conj m_{k-1} + conj(z_i^k) m_{k+1}]     (N_i as a complex number),

truncated at k <= p: O(n p) for the moments and O(n p) for the sums (numba kernels
``kernels._s1r_moments`` and ``kernels._s1r_sums`` with no radial terms).

**Off the circle (d = 2).** Points x_j = r_j e^{i theta_j} of any radii (the stages of Runge–Kutta
methods, |x|^2 = 1 + O(h^2)) are first rescaled by r0^2 = (min r^2 + max r^2) / 2: with
w_j = x_j / r0, beta' = beta r0^2, e^{beta <x_i, x_j>} = e^{beta' <w_i, w_j>}, N = r0 N', and the
radii r'_j = |w_j| straddle 1 as tightly as they can, s_j = r'_j^2 - 1 in [-S, S] with
S = (max r^2 - min r^2) / (max r^2 + min r^2) (0 for equal radii). Jacobi–Anger (DLMF 10.35.1 at
t = e^{i a}) gives e^{beta' r'_i r'_j cos a} = sum_{k in Z} I_|k|(beta' r'_i r'_j) e^{ik a}, and
the multiplication theorem (DLMF 10.44.1, I_nu(lam z) = lam^nu sum_m ((lam^2 - 1) z / 2)^m / m!
I_{nu+m}(z)) at lam = r'_i r'_j, with lam^2 - 1 = s_i r'_j^2 + s_j expanded binomially
(C(m, a) / m! = 1 / (a! b!), b = m - a), separates the radii: for k >= 0,

    I_k(beta' r'_i r'_j) e^{ik(theta_i - theta_j)}
        = sum_{a, b >= 0} c_kab [s_i^a w_i^k] [r'_j^{2a} s_j^b conj(w_j)^k],
    c_kab = (beta'/2)^{a+b} / (a! b!) I_{k+a+b}(beta'),

(k < 0: the complex conjugates of w). With r'_j^{2a} = (1 + s_j)^a = sum_l C(a, l) s_j^l every
j-sum is a combination of the moments mu_kl = sum_j s_j^l w_j^k, P_kab = sum_j r'_j^{2a} s_j^b w_j^k
= sum_l C(a, l) mu_{k, b+l}, and, truncated at k <= p and a + b <= M,

    G_i = sum_{k, a} Re(s_i^a w_i^k Cg_ka),  Cg_ka = eps_k sum_b c_kab conj(P_kab)  (eps_0 = 1, else 2),
    N'_i = sum_{k, a} s_i^a [w_i^k X_ka + conj(w_i)^k Y_ka],
    X_0a = sum_b c_0ab P_1ab,  X_ka = sum_b c_kab conj(P_{k-1, a+1, b}),  Y_ka = sum_b c_kab P_{k+1, a, b}

(conj(w_j)^k w_j = r'_j^2 conj(w_j)^{k-1} for k >= 1). That is (p + 2)(M + 2) moments and
(p + 1)(M + 1) terms per particle (``kernels._s1r_moments``, ``kernels._s1r_sums``); with s = 0
(M = 0, r' = 1) it is the circle's expansion above. p and M are chosen a priori from beta, the
radii and tol (:func:`circle_plan`: the k-tail at the largest product of radii and the radial tail
bounded term by term). RK stages have S = O(h^2 |f|^2), and M is a few (about 5 for an RK4 step
of h = 0.05 at beta = 5, tol = 1e-10, n = 10^6). On S^2 there is no such form here: Funk–Hecke's
factors r^l of each degree l cannot ride on the per-point weights of ducc0's transforms.

**Sphere (d = 3).** Funk–Hecke / the plane-wave expansion e^{beta t} = sum_l (2l+1) i_l(beta) P_l(t)
(i_l the modified spherical Bessel functions) and the addition theorem
P_l(<x, y>) = 4 pi / (2l+1) sum_m Y_lm(x) conj Y_lm(y) give, with a_lm = sum_j conj Y_lm(x_j),

    G(x) = sum_j e^{beta <x, x_j>} = 4 pi sum_{l <= L} i_l(beta) sum_m a_lm Y_lm(x).

The numerator follows from the gradient in R^3 of the same function extended off the sphere,
G(x) = sum_j e^{beta <x, x_j>} for x in R^3: grad G(x) = beta sum_j e^{beta <x, x_j>} x_j, so

    N_i = (1/beta) grad G(x_i) = x_i <x_i, N_i> + (1/beta) grad_S G(x_i),

splitting the gradient into its radial and spherical (tangent) parts. Writing x = r u (|u| = 1),
G(r u) = sum_j e^{beta r <u, x_j>} = 4 pi sum_l i_l(beta r) sum_m a_lm Y_lm(u) (the expansion at
beta r), so the radial part is

    <x_i, N_i> = (1/beta) d/dr G(r x_i)|_{r=1} = 4 pi sum_l i_l'(beta) sum_m a_lm Y_lm(x_i),
    i_l' = (l i_{l-1} + (l+1) i_{l+1}) / (2l + 1),   i_0' = i_1,

and the tangent part (1/beta) grad_S G is the spin-1 gradient synthesis of 4 pi i_l(beta) a_lm. So
one adjoint transform (a_lm, non-uniform points) and three syntheses at the points (G, the radial
part, the gradient) give the field; they are ducc0's non-uniform spherical-harmonic transforms
(``adjoint_synthesis_general``, ``synthesis_general``, the latter with mode "DERIV1" for the
gradient), O(L^2 log L + n) each with ducc0's accuracy ``epsilon``.

**Tolerance.** ``tol`` bounds |v_i - v_i^exact| relative to the total weight of row i times |V|:
for SA, whose weights sum to one, it is an absolute error on a field of size <= |V|; for USA the
scale is |V| Z_i / n. Truncation: in units of e^{beta}, G_i >= max(1, n e^{-2 beta}) (the self term
and the smallest weight), and the tails are bounded with |m_k| <= n, |P_l| <= 1,
|sqrt(1 - t^2) P_l'(t)| <= l (l + 1) / 2, so the order p (degree L) is chosen a priori from beta, n
and tol (:func:`circle_order`, :func:`sphere_degree`). Rounding (and ducc0's approximation) adds an
absolute error of about eps n in G and N, which matters only for rows with a small G_i (an isolated
particle far from every cluster): each row gets an a-posteriori estimate, and rows above ``tol``
are recomputed exactly against all n columns (O(n) each).

On S^2, points must be unit vectors up to a deviation that cannot move the field by more than tol
(see :func:`unit_deviation_ok`); the field is then evaluated at x_i / |x_i| and projected at x_i as
the exact path does. On the circle the same holds within that deviation (the same bits as on it),
and beyond it the radial expansion evaluates the field at the points themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, ive

from .. import config
from ..errors import ParticlesError
from . import kernels, tiles
from .inputs import attention

#: smallest accuracy ducc0's double-precision general SHT accepts (its documented limit is 2e-13)
DUCC_EPS_MIN = 3e-13
#: a-posteriori constant: the absolute error of G and N from ducc0 (at epsilon) and rounding,
#: in units of epsilon * n; measured <= 0.42 (truncation included) on clustered and uniform inputs,
#: beta in {1, 5, 20, 60} (tests/test_expansion.py::test_a_posteriori_estimate_bounds_the_error)
SPHERE_ERR_C = 1.0
#: largest order / degree the expansion is used with
MAX_ORDER = 4096
#: largest number M of radial terms (off the circle) the expansion is used with
MAX_RADIAL = 48
#: below this beta the kernel is treated as the constant e^0 = 1 (error O(beta) <= 1e-100)
BETA_ZERO = 1e-100
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class ExpansionInfo:
    """What an expansion evaluation did: ``order`` p (circle) or degree L (sphere), the number of
    rows recomputed exactly (``repaired``), the largest a-posteriori error estimate before repair
    and ``radial`` M, the radial terms off the circle (0 on it)."""

    d: int
    order: int
    repaired: int
    max_estimate: float
    radial: int = 0


def _ive_table(beta: float, half: bool) -> np.ndarray:
    """e^{-beta} I_k(beta) (half=False) or e^{-beta} i_k(beta) (half=True), k = 0.. until negligible."""
    kmax = int(beta + 40.0 * math.sqrt(beta + 1.0) + 80)
    k = np.arange(kmax + 1, dtype=np.float64)
    if half:
        a = ive(k + 0.5, beta) * math.sqrt(math.pi / (2.0 * beta))
    else:
        a = ive(k, beta)
    return a


def _tail(t: np.ndarray) -> np.ndarray:
    """tail[p] = sum_{k > p} t[k]."""
    c = np.cumsum(t[::-1])[::-1]
    return np.append(c[1:], 0.0)


def _budget(n: int, beta: float) -> float:
    """1 / min G_i in units of e^{beta}: G_i >= max(1, n e^{-2 beta})."""
    return min(float(n), math.exp(min(2.0 * beta, 700.0)))


def circle_order(beta: float, n: int, tol: float) -> int:
    """Order p of the Jacobi–Anger expansion that meets ``tol`` for any n points on S^1, a priori.

    The truncated tails of G_i and N_i are each <= 2 n T_p with T_p = sum_{k>p} e^{-beta} I_k(beta);
    the field error |dN - F dG| / G_i <= 4 n T_p / G_i <= 4 T_p min(n, e^{2 beta}), kept <= tol / 2.
    """
    if beta < BETA_ZERO:
        return 0
    a = _ive_table(beta, half=False)
    bound = 4.0 * _tail(a) * _budget(n, beta)
    ok = np.nonzero(bound <= 0.5 * tol)[0]
    return int(ok[0]) if ok.size else MAX_ORDER + 1


def radii(x: np.ndarray) -> tuple[float, float]:
    """(min_i |x_i|^2, max_i |x_i|^2)."""
    r2 = np.einsum("ij,ij->i", x, x)
    return float(r2.min()), float(r2.max())


def _off_scaled(beta: float, r2min: float, r2max: float):
    """The rescaled problem off the circle: (r0^2, beta r0^2, min r'^2, max r'^2, S) with
    r0^2 = (min + max) / 2, r' = r / r0 and S = max |r'^2 - 1| = (max - min) / (max + min)."""
    r0sq = 0.5 * (r2min + r2max)
    lo, hi = r2min / r0sq, r2max / r0sq
    return r0sq, beta * r0sq, lo, hi, max(hi - 1.0, 1.0 - lo)


def _radial_table(bp: float, S: float, hi: float, kmax: int, mmax: int, x: float | None = None):
    """W[k, m] = hi^k X^m / m! e^{-bp} I_{k+m}(bp), k <= kmax, m <= mmax, with
    X = bp S (1 + hi) / 2 (or ``x``): the bound on the (k, a + b = m) terms of the expansion."""
    if x is None:
        x = 0.5 * bp * S * (1.0 + hi)
    a = ive(np.arange(kmax + mmax + 1, dtype=np.float64), bp)
    m = np.arange(mmax + 1)
    with np.errstate(divide="ignore"):
        lw = m * math.log(x) - gammaln(m + 1.0) if x > 0 else np.where(m == 0, 0.0, -np.inf)
    k = np.arange(kmax + 1)
    with np.errstate(divide="ignore"):
        la = np.log(a)  # in logs: hi^k alone may overflow where I_{k+m} underflows
    return np.exp(k[:, None] * math.log(hi) + lw[None, :] + la[k[:, None] + m[None, :]])


def circle_plan(
    beta: float, n: int, tol: float, r2min: float, r2max: float
) -> tuple[int, int] | None:
    """(order p, radial terms M) for n points off the circle with |x_i|^2 in [r2min, r2max], a
    priori; None where p > MAX_ORDER or M > MAX_RADIAL (or every point is at the origin).

    In the rescaled problem (module docstring: r' = r / r0, beta' = beta r0^2, field error scale
    r0) with R^2 = max r'^2, S = max |r'^2 - 1| and, per pair, in units of e^{beta'}:

    - the k-tail E_k = 2 sum_{k>p} e^{-beta'} I_k(beta' R^2) (I_k increases with its argument and
      r'_i r'_j <= R^2), and
    - the radial tail E_ab = 2 sum_{k<=p} sum_{m>M} R^{2k} X^m / m! e^{-beta'} I_{k+m}(beta'),
      X = beta' S (1 + R^2) / 2 (each term (k, a, b) is at most (beta'/2)^m / (a! b!)
      I_{k+m} S^m R^{2k + 2a}, and sum_{a+b=m} R^{2a} / (a! b!) = (1 + R^2)^m / m!),

    the field error of row i is <= 2 R n (E_k + E_ab) / G_i, with n / G_i <= min(n e^{beta'(1 -
    min r'^2)}, e^{beta' (1 + R^2)}) (the self term, the smallest weight). p, then M, are the
    smallest that keep each half <= tol / 4.
    """
    if r2max <= 0.0:
        return None
    r0sq, bp, lo, hi, S = _off_scaled(beta, r2min, r2max)
    if bp < BETA_ZERO:
        return 0, 0
    tolp = tol / math.sqrt(r0sq)
    R = math.sqrt(hi)
    logb = min(math.log(n) + bp * (1.0 - lo), bp * (1.0 + hi))
    scale = 2.0 * R * math.exp(min(logb, 700.0))
    ek = 2.0 * math.exp(min(bp * (hi - 1.0), 700.0)) * _tail(_ive_table(bp * hi, half=False))
    ok = np.nonzero(scale * ek <= 0.25 * tolp)[0]
    if not ok.size or ok[0] > MAX_ORDER:
        return None
    p = int(ok[0])
    W = _radial_table(bp, S, hi, p, MAX_RADIAL + 120)
    eab = _tail(2.0 * W.sum(axis=0))
    ok = np.nonzero(scale * eab <= 0.25 * tolp)[0]
    if not ok.size or ok[0] > MAX_RADIAL:
        return None
    return p, int(ok[0])


def _sphere_tables(beta: float, L: int):
    """(s_l, s'_l) for l = 0..L, in units of e^{beta}: s_l = e^{-beta} i_l(beta), s' its derivative."""
    s = _ive_table(beta, half=True)
    if s.size < L + 2:
        s = np.append(s, np.zeros(L + 2 - s.size))
    ell = np.arange(1, L + 1)
    sp = np.empty(L + 1)
    sp[0] = s[1]
    sp[1:] = (ell * s[ell - 1] + (ell + 1) * s[ell + 1]) / (2 * ell + 1)
    return s[: L + 1], sp


def sphere_degree(beta: float, n: int, tol: float) -> int:
    """Degree L of the Funk–Hecke expansion that meets ``tol`` for any n points on S^2, a priori.

    Per unit of n, the truncated tails are sum_{l>L} (2l+1) s_l (G), (2l+1) |s'_l| (the radial part)
    and (2l+1) s_l l (l+1) / (2 beta) (the gradient), s_l = e^{-beta} i_l(beta); their sum times
    min(n, e^{2 beta}) is kept <= tol / 2.
    """
    if beta < BETA_ZERO:
        return 0
    bound = _tail(_full_w(beta)) * _budget(n, beta)
    ok = np.nonzero(bound <= 0.5 * tol)[0]
    return int(ok[0]) if ok.size else MAX_ORDER + 1


def have_ducc0() -> bool:
    try:
        import ducc0  # noqa: F401
    except ImportError:
        return False
    return True


def unit_deviation_ok(x: np.ndarray, beta: float, tol: float) -> bool:
    """True when evaluating the kernel at x_i / |x_i| moves the field by at most tol / 4.

    With |x_i| = 1 + delta_i, e^{beta <x_i, x_j>} changes by a factor e^{O(2 beta delta)} and x_j by
    delta, so (4 beta + 2) max delta <= tol / 4 is enough. Deviations at the rounding level of a
    normalisation (|x|^2 - 1 <= 64 eps) are always accepted: the exact path's logits carry that much.
    """
    dev = unit_deviation(x)
    return dev <= 64 * _EPS or (4.0 * beta + 2.0) * dev <= 0.25 * tol


def unit_deviation(x: np.ndarray) -> float:
    """max_i ||x_i|^2 - 1|."""
    if x.shape[0] == 0:
        return 0.0
    r2 = np.einsum("ij,ij->i", x, x)
    r2 -= 1.0
    return float(max(r2.max(), -r2.min()))


def allowed(dyn, d: int) -> bool:
    """Whether the expansion applies to these dynamics in dimension d (before looking at beta, n)."""
    return (
        d in (2, 3)
        and dyn.kind != "SK"  # Sinkhorn's scaling is not a kernel sum the expansion can carry
        and dyn.heads == 1
        and dyn.identity_attention
        and not dyn.causal
        and (d == 2 or have_ducc0())
    )


def order_for(d: int, beta: float, n: int, tol: float) -> int:
    return circle_order(beta, n, tol) if d == 2 else sphere_degree(beta, n, tol)


# --- cost model for method="auto" ------------------------------------------------------------------
# Seconds per unit, measured on the 2-core machine (benchmarks/bench_expansion.py): the exact Gram
# path costs ~EXACT_C n^2 for d <= 3 (exponentials dominate), the circle ~CIRCLE_C n (p + 1) plus a
# fixed cost (off the circle ~CIRCLE_RC per moment and term), the sphere (ducc0) ~SPHERE_C0 +
# SPHERE_C n + SPHERE_CL L^2 log L.
EXACT_C = 1.5e-9
CIRCLE_C = 1.0e-9
CIRCLE_C0 = 1e-4
CIRCLE_RC = 5e-10  # per moment and per term off the circle (measured 4e-10 to 6e-10, n = 2e5)
SPHERE_C = 1.0e-6
SPHERE_C0 = 1e-3
SPHERE_CL = 2e-7


def predicted_seconds(d: int, n: int, order: int, radial: int | None = None) -> tuple[float, float]:
    """(exact, expansion) predicted seconds of one field evaluation (for method="auto"); ``radial``
    M: off the circle, (p + 2)(M + 2) moments and (p + 1)(M + 1) terms per particle."""
    exact = EXACT_C * n * n
    if d == 2 and radial is not None:
        p, m = order, radial
        exp = CIRCLE_C0 + CIRCLE_RC * n * ((p + 2) * (m + 2) + (p + 1) * (m + 1))
    elif d == 2:
        exp = CIRCLE_C0 + CIRCLE_C * n * (order + 2) * 2
    else:
        L = max(order, 1)
        exp = SPHERE_C0 + SPHERE_C * n + SPHERE_CL * L * L * math.log(L + 1)
    return exact, exp


def choose(dyn, x: np.ndarray, tol: float) -> tuple[int, int | None] | None:
    """(order p, radial M) when "auto" should pick the expansion, else None. M is None on the sphere
    (to the tolerance of :func:`unit_deviation_ok`), else the number of radial terms (d = 2 only)."""
    n, d = x.shape
    if not allowed(dyn, d) or n < 64:
        return None
    order = order_for(d, dyn.beta, n, tol)
    if order > MAX_ORDER:
        return None
    exact, exp = predicted_seconds(d, n, order)
    if exp >= exact:
        return None
    if unit_deviation_ok(x, dyn.beta, tol):  # (cheap next to the evaluation)
        return order, None
    if d != 2:
        return None
    plan = circle_plan(dyn.beta, n, tol, *radii(x))
    if plan is None:
        return None
    exact, exp = predicted_seconds(d, n, *plan)
    return plan if exp < exact else None


# --- evaluation ------------------------------------------------------------------------------------


def _circle(u: np.ndarray, beta: float, p: int, threads_ok: bool):
    """(G, N (n, 2), a-posteriori absolute error bound of G and N) for unit vectors u (n, 2)."""
    n = u.shape[0]
    c = np.ascontiguousarray(u[:, 0])
    s = np.ascontiguousarray(u[:, 1])
    a = _ive_table(beta, half=False)
    if a.size < p + 3:
        a = np.append(a, np.zeros(p + 3 - a.size))
    B = kernels.CIRCLE_BLOCK
    chunks = max(1, min(kernels.CIRCLE_CHUNKS, -(-n // B)))
    # the kernels of the off-circle path with no radial terms (q = 1, M = 0): m_k = mu_k0
    q = np.ones(n)
    acc_re = np.empty((chunks, p + 2, 1))
    acc_im = np.empty((chunks, p + 2, 1))
    big = n * (p + 2) >= kernels.PARALLEL_MIN_WORK and threads_ok
    (kernels._s1r_moments if big else kernels._s1r_moments.serial)(
        c, s, q, p + 1, 0, chunks, acc_re, acc_im
    )
    mr = acc_re.sum(axis=0)[:, 0]
    mi = acc_im.sum(axis=0)[:, 0]
    coef = np.zeros((p + 1, 6))
    ak = a[: p + 1]
    coef[0] = (ak[0] * mr[0], ak[0] * mi[0], ak[0] * mr[1], 0.0, 0.0, ak[0] * mi[1])
    if p >= 1:
        k = np.arange(1, p + 1)
        coef[1:, 0] = 2.0 * ak[1:] * mr[k]
        coef[1:, 1] = 2.0 * ak[1:] * mi[k]
        coef[1:, 2] = ak[1:] * (mr[k - 1] + mr[k + 1])
        coef[1:, 3] = ak[1:] * (mi[k - 1] + mi[k + 1])
        coef[1:, 4] = ak[1:] * (mr[k - 1] - mr[k + 1])
        coef[1:, 5] = ak[1:] * (mi[k + 1] - mi[k - 1])
    G = np.empty(n)
    N = np.empty((n, 2))
    (kernels._s1r_sums if big else kernels._s1r_sums.serial)(c, s, q, coef[:, None, :], G, N)
    # truncation (a priori) + rounding: powers carry ~(k + 2) eps, each moment is n / (chunks B)
    # terms per block position, then B positions and chunks slots added in turn, and the sums over
    # k round with their terms a_k |m_k| <= a_k n
    kk = np.arange(p + 2)
    seq = n / (chunks * B) + B + chunks + 2.0
    trunc = 4.0 * n * float(_tail(a)[p])
    rnd = 8.0 * _EPS * n * float(np.sum(a[: p + 2] * (kk + 4.0 + seq)))
    return G, N, trunc + rnd


def _circle_off(x: np.ndarray, beta: float, p: int, M: int, threads_ok: bool):
    """Off the circle: (G, N (n, 2), err, r0) for points x (n, 2) of any radii (not all 0).

    In the rescaled problem (module docstring; x' = x / r0, beta' = beta r0^2): G and N' in units
    of e^{beta'} (N = r0 N'), and err, with |dN'_i| + |N'_i / G_i| |dG_i| <= err (truncation, a
    priori, plus rounding), so the field error of row i is <= r0 err / G_i.
    """
    n = x.shape[0]
    r2min, r2max = radii(x)
    r0sq, bp, lo, hi, S = _off_scaled(beta, r2min, r2max)
    r0 = math.sqrt(r0sq)
    c = x[:, 0] / r0
    s = x[:, 1] / r0
    q = np.einsum("ij,ij->i", x, x) / r0sq - 1.0
    Q = M + 1
    chunks = max(1, min(kernels.CIRCLE_CHUNKS, -(-n // kernels.CIRCLE_BLOCK)))
    acc_re = np.empty((chunks, p + 2, Q + 1))
    acc_im = np.empty((chunks, p + 2, Q + 1))
    big = n * (p + 2) * (Q + 1) >= kernels.PARALLEL_MIN_WORK and threads_ok
    (kernels._s1r_moments if big else kernels._s1r_moments.serial)(
        c, s, q, p + 1, Q, chunks, acc_re, acc_im
    )
    mu = acc_re.sum(axis=0) + 1j * acc_im.sum(axis=0)  # mu[k, l] = sum_j q_j^l w_j^k
    coef = _off_coefficients(mu, bp, p, M)
    G = np.empty(n)
    N = np.empty((n, 2))
    (kernels._s1r_sums if big else kernels._s1r_sums.serial)(c, s, q, coef, G, N)
    # truncation (the a-priori bounds of circle_plan) and rounding: every term rounds relative to
    # its bound W, with ~(k + m + 4) eps from the powers and n / (chunks B) + 2 from the sums
    R = math.sqrt(hi)
    full = _ive_table(bp * hi, half=False)
    ek = 2.0 * math.exp(min(bp * (hi - 1.0), 700.0)) * float(np.sum(full[p + 1 :]))
    W = _radial_table(bp, S, hi, p, M + 120)
    eab = 2.0 * float(W[:, M + 1 :].sum())
    Wr = _radial_table(bp, S, hi, p + 1, M + 1, x=0.5 * bp * S * (2.0 + S))
    kk = np.arange(p + 2)[:, None]
    mm = np.arange(M + 2)[None, :]
    seq = n / (chunks * kernels.CIRCLE_BLOCK) + kernels.CIRCLE_BLOCK + chunks + 2.0
    rnd = 16.0 * _EPS * n * R * float(np.sum(Wr * (kk + mm + 4.0 + seq)))
    return G, N, 2.0 * R * n * (ek + eab) + rnd, r0


def _off_coefficients(mu: np.ndarray, bp: float, p: int, M: int) -> np.ndarray:
    """coef (p + 1, M + 1, 6) of kernels._s1r_sums from the moments mu (p + 2, M + 2) (module
    docstring: Cg, X, Y with c_kab = (beta'/2)^{a+b} / (a! b!) e^{-beta'} I_{k+a+b}(beta'))."""
    K, L = p + 2, M + 2
    # P[k, a, b] = sum_j r_j^{2a} q_j^b w_j^k = sum_l C(a, l) mu[k, b + l] (valid for a + b <= M + 1)
    binom = np.zeros((L, L))
    for aa in range(L):
        for ll in range(aa + 1):
            binom[aa, ll] = math.comb(aa, ll)
    mupad = np.zeros((K, 2 * L), dtype=complex)
    mupad[:, :L] = mu
    shift = mupad[:, np.arange(L)[:, None] + np.arange(L)[None, :]]  # [k, b, l] = mu[k, b + l]
    P = np.einsum("al,kbl->kab", binom, shift)
    ab = np.arange(M + 1)
    msum = ab[:, None] + ab[None, :]
    it = ive(np.arange(p + 2 * M + 1, dtype=np.float64), bp)
    lf = gammaln(ab + 1.0)
    lb = math.log(0.5 * bp) if bp > 0 else -np.inf
    with np.errstate(invalid="ignore"):
        lc = np.where(msum == 0, 0.0, msum * lb) - lf[:, None] - lf[None, :]
    cab = np.where(msum <= M, np.exp(lc), 0.0)  # [a, b]
    k = np.arange(p + 1)
    c = cab[None, :, :] * it[k[:, None, None] + msum[None, :, :]]  # [k, a, b]
    eps_k = np.where(k == 0, 1.0, 2.0)
    Cg = eps_k[:, None] * np.einsum("kab,kab->ka", c, np.conj(P[: p + 1, : M + 1, : M + 1]))
    X = np.empty((p + 1, M + 1), dtype=complex)
    X[0] = np.einsum("ab,ab->a", c[0], P[1, : M + 1, : M + 1])
    if p >= 1:
        X[1:] = np.einsum("kab,kab->ka", c[1:], np.conj(P[:p, 1 : M + 2, : M + 1]))
    Y = np.zeros((p + 1, M + 1), dtype=complex)
    if p >= 1:
        Y[1:] = np.einsum("kab,kab->ka", c[1:], P[2 : p + 2, : M + 1, : M + 1])
    coef = np.empty((p + 1, M + 1, 6))
    coef[..., 0] = Cg.real
    coef[..., 1] = -Cg.imag
    coef[..., 2] = X.real + Y.real
    coef[..., 3] = Y.imag - X.imag
    coef[..., 4] = X.real - Y.real
    coef[..., 5] = X.imag + Y.imag
    return coef


def _sphere(u: np.ndarray, beta: float, L: int, tol: float):
    """(G, N (n, 3), a-posteriori absolute error of G and N) for unit vectors u (n, 3), by ducc0."""
    import ducc0

    n = u.shape[0]
    theta = np.arctan2(np.hypot(u[:, 0], u[:, 1]), u[:, 2])
    phi = np.arctan2(u[:, 1], u[:, 0])
    phi[phi < 0] += 2.0 * np.pi
    loc = np.empty((n, 2))
    loc[:, 0] = theta
    loc[:, 1] = phi
    eps = float(min(max(0.01 * tol, DUCC_EPS_MIN), 1e-4))
    # inside field.fixed_order() (noisy runs) the syntheses run on one thread too: with two, ducc0
    # changed ~0.05 % of the entries by 1e-16 (measured), and a seed must fix the path on any machine
    nth = 1 if tiles._FIXED_ORDER else config.THREADS
    Lt = max(L, 1)  # ducc0 wants lmax >= 1 for the gradient
    # one thread: ducc0's threaded adjoint (spreading) sums in a run-dependent order (results
    # differed by 1e-16 between calls), and a second thread gained < 10 % here
    a = ducc0.sht.adjoint_synthesis_general(
        map=np.ones((1, n)), spin=0, lmax=Lt, loc=loc, epsilon=eps, nthreads=1
    )
    s, sp = _sphere_tables(beta, Lt)
    if L < Lt:
        s[L + 1 :] = 0.0
        sp[L + 1 :] = 0.0
    ells = np.concatenate([np.arange(m, Lt + 1) for m in range(Lt + 1)])
    four_pi = 4.0 * np.pi
    b = a * (four_pi * s[ells])
    G = ducc0.sht.synthesis_general(alm=b, spin=0, lmax=Lt, loc=loc, epsilon=eps, nthreads=nth)[0]
    R = ducc0.sht.synthesis_general(
        alm=a * (four_pi * sp[ells]), spin=0, lmax=Lt, loc=loc, epsilon=eps, nthreads=nth
    )[0]
    D = ducc0.sht.synthesis_general(
        alm=b, spin=1, lmax=Lt, loc=loc, epsilon=eps, nthreads=nth, mode="DERIV1"
    )
    ct, st = np.cos(theta), np.sin(theta)
    cp, sn = np.cos(phi), np.sin(phi)
    dth = D[0] / beta
    dph = D[1] / beta
    N = u * R[:, None]
    N[:, 0] += dth * ct * cp - dph * sn
    N[:, 1] += dth * ct * sn + dph * cp
    N[:, 2] -= dth * st
    tails = _tail(_full_w(beta))
    trunc = n * float(tails[L]) if L < tails.size else 0.0
    err = trunc + SPHERE_ERR_C * max(eps, 64 * _EPS) * n
    return G, N, err


def _full_w(beta: float) -> np.ndarray:
    """Per-degree bound (2l+1) (s_l + |s'_l| + s_l l (l+1) / (2 beta)) of the three sums' terms."""
    s = _ive_table(beta, half=True)
    ell = np.arange(s.size, dtype=np.float64)
    sp = np.empty_like(s)
    sp[0] = s[1]
    sp[1:-1] = (ell[1:-1] * s[:-2] + (ell[1:-1] + 1) * s[2:]) / (2 * ell[1:-1] + 1)
    sp[-1] = s[-2]
    return (2 * ell + 1) * (s + np.abs(sp) + s * ell * (ell + 1) / (2.0 * beta))


def expansion_raw(
    x: np.ndarray,
    beta: float,
    kind: str,
    V,
    tol: float,
    order: int | None = None,
    checked: bool = False,
    radial: int | None = None,
) -> tuple[np.ndarray, ExpansionInfo]:
    """The attention output V sum_j A_ij x_j (before the tangent projection) by the expansion.

    ``x`` (n, d) float64 with d in {2, 3}. On S^2 the rows must be unit (to the tolerance of
    :func:`unit_deviation_ok`; ``checked=True``: the caller has checked). On the circle, rows off
    it by more than that take the radial expansion (module docstring) with ``order`` p and
    ``radial`` M (both None: chosen by :func:`circle_plan`; ``radial`` given: that path, checked
    by the caller). ``kind`` "SA" or "USA"; ``V`` None or a float. Rows whose a-posteriori error
    estimate exceeds ``tol`` are recomputed exactly.
    Returns (field (n, d), :class:`ExpansionInfo`).
    """
    n, d = x.shape
    if d not in (2, 3):
        raise ParticlesError(f"the expansion is for d = 2 or 3, got d = {d}")
    off = radial is not None or (not checked and not unit_deviation_ok(x, beta, tol))
    if off and d == 3:
        raise ParticlesError(
            "method='expansion' needs points on the unit sphere (max ||x_i|^2 - 1| too large for "
            "this tol); use method='exact' or normalise x"
        )
    v = 1.0 if V is None else float(V)
    sa = kind == "SA"
    if beta < BETA_ZERO:  # constant kernel: A_ij = 1/n for SA and USA
        f = np.broadcast_to(x.mean(axis=0) * v, x.shape).copy()
        return f, ExpansionInfo(d, 0, 0, 0.0)
    if off:
        if radial is None or order is None:
            plan = circle_plan(beta, n, tol, *radii(x))
            if plan is None:
                raise ParticlesError(
                    f"the expansion off the circle needs order > {MAX_ORDER} or more than "
                    f"{MAX_RADIAL} radial terms at beta = {beta} for these radii; use method='exact'"
                )
            order, radial = plan
        G, N, err, r0 = _circle_off(x, beta, order, radial, True)
        bexp = beta * r0 * r0
    else:
        if order is None:
            order = order_for(d, beta, n, tol)
        if order > MAX_ORDER:
            raise ParticlesError(
                f"the expansion needs order {order} > {MAX_ORDER} at beta = {beta}; "
                "use method='exact'"
            )
        # unit to rounding already (the usual case): the kernels are insensitive to 1e-16 in |x_i|
        u = x if unit_deviation(x) <= 64 * _EPS else x / np.linalg.norm(x, axis=1)[:, None]
        if d == 2:
            G, N, err = _circle(u, beta, order, True)
        else:
            G, N, err = _sphere(u, beta, order, tol)
        r0, bexp = 1.0, beta
    # the estimate r0 err / G_i exceeds tol exactly where G_i < r0 err / tol (G_i > 0 exactly)
    gmin = float(G.min())
    bad = np.nonzero(~(G >= r0 * err / tol))[0]
    f = N
    if sa:
        f /= G[:, None]
    else:
        with np.errstate(over="ignore"):
            f *= math.exp(bexp - math.log(n))
    if r0 != 1.0:
        f *= r0
    if bad.size:
        f[bad] = attention(x[bad], x, x, beta, normalize=sa)
    if v != 1.0:
        f *= v
    est = r0 * err / gmin if gmin > 0 else math.inf
    return f, ExpansionInfo(d, int(order), int(bad.size), est, int(radial or 0))
