"""Linear stability of the uniform state of the noisy mean-field equation, every mode, SA and USA, any d.

The equation (conventions in :mod:`particles.meanfield`), for a density rho with respect to the
normalised uniform measure sigma on S^{d-1}:

    d_t rho = (1/kappa) Lap rho - div(rho X[rho]),
    X[rho] = grad (K rho) / beta            (USA),   X[rho] = grad log(K rho) / beta   (SA),

with (K rho)(x) = int e^{beta <x, y>} rho(y) dsigma(y).

**Funk–Hecke.** K maps a spherical harmonic Y_l of degree l to a_l(beta) Y_l with

    a_l(beta) = Gamma(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta)

(I the modified Bessel function; a_l(0) = [l = 0]; on the circle a_l = I_l(beta), the Fourier
coefficients of e^{beta cos theta}, arXiv 2312.10794 §7). Prop. 3.4 of arXiv 2312.10794 rests on
a_l > 0 for every l.

**Growth rates.** rho = 1 + eps Y_l is an eigenfunction of the linearised equation (-Lap Y_l =
l (l + d - 2) Y_l, and the uniform state's K rho = a_0 is constant), with rate

    lambda_l = l (l + d - 2) (a_l / beta - 1/kappa)           (USA),
    lambda_l = l (l + d - 2) (a_l / (beta a_0) - 1/kappa)     (SA: the SA field linearises to the USA
                                                                field divided by a_0).

So mode l is unstable iff kappa > kappa_l = beta / a_l (USA; beta a_0 / a_l for SA). a_l decreases in
l, so the uniform state loses stability through l = 1 at

    kappa_c(beta) = beta / a_1 = beta^{d/2} / (2^{d/2-1} Gamma(d/2) I_{d/2}(beta))   (USA),
    kappa_c(beta) = beta I_{d/2-1}(beta) / I_{d/2}(beta)                             (SA),

both -> d as beta -> 0 (the noisy Kuramoto threshold K = 2D on the circle, K = dD on S^{d-1}; with
arXiv 2512.01868 §7's noise sqrt(2/kappa) dW, D = 1/kappa and K = 1, so kappa_c = 2 at d = 2, its
pitchfork).
Mun–Rosenzweig (arXiv 2606.05140, abstract) state the USA threshold as
K_#^{(d)}(beta) = beta^{d/2} / (2^{d/2} Gamma(d/2) I_{d/2}(beta)), which is kappa_c / 2: their
coupling is normalised differently (:func:`mun_rosenzweig_threshold`).

**Fastest mode** of the noiseless system (kappa = inf): l* = argmax_l l (l + d - 2) a_l(beta), the same
for SA and USA; from near-uniform data the l*-mode pattern appears first. On the circle that is l*
clusters (Bruno–Pasqualotto–Agazzi, arXiv 2410.23228: k_max maximising a rescaling of the Gegenbauer
coefficients; for beta = 5, l* = 3, their Fig. 4); l* ~ sqrt(2 beta) for large beta (derived here;
arXiv 2512.01868 §5.3 quotes the order, Theta(sqrt(beta)) clusters).

**Continuous or discontinuous** (:func:`landau_coefficient`, derived here). A stationary state solves
rho = h(g) / <h(g)> with g = K rho (USA, h(g) = exp(kappa g / beta)) or g = K rho / a_0 (SA,
h(g) = g^{kappa / beta}). Expanding the zonal branch rho = 1 + A t + B (t^2 - 1/d) + ... (t = <x, e>) to
third order in A gives mu A + L A^3 = 0 with mu = kappa / kappa_c - 1 and, with k_l = a_l / a_1-scaled
kernel eigenvalues and rho_2 = a_2 / a_1,

    USA:  d (d + 2) L = (d - 1) rho_2 / (1 - rho_2) - 1,
    SA:   d (d + 2) L / (1 - k_1) = (d - 1) (1 - k_1) rho_2 / (1 - rho_2) - (d k_1 + 1),  k_1 = a_1 / a_0.

L < 0: supercritical, the branch grows continuously from kappa_c; L > 0: subcritical, the transition is
discontinuous with hysteresis. For USA, L > 0 iff rho_2 > 1/d, i.e. I_{d/2+1}(beta) / I_{d/2}(beta) > 1/d:
exactly the threshold beta_*^{(d)} of Mun–Rosenzweig (arXiv 2606.05140, abstract; arXiv 2604.16288 for
d = 2, where their global-minimiser dichotomy coincides with this local criterion). For SA the
bracket is negative for every beta we tried (d = 2..64, beta up to 200): the bifurcation from the
uniform state is supercritical, :func:`beta_star` returns inf.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import gammaln, ive

from ..errors import ParticlesError, count, number, real_array
from ..resources import check_count

KINDS = ("SA", "USA")


def _d(d) -> int:
    if isinstance(d, (bool, np.bool_, str, bytes)):
        raise ParticlesError(f"d must be an integer >= 2, got {d!r}")
    try:
        di = int(d)
    except (TypeError, ValueError, OverflowError):
        raise ParticlesError(f"d must be an integer >= 2, got {d!r}") from None
    if di != d or di < 2:
        raise ParticlesError(f"d must be an integer >= 2, got {d!r}")
    return check_count(di, "d", 1e6)  # beyond, the Bessel ratios underflow to 0/0


def _kind(kind) -> str:
    k = kind.upper() if isinstance(kind, str) else None
    if k not in KINDS:
        raise ParticlesError(f"kind must be 'SA' or 'USA', got {kind!r}")
    return k


def _linear_kind(kind) -> str:
    """SA, USA or SK (Sinkhorn: its linearisation at the uniform state, :mod:`.sinkhorn`)."""
    k = kind.upper() if isinstance(kind, str) else None
    if k in ("SK", "SINKHORN"):
        return "SK"
    if k not in KINDS:
        raise ParticlesError(f"kind must be 'SA', 'USA' or 'SK', got {kind!r}")
    return k


def _beta(beta) -> np.ndarray:
    try:
        b = np.asarray(beta, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParticlesError(
            f"beta must be a number or an array of numbers, got {beta!r}"
        ) from None
    if b.dtype.kind not in "fiu" or b.size == 0:
        raise ParticlesError(f"beta must be a number or a non-empty array of numbers, got {beta!r}")
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ParticlesError("beta must be finite and >= 0")
    if np.any(b > 700):
        raise ParticlesError("beta must be <= 700 (e^beta overflows beyond)")
    if np.any((b > 0) & (b < np.finfo(np.float64).tiny)):
        raise ParticlesError("beta is below float64 resolution (subnormal); use beta = 0")
    return b


def _beta_scalar(beta) -> float:
    """``beta`` as one float (the particle and PDE solvers take one beta at a time)."""
    b = _beta(beta)
    if b.ndim != 0:
        raise ParticlesError(f"beta must be one number here, got an array of shape {b.shape}")
    return float(b)


def _count(value, name: str, minimum: int = 1, limit: float = 1e6) -> int:
    """An integer argument (a whole float such as 8.0 is taken too), or a one-line error."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        value = int(value)
    n = count(value, name, minimum)
    return check_count(n, name, limit)


