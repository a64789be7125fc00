"""Time integration of the attention dynamics: :func:`simulate`.

The methods come from the one registry, :mod:`particles.solvers.registry` (``registry.names()``):

- fixed step (``dt`` is the largest step; intervals between save times and segment boundaries are
  split into equal steps, so those times are hit exactly), every step followed by normalisation
  onto the sphere, so |x_i| = 1 to rounding:

  - ``"euler"``: x <- normalise(x + h [attention output]), the unprojected update. One step is
    exactly one residual attention layer followed by LayerNorm (post-LN), the discretisation of
    arXiv 2312.10794, Sect. 2 and the authors' scheme. Order 1.
  - ``"euler-tangent"``: x <- normalise(x + h f(x)) with the tangent field f. Order 1.
  - ``"rk4"``: classical Runge–Kutta 4 on the tangent field, then normalise. Order 4.
  - ``"lie-euler"``: x <- exp_x(h f(x)) (Riemannian exponential map). Order 1.
  - ``"geometric"``: Lie midpoint (RKMK of order 2), a rotation per step. Order 2.

- the normalisation schemes (``Dynamics(norm=...)``, :mod:`particles.field.norms`): the field is
  :func:`particles.field.drift`; Post-LN and nGPT states are renormalised as above, the residual
  stream of Pre-LN and Peri-LN is not (x0 may be any nonzero rows) and the Lie methods step it on
  S^{d-1} x R_+ (their ``free_step``); Mix-LN runs as Post-LN up to ``t_switch`` and Pre-LN after
  (:func:`_segments` splits it); LN-Scaling (``"lns"``) is Post-LN in the clock
  τ = 2 sqrt(t + c), which its fixed steps use exactly (:func:`step`).

- adaptive: scipy's ``"RK45"``, ``"RK23"``, ``"DOP853"``, ``"LSODA"``, ``"BDF"``, ``"Radau"``, stepped
  one by one (progress, checkpoints) with dense output at the save times
  (:mod:`particles.solvers.adaptive`). The drift away from the sphere is reported in
  ``stats["max_norm_drift"]`` and the saved states are renormalised.

- stochastic, for the noisy dynamics (``Dynamics(kappa=...)``: dx_i = f dt + sqrt(2/kappa) dB_i with
  B_i Brownian motion on the sphere; conventions in :mod:`particles.meanfield`): ``"euler-maruyama"``
  (projected, weak order 1), ``"lie-euler-maruyama"`` (geodesic, weak order 1), ``"strang"``
  (splitting, weak order 2). Fixed step like the ODE methods. **Noise increments:** one block of
  (n, d) standard normals per step, drawn in step order from a numpy Generator (``rng``: a seed or a
  Generator) and scaled by sqrt(h); nothing else draws from it, so a seed fixes the path whatever
  the number of threads (bit for bit on one machine; another CPU's BLAS kernels and numba target may
  round differently, measured to ~1e-14 after 500 steps: benchmarks/RESULTS.md §6d). The seed and
  the generator's state at the last saved time are stored with the result, so an interrupted run
  resumes on the same path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time as _time
from pathlib import Path

import numpy as np

from ..errors import Overflow, ParticlesError, count, finite, flag, number, real_array
from ..field import check_dtype, check_points, check_stream, drift, fixed_order, velocity
from ..field.norms import clock
from ..interrupts import signum_of, sigterm_raises
from ..model.params import Dynamics, Piecewise
from ..model.sphere import normalize_rows, rescale_rows
from ..resources import check_memory
from ..storage.npz import check_writable, sigint_held
from ..storage.records import dynamics_to_record
from ..storage.trajectory import Trajectory
from ..storage.zarr import TrajectoryStore, is_store_path
from . import registry, steps
from .adaptive import make_solver
from .checkpoint import (
    Checkpoint,
    Interrupted,
    StoreCheckpoint,
    decode_state,
    discard,
    encode_state,
    plan,
    side_path,
    solver_state,
)

__all__ = ["METHODS", "Diverged", "Interrupted", "StepLimit", "simulate", "step"]

#: scipy's explicit Runge–Kutta methods, whose rejected steps can be counted from field evaluations
_EXPLICIT_RK = ("RK45", "RK23", "DOP853")

#: every method name (a live view of the registry)
METHODS = registry.NAMES
DEFAULT_DT = 0.05
DEFAULT_SAVES = 101
#: tolerances of the adaptive (scipy) methods
DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-10
#: seconds between checkpoint writes
DEFAULT_CHECKPOINT_EVERY = 30.0
#: the most steps a run may take (fixed step: refused before it starts; adaptive: see StepLimit)
DEFAULT_MAX_STEPS = 10**8
#: an explicit adaptive method's step settles within this factor of its size after its first
#: steps (its stability region bounds it: RK45 0.11 -> 1.8, DOP853 0.6 -> 3.2 at n = 64, beta = 1),
#: so a run whose projected step count exceeds STEP_GROWTH * max_steps is refused at once
STEP_GROWTH = 100
#: the steps an explicit adaptive method takes before its step count is projected
PROJECT_AFTER = 10


def canonical_method(method) -> str:
    """The canonical spelling of an integrator name (case-insensitive), or a clear error."""
    return registry.get(method).name


#: states beyond this size have a squared norm that overflows float64: the run has diverged
_HUGE = float(np.sqrt(np.finfo(np.float64).max))


class _Diverged(Exception):
    """A stage of a step met a non-finite state (simulate turns it into a clear error)."""


class Diverged(ParticlesError):
    """The solution of :func:`simulate` became non-finite (the message says where and what to
    change)."""


class StepLimit(ParticlesError):
    """An adaptive run of :func:`simulate` needs more than ``max_steps`` steps (the message says
    how far it got; its checkpoint is kept, and resumes with a larger ``max_steps``)."""


def _field(dyn: Dynamics, dtype, project: bool, scheduler=None):
    """x -> the field at x (float64 result), evaluated in ``dtype`` (on ``scheduler`` if given).
    ``dyn.norm`` must not be ``"mix"`` (the driver splits Mix-LN into its Post-LN and Pre-LN parts,
    :func:`_segments`)."""
    field = velocity if dyn.norm == "post" else drift
    kw = {} if scheduler is None else {"scheduler": scheduler}

    def f(y):
        if not np.all(np.abs(y) < _HUGE):  # non-finite, or so large that its norm overflows
            raise _Diverged
        with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported as Diverged
            try:
                if dtype is np.float64:
                    return field(y, dyn, project=project, **kw)
                # field in single precision, state and step arithmetic in float64
                return field(y, dyn, dtype=dtype, project=project, **kw).astype(np.float64)
            except Overflow:  # the field at this stage is beyond the float range
                raise _Diverged from None

    return f


def step(
    method,
    x: np.ndarray,
    h: float,
    dyn: Dynamics,
    dtype=np.float64,
    dW=None,
    *,
    scheduler=None,
    t: float = 0.0,
) -> tuple[np.ndarray, int]:
    """One fixed step of size h of a registered method; returns (new x, field evals).

    ``t``: the time the step starts at; only LN-Scaling (``norm="lns"``) depends on it. Its step
    [t, t + h] is the Post-LN step of length τ(t + h) - τ(t) in its clock τ
    (:func:`particles.field.norms.clock`), an exact change of time, so every method keeps its order
    (``euler``: one LN-Scaling layer x <- N(x + Δτ A(x)), Δτ = h / sqrt(t + c) + O(h^2)).

    The step is normalised when the scheme's state is on the sphere (Post-LN, nGPT, LN-Scaling),
    not for the
    residual stream of Pre-/Peri-LN, where the custom-step methods use their ``free_step``.
    ``dW`` (n, d): the ambient Brownian increments (N(0, h I)) of a stochastic method's step; needed
    when ``dyn.kappa`` is finite (the noise is Brownian motion on the sphere: Post-LN only).
    ``scheduler``: evaluate the field on a Dask cluster (see :func:`particles.velocity`)."""
    m = registry.get(method)
    if dyn.norm == "lns":
        h = float(clock(t + h, dyn.t_offset) - clock(t, dyn.t_offset))
        dyn = dyn.replace(norm="post", t_offset=1.0)
    f = _field(dyn, dtype, m.projected, scheduler)
    if m.stochastic:
        if not dyn.on_sphere:  # no noise here (Dynamics refuses kappa off the sphere)
            return m.free_step(x, h, f)
        if dyn.noisy and dW is None:
            raise ParticlesError(f"{m.name}: a noisy step needs the Brownian increments dW")
        y, nfev = m.step(x, h, f, dW if dyn.noisy else None, dyn.kappa)
        return normalize_rows(y), nfev
    if dyn.noisy:
        raise ParticlesError(_needs_sde(m.name, dyn.kappa))
    if not dyn.on_sphere:
        if m.tableau is not None:
            return steps.explicit_rk(m.tableau, x, h, f)
        if m.free_step is not None:
            return m.free_step(x, h, f)
        if m.step is not None:
            raise ParticlesError(
                f"{m.name} steps on the sphere only; norm={dyn.norm!r} evolves a residual stream "
                "in R^d (register a free_step for it, or use a Runge-Kutta or scipy method)"
            )
        raise ParticlesError(f"{m.name} is adaptive, not a fixed-step method")
    if m.tableau is not None:
        y, nfev = steps.explicit_rk(m.tableau, x, h, f)
    elif m.step is not None:
        y, nfev = m.step(x, h, f)
    else:
        raise ParticlesError(f"{m.name} is adaptive, not a fixed-step method")
    return normalize_rows(y), nfev


_step = step  # the name tests patch to inject failures


def _needs_sde(method: str, kappa) -> str:
    return (
        f"kappa = {kappa:g} makes the dynamics stochastic, and {method} integrates ODEs; choose a "
        f"stochastic method: {', '.join(registry.names(stochastic=True))}"
    )


def _kappas(dyn: Dynamics | Piecewise) -> list:
    segs = [dyn] if isinstance(dyn, Dynamics) else [d for d, _ in dyn.segments]
    return [d.kappa for d in segs if d.noisy]


def _noise_seed(rng, resume: bool, checkpoint) -> tuple[np.random.Generator, int | None]:
    """The Generator of the Brownian increments and the seed to record (None: a Generator given).

    ``rng`` None draws a fresh seed, which is recorded; when resuming, the checkpoint's seed is
    taken instead, so ``resume=True`` needs no seed.
    """
    if isinstance(rng, np.random.Generator):
        return rng, None
    if rng is None and resume and checkpoint is not None:
        for p in (side_path(checkpoint), Path(checkpoint)):  # where a partial run may be
            if p.exists():
                try:
                    rng = Trajectory.load(p).meta.get("noise_seed")
                except ParticlesError:
                    rng = None
                if rng is not None:
                    break
    if rng is None:
        rng = int(np.random.SeedSequence().entropy)
    try:
        if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)):
            raise TypeError  # 1.7 or "7" is a slip, not a seed
        seed = int(rng)
    except (TypeError, ValueError):
        raise ParticlesError(
            f"rng must be an integer seed, a numpy Generator or None, got {rng!r}"
        ) from None
    if seed < 0:
        raise ParticlesError(f"the noise seed must be >= 0, got {seed}")
    return np.random.default_rng(seed), seed


def _segments(dyn: Dynamics | Piecewise, t_end: float) -> list[tuple[float, float, Dynamics]]:
    """[(start, stop, dynamics)] covering [0, t_end]; a Mix-LN segment is split at its t_switch
    into a Post-LN and a Pre-LN part."""
    if isinstance(dyn, Dynamics):
        out = [(0.0, t_end, dyn)]
    else:
        out, start = [], 0.0
        for k, (d, dur) in enumerate(dyn.segments):
            stop = t_end if k == len(dyn.segments) - 1 else min(t_end, start + dur)
            if stop > start:
                out.append((start, stop, d))
            start += dur
            if start >= t_end:
                break
    if not any(d.norm == "mix" for _, _, d in out):
        return out
    split = []
    for a, b, d in out:
        if d.norm != "mix":
            split.append((a, b, d))
            continue
        ts = d.t_switch
        post, pre = d.replace(norm="post", t_switch=None), d.replace(norm="pre", t_switch=None)
        if ts > a:
            split.append((a, min(b, ts), post))
        if ts < b:
            split.append((max(a, ts), b, pre))
    return split


def _store_solver_state(store, fixed: bool) -> dict | None:
    """The solver state an adaptive run left in its store (None for a fixed-step run, or none)."""
    p = store.path / StoreCheckpoint.STATE
    if fixed or not p.exists():
        return None
    try:
        return decode_state(json.loads(p.read_text()))
    except (OSError, ValueError):
        raise ParticlesError(f"{p}: corrupted solver state") from None


def _hits(targets: np.ndarray, b: float, tol: float, saved: np.ndarray) -> int | None:
    """The index of the first save time of the sorted ``targets`` within ``tol`` of the stop ``b``
    not yet recorded, or None; marks every one within ``tol`` as recorded. The test is
    ``|target - b| <= tol`` on the few targets near ``b`` (found by bisection: O(log k) a stop,
    where testing every target made k save times cost O(k^2))."""
    lo = int(np.searchsorted(targets, b - 2 * tol, side="left"))
    hi = int(np.searchsorted(targets, b + 2 * tol, side="right"))
    near = np.abs(targets[lo:hi] - b) <= tol
    hit = near & ~saved[lo:hi]
    saved[lo:hi] |= near
    return lo + int(np.argmax(hit)) if hit.any() else None


def _check_projection(method: str, solver, nsteps: int, t_end: float, max_steps: int) -> None:
    """Refuse an explicit adaptive run whose step count, projected at its current step size,
    exceeds ``STEP_GROWTH * max_steps``: its stability region keeps the step near this size."""
    h = float(getattr(solver, "h_abs", 0.0) or 0.0)
    if h <= 0:
        return
    need = nsteps + (t_end - solver.t) / h
    if need > STEP_GROWTH * max_steps:
        raise ParticlesError(
            f"{method} would need ~{need:.2g} steps to reach t_end = {t_end:g} (step {h:.3g} "
            f"after its first {nsteps} steps; an explicit method's step stays within a factor "
            f"~{STEP_GROWTH} of that), more than max_steps = {max_steps:.3g}; shorten t_end, use "
            "an implicit method (LSODA, BDF, Radau) or pass a larger max_steps"
        )


def _amend(err: ParticlesError, where) -> None:
    """Add to ``err``'s message that the earlier result at the output path was kept."""
    if where.kept is not None and err.args:
        err.args = (f"{err.args[0]}; {where.kept} (an earlier result) was kept unchanged",)


