"""Many independent small systems (seeds x beta [x kappa]) advanced by one numba kernel call, parallel
over systems.

Two formulations, every explicit Runge–Kutta method of the registry (:mod:`.registry`) and its
stochastic methods, statistics at checkpoints without storing trajectories. The numba kernels are in
:mod:`particles.field.kernels`; the coordinate formulation, noisy or not, runs through its one stepping loop
(``kernels._coord_system``), so a new step is written once.

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

Deterministic methods without a tableau (``"lie-euler"``, ``"geometric"``) and scipy's adaptive
methods run only in :func:`particles.simulate`.

``kind`` is ``"SA"`` (softmax, Z_i = sum_k exp(...)), ``"USA"`` (Z_i = n) or ``"SK"`` (Sinkhorn's
doubly stochastic matrix, arXiv 2110.11773, iterated in the log domain to the fixed tolerance
``kernels.SK_TOL`` = 1e-10; a system whose iteration does not converge within ``kernels.SK_MAX_ITER``
ends as a clear error).

Statistics recorded every ``save_every`` steps (and at t = 0): the fraction of ordered pairs i != j with
<x_i, x_j> > 1 - delta (the phase-diagram statistic of arXiv 2312.10794, Fig. 3) and the number of
clusters, the connected components of the graph <x_i, x_j> > 1 - cluster_delta.

**Noisy ensembles** (:func:`ensemble_noisy`): dx_i = f dt + sqrt(2/kappa) dB_i (B_i Brownian motion on
the sphere; the noisy transformer of arXiv 2512.01868 §7, the noise of arXiv 2312.10794 §9.4, Problem 7;
conventions in :mod:`particles.meanfield`), one
(beta, kappa, seed) per system, by any stochastic method of the registry that names a kernel step
(``registry.NOISY_ENSEMBLE_NAMES``): ``"euler-maruyama"`` (projected, weak order 1),
``"lie-euler-maruyama"`` (geodesic, weak order 1), ``"strang"`` (geometric splitting, weak order 2),
each the same scheme as :func:`particles.simulate` with that method. Recorded: the order parameter
r(t) = |mean_i x_i| and the harmonic mode amplitudes m_l(t) (Fourier modes |mean exp(i l theta)| on
the circle). Noise comes from a counter-based generator (SplitMix64 + Box–Muller,
:func:`particles.solvers.kernels._counter_normals`): system s draws from the stream
``noise_keys(seeds, stream)[s]``, and its Gaussian number (step n + i) d + c drives coordinate c of
particle i at that step (its ambient Brownian increment is sqrt(dt) times it). Every value depends
only on (seed, stream, step, i, c): the same seeds give the same paths on any number of threads (bit
for bit on one machine; on another CPU to rounding), and a system's path does not depend on which
other systems run.

**beta = inf** (hardmax attention) may be among the betas: the kernels compute softmax attention, so
those systems are advanced one at a time by the single run's step and the in-memory hardmax field,
bit for bit what :func:`particles.simulate` computes, with the kernels' statistics
(:mod:`particles.solvers.hardmax_ensemble`; kind ``"SA"``, methods ``"euler"``, ``"euler-tangent"``,
and ``"euler-maruyama"`` for the noisy ensembles).

Compiled kernels are cached on disk (``cache=True``); :func:`compile_kernels` compiles (or loads) them and
returns the seconds it took, so callers can report compile time apart from run time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParticlesError, count, number, real_array, whole
from ..model.params import check_beta
from ..model.sphere import as_rng
from ..resources import check_count, check_memory
from . import hardmax_ensemble, registry
from .kernels import (
    KIND_CODES,
    NORM_CODES,
    SK_MAX_ITER,
    STEP_CODES,
    _coord_ensemble,
    _gram_ensemble,
    _splitmix64,
)

#: the methods the deterministic ensembles run (a live view of the registry: every tableau)
METHODS = registry.ENSEMBLE_NAMES
#: the methods the noisy ensembles run (live: every stochastic method with a kernel step)
NOISY_METHODS = registry.NOISY_ENSEMBLE_NAMES
KINDS = ("SA", "USA", "SK")


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


def noisy_method(method) -> registry.Method:
    """The registered method ``method`` (a name or a :class:`~.registry.Method`), which must be one the
    noisy ensembles run: stochastic, with a kernel step (a clear error otherwise)."""
    m = registry.get(method)
    if not (m.stochastic and m.batched):
        why = "is not stochastic" if not m.stochastic else "has no ensemble kernel step"
        raise ParticlesError(
            f"method {m.name!r} {why}, so the noisy ensembles cannot run it; choose one of "
            f"{', '.join(NOISY_METHODS)}"
        )
    _scheme(m)  # a kernel step the loop has
    return m


def _method(method, noisy: bool = False) -> registry.Method:
    """The registered method ``method``, which the (noisy) ensembles must be able to run (a clear
    error otherwise)."""
    if noisy:
        return noisy_method(method)
    m = registry.get(method)
    if m.stochastic or not m.batched:
        why = "is stochastic (use ensemble_noisy)" if m.stochastic else "has no Runge–Kutta tableau"
        raise ParticlesError(
            f"method {m.name!r} {why}, so the batched ensembles cannot run it; "
            f"choose one of {', '.join(METHODS)} (or use particles.simulate)"
        )
    return m


def _scheme(m: registry.Method) -> tuple:
    """The method as the kernels take it: (a_num (s, s), a_den (s,), b_num (s,), b_den, projected,
    step). A stochastic method steps with its kernel step (:data:`particles.solvers.kernels.STEP_CODES`);
    its drift tableau is the one-stage tangent Euler tableau (read by the ``"additive"`` step only)."""
    if m.tableau is None and m.kernel not in STEP_CODES:
        raise ParticlesError(
            f"method {m.name!r}: kernel must be one of {', '.join(STEP_CODES)}, got {m.kernel!r}"
        )
    tab = m.tableau if m.tableau is not None else registry.Tableau(a=((),), b=(1,))
    s = tab.stages
    a_num, a_den = np.zeros((s, s)), np.ones(s)
    for q, (nums, den) in enumerate(tab.stage_integers()):
        a_num[q, :q] = nums
        a_den[q] = den
    b_nums, b_den = tab.weight_integers()
    step = STEP_CODES["additive"] if m.tableau is not None else STEP_CODES[m.kernel]
    return (
        a_num,
        a_den,
        np.array(b_nums, dtype=np.float64),
        float(b_den),
        bool(m.projected),
        step,
    )


def _kind(kind: str) -> int:
    """The kernels' code of ``kind`` (:data:`particles.solvers.kernels.KIND_CODES`): 0 SA, 1 USA, 2 SK."""
    k = str(kind).upper()
    k = "SK" if k == "SINKHORN" else k
    if k not in KINDS:
        raise ParticlesError(f"kind must be 'SA', 'USA' or 'SK', got {kind!r}")
    return KIND_CODES[k]