def _kappa(kappa) -> float:
    k = np.inf if kappa is None else number(kappa, "kappa")
    if not (k > 0):
        raise ParticlesError(f"kappa must be > 0 (inf: no noise), got {kappa}")
    if k < np.finfo(np.float64).tiny:
        raise ParticlesError(f"kappa = {k:g} is below float64 resolution (1/kappa overflows)")
    return k


def _log_scaled(beta: np.ndarray, d: int, ell) -> np.ndarray:
    """log(a_l(beta) / beta) for beta > 0 (broadcast over beta and ell)."""
    nu = d / 2 - 1
    return (
        gammaln(d / 2)
        + nu * math.log(2.0)
        - (nu + 1) * np.log(beta)
        + np.log(ive(ell + nu, beta))
        + beta
    )


def funk_hecke(beta, d: int, ells) -> np.ndarray:
    """a_l(beta) = Gamma(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta): the Funk–Hecke eigenvalues of
    y -> e^{beta <x, y>} on S^{d-1} for the normalised uniform measure (I_l(beta) on the circle).
    Broadcasts over ``beta`` and ``ells``."""
    d = _d(d)
    b = _beta(beta)
    ell = real_array(ells, "ells")
    if not np.all(np.isfinite(ell)) or np.any(ell < 0) or np.any(ell != np.round(ell)):
        raise ParticlesError("ells must be non-negative integers")
    if np.any(ell > 1e6):
        raise ParticlesError("ells must be <= 1e6 (beyond, the Bessel functions underflow)")
    b, ell = np.broadcast_arrays(b, ell)
    out = np.where(ell == 0, 1.0, 0.0).astype(np.float64)
    pos = b > 0
    out = np.array(out)
    out[pos] = np.exp(_log_scaled(b[pos], d, ell[pos]) + np.log(b[pos]))
    return out[()] if out.ndim == 0 else out