def _check_work(save_at, dyn, t_end: float, dt: float | None, max_steps: int) -> None:
    """Refuse a run whose saved states (each a step's worth of work: a copy, a dense-output
    evaluation, the bookkeeping) and steps, those the save times force included (a fixed-step run
    steps to every save time and segment boundary), exceed ``max_steps``: it would not finish."""
    k = len(save_at)
    if dt is None:  # an adaptive run: a step at least, and each saved state a step's worth of work
        if k + 1 > max_steps:
            raise ParticlesError(
                f"{k:.3g} saved times (each a step's worth of work) exceed max_steps = "
                f"{max_steps:.3g}; save fewer times (or pass a larger max_steps)"
            )
        return
    ends = [b for _, b, _ in _segments(dyn, t_end)]
    stops = np.unique(np.concatenate([save_at[save_at > 0], ends]))
    steps = float(np.maximum(1.0, np.ceil(np.diff(stops, prepend=0.0) / dt - 1e-9)).sum())
    if steps + k > max_steps:
        raise ParticlesError(
            f"{steps:.3g} steps (dt = {dt:g} and the {k:.3g} save times) and {k:.3g} saved states "
            f"exceed max_steps = {max_steps:.3g}; save fewer times or increase dt (or pass a "
            "larger max_steps)"
        )