def _steps(t_end, dt, save_every):
    try:
        t_end, dt = float(t_end), float(dt)
    except (TypeError, ValueError):
        raise ParticlesError("t_end and dt must be numbers") from None
    if not (np.isfinite(dt) and dt > 0):
        raise ParticlesError(f"dt must be finite and > 0, got {dt}")
    if not (np.isfinite(t_end) and t_end >= 0):
        raise ParticlesError(f"t_end must be finite and >= 0, got {t_end}")
    nsteps = check_count(t_end / dt, "t_end / dt (the number of steps)")
    nsteps = round(t_end / dt)
    if abs(nsteps * dt - t_end) > 1e-9 * max(1.0, t_end) or (t_end > 0 and nsteps == 0):
        raise ParticlesError(f"t_end = {t_end} is not a whole number of steps dt = {dt}")
    save_every = whole(save_every, "save_every")
    if nsteps % save_every:
        raise ParticlesError(f"the {nsteps} steps are not a multiple of save_every = {save_every}")
    return nsteps, dt, save_every


def _betas(betas, S):
    b = real_array(betas, "betas")
    if b.ndim == 0:
        b = np.full(S, float(b))
    b = np.ascontiguousarray(b.ravel())
    if b.shape[0] != S:
        raise ParticlesError(f"need one beta per system ({S}), got {b.shape[0]}")
    fin = b[b != np.inf]  # beta = inf: hardmax members (particles.solvers.hardmax_ensemble)
    if not np.all(np.isfinite(fin)) or np.any(b < 0):
        raise ParticlesError("betas must be finite and >= 0, or inf (hardmax attention)")
    if fin.size:
        check_beta(float(fin.max()))
    return b


