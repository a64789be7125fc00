"""Checkpoints of :func:`particles.simulate`: what is on disk at any instant, and what an interrupt
says about it.

Guarantees, true by construction rather than by timing:

- every write is atomic (:func:`particles.storage.npz.atomic_open`: temporary file, fsync, rename), and a
  Ctrl-C (SIGINT) arriving during a write is held until the rename is done, so the file on disk is
  always the previous valid checkpoint or the new valid one, never a partial or missing file;
- the first checkpoint is written before the first step, so an interrupt at any later instant
  finds a file of this run;
- on Ctrl-C or SIGTERM, :func:`particles.simulate` writes the states computed so far (further
  signals are held until that write is done) and raises :class:`Interrupted`, which says what the
  file holds (and, in ``signum``, which signal it was: the command line exits with 130 or 143);
- a complete result is never replaced by less (:func:`plan`): when the output path holds an
  earlier complete result (or any file that is not a partial checkpoint), the checkpoints go to a
  side file beside it (``run.partial.npz``, ``run.partial.zarr``, :func:`side_path`) and the output
  is replaced only by this run's complete result (an atomic rename). A run that fails or is
  interrupted leaves the earlier file as it was, and resume continues from the side file. A
  deliberate rerun into an existing file therefore replaces it when, and only when, it completes;
- an adaptive run's checkpoint also holds the scipy solver's state after its last step
  (:func:`solver_state`): time, state, step size and the last field value and, for LSODA, BDF and
  Radau, their history between steps (:func:`particles.solvers.adaptive.internal_state`: LSODA's
  work and state arrays; BDF's difference array; the Jacobian, the matrices of the LU
  factorisations and Newton iterates), so a resumed run of any adaptive method continues the very
  computation (bit for bit; LSODA where scipy keeps its state in arrays:
  :data:`particles.solvers.adaptive.EXACT_RESUME`).
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import ParticlesError
from ..interrupts import signum_of
from ..storage.npz import META_KEY, sigint_held
from ..storage.trajectory import Trajectory
from .adaptive import internal_state


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during :func:`particles.simulate`.

    ``path``: the checkpoint file (None when the run had none); ``t_saved``: the last time whose
    state is in it (None when it holds no state of this run); ``complete``: the file holds the
    whole run (the interrupt came after the end); ``trajectory``: the states computed so far;
    ``kept``: the output file holding an earlier result, left unchanged (the checkpoint ``path`` is
    then its side file), or None; ``signum``: the signal (``signal.SIGINT`` or ``SIGTERM``).
    """

    def __init__(
        self,
        path,
        t_saved,
        complete: bool,
        trajectory: Trajectory,
        kept=None,
        signum: int = int(signal.SIGINT),
    ):
        self.path = None if path is None else Path(path)
        self.t_saved = t_saved
        self.complete = complete
        self.trajectory = trajectory
        self.kept = None if kept is None or complete else Path(kept)
        self.signum = int(signum)
        super().__init__(self.describe())

    def describe(self) -> str:
        how = "interrupted" + (" (SIGTERM)" if self.signum == signal.SIGTERM else "")
        if self.path is None:
            return f"{how} (no checkpoint file was requested, nothing was written)"
        if self.complete:
            return f"{how} after the run finished: {self.path} holds the complete result"
        kept = (
            ""
            if self.kept is None
            else f"; {self.kept} (an earlier result) was kept unchanged, this run replaces it "
            "only when it completes"
        )
        if self.t_saved is None:
            return (
                f"{how}: {self.path} holds no state of this run yet; resume starts at t = 0{kept}"
            )
        return (
            f"{how}: {self.path} holds the states up to t = {self.t_saved:.6g}; "
            f"rerun with resume (CLI: --resume) to continue from there{kept}"
        )


# --- where the checkpoints go ------------------------------------------------------------------


