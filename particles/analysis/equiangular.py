"""The equiangular reduction (arXiv 2312.10794, Thm 6.8) and the phase-transition curve (6.12).

If the n tokens start pairwise equiangular, <x_i(0), x_j(0)> = rho0 for i != j (rho0 = 0: orthonormal,
so d >= n), they stay so, and the common inner product gamma(t) solves

- SA  (6.9):  gamma' = 2 (1 - gamma)((n - 1) gamma + 1) / (exp(beta (1 - gamma)) + n - 1),
- USA (6.10): gamma' = (2 / n) exp(beta gamma) (1 - gamma)((n - 1) gamma + 1).

Rigollet's survey (arXiv 2512.01868 §6.1, unnumbered display) prints the same two equations, SA as
2 e^{beta rho} (1 - rho)((n - 1) rho + 1) / (e^beta + (n - 1) e^{beta rho}) (numerator and
denominator of (6.9) times e^{beta rho}). *Names:* its rho(t) is our gamma(t) (the name of arXiv
2312.10794), and its gamma is something else, the long-context exponent of beta_n = gamma log n
(:mod:`particles.analysis.long_context`); the normalisation-scheme functions below use rho.

**Sinkhorn attention** (``kind="SK"``, arXiv 2110.11773; derived here). An equiangular
configuration's logit matrix beta (rho 11^T + (1 - rho) I) is invariant under every permutation of
the tokens, so exp of it has equal row sums and equal column sums: SoftMax's row normalisation is
already doubly stochastic, Sinkhorn's algorithm stops at its first step (K^inf = K^1), and SK's
attention weights are SA's, a = e^beta / Z, b = e^{beta rho} / Z. So SK's reduction is SA's (6.9),
under every scheme below; here ``kind="SK"`` is SA's formula (``tests/test_sinkhorn_theory.py``
checks it against simulations). SK and SA differ only away from equiangular configurations.

The two equations are separable, so the time to reach gamma is a quadrature,

    t(gamma) = int_rho0^gamma ds / rhs(s),

computed here with adaptive Gauss–Kronrod (scipy ``quad``) at tight tolerance. At beta = 0 both models
reduce to gamma' = (2/n)(1 - gamma)(1 + (n - 1) gamma), whose solution is

    gamma(t) = (R - 1) / (R + n - 1),  R = exp(2 t) (1 + (n - 1) rho0) / (1 - rho0),

i.e. (e^{2t} - 1)/(e^{2t} + n - 1) from orthonormal tokens. The curve (6.12) is
Gamma_{inf,delta} = {(t, beta): gamma_beta(t) = 1 - delta}: for each beta the hitting time
:func:`hitting_time`, or for each t the beta with that hitting time (:func:`critical_beta`).

:func:`euler_gamma` gives the same reduction for the authors' discrete scheme (Euler step with dt, then
renormalise, no tangent projection), which maps an equiangular configuration to an equiangular one; its
hitting time shows how far the dt = 0.1 scheme lags the exact curve.

**Normalisation schemes** (``norm=``; arXiv 2510.22026, Table 1, eq. (NA), §4.1 Theorem 4.1
(symmetric initialisation), §4.3 Theorem 4.3; arXiv 2512.01868 §6.1-§6.2 and its eq. (7)). Every
function here takes
``norm="post"`` (the default, the formulas above, computed exactly as before), ``"pre"``,
``"peri"``, ``"ngpt"`` (with ``alpha``), ``"mix"`` (with ``t_switch``) or ``"lns"`` (LN-Scaling,
with ``t_offset``), and the residual-stream schemes an initial radius ``r0`` (the common |h_i(0)|). Equiangular directions
<θ_i, θ_j> = ρ with a common radius r stay so under every scheme (the equations are invariant under
the permutations of the tokens). Write the attention weights a = A_ii, b = A_ij (i != j):

    SA:  a = e^β / Z, b = e^{βρ} / Z, Z = e^β + (n-1) e^{βρ};   USA: a = e^β / n, b = e^{βρ} / n,

and c = <θ_i, A_i> = a + (n-1) b ρ, |A_i|^2 = a^2 + 2(n-1) a b ρ + (n-1) b^2 (1 + (n-2) ρ). From
θ̇_i = P⊥(θ_i) A_i / s_i (eq. (NA) of 2510.22026, eq. (7) of 2512.01868) one gets
<θ̇_i, θ_j> = (a ρ + b (1 + (n-2) ρ) - c ρ) / s, so

    ρ̇ = 2 b (1 - ρ)(1 + (n-1) ρ) / s,        ṙ = (radial rate of the scheme),

with, per scheme (the speed factors s of arXiv 2510.22026, Table 2):

    post  s = 1                ṙ = 0             (reduces to (6.9)/(6.10) above)
    pre   s = r                ṙ = c
    peri  s = r |A|            ṙ = c / |A|
    ngpt  s = |A| / α          ṙ = 0
    mix   post for t < t_switch, pre after (r = r0 at the switch).
    lns   s = sqrt(t + c)      ṙ = 0             (c = t_offset; the paper's s = sqrt(t + 1))

At ρ0 = 0 (Theorem 4.1's orthonormal start) ρ̇(0) = 2 b / s is 2/(e^β + n - 1) for post and lns,
2/(r0 (e^β + n - 1)) for pre, 2/(r0 sqrt(e^{2β} + n - 1)) for peri, 2α/sqrt(e^{2β} + n - 1) for
ngpt: the table of arXiv 2510.22026 §4.1 (SA; tests check all five).
LN-Scaling is Post-LN in the clock τ(t) = 2 (sqrt(t + c) - sqrt(c)) (:func:`clock`): ρ_lns(t) =
ρ_post(τ(t)) exactly, which is how it is computed here.

*Late-time rates* (linearising at ρ = 1, ε = 1 - ρ; for Post-LN arXiv 2512.01868 §6.1 prints this
linearisation, ε̇ ≃ -2 ε (SA) and ε̇ ≃ -2 e^β ε (USA); the rest derived here). As ε -> 0, b -> 1/n, a -> 1/n,
c -> 1, |A| -> 1 for SA (b -> e^β/n, a, c, |A| -> e^β for USA), so ε̇ ≈ -λ ε / s with λ = 2 (SA) or
2 e^β (USA):

- post: ε ~ e^{-2t} (SA), e^{-2 e^β t} (USA): the rates λ_β of arXiv 2512.01868 §6.1 (and the
  e^{-2t} of its §6.2);
- ngpt: s -> 1/α (SA) or e^β/α (USA): ε ~ e^{-2 α t} for both kinds;
- pre: s = r with ṙ -> 1 (SA) or e^β (USA), so r ~ t (resp. e^β t) and ε̇ ≈ -2 ε / t: ε ~ C t^{-2},
  the 1/t^2 that arXiv 2512.01868 §6.2 states for Pre-LN;
- peri: ṙ -> 1 and s ~ t (SA) or e^β t (USA): again ε ~ C t^{-2};
- mix: Post-LN's exponential until t_switch, then Pre-LN's t^{-2}.
- lns: ε ~ C e^{-λ τ(t)} = C' e^{-2 λ sqrt(t)}, a stretched exponential (e^{-4 sqrt(t)} for SA):
  ρ̇ ~ e^{-4 sqrt(t)}/sqrt(t), the terminal velocity of arXiv 2510.22026 §4.1's table.

The papers state these as the terminal velocities γ̇ of §4.1 (C e^{-2t} for Post-LN, C/t^3 for
Pre-LN, Peri-LN and Mix-LN, i.e. ε ~ t^{-2}) and as the intra-cluster variance rates of Theorem 4.3
(ii), d Var/dt = -Θ(Var / scale) with scale 1 (Post-LN), t (Pre-, Peri-, Mix-LN), sqrt(t)
(LN-Scaling) and 1/α for nGPT (its Remark gives Var = e^{-2 ∫ α}; the theorem's display prints α).
Of the constants above, λ = 2 (SA), λ = 2 e^β (USA) and Pre-LN's exponent 2 are stated in arXiv
2512.01868 §6.1-§6.2 (tests/test_papers_2512.py checks them against :func:`rhs` and
:func:`late_time`); nGPT's 2α, Peri- and Mix-LN's exponent 2 and LN-Scaling's μ = 4 are derived here
from the equiangular ODE. All are checked against full simulations in tests/test_norms.py.

:func:`late_time` returns these laws. Pre-LN and Peri-LN trace the same curve (ρ, r) in the
equiangular model (dρ/dr = 2 b (1-ρ)(1+(n-1)ρ) / (r c) for both; only the speed along it differs,
Peri-LN's ṙ = c/|A| >= c since |A| <= 1 for SA), so r is a function of ρ alone,

    log(r / r0) = int_ρ0^ρ c(s) / (2 b(s) (1 - s)(1 + (n-1) s)) ds,

and :func:`hitting_time` integrates the pair (t, log r) in the variable u = -log(1 - ρ), in which
the equations stay smooth up to ρ -> 1.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.integrate as si
import scipy.optimize as so

from ..errors import ParticlesError, finite, real_array, whole
from ..field.norms import clock, clock_inverse
from ..resources import check_count, check_memory

KINDS = ("SA", "USA", "SK")
#: the normalisation schemes (arXiv 2510.22026, Table 1)
NORMS = ("post", "pre", "peri", "ngpt", "mix", "lns")


def _scheme(norm, alpha=1.0, t_switch=None, r0=1.0, t_offset=1.0):
    """Validated (norm, alpha, t_switch, r0); a valid LN-Scaling offset ``t_offset`` (> 0)."""
    nm = norm.lower() if isinstance(norm, str) else None
    if nm not in NORMS:
        raise ParticlesError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    finite(t_offset, "t_offset", "> 0")
    alpha, r0 = finite(alpha, "alpha", "> 0"), finite(r0, "r0", "> 0")
    if nm == "mix":
        if t_switch is None:
            raise ParticlesError("norm='mix' needs a finite t_switch >= 0, got None")
        t_switch = finite(t_switch, "t_switch", ">= 0")
    return nm, alpha, t_switch, r0


def _kind(kind: str) -> str:
    """ "SA" or "USA"; "SK" is "SA" (Sinkhorn's equiangular weights are SoftMax's, module docstring)."""
    k = kind.upper() if isinstance(kind, str) else None
    if k not in KINDS:
        raise ParticlesError(f"kind must be 'SA', 'USA' or 'SK', got {kind!r}")
    return "SA" if k == "SK" else k


def _consensus(_t, y):
    """The event that stops the integration of eps = 1 - rho: eps below 1e-300 (the solver would
    crawl on through the subnormals)."""
    return y[0] - 1e-300


_consensus.terminal = True
_consensus.direction = -1

#: the largest time the ODE of the reduction is integrated to: far past any hitting time at
#: float64 resolution (1 - rho reaches 1e-300 well before), and a bound on the solver's work
T_MAX = 1e8


def _check_times(flat: np.ndarray) -> None:
    if np.any(flat < 0) or not np.all(np.isfinite(flat)):
        raise ParticlesError("times must be finite and >= 0")
    if flat.size and flat.max() > T_MAX:
        raise ParticlesError(f"times must be <= {T_MAX:g}, got {flat.max():g}")


def _steps(steps) -> int:
    """A number of layers: an integer in 0..1e8 (a whole float is taken)."""
    steps = whole(steps, "steps", 0)
    check_count(steps, "steps", 1e8)
    check_memory(16.0 * steps, f"{steps} layers")
    return steps


def _check(n, beta, rho0=0.0):
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n < 2:
        raise ParticlesError(f"the equiangular model needs n >= 2 tokens, got n = {n}")
    n = whole(n, "n (the number of tokens)", 2)
    check_count(n, "n (the number of tokens)", 1e15)
    beta = finite(beta, "beta", ">= 0")
    rho0 = finite(rho0, "rho0")
    if not (-1.0 / (n - 1) < rho0 < 1.0):
        raise ParticlesError(
            f"rho0 must lie in (-1/(n-1), 1) for n equiangular unit vectors, got {rho0}"
        )
    return n, beta, rho0


def rhs(
    gamma, beta: float, n: int, kind: str = "SA", *, norm: str = "post", r=1.0, alpha=1.0, **kw
):
    """The right-hand side of (6.9) (SA) or (6.10) (USA) at gamma (scalar or array); with
    ``norm`` the scheme's ρ̇ at radius ``r`` (see the module docstring; ``"mix"`` is not a single
    field: pass ``"post"`` or ``"pre"``; ``"lns"`` takes ``t`` and ``t_offset``, :func:`rates`)."""
    kind = _kind(kind)
    if norm != "post":
        return rates(gamma, r, beta, n, kind=kind, norm=norm, alpha=alpha, **kw)[0]
    g, beta, n = _formula(gamma, beta, n, "gamma")
    core = (1.0 - g) * ((n - 1) * g + 1.0)
    if kind == "SA":
        return 2.0 * core / (np.exp(beta * (1.0 - g)) + (n - 1))
    return (2.0 / n) * np.exp(beta * g) * core


def _inv_rhs(s: float, beta: float, n: int, kind: str) -> float:
    """1 / rhs(s): the integrand of t(gamma); written without exp overflow for SA."""
    den = 2.0 * (1.0 - s) * (1.0 + (n - 1) * s)
    if kind == "SA":
        return ((n - 1) + math.exp(beta * (1.0 - s))) / den
    return n * math.exp(-beta * s) / den


def gamma_beta0(t, n: int, rho0: float = 0.0):
    """Closed form of gamma(t) at beta = 0 (SA and USA alike). ``t`` scalar or array."""
    n, _, rho0 = _check(n, 0.0, rho0)
    t = real_array(t, "t (the times)")
    _check_times(t.ravel())
    R = np.exp(2.0 * t) * (1.0 + (n - 1) * rho0) / (1.0 - rho0)
    with np.errstate(over="ignore", invalid="ignore"):
        g = (R - 1.0) / (R + n - 1.0)
    return np.where(np.isinf(R), 1.0, g)


def hitting_time(
    beta: float,
    n: int,
    delta: float = 1e-3,
    *,
    kind: str = "SA",
    rho0: float = 0.0,
    norm: str = "post",
    alpha: float = 1.0,
    t_switch: float | None = None,
    r0: float = 1.0,
    t_offset: float = 1.0,
) -> float:
    """The time t at which gamma_beta(t) = 1 - delta.

    Post-LN: t = int_rho0^{1-delta} ds / rhs(s) (quadrature). Other schemes (``norm``, with
    ``alpha`` for nGPT, ``t_switch`` for Mix-LN, ``r0`` the initial radius of the residual stream,
    ``t_offset`` for LN-Scaling, whose time is Post-LN's through :func:`clock_inverse`):
    (t, log r) integrated in u = -log(1 - ρ) by DOP853 at rtol 1e-12."""
    kind = _kind(kind)
    n, beta, rho0 = _check(n, beta, rho0)
    delta = finite(delta, "delta")
    if not (0.0 < delta < 1.0 - rho0):
        raise ParticlesError(f"delta must lie in (0, 1 - rho0) = (0, {1.0 - rho0}), got {delta}")
    norm, alpha, t_switch, r0 = _scheme(norm, alpha, t_switch, r0, t_offset)
    if norm == "lns":
        tau = hitting_time(beta, n, delta, kind=kind, rho0=rho0)
        return float(clock_inverse(tau, t_offset))
    if norm == "mix":
        t_post = hitting_time(beta, n, delta, kind=kind, rho0=rho0)
        if t_post <= t_switch:
            return t_post
        rho_s = float(gamma(t_switch, beta, n, kind=kind, rho0=rho0))
        if rho_s >= 1.0 - delta:  # rounding at the boundary
            return t_switch
        return t_switch + _hitting_scheme(beta, n, delta, kind, rho_s, "pre", alpha, r0)
    if norm != "post":
        return _hitting_scheme(beta, n, delta, kind, rho0, norm, alpha, r0)
    g1 = 1.0 - delta
    if g1 >= 1.0:
        raise ParticlesError(f"delta = {delta:g} is below float64 resolution at 1 (need > 1.2e-16)")
    if g1 <= rho0:
        return 0.0
    if kind == "SA" and beta * (1.0 - rho0) > 700.0:
        # the integrand exceeds e^700 / n^2 near rho0: the time is beyond float range
        return math.inf
    # split where the integrand varies fastest (near 1, where 1/(1 - s) blows up)
    pts = [p for p in (0.5, 0.9, 0.99) if rho0 < p < g1]
    val, _ = si.quad(
        _inv_rhs,
        rho0,
        g1,
        args=(beta, n, kind),
        epsabs=0.0,
        epsrel=1e-13,
        limit=400,
        points=pts or None,
    )
    return float(val)


def gamma(
    t,
    beta: float,
    n: int,
    *,
    kind: str = "SA",
    rho0: float = 0.0,
    rtol: float = 1e-12,
    norm: str = "post",
    alpha: float = 1.0,
    t_switch: float | None = None,
    r0: float = 1.0,
    t_offset: float = 1.0,
) -> np.ndarray:
    """gamma_beta(t) for an array of times, by integrating (6.9)/(6.10) for eps = 1 - gamma.

    Integrating eps keeps relative accuracy as gamma -> 1 (DOP853, ``rtol``, atol = 1e-300).
    With ``norm`` other than ``"post"``: the common inner product of the scheme's directions
    (:func:`solve` gives the radius too).
    """
    kind = _kind(kind)
    n, beta, rho0 = _check(n, beta, rho0)
    if norm != "post":
        return solve(
            t,
            beta,
            n,
            kind=kind,
            rho0=rho0,
            rtol=rtol,
            norm=norm,
            alpha=alpha,
            t_switch=t_switch,
            r0=r0,
            t_offset=t_offset,
        )[0]
    rtol = finite(rtol, "rtol", "(0, 1)")
    t = real_array(t, "t (the times)")
    flat = t.ravel()
    if flat.size == 0:
        return t.copy()
    _check_times(flat)
    t_max = float(flat.max())
    if t_max == 0.0:
        return np.full(t.shape, rho0)

    def f(_t, y):
        # written in eps itself: rhs(1 - eps) would lose eps below the rounding of 1 - eps, and
        # the solver would then stall (as it did past t ~ 18 at beta = 1, n = 8)
        return [-float(_rates_eps(y[0], 1.0, beta, n, kind, "post", 1.0)[0])]

    sol = si.solve_ivp(
        f,
        (0.0, t_max),
        [1.0 - rho0],
        method="DOP853",
        rtol=rtol,
        atol=1e-300,
        dense_output=True,
        events=_consensus,
    )
    if not sol.success:  # pragma: no cover - the ODE is smooth and monotone
        raise ParticlesError(f"equiangular ODE failed: {sol.message}")
    # past the event eps is below 1e-300: gamma is 1 to float64 resolution
    eps = np.where(flat <= sol.t[-1], sol.sol(np.minimum(flat, sol.t[-1]))[0], 0.0)
    return (1.0 - eps).reshape(t.shape)


def critical_beta(
    t: float,
    n: int,
    delta: float = 1e-3,
    *,
    kind: str = "SA",
    beta_max: float = 200.0,
    **scheme,
) -> float:
    """The beta on Gamma_{inf,delta} at time t: hitting_time(beta) = t, for SA.

    The SA integrand 1/rhs grows with beta, so the hitting time is increasing and the root unique
    (brentq to 1e-12). Returns NaN for t before the beta = 0 hitting time and inf beyond
    ``beta_max``. USA clusters faster as beta grows (no such curve), so it raises an error.
    ``scheme``: ``norm``, ``alpha``, ``t_switch``, ``r0`` of :func:`hitting_time` (the root is
    bracketed between beta = 0 and ``beta_max``).
    """
    kind = _kind(kind)
    if kind != "SA":
        raise ParticlesError("critical_beta is defined for SA (its hitting time grows with beta)")
    t = float(t)
    t0 = hitting_time(0.0, n, delta, kind=kind, **scheme)
    if t < t0:
        return float("nan")
    tmax = hitting_time(beta_max, n, delta, kind=kind, **scheme)
    if t >= tmax:
        return float("inf")
    return float(
        so.brentq(
            lambda b: hitting_time(b, n, delta, kind=kind, **scheme) - t,
            0.0,
            beta_max,
            xtol=1e-12,
            rtol=1e-14,
        )
    )


def gamma_curve(
    n: int = 32,
    delta: float = 1e-3,
    *,
    betas=None,
    times=None,
    kind: str = "SA",
    **scheme,
) -> tuple[np.ndarray, np.ndarray]:
    """The curve Gamma_{inf,delta} as arrays ``(t, beta)``.

    Give ``betas`` (hitting time for each beta) or ``times`` (critical beta for each t; NaN before the
    beta = 0 hitting time). Default: 400 betas in [0, 9]. ``scheme``: ``norm``, ``alpha``,
    ``t_switch``, ``r0`` (:func:`hitting_time`).
    """
    if betas is not None and times is not None:
        raise ParticlesError("give betas or times, not both")
    if times is not None:
        ts = real_array(times, "times").ravel()
        bs = np.array([critical_beta(t, n, delta, kind=kind, **scheme) for t in ts])
        return ts, bs
    bs = np.linspace(0.0, 9.0, 400) if betas is None else real_array(betas, "betas").ravel()
    ts = np.array([hitting_time(b, n, delta, kind=kind, **scheme) for b in bs])
    return ts, bs


def euler_gamma(
    steps: int,
    beta: float,
    n: int,
    dt: float = 0.1,
    *,
    kind: str = "SA",
    rho0: float = 0.0,
    norm: str = "post",
    **scheme,
) -> np.ndarray:
    """The authors' scheme x_i <- normalise(x_i + dt sum_j A_ij x_j) on equiangular tokens, exactly.

    With A_ii = a and A_ij = b (i != j), y_i = (1 + dt a) x_i + dt b sum_{j != i} x_j stays equiangular, so
    the scheme reduces to a scalar map gamma_k -> gamma_{k+1}. Returns gamma_0..gamma_steps, shape (steps+1,).
    With ``norm`` (and ``alpha``, ``t_switch``, ``r0``): the layer map of that scheme,
    :func:`layer_map`.
    """
    if norm != "post":
        return layer_map(steps, beta, n, dt, kind=kind, rho0=rho0, norm=norm, **scheme)[0]
    kind = _kind(kind)
    n, beta, rho0 = _check(n, beta, rho0)
    steps, dt = _steps(steps), finite(dt, "dt", "> 0")

    def layer(_k, g, _r):
        if kind == "SA":
            # a = e^beta / Z, b = e^{beta g} / Z with Z = e^beta + (n-1) e^{beta g}; divide by e^beta
            w = math.exp(beta * (g - 1.0))
            z = 1.0 + (n - 1) * w
            a, b = 1.0 / z, w / z
        else:
            if beta > 700.0:
                raise ParticlesError(f"USA with beta = {beta} > 700: e^beta overflows")
            a, b = math.exp(beta) / n, math.exp(beta * g) / n
        return 1.0 + dt * a, dt * b, True  # y_i = p x_i + q sum_{j != i} x_j, normalised

    return _layers(steps, rho0, 1.0, n, layer)[0]


def _layers(steps: int, g: float, r: float, n: int, layer) -> tuple[np.ndarray, np.ndarray]:
    """(ρ_k, r_k), k = 0..steps, of the maps h_i = r θ_i -> y_i = p θ_i + q Σ_{j != i} θ_j with
    ``(p, q, on_sphere) = layer(k, ρ, r)``: y is equiangular again, ρ' = <y_i, y_k>/|y_i|^2 and
    r' = |y_i| (1 when ``on_sphere``: the layer ends with a LayerNorm)."""
    rho, rad = np.empty(steps + 1), np.empty(steps + 1)
    rho[0], rad[0] = g, r
    m = n - 1
    for k in range(steps):
        p, q, sphere = layer(k, g, r)
        big = max(abs(p), abs(q))
        if sphere and big > 1e150:  # ρ' does not depend on the scale of (p, q): keep it in range
            p, q = p / big, q / big
        # |y_i|^2 and <y_i, y_k> from <θ_i, θ_j> = g (i != j), |θ_i| = 1
        sum_sq = m + m * (m - 1) * g  # |sum_{j != i} θ_j|^2
        norm2 = p * p + 2 * p * q * m * g + q * q * sum_sq
        # <y_i, y_k>: p^2 g + p q (<θ_i, S_k> + <S_i, θ_k>) + q^2 <S_i, S_k>, S_i = sum_{j != i} θ_j
        xi_sk = 1.0 + (m - 1) * g  # S_k contains θ_i
        # S_i.S_k = sum_{j != i} sum_{l != k} <θ_j, θ_l>: n - 2 terms with j = l, the rest equal g
        si_sk = (n - 2) + ((n - 1) * (n - 1) - (n - 2)) * g
        dot = p * p * g + 2 * p * q * xi_sk + q * q * si_sk
        g = dot / norm2
        r = 1.0 if sphere else math.sqrt(norm2)
        if not (math.isfinite(g) and math.isfinite(r)):
            raise ParticlesError(
                f"the layer map overflows float64 at layer {k + 1} (|y_i| ~ {r:.3g}); reduce dt or r0"
            )
        rho[k + 1], rad[k + 1] = g, r
    return rho, rad


def euler_hitting_time(
    beta: float,
    n: int,
    delta: float = 1e-3,
    dt: float = 0.1,
    *,
    kind: str = "SA",
    t_max=1e4,
    norm: str = "post",
    **scheme,
) -> float:
    """First time k*dt at which the authors' scheme :func:`euler_gamma` has gamma >= 1 - delta
    (with ``norm``: the scheme's layer map, :func:`layer_map`)."""
    dt, t_max = finite(dt, "dt", "> 0"), finite(t_max, "t_max", "> 0")
    check_count(t_max / dt, "t_max / dt (the number of steps)", 1e8)
    delta = finite(delta, "delta", "(0, 1)")
    if norm != "post":
        steps = int(math.ceil(t_max / dt))
        g, _ = layer_map(steps, beta, n, dt, kind=kind, norm=norm, **scheme)
        hit = np.nonzero(g >= 1.0 - delta)[0]
        return float(hit[0] * dt) if hit.size else float("inf")
    steps = int(math.ceil(t_max / dt))
    chunk = 1024
    g0, done = 0.0, 0
    while done < steps:
        gs = euler_gamma(min(chunk, steps - done), beta, n, dt, kind=kind, rho0=g0)
        hit = np.nonzero(gs >= 1.0 - delta)[0]
        if hit.size:
            return (done + int(hit[0])) * dt
        done += gs.size - 1
        g0 = float(gs[-1])
    return float("inf")


# --------------------------------------------------------------------------------------------------
# the normalisation schemes (module docstring; arXiv 2510.22026, Tables 1-2; arXiv 2512.01868 §6.2)


def _formula(rho, beta, n, name: str = "rho"):
    """The checked arguments of the closed-form functions: ``rho`` finite in [-1, 1] (an array),
    ``beta`` finite >= 0, ``n`` an integer >= 2."""
    rho = real_array(rho, name, finite=True)
    if np.any(np.abs(rho) > 1.0):
        raise ParticlesError(f"{name} is an inner product of unit vectors: it must lie in [-1, 1]")
    n = finite(n, "n (the number of tokens)")  # a real parameter of the formulas (n -> oo)
    if not 2 <= n <= 1e150:
        raise ParticlesError(f"n must lie in [2, 1e150] (n^2 stays within float64), got n = {n:g}")
    return rho, finite(beta, "beta", ">= 0"), n


def weights(rho, beta: float, n: int, kind: str = "SA"):
    """The attention weights (a, b) = (A_ii, A_ij) of n equiangular tokens, <θ_i, θ_j> = rho."""
    rho, beta, n = _formula(rho, beta, n)
    return _weights(rho, beta, n, _kind(kind))


def _weights(rho, beta, n, kind):
    kind = _kind(kind)
    rho = np.asarray(rho, dtype=np.float64)
    if kind == "SA":
        w = np.exp(beta * (rho - 1.0))  # e^{β ρ} / e^β, no overflow
        a = 1.0 / (1.0 + (n - 1) * w)
        return a, w * a
    return np.full(rho.shape, math.exp(beta) / n), np.exp(beta * rho) / n


def attention_terms(rho, beta: float, n: int, kind: str = "SA"):
    """(a, b, c, |A|) for equiangular tokens: weights, c = <θ_i, A_i>, and |A_i|."""
    rho, beta, n = _formula(rho, beta, n)
    return _attention_terms(rho, beta, n, _kind(kind))


def _attention_terms(rho, beta, n, kind):
    a, b = _weights(rho, beta, n, kind)
    rho = np.asarray(rho, dtype=np.float64)
    c = a + (n - 1) * b * rho
    norm2 = a * a + 2 * (n - 1) * a * b * rho + (n - 1) * b * b * (1.0 + (n - 2) * rho)
    return a, b, c, np.sqrt(np.maximum(norm2, 0.0))


def _speed(norm: str, r, absA, c, alpha):
    """(s, ṙ): the speed factor and the radial rate (arXiv 2510.22026, Table 2)."""
    if norm == "post":
        return 1.0, 0.0 * c
    if norm == "pre":
        return r, c
    if norm == "peri":
        return r * absA, c / absA
    if norm == "ngpt":
        return absA / alpha, 0.0 * c
    raise ParticlesError(f"no single field for norm={norm!r} (mix: use 'post' or 'pre')")


def rates(
    rho,
    r,
    beta: float,
    n: int,
    *,
    kind: str = "SA",
    norm: str = "post",
    alpha=1.0,
    t=0.0,
    t_offset=1.0,
):
    """(ρ̇, ṙ) of the equiangular reduction of scheme ``norm`` at (ρ, r) (module docstring); at
    time ``t`` for LN-Scaling (Post-LN's divided by s = sqrt(t + ``t_offset``))."""
    rho, beta, n = _formula(rho, beta, n)
    kind = _kind(kind)
    r = real_array(r, "r (the radius)", finite=True)
    if np.any(r <= 0):
        raise ParticlesError("r (the radius) must be > 0")
    nm = norm.lower() if isinstance(norm, str) else None
    if nm not in NORMS:
        raise ParticlesError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    alpha = finite(alpha, "alpha", "> 0")
    t, t_offset = finite(t, "t", ">= 0"), finite(t_offset, "t_offset", "> 0")
    if nm == "lns":
        rdot_rho, rdot = _rates_eps(1.0 - rho, r, beta, n, kind, "post", alpha)
        return rdot_rho / np.sqrt(t + t_offset), rdot
    return _rates_eps(1.0 - rho, r, beta, n, kind, nm, alpha)


def _rates_eps(eps, r, beta, n, kind, norm, alpha):
    """(ρ̇, ṙ) at ε = 1 - ρ, written with ε itself so that ρ̇ keeps its relative accuracy."""
    eps = np.asarray(eps, dtype=np.float64)
    rho = 1.0 - eps
    a, b, c, absA = _attention_terms(rho, beta, n, kind)
    s_fac, rdot = _speed(norm, np.asarray(r, dtype=np.float64), absA, c, alpha)
    return 2.0 * b * eps * (n - (n - 1) * eps) / s_fac, rdot


def _hitting_scheme(beta, n, delta, kind, rho0, norm, alpha, r0) -> float:
    """Hitting time of 1 - delta for a single-field scheme: (t, log r) in u = -log(1 - ρ)."""
    if norm == "ngpt" and alpha != 1.0:  # nGPT's time is exactly 1/alpha times its alpha = 1 time
        return _hitting_scheme(beta, n, delta, kind, rho0, norm, 1.0, r0) / alpha

    def f(u, y):
        rho = -math.expm1(-u)
        a, b, c, absA = _attention_terms(rho, beta, n, kind)
        r = math.exp(y[1])
        s_fac, rdot = _speed(norm, r, float(absA), float(c), alpha)
        dtdu = s_fac / (2.0 * float(b) * (1.0 + (n - 1) * rho))
        return [dtdu, rdot / r * dtdu]

    u0, u1 = -math.log1p(-rho0), -math.log(delta)
    sol = si.solve_ivp(f, (u0, u1), [0.0, math.log(r0)], method="DOP853", rtol=1e-12, atol=1e-14)
    if not sol.success:  # pragma: no cover - smooth, monotone
        raise ParticlesError(f"equiangular ODE failed: {sol.message}")
    return float(sol.y[0, -1])


def solve(
    t,
    beta: float,
    n: int,
    *,
    kind: str = "SA",
    rho0: float = 0.0,
    norm: str = "post",
    alpha: float = 1.0,
    t_switch: float | None = None,
    r0: float = 1.0,
    rtol: float = 1e-12,
    complement: bool = False,
    t_offset: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(ρ(t), r(t)) of the equiangular reduction of scheme ``norm`` at the times ``t`` (array).

    ε = 1 - ρ and log r are integrated by DOP853 (``rtol``, atol = 1e-300), so ε keeps its
    relative accuracy as ρ approaches 1 (``complement=True`` returns (ε(t), r(t)) to use it);
    Mix-LN is integrated in two pieces, split at ``t_switch``; LN-Scaling is Post-LN at the times
    :func:`clock` (t). r stays ``r0`` for the schemes on the sphere.
    """
    kind = _kind(kind)
    n, beta, rho0 = _check(n, beta, rho0)
    norm, alpha, t_switch, r0 = _scheme(norm, alpha, t_switch, r0, t_offset)
    rtol = finite(rtol, "rtol", "(0, 1)")
    t = real_array(t, "t (the times)")
    flat = t.ravel()
    _check_times(flat)
    if norm == "lns":
        kw = dict(kind=kind, rho0=rho0, rtol=rtol, complement=complement, r0=r0)
        return solve(clock(t, t_offset), beta, n, **kw)
    eps_out = np.full(flat.shape, 1.0 - rho0)
    r_out = np.full(flat.shape, r0)
    pieces = [(0.0, math.inf, norm)]
    if norm == "mix":
        pieces = [(0.0, t_switch, "post"), (t_switch, math.inf, "pre")]
    y = [1.0 - rho0, math.log(r0)]
    for lo, hi, nm in pieces:
        sel = (flat > lo) & (flat <= hi) if lo > 0 else (flat <= hi)
        t_stop = min(hi, float(flat.max(initial=0.0)))
        if t_stop <= lo:
            break

        def f(_t, yy, nm=nm):
            e, lr = yy
            rdot_rho, rdot = _rates_eps(e, math.exp(lr), beta, n, kind, nm, alpha)
            return [-float(rdot_rho), float(rdot) / math.exp(lr)]

        sol = si.solve_ivp(
            f,
            (lo, t_stop),
            y,
            method="DOP853",
            rtol=rtol,
            atol=[1e-300, 1e-14],
            dense_output=True,
            events=_consensus,
        )
        if not sol.success:  # pragma: no cover
            raise ParticlesError(f"equiangular ODE failed: {sol.message}")
        sols = [sol]
        if sol.t[-1] < t_stop:  # eps below 1e-300: the radius alone, at eps = 0, from there

            def g(_t, yy, nm=nm):
                rdot = _rates_eps(0.0, math.exp(yy[0]), beta, n, kind, nm, alpha)[1]
                return [float(rdot) / math.exp(yy[0])]

            rest = si.solve_ivp(
                g,
                (sol.t[-1], t_stop),
                [sol.y[1, -1]],
                method="DOP853",
                rtol=rtol,
                atol=1e-14,
                dense_output=True,
            )
            sols.append(rest)
        ts = flat[sel]
        if ts.size:
            near = np.clip(ts, lo, sol.t[-1])
            yy = sol.sol(near)
            eps_out[sel] = np.where(ts <= sol.t[-1], yy[0], 0.0)
            lr = yy[1]
            if len(sols) == 2:
                lr = np.where(ts <= sol.t[-1], lr, sols[1].sol(np.clip(ts, sol.t[-1], t_stop))[0])
            r_out[sel] = np.exp(lr)
        y = list(sol.y[:, -1]) if len(sols) == 1 else [0.0, float(sols[1].y[0, -1])]
    first = eps_out if complement else 1.0 - eps_out
    return first.reshape(t.shape), r_out.reshape(t.shape)


def radius(t, beta: float, n: int, **kw) -> np.ndarray:
    """r(t), the common token norm of the equiangular reduction (:func:`solve`)."""
    return solve(t, beta, n, **kw)[1]


def late_time(
    norm: str = "post", beta: float = 1.0, *, kind: str = "SA", alpha: float = 1.0
) -> dict:
    """The late-time law of ε = 1 - ρ (module docstring): ``{"law": "exponential", "rate": λ}``
    for ε ~ C e^{-λ t}, ``{"law": "power", "exponent": p}`` for ε ~ C t^{-p}, or
    ``{"law": "stretched", "rate": μ}`` for ε ~ C e^{-μ sqrt(t)} (LN-Scaling)."""
    kind = _kind(kind)
    nm = str(norm).lower()
    if nm not in NORMS:
        raise ParticlesError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if nm in ("post", "lns"):
        lam = 2.0 if kind == "SA" else 2.0 * math.exp(beta)
        if nm == "lns":  # ε ~ e^{-λ τ(t)}, τ ~ 2 sqrt(t)
            return {"law": "stretched", "rate": 2.0 * lam}
        return {"law": "exponential", "rate": lam}
    if nm == "ngpt":
        return {"law": "exponential", "rate": 2.0 * float(alpha)}
    return {"law": "power", "exponent": 2.0}


def configuration(n: int, d: int, rho: float = 0.0, *, r: float = 1.0, rng=None) -> np.ndarray:
    """n tokens of norm ``r`` in R^d (d >= n) with <θ_i, θ_j> = ``rho`` for i != j, randomly rotated
    when ``rng`` is given: θ_i = sqrt(1 - rho) e_i + c u with u = (e_1 + ... + e_n)/sqrt(n) and
    c = -sqrt((1 - rho)/n) + sqrt((1 - rho)/n + rho)."""
    n, _, rho = _check(n, 0.0, rho)
    d = whole(d, "d", 2)
    if d < n:
        raise ParticlesError(
            f"an equiangular configuration of {n} tokens needs d >= n, got d = {d}"
        )
    r = finite(r, "r", "> 0")
    check_memory(8.0 * (n * d + 2 * d * d), f"{n} tokens in dimension {d}")
    al = math.sqrt(1.0 - rho)
    c = -al / math.sqrt(n) + math.sqrt(al * al / n + rho)
    x = np.zeros((n, d))
    x[:, :n] = al * np.eye(n) + c / math.sqrt(n)
    if rng is not None:
        from ..model.sphere import as_rng

        q, rr = np.linalg.qr(as_rng(rng).standard_normal((d, d)))
        x = x @ (q * np.sign(np.diag(rr))).T
    return float(r) * x


def layer_map(
    steps: int,
    beta: float,
    n: int,
    dt: float = 0.1,
    *,
    kind: str = "SA",
    rho0: float = 0.0,
    norm: str = "post",
    alpha: float = 1.0,
    t_switch: float | None = None,
    r0: float = 1.0,
    t_offset: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(ρ_k, r_k), k = 0..steps: one discrete layer per step (length ``dt``) of each scheme
    (arXiv 2510.22026 Table 1, left column; the ``euler`` method of :func:`particles.simulate`)
    on equiangular tokens, exactly. Every layer maps h_i = r θ_i to y_i = p θ_i + q Σ_{j != i} θ_j:

        post  p = 1 + dt a,            q = dt b,           then normalised
        pre   p = r + dt a,            q = dt b
        peri  p = r + dt a/|A|,        q = dt b/|A|
        ngpt  p = 1 + dt α (a/|A| - 1), q = dt α b/|A|,   then normalised
        mix   post for k dt < t_switch, pre after
        lns   post with dt -> Δτ_k = τ((k+1) dt) - τ(k dt), τ = :func:`clock` (≈ dt / sqrt(k dt + c))

    and y is equiangular again (:func:`euler_gamma`'s algebra), with ρ' = <y_i, y_k>/|y_i|^2, r' = |y_i|.
    """
    kind = _kind(kind)
    n, beta, rho0 = _check(n, beta, rho0)
    norm, alpha, t_switch, r0 = _scheme(norm, alpha, t_switch, r0, t_offset)
    steps, dt = _steps(steps), finite(dt, "dt", "> 0")

    def layer(k, g, r):
        nm, h = norm, dt
        if norm == "mix":
            nm = "post" if k * dt < t_switch - 1e-12 else "pre"
        elif norm == "lns":
            nm, h = "post", float(clock((k + 1) * dt, t_offset) - clock(k * dt, t_offset))
        a, b, _, absA = (float(v) for v in _attention_terms(g, beta, n, kind))
        if nm in ("post", "pre"):
            p, q = r + h * a, h * b
        elif nm == "peri":
            p, q = r + h * a / absA, h * b / absA
        else:
            p, q = r * (1.0 - h * alpha) + h * alpha * a / absA, h * alpha * b / absA
        return p, q, nm in ("post", "ngpt")

    return _layers(steps, rho0, r0, n, layer)
