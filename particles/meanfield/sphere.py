"""The mean-field continuity equation on S^2 (d = 3), pseudo-spectral in spherical harmonics.

**Equation.** For a density rho(t, x) with respect to the normalised area dsigma / (4 pi) (so its
mean is 1; the particles' empirical measure mu_n = (1/n) sum_j delta_{x_j} has this limit),

    d_t rho + div(rho X[rho]) = (1/kappa) Delta rho,              kappa = inf allowed (no noise),
    X[rho](x) = (1/beta) grad_S G(x)          (USA),    X[rho](x) = (1/beta) grad_S log G(x)   (SA),
    (SK, Sinkhorn: SA's field with rho reweighted by e^f, f its potential: :mod:`.sinkhorn`)
    G(x) = int e^{beta <x, y>} rho(y) dsigma(y) / (4 pi),

the mean-field limit of the particle field P_perp(x_i) sum_j A_ij x_j with Q = K = V = I (arXiv
2312.10794, eqs. 2.3–2.5 with Z_i = n for USA: (1/n) sum_j -> int d mu; for SA the ratio of the two
sums; the tangent part of int e^{beta <x,y>} y dmu(y) is (1/beta) grad_S G). By Funk–Hecke,
int e^{beta <x,y>} Y_lm(y) dsigma(y) = 4 pi i_l(beta) Y_lm(x) (i_l the modified spherical Bessel
function), so G_lm = i_l(beta) rho_lm: the interaction is diagonal in the harmonics, as on the
circle (where it is I_k(beta), arXiv 2312.10794 §7).

**Discretisation.** rho is represented by its coefficients rho_lm, l <= L (ducc0's healpy layout,
m >= 0, real field). The transport term is evaluated pseudo-spectrally on a Gauss–Legendre grid of
3L/2 + 2 rings x 2 (3L/2 + 2) longitudes (exact quadrature of the quadratic products' projection
onto l <= L): synthesis of rho and G, the gradient of G by ducc0's ``synthesis_2d_deriv1``, the flux
F = rho X on the grid, and its divergence from the spin-1 analysis of F: if F = grad a + curl b, the
spin-1 analysis gives E_lm = sqrt(l (l+1)) a_lm, so (div F)_lm = -sqrt(l (l+1)) E_lm.

**Time stepping.** ETDRK4 (Cox & Matthews, J. Comput. Phys. 176, 2002), the stiff diffusion
-l (l+1) / kappa treated exactly, its phi-function coefficients by the contour integrals of Kassam &
Trefethen (SIAM J. Sci. Comput. 26, 2005), which stay accurate as kappa -> inf (RK4 in the limit).

**Checks** saved at every output time: the mass int rho dsigma / (4 pi) = rho_00 / sqrt(4 pi), which
the scheme conserves exactly (the l = 0 factor of the divergence is 0), the minimum of rho on the
grid (positivity is not imposed, it is checked), the spectral tail (largest |rho_lm| over the top
third of the degrees, relative to rho_00: resolution is adequate while it is tiny) and the interaction
energy E_beta[rho] = (1/(2 beta)) int int e^{beta <x,y>} d rho d rho = (1/(2 beta)) sum_lm i_l |rho_lm|^2
/ (4 pi) (arXiv 2312.10794, eq. 3.5; non-decreasing for USA with kappa = inf).

Spherical-harmonic library: ducc0 (see benchmarks/RESULTS.md for the comparison with shtns and
pyshtools that chose it; it is also the only one of the three with the non-uniform transforms that
:mod:`particles.field.expansion` needs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ive

from .. import config
from ..errors import ParticlesError
from ..field import sinkhorn as _sinkhorn


def _ducc():
    try:
        import ducc0
    except ImportError:  # pragma: no cover - ducc0 is a dependency
        raise ParticlesError("the S^2 mean-field solver needs the ducc0 package") from None
    return ducc0


def n_alm(L: int) -> int:
    """Number of coefficients of a real field up to degree L (m >= 0)."""
    return (L + 1) * (L + 2) // 2


def degrees(L: int) -> np.ndarray:
    """l of each coefficient in ducc0's (healpy) order: m-major, l = m..L for m = 0..L."""
    return np.concatenate([np.arange(m, L + 1) for m in range(L + 1)])


