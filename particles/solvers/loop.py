"""The stepping loops of :func:`particles.simulate`: the run's segments, each stepped by a
fixed-step method (:func:`fixed_segment`) or one of scipy's adaptive solvers
(:func:`adaptive_segment`), every saved state handed to the saver
(:mod:`particles.solvers.savers`).

Save times are hit exactly: a fixed-step run splits the interval between consecutive stops (save
times and segment ends) into equal steps; an adaptive run records its dense output at them. A save
time within rounding (1e-12 t_end) of a segment's end belongs to the segment that ends there, and
is recorded once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import Overflow, ParticlesError
from ..model.params import Dynamics
from ..model.sphere import normalize_rows
from .adaptive import make_solver
from .checkpoint import solver_state
from .options import RunOptions
from .savers import EXPLICIT_RK, Saver

#: an explicit adaptive method's step settles within this factor of its size after its first
#: steps (its stability region bounds it: RK45 0.11 -> 1.8, DOP853 0.6 -> 3.2 at n = 64, beta = 1),
#: so a run whose projected step count exceeds STEP_GROWTH * max_steps is refused at once
STEP_GROWTH = 100
#: the steps an explicit adaptive method takes before its step count is projected
PROJECT_AFTER = 10


class _Diverged(Exception):
    """A stage of a step met a non-finite state (simulate turns it into a clear error)."""


class Diverged(ParticlesError):
    """The solution of :func:`simulate` became non-finite (the message says where and what to
    change)."""


class StepLimit(ParticlesError):
    """An adaptive run of :func:`simulate` needs more than ``max_steps`` steps (the message says
    how far it got; its checkpoint is kept, and resumes with a larger ``max_steps``)."""


@dataclass(frozen=True)
class Field:
    """The field a run steps: ``step`` makes one fixed step
    (:func:`particles.solvers.integrate.step`); ``velocity`` (Post-LN) and ``drift`` (the other
    schemes) are the field the adaptive solvers evaluate; ``kw``: where it is evaluated (a Dask
    evaluator, ``{"scheduler": ...}``, or here)."""

    step: Callable
    velocity: Callable
    drift: Callable
    kw: dict = field(default_factory=dict)

    def on(self, evaluator) -> Field:
        """This field evaluated by ``evaluator`` (a :class:`particles.field.dask.DaskField`)."""
        return Field(self.step, self.velocity, self.drift, {"scheduler": evaluator})

    def fun(self, run: RunOptions, seg: Dynamics, counter: dict):
        """scipy's ``fun(t, y)`` for segment ``seg``: the field on the flattened state (float64),
        evaluations counted in ``counter["nfev"]``, a non-finite state or field a
        :class:`Diverged`."""
        n, d, dtype, kw = run.n, run.d, run.dtype, self.kw
        f = self.velocity if seg.norm == "post" else self.drift

        def fun(t, y):
            counter["nfev"] += 1
            if not np.isfinite(y).all():
                raise diverged(run, t)
            with np.errstate(over="ignore", invalid="ignore"):  # reported as Diverged
                tkw = {"t": t} if seg.norm == "lns" else {}  # LN-Scaling: s(t)
                try:
                    v = f(y.reshape(n, d), seg, dtype=dtype, **tkw, **kw)
                except Overflow:
                    raise diverged(run, t) from None
            return v.astype(np.float64).ravel()

        return fun


def diverged(run: RunOptions, t: float) -> Diverged:
    """The error of a run whose solution became non-finite at time ``t``."""
    how = f"dt = {run.dt:g}" if run.fixed else f"rtol = {run.rtol:g}, atol = {run.atol:g}"
    fix = "reduce dt or use an adaptive method (e.g. DOP853)" if run.fixed else "tighten rtol/atol"
    params = "beta, V, kind" + (", alpha" if getattr(run.dyn, "norm", "") == "ngpt" else "")
    return Diverged(
        f"the solution became non-finite at t = {t:.6g} ({run.method}, {how}): the steps are too "
        f"large for this field ({params}); {fix}"
    )


def run_segments(
    run: RunOptions, saver: Saver, field: Field, t_now: float, x, restored, bar
) -> np.ndarray:
    """Step the run's segments from ``(t_now, x)`` to ``t_end`` (an adaptive solver's
    ``restored`` state continues its segment); returns the final state. ``bar``: a progress bar
    or None."""
    free_before = run.first.norm in ("pre", "peri")
    # save times within rounding of a segment boundary belong to the segment that ends there
    tol = 1e-12 * max(1.0, run.t_end)
    for iseg, (s0, s1, seg) in enumerate(run.segments()):
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
        save_at = run.save_at
        if state is None:
            asked = save_at[(save_at > a + tol) & (save_at <= s1 + tol)]
        else:  # the save times after the states the solver's state had recorded
            later = np.arange(len(save_at)) >= state["saved"]
            asked = save_at[(save_at > s0 + tol) & (save_at <= s1 + tol) & later]
        if run.fixed:
            x = fixed_segment(run, saver, field, seg, a, s1, x, asked, tol, bar)
        else:
            x = adaptive_segment(run, saver, field, (iseg, seg, a, s1), x, state, asked, bar)
        t_now = s1
    return x


def fixed_segment(run, saver, field, seg, a: float, s1: float, x, asked, tol: float, bar):
    """Step ``seg`` from ``a`` to ``s1`` with equal steps of at most ``dt`` between the stops (the
    save times ``asked``, recorded once each, and ``s1``); returns the state at ``s1``."""
    stats, gen, spec, dtype, dt = saver.stats, run.noise, run.spec, run.dtype, run.dt
    n, d, skw = run.n, run.d, field.kw
    targets = np.minimum(asked, s1)  # recorded under the asked times (exactly those)
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
                    x, nf = field.step(spec, x, h, seg, dtype, dW=dW, **skw)
                elif seg.norm == "lns":  # the one time-dependent field
                    x, nf = field.step(spec, x, h, seg, dtype, t=a + i * h, **skw)
                else:
                    x, nf = field.step(spec, x, h, seg, dtype, **skw)
            except _Diverged:
                raise diverged(run, a + (i + 1) * h) from None
            stats["nfev"] += nf
            stats["nsteps"] += 1
            if not np.isfinite(x).all():
                raise diverged(run, a + (i + 1) * h)
        if bar is not None:
            bar.update(b - a)
        a = float(b)
        # this segment's own save times only, once each: the end of a segment within the
        # rounding tolerance of a save time is not another one
        hit = _hits(targets, b, tol, saved)
        if hit is not None:
            saver.append(asked[hit], x)
            saver.checkpoint()
    return x


def adaptive_segment(run, saver, field, where, x, state, asked, bar):
    """Step segment ``where`` = (index, dynamics, start, stop) with scipy's solver (from its
    ``state`` when resumed), recording the dense output at the save times ``asked``; after each
    step the solver's state is handed to the saver (the state a checkpoint resumes from).
    Returns the state at the segment's end."""
    iseg, seg, a, s1 = where
    stats, spec, n, d = saver.stats, run.spec, run.n, run.d
    counter = {"nfev": 0}
    fun = field.fun(run, seg, counter)
    solver = make_solver(
        spec.scipy_name, fun, a, x.ravel(), s1, run.rtol, run.atol, n, d, state=state
    )
    nfev0 = stats["nfev"]  # the segment's evaluations are counted step by step
    pending = list(zip(np.minimum(asked, s1), asked, strict=True))
    taken = 0
    while solver.status == "running":
        if stats["nsteps"] >= run.max_steps:
            raise StepLimit(
                f"{run.method} reached max_steps = {run.max_steps:.3g} steps at t = "
                f"{solver.t:.6g} of t_end = {run.t_end:g}; its checkpoint is kept: resume "
                "with a larger max_steps, or shorten t_end"
            )
        t_old, nfev_old = solver.t, counter["nfev"]
        msg = solver.step()
        if solver.status == "failed":
            raise ParticlesError(f"{run.method} failed at t = {solver.t:.6g}: {msg}")
        y = solver.y.reshape(n, d)
        if not np.isfinite(y).all():
            raise diverged(run, solver.t)
        _count_step(stats, solver, seg, y, counter["nfev"] - nfev_old)
        if bar is not None:
            bar.update(solver.t - t_old)
        taken += 1
        if taken == PROJECT_AFTER and spec.scipy_name in EXPLICIT_RK:
            _check_projection(run, solver, stats["nsteps"])
        due = [(tt, ask) for tt, ask in pending if tt <= solver.t]
        if due:
            dense = solver.dense_output()
            for tt, ask in due:
                yt = dense(tt).reshape(n, d)
                saver.append(ask, normalize_rows(yt) if seg.on_sphere else yt)
            pending = pending[len(due) :]
        # the state to resume from, once the step's save times are recorded (an
        # interrupt before this resumes from the previous step, recomputing them)
        stats["nfev"] = nfev0 + counter["nfev"]  # dense output included
        new = solver_state(solver, iseg, stats)
        new["saved"] = saver.length
        saver.solver_state = new
        if due:
            saver.checkpoint()
    stats["nfev"] = nfev0 + counter["nfev"]
    return solver.y.reshape(n, d).copy()


