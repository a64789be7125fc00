"""Many independent small systems (seeds x beta) advanced by one numba kernel call, parallel over systems.

Two formulations, every explicit Runge–Kutta method of the registry (:mod:`.registry`), statistics at
checkpoints without storing trajectories. The numba kernels are in :mod:`particles.kernels`.

**Gram formulation** (identity weights; derived here). Every scheme below maps X to C X for an
n x n matrix C that depends on X only through its Gram matrix G = X X^T, so the state can be G itself:
G <- D^{-1} C G C^T D^{-1} with D^2 = diag(C G C^T). The cost per step is O(n^3) whatever d is; only the
initial Gram matrix depends on d. For the authors' scheme C = I + dt A with A = softmax(beta G).

**Coordinate formulation** (any weights). X (n, d) with logits beta <Q x_i, K x_j> = beta x_i^T B x_j,
B = Q^T K (d, d), and values V x_j; B and V are given per system or shared (or identity).

**Schemes** (``method``): any registered method with a Butcher tableau, with the same meaning as in
:func:`particles.simulate`:

- ``"euler"``: the authors' scheme (phase-diagrams.py): x_i <- normalise(x_i + dt sum_j A_ij V x_j), no
  tangent projection. One residual attention layer + normalisation per step.
- ``"euler-tangent"``: x_i <- normalise(x_i + dt P_perp(x_i) sum_j A_ij V x_j).
- ``"rk4"``: classical RK4 on the projected field, then normalise; a faithful integrator (error
  O(dt^4)).

Methods without a tableau (``"lie-euler"``, ``"geometric"``) and scipy's adaptive methods run only in
:func:`particles.simulate`.

``kind`` is ``"SA"`` (softmax, Z_i = sum_k exp(...)) or ``"USA"`` (Z_i = n).

Statistics recorded every ``save_every`` steps (and at t = 0): the fraction of ordered pairs i != j with
<x_i, x_j> > 1 - delta (the phase-diagram statistic of arXiv 2312.10794, Fig. 3) and the number of
clusters, the connected components of the graph <x_i, x_j> > 1 - cluster_delta.

**Noisy ensembles** (:func:`ensemble_noisy`): dx_i = f dt + sqrt(2/kappa) dB_i (B_i Brownian motion on
the sphere; conventions in :mod:`particles.meanfield`) by projected Euler–Maruyama, one (beta, kappa,
seed) per system, recording the order parameter r(t) = |mean_i x_i| and the harmonic mode amplitudes
m_l(t) (Fourier modes |mean exp(i l theta)| on the circle). Noise comes from a counter-based generator
(SplitMix64 + Box–Muller, :func:`particles.kernels._counter_normals`): system s draws from the stream
``noise_keys(seeds, stream)[s]``, and its Gaussian number (step n + i) d + c drives coordinate c of
particle i at that step. Every value depends only on (seed, stream, step, i, c): the same seeds give the
same paths on any number of threads, and a system's path does not depend on which other systems run.

Compiled kernels are cached on disk (``cache=True``); :func:`compile_kernels` compiles (or loads) them and
returns the seconds it took, so callers can report compile time apart from run time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParticlesError, real_array
from ..kernels import (
    NORM_CODES,
    _coord_ensemble,
    _coord_norm_ensemble,
    _gram_ensemble,
    _noisy_coord_ensemble,
    _splitmix64,
)
from ..params import check_beta
from ..resources import check_count, check_memory
from ..sphere import as_rng
from . import registry

#: the methods the ensembles run (a live view of the registry: every method with a tableau)
METHODS = registry._LiveNames(batched=True)
KINDS = ("SA", "USA")


# --------------------------------------------------------------------------------------------------
# public wrappers


@dataclass(frozen=True, kw_only=True)
class EnsembleResult:
    """Statistics of an ensemble run.

    ``t`` (T,) checkpoint times; ``pair_fraction`` (S, T) fraction of ordered pairs with
    <x_i, x_j> > 1 - delta; ``n_clusters`` (S, T) int (-1 where not counted); ``final`` the last
    state computed ((S, n, n) Gram matrices or (S, n, d) points), at the time ``t_final`` (S,):
    ``t_end``, or earlier for a system stopped early (``early_stop``: once every pair is above the
    thresholds, every later statistic is known, so the state is not advanced further);
    ``compile_s``/``run_s`` seconds.
    """

    t: np.ndarray
    pair_fraction: np.ndarray
    n_clusters: np.ndarray
    final: np.ndarray
    t_final: np.ndarray
    compile_s: float = 0.0
    run_s: float = 0.0
    meta: dict = field(default_factory=dict)


def _early(early_stop: bool, method: registry.Method, dt: float, has_V: bool) -> bool:
    """Stopping at collapse is exact only for steps that are nonnegative combinations (see
    kernels._collapsed): one-stage Euler steps with identity values and dt < 1."""
    return bool(early_stop) and method.tableau.stages == 1 and dt < 1.0 and not has_V


def _method(method) -> registry.Method:
    """The registered method ``method``, which must have a tableau (a clear error otherwise)."""
    m = registry.get(method)
    if not m.batched:
        raise ParticlesError(
            f"method {m.name!r} has no Runge–Kutta tableau, so the batched ensembles cannot run it; "
            f"choose one of {', '.join(METHODS)} (or use particles.simulate)"
        )
    return m


def _scheme(m: registry.Method) -> tuple:
    """The tableau as the kernels take it: (a_num (s, s), a_den (s,), b_num (s,), b_den, projected)."""
    tab = m.tableau
    s = tab.stages
    a_num, a_den = np.zeros((s, s)), np.ones(s)
    for q, (nums, den) in enumerate(tab.stage_integers()):
        a_num[q, :q] = nums
        a_den[q] = den
    b_nums, b_den = tab.weight_integers()
    return (a_num, a_den, np.array(b_nums, dtype=np.float64), float(b_den), bool(m.projected))


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
    nsteps = check_count(round(t_end / dt), "t_end / dt (the number of steps)")
    if abs(nsteps * dt - t_end) > 1e-9 * max(1.0, t_end) or (t_end > 0 and nsteps == 0):
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
    if b.size:
        check_beta(float(b.max()))
    return b


def _thresholds(delta, cluster_delta):
    delta = float(delta)
    cl = delta if cluster_delta is None else float(cluster_delta)
    for name, v in (("delta", delta), ("cluster_delta", cl)):
        if not (0 < v < 2):
            raise ParticlesError(f"{name} must lie in (0, 2), got {v}")
        if 1.0 - v == 1.0:
            raise ParticlesError(
                f"{name} = {v:g} is below float64 resolution at 1 (need > 1.2e-16)"
            )
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


#: the run options shared by ensemble_gram and ensemble_coords
_OPTIONS = (
    "betas",
    "t_end",
    "dt",
    "method",
    "kind",
    "save_every",
    "delta",
    "cluster_delta",
    "count_clusters",
    "early_stop",
)


def _options(args: dict) -> dict:
    return {k: args[k] for k in _OPTIONS}


def _run(
    state,
    advance,
    *,
    betas,
    t_end,
    dt,
    method,
    kind,
    save_every,
    delta,
    cluster_delta,
    count_clusters,
    early_stop,
    has_V,
    meta,
) -> EnsembleResult:
    """The part both formulations share: validate, allocate the statistics, call ``advance(betas,
    usa, scheme, dt, nsteps, save_every, stats, frac, ncl, done)`` (a kernel over ``state``), wrap."""
    m, usa = _method(method), _kind(kind)
    S = state.shape[0]
    b = _betas(betas, S)
    nsteps, dt, save_every = _steps(t_end, dt, save_every)
    thr, thr_cl = _thresholds(delta, cluster_delta)
    T = nsteps // save_every + 1
    per_system = state[0].size + 12 * state.shape[1] ** 2 + 2 * T  # state, kernel work, statistics
    check_memory(
        8.0 * S * per_system, f"{S} systems of {state.shape[1]} particles, {T} checkpoints"
    )
    frac = np.empty((S, T))
    ncl = np.empty((S, T), np.int64)
    done = np.empty(S, np.int64)
    compile_s = compile_kernels()
    t0 = time.perf_counter()
    stats = (thr, thr_cl, bool(count_clusters), _early(early_stop, m, dt, has_V))
    advance(b, usa, _scheme(m), dt, nsteps, save_every, stats, frac, ncl, done)
    run_s = time.perf_counter() - t0
    with np.errstate(over="ignore", invalid="ignore"):
        sizes = np.sqrt(np.einsum("s...j,s...j->s...", state, state))
    if not (np.all(np.isfinite(state)) and np.all(sizes > 0) and np.all(np.isfinite(sizes))):
        raise ParticlesError(
            f"the ensemble diverged ({m.name}, dt = {dt:g}): its final states are not finite or "
            "have collapsed to 0, so its statistics are meaningless; reduce dt (or nGPT's alpha)"
        )
    return EnsembleResult(
        t=np.arange(T) * (save_every * dt),
        pair_fraction=frac,
        n_clusters=ncl,
        final=state,
        t_final=done * dt,
        compile_s=compile_s,
        run_s=run_s,
        meta={"method": m.name, "kind": kind.upper(), "dt": dt, "delta": delta, **meta},
    )


def _states(a, name: str, shape: str):
    """A C-contiguous float64 copy of ``a`` with a leading system axis (a 2-D array is one system)."""
    x = real_array(a, name, shape, finite=True, copy=True)
    return x[None] if x.ndim == 2 else x


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
    the (S, n, n) Gram matrices at ``t_final``. Cost O(S n^3) per step, independent of d.
    """
    opts = _options(locals())
    G = _states(G0, "G0", "(S, n, n)")
    if G.ndim != 3 or G.shape[1] != G.shape[2] or G.shape[1] < 1:
        raise ParticlesError(f"G0 must have shape (S, n, n), got {np.shape(G0)}")
    if np.max(np.abs(np.diagonal(G, axis1=1, axis2=2) - 1.0), initial=0.0) > 1e-8:
        raise ParticlesError("G0 must be Gram matrices of unit vectors (diagonal = 1)")
    advance = lambda *a: _gram_ensemble(G, *a)
    return _run(G, advance, has_V=False, meta={"n": G.shape[1]}, **opts)


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
    norm: str = "post",
    alpha: float = 1.0,
    t_switch: float | None = None,
    t_offset: float = 1.0,
) -> EnsembleResult:
    """Advance S systems ``X0`` (S, n, d) with logits beta x_i^T B x_j (B = Q^T K) and values V x_j.

    ``B``, ``V``: None (identity), one (d, d) matrix shared by all systems, or (S, d, d) one per system.
    ``final`` is the (S, n, d) points at ``t_final``.

    ``norm``: the normalisation scheme (:mod:`particles.norms`; ``alpha`` for nGPT, ``t_switch``
    for Mix-LN, rounded to a whole number of steps, ``t_offset`` for LN-Scaling, whose steps are
    Post-LN steps in its clock, as :func:`particles.solvers.integrate.step`). For ``"pre"``/``"peri"`` the states are
    residual streams (any nonzero rows; ``final`` holds them) and the statistics are those of the
    directions; early stopping is for Post-LN only.
    """
    opts = _options(locals())
    from ..params import Dynamics

    scheme = Dynamics(norm=norm, alpha=alpha, t_switch=t_switch, t_offset=t_offset)  # validates
    X = _states(X0, "X0", "(S, n, d)")
    if X.ndim != 3 or X.shape[1] < 1 or X.shape[2] < 2:
        raise ParticlesError(f"X0 must have shape (S, n, d) with d >= 2, got {np.shape(X0)}")
    if scheme.norm in ("pre", "peri"):
        if np.any(np.linalg.norm(X, axis=2) == 0.0):
            raise ParticlesError("X0 has a zero row: its direction is undefined")
    elif np.max(np.abs(np.linalg.norm(X, axis=2) - 1.0), initial=0.0) > 1e-8:
        raise ParticlesError("X0 must be points on the unit sphere (normalise the rows first)")
    S, n, d = X.shape
    Bw, Vw = _weights(B, "B", S, d), _weights(V, "V", S, d)
    meta = {"n": n, "d": d}
    if scheme.norm == "post":
        advance = lambda *a: _coord_ensemble(X, Bw, Vw, *a)
        return _run(X, advance, has_V=Vw.shape[0] > 0, meta=meta, **opts)
    if scheme.norm == "mix":
        codes = np.array([NORM_CODES["post"], NORM_CODES["pre"]])
        k_switch = round(min(scheme.t_switch / float(dt), 2.0**62))  # past the end: no switch
    else:
        codes = np.array([NORM_CODES[scheme.norm]] * 2)
        k_switch = 0
    meta.update(norm=scheme.norm, alpha=scheme.alpha, t_switch=scheme.t_switch)
    if scheme.norm == "lns":  # the kernels take LN-Scaling's clock offset in the alpha slot
        meta["t_offset"] = scheme.t_offset
    opts["early_stop"] = False

    def advance(betas, usa, sch, dt_, nsteps, save_every, stats, frac, ncl, done):
        _coord_norm_ensemble(
            X,
            Bw,
            Vw,
            betas,
            usa,
            sch,
            codes,
            k_switch,
            scheme.t_offset if scheme.norm == "lns" else scheme.alpha,
            dt_,
            nsteps,
            save_every,
            stats,
            frac,
            ncl,
            done,
        )

    return _run(X, advance, has_V=Vw.shape[0] > 0, meta=meta, **opts)