def orders(L: int) -> np.ndarray:
    """m of each coefficient in ducc0's order."""
    return np.concatenate([np.full(L + 1 - m, m) for m in range(L + 1)])


@dataclass(frozen=True)
class Grid:
    """A Gauss–Legendre grid for degree L: ``nlat`` rings (colatitudes ``theta``) x ``nlon``."""

    L: int
    nlat: int
    nlon: int

    @classmethod
    def for_degree(cls, L: int) -> Grid:
        nlat = 3 * L // 2 + 2
        return cls(L=L, nlat=nlat, nlon=2 * nlat)

    @property
    def theta(self) -> np.ndarray:
        # ducc0's GL rings are the Gauss–Legendre nodes in cos(theta), north to south
        x, _ = np.polynomial.legendre.leggauss(self.nlat)
        return np.arccos(x[::-1])

    @property
    def phi(self) -> np.ndarray:
        return 2.0 * np.pi * np.arange(self.nlon) / self.nlon

    def points(self) -> np.ndarray:
        """Unit vectors of the grid, shape (nlat, nlon, 3)."""
        th, ph = np.meshgrid(self.theta, self.phi, indexing="ij")
        return np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], axis=-1)

    def weights(self) -> np.ndarray:
        """Quadrature weights (nlat, nlon) for int f dsigma / (4 pi)."""
        w = _ducc().sht.get_gridweights("GL", self.nlat)
        return np.repeat(w[:, None] / (4.0 * np.pi * self.nlon), self.nlon, axis=1)

    def synthesis(self, alm: np.ndarray) -> np.ndarray:
        """Values (nlat, nlon) of the field with coefficients ``alm`` (degree <= self.L)."""
        return _ducc().sht.synthesis_2d(
            alm=alm[None],
            spin=0,
            lmax=self.L,
            geometry="GL",
            ntheta=self.nlat,
            nphi=self.nlon,
            nthreads=config.THREADS,
        )[0]

    def gradient(self, alm: np.ndarray) -> np.ndarray:
        """(d_theta f, d_phi f / sin theta) on the grid, shape (2, nlat, nlon)."""
        return _ducc().sht.synthesis_2d_deriv1(
            alm=alm[None],
            lmax=self.L,
            geometry="GL",
            ntheta=self.nlat,
            nphi=self.nlon,
            nthreads=config.THREADS,
        )

    def analysis(self, values: np.ndarray) -> np.ndarray:
        """Coefficients up to degree L of grid values (exact for band-limited fields)."""
        return _ducc().sht.analysis_2d(
            map=values[None], spin=0, lmax=self.L, geometry="GL", nthreads=config.THREADS
        )[0]

    def divergence(self, flux: np.ndarray) -> np.ndarray:
        """Coefficients of div F for a tangent field F = (F_theta, F_phi) on the grid."""
        EB = _ducc().sht.analysis_2d(
            map=flux, spin=1, lmax=self.L, geometry="GL", nthreads=config.THREADS
        )
        ell = degrees(self.L)
        return -np.sqrt(ell * (ell + 1.0)) * EB[0]


def bessel_table(beta: float, L: int) -> np.ndarray:
    """s_l = e^{-beta} i_l(beta), l = 0..L (i_0(0) = 1)."""
    ell = np.arange(L + 1, dtype=np.float64)
    if beta == 0.0:
        return (ell == 0).astype(np.float64)
    return ive(ell + 0.5, beta) * math.sqrt(math.pi / (2.0 * beta))


def coefficients_of(f, L: int) -> np.ndarray:
    """rho_lm (degree <= L) of a density given as a function of unit vectors (m, 3) -> (m,).

    The function is sampled on a finer Gauss–Legendre grid (for degree 2L) and projected.
    """
    g = Grid.for_degree(2 * L)
    vals = np.asarray(f(g.points().reshape(-1, 3)), dtype=np.float64).reshape(g.nlat, g.nlon)
    a = g.analysis(vals)
    ell, mm = degrees(2 * L), orders(2 * L)
    keep = ell <= L
    out = np.zeros(n_alm(L), dtype=complex)
    out[_index(L, ell[keep], mm[keep])] = a[keep]
    return out


