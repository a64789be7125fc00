"""The options of one run of :func:`particles.simulate`, checked once: :class:`RunOptions`.

:meth:`RunOptions.build` turns simulate's arguments into a frozen record, or refuses them with one
:class:`~particles.errors.ParticlesError` line, before anything is computed or written: the flags
and the output path, the method and its step size or tolerances, the initial points, the save
times, the work (steps and saved states against ``max_steps``) and the memory the saved states
need. It also fixes what identifies the run: its metadata, the noise's seed and the fingerprint
that a resumed run must match (:func:`particles.solvers.checkpoint.plan`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, count, finite, flag, number, real_array
from ..field import check_dtype, check_points, check_stream
from ..model.params import Dynamics, Piecewise
from ..model.sphere import normalize_rows, rescale_rows
from ..resources import check_memory
from ..storage.npz import check_writable
from ..storage.records import dynamics_to_record
from ..storage.trajectory import Trajectory
from ..storage.zarr import is_store_path
from . import registry
from .checkpoint import side_path

DEFAULT_DT = 0.05
DEFAULT_SAVES = 101
#: tolerances of the adaptive (scipy) methods
DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-10
#: seconds between checkpoint writes
DEFAULT_CHECKPOINT_EVERY = 30.0
#: the most steps a run may take (fixed step: refused before it starts; adaptive: see StepLimit)
DEFAULT_MAX_STEPS = 10**8


@dataclass(frozen=True, eq=False)
class RunOptions:
    """One run's checked options (:meth:`build`; the arrays are not to be written to).

    ``spec``: the method's registry entry; ``dt`` (fixed step) or ``rtol``/``atol`` (adaptive, as
    given); ``save_at``: the sorted save times in [0, t_end]; ``kappas``: the noise strengths of
    the noisy segments (empty: an ODE); ``noise``: the Generator of the Brownian increments (None
    without noise); ``run_meta``: what is stored with the result (the caller's ``meta``, the
    run's parameters, ``noise_seed`` and ``fingerprint``); ``to_store``: the output is a zarr
    store."""

    x0: np.ndarray
    dyn: Dynamics | Piecewise
    t_end: float
    spec: registry.Method
    dt: float | None
    rtol: float | None
    atol: float | None
    save_at: np.ndarray
    dtype: type
    max_steps: int
    progress: bool
    resume: bool
    checkpoint: str | os.PathLike | None
    checkpoint_every: float
    kappas: tuple
    noise: np.random.Generator | None
    run_meta: dict
    scheduler: object = None
    workers: int | None = None

    @property
    def method(self) -> str:
        return self.spec.name

    @property
    def fixed(self) -> bool:
        return self.spec.fixed

    @property
    def n(self) -> int:
        return self.x0.shape[0]

    @property
    def d(self) -> int:
        return self.x0.shape[1]

    @property
    def fingerprint(self) -> str:
        return self.run_meta["fingerprint"]

    @property
    def to_store(self) -> bool:
        return self.checkpoint is not None and is_store_path(self.checkpoint)

    @property
    def first(self) -> Dynamics:
        """The dynamics the run starts with."""
        return self.dyn if isinstance(self.dyn, Dynamics) else self.dyn.segments[0][0]

    def segments(self) -> list[tuple[float, float, Dynamics]]:
        return segments(self.dyn, self.t_end)

    @classmethod
    def build(
        cls,
        x0,
        dyn,
        t_end,
        *,
        method,
        dt,
        save_at,
        saves,
        rtol,
        atol,
        progress,
        normalize,
        checkpoint,
        checkpoint_every,
        resume,
        meta,
        dtype,
        max_steps,
        rng,
        scheduler,
        workers,
    ) -> RunOptions:
        """simulate's arguments checked, in the order a user meets their errors."""
        progress, normalize, resume = (
            flag(v, k)
            for k, v in (("progress", progress), ("normalize", normalize), ("resume", resume))
        )
        meta = _check_meta(meta, checkpoint)
        checkpoint_every, max_steps = _check_limits(checkpoint_every, max_steps)
        workers = _check_workers(workers, scheduler)
        _check_output(checkpoint)
        checkpoint_every = finite(checkpoint_every, "checkpoint_every", ">= 0")
        max_steps = count(max_steps, "max_steps", 1)
        if not isinstance(dyn, (Dynamics, Piecewise)):
            raise ParticlesError(
                f"dyn must be a particles.Dynamics or Piecewise, got {type(dyn).__name__}"
            )
        kappas = tuple(_kappas(dyn))
        hard = _hardmax(dyn)
        if method is None:
            method = "euler-maruyama" if kappas else ("euler" if hard else "rk4")
        spec = registry.get(method)
        if hard and spec.name not in HARDMAX_METHODS:
            raise ParticlesError(needs_layer_map(spec.name))
        if kappas and not spec.stochastic:
            raise ParticlesError(needs_sde(spec.name, kappas[0]))
        dtype = check_dtype(dtype)
        x0 = _initial_points(x0, dyn, normalize)
        n, d = x0.shape
        t_end = finite(t_end, "t_end", "> 0")
        dt, rtol, atol = _step_control(spec, t_end, dt, rtol, atol, max_steps)
        save_at = _save_times(save_at, saves, t_end, n, d, spec.fixed, max_steps)
        _check_work(save_at, dyn, t_end, dt if spec.fixed else None, max_steps)
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
            "rtol": None if spec.fixed else rtol,
            "atol": None if spec.fixed else atol,
            "dtype": np.dtype(dtype).name,
        }
        noise = None
        if kappas:
            noise, run_meta["noise_seed"] = _noise_seed(rng, resume, checkpoint)
        run_meta["fingerprint"] = _run_fingerprint(
            x0, dyn, spec, dt, rtol, atol, t_end, save_at, dtype, run_meta, bool(kappas)
        )
        return cls(
            x0=x0,
            dyn=dyn,
            t_end=t_end,
            spec=spec,
            dt=dt,
            rtol=rtol,
            atol=atol,
            save_at=save_at,
            dtype=dtype,
            max_steps=max_steps,
            progress=progress,
            resume=resume,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            kappas=kappas,
            noise=noise,
            run_meta=run_meta,
            scheduler=scheduler,
            workers=workers,
        )


