"""The mean-field equation on the circle (d = 2): a pseudo-spectral Fokker–Planck solver, the
particle system it describes (O(n) per step), and the exact Wasserstein-1 distance between them.

**Equation** (conventions in :mod:`particles.meanfield`). For the density rho(t, theta) with respect
to dtheta / (2 pi) (so its mean is 1),

    d_t rho = (1/kappa) d_theta^2 rho - d_theta(rho v),
    v = (1/beta) d_theta (h * rho)               (USA),   v = (1/beta) d_theta log(h * rho)   (SA),
    v = (1/beta) d_theta log(h * (e^f rho))      (SK, f the density's Sinkhorn potential: .sinkhorn),

with (h * rho)(theta) = (1/2pi) int e^{beta cos(theta - phi)} rho(phi) dphi = sum_k I_k(beta) rho_k e^{ik theta}
(arXiv 2312.10794, §7: the USA field is (1/beta) h_beta' * nu, the SA field (h_beta' * nu)/(beta h_beta * nu)),
rho_k = (1/2pi) int rho e^{-ik theta}. This is the mean-field limit of the particles
dtheta_i = v(theta_i) dt + sqrt(2/kappa) dW_i (Brownian motion on the circle is exactly sqrt(2/kappa) W on
the angle).

**Solver** (:func:`solve_circle`): Fourier pseudo-spectral on N equispaced points; the diffusion
-k^2/kappa is treated exactly by ETDRK4 (Cox–Matthews 2002, coefficients by the contour integrals of
Kassam–Trefethen 2005), the transport term explicitly, its product in physical space. The mass rho_0 = 1
is conserved exactly (the transport term is a derivative, the k = 0 factor vanishes); positivity is not
imposed, it is checked (``min_density`` at every save). ``tail`` reports the largest |rho_k| over the
top third of the resolved modes: resolution is adequate while it is tiny. The transport step is
explicit: ``stats["cfl"]`` = dt * max |v| * N / 2 (at the saves) measures it; the diffusion damps the
high modes, so values well above 1 are stable with noise, but a blow-up means dt is too large.

**Particles** (:func:`circle_particles`): Euler–Maruyama on the angles, additive noise (weak and strong
order 1), with the exact SA / USA field of identity weights from the empirical Fourier coefficients
(kernels ``_circle_moments``, ``_circle_field``): O(n K) per step, K ~ beta + 40, so 10^6 particles
are cheap.

**Wasserstein-1** (:func:`w1_circle`): on the circle W1(mu, nu) = min_a int_0^{2pi} |F_mu - F_nu - a|,
a the median of F_mu - F_nu (Rabin, Delon, Gousseau, J. Math. Imaging Vis. 2011); F_nu is the PDE's
CDF in closed form from its Fourier coefficients.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import ive

from ..errors import ParticlesError, finite, real_array
from ..field import kernels
from ..model.sphere import as_rng
from ..resources import check_count, check_memory
from ..storage import npz as io
from .linear import _beta_scalar, _count, _kind
from .linear import _kappa as _linear_kappa

FORMAT = "meanfield_circle"


def _kappa(kappa) -> float:
    return _linear_kappa(kappa)


def _bessel_scaled(beta: float, K: int) -> np.ndarray:
    """I_k(beta) e^{-beta}, k = 0..K."""
    return ive(np.arange(K + 1), beta)


def fourier_cutoff(beta: float, tol: float = 1e-17) -> int:
    """The smallest K with I_k(beta) / I_0(beta) < tol for all k > K: past it the kernel
    e^{beta cos} has no weight in double precision."""
    k = np.arange(0, int(2 * beta + 60 * (1 + math.sqrt(beta))) + 1)
    r = ive(k, beta) / ive(0, beta)
    big = np.nonzero(r >= tol)[0]
    return int(big[-1]) + 1


# --------------------------------------------------------------------------------------------------
# the PDE


@dataclass
class CircleSolution:
    """A solution of the mean-field equation on the circle.

    ``t`` (T,) save times; ``rho_hat`` (T, N//2 + 1) complex Fourier coefficients rho_k, k >= 0
    (rho_0 = 1); ``min_density`` (T,) the smallest grid value (positivity check); ``tail`` (T,);
    ``params`` beta, kappa, kind, N, dt, scheme; ``stats`` wall time and steps.
    """

    t: np.ndarray
    rho_hat: np.ndarray
    min_density: np.ndarray
    tail: np.ndarray
    params: dict
    stats: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def N(self) -> int:
        return int(self.params["N"])

    @property
    def r(self) -> np.ndarray:
        """The order parameter |int e^{i theta} rho| = |rho_1| at each save, shape (T,)."""
        return np.abs(self.rho_hat[:, 1])

    def modes(self, M: int = 8) -> np.ndarray:
        """|rho_k|, k = 1..M, at each save: shape (T, M)."""
        return np.abs(self.rho_hat[:, 1 : M + 1])

    @property
    def mass(self) -> np.ndarray:
        """(1/2pi) int rho = rho_0 at each save (1 up to rounding)."""
        return self.rho_hat[:, 0].real

    def coefficients(self, i: int = -1) -> np.ndarray:
        """rho_k of save ``i`` (an index into ``t``, negative from the end), or a
        :class:`ParticlesError` naming the saves there are."""
        T = self.rho_hat.shape[0]
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise ParticlesError(f"i must be the index of a save (an integer), got {i!r}")
        if not -T <= i < T:
            raise ParticlesError(
                f"i = {i} is not a save: the solution has {T} (i in {-T}..{T - 1})"
            )
        return self.rho_hat[int(i)]

    def density(self, i: int = -1, theta=None) -> np.ndarray:
        """rho at save i on ``theta`` (default: the N grid points 2 pi j / N)."""
        c = self.coefficients(i)
        if theta is None:
            return _irfft(c, self.N)
        th = real_array(theta, "theta", finite=True)
        k = np.arange(c.shape[0])
        w = np.where(k == 0, 1.0, 2.0)
        if self.N % 2 == 0:
            w[-1] = 1.0
        return (w * c * np.exp(1j * np.multiply.outer(th, k))).real.sum(-1)

    def cdf(self, theta, i: int = -1) -> np.ndarray:
        """F(theta) = (1/2pi) int_0^theta rho, for theta in [0, 2pi] (closed form from rho_k)."""
        c = self.coefficients(i)
        th = real_array(theta, "theta", finite=True)
        k = np.arange(1, c.shape[0])
        w = np.full(k.shape, 2.0)
        if self.N % 2 == 0:
            w[-1] = 1.0
        # (1/2pi) int_0^th e^{ik phi} dphi = (e^{ik th} - 1) / (2 pi i k)
        terms = w * c[1:] * (np.exp(1j * np.multiply.outer(th, k)) - 1.0) / (2j * np.pi * k)
        return c[0].real * th / (2 * np.pi) + terms.real.sum(-1)

    def save(self, path) -> Path:
        arrays = {
            "t": self.t,
            "rho_hat_re": self.rho_hat.real,
            "rho_hat_im": self.rho_hat.imag,
            "min_density": self.min_density,
            "tail": self.tail,
        }
        meta = {"format": FORMAT, **self.meta, "params": self.params, "stats": self.stats}
        return io.save_npz(path, arrays, meta)

    @classmethod
    def load(cls, path) -> CircleSolution:
        arrays, meta = io.load_npz(path, FORMAT)
        try:
            rho = arrays["rho_hat_re"] + 1j * arrays["rho_hat_im"]
            sol = cls(
                t=arrays["t"],
                rho_hat=rho,
                min_density=arrays["min_density"],
                tail=arrays["tail"],
                params=meta["params"],
                stats=meta.get("stats", {}),
                meta={k: v for k, v in meta.items() if k not in ("params", "stats", "format")},
            )
        except KeyError as e:
            raise ParticlesError(f"{path}: corrupted mean-field file (missing {e})") from None
        except (ValueError, TypeError) as e:  # e.g. real and imaginary parts of other shapes
            raise ParticlesError(f"{path}: corrupted mean-field file ({e})") from None
        _check_solution(sol, f"{path}: corrupted mean-field file")
        return sol


def _check_solution(sol: CircleSolution, where: str) -> None:
    """A loaded solution validated like an argument: real finite arrays of consistent shapes,
    strictly increasing times, ``params`` a record with the grid size N, ``stats`` a record."""
    from ..storage.records import check_times

    check_times(sol.t, where)
    T = sol.t.shape[0]
    if not isinstance(sol.params, dict) or not isinstance(sol.stats, dict):
        raise ParticlesError(f"{where}: params and stats must be records")
    N = sol.params.get("N")
    if isinstance(N, bool) or not isinstance(N, int) or N < 2:
        raise ParticlesError(f"{where}: params N must be an integer >= 2, got {N!r}")
    rho = np.asarray(sol.rho_hat)
    if rho.dtype.kind != "c" or rho.shape != (T, N // 2 + 1) or not np.all(np.isfinite(rho)):
        raise ParticlesError(
            f"{where}: the Fourier coefficients must be finite, of shape (T, N // 2 + 1) = "
            f"({T}, {N // 2 + 1}), got {rho.shape}"
        )
    for name in ("min_density", "tail"):
        a = np.asarray(getattr(sol, name))
        if a.dtype.kind not in "fiu" or a.shape != (T,) or not np.all(np.isfinite(a)):
            raise ParticlesError(f"{where}: {name} must be {T} finite numbers, got shape {a.shape}")


def _rfft(f: np.ndarray) -> np.ndarray:
    return np.fft.rfft(f) / f.shape[-1]


def _irfft(c: np.ndarray, N: int) -> np.ndarray:
    return np.fft.irfft(c * N, n=N)


def _etdrk4_coefficients(Lh: np.ndarray, M: int = 32):
    """ETDRK4 coefficients for the diagonal h L (Kassam & Trefethen 2005, contour of M points)."""
    r = np.exp(1j * np.pi * (np.arange(1, M + 1) - 0.5) / M)
    # very stiff modes (h L << -1, strong noise): e^{hL} underflows and LR^3 would overflow; there
    # the coefficients are their exact e^{hL} = 0 forms, divided step by step
    stiff = Lh < -200.0
    z = np.where(stiff, -1.0, Lh)
    LR = z[:, None] + r[None, :]
    Q = np.real(np.mean((np.exp(LR / 2) - 1) / LR, axis=1))
    f1 = np.real(np.mean((-4 - LR + np.exp(LR) * (4 - 3 * LR + LR**2)) / LR**3, axis=1))
    f2 = np.real(np.mean((2 + LR + np.exp(LR) * (-2 + LR)) / LR**3, axis=1))
    f3 = np.real(np.mean((-4 - 3 * LR - LR**2 + np.exp(LR) * (4 - LR)) / LR**3, axis=1))
    if stiff.any():
        zs = Lh[stiff]
        Q[stiff] = -1.0 / zs
        f1[stiff] = (-4.0 / zs - 1.0) / zs / zs  # (-4 - z) / z^3
        f2[stiff] = (2.0 / zs + 1.0) / zs / zs  # (2 + z) / z^3
        f3[stiff] = ((-4.0 / zs - 3.0) / zs - 1.0) / zs  # (-4 - 3z - z^2) / z^3
    return np.exp(Lh), np.exp(Lh / 2), Q, f1, f2, f3


def initial_density(kind: str = "perturbed", N: int = 256, **kw) -> np.ndarray:
    """Initial densities on the N-point grid (mean 1):

    - ``"perturbed"``: 1 + eps * sum_{k=1}^{modes} (a_k cos k theta + b_k sin k theta) with a_k, b_k
      i.i.d. N(0, 1) (``eps``, ``modes``, ``rng``): near-uniform data;
    - ``"von-mises"``: exp(c cos(theta - mu)) / I_0(c) (``concentration`` c, ``mu``);
    - ``"uniform"``.
    """
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 8 or N % 2:
        raise ParticlesError(f"N (the grid points) must be an even integer >= 8, got {N!r}")
    check_count(N, "N (the grid points)", 1e8)
    th = 2 * np.pi * np.arange(N) / N
    if kind == "uniform":
        return np.ones(N)
    if kind == "von-mises":
        c = float(kw.get("concentration", 1.0))
        mu = float(kw.get("mu", 0.0))
        if not (np.isfinite(c) and c >= 0):
            raise ParticlesError(f"concentration must be finite and >= 0, got {c}")
        if not np.isfinite(mu):
            raise ParticlesError(f"mu must be finite, got {mu}")
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            rho = np.exp(c * (np.cos(th - mu) - 1.0)) / ive(0, c)
        if not (np.all(np.isfinite(rho)) and rho.mean() > 0):
            raise ParticlesError(
                f"concentration = {c:g} is too large for {N} grid points: the von Mises density "
                "is not representable (a peak far narrower than the grid)"
            )
        return rho
    if kind == "perturbed":
        rng = as_rng(kw.get("rng", 0))
        eps = float(kw.get("eps", 1e-3))
        m = int(kw.get("modes", 8))
        if not (np.isfinite(eps) and eps >= 0):
            raise ParticlesError(
                f"eps (the perturbation's size) must be finite and >= 0, got {eps}"
            )
        if m < 1:
            raise ParticlesError(f"modes must be >= 1, got {m}")
        check_memory(8.0 * m * N * 3, f"a perturbation of {m} modes on {N} grid points")
        ab = rng.standard_normal((m, 2))
        k = np.arange(1, m + 1)
        pert = ab[:, 0] @ np.cos(np.outer(k, th)) + ab[:, 1] @ np.sin(np.outer(k, th))
        with np.errstate(over="ignore", invalid="ignore"):
            rho = 1.0 + eps * pert
        if not rho.min() >= 0:  # NaN too (eps * pert overflowed)
            raise ParticlesError(
                f"eps = {eps:g} makes the perturbed density negative (min {rho.min():.3g}); "
                f"a density needs eps < {1.0 / max(-pert.min(), 1e-300):.3g} here"
            )
        return rho
    raise ParticlesError(
        f"unknown initial density {kind!r}; choose perturbed, von-mises or uniform"
    )


def solve_circle(
    rho0,
    beta: float,
    kappa,
    t_end: float,
    *,
    kind: str = "USA",
    dt: float = 0.01,
    save_at=None,
    saves: int | None = None,
    progress: bool = False,
    positivity_tol: float = 1e-8,
) -> CircleSolution:
    """Solve the Fokker–Planck equation on the circle from ``rho0`` (values on N equispaced points
    2 pi j / N, mean 1 after normalisation) to ``t_end`` by ETDRK4 with step ``dt``.

    ``kind``: "SA", "USA" or "SK" (Sinkhorn: :mod:`particles.meanfield.sinkhorn`).
    ``kappa``: inverse noise (inf or None: the noiseless continuity equation, which concentrates:
    resolve it only while ``tail`` stays small). ``save_at``: times, or ``saves``: how many
    equally spaced times (>= 2, 0 and t_end included; default 101).
    Raises a clear error if the solution becomes non-finite; a density dipping below
    ``-positivity_tol`` is flagged in ``stats["positive"] = False`` (with the minimum in
    ``min_density``).
    """
    kind = "SK" if isinstance(kind, str) and kind.upper() in ("SK", "SINKHORN") else _kind(kind)
    beta = _beta_scalar(beta)
    kap = _kappa(kappa)
    rho = real_array(rho0, "rho0 (grid values)").ravel()
    N = rho.shape[0]
    if N < 8 or N % 2:
        raise ParticlesError(f"rho0 needs an even number N >= 8 of grid values, got {N}")
    if not np.all(np.isfinite(rho)) or rho.mean() <= 0:
        raise ParticlesError("rho0 must be finite with a positive mean")
    rho = rho / rho.mean()
    t_end, dt = finite(t_end, "t_end", "> 0"), finite(dt, "dt", "> 0")
    positivity_tol = finite(positivity_tol, "positivity_tol", ">= 0")
    check_count(t_end / dt, "t_end / dt (the number of steps)", 1e8)
    save_at = _circle_save_times(save_at, saves, t_end, N)
    k = np.arange(N // 2 + 1)
    nonlinear, diag, speed = _transport(beta, kind == "USA", N, kind == "SK")
    c = _rfft(rho)
    steps_total, t_now = 0, 0.0
    ts, cs, mins, tails = [], [], [], []
    m, tl = diag(c)  # the initial speed, saved or not
    if save_at[0] == 0.0:
        ts.append(0.0)
        cs.append(c.copy())
        mins.append(m)
        tails.append(tl)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=t_end, desc=f"mean field {kind}", leave=False)
    wall0 = time.perf_counter()
    cache: dict = {}
    err = np.errstate(over="ignore", invalid="ignore")  # a blow-up is detected and reported below
    err.__enter__()
    try:
        for b in save_at[save_at > 0]:
            nst = max(1, math.ceil((b - t_now) / dt - 1e-9))
            h = (b - t_now) / nst
            key = round(h, 15)
            if key not in cache:
                L = -(k.astype(np.float64) ** 2) / kap if np.isfinite(kap) else np.zeros(k.shape)
                cache[key] = _etdrk4_coefficients(L * h)
            for j in range(nst):
                c_new = _etdrk4_step(c, h, cache[key], nonlinear)
                if not np.all(np.isfinite(c_new)):
                    raise ParticlesError(
                        f"the mean-field solution became non-finite at t = {t_now + (j + 1) * h:.6g} "
                        f"(dt = {dt:g}, N = {N}, largest speed up to t = {t_now:.6g}: "
                        f"{speed[0]:.3g}): the transport is explicit, reduce dt "
                        "(dt * speed * N / 2 measures it) and resolve the density (raise N)"
                    )
                c = c_new
                steps_total += 1
            if bar is not None:
                bar.update(b - t_now)
            t_now = float(b)
            m, tl = diag(c)
            ts.append(t_now)
            cs.append(c.copy())
            mins.append(m)
            tails.append(tl)
    finally:
        err.__exit__(None, None, None)
        if bar is not None:
            bar.close()
    mins = np.array(mins)
    return CircleSolution(
        t=np.array(ts),
        rho_hat=np.array(cs),
        min_density=mins,
        tail=np.array(tails),
        params={
            "beta": beta,
            "kappa": None if not np.isfinite(kap) else kap,
            "kind": kind,
            "N": N,
            "dt": dt,
            "t_end": t_end,
            "scheme": "ETDRK4 (Fourier pseudo-spectral)",
        },
        stats={
            "steps": steps_total,
            "wall_time": time.perf_counter() - wall0,
            "positive": bool(mins.min() >= -positivity_tol),
            "max_mass_error": float(np.max(np.abs(np.array(cs)[:, 0].real - 1.0))),
            "max_speed": speed[0],
            "cfl": speed[0] * dt * (N // 2),
        },
    )


def _circle_save_times(save_at, saves, t_end: float, N: int) -> np.ndarray:
    """The save times of :func:`solve_circle`: ``save_at`` (unique, in [0, t_end]) or ``saves``
    equally spaced ones (default 101), the saved densities' memory checked."""
    if save_at is not None and saves is not None:
        raise ParticlesError("give save_at (the times) or saves (how many), not both")
    if save_at is None:
        saves = 101 if saves is None else saves
        if isinstance(saves, bool) or not isinstance(saves, (int, np.integer)) or saves < 2:
            raise ParticlesError(f"saves must be an integer >= 2 (0 and t_end), got {saves!r}")
        check_memory(16.0 * saves * (N // 2 + 1), f"{saves:.3g} saved densities on {N} points")
        save_at = np.linspace(0, t_end, saves)
    else:
        save_at = np.unique(real_array(save_at, "save_at", finite=True).ravel())
    if save_at.size == 0 or save_at[0] < 0 or save_at[-1] > t_end * (1 + 1e-12):
        raise ParticlesError(f"save_at times must lie in [0, t_end] = [0, {t_end}]")
    check_memory(
        16.0 * (save_at.size + 16) * (N // 2 + 1), f"{save_at.size} saved densities on {N} points"
    )
    return save_at


def _transport(beta: float, usa: bool, N: int, sk: bool = False):
    """The transport term of the circle's Fokker–Planck equation on N points: ``nonlinear(c)``,
    its Fourier coefficients from the density's ``c`` (k = 0..N/2); ``diag(c)``, the density's
    minimum and the size of its top third of modes (``tail``), recording the largest speed seen
    in ``speed[0]``; returns (nonlinear, diag, speed)."""
    k = np.arange(N // 2 + 1)
    ik = 1j * k
    Ik = _bessel_scaled(beta, k[-1])  # I_k(beta) e^{-beta}
    c_usa = math.exp(beta) / beta if beta > 0 else 0.0

    def nonlinear(c):
        g = Ik * (_sk_weights(c, beta) if sk and beta > 0 else c)
        dg = _irfft(ik * g, N)
        if usa:
            v = c_usa * dg if beta > 0 else _irfft(ik * np.where(k == 1, 0.5 * c, 0.0), N)
        else:
            v = (
                dg / (beta * _irfft(g, N))
                if beta > 0
                else _irfft(ik * np.where(k == 1, 0.5 * c, 0.0), N)
            )
        out = -ik * _rfft(_irfft(c, N) * v)
        out[-1] = 0.0  # the Nyquist mode of a derivative
        return out

    top = slice(max(2, (2 * (N // 2)) // 3), None)

    speed = [0.0]

    def diag(c):
        vals = _irfft(c, N)
        g = Ik * (_sk_weights(c, beta) if sk and beta > 0 else c)
        if beta > 0:
            dg = _irfft(ik * g, N)
            v = c_usa * dg if usa else dg / (beta * _irfft(g, N))
            speed[0] = max(speed[0], float(np.abs(v).max()))
        return float(vals.min()), float(np.abs(c[top]).max())

    return nonlinear, diag, speed


def _sk_weights(c, beta: float):
    """SK (Sinkhorn): the coefficients of e^f rho, whose SA field is SK's (meanfield.sinkhorn)."""
    from .sinkhorn import circle_reweighted

    return circle_reweighted(c, beta)


def _etdrk4_step(c, h: float, coefficients, nonlinear):
    """One ETDRK4 step of size h (Cox–Matthews) of the density's Fourier coefficients ``c``;
    ``coefficients``: :func:`_etdrk4_coefficients` of h L."""
    E, E2, Q, f1, f2, f3 = coefficients
    Nu = nonlinear(c)
    a = E2 * c + h * Q * Nu
    Na = nonlinear(a)
    bb = E2 * c + h * Q * Na
    Nb = nonlinear(bb)
    cc = E2 * a + h * Q * (2 * Nb - Nu)
    Nc = nonlinear(cc)
    return E * c + h * (f1 * Nu + 2 * f2 * (Na + Nb) + f3 * Nc)


# --------------------------------------------------------------------------------------------------
# the particles


def circle_fourier_coefficients(theta, K: int) -> np.ndarray:
    """c_k = mean_j exp(-i k theta_j), k = 0..K (complex, shape (K+1,)); deterministic whatever the
    number of threads (fixed blocks summed in order)."""
    th = np.ascontiguousarray(theta, dtype=np.float64)
    nb = -(-th.shape[0] // kernels.FOURIER_BLOCK)
    part = np.empty((nb, K + 1), np.complex128)
    kernels._circle_moments(th, K, part)
    return part.sum(axis=0) / th.shape[0]


def circle_field(theta, beta: float, kind: str = "USA", K: int | None = None) -> np.ndarray:
    """The SA / USA angular velocities of particles at angles ``theta`` (n,) with identity weights
    (arXiv 2312.10794, (7.1)), exact to rounding in O(n K) (K = :func:`fourier_cutoff`)."""
    kind = _kind(kind)
    beta = _beta_scalar(beta)
    th = real_array(theta, "theta", "(n,)", finite=True)
    if th.ndim != 1 or th.size == 0:
        raise ParticlesError(
            f"theta must be a non-empty vector of angles (n,), got shape {th.shape}"
        )
    K = fourier_cutoff(beta) if K is None else _count(K, "K (the Fourier cutoff)", 0)
    c = circle_fourier_coefficients(th, K)
    coef = _bessel_scaled(beta, K) * c
    out = np.empty_like(th)
    if beta == 0:  # the Kuramoto field: (1/n) sum_j sin(theta_j - theta_i)
        coef = np.zeros(2, np.complex128)
        coef[1] = 0.5 * c[1]
        kernels._circle_field(th, coef, True, 1.0, out)
        return out
    usa = kind == "USA"
    kernels._circle_field(th, coef, usa, math.exp(beta) / beta if usa else beta, out)
    return out


@dataclass
class CircleParticles:
    """Angles of a particle run on the circle: ``t`` (T,), ``theta`` (T, n) (or None when not kept),
    ``modes`` (T, M) |mean exp(i k theta)|, k = 1..M (``modes[:, 0]`` is r), ``params``."""

    t: np.ndarray
    theta: np.ndarray | None
    modes: np.ndarray
    params: dict

    @property
    def r(self) -> np.ndarray:
        return self.modes[:, 0]


def circle_particles(
    theta0,
    beta: float,
    kappa,
    t_end: float,
    *,
    kind: str = "USA",
    dt: float = 0.01,
    rng=None,
    save_at=None,
    modes: int = 8,
    keep: bool = True,
    scheme: str = "heun",
) -> CircleParticles:
    """dtheta_i = v(theta_i) dt + sqrt(2/kappa) dW_i on the circle (identity weights, SA or USA), n
    particles at O(n K) per field evaluation.

    ``scheme``: ``"heun"`` (default; for additive noise Y* = Y + h v(Y) + s dW, Y <- Y + h (v(Y) +
    v(Y*)) / 2 + s dW is of weak order 2 and strong order 1, Kloeden–Platen §15.1) or ``"euler"``
    (Euler–Maruyama, weak and strong order 1). ``rng``: seed or Generator of the noise: one block of n
    standard normals per step, in step order. ``keep=False`` stores only the modes (for very large n).
    Returns :class:`CircleParticles`.
    """
    if scheme not in ("heun", "euler"):
        raise ParticlesError(f"scheme must be 'heun' or 'euler', got {scheme!r}")
    kind = _kind(kind)
    beta = _beta_scalar(beta)
    kap = _kappa(kappa)
    th = real_array(theta0, "theta0", copy=True).ravel()
    if th.size < 1 or not np.all(np.isfinite(th)):
        raise ParticlesError("theta0 must be a non-empty array of finite angles")
    t_end, dt = finite(t_end, "t_end", "> 0"), finite(dt, "dt", "> 0")
    check_count(t_end / dt, "t_end / dt (the number of steps)", 1e8)
    if save_at is None:
        save_at = np.linspace(0, t_end, 101)
    else:
        save_at = np.unique(real_array(save_at, "save_at", finite=True).ravel())
        if save_at.size == 0 or save_at[0] < 0 or save_at[-1] > t_end * (1 + 1e-12):
            raise ParticlesError(f"save_at times must lie in [0, t_end] = [0, {t_end}]")
    modes = _count(modes, "modes", 0)
    gen = as_rng(rng)
    K = fourier_cutoff(beta)
    s = math.sqrt(2.0 / kap) if np.isfinite(kap) else 0.0
    M = modes

    def rec(x):
        c = circle_fourier_coefficients(x, max(M, 1))
        return np.abs(c[1 : M + 1])

    ts, thetas, mds = [], [], []
    t_now = 0.0
    if save_at[0] == 0.0:
        ts.append(0.0)
        mds.append(rec(th))
        if keep:
            thetas.append(th.copy())
    for b in save_at[save_at > 0]:
        nst = max(1, math.ceil((b - t_now) / dt - 1e-9))
        h = (b - t_now) / nst
        sq = s * math.sqrt(h)
        for _ in range(nst):
            v = circle_field(th, beta, kind, K)
            dw = sq * gen.standard_normal(th.shape[0]) if s else 0.0
            if scheme == "euler":
                th += h * v + dw
            else:
                v2 = circle_field(th + h * v + dw, beta, kind, K)
                th += 0.5 * h * (v + v2) + dw
        th = np.mod(th, 2 * np.pi)
        t_now = float(b)
        ts.append(t_now)
        mds.append(rec(th))
        if keep:
            thetas.append(th.copy())
    return CircleParticles(
        t=np.array(ts),
        theta=np.array(thetas) if keep else None,
        modes=np.array(mds),
        params={
            "beta": beta,
            "kappa": None if not np.isfinite(kap) else kap,
            "kind": kind,
            "n": th.shape[0],
            "dt": dt,
            "K": K,
            "scheme": scheme,
        },
    )


def sample_density(sol_or_rho, n: int, rng=None, i: int = 0) -> np.ndarray:
    """n i.i.d. angles from a density: a :class:`CircleSolution` (its save i) or grid values (mean 1),
    by inverting the CDF (exact for a solution: its CDF is in closed form)."""
    from ..errors import count

    n = count(n, "n (number of samples)", 1)
    check_memory(24.0 * n, f"sampling n = {n} angles")  # the uniforms, the angles, interp's work
    gen = as_rng(rng)
    n = _count(n, "n (the number of angles)", 1, 1e9)
    check_memory(8.0 * n, f"{n} sampled angles")
    if isinstance(sol_or_rho, CircleSolution):
        T = sol_or_rho.rho_hat.shape[0]
        if (
            isinstance(i, (bool, np.bool_))
            or not isinstance(i, (int, np.integer))
            or not -T <= i < T
        ):
            raise ParticlesError(
                f"i must be the index of a save of the solution (-{T}..{T - 1}), got {i!r}"
            )
        grid = np.linspace(0, 2 * np.pi, 8 * sol_or_rho.N + 1)
        F = sol_or_rho.cdf(grid, i)
    else:
        rho = real_array(sol_or_rho, "sol_or_rho (a CircleSolution or grid values)", finite=True)
        if rho.ndim != 1 or rho.size < 2 or np.any(rho < 0) or not rho.mean() > 0:
            raise ParticlesError(
                "sol_or_rho must be a CircleSolution or a vector of >= 2 non-negative density "
                "values with a positive mean"
            )
        N = rho.shape[0]
        tmp = CircleSolution(
            t=np.zeros(1),
            rho_hat=_rfft(rho / rho.mean())[None],
            min_density=np.zeros(1),
            tail=np.zeros(1),
            params={"N": N},
        )
        grid = np.linspace(0, 2 * np.pi, 8 * N + 1)
        F = tmp.cdf(grid, 0)
    F = np.maximum.accumulate(F)
    F = (F - F[0]) / (F[-1] - F[0])
    return np.interp(gen.random(n), F, grid)


def w1_circle(theta, sol: CircleSolution, i: int = -1, grid: int = 1 << 14) -> float:
    """W1 between the empirical measure of the angles ``theta`` and the density of save ``i`` of
    ``sol``, on the circle of length 2 pi: min_a int |F_n - F - a| with a the weighted median of
    F_n - F (Rabin, Delon, Gousseau 2011).

    The integral is taken exactly for the step function F_n on the union of the particle angles and a
    uniform grid of ``grid`` points, with F at the midpoints of the pieces (error O(grid^-2)).
    """
    if not isinstance(sol, CircleSolution):
        raise ParticlesError(f"sol must be a CircleSolution, got {type(sol).__name__}")
    grid = _count(grid, "grid", 1, 1e8)
    th = real_array(theta, "theta", finite=True).ravel()
    th = np.sort(np.mod(th, 2 * np.pi))
    n = th.size
    if n == 0:
        raise ParticlesError("w1_circle needs at least one angle")
    pts = np.union1d(np.linspace(0.0, 2 * np.pi, grid + 1), th)
    left, right = pts[:-1], pts[1:]
    width = right - left
    Fn = np.searchsorted(th, left, side="right") / n
    F = sol.cdf(0.5 * (left + right), i)
    D = Fn - F
    o = np.argsort(D)
    cw = np.cumsum(width[o])
    a = D[o][np.searchsorted(cw, 0.5 * cw[-1])]
    return float(np.sum(width * np.abs(D - a)))
