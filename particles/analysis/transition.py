"""The phase transition of the noisy model: the stationary order parameter r = |mean x_i| against the
inverse noise kappa, swept up and down in kappa (hysteresis), per beta, from particles or from the
mean-field equation (conventions and theory in :mod:`particles.meanfield`).

A sweep is one resumable task per (beta, direction) (:mod:`particles.sweeps.sweep`: serial, local processes
or Dask). A task runs the kappa grid in order (ascending for ``"up"``, descending for ``"down"``); at
each kappa it relaxes for ``t_relax``, then averages r over ``t_avg``, and hands its final state to the
next kappa (an adiabatic sweep). ``"up"`` starts from uniform data (i.i.d. uniform points; for the PDE
the uniform density plus a 1e-3 random perturbation), ``"down"`` from one tight cluster (r ~ 0.99).
Where the transition is discontinuous (beta > beta_*) the two sweeps disagree between the fold of the
stationary branch and kappa_c: hysteresis.

Engines:

- ``"particles"``: the numba noisy ensembles (:func:`particles.solvers.ensemble.ensemble_noisy`), any
  d, ``seeds`` independent systems of n particles, stepped by ``method`` (a stochastic method of the
  registry that the ensembles run: ``"euler-maruyama"``, the default, ``"lie-euler-maruyama"`` or
  ``"strang"``; ``particles.solvers.registry.NOISY_ENSEMBLE_NAMES``);
- ``"circle"``: d = 2, identity weights, the O(n K) angle system
  (:func:`particles.meanfield.circle_particles`): large n;
- ``"pde"``: d = 2, the Fokker–Planck equation (:func:`particles.meanfield.solve_circle`, ``N``
  grid points), deterministic (``seeds`` is 1). A perturbation of relative size ``pde_eps`` (random
  modes 1..4) is added at the start of every kappa step: the deterministic equation has no
  fluctuations, and without it an unstable uniform state would be left only by rounding errors;
- ``"pde-sphere"``: d = 3, the same equation on S^2 in spherical harmonics
  (:func:`particles.meanfield.sphere.solve_sphere`, ducc0), ``N`` its largest degree L; the same
  perturbations (random coefficients of degrees 1..4, relative size ``pde_eps``, added to rho_lm so
  that the mass is unchanged); "up" starts from the uniform density plus a 1e-3 perturbation, "down"
  from the von Mises–Fisher density of concentration 30 (r = 0.967).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, count, finite, real_array
from ..resources import check_count, check_memory
from ..storage import npz as io
from ..sweeps.sweep import Task, fingerprint, load_result, run_sweep

ENGINES = ("particles", "circle", "pde", "pde-sphere")
#: the largest seed: the systems' seeds seed * 100003 + k are int64
MAX_SEED = 10**13

#: the engines that evolve one density (``seeds`` is 1, ``N`` their resolution)
PDE_ENGINES = ("pde", "pde-sphere")
#: the particles engine's integrator unless ``method`` says otherwise
DEFAULT_METHOD = "euler-maruyama"
DIRECTIONS = ("up", "down")
FORMAT = "transition"


@dataclass(frozen=True, kw_only=True)
class TransitionParams:
    """Parameters of a kappa sweep (see the module docstring); ``kappas`` is the grid (any order; it
    is sorted), ``betas`` the inverse temperatures, ``seeds`` the independent systems per task,
    ``N`` the PDE's resolution (``"pde"``: grid points on the circle; ``"pde-sphere"``: the largest
    spherical-harmonic degree L)."""

    d: int = 2
    n: int = 256
    betas: tuple = (1.5,)
    kappas: tuple = (1.0, 2.0)
    seeds: int = 4
    seed: int = 0
    kind: str = "USA"
    dt: float = 0.01
    t_relax: float = 10.0
    t_avg: float = 10.0
    record_every: int = 10
    engine: str = "particles"
    N: int = 256
    pde_eps: float = 1e-6
    method: str = DEFAULT_METHOD

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ParticlesError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.engine in ("circle", "pde") and self.d != 2:
            raise ParticlesError(
                f"the {self.engine} engine is for d = 2 (the circle), got d = {self.d}"
                + ("; engine 'pde-sphere' solves d = 3" if self.engine == "pde" else "")
            )
        if self.engine == "pde-sphere" and self.d != 3:
            raise ParticlesError(f"the pde-sphere engine is for d = 3 (S^2), got d = {self.d}")
        for name, value, low in (("d", self.d, 2), ("n", self.n, 1), ("seeds", self.seeds, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParticlesError(f"{name} must be an integer >= {low}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ParticlesError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ParticlesError(f"seed must be an integer in 0..{MAX_SEED}, got {self.seed}")
        count(self.N, "N", 1)
        for name, limit in (("d", 1e6), ("n", 1e8), ("seeds", 1e6), ("N", 1e8)):
            check_count(getattr(self, name), name, limit)
        if self.engine == "pde" and (int(self.N) < 8 or int(self.N) % 2):
            raise ParticlesError(f"N (the PDE's grid points) must be even and >= 8, got {self.N}")
        if self.engine == "pde-sphere" and not 4 <= int(self.N) <= 1024:
            raise ParticlesError(
                f"N (the largest degree L of the S^2 PDE) must lie in [4, 1024], got {self.N}"
            )
        check_memory(
            8.0 * int(self.seeds) * int(self.n) * int(self.d) * 8,
            f"{self.seeds} systems of {self.n} particles in dimension {self.d}",
        )
        k = np.sort(real_array(self.kappas, "kappas").ravel())
        if k.size < 1 or not np.all(np.isfinite(k)) or np.any(k <= 0):
            raise ParticlesError("kappas must be finite and > 0")
        b = real_array(self.betas, "betas").ravel()
        if np.any(b == np.inf):
            raise ParticlesError(
                "beta = inf (hardmax) has no transition to sweep: with the identity weights of "
                "every engine each token is its own only maximiser, so the drift vanishes and "
                "the stationary state is uniform for every kappa (and the mean-field engines "
                "have no beta = inf limit)"
            )
        if b.size < 1 or not np.all(np.isfinite(b)) or np.any(b <= 0):
            raise ParticlesError("betas must be finite and > 0")
        if str(self.kind).upper() not in ("SA", "USA", "SK"):
            raise ParticlesError(f"kind must be 'SA', 'USA' or 'SK', got {self.kind!r}")
        if str(self.kind).upper() == "SK" and self.engine == "circle":
            raise ParticlesError(
                "kind 'SK' has no circle engine: its O(n K) field sums the SA/USA kernel by "
                "Fourier moments, while Sinkhorn's potentials couple every pair of particles; "
                "use the particles, pde or pde-sphere engine"
            )
        for name in ("dt", "t_relax", "t_avg"):
            finite(getattr(self, name), name, "> 0")
        count(self.record_every, "record_every")
        finite(self.pde_eps, "pde_eps", ">= 0")
        if self.pde_eps > 1:
            raise ParticlesError(
                f"pde_eps (a relative perturbation) must be <= 1, got {self.pde_eps}"
            )
        check_count(
            (self.t_avg + self.t_relax) / self.dt * k.size,
            "the number of steps (t_relax + t_avg) / dt x kappas",
            1e8,
        )
        steps = round(self.t_avg / self.dt)
        if abs(steps * self.dt - self.t_avg) > 1e-9 * self.t_avg or steps % int(self.record_every):
            raise ParticlesError("t_avg must be a whole number of record_every * dt")
        if abs(round(self.t_relax / self.dt) * self.dt - self.t_relax) > 1e-9 * self.t_relax:
            raise ParticlesError("t_relax must be a whole number of steps dt")
        object.__setattr__(self, "kappas", tuple(float(v) for v in k))
        object.__setattr__(self, "betas", tuple(float(v) for v in b))
        object.__setattr__(self, "kind", str(self.kind).upper())
        if self.engine in PDE_ENGINES:
            object.__setattr__(self, "seeds", 1)
        from ..solvers.ensemble import noisy_method

        method = noisy_method(self.method).name  # validated and spelled as the registry does
        if self.engine != "particles" and method != DEFAULT_METHOD:
            raise ParticlesError(
                f"method is the particles engine's integrator; the {self.engine} engine has its own"
            )
        object.__setattr__(self, "method", method)

    def record(self) -> dict:
        """The parameters as a dict. ``method`` is left out when it is the default, so that the
        fingerprints (task keys) of sweeps stored before it existed stay valid."""
        rec = asdict(self)
        if rec["method"] == DEFAULT_METHOD:
            del rec["method"]
        return rec


def _initial_points(p: TransitionParams, direction: str, rng) -> np.ndarray:
    S, n, d = int(p.seeds), int(p.n), int(p.d)
    g = rng.standard_normal((S, n, d))
    if direction == "down":
        g *= 0.1 / np.sqrt(d)
        g[..., 0] += 1.0
    return g / np.linalg.norm(g, axis=2, keepdims=True)


def run_branch(params: dict, beta: float, direction: str) -> tuple[dict, dict]:
    """One task: the kappa sweep at ``beta`` in ``direction``; returns (arrays, meta) with
    ``kappa`` (K,) in sweep order, ``r_mean`` and ``r2_mean`` (K, S) time averages over ``t_avg``."""
    p = TransitionParams(**params)
    if direction not in DIRECTIONS:
        raise ParticlesError(f"direction must be 'up' or 'down', got {direction!r}")
    kap = np.array(p.kappas if direction == "up" else p.kappas[::-1])
    S = int(p.seeds)
    r_mean = np.empty((kap.size, S))
    r2_mean = np.empty((kap.size, S))
    rng = np.random.default_rng([p.seed, int(round(beta * 1e6)), DIRECTIONS.index(direction)])
    n_relax = round(p.t_relax / p.dt)
    n_avg = round(p.t_avg / p.dt)
    if p.engine == "particles":
        from ..solvers.ensemble import ensemble_noisy

        X = _initial_points(p, direction, rng)
        seeds = p.seed * 100003 + np.arange(S)
        for k, kv in enumerate(kap):
            stream = 2 * k + DIRECTIONS.index(direction)
            kw = dict(seeds=seeds, dt=p.dt, kind=p.kind, modes=0, method=p.method)
            X = ensemble_noisy(X, beta, kv, n_relax * p.dt, stream=2 * stream, **kw).final
            res = ensemble_noisy(
                X, beta, kv, n_avg * p.dt, stream=2 * stream + 1, save_every=p.record_every, **kw
            )
            X = res.final
            r_mean[k] = res.r[:, 1:].mean(axis=1)
            r2_mean[k] = (res.r[:, 1:] ** 2).mean(axis=1)
    elif p.engine == "circle":
        from ..meanfield.circle import circle_particles

        X = _initial_points(p, direction, rng)
        th = np.arctan2(X[..., 1], X[..., 0])
        times = (np.arange(n_avg // p.record_every) + 1) * p.record_every * p.dt
        for k, kv in enumerate(kap):
            for s in range(S):
                g = np.random.default_rng(
                    [p.seed, s, k, int(round(beta * 1e6)), DIRECTIONS.index(direction)]
                )
                kw = dict(kind=p.kind, dt=p.dt, rng=g, modes=1, scheme="euler")
                a = circle_particles(th[s], beta, kv, p.t_relax, save_at=[p.t_relax], **kw)
                b = circle_particles(a.theta[-1], beta, kv, p.t_avg, save_at=times, **kw)
                th[s] = b.theta[-1]
                r_mean[k, s] = b.r.mean()
                r2_mean[k, s] = (b.r**2).mean()
    elif p.engine == "pde-sphere":
        _run_sphere(p, beta, direction, kap, rng, r_mean, r2_mean)
    else:
        from ..meanfield.circle import initial_density, solve_circle

        if direction == "up":
            rho = initial_density("perturbed", N=p.N, eps=1e-3, modes=4, rng=rng)
        else:
            rho = initial_density("von-mises", N=p.N, concentration=50.0)
        times = (np.arange(n_avg // p.record_every) + 1) * p.record_every * p.dt
        for k, kv in enumerate(kap):
            kick = initial_density("perturbed", N=p.N, eps=p.pde_eps, modes=4, rng=rng) - 1.0
            rho = rho * (1.0 + kick)
            a = solve_circle(rho, beta, kv, p.t_relax, kind=p.kind, dt=p.dt, save_at=[p.t_relax])
            b = solve_circle(a.density(-1), beta, kv, p.t_avg, kind=p.kind, dt=p.dt, save_at=times)
            rho = b.density(-1)
            r_mean[k, 0] = b.r.mean()
            r2_mean[k, 0] = (b.r**2).mean()
    meta = {"params": p.record(), "beta": float(beta), "direction": direction}
    return {"kappa": kap, "r_mean": r_mean, "r2_mean": r2_mean}, meta


def sphere_perturbation(L: int, eps: float, rng, degrees: int = 4) -> np.ndarray:
    """Coefficients (n_alm(L),) of eps * sum of the real harmonics of degrees 1..``degrees`` with
    i.i.d. N(0, 1) weights (ducc0's layout; rho_00 is 0, so adding it keeps the mass): near-uniform
    data on S^2, the analogue of the circle's ``initial_density("perturbed")``."""
    from ..meanfield.sphere import degrees as ell_of
    from ..meanfield.sphere import n_alm, orders
    from ..model.sphere import as_rng

    L = count(L, "L (the band limit)", 1, 10**4)
    degrees = count(degrees, "degrees", 0)
    eps = finite(eps, "eps", "[0, 1]")
    ell, m = ell_of(L), orders(L)
    g = as_rng(rng).standard_normal((n_alm(L), 2))
    # a real field's m > 0 coefficient a_lm stands for a_lm Y_lm + conj(a_lm Y_lm): unit variance
    # per real harmonic, as for m = 0
    a = np.where(m > 0, (g[:, 0] + 1j * g[:, 1]) / 2.0, g[:, 0] + 0j)
    a[(ell < 1) | (ell > degrees)] = 0.0
    return eps * np.sqrt(4.0 * np.pi) * a


def _run_sphere(p: TransitionParams, beta, direction, kap, rng, r_mean, r2_mean) -> None:
    """The ``"pde-sphere"`` engine: fills r_mean[k, 0] and r2_mean[k, 0] for each kappa of ``kap``."""
    from ..meanfield.sphere import coefficients_of, n_alm, solve_sphere, von_mises_fisher

    L = int(p.N)
    if direction == "up":
        alm = np.zeros(n_alm(L), dtype=complex)
        alm[0] = np.sqrt(4.0 * np.pi)  # the uniform density, mean 1
        alm += sphere_perturbation(L, 1e-3, rng)
    else:
        alm = coefficients_of(von_mises_fisher([0.0, 0.0, 1.0], 30.0), L)
    n_avg = round(p.t_avg / p.dt)
    times = (np.arange(n_avg // p.record_every) + 1) * p.record_every * p.dt
    for k, kv in enumerate(kap):
        alm = alm + sphere_perturbation(L, p.pde_eps, rng)
        kw = dict(kind=p.kind, kappa=kv, L=L, dt=p.dt)
        a = solve_sphere(alm, beta, p.t_relax, save_at=[p.t_relax], **kw)
        b = solve_sphere(a.alm[-1], beta, p.t_avg, save_at=times, **kw)
        alm = b.alm[-1]
        r = np.array([np.linalg.norm(b.mean(i)) for i in range(times.size)])
        r_mean[k, 0] = r.mean()
        r2_mean[k, 0] = (r**2).mean()


def _key(p: TransitionParams, beta: float, direction: str) -> str:
    return f"transition-{p.engine}-d{p.d}-{p.kind}-beta{beta:.6g}-{direction}-{fingerprint(p.record())}"


def transition_tasks(p: TransitionParams) -> list[Task]:
    if not isinstance(p, TransitionParams):
        raise ParticlesError(f"expected a TransitionParams, got {type(p).__name__}")
    return [
        Task(
            key=_key(p, b, dr),
            fn=run_branch,
            kwargs={"params": p.record(), "beta": b, "direction": dr},
        )
        for b in p.betas
        for dr in DIRECTIONS
    ]


@dataclass
class TransitionResult:
    """``r_up``, ``r_down`` (B, K, S): time-averaged r per beta, kappa (ascending) and system;
    ``r2_up``, ``r2_down`` the same for r^2; ``params``."""

    params: TransitionParams
    r_up: np.ndarray
    r_down: np.ndarray
    r2_up: np.ndarray
    r2_down: np.ndarray

    @property
    def betas(self) -> np.ndarray:
        return np.array(self.params.betas)

    @property
    def kappas(self) -> np.ndarray:
        return np.array(self.params.kappas)

    def mean_and_error(self, direction: str = "up") -> tuple[np.ndarray, np.ndarray]:
        """(mean over systems, standard error) of r, each (B, K); the error is 0 with one system."""
        r = self.r_up if direction == "up" else self.r_down
        S = r.shape[2]
        err = r.std(axis=2, ddof=1) / np.sqrt(S) if S > 1 else np.zeros(r.shape[:2])
        return r.mean(axis=2), err

    def save(self, path) -> Path:
        arrays = {
            "r_up": self.r_up,
            "r_down": self.r_down,
            "r2_up": self.r2_up,
            "r2_down": self.r2_down,
        }
        return io.save_npz(path, arrays, {"format": FORMAT, "params": self.params.record()})

    @classmethod
    def load(cls, path) -> TransitionResult:
        arrays, meta = io.load_npz(path, FORMAT)
        try:
            return cls(params=TransitionParams(**meta["params"]), **arrays)
        except (KeyError, TypeError) as e:
            raise ParticlesError(f"{path}: corrupted transition file ({e})") from None


def transition(p: TransitionParams, *, store, **sweep_kw) -> TransitionResult:
    """Run (or resume) the sweep of ``p`` in ``store`` and assemble it (``sweep_kw``: backend,
    scheduler, workers, threads, progress of :func:`particles.sweeps.sweep.run_sweep`)."""
    tasks = transition_tasks(p)
    sweep_kw.setdefault("desc", f"transition d={p.d} {p.engine}")
    run_sweep(tasks, store, **sweep_kw)
    B, K, S = len(p.betas), len(p.kappas), int(p.seeds)
    out = {k: np.empty((B, K, S)) for k in ("r_up", "r_down", "r2_up", "r2_down")}
    for t in tasks:
        arrays, meta = load_result(store, t.key)
        i = p.betas.index(meta["beta"])
        dr = meta["direction"]
        o = slice(None) if dr == "up" else slice(None, None, -1)
        out[f"r_{dr}"][i] = arrays["r_mean"][o]
        out[f"r2_{dr}"][i] = arrays["r2_mean"][o]
    return TransitionResult(params=p, **out)