# --- the checks, in build's order ------------------------------------------------------------


def _check_meta(meta, checkpoint) -> dict | None:
    """``meta`` as given, or a :class:`ParticlesError` when it is not a dict that JSON can write
    (it is stored with the trajectory, in the checkpoint too); ``checkpoint`` must be a path."""
    if meta is not None and not isinstance(meta, dict):
        raise ParticlesError(f"meta must be a dict or None, got {type(meta).__name__}")
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise ParticlesError(
            f"checkpoint must be a file name (str or path), got {type(checkpoint).__name__}"
        )
    if meta is None:
        return None
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as e:
        raise ParticlesError(
            f"meta must hold JSON values only (numbers, strings, lists): {e}"
        ) from None
    return meta


def _check_limits(checkpoint_every, max_steps):
    every = number(checkpoint_every, "checkpoint_every")
    if not every >= 0:
        raise ParticlesError(f"checkpoint_every must be >= 0 seconds, got {checkpoint_every!r}")
    if not isinstance(max_steps, (int, float, np.integer, np.floating)) or isinstance(
        max_steps, bool
    ):
        raise ParticlesError(f"max_steps must be a number of steps, got {max_steps!r}")
    if not number(max_steps, "max_steps") >= 1:
        raise ParticlesError(f"max_steps must be >= 1, got {max_steps!r}")
    return checkpoint_every, max_steps


def _check_workers(workers, scheduler) -> int | None:
    if workers is None:
        return None
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
    return workers