def _thresholds(delta, cluster_delta):
    delta = number(delta, "delta")
    cl = delta if cluster_delta is None else number(cluster_delta, "cluster_delta")
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
    a = real_array(M, name)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1:] != (d, d) or a.shape[0] not in (1, S):
        raise ParticlesError(
            f"{name} must have shape ({d}, {d}), (1, {d}, {d}) or ({S}, {d}, {d}); got {np.shape(M)}"
        )
    if not np.all(np.isfinite(a)):
        raise ParticlesError(f"{name} has non-finite entries")
    return np.ascontiguousarray(a)


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
    has_V,
    meta,
    noisy=False,
    delta=0.5,
    cluster_delta=None,
    count_clusters=False,
    early_stop=False,
    pairs=True,
    modes=0,
) -> dict:
    """The part every ensemble shares: validate, allocate the records, call ``advance(betas, usa,
    scheme, dt, nsteps, save_every, stats, frac, ncl, r, modes, done)`` (a kernel over ``state``),
    check the result. Records: the pair statistics with ``pairs``, else r and ``modes`` harmonic
    modes. Returns the records, the checkpoint times ``t``, ``t_final`` and the timings."""
    m, usa = _method(method, noisy), _kind(kind)
    S = state.shape[0]
    b = _betas(betas, S)
    nsteps, dt, save_every = _steps(t_end, dt, save_every)
    thr, thr_cl = _thresholds(delta, cluster_delta)
    modes = whole(modes, "modes", 0, 10**4)
    T = nsteps // save_every + 1
    # state, kernel work, records
    per_system = state[0].size + 12 * state.shape[1] ** 2 + (2 if pairs else modes + 1) * T
    check_memory(
        8.0 * S * per_system, f"{S} systems of {state.shape[1]} particles, {T} checkpoints"
    )
    frac = np.empty((S, T if pairs else 0))
    ncl = np.empty((S, T if pairs else 0), np.int64)
    r = np.empty((S, 0 if pairs else T))
    md = np.zeros((S, T, modes))
    done = np.empty(S, np.int64)
    compile_s = compile_kernels()
    t0 = time.perf_counter()
    stats = (thr, thr_cl, bool(count_clusters), _early(early_stop, m, dt, has_V))
    advance(b, usa, _scheme(m), dt, nsteps, save_every, stats, frac, ncl, r, md, done)
    run_s = time.perf_counter() - t0
    with np.errstate(over="ignore", invalid="ignore"):
        sizes = np.sqrt(np.einsum("s...j,s...j->s...", state, state))
    if not (np.all(np.isfinite(state)) and np.all(sizes > 0) and np.all(np.isfinite(sizes))):
        if usa == KIND_CODES["SK"]:
            raise ParticlesError(
                f"the ensemble's final states are not finite ({m.name}, dt = {dt:g}): either the "
                f"step diverged (reduce dt) or Sinkhorn's iteration did not reach its tolerance "
                f"within {SK_MAX_ITER} iterations (reduce beta)"
            )
        raise ParticlesError(
            f"the ensemble diverged ({m.name}, dt = {dt:g}): its final states are not finite or "
            "have collapsed to 0, so its statistics are meaningless; reduce dt (or nGPT's alpha)"
        )
    return {
        "t": np.arange(T) * (save_every * dt),
        "pair_fraction": frac,
        "n_clusters": ncl,
        "r": r,
        "modes": md,
        "t_final": done * dt,
        "compile_s": compile_s,
        "run_s": run_s,
        "meta": {"method": m.name, "kind": KINDS[usa], "dt": dt, **meta},
    }