@dataclass(frozen=True, kw_only=True)
class NoisyEnsembleResult:
    """Statistics of a noisy ensemble run (:func:`ensemble_noisy`).

    ``t`` (T,) record times; ``r`` (S, T) order parameter |mean_i x_i|; ``modes`` (S, T, M) harmonic
    mode amplitudes of degrees 1..M (``modes[..., 0]`` is r up to rounding); ``final`` (S, n, d) the
    last state; ``meta`` the parameters (seeds, stream, kappas, betas, ...).
    """

    t: np.ndarray
    r: np.ndarray
    modes: np.ndarray
    final: np.ndarray
    compile_s: float = 0.0
    run_s: float = 0.0
    meta: dict = field(default_factory=dict)


def noise_keys(seeds, stream: int = 0) -> np.ndarray:
    """The uint64 stream keys of systems with integer ``seeds`` (S,): splitmix64(splitmix64(seed) ^
    splitmix64(stream)). ``stream`` numbers successive runs of the same systems (e.g. the steps of a
    sweep in kappa) so that each run gets fresh noise."""
    sd = np.asarray(seeds)
    if sd.ndim == 0:
        sd = sd[None]
    if sd.ndim != 1 or not np.issubdtype(sd.dtype, np.integer) or np.any(sd < 0):
        raise ParticlesError("seeds must be a non-negative integer or a 1-D array of them")

    def mix(v: int) -> int:
        return int(_splitmix64(np.uint64(v % 2**64)))

    st = mix(int(stream))
    return np.array([mix(mix(int(v)) ^ st) for v in sd], np.uint64)