def _index(L: int, ell: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Position of (l, m) in ducc0's layout for degree L."""
    return m * (2 * L + 3 - m) // 2 + (ell - m)


def von_mises_fisher(mu, kappa_vmf: float):
    """The vMF density e^{k <mu, x>} normalised to mean 1 over dsigma / (4 pi) (a callable)."""
    mu = np.asarray(mu, dtype=np.float64)
    mu = mu / np.linalg.norm(mu)
    k = float(kappa_vmf)
    # k / sinh(k) e^{k t} = 2k e^{k (t - 1)} / (1 - e^{-2k}): no overflow for large k
    c = 1.0 if k == 0 else 2.0 * k / -math.expm1(-2.0 * k)

    def f(x):
        return c * np.exp(k * (x @ mu - 1.0))

    return f


def sample_von_mises_fisher(n: int, mu, kappa_vmf: float, rng) -> np.ndarray:
    """n points from the vMF distribution on S^2 (exact inversion of the cos-angle law)."""
    from ..model.sphere import as_rng

    rng = as_rng(rng)
    mu = np.asarray(mu, dtype=np.float64)
    mu = mu / np.linalg.norm(mu)
    k = float(kappa_vmf)
    u = rng.random(n)
    if k == 0:
        w = 2 * u - 1
    else:
        w = 1.0 + np.log(u + (1.0 - u) * np.exp(-2.0 * k)) / k
    v = rng.standard_normal((n, 3))
    v -= (v @ mu)[:, None] * mu
    v /= np.linalg.norm(v, axis=1)[:, None]
    return w[:, None] * mu + np.sqrt(np.clip(1 - w * w, 0, None))[:, None] * v


@dataclass
class SphereSolution:
    """Coefficients rho_lm at the saved times and the checks made there.

    ``t`` (T,), ``alm`` (T, n_alm(L)) complex, ``mass``, ``min_density``, ``tail``, ``energy`` (T,);
    ``params`` the settings, ``stats`` counts (steps, nonlinear evaluations).
    """

    t: np.ndarray
    alm: np.ndarray
    L: int
    mass: np.ndarray
    min_density: np.ndarray
    tail: np.ndarray
    energy: np.ndarray
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    def density(self, i: int = -1, grid: Grid | None = None) -> np.ndarray:
        """rho on ``grid`` (default: the solver's) at save ``i``, shape (nlat, nlon)."""
        return (grid or Grid.for_degree(self.L)).synthesis(self.alm[i])

    def moments(self, i: int = -1) -> np.ndarray:
        """int conj Y_lm dmu (= rho_lm / (4 pi)): compare with (1/n) sum_j conj Y_lm(x_j)."""
        return self.alm[i] / (4.0 * np.pi)

    def mean(self, i: int = -1) -> np.ndarray:
        """The mean vector int x rho dsigma / (4 pi), shape (3,)."""
        g = Grid.for_degree(self.L)
        w = g.weights() * g.synthesis(self.alm[i])
        return np.einsum("ab,abk->k", w, g.points())


class _Transport:
    """alm -> coefficients of -div(rho X[rho]), with the checks' grid quantities."""

    def __init__(self, L: int, beta: float, kind: str):
        self.grid = Grid.for_degree(L)
        self.beta = beta
        self.usa = kind == "USA"
        self.sk = kind == "SK"  # Sinkhorn: SA's field of e^f rho (particles.meanfield.sinkhorn)
        self.s = bessel_table(beta, L)[degrees(L)]
        self.evals = 0

    def __call__(self, alm: np.ndarray) -> np.ndarray:
        self.evals += 1
        if self.beta == 0.0:  # G is constant: no transport
            return np.zeros_like(alm)
        g = self.grid
        rho = g.synthesis(alm)
        galm = self.s * (self._sk_weights(rho) if self.sk else alm)
        grad = g.gradient(galm)  # grad_S G in units of e^{beta}
        if self.usa:
            scale = math.exp(self.beta) / self.beta
            flux = grad * (rho * scale)
        else:
            G = g.synthesis(galm)
            flux = grad * (rho / (self.beta * G))
        return -g.divergence(flux)

    def _sk_weights(self, rho: np.ndarray) -> np.ndarray:
        f = sinkhorn_potential(self.grid, rho, self.s, self.beta)
        return self.grid.analysis(np.exp(f - f.max()) * rho)


def sinkhorn_potential(grid, rho, s, beta: float, tol: float = 1e-12) -> np.ndarray:
    """SK (Sinkhorn, :mod:`particles.meanfield.sinkhorn`): the potential f on the Gauss–Legendre
    ``grid`` (a :class:`Grid`) of the density with grid values ``rho`` (nlat, nlon); ``s``: e^{-beta} i_l(beta) per
    coefficient (:func:`particles.meanfield.sphere.bessel_table` by degree). Shape (nlat, nlon)."""
    shape = rho.shape

    def row_pass(g):
        mg = float(g.max())
        u = np.exp(g.reshape(shape) - mg) * rho
        H = grid.synthesis(s * grid.analysis(u))
        return -(beta + mg + _log_positive(H)).ravel()

    f = _sinkhorn.iterate(row_pass, None, rho.size, tol, symmetric=True, beta=beta).f
    return f.reshape(shape)


def _log_positive(H: np.ndarray) -> np.ndarray:
    if not np.all(H > 0):
        raise ParticlesError(
            "the smoothed density h * (e^f rho) is not positive on the grid: the density is "
            "under-resolved (raise the resolution or reduce beta)"
        )
    return np.log(H)


def _etdrk4_coefficients(lam: np.ndarray, h: float, M: int = 32):
    """E, E2, Q, f1, f2, f3 of ETDRK4 for the diagonal linear part lam (Kassam–Trefethen contour)."""
    r = np.exp(1j * np.pi * (np.arange(1, M + 1) - 0.5) / M)
    LR = h * lam[:, None] + r[None, :]
    E = np.exp(h * lam)
    E2 = np.exp(h * lam / 2)
    Q = h * np.real(np.mean((np.exp(LR / 2) - 1) / LR, axis=1))
    f1 = h * np.real(np.mean((-4 - LR + np.exp(LR) * (4 - 3 * LR + LR**2)) / LR**3, axis=1))
    f2 = h * np.real(np.mean((2 + LR + np.exp(LR) * (LR - 2)) / LR**3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * LR - LR**2 + np.exp(LR) * (4 - LR)) / LR**3, axis=1))
    return E, E2, Q, f1, f2, f3