def _deterministic(state, advance, *, has_V, meta, delta, **opts) -> EnsembleResult:
    """:func:`_run` with the pair statistics, as an :class:`EnsembleResult`."""
    rec = _run(state, advance, has_V=has_V, meta={"delta": delta, **meta}, delta=delta, **opts)
    return EnsembleResult(
        final=state,
        **{k: rec[k] for k in ("t", "pair_fraction", "n_clusters", "t_final")},
        **{k: rec[k] for k in ("compile_s", "run_s", "meta")},
    )


def _states(a, name: str, shape: str):
    """A C-contiguous float64 copy of ``a`` with a leading system axis (a 2-D array is one system)."""
    x = real_array(a, name, shape, finite=True, copy=True)
    x = x[None] if x.ndim == 2 else x
    if x.ndim == 3 and x.shape[0] == 0:
        raise ParticlesError(f"{name} holds no system (shape {x.shape})")
    return x


def _points(X0, on_sphere: bool = True):
    """X0 as (S, n, d) states: points on the unit sphere, or (``on_sphere=False``) residual streams
    with nonzero rows."""
    X = _states(X0, "X0", "(S, n, d)")
    if X.ndim != 3 or X.shape[1] < 1 or X.shape[2] < 2:
        raise ParticlesError(f"X0 must have shape (S, n, d) with d >= 2, got {np.shape(X0)}")
    if not on_sphere:
        if np.any(np.linalg.norm(X, axis=2) == 0.0):
            raise ParticlesError("X0 has a zero row: its direction is undefined")
    elif np.max(np.abs(np.linalg.norm(X, axis=2) - 1.0), initial=0.0) > 1e-8:
        raise ParticlesError("X0 must be points on the unit sphere (normalise the rows first)")
    return X


def _coords(X, Bw, Vw, norm, kappas=None, keys=None, method="euler"):
    """``advance`` of :func:`_run` for the coordinate states X (S, n, d): the one coordinate loop,
    ``norm`` = (codes, k_switch, alpha), noise of ``kappas`` (S,) (None: none) from ``keys`` (S,).
    Members with beta = inf go through :func:`particles.solvers.hardmax_ensemble.coords`."""
    S = X.shape[0]
    noisy = kappas is not None
    kappas = np.full(S, np.inf) if kappas is None else kappas
    keys = np.zeros(S, np.uint64) if keys is None else keys

    def advance(betas, usa, scheme, *rest):  # rest: dt, nsteps, ..., the records and done
        if not np.any(betas == np.inf):
            _coord_ensemble(X, Bw, Vw, betas, usa, scheme, norm, kappas, keys, *rest)
            return
        dt, nsteps, save_every, stats, *recs = rest

        def kernel(sel, Xs, *rs):
            Bs, Vs = (w[sel] if w.shape[0] == S else w for w in (Bw, Vw))
            args = (Xs, Bs, Vs, betas[sel], usa, scheme, norm, kappas[sel], keys[sel], dt, nsteps)
            _coord_ensemble(*args, save_every, stats, *rs)

        def member(s, *rs):
            B, V = (None if w.shape[0] == 0 else w[min(s, w.shape[0] - 1)] for w in (Bw, Vw))
            rs[-1][...] = hardmax_ensemble.coords(
                X[s],
                B,
                V,
                norm,
                method,
                dt,
                nsteps,
                save_every,
                stats,
                *rs[:-1],
                kappa=kappas[s],
                key=keys[s],
            )

        hardmax_ensemble.check_method(method, noisy)
        hardmax_ensemble.check_kind(usa)
        hardmax_ensemble.split(betas, kernel, member, X, *recs)

    return advance