def side_path(path) -> Path:
    """The side file of output ``path`` (``run.npz`` -> ``run.partial.npz``, ``run.zarr`` ->
    ``run.partial.zarr``): where the checkpoints of a run go while ``path`` holds an earlier
    result."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def peek(path) -> dict | None:
    """The metadata of the trajectory file or store at ``path`` without reading its states: a dict
    (with ``complete`` and ``fingerprint`` when the run wrote them), or None when ``path`` is not a
    readable trajectory."""
    path = Path(path)
    try:
        if path.suffix == ".zarr":
            from ..storage.zarr import _read_commit

            return dict(_read_commit(path).get("meta") or {})
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z[META_KEY]))
    except (ParticlesError, OSError, ValueError, KeyError, EOFError):
        return None
    except Exception:  # noqa: BLE001  (a damaged archive: zipfile's errors, anything)
        return None
    if not isinstance(meta, dict) or meta.get("format", "trajectory") != "trajectory":
        return None
    return meta


def _partial(meta: dict | None) -> bool:
    return meta is not None and meta.get("complete") is False


@dataclass
class Plan:
    """Where a run writes (:func:`plan`).

    ``target``: the output path; ``path``: where the checkpoints go (``target``, or its side file
    when ``target`` holds an earlier result, which is then ``kept``); ``resume_from``: the
    checkpoint of this run to continue (``path`` itself), or None; ``done``: ``target`` already
    holds this run's complete result; ``created``: ``path`` did not exist before the run."""

    target: Path | None
    path: Path | None
    kept: Path | None = None
    resume_from: Path | None = None
    done: bool = False
    created: bool = False


def plan(target, resume: bool, fingerprint: str) -> Plan:
    """Decide where the run of ``fingerprint`` writes its checkpoints and result.

    - ``target`` absent, or a partial checkpoint (of any run, when not resuming: it is restarted):
      written in place, as it always was;
    - ``target`` an earlier complete result, or any other ``.npz`` file: kept until this run
      completes; the checkpoints go to :func:`side_path` (a partial checkpoint there is restarted;
      anything else there is refused). A ``.zarr`` path that is not a trajectory store is refused;
    - ``resume``: the side file or ``target`` holding a partial checkpoint of this run (the side
      file first) is continued in place; a complete ``target`` of this run is the result (``done``);
      ``target`` written by a run with other parameters, or not a trajectory at all, is an error
      (an absent ``target`` starts the run).
    """
    if target is None:
        return Plan(None, None)
    target = Path(target)
    side = side_path(target)
    meta_t = peek(target) if target.exists() else None
    if target.suffix == ".zarr" and meta_t is None and (target.exists() or target.is_symlink()):
        raise ParticlesError(
            f"{target} exists and is not a particles trajectory store; remove it or choose "
            "another path"
        )  # a directory of other files is never replaced
    if resume:
        if meta_t is not None and meta_t.get("fingerprint") == fingerprint:
            if not _partial(meta_t):
                return Plan(target, target, done=True)
        for p, m in ((side, peek(side) if side.exists() else None), (target, meta_t)):
            if _partial(m) and m.get("fingerprint") == fingerprint:
                kept = target if p == side and target.exists() else None
                return Plan(target, p, kept=kept, resume_from=p)
        if meta_t is not None:
            raise ParticlesError(
                f"{target}: was written by a run with other parameters; remove it or drop --resume"
            )
        if target.exists():  # another result, or not a particles file: nothing of this run
            raise ParticlesError(
                f"{target} is not a trajectory checkpoint, so there is nothing to resume; drop "
                "--resume to write a new result there (kept until the run completes), or choose "
                "another path"
            )
    if not target.exists() and not target.is_symlink():
        return Plan(target, target, created=True)
    if _partial(meta_t):
        return Plan(target, target)
    if side.exists() and not _partial(peek(side)):
        raise ParticlesError(
            f"{target} holds an earlier result, kept until this run completes, and its side file "
            f"{side} exists and is not a partial checkpoint; move one of them away"
        )
    return Plan(target, side, kept=target, created=not side.exists())


def discard(path) -> None:
    """Remove the checkpoint ``path`` (an ``.npz`` file or a ``.zarr`` directory)."""
    p = Path(path)
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