def _kappas(kappas, S):
    k = np.asarray(
        [np.inf if v is None else v for v in np.ravel(np.asarray(kappas, dtype=object))],
        dtype=np.float64,
    )
    if k.size == 1:
        k = np.full(S, float(k[0]))
    if k.shape[0] != S:
        raise ParticlesError(f"need one kappa per system ({S}), got {k.shape[0]}")
    if np.any(np.isnan(k)) or np.any(k <= 0):
        raise ParticlesError("kappas must be > 0 (inf or None: no noise)")
    return np.ascontiguousarray(k)


def ensemble_noisy(
    X0,
    betas,
    kappas,
    t_end: float,
    *,
    seeds,
    stream: int = 0,
    B=None,
    V=None,
    dt: float = 0.05,
    kind: str = "USA",
    save_every: int = 1,
    modes: int = 8,
) -> NoisyEnsembleResult:
    """Advance S noisy systems ``X0`` (S, n, d) by projected Euler–Maruyama (weak order 1).

    **Arguments:**
    - ``betas``, ``kappas``: one per system (S,) or scalars; ``kappa = inf`` (or None) is the ODE
      stepped by Euler on the tangent field.
    - ``seeds``: one non-negative integer per system (S,) or one for all (then every system has the
      same noise); ``stream`` (int): which run of these systems (see :func:`noise_keys`).
    - ``B``, ``V``: None (identity), a shared (d, d) matrix, or (S, d, d): logits beta x_i^T B x_j and
      values V x_j, as :func:`ensemble_coords`.
    - ``modes``: number M of harmonic modes recorded (degrees 1..M; 0 records r only, which is much
      cheaper for large n: the modes need the Gram matrix, O(n^2 M) per record).

    **Returns:** a :class:`NoisyEnsembleResult`; ``final`` holds the states at ``t_end``.
    """
    usa = _kind(kind)
    X = _states(X0, "X0", "(S, n, d)")
    if X.ndim != 3 or X.shape[1] < 1 or X.shape[2] < 2:
        raise ParticlesError(f"X0 must have shape (S, n, d) with d >= 2, got {np.shape(X0)}")
    if np.max(np.abs(np.linalg.norm(X, axis=2) - 1.0), initial=0.0) > 1e-8:
        raise ParticlesError("X0 must be points on the unit sphere (normalise the rows first)")
    S, n, d = X.shape
    b = _betas(betas, S)
    k = _kappas(kappas, S)
    sd = np.asarray(seeds)
    keys = noise_keys(np.full(S, int(sd)) if sd.ndim == 0 else sd, stream)
    if keys.shape[0] != S:
        raise ParticlesError(f"need one seed per system ({S}), got {keys.shape[0]}")
    Bw, Vw = _weights(B, "B", S, d), _weights(V, "V", S, d)
    nsteps, dt, save_every = _steps(t_end, dt, save_every)
    modes = int(modes)
    if modes < 0:
        raise ParticlesError(f"modes must be >= 0, got {modes}")
    T = nsteps // save_every + 1
    per_system = X[0].size + 6 * n * n + (modes + 1) * T  # state, kernel work, records
    check_memory(8.0 * S * per_system, f"{S} noisy systems of {n} particles, {T} records")
    r = np.empty((S, T))
    md = np.zeros((S, T, modes))
    compile_s = compile_noisy_kernels()
    t0 = time.perf_counter()
    _noisy_coord_ensemble(X, Bw, Vw, b, k, keys, usa, dt, nsteps, save_every, r, md)
    run_s = time.perf_counter() - t0
    return NoisyEnsembleResult(
        t=np.arange(T) * (save_every * dt),
        r=r,
        modes=md,
        final=X,
        compile_s=compile_s,
        run_s=run_s,
        meta={
            "method": "euler-maruyama",
            "kind": "USA" if usa else "SA",
            "dt": dt,
            "n": n,
            "d": d,
            "stream": int(stream),
            "seeds": np.asarray(sd).tolist(),
            "betas": b.tolist(),
            "kappas": [None if not np.isfinite(v) else float(v) for v in k],
            "noise": "counter-based SplitMix64 + Box-Muller (particles.kernels._counter_normals)",
        },
    )


