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
  (:func:`.options.segments` splits it); LN-Scaling (``"lns"``) is Post-LN in the clock
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

from pathlib import Path

import numpy as np

from ..errors import Overflow, ParticlesError
from ..field import drift, velocity
from ..field.norms import clock
from ..model.params import Dynamics, Piecewise
from ..model.sphere import normalize_rows
from ..storage.trajectory import Trajectory
from . import registry, steps
from .checkpoint import Interrupted, plan
from .driver import drive
from .loop import PROJECT_AFTER, STEP_GROWTH, Diverged, Field, StepLimit, _Diverged
from .options import (
    DEFAULT_ATOL,
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_DT,
    DEFAULT_MAX_STEPS,
    DEFAULT_RTOL,
    DEFAULT_SAVES,
    RunOptions,
    needs_sde,
)
from .savers import make_saver

__all__ = ["METHODS", "Diverged", "Interrupted", "StepLimit", "simulate", "step"]
__all__ += ["DEFAULT_ATOL", "DEFAULT_CHECKPOINT_EVERY", "DEFAULT_DT", "DEFAULT_MAX_STEPS"]
__all__ += ["DEFAULT_RTOL", "DEFAULT_SAVES", "PROJECT_AFTER", "STEP_GROWTH"]

#: every method name (a live view of the registry)
METHODS = registry.NAMES


def canonical_method(method) -> str:
    """The canonical spelling of an integrator name (case-insensitive), or a clear error."""
    return registry.get(method).name


#: states beyond this size have a squared norm that overflows float64: the run has diverged
_HUGE = float(np.sqrt(np.finfo(np.float64).max))


def _field(dyn: Dynamics, dtype, project: bool, scheduler=None):
    """x -> the field at x (float64 result), evaluated in ``dtype`` (on ``scheduler`` if given).
    ``dyn.norm`` must not be ``"mix"`` (the driver splits Mix-LN into its Post-LN and Pre-LN parts,
    :func:`.options.segments`)."""
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
        raise ParticlesError(needs_sde(m.name, dyn.kappa))
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
      adaptive run from its solver's whole state: every adaptive method bit for bit). A path
      holding an earlier complete result (or any other file) is replaced only by this run's
      complete result: until then the checkpoints go to its side file ``<name>.partial.npz``
      (``.partial.zarr``), which ``resume=True`` continues.
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
    run = RunOptions.build(
        x0,
        dyn,
        t_end,
        method=method,
        dt=dt,
        save_at=save_at,
        saves=saves,
        rtol=rtol,
        atol=atol,
        progress=progress,
        normalize=normalize,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        meta=meta,
        dtype=dtype,
        max_steps=max_steps,
        rng=rng,
        scheduler=scheduler,
        workers=workers,
    )
    # where the run writes: a complete result is never replaced by less (a side file until then)
    where = plan(run.checkpoint, run.resume, run.fingerprint)
    if where.done:  # resuming a run that has finished
        return Trajectory.load(where.target)
    # the step and field functions (and Trajectory) as this module's names hold them at the call
    field = Field(step=_step, velocity=velocity, drift=drift)
    return drive(run, make_saver(run, where, Trajectory), field)