# --- the adaptive solver's state -----------------------------------------------------------------


def _pack(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode("ascii")


def _unpack(text: str, size: int) -> np.ndarray:
    a = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype="<f8").astype(np.float64)
    if a.size != size:
        raise ParticlesError("corrupted solver state in the checkpoint")
    return a


#: the array types a solver's internal state holds (little-endian, as stored)
_DTYPES = ("<f8", "<c16", "<i4", "<i8")


def _pack_value(v):
    """A number, array or sparse matrix of a solver's internal state as JSON: arrays as base64 of
    their bytes with dtype and shape; sparse matrices (CSC) as their three arrays."""
    if sp.issparse(v):
        v = v.tocsc()
        kind = "csc_array" if isinstance(v, sp.sparray) else "csc_matrix"
        parts = {k: _pack_value(getattr(v, k)) for k in ("data", "indices", "indptr")}
        return {"sparse": kind, "shape": list(v.shape), **parts}
    if isinstance(v, np.ndarray):
        dt = v.dtype.newbyteorder("<").str
        if dt not in _DTYPES:
            raise ParticlesError(f"solver state: cannot store an array of {v.dtype}")
        raw = np.ascontiguousarray(v, dtype=dt).tobytes()
        return {"array": base64.b64encode(raw).decode("ascii"), "dtype": dt, "shape": v.shape}
    return v


def _unpack_value(v):
    """The value :func:`_pack_value` stored (ValueError, KeyError or TypeError when damaged)."""
    if not isinstance(v, dict):
        if v is not None and not isinstance(v, bool | int | float):
            raise TypeError(v)
        return v
    if "sparse" in v:
        cls = {"csc_array": sp.csc_array, "csc_matrix": sp.csc_matrix}[v["sparse"]]
        parts = tuple(_unpack_value(v[k]) for k in ("data", "indices", "indptr"))
        return cls(parts, shape=tuple(int(s) for s in v["shape"]))
    dt, shape = v["dtype"], tuple(int(s) for s in v["shape"])
    if dt not in _DTYPES:
        raise ValueError(dt)
    a = np.frombuffer(base64.b64decode(v["array"].encode("ascii")), dtype=dt)
    return a.reshape(shape).astype(np.dtype(dt).newbyteorder("="))


def solver_state(solver, segment: int, stats: dict) -> dict:
    """What a resumed adaptive run needs, as JSON (arrays as base64 of their float64 bytes, so they
    come back bit for bit): the segment index, time, state, last field value, step size and the
    statistics after the solver's last completed step, and BDF's or Radau's history
    (``internal``: :func:`particles.solvers.adaptive.internal_state`). Taken after every step
    (references only, but for the arrays the next step writes into: scipy replaces the others
    rather than writing into them)."""
    return {
        "segment": int(segment),
        "method": type(solver).__name__,
        "t": float(solver.t),
        "y": solver.y,
        "f": getattr(solver, "f", None),
        "h_abs": None if getattr(solver, "h_abs", None) is None else float(solver.h_abs),
        "stats": dict(stats),
        "internal": internal_state(solver),
    }


def encode_state(state: dict | None) -> dict | None:
    """:func:`solver_state` as a JSON-able record."""
    if state is None:
        return None
    out = {k: v for k, v in state.items() if k not in ("y", "f", "internal")}
    out["size"] = int(state["y"].size)
    out["y"] = _pack(state["y"])
    out["f"] = None if state["f"] is None else _pack(state["f"])
    internal = state.get("internal")
    if internal is not None:
        out["internal"] = {k: _pack_value(v) for k, v in internal.items()}
    return out


