"""Where a run of :func:`particles.simulate` puts its saved states: one :class:`Saver` interface,
one saver per destination.

- :class:`MemorySaver`: in memory only (no output path);
- :class:`NpzSaver`: in memory, and the partial trajectory written to a ``.npz`` checkpoint
  (:class:`~particles.solvers.checkpoint.Checkpoint`: atomic writes, the side file of a kept
  result, the complete result renamed onto the output);
- :class:`ZarrSaver`: appended to a zarr trajectory store as computed (:mod:`particles.storage.zarr`,
  :class:`~particles.solvers.checkpoint.StoreCheckpoint`), never all in memory.

The driver (:mod:`particles.solvers.driver`) calls, for every saver alike: :meth:`Saver.begin`
(open or resume the destination: where the run starts), :meth:`Saver.append` (a saved state),
:meth:`Saver.checkpoint` (the partial run, when due or forced), :meth:`Saver.finish` (the complete
result) and, when the run stops early, :meth:`Saver.interrupted` (Ctrl-C, SIGTERM) or
:meth:`Saver.abort` (an error). The saver also keeps the run's statistics (``stats``), the noise
generator's state that goes with the last saved state and an adaptive run's solver state, since
all three are stored with the states.
"""

from __future__ import annotations

import json
import time

import numpy as np

from ..errors import ParticlesError
from ..interrupts import signum_of
from ..storage.npz import sigint_held
from ..storage.trajectory import Trajectory
from ..storage.zarr import TrajectoryStore
from .checkpoint import (
    Checkpoint,
    Interrupted,
    Plan,
    StoreCheckpoint,
    decode_state,
    discard,
    encode_state,
)
from .options import RunOptions

#: scipy's explicit Runge–Kutta methods, whose rejected steps can be counted from field evaluations
EXPLICIT_RK = ("RK45", "RK23", "DOP853")


def make_saver(run: RunOptions, where: Plan, trajectory=Trajectory) -> Saver:
    """The saver for the destination of ``where`` (:func:`~.checkpoint.plan`); ``trajectory``:
    the class the results are made with."""
    if where.path is None:
        return MemorySaver(run, where, trajectory)
    if run.to_store:
        return ZarrSaver(run, where, trajectory)
    return NpzSaver(run, where, trajectory)