def _check_output(checkpoint) -> None:
    if checkpoint is None:
        return
    suffix = Path(checkpoint).suffix.lower()
    if suffix not in (".npz", ".zarr"):
        raise ParticlesError(
            f"cannot write trajectory {checkpoint}: trajectory files end in .npz "
            "(or .zarr for a trajectory store)"
        )
    check_writable(checkpoint, "trajectory", suffix)


#: the methods that integrate beta = inf (hardmax): the field is discontinuous (it jumps where the
#: maximiser of <Q x_i, K x_j> changes), so only one-stage layer maps are admitted: the papers'
#: "euler" step x <- N(x + h H(x)) (the layer (SA-inf) of arXiv 2508.09628 with gamma = h/(1 + h),
#: followed by the scheme's LayerNorm; N(x + h H) = N((x + h H) / (1 + h)) on the sphere), the
#: "euler-tangent" step x <- N(x + h P(x) H(x)) and its noisy version "euler-maruyama"
#: x <- N(x + h P(x) H(x) + sqrt(2/kappa) P(x) dW) (P the tangent projection; with kappa None the
#: two are the same map, bit for bit). Each is a map of the state evaluated at the state only, so
#: it is defined whatever the discontinuities of H. Runge-Kutta stages straddle the switching
#: surfaces (their order is void there), scipy's error control shrinks the step to nothing at each
#: switch, and the geodesic and splitting steps (lie-euler, geometric, lie-euler-maruyama, strang)
#: are not a residual layer (and strang and geometric evaluate the field at midpoint stages).
HARDMAX_METHODS = ("euler", "euler-tangent", "euler-maruyama")


def needs_layer_map(method: str) -> str:
    return (
        f"beta = inf (hardmax attention) is a discontinuous field: method {method!r} is not "
        "admitted, use method='euler' (the layer map x <- N(x + dt H(x))), 'euler-tangent' or, "
        "with noise, 'euler-maruyama'"
    )


def _hardmax(dyn) -> bool:
    segs = [d for d, _ in dyn.segments] if isinstance(dyn, Piecewise) else [dyn]
    return any(d.hardmax for d in segs)


def needs_sde(method: str, kappa) -> str:
    return (
        f"kappa = {kappa:g} makes the dynamics stochastic, and {method} integrates ODEs; choose a "
        f"stochastic method: {', '.join(registry.names(stochastic=True))}"
    )


def _kappas(dyn: Dynamics | Piecewise) -> list:
    segs = [dyn] if isinstance(dyn, Dynamics) else [d for d, _ in dyn.segments]
    return [d.kappa for d in segs if d.noisy]


def _initial_points(x0, dyn, normalize: bool) -> np.ndarray:
    """x0 checked: on the sphere (projected there with ``normalize``), or any nonzero rows for a
    residual stream (``norm="pre"``/``"peri"``)."""
    if normalize:  # rows too small or too large to square are scaled first (their directions)
        x0 = rescale_rows(real_array(x0, "x0", "(n, d)"))
    x0 = check_points(x0, "x0")
    dyn.check_dimension(x0.shape[1])
    with np.errstate(over="ignore"):  # rows beyond 1e154: |x_i| = inf, refused below
        drift0 = float(np.max(np.abs(np.linalg.norm(x0, axis=1) - 1.0)))
    first = dyn if isinstance(dyn, Dynamics) else dyn.segments[0][0]
    if normalize:
        if np.any(np.all(x0 == 0.0, axis=1)):
            raise ParticlesError("x0 has a zero row, which cannot be normalised onto the sphere")
        return normalize_rows(rescale_rows(x0))
    if first.norm in ("pre", "peri"):  # a residual stream: any nonzero rows
        return check_stream(x0, "x0")
    if drift0 > 1e-8:
        raise ParticlesError(
            f"x0 is not on the unit sphere (max | |x_i| - 1 | = {drift0:.3g}); "
            "pass normalize=True (CLI: --normalize) to project it"
        )
    return x0


#: the smallest rtol scipy's solvers take (100 eps); below it they warn and use this value
RTOL_FLOOR = 100 * np.finfo(np.float64).eps