def decode_state(record) -> dict | None:
    """The state written by :func:`encode_state` (None when absent)."""
    if not isinstance(record, dict):
        return None
    try:
        size = int(record["size"])
        out = dict(record)
        out["y"] = _unpack(record["y"], size)
        out["f"] = None if record.get("f") is None else _unpack(record["f"], size)
        out["t"] = float(record["t"])
        out["segment"] = int(record["segment"])
        out["saved"] = int(record["saved"])
        internal = record.get("internal")
        out["internal"] = (
            None if internal is None else {k: _unpack_value(v) for k, v in internal.items()}
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ParticlesError("corrupted solver state in the checkpoint") from None
    return out


# --- writing -------------------------------------------------------------------------------------


class Checkpoint:
    """Writes the partial trajectory to ``path`` every ``every`` seconds (and when forced); the
    complete result goes to ``target`` (when ``path`` is its side file: written atomically onto
    ``target``, then the side file is removed)."""

    def __init__(self, path, every: float, target=None):
        self.path = None if path is None else Path(path)
        self.target = self.path if target is None else Path(target)
        self.every = float(every)
        self.last = time.perf_counter()
        self.t_saved: float | None = None
        self.complete = False

    @property
    def kept(self) -> Path | None:
        """The earlier result left unchanged while the checkpoints go to its side file."""
        if self.complete or self.target == self.path or not self.target.exists():
            return None
        return self.target

    def write(self, traj: Trajectory) -> None:
        if self.path is None:
            return
        complete = bool(traj.meta.get("complete", False))
        with sigint_held():  # a Ctrl-C during the write arrives after the bookkeeping below
            if complete and self.target != self.path:
                traj.save(self.target)  # atomic: the earlier result or this one, never less
                discard(self.path)
                self.path = self.target
            else:
                traj.save(self.path)
            self.last = time.perf_counter()
            self.t_saved = float(traj.t[-1]) if len(traj.t) else None
            self.complete = complete

    def due(self) -> bool:
        return self.path is not None and time.perf_counter() - self.last >= self.every

    def interrupted(self, partial, cause: BaseException | None = None) -> Interrupted:
        """After Ctrl-C or SIGTERM (``cause``): write ``partial()`` unless the complete result is
        already on disk (every further signal held until the write is done) and return the
        exception to raise."""
        with sigint_held(deliver=False):
            traj = partial()
            if not self.complete:
                self.write(traj)
        signum = int(signal.SIGINT) if cause is None else signum_of(cause)
        return Interrupted(self.path, self.t_saved, self.complete, traj, self.kept, signum)


class StoreCheckpoint(Checkpoint):
    """The checkpoint of a run written into a zarr trajectory store (:mod:`particles.storage.zarr`).

    Saved states are appended and committed to the store as they are computed
    (:meth:`particles.storage.zarr.TrajectoryStore.append`: chunk files, then the commit record replaced
    atomically, Ctrl-C held), so a checkpoint write only commits the statistics and whether the run
    is complete. The guarantees above hold with "file" read as "the store's commit record": at any
    instant the store on disk is a valid store of this run, and :class:`Interrupted` says what it
    holds. The states are never all in memory: ``traj.x`` is the store's lazy frames. An adaptive
    run's solver state goes to ``solver_state.json`` in the store (written atomically at each
    checkpoint; frames committed after it are recomputed on resume). When the store is the side
    file of a kept result, the complete store is renamed onto ``target`` (``self.store`` is then
    the store there).
    """

    STATE = "solver_state.json"

    def __init__(self, store, every: float, target=None):
        super().__init__(store.path, every, target)
        self.store = store

    def write(self, traj: Trajectory) -> None:
        from ..storage.npz import atomic_write_bytes

        complete = bool(traj.meta.get("complete"))
        with sigint_held():
            state = traj.meta.get("solver_state")
            if state is not None and not complete:
                atomic_write_bytes(self.path / self.STATE, json.dumps(state).encode())
            self.store.commit(stats=traj.stats, meta={"complete": complete})
            if complete:
                (self.path / self.STATE).unlink(missing_ok=True)
                if self.target != self.path:
                    from ..storage.zarr import TrajectoryStore, _replace_dir

                    _replace_dir(self.path, self.target)
                    self.path = self.target
                    self.store = TrajectoryStore.open(self.target, mode="r+")
            self.last = time.perf_counter()
            self.t_saved = float(traj.t[-1]) if len(traj.t) else None
            self.complete = complete