def _post_ln() -> tuple:
    """The Post-LN scheme as the coordinate loop's ``norm`` = (codes, k_switch, alpha)."""
    return (np.array([NORM_CODES["post"]] * 2, np.int64), 0, 0.0)


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
    opts = {k: v for k, v in locals().items() if k != "G0"}
    G = _states(G0, "G0", "(S, n, n)")
    if G.ndim != 3 or G.shape[1] != G.shape[2] or G.shape[1] < 1:
        raise ParticlesError(f"G0 must have shape (S, n, n), got {np.shape(G0)}")
    if np.max(np.abs(np.diagonal(G, axis1=1, axis2=2) - 1.0), initial=0.0) > 1e-8:
        raise ParticlesError("G0 must be Gram matrices of unit vectors (diagonal = 1)")

    def advance(betas, usa, scheme, dt, nsteps, save_every, stats, frac, ncl, r, modes, done):
        if not np.any(betas == np.inf):
            _gram_ensemble(G, betas, usa, scheme, dt, nsteps, save_every, stats, frac, ncl, done)
            return

        def kernel(sel, Gs, fs, cs, ds):
            _gram_ensemble(Gs, betas[sel], usa, scheme, dt, nsteps, save_every, stats, fs, cs, ds)

        def member(s, fs, cs, ds):
            ds[...] = hardmax_ensemble.gram(G[s], method, dt, nsteps, save_every, stats, fs, cs)

        hardmax_ensemble.check_method(method)
        hardmax_ensemble.check_kind(usa)
        hardmax_ensemble.split(betas, kernel, member, G, frac, ncl, done)

    return _deterministic(G, advance, has_V=False, meta={"n": G.shape[1]}, **opts)


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

    ``norm``: the normalisation scheme (:mod:`particles.field.norms`; ``alpha`` for nGPT, ``t_switch``
    for Mix-LN, rounded to a whole number of steps, ``t_offset`` for LN-Scaling, whose steps are
    Post-LN steps in its clock, as :func:`particles.solvers.integrate.step`). For ``"pre"``/``"peri"`` the states are
    residual streams (any nonzero rows; ``final`` holds them) and the statistics are those of the
    directions; early stopping is for Post-LN only.
    """
    opts = {
        k: v
        for k, v in locals().items()
        if k not in ("X0", "B", "V", "norm", "alpha", "t_switch", "t_offset")
    }
    from ..model.params import Dynamics

    scheme = Dynamics(norm=norm, alpha=alpha, t_switch=t_switch, t_offset=t_offset)  # validates
    X = _points(X0, on_sphere=scheme.norm not in ("pre", "peri"))
    S, n, d = X.shape
    Bw, Vw = _weights(B, "B", S, d), _weights(V, "V", S, d)
    meta = {"n": n, "d": d}
    if scheme.norm == "post":
        codes, k_switch, _ = _post_ln()
    elif scheme.norm == "mix":
        codes = np.array([NORM_CODES["post"], NORM_CODES["pre"]], np.int64)
        k_switch = round(min(scheme.t_switch / float(dt), 2.0**62))  # past the end: no switch
    else:
        codes = np.array([NORM_CODES[scheme.norm]] * 2, np.int64)
        k_switch = 0
    if scheme.norm != "post":
        meta.update(norm=scheme.norm, alpha=scheme.alpha, t_switch=scheme.t_switch)
        opts["early_stop"] = False
    if scheme.norm == "lns":  # the kernels take LN-Scaling's clock offset in the alpha slot
        meta["t_offset"] = scheme.t_offset
    slot = scheme.t_offset if scheme.norm == "lns" else scheme.alpha
    advance = _coords(X, Bw, Vw, (codes, int(k_switch), float(slot)), method=method)
    return _deterministic(X, advance, has_V=Vw.shape[0] > 0, meta=meta, **opts)


@dataclass(frozen=True, kw_only=True)
class NoisyEnsembleResult:
    """Statistics of a noisy ensemble run (:func:`ensemble_noisy`).

    ``t`` (T,) record times; ``r`` (S, T) order parameter |mean_i x_i|; ``modes`` (S, T, M) harmonic
    mode amplitudes of degrees 1..M (``modes[..., 0]`` is r up to rounding); ``final`` (S, n, d) the
    last state; ``meta`` the parameters (method, seeds, stream, kappas, betas, ...).
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
    try:
        sd = np.asarray(seeds)
    except ValueError:  # ragged
        raise ParticlesError(
            "seeds must be a non-negative integer or a 1-D array of them"
        ) from None
    if sd.ndim == 0:
        sd = sd[None]
    if sd.ndim != 1 or not np.issubdtype(sd.dtype, np.integer) or np.any(sd < 0):
        raise ParticlesError("seeds must be a non-negative integer or a 1-D array of them")

    def mix(v: int) -> int:
        return int(_splitmix64(np.uint64(v % 2**64)))

    st = mix(count(stream, "stream", 0))
    return np.array([mix(mix(int(v)) ^ st) for v in sd], np.uint64)