def _count_step(stats: dict, solver, seg: Dynamics, y, nfev: int) -> None:
    """One accepted step of an adaptive solver in ``stats`` (``nfev``: the evaluations it took)."""
    stats["nsteps"] += 1
    if stats["nrejected"] is not None:  # an explicit RK attempt: n_stages evals
        attempts = nfev // solver.n_stages
        stats["nrejected"] += max(0, attempts - 1)
    if seg.on_sphere:
        stats["max_norm_drift"] = max(
            stats["max_norm_drift"] or 0.0,
            float(np.max(np.abs(np.linalg.norm(y, axis=1) - 1))),
        )


def final_norm_drift(run: RunOptions, stats: dict, x) -> None:
    """``stats["max_norm_drift"]`` at the end: None when a segment is a residual stream (no norm
    to keep); a fixed-step run's is the final state's (its steps renormalise)."""
    if not all(seg.on_sphere for _, _, seg in run.segments()):
        stats["max_norm_drift"] = None
    elif run.fixed:
        stats["max_norm_drift"] = float(np.max(np.abs(np.linalg.norm(x, axis=1) - 1.0)))


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


def _check_projection(run: RunOptions, solver, nsteps: int) -> None:
    """Refuse an explicit adaptive run whose step count, projected at its current step size,
    exceeds ``STEP_GROWTH * max_steps``: its stability region keeps the step near this size."""
    h = float(getattr(solver, "h_abs", 0.0) or 0.0)
    if h <= 0:
        return
    t_end, max_steps = run.t_end, run.max_steps
    need = nsteps + (t_end - solver.t) / h
    if need > STEP_GROWTH * max_steps:
        raise ParticlesError(
            f"{run.method} would need ~{need:.2g} steps to reach t_end = {t_end:g} (step {h:.3g} "
            f"after its first {nsteps} steps; an explicit method's step stays within a factor "
            f"~{STEP_GROWTH} of that), more than max_steps = {max_steps:.3g}; shorten t_end, use "
            "an implicit method (LSODA, BDF, Radau) or pass a larger max_steps"
        )