def _step_control(spec, t_end: float, dt, rtol, atol, max_steps: int):
    """(dt, rtol, atol): the step of a fixed-step method (default ``DEFAULT_DT``), the tolerances
    of an adaptive one (defaults ``DEFAULT_RTOL``, ``DEFAULT_ATOL``; kept as given); the other
    kind's are refused."""
    method = spec.name
    if spec.fixed:
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
        return dt, rtol, atol
    if dt is not None:
        raise ParticlesError(f"dt is for fixed-step methods; {method} is adaptive (use rtol/atol)")
    rtol = DEFAULT_RTOL if rtol is None else rtol
    atol = DEFAULT_ATOL if atol is None else atol
    for name, tol in (("rtol", rtol), ("atol", atol)):
        tol = finite(tol, name, "> 0")
        if name == "rtol" and tol >= 1:
            raise ParticlesError(
                f"rtol = {tol:g} is not a relative tolerance (it must be < 1: 1 allows 100% error)"
            )
        if name == "rtol" and tol < RTOL_FLOOR:
            raise ParticlesError(
                f"rtol = {tol:g} is below what float64 steps can meet (scipy's floor is "
                f"{RTOL_FLOOR:.2g}); give rtol >= {RTOL_FLOOR:.2g}"
            )
    return dt, rtol, atol


def _save_times(save_at, saves, t_end: float, n: int, d: int, fixed: bool, max_steps: int):
    """The sorted save times: ``save_at`` as given (unique, in [0, t_end]) or ``saves`` equally
    spaced ones (default ``DEFAULT_SAVES``), refused before they are listed when too many."""
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
        return np.linspace(0.0, t_end, k)
    try:
        save_at = np.unique(np.asarray(save_at, dtype=np.float64).ravel())
    except (TypeError, ValueError):
        raise ParticlesError("save_at must be a sequence of times") from None
    if save_at.size == 0 or not np.all(np.isfinite(save_at)):
        raise ParticlesError("save_at must be a non-empty sequence of finite times")
    if save_at[0] < 0 or save_at[-1] > t_end * (1 + 1e-12):
        raise ParticlesError(f"save_at times must lie in [0, t_end] = [0, {t_end}]")
    return np.minimum(save_at, t_end)


def segments(dyn: Dynamics | Piecewise, t_end: float) -> list[tuple[float, float, Dynamics]]:
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
    ends = [b for _, b, _ in segments(dyn, t_end)]
    stops = np.unique(np.concatenate([save_at[save_at > 0], ends]))
    steps = float(np.maximum(1.0, np.ceil(np.diff(stops, prepend=0.0) / dt - 1e-9)).sum())
    if steps + k > max_steps:
        raise ParticlesError(
            f"{steps:.3g} steps (dt = {dt:g} and the {k:.3g} save times) and {k:.3g} saved states "
            f"exceed max_steps = {max_steps:.3g}; save fewer times or increase dt (or pass a "
            "larger max_steps)"
        )


# --- what identifies the run -----------------------------------------------------------------


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


def _run_fingerprint(
    x0, dyn, spec, dt, rtol, atol, t_end, save_at, dtype, run_meta, noisy: bool
) -> str:
    """The run's identity: fixed-step runs are fingerprinted with the default tolerances (as before
    they were optional), single precision and a noisy run's seed appended."""
    fixed = spec.fixed
    fp = _fingerprint(
        x0,
        dyn,
        spec.name,
        dt,
        DEFAULT_RTOL if fixed else rtol,
        DEFAULT_ATOL if fixed else atol,
        t_end,
        save_at,
    ) + ("" if dtype is np.float64 else "-f32")
    if noisy:  # the seed is part of a noisy run's identity (absent for the ODE: unchanged prints)
        fp += "-s" + hashlib.sha256(str(run_meta["noise_seed"]).encode()).hexdigest()[:8]
    return fp