def _a_over_beta(beta: np.ndarray, d: int, ell: np.ndarray) -> np.ndarray:
    """a_l(beta) / beta, with its limit at beta = 0 (1/d for l = 1, 0 for l >= 2)."""
    b, ell = np.broadcast_arrays(np.asarray(beta, dtype=np.float64), ell)
    out = np.where(ell == 1, 1.0 / d, 0.0).astype(np.float64)
    pos = b > 0
    out = np.array(out)
    out[pos] = np.exp(_log_scaled(b[pos], d, ell[pos]))
    return out


def _scaled_kernel(beta: np.ndarray, d: int, ell: np.ndarray, kind: str) -> np.ndarray:
    """c_l = a_l / beta (USA), a_l / (beta a_0) (SA) or a_l / (beta (a_0 + a_l)) (SK, the
    Sinkhorn potential's linear response, :mod:`.sinkhorn`): the linearised interaction of mode l."""
    c = _a_over_beta(beta, d, ell)
    if kind == "SA":
        c = c / funk_hecke(beta, d, 0)
    elif kind == "SK":
        c = c / (funk_hecke(beta, d, 0) + np.asarray(beta, dtype=np.float64) * c)
    return c


def growth_rates(beta, d: int, kappa=np.inf, kind: str = "USA", modes: int = 10) -> np.ndarray:
    """lambda_1, ..., lambda_modes: growth rates of the modes l = 1..modes of the uniform state.

    ``lambda_l = l (l + d - 2) (a_l / beta - 1/kappa)`` for USA, ``a_l / (beta a_0)`` in place of
    ``a_l / beta`` for SA (module docstring), ``a_l / (beta (a_0 + a_l))`` for SK
    (:mod:`particles.meanfield.sinkhorn`), in the time of dx = [field] dt + sqrt(2/kappa) dB.
    ``kappa = inf`` (or None): the noiseless system. ``beta`` may be an array: the result then has
    shape ``beta.shape + (modes,)``.
    """
    d, kind, kap = _d(d), _linear_kind(kind), _kappa(kappa)
    modes = _count(modes, "modes")
    b = _beta(beta)
    ell = np.arange(1, modes + 1, dtype=np.float64)
    c = _scaled_kernel(b[..., None], d, ell, kind)
    return ell * (ell + d - 2) * (c - 1.0 / kap)


def critical_kappas(beta, d: int, kind: str = "USA", modes: int = 10) -> np.ndarray:
    """kappa_l = beta / a_l (USA; beta a_0 / a_l for SA; beta (a_0 + a_l) / a_l for SK), l = 1..modes:
    mode l of the uniform state is unstable iff kappa > kappa_l. Shape ``beta.shape + (modes,)``;
    inf at beta = 0 for l >= 2."""
    d, kind = _d(d), _linear_kind(kind)
    b = _beta(beta)
    ell = np.arange(1, _count(modes, "modes") + 1, dtype=np.float64)
    c = _scaled_kernel(b[..., None], d, ell, kind)
    with np.errstate(divide="ignore"):
        return 1.0 / c


def critical_kappa(beta, d: int, kind: str = "USA"):
    """kappa_c(beta): the uniform state is linearly stable for kappa < kappa_c and unstable above.

    USA: beta^{d/2} / (2^{d/2-1} Gamma(d/2) I_{d/2}(beta)); SA: beta I_{d/2-1}(beta) / I_{d/2}(beta)
    (module docstring); SK: SA's plus beta (:mod:`particles.meanfield.sinkhorn`). Equals d at
    beta = 0. Vectorised over ``beta``.
    """
    out = critical_kappas(beta, d, kind, modes=1)[..., 0]
    return float(out) if np.ndim(out) == 0 else out