def _kappas(kappas, S):
    try:
        k = np.asarray(
            [np.inf if v is None else v for v in np.ravel(np.asarray(kappas, dtype=object))],
            dtype=np.float64,
        )
    except (TypeError, ValueError):
        raise ParticlesError(f"kappas must be numbers > 0 (or None), got {kappas!r}") from None
    if k.size == 0:
        raise ParticlesError("kappas is empty")
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
    method: str = "euler-maruyama",
    kind: str = "USA",
    save_every: int = 1,
    modes: int = 8,
) -> NoisyEnsembleResult:
    """Advance S noisy systems ``X0`` (S, n, d) of dx_i = f_i dt + sqrt(2/kappa) dB_i on the sphere.

    **Arguments:**
    - ``betas``, ``kappas``: one per system (S,) or scalars; ``kappa = inf`` (or None) is the ODE
      stepped by the method's drift step (Euler on the tangent field for ``"euler-maruyama"``).
    - ``seeds``: one non-negative integer per system (S,) or one for all (then every system has the
      same noise); ``stream`` (int): which run of these systems (see :func:`noise_keys`).
    - ``method``: a stochastic method of the registry with a kernel step (:data:`NOISY_METHODS`):
      ``"euler-maruyama"`` (projected, weak order 1), ``"lie-euler-maruyama"`` (geodesic, weak
      order 1) or ``"strang"`` (weak order 2, 4 field evaluations per step); the same schemes as
      :func:`particles.simulate` with that method, driven by the increments sqrt(dt) z of the
      counter-based normals z (see the module docstring).
    - ``B``, ``V``: None (identity), a shared (d, d) matrix, or (S, d, d): logits beta x_i^T B x_j and
      values V x_j, as :func:`ensemble_coords`.
    - ``modes``: number M of harmonic modes recorded (degrees 1..M; 0 records r only, which is much
      cheaper for large n: the modes need the Gram matrix, O(n^2 M) per record).

    **Returns:** a :class:`NoisyEnsembleResult`; ``final`` holds the states at ``t_end``.

    **Raises:** :class:`ParticlesError` for a method the noisy ensembles do not run, and bad input.
    """
    _method(method, noisy=True)
    X = _points(X0)
    S, n, d = X.shape
    b, k = _betas(betas, S), _kappas(kappas, S)
    keys = noise_keys(seeds, stream)  # checks the seeds
    sd = np.asarray(seeds)
    if sd.ndim == 0:
        keys = noise_keys(np.full(S, int(sd)), stream)
    if keys.shape[0] != S:
        raise ParticlesError(f"need one seed per system ({S}), got {keys.shape[0]}")
    Bw, Vw = _weights(B, "B", S, d), _weights(V, "V", S, d)
    meta = {
        "n": n,
        "d": d,
        "stream": int(stream),
        "seeds": np.asarray(sd).tolist(),
        "betas": b.tolist(),
        "kappas": [None if not np.isfinite(v) else float(v) for v in k],
        "noise": "counter-based SplitMix64 + Box-Muller (particles.solvers.kernels._counter_normals)",
    }
    advance = _coords(X, Bw, Vw, _post_ln(), k, keys, method=method)
    rec = _run(
        X,
        advance,
        betas=b,
        t_end=t_end,
        dt=dt,
        method=method,
        kind=kind,
        save_every=save_every,
        has_V=Vw.shape[0] > 0,
        meta=meta,
        noisy=True,
        pairs=False,
        modes=modes,
    )
    return NoisyEnsembleResult(
        final=X, **{k: rec[k] for k in ("t", "r", "modes", "compile_s", "run_s", "meta")}
    )