class Saver:
    """The saved states of one run, the statistics and states stored with them, and their
    checkpoints (the destination's parts: ``length``, ``_states``, ``_write``, ``_keep``,
    ``_stored_solver_state``, ``_reopen``, ``_open``, ``_checkpointer``)."""

    def __init__(self, run: RunOptions, where: Plan, trajectory=Trajectory):
        self.run, self.where, self.trajectory = run, where, trajectory
        self.stats = {
            "nfev": 0,
            "nsteps": 0,
            "nrejected": 0,
            "max_norm_drift": 0.0,
            "wall_time": 0.0,
        }
        if not run.fixed and run.spec.scipy_name not in EXPLICIT_RK:
            self.stats["nrejected"] = None  # BDF, Radau, LSODA do not report rejected steps
        self.noise_state: dict = {}
        #: an adaptive run's state after its last completed step, replaced whole (one store, atomic
        #: for a signal handler: the state and the statistics it holds always go together)
        self.solver_state: dict | None = None
        self.ckpt: Checkpoint | None = None
        self._wall0, self._base_wall = time.perf_counter(), 0.0

    # --- the interface ---------------------------------------------------------------------------

    def begin(self) -> tuple[float, np.ndarray, dict | None]:
        """Open the destination, resuming the checkpoint of this run when ``where`` says so;
        returns where the run starts: (t, x, the adaptive solver's state or None)."""
        t, x, restored = 0.0, self.run.x0.copy(), None
        if self.where.resume_from is not None:
            old = self.trajectory.load(self.where.resume_from)
            self._reopen()
            t, x, restored = self._resume(old)
        self._open()
        return t, x, restored

    def start(self) -> None:
        """Start the clock of ``stats["wall_time"]`` (continuing a resumed run's) and the
        checkpoints' timer."""
        self._wall0, self._base_wall = time.perf_counter(), self.stats["wall_time"]
        self.ckpt = self._checkpointer()

    def append(self, t: float, y: np.ndarray) -> None:
        """Save the state ``y`` at time ``t`` (with the noise generator's state that goes with
        it, so a resumed noisy run continues the path)."""
        if self.run.noise is not None:
            self.noise_state["rng_state"] = self.run.noise.bit_generator.state
        self._write(t, y)

    def checkpoint(self, force: bool = False) -> None:
        """Write the partial run when a checkpoint is due (``checkpoint_every``) or ``force``."""
        if force or self.ckpt.due():
            self.ckpt.write(self.partial())

    def finish(self) -> Trajectory:
        """The complete result, written to the destination."""
        self.stats["wall_time"] = self._wall()
        traj = self.result(True)
        self.ckpt.write(traj)
        return traj

    def interrupted(self, cause: BaseException) -> Interrupted:
        """After Ctrl-C or SIGTERM (``cause``): the partial run written (further signals held
        until it is), and the exception to raise, saying what the destination holds."""
        return self.ckpt.interrupted(self.partial, cause)

    def abort(self, err: ParticlesError, resumable: bool) -> None:
        """The run stops on ``err``: a resumable stop (a step limit) writes its checkpoint and
        keeps it; any other leaves no checkpoint the run started. ``err``'s message is amended
        when an earlier result at the output path was kept."""
        if resumable:
            with sigint_held():
                self.ckpt.write(self.partial())
        elif self.where.created:  # a .npz file or a .zarr store (a directory)
            discard(self.where.path)
        if self.where.kept is not None and err.args:
            err.args = (f"{err.args[0]}; {self.where.kept} (an earlier result) was kept unchanged",)

    # --- shared parts --------------------------------------------------------------------------

    def result(self, complete: bool) -> Trajectory:
        t_saved, x_saved = self._states()
        solver = {} if complete or self.solver_state is None else self._solver_meta()
        return self.trajectory(
            t=t_saved,
            x=x_saved,
            dynamics=self.run.dyn,
            method=self.run.method,
            stats=dict(self.stats),
            meta={**self.run.run_meta, **self.noise_state, **solver, "complete": complete},
        )

    def partial(self) -> Trajectory:
        self.stats["wall_time"] = self._wall()
        return self.result(False)

    def _solver_meta(self) -> dict:
        return {"solver_state": encode_state(self.solver_state)}

    def _wall(self) -> float:
        return self._base_wall + time.perf_counter() - self._wall0

    def _resume(self, old: Trajectory) -> tuple[float, np.ndarray, dict | None]:
        """Continue the checkpoint ``old``: from its solver's state (continued bit for bit), else
        from its last saved state (a checkpoint written before the first save time holds no
        state: the run starts over)."""
        run, stats = self.run, self.stats
        n, d = run.n, run.d
        restored = self._stored_solver_state(old)
        if restored is not None:
            if restored["size"] != n * d or restored["method"] != run.spec.scipy_name:
                raise ParticlesError(f"{self.where.path}: its solver state belongs to another run")
            keep = int(restored["saved"])  # the states recorded when the solver was there
            if keep > len(old.t):
                raise ParticlesError(f"{self.where.path}: its solver state belongs to another run")
            self._keep(old, keep)
            stats.update({k: v for k, v in restored["stats"].items() if k in stats})
            return restored["t"], restored["y"].reshape(n, d).copy(), restored
        if not len(old.t):
            return 0.0, run.x0.copy(), None
        self._keep(old, len(old.t))
        stats.update({k: v for k, v in old.stats.items() if k in stats})
        if run.noise is not None:
            if run.run_meta["noise_seed"] is None or "rng_state" not in old.meta:
                raise ParticlesError(
                    f"{run.checkpoint}: resuming a noisy run needs an integer seed (rng=int) "
                    "and a checkpoint that stores the generator's state"
                )
            run.noise.bit_generator.state = old.meta["rng_state"]
            self.noise_state["rng_state"] = old.meta["rng_state"]
        return float(old.t[-1]), np.array(old.x[-1]), None

    def _reopen(self) -> None:
        """Open the destination of the checkpoint being resumed."""

    def _open(self) -> None:
        """Make the destination, when it is not resumed."""

    def _checkpointer(self) -> Checkpoint:
        return Checkpoint(self.where.path, self.run.checkpoint_every, self.where.target)