def mun_rosenzweig_threshold(beta, d: int):
    """K_#^{(d)}(beta) = beta^{d/2} / (2^{d/2} Gamma(d/2) I_{d/2}(beta)) exactly as printed in
    arXiv 2606.05140 (abstract): the USA linear-stability threshold in that paper's normalisation of
    the coupling, equal to :func:`critical_kappa` / 2."""
    d = _d(d)
    b = _beta(beta)
    with np.errstate(divide="ignore"):
        out = np.exp(
            (d / 2) * np.log(np.where(b > 0, b, 1.0))
            - (d / 2) * math.log(2.0)
            - gammaln(d / 2)
            - np.log(ive(d / 2, np.where(b > 0, b, 1.0)))
            - np.where(b > 0, b, 1.0)
        )
    out = np.where(b > 0, out, d / 2.0)
    return float(out) if np.ndim(out) == 0 else out


def fastest_mode(beta, d: int, kappa=np.inf, kind: str = "USA", max_mode: int | None = None):
    """(l*, lambda_{l*}): the fastest-growing mode of the uniform state and its rate.

    With kappa = inf this is argmax_l l (l + d - 2) a_l(beta) (the same for SA and USA): the pattern
    that first appears from near-uniform data; on the circle, the number of clusters that form first
    (arXiv 2410.23228). ``max_mode`` defaults to a bound well past the maximum (~ sqrt(2 beta)).
    """
    b = _beta_scalar(beta)
    if max_mode is None:
        max_mode = int(4 * math.sqrt(2 * b + 1) + 10)
    max_mode = _count(max_mode, "max_mode")
    lam = growth_rates(b, d, kappa, kind, modes=max_mode)
    k = int(np.argmax(lam))
    return k + 1, float(lam[k])


def landau_coefficient(beta, d: int, kind: str = "USA"):
    """The cubic coefficient L of the amplitude equation mu A + L A^3 = 0 of the zonal stationary branch
    at kappa_c (module docstring), scaled to a dimensionless number: d (d + 2) L for USA and
    d (d + 2) L / (1 - a_1 / a_0) for SA. Negative: continuous (supercritical) transition; positive:
    discontinuous (subcritical, hysteresis). Vectorised over ``beta`` > 0."""
    d, kind = _d(d), _kind(kind)
    b = _beta(beta)
    if np.any(b <= 0):
        raise ParticlesError("the Landau coefficient needs beta > 0")
    nu = d / 2 - 1
    rho2 = ive(nu + 2, b) / ive(nu + 1, b)
    if kind == "USA":
        out = (d - 1) * rho2 / (1 - rho2) - 1.0
    else:
        k1 = ive(nu + 1, b) / ive(nu, b)
        out = (d - 1) * (1 - k1) * rho2 / (1 - rho2) - (d * k1 + 1)
    return float(out) if np.ndim(out) == 0 else out


def beta_star(d: int, kind: str = "USA") -> float:
    """beta_*^{(d)}: the transition at kappa_c is continuous for beta <= beta_* and discontinuous above.

    USA: the root of I_{d/2+1}(beta) / I_{d/2}(beta) = 1/d (Mun–Rosenzweig, arXiv 2606.05140; d = 2:
    arXiv 2604.16288), found as the sign change of :func:`landau_coefficient`; e.g. 2.4469 (d = 2),
    1.8162 (d = 3). SA: inf (its Landau coefficient stays negative, see the module docstring).
    """
    d, kind = _d(d), _kind(kind)
    if kind == "SA":
        grid = np.linspace(1e-3, 200.0, 4001)
        if np.all(landau_coefficient(grid, d, "SA") < 0):
            return math.inf
        raise ParticlesError(f"SA, d = {d}: the Landau coefficient changes sign (unexpected)")
    nu = d / 2 - 1
    return float(
        brentq(lambda b: ive(nu + 2, b) / ive(nu + 1, b) - 1.0 / d, 1e-8, 700.0, xtol=1e-14)
    )
