"""The run driver of :func:`particles.simulate`: the stepping loop (:mod:`.loop`) over the field,
the saver of the run's destination (:mod:`.savers`), and, in one place for every saver, what stops
a run early.

- Ctrl-C and SIGTERM (:func:`particles.interrupts.sigterm_raises`: SIGTERM raises like Ctrl-C while
  the run steps) write the partial run and raise
  :class:`~particles.solvers.checkpoint.Interrupted`, which says what the destination holds;
- :class:`~particles.solvers.loop.StepLimit` writes the checkpoint and keeps it (resumable);
- any other :class:`~particles.errors.ParticlesError` (a diverged run) leaves no checkpoint the
  run started;
- the checkpoints are written before the first step, when due after a saved state
  (``checkpoint_every``) and, complete, at the end.
"""

from __future__ import annotations

import contextlib

from ..errors import ParticlesError
from ..field import fixed_order
from ..interrupts import sigterm_raises
from ..storage.trajectory import Trajectory
from .loop import Field, StepLimit, final_norm_drift, run_segments
from .options import RunOptions
from .savers import Saver


def drive(run: RunOptions, saver: Saver, field: Field) -> Trajectory:
    """Run ``run`` over ``field``, its states going to ``saver``; returns the complete
    :class:`Trajectory`."""
    t_now, x, restored = saver.begin()
    bar = _progress_bar(run, t_now) if run.progress else None
    saver.start()
    evaluator = None
    # a noisy run's field in a fixed order of operations: the path is the seed's, whatever the
    # threads; SIGTERM saves like Ctrl-C (batch schedulers send it before SIGKILL)
    order = fixed_order() if run.kappas else contextlib.nullcontext()
    try:
        with order, sigterm_raises():
            try:
                if run.scheduler is not None:
                    from ..field.dask import DaskField

                    evaluator = DaskField.connect(run.scheduler, workers=run.workers)
                    field = field.on(evaluator)
                if saver.length == 0 and run.save_at[0] == 0.0:
                    saver.append(0.0, x)
                saver.checkpoint(force=True)  # before the first step
                x = run_segments(run, saver, field, t_now, x, restored, bar)
                final_norm_drift(run, saver.stats, x)
                return saver.finish()
            except KeyboardInterrupt as e:
                raise saver.interrupted(e) from None
            except StepLimit as e:  # resumable: the checkpoint is written and kept
                saver.abort(e, resumable=True)
                raise
            except ParticlesError as e:  # a diverged run cannot be resumed
                saver.abort(e, resumable=False)
                raise
    finally:
        if bar is not None:
            bar.close()
        if evaluator is not None and evaluator is not run.scheduler:
            evaluator.close()


def _progress_bar(run: RunOptions, t_now: float):
    from tqdm.auto import tqdm

    return tqdm(
        total=run.t_end,
        initial=t_now,
        desc=f"simulate {run.method}",
        leave=False,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| t = {n:.4g}/{total:.4g} [{elapsed}<{remaining}]",
    )