def _fingerprint(x0, dyn, method, dt, rtol, atol, t_end, save_at) -> str:
    dmeta, darrays = dynamics_to_record(dyn)
    h = hashlib.sha256()
    h.update(json.dumps([dmeta, method, dt, rtol, atol, t_end], sort_keys=True).encode())
    for k in sorted(darrays):
        h.update(k.encode())
        h.update(np.ascontiguousarray(darrays[k]).tobytes())
    h.update(np.ascontiguousarray(x0).tobytes())
    h.update(np.ascontiguousarray(save_at).tobytes())
    return h.hexdigest()[:16]


def _check_meta(meta) -> dict | None:
    """``meta`` as given, or a :class:`ParticlesError` when it is not a dict that JSON can write
    (it is stored with the trajectory, in the checkpoint too)."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise ParticlesError(f"meta must be a dict, got {type(meta).__name__}")
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as e:
        raise ParticlesError(
            f"meta must hold JSON values only (numbers, strings, lists): {e}"
        ) from None
    return meta


def simulate(
    x0,
    dyn: Dynamics | Piecewise,
    t_end: float,
    *,
    method: str | None = None,
    dt: float | None = None,
    save_at=None,
    saves: int | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    progress: bool = False,
    normalize: bool = False,
    checkpoint: str | Path | None = None,
    checkpoint_every: float = DEFAULT_CHECKPOINT_EVERY,
    resume: bool = False,
    meta: dict | None = None,
    dtype=np.float64,
    max_steps: int = DEFAULT_MAX_STEPS,
    rng: np.random.Generator | int | None = None,
    scheduler=None,
    workers: int | None = None,
) -> Trajectory:
    """Integrate the dynamics ``dyn`` from ``x0`` (n, d) on the sphere up to time ``t_end``.

    **Arguments:**
    - ``method``: a name of the registry (:mod:`particles.solvers.registry`): ``"rk4"`` (default),
      ``"euler"`` (one residual layer + LayerNorm per step), ``"euler-tangent"``, ``"lie-euler"``,
      ``"geometric"`` (fixed step ``dt``, default 0.05) or a scipy method (``"RK45"``, ``"DOP853"``,
      ``"LSODA"``, ... with ``rtol``/``atol``, default 1e-8 and 1e-10). ``dt`` is refused for an
      adaptive method, ``rtol``/``atol`` for a fixed-step one (they would be ignored). With noise
      (``dyn.kappa`` finite) a stochastic method: ``"euler-maruyama"`` (the default then),
      ``"lie-euler-maruyama"``, ``"strang"``. The field is :func:`particles.velocity` with
      ``method="auto"``: its O(n p) expansion (Q = K = I, d = 2, 3, large n) takes the stages of
      ``"rk4"`` off the sphere on the circle (d = 2, radial expansion) but not on S^2, where they
      are evaluated exactly; ``"geometric"``, ``"lie-euler"`` and ``"euler"`` evaluate on the
      sphere only.
    - ``rng``: the noise's seed (int) or numpy Generator; None draws a fresh seed, recorded in
      ``meta["noise_seed"]``. Unused without noise.
    - ``save_at``: times in [0, t_end] at which states are saved; or ``saves``: the number (>= 2) of
      equally spaced save times, 0 and ``t_end`` included. Default: 101 equally spaced times.
    - ``normalize``: project ``x0`` onto the sphere first (otherwise an ``x0`` off the sphere is an
      error, except for ``norm="pre"``/``"peri"``, whose state is a residual stream in R^d).
    - ``checkpoint``: a ``.npz`` path (checked before anything else: its directory must exist and
      be writable); the partial trajectory is written there atomically before the first step,
      every ``checkpoint_every`` seconds (0: at every save time), on interrupt (Ctrl-C or
      SIGTERM) and, complete, at the end (see :mod:`particles.solvers.checkpoint`). With
      ``resume=True`` a partial checkpoint of the same run is continued where it stopped (an
      adaptive run from its solver's state: RK45, RK23 and DOP853 bit for bit). A path holding an
      earlier complete result (or any other file) is replaced only by this run's complete result:
      until then the checkpoints go to its side file ``<name>.partial.npz`` (``.partial.zarr``),
      which ``resume=True`` continues.
      A ``*.zarr`` path writes a trajectory store instead (:mod:`particles.storage.zarr`): every saved
      state is appended to it and committed as soon as it is computed, so memory stays O(n d)
      however many times are saved, the store is the checkpoint (``resume=True`` appends to it), and
      the returned trajectory reads its states from the store on demand.
    - ``scheduler``: evaluate the field on a Dask cluster in row blocks (:mod:`particles.field.dask`):
      ``"local"`` (a LocalCluster of ``workers`` processes, closed at the end), a scheduler address,
      a ``distributed.Client`` or a ``DaskField``; the trajectory is the local one (bit for bit where
      the local field evaluation is reproducible and the workers run this process's OpenBLAS kernel,
      see :mod:`particles.field.rows`).
    - ``max_steps``: a fixed-step run needing more steps (those forced by the save times
      included) than this is refused before it starts, as is a run saving more times; an adaptive
      run is refused after its first steps when, at its step size, it would need more than
      ``STEP_GROWTH`` (100) times as many (explicit methods, whose step their stability bounds),
      and stopped with :class:`StepLimit` (checkpoint kept) when it reaches ``max_steps``.
    - ``meta``: extra JSON-able information stored with the result (e.g. ``{"seed": 0}``).
    - ``dtype``: ``np.float32`` evaluates the field in single precision (about twice as fast for large
      n; relative accuracy ~1e-6); states and step arithmetic stay float64. Default float64.

    **Returns:** a :class:`Trajectory`.

    **Raises:** :class:`~particles.errors.ParticlesError` for bad input or a diverging solution;
    :class:`~particles.solvers.checkpoint.Interrupted` (a ``KeyboardInterrupt``) on Ctrl-C, and on
    SIGTERM while SIGTERM has its default action (``signum`` says which), saying what the checkpoint
    file holds.
    """
    progress, normalize, resume = (
        flag(v, k)
        for k, v in (("progress", progress), ("normalize", normalize), ("resume", resume))
    )
    if meta is not None and not isinstance(meta, dict):
        raise ParticlesError(f"meta must be a dict or None, got {type(meta).__name__}")
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise ParticlesError(
            f"checkpoint must be a file name (str or path), got {type(checkpoint).__name__}"
        )
    meta = _check_meta(meta)
    every = number(checkpoint_every, "checkpoint_every")
    if not every >= 0:
        raise ParticlesError(f"checkpoint_every must be >= 0 seconds, got {checkpoint_every!r}")
    if not isinstance(max_steps, (int, float, np.integer, np.floating)) or isinstance(
        max_steps, bool
    ):
        raise ParticlesError(f"max_steps must be a number of steps, got {max_steps!r}")
    if not number(max_steps, "max_steps") >= 1:
        raise ParticlesError(f"max_steps must be >= 1, got {max_steps!r}")
    if workers is not None:
        workers = count(workers, "workers", 1, 4096)
        if scheduler not in (None, "local"):
            raise ParticlesError(
                "workers is the size of a local Dask cluster (scheduler='local'); a remote "
                "scheduler has its own workers"
            )
        if scheduler is None:
            raise ParticlesError(
                "workers needs scheduler='local' (the workers of a local Dask cluster); without "
                "a scheduler the field is evaluated in this process"
            )
    if checkpoint is not None:
        suffix = Path(checkpoint).suffix.lower()
        if suffix not in (".npz", ".zarr"):
            raise ParticlesError(
                f"cannot write trajectory {checkpoint}: trajectory files end in .npz "
                "(or .zarr for a trajectory store)"
            )
        check_writable(checkpoint, "trajectory", suffix)
    checkpoint_every = finite(checkpoint_every, "checkpoint_every", ">= 0")
    max_steps = count(max_steps, "max_steps", 1)
    if not isinstance(dyn, (Dynamics, Piecewise)):
        raise ParticlesError(
            f"dyn must be a particles.Dynamics or Piecewise, got {type(dyn).__name__}"
        )
    kappas = _kappas(dyn)
    if method is None:
        method = "euler-maruyama" if kappas else "rk4"
    spec = registry.get(method)
    method = spec.name
    if kappas and not spec.stochastic:
        raise ParticlesError(_needs_sde(method, kappas[0]))
    dtype = check_dtype(dtype)
    if normalize:  # rows too small or too large to square are scaled first (their directions)
        x0 = rescale_rows(real_array(x0, "x0", "(n, d)"))
    x0 = check_points(x0, "x0")
    n, d = x0.shape
    dyn.check_dimension(d)
    drift0 = float(np.max(np.abs(np.linalg.norm(x0, axis=1) - 1.0)))
    first = dyn if isinstance(dyn, Dynamics) else dyn.segments[0][0]
    if normalize:
        if np.any(np.all(x0 == 0.0, axis=1)):
            raise ParticlesError("x0 has a zero row, which cannot be normalised onto the sphere")
        x0 = normalize_rows(rescale_rows(x0))
    elif first.norm in ("pre", "peri"):  # a residual stream: any nonzero rows
        x0 = check_stream(x0, "x0")
    elif drift0 > 1e-8:
        raise ParticlesError(
            f"x0 is not on the unit sphere (max | |x_i| - 1 | = {drift0:.3g}); "
            "pass normalize=True (CLI: --normalize) to project it"
        )
    t_end = finite(t_end, "t_end", "> 0")
    fixed = spec.fixed
    if fixed:
        dt = finite(DEFAULT_DT if dt is None else dt, "dt", "> 0")
        for name, tol in (("rtol", rtol), ("atol", atol)):
            if tol is not None:
                raise ParticlesError(
                    f"{name} is for adaptive methods; {method} is fixed-step (use dt, or an "
                    "adaptive method such as RK45 or DOP853)"
                )
        if t_end / dt > max_steps:
            raise ParticlesError(
                f"t_end / dt = {t_end / dt:.3g} steps exceeds max_steps = {max_steps:.3g}; "
                "increase dt (or pass a larger max_steps)"
            )
    else:
        if dt is not None:
            raise ParticlesError(
                f"dt is for fixed-step methods; {method} is adaptive (use rtol/atol)"
            )
        rtol = DEFAULT_RTOL if rtol is None else rtol
        atol = DEFAULT_ATOL if atol is None else atol
        for name, tol in (("rtol", rtol), ("atol", atol)):
            tol = finite(tol, name, "> 0")
            if name == "rtol" and tol >= 1:
                raise ParticlesError(
                    f"rtol = {tol:g} is not a relative tolerance (it must be < 1: 1 allows 100% "
                    "error)"
                )
    if save_at is not None and saves is not None:
        raise ParticlesError("give save_at (the times) or saves (how many), not both")
    if save_at is None:
        k = count(DEFAULT_SAVES if saves is None else saves, "saves", 2)  # 0 and t_end at least
        least = k + (max(1, k - 1) if fixed else 1)  # saved states + the fewest steps they need
        if least > max_steps:  # before the save times are even listed
            raise ParticlesError(
                f"saves = {k:.3g} saved times need at least {least:.3g} steps and saved states, "
                f"more than max_steps = {max_steps:.3g}; save fewer times (or pass a larger "
                "max_steps)"
            )
        check_memory(8.0 * n * d * k, f"simulating n = {n}, d = {d} with {k:.3g} saved times")
        save_at = np.linspace(0.0, t_end, k)
    else:
        try:
            save_at = np.unique(np.asarray(save_at, dtype=np.float64).ravel())
        except (TypeError, ValueError):
            raise ParticlesError("save_at must be a sequence of times") from None
        if save_at.size == 0 or not np.all(np.isfinite(save_at)):
            raise ParticlesError("save_at must be a non-empty sequence of finite times")
        if save_at[0] < 0 or save_at[-1] > t_end * (1 + 1e-12):
            raise ParticlesError(f"save_at times must lie in [0, t_end] = [0, {t_end}]")
        save_at = np.minimum(save_at, t_end)
    _check_work(save_at, dyn, t_end, dt if fixed else None, max_steps)

    to_store = checkpoint is not None and is_store_path(checkpoint)
    # saved states (unless they go to a store), the stages of a step and the field's tiles
    check_memory(
        8.0 * n * d * ((0 if to_store else len(save_at)) + 12),
        f"simulating n = {n}, d = {d} with {len(save_at)} saved times",
    )

    run_meta = {
        **(meta or {}),
        "t_end": t_end,
        "dt": dt,
        "rtol": None if fixed else rtol,
        "atol": None if fixed else atol,
        "dtype": np.dtype(dtype).name,
    }
    gen = None
    if kappas:
        gen, noise_seed = _noise_seed(rng, resume, checkpoint)
        run_meta["noise_seed"] = noise_seed
    # fixed-step runs are fingerprinted with the default tolerances, as before they were optional
    fp = _fingerprint(
        x0,
        dyn,
        method,
        dt,
        DEFAULT_RTOL if fixed else rtol,
        DEFAULT_ATOL if fixed else atol,
        t_end,
        save_at,
    ) + ("" if dtype is np.float64 else "-f32")
    if kappas:  # the seed is part of a noisy run's identity (absent for the ODE: unchanged prints)
        fp += "-s" + hashlib.sha256(str(run_meta["noise_seed"]).encode()).hexdigest()[:8]
    run_meta["fingerprint"] = fp

    ts: list[float] = []
    xs: list[np.ndarray] = []
    stats = {"nfev": 0, "nsteps": 0, "nrejected": 0, "max_norm_drift": 0.0, "wall_time": 0.0}
    if not fixed and spec.scipy_name not in _EXPLICIT_RK:
        stats["nrejected"] = None  # BDF, Radau, LSODA do not report rejected steps
    t_now, x = 0.0, x0.copy()
    store = None
    noise_state: dict = {}
    where = plan(checkpoint, resume, fp)  # a complete result is never replaced by less
    if where.done:
        return Trajectory.load(where.target)
    restored = None  # an adaptive run's solver state (the checkpoint's, when resuming)
    if where.resume_from is not None:
        old = Trajectory.load(where.resume_from)
        if to_store:
            store = TrajectoryStore.open(where.path, mode="r+")
            restored = _store_solver_state(store, fixed)
        elif not fixed:
            restored = decode_state(old.meta.get("solver_state"))
        if restored is not None:  # continue the solver where it stopped, bit for bit
            if restored["size"] != n * d or restored["method"] != spec.scipy_name:
                raise ParticlesError(f"{where.path}: its solver state belongs to another run")
            keep = int(restored["saved"])  # the states recorded when the solver was there
            if keep > len(old.t):
                raise ParticlesError(f"{where.path}: its solver state belongs to another run")
            if to_store and keep < store.length:  # frames committed after the state: recomputed
                store.truncate(keep)
            if not to_store:
                ts, xs = list(old.t[:keep]), list(old.x[:keep])
            stats.update({k: v for k, v in restored["stats"].items() if k in stats})
            t_now, x = restored["t"], restored["y"].reshape(n, d).copy()
        elif len(
            old.t
        ):  # a checkpoint written before the first save time holds no state: start over
            if not to_store:
                ts, xs = list(old.t), list(old.x)
            stats.update({k: v for k, v in old.stats.items() if k in stats})
            t_now, x = float(old.t[-1]), np.array(old.x[-1])
            if gen is not None:
                if run_meta["noise_seed"] is None or "rng_state" not in old.meta:
                    raise ParticlesError(
                        f"{checkpoint}: resuming a noisy run needs an integer seed (rng=int) "
                        "and a checkpoint that stores the generator's state"
                    )
                gen.bit_generator.state = old.meta["rng_state"]
                noise_state["rng_state"] = old.meta["rng_state"]
    # an adaptive run's solver state after its last completed step, replaced whole (one store,
    # atomic for a signal handler: the state and the statistics it holds always go together)
    adaptive_state: list = [None]

    def result(complete: bool) -> Trajectory:
        if store is not None:  # the states stay in the store, read on demand
            t_saved, x_saved = store.t, store.frames
        else:
            t_saved = np.array(ts, dtype=np.float64)
            x_saved = np.array(xs, dtype=np.float64).reshape(len(xs), n, d)
        return Trajectory(
            t=t_saved,
            x=x_saved,
            dynamics=dyn,
            method=method,
            stats=dict(stats),
            meta={
                **run_meta,
                **noise_state,
                **({} if complete or adaptive_state[0] is None else solver_meta()),
                "complete": complete,
            },
        )

    def solver_meta() -> dict:
        return {"solver_state": encode_state(adaptive_state[0])}

    def ckpt_for(st) -> Checkpoint:
        if st is not None:
            return StoreCheckpoint(st, checkpoint_every, where.target)
        return Checkpoint(where.path, checkpoint_every, where.target)

    def record(t, y):
        if gen is not None:  # the generator's state that goes with the last saved state
            noise_state["rng_state"] = gen.bit_generator.state
        if store is not None:  # committed with the frame, so a resumed noisy run continues the path
            stats["wall_time"] = base_wall + _time.perf_counter() - wall0
            store.append(float(t), y, stats=stats, meta=noise_state or None)
            return
        ts.append(float(t))
        xs.append(np.array(y))

    if to_store and store is None:
        try:  # Ctrl-C is held while the store is made: it exists, empty, when one arrives
            store = TrajectoryStore.create(
                where.path,
                n=n,
                d=d,
                dynamics=dyn,
                method=method,
                meta={**run_meta, "complete": False},
                stats=stats,
                capacity=len(save_at),
            )
        except KeyboardInterrupt as e:
            err = Interrupted(where.path, None, False, result(False), where.kept, signum_of(e))
            raise err from None

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=t_end,
            initial=t_now,
            desc=f"simulate {method}",
            leave=False,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| t = {n:.4g}/{total:.4g} [{elapsed}<{remaining}]",
        )
    wall0 = _time.perf_counter()
    base_wall = stats["wall_time"]
    ckpt = ckpt_for(store)
    evaluator = None
    skw: dict = {}

    def partial() -> Trajectory:
        stats["wall_time"] = base_wall + _time.perf_counter() - wall0
        return result(False)

    def diverged(t: float) -> Diverged:
        how = f"dt = {dt:g}" if fixed else f"rtol = {rtol:g}, atol = {atol:g}"
        fix = "reduce dt or use an adaptive method (e.g. DOP853)" if fixed else "tighten rtol/atol"
        params = "beta, V, kind" + (", alpha" if getattr(dyn, "norm", "") == "ngpt" else "")
        return Diverged(
            f"the solution became non-finite at t = {t:.6g} ({method}, {how}): the steps are too "
            f"large for this field ({params}); {fix}"
        )

    order = fixed_order() if kappas else contextlib.nullcontext()
    order.__enter__()  # left in the finally clause below
    term = sigterm_raises()  # SIGTERM saves like Ctrl-C (batch schedulers send it before SIGKILL)
    term.__enter__()
    try:
        if scheduler is not None:
            from ..field.dask import DaskField

            evaluator = DaskField.connect(scheduler, workers=workers)
            skw["scheduler"] = evaluator
        if (store.length if store is not None else len(ts)) == 0 and save_at[0] == 0.0:
            record(0.0, x)
        ckpt.write(partial())
        free_before = first.norm in ("pre", "peri")
        for iseg, (s0, s1, seg) in enumerate(_segments(dyn, t_end)):
            if s1 <= t_now:
                free_before = not seg.on_sphere
                continue
            if seg.on_sphere and free_before and t_now <= s0:  # LayerNorm: back on the sphere
                x = normalize_rows(x)
            free_before = not seg.on_sphere
            a = max(s0, t_now)
            # a solver state restored in this segment continues its step; its save times are
            # those the uninterrupted run still had pending
            state = restored if restored is not None and restored["segment"] == iseg else None
            # save times within rounding of a segment boundary belong to the segment that ends there
            tol = 1e-12 * max(1.0, t_end)
            if state is None:
                asked = save_at[(save_at > a + tol) & (save_at <= s1 + tol)]
            else:  # the save times after the states the solver's state had recorded
                later = np.arange(len(save_at)) >= state["saved"]
                asked = save_at[(save_at > s0 + tol) & (save_at <= s1 + tol) & later]
            targets = np.minimum(asked, s1)  # recorded under the asked times (exactly those)
            if fixed:
                stops = np.unique(np.concatenate([targets, [s1]]))
                saved = np.zeros(len(targets), dtype=bool)  # each save time is recorded once
                for b in stops:
                    k = max(1, math.ceil((b - a) / dt - 1e-9))
                    h = (b - a) / k
                    noisy = gen is not None and seg.noisy
                    sqh = math.sqrt(h)
                    for i in range(k):
                        try:
                            if noisy:
                                dW = gen.standard_normal((n, d))
                                dW *= sqh
                                x, nf = _step(spec, x, h, seg, dtype, dW=dW, **skw)
                            elif seg.norm == "lns":  # the one time-dependent field
                                x, nf = _step(spec, x, h, seg, dtype, t=a + i * h, **skw)
                            else:
                                x, nf = _step(spec, x, h, seg, dtype, **skw)
                        except _Diverged:
                            raise diverged(a + (i + 1) * h) from None
                        stats["nfev"] += nf
                        stats["nsteps"] += 1
                        if not np.isfinite(x).all():
                            raise diverged(a + (i + 1) * h)
                    if bar is not None:
                        bar.update(b - a)
                    a = t_now = float(b)
                    # this segment's own save times only, once each: the end of a segment
                    # within the rounding tolerance of a save time is not another one
                    hit = _hits(targets, b, tol, saved)
                    if hit is not None:
                        record(asked[hit], x)
                        if ckpt.due():
                            ckpt.write(partial())
            else:
                counter = {"nfev": 0}

                field = velocity if seg.norm == "post" else drift

                def fun(t, y, seg=seg, counter=counter, field=field):
                    counter["nfev"] += 1
                    if not np.isfinite(y).all():
                        raise diverged(t)
                    with np.errstate(over="ignore", invalid="ignore"):  # reported as Diverged
                        tkw = {"t": t} if seg.norm == "lns" else {}  # LN-Scaling: s(t)
                        try:
                            v = field(y.reshape(n, d), seg, dtype=dtype, **tkw, **skw)
                        except Overflow:
                            raise diverged(t) from None
                    return v.astype(np.float64).ravel()

                solver = make_solver(
                    spec.scipy_name, fun, a, x.ravel(), s1, rtol, atol, n, d, state=state
                )
                restored = None
                nfev0 = stats["nfev"]  # the segment's evaluations are counted step by step
                pending = list(zip(targets, asked, strict=True))
                taken = 0
                while solver.status == "running":
                    if stats["nsteps"] >= max_steps:
                        raise StepLimit(
                            f"{method} reached max_steps = {max_steps:.3g} steps at t = "
                            f"{solver.t:.6g} of t_end = {t_end:g}; its checkpoint is kept: resume "
                            "with a larger max_steps, or shorten t_end"
                        )
                    t_old, nfev_old = solver.t, counter["nfev"]
                    msg = solver.step()
                    if solver.status == "failed":
                        raise ParticlesError(f"{method} failed at t = {solver.t:.6g}: {msg}")
                    y = solver.y.reshape(n, d)
                    if not np.isfinite(y).all():
                        raise diverged(solver.t)
                    stats["nsteps"] += 1
                    if stats["nrejected"] is not None:  # an explicit RK attempt: n_stages evals
                        attempts = (counter["nfev"] - nfev_old) // solver.n_stages
                        stats["nrejected"] += max(0, attempts - 1)
                    if seg.on_sphere:
                        stats["max_norm_drift"] = max(
                            stats["max_norm_drift"] or 0.0,
                            float(np.max(np.abs(np.linalg.norm(y, axis=1) - 1))),
                        )
                    if bar is not None:
                        bar.update(solver.t - t_old)
                    taken += 1
                    if taken == PROJECT_AFTER and spec.scipy_name in _EXPLICIT_RK:
                        _check_projection(method, solver, stats["nsteps"], t_end, max_steps)
                    due = [(tt, ask) for tt, ask in pending if tt <= solver.t]
                    if due:
                        dense = solver.dense_output()
                        for tt, ask in due:
                            yt = dense(tt).reshape(n, d)
                            record(ask, normalize_rows(yt) if seg.on_sphere else yt)
                        pending = pending[len(due) :]
                    # the state to resume from, once the step's save times are recorded (an
                    # interrupt before this resumes from the previous step, recomputing them)
                    stats["nfev"] = nfev0 + counter["nfev"]  # dense output included
                    new = solver_state(solver, iseg, stats)
                    new["saved"] = store.length if store is not None else len(ts)
                    adaptive_state[0] = new
                    if due and ckpt.due():
                        ckpt.write(partial())
                stats["nfev"] = nfev0 + counter["nfev"]
                x = solver.y.reshape(n, d).copy()
                t_now = s1
        if not all(seg.on_sphere for _, _, seg in _segments(dyn, t_end)):
            stats["max_norm_drift"] = None  # a residual stream has no norm to keep
        elif fixed:
            stats["max_norm_drift"] = float(np.max(np.abs(np.linalg.norm(x, axis=1) - 1.0)))
        stats["wall_time"] = base_wall + _time.perf_counter() - wall0
        traj = result(True)
        ckpt.write(traj)
        if store is not None and ckpt.store is not store:  # the side store became the result
            store = ckpt.store
            traj = result(True)
    except KeyboardInterrupt as e:
        raise ckpt.interrupted(partial, e) from None
    except StepLimit as e:  # resumable: the checkpoint is written and kept
        with sigint_held():
            ckpt.write(partial())
        _amend(e, where)
        raise
    except ParticlesError as e:  # a diverged run cannot be resumed: leave no checkpoint it started
        if where.created:  # a .npz file or a .zarr store (a directory)
            discard(where.path)
        _amend(e, where)
        raise
    finally:
        term.__exit__(None, None, None)
        order.__exit__(None, None, None)
        if bar is not None:
            bar.close()
        if evaluator is not None and evaluator is not scheduler:
            evaluator.close()
    return traj