_NOISY_COMPILED = False


def compile_noisy_kernels() -> float:
    """Compile (or load from the cache) the noisy ensemble kernel; seconds taken (0 if done)."""
    global _NOISY_COMPILED
    if _NOISY_COMPILED:
        return 0.0
    t0 = time.perf_counter()
    X = np.eye(2)[None].copy()
    e = np.zeros((0, 2, 2))
    one = np.ones(1)
    keys = np.zeros(1, np.uint64)
    _noisy_coord_ensemble(
        X, e, e, one, one, keys, False, 0.1, 1, 1, np.empty((1, 2)), np.empty((1, 2, 1))
    )
    _NOISY_COMPILED = True
    return time.perf_counter() - t0


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
    done = np.empty(1, np.int64)
    stats = (0.5, 0.5, True, True)
    for proj in (False, True):  # the scheme tuple's types do not depend on the method
        scheme = _scheme(registry.get("euler"))[:4] + (proj,)
        _gram_ensemble(G, np.ones(1), False, scheme, 0.1, 1, 1, stats, f, c, done)
        X = np.eye(2)[None].copy()
        e = np.zeros((0, 2, 2))
        _coord_ensemble(X, e, e, np.ones(1), False, scheme, 0.1, 1, 1, stats, f, c, done)
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