class MemorySaver(Saver):
    """The saved states in memory (lists of times and copies of the states)."""

    def __init__(self, run: RunOptions, where: Plan, trajectory=Trajectory):
        super().__init__(run, where, trajectory)
        self.ts: list[float] = []
        self.xs: list[np.ndarray] = []

    @property
    def length(self) -> int:
        return len(self.ts)

    def checkpoint(self, force: bool = False) -> None:
        """No file to write."""

    def _write(self, t, y) -> None:
        self.ts.append(float(t))
        self.xs.append(np.array(y))

    def _states(self):
        n, d = self.run.n, self.run.d
        t_saved = np.array(self.ts, dtype=np.float64)
        x_saved = np.array(self.xs, dtype=np.float64).reshape(len(self.xs), n, d)
        return t_saved, x_saved

    def _keep(self, old: Trajectory, keep: int) -> None:
        self.ts, self.xs = list(old.t[:keep]), list(old.x[:keep])

    def _stored_solver_state(self, old: Trajectory) -> dict | None:
        return None if self.run.fixed else decode_state(old.meta.get("solver_state"))


class NpzSaver(MemorySaver):
    """The saved states in memory, the partial run in a ``.npz`` checkpoint (rewritten whole)."""

    checkpoint = Saver.checkpoint


class ZarrSaver(Saver):
    """The saved states appended to a zarr trajectory store and committed as computed; the store
    is the checkpoint, and the result reads its states from it on demand."""

    def __init__(self, run: RunOptions, where: Plan, trajectory=Trajectory):
        super().__init__(run, where, trajectory)
        self.store: TrajectoryStore | None = None

    @property
    def length(self) -> int:
        return 0 if self.store is None else self.store.length

    def finish(self) -> Trajectory:
        traj = super().finish()
        if self.ckpt.store is not self.store:  # the side store became the result
            self.store = self.ckpt.store
            traj = self.result(True)
        return traj

    def _write(self, t, y) -> None:
        # committed with the frame, so a resumed noisy run continues the path
        self.stats["wall_time"] = self._wall()
        self.store.append(float(t), y, stats=self.stats, meta=self.noise_state or None)

    def _states(self):
        if self.store is None:  # interrupted while the store was made
            return np.zeros(0), np.zeros((0, self.run.n, self.run.d))
        return self.store.t, self.store.frames

    def _keep(self, old: Trajectory, keep: int) -> None:
        if keep < self.store.length:  # frames committed after the solver's state: recomputed
            self.store.truncate(keep)

    def _stored_solver_state(self, old: Trajectory) -> dict | None:
        """The solver state an adaptive run left in its store (None for a fixed-step run, or
        none)."""
        p = self.store.path / StoreCheckpoint.STATE
        if self.run.fixed or not p.exists():
            return None
        try:
            return decode_state(json.loads(p.read_text()))
        except (OSError, ValueError):
            raise ParticlesError(f"{p}: corrupted solver state") from None

    def _reopen(self) -> None:
        self.store = TrajectoryStore.open(self.where.path, mode="r+")

    def _open(self) -> None:
        if self.store is not None:
            return
        run, where = self.run, self.where
        try:  # Ctrl-C is held while the store is made: it exists, empty, when one arrives
            self.store = TrajectoryStore.create(
                where.path,
                n=run.n,
                d=run.d,
                dynamics=run.dyn,
                method=run.method,
                meta={**run.run_meta, "complete": False},
                stats=self.stats,
                capacity=len(run.save_at),
            )
        except KeyboardInterrupt as e:
            err = Interrupted(where.path, None, False, self.result(False), where.kept, signum_of(e))
            raise err from None

    def _checkpointer(self) -> Checkpoint:
        return StoreCheckpoint(self.store, self.run.checkpoint_every, self.where.target)