_COMPILED = False


def compile_kernels() -> float:
    """Compile (or load from the on-disk cache) the ensemble kernels, noisy or not; seconds taken
    (0 if done)."""
    global _COMPILED
    if _COMPILED:
        return 0.0
    t0 = time.perf_counter()
    f = np.empty((1, 2))
    c = np.empty((1, 2), np.int64)
    r, md = np.empty((1, 2)), np.empty((1, 2, 1))
    done = np.empty(1, np.int64)
    stats = (0.5, 0.5, True, True)
    e = np.zeros((0, 2, 2))
    one, key = np.ones(1), np.zeros(1, np.uint64)
    for proj in (False, True):  # the scheme tuple's types do not depend on the method
        scheme = _scheme(registry.get("euler"))[:4] + (proj, 0)
        G = np.eye(2)[None].copy()
        _gram_ensemble(G, one, False, scheme, 0.1, 1, 1, stats, f, c, done)
        X = np.eye(2)[None].copy()
        _coord_ensemble(
            X, e, e, one, False, scheme, _post_ln(), one, key, 0.1, 1, 1, stats, f, c, r, md, done
        )
    _COMPILED = True
    return time.perf_counter() - t0


#: the noisy ensembles share the kernels of :func:`compile_kernels` (alias kept for callers)
compile_noisy_kernels = compile_kernels


# --------------------------------------------------------------------------------------------------
# initial conditions and random weights


def random_gram(
    n: int, d: int, size: int, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """Gram matrices of ``size`` independent sets of n i.i.d. uniform points on S^{d-1}: (size, n, n).

    Drawn as normalised Gaussians, exactly like :func:`particles.random_points` (cost O(n^2 d) once).
    """
    X = random_points_batch(n, d, size, rng)
    G = X @ np.swapaxes(X, 1, 2)
    idx = np.arange(n)
    G[:, idx, idx] = 1.0
    return G


def random_points_batch(
    n: int, d: int, size: int, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """(size, n, d) i.i.d. uniform points on S^{d-1} (normalised standard Gaussians)."""
    n, d, size = whole(n, "n", 1), whole(d, "d", 2), whole(size, "size", 1)
    check_memory(8.0 * 3 * size * n * max(n, d), f"{size} systems of {n} points in dimension {d}")
    g = as_rng(rng).standard_normal((size, n, d))
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
    d, size = whole(d, "d", 2), whole(size, "size", 1)
    check_memory(8.0 * 5 * size * d * d, f"{size} weight matrices of size {d}")
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