#: random weight ensembles of arXiv 2312.10794 Fig. 5 (authors' phase-diagrams.py flags in brackets)
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
    """Random (B, V) = (Q^T K, V) pairs of arXiv 2312.10794, Fig. 5, each (size, d, d).

    Entries are i.i.d. N(0, 1) before scaling (the authors' phase-diagrams.py):

    - ``"ginibre"``: B = G1 G2 / sqrt(d) (product of Ginibre Q^T and K), V = G3 G3^T / d (Wishart, PSD,
      eigenvalues in [0, 4], mean 1);
    - ``"ginibre-v=g"``: B = G1 G2 / sqrt(d), V = G3 / sqrt(d) (Ginibre V, eigenvalues filling the
      unit disk): what the paper's Fig. 5a label says, and its transition time (t ~ 7 for every beta);
    - ``"goe"``: B = (G + G^T) / sqrt(2) (GOE: off-diagonal entries of variance 1, like G1 G2 / sqrt(d)),
      V Wishart as above;
    - ``"ginibre-v=b"``: B = G1 G2 / sqrt(d), V = B / sqrt(d);
    - ``"goe-v=b"``: B GOE as above, V = B / sqrt(d + 1).

    These are the authors' scalings (phase-diagrams.py flags randomKQ = 1, 3 and randomV = 1, 2) as
    we read them, except the Wishart V: a first reading gave G G^T / sqrt(d), whose spectrum reaches
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
