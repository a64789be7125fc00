"""Checkpoints of :func:`particles.simulate`: what is on disk at any instant, and what an interrupt
says about it.

Guarantees, true by construction rather than by timing:

- every write is atomic (:func:`particles.io.atomic_open`: temporary file, fsync, rename), and a
  Ctrl-C (SIGINT) arriving during a write is held until the rename is done, so the file on disk is
  always the previous valid checkpoint or the new valid one, never a partial or missing file;
- the first checkpoint is written before the first step, so an interrupt at any later instant
  finds a file of this run;
- on Ctrl-C, :func:`particles.simulate` writes the states computed so far (further Ctrl-Cs are
  held until that write is done) and raises :class:`Interrupted`, which says what the file holds.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..io import sigint_held
from ..trajectory import Trajectory


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`particles.simulate`.

    ``path``: the checkpoint file (None when the run had none); ``t_saved``: the last time whose
    state is in it (None when it holds no state of this run); ``complete``: the file holds the
    whole run (the interrupt came after the end); ``trajectory``: the states computed so far.
    """

    def __init__(self, path, t_saved, complete: bool, trajectory: Trajectory):
        self.path = None if path is None else Path(path)
        self.t_saved = t_saved
        self.complete = complete
        self.trajectory = trajectory
        super().__init__(self.describe())

    def describe(self) -> str:
        if self.path is None:
            return "interrupted (no checkpoint file was requested, nothing was written)"
        if self.complete:
            return f"interrupted after the run finished: {self.path} holds the complete result"
        if self.t_saved is None:
            return (
                f"interrupted: {self.path} holds no state of this run yet; resume starts at t = 0"
            )
        return (
            f"interrupted: {self.path} holds the states up to t = {self.t_saved:.6g}; "
            "rerun with resume (CLI: --resume) to continue from there"
        )


class Checkpoint:
    """Writes the partial trajectory to ``path`` every ``every`` seconds (and when forced)."""

    def __init__(self, path, every: float):
        self.path = None if path is None else Path(path)
        self.every = float(every)
        self.last = time.perf_counter()
        self.t_saved: float | None = None
        self.complete = False

    def write(self, traj: Trajectory) -> None:
        if self.path is None:
            return
        with sigint_held():  # a Ctrl-C during the write arrives after the bookkeeping below
            traj.save(self.path)
            self.last = time.perf_counter()
            self.t_saved = float(traj.t[-1]) if len(traj.t) else None
            self.complete = bool(traj.meta.get("complete", False))

    def due(self) -> bool:
        return self.path is not None and time.perf_counter() - self.last >= self.every

    def interrupted(self, partial) -> Interrupted:
        """After Ctrl-C: write ``partial()`` unless the complete result is already on disk (every
        further Ctrl-C held until the write is done) and return the exception to raise."""
        with sigint_held(deliver=False):
            traj = partial()
            if not self.complete:
                self.write(traj)
        return Interrupted(self.path, self.t_saved, self.complete, traj)


class StoreCheckpoint(Checkpoint):
    """The checkpoint of a run written into a zarr trajectory store (:mod:`particles.store`).

    Saved states are appended and committed to the store as they are computed
    (:meth:`particles.store.TrajectoryStore.append`: chunk files, then the commit record replaced
    atomically, Ctrl-C held), so a checkpoint write only commits the statistics and whether the run
    is complete. The guarantees above hold with "file" read as "the store's commit record": at any
    instant the store on disk is a valid store of this run, and :class:`Interrupted` says what it
    holds. The states are never all in memory: ``traj.x`` is the store's lazy frames.
    """

    def __init__(self, store, every: float):
        super().__init__(store.path, every)
        self.store = store

    def write(self, traj: Trajectory) -> None:
        with sigint_held():
            self.store.commit(stats=traj.stats, meta={"complete": bool(traj.meta.get("complete"))})
            self.last = time.perf_counter()
            self.t_saved = float(traj.t[-1]) if len(traj.t) else None
            self.complete = bool(traj.meta.get("complete", False))