def _checks(alm: np.ndarray, L: int, grid: Grid, s_full: np.ndarray, beta: float):
    ell = degrees(L)
    mass = float(alm[0].real) / math.sqrt(4.0 * np.pi)
    rho = grid.synthesis(alm)
    top = ell > (2 * L) // 3
    tail = float(np.abs(alm[top]).max() / abs(alm[0])) if top.any() else 0.0
    # |rho_lm|^2 counted twice for m > 0 (the -m coefficient of a real field)
    wts = np.where(orders(L) > 0, 2.0, 1.0)
    if beta > 0:
        energy = float(np.sum(wts * s_full * np.abs(alm) ** 2)) / (4 * np.pi) / (2.0 * beta)
        energy *= math.exp(beta)
    else:
        energy = float("nan")
    return mass, float(rho.min()), tail, energy


def solve_sphere(
    rho0,
    beta: float,
    t_end: float,
    *,
    kind: str = "SA",
    kappa: float | None = None,
    L: int = 48,
    dt: float = 0.01,
    save_at=None,
) -> SphereSolution:
    """Solve d_t rho + div(rho X[rho]) = (1/kappa) Delta rho on S^2 from ``rho0`` to ``t_end``.

    **Arguments:**
    - ``rho0``: the initial density (mean 1 over dsigma / (4 pi)): a callable of unit vectors
      (m, 3) -> (m,), or coefficients (n_alm(L),) in ducc0's layout.
    - ``beta`` >= 0, ``kind`` "SA", "USA" or "SK": the interaction (module docstring; SK:
      :mod:`particles.meanfield.sinkhorn`).
    - ``kappa``: diffusion 1/kappa; ``None`` or ``inf``: none (the pure continuity equation).
    - ``L``: the largest degree; ``dt``: the ETDRK4 step (the last one is shortened to hit t_end and
      every save time); ``save_at``: output times (default: 0 and t_end).

    **Returns:** :class:`SphereSolution` (coefficients and checks at the saved times).

    **Raises:** ``ParticlesError`` for invalid settings, or when rho stops being finite.
    """
    beta = float(beta)
    if not (beta >= 0 and math.isfinite(beta)):
        raise ParticlesError(f"beta must be finite and >= 0, got {beta}")
    kind = str(kind).upper()
    kind = "SK" if kind == "SINKHORN" else kind
    if kind not in ("SA", "USA", "SK"):
        raise ParticlesError(f"kind must be 'SA', 'USA' or 'SK', got {kind!r}")
    kap = math.inf if kappa is None else float(kappa)
    if not kap > 0:
        raise ParticlesError(f"kappa must be > 0 (None or inf: no diffusion), got {kappa}")
    L = int(L)
    if L < 1:
        raise ParticlesError(f"L must be >= 1, got {L}")
    if not (dt > 0 and t_end >= 0):
        raise ParticlesError("need dt > 0 and t_end >= 0")
    if callable(rho0):
        alm = coefficients_of(rho0, L)
    else:
        alm = np.asarray(rho0, dtype=complex).copy()
        if alm.shape != (n_alm(L),):
            raise ParticlesError(f"rho0 coefficients must have shape ({n_alm(L)},) for L = {L}")
    if not abs(alm[0].real) > 0:
        raise ParticlesError("rho0 has no mass")
    ts = np.array([0.0, t_end]) if save_at is None else np.unique(np.asarray(save_at, float))
    if ts.size == 0 or ts[0] < 0 or ts[-1] > t_end + 1e-12:
        raise ParticlesError("save_at must lie in [0, t_end]")
    ell = degrees(L)
    lam = -ell * (ell + 1.0) / kap
    N = _Transport(L, beta, kind)
    s_full = bessel_table(beta, L)[ell]
    coef_cache: dict = {}
    out_alm, checks = [], []
    t = 0.0
    steps = 0
    for target in ts:
        while t < target - 1e-12 * max(1.0, target):
            h = min(dt, target - t)
            key = round(h, 14)
            if key not in coef_cache:
                coef_cache[key] = _etdrk4_coefficients(lam, h)
            E, E2, Q, f1, f2, f3 = coef_cache[key]
            Nv = N(alm)
            a = E2 * alm + Q * Nv
            Na = N(a)
            b = E2 * alm + Q * Na
            Nb = N(b)
            c = E2 * a + Q * (2 * Nb - Nv)
            Nc = N(c)
            alm = E * alm + Nv * f1 + 2 * (Na + Nb) * f2 + Nc * f3
            t += h
            steps += 1
            if not np.all(np.isfinite(alm)):
                raise ParticlesError(
                    f"rho stopped being finite at t = {t:.4g}: reduce dt or raise L"
                )
        out_alm.append(alm.copy())
        checks.append(_checks(alm, L, N.grid, s_full, beta))
    ch = np.array(checks)
    return SphereSolution(
        t=ts,
        alm=np.array(out_alm),
        L=L,
        mass=ch[:, 0],
        min_density=ch[:, 1],
        tail=ch[:, 2],
        energy=ch[:, 3],
        params=dict(beta=beta, kind=kind, kappa=kap, L=L, dt=float(dt), t_end=float(t_end)),
        stats=dict(steps=steps, evaluations=N.evals),
    )


def particle_moments(x: np.ndarray, L: int) -> np.ndarray:
    """(1/n) sum_j conj Y_lm(x_j), l <= L, of points x (n, 3): compare with ``moments()``."""
    ducc0 = _ducc()
    theta = np.arctan2(np.hypot(x[:, 0], x[:, 1]), x[:, 2])
    phi = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi)
    loc = np.stack([theta, phi], axis=1)
    w = np.full((1, x.shape[0]), 1.0 / x.shape[0])
    return ducc0.sht.adjoint_synthesis_general(
        map=w,
        spin=0,
        lmax=L,
        loc=loc,
        epsilon=1e-12,
        nthreads=1,  # deterministic (see expansion)
    )[0]
