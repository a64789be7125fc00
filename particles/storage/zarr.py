"""Trajectories larger than memory: a chunked, appendable zarr store written while the run goes.

A store is a directory ``run.zarr`` (zarr format 3, readable by any zarr, xarray or dask reader)::

    run.zarr/zarr.json         the group; its attribute ``particles`` is the commit record: the
                               parameters, how many frames are valid (``length``), the step
                               statistics, ``complete``. Replaced atomically (temp file, fsync, rename)
    run.zarr/x/                (capacity, n, d) float64, one chunk row per saved time, split along
                               the particles into chunks of about CHUNK_BYTES; dims (t, particle,
                               coordinate); frames never written read as NaN
    run.zarr/t/                (capacity,) save times, one chunk per time
    run.zarr/dynamics/         the weight arrays of the Dynamics (Q, K, V, ffn), if any

Appending frame k writes the chunk files of ``x[k]`` and ``t[k]`` (new files: no existing chunk is
rewritten), then replaces the commit record with ``length = k + 1`` (rename of a complete temporary
file). So the store on disk is always a valid store of the first ``length`` frames, whatever instant
the process dies at (Ctrl-C, ``kill -9``, an exception): a frame whose commit was not written is
simply not part of it, and is overwritten by the next append. Ctrl-C (SIGINT) is held during an
append or a commit, as for the ``.npz`` checkpoints. Against a crash of the machine itself, frames
are durable up to the last :meth:`TrajectoryStore.sync` (fsync of the new chunk files, then of the
commit record), which :func:`particles.simulate` calls at each checkpoint interval, on Ctrl-C and at
the end: the same promise as the ``.npz`` checkpoints (an fsync per append would cost ~20 ms each).

Memory: appending holds one frame; reading (:class:`Frames`) reads the frames asked for, so a
trajectory of any length is written and analysed in O(n d) memory.

Why zarr rather than HDF5 (h5py): a zarr store is a directory of independent chunk files plus small
JSON documents, so an append is "write new files, then rename one small file": crash-safe with
plain POSIX guarantees, readable while it is being written (the length in the commit record says
what is valid), and readable in parallel by dask workers without a file lock. HDF5 keeps everything
in one file with internal B-trees: an interrupted write can corrupt the whole file (its metadata
cache is flushed at close; SWMR mode helps but forbids adding datasets and needs one writer
process), and parallel reads go through one library lock per process. zarr is also what xarray and
dask read lazily out of the box (``xarray.open_zarr``, ``dask.array.from_zarr``).

Needs the optional ``zarr`` extra: ``pip install -e '.[zarr]'`` in the repository (or
``pip install 'zarr>=3' xarray 'dask[array]'``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np

from ..errors import ParticlesError
from ..model.params import Piecewise
from ..resources import check_memory
from . import npz as io
from .records import check_states, check_times, dynamics_from_record, dynamics_to_record

SUFFIX = ".zarr"
FORMAT = "trajectory-store"
COMMIT = "zarr.json"
ATTR = "particles"
#: target size of one chunk of x (one saved time, a slab of particles); zarr reads whole chunks
CHUNK_BYTES = 16 << 20
#: frames read at once by :meth:`Frames.blocks` (bounded by bytes)
BLOCK_BYTES = 64 << 20
DIMS = ("t", "particle", "coordinate")


def is_store_path(path) -> bool:
    """True for a path that names a trajectory store (``*.zarr``) rather than an ``.npz`` file."""
    return Path(path).suffix == SUFFIX


def _zarr():
    try:
        import zarr
    except ImportError:
        raise ParticlesError(
            "trajectory stores (.zarr) need zarr 3: pip install 'zarr>=3' xarray 'dask[array]', or "
            "pip install -e '.[zarr]' in the repository"
        ) from None
    if int(zarr.__version__.split(".")[0]) < 3:
        raise ParticlesError(f"trajectory stores need zarr >= 3, found zarr {zarr.__version__}")
    return zarr


def _read_group_doc(path: Path) -> dict:
    """The root ``zarr.json`` of a store (a dict), or a clear error."""
    if not path.exists():
        raise ParticlesError(f"{path}: no such trajectory store")
    if not path.is_dir():
        raise ParticlesError(f"{path}: not a trajectory store (a store is a directory)")
    try:
        doc = json.loads((path / COMMIT).read_text())
    except FileNotFoundError:
        raise ParticlesError(f"{path}: not a zarr store (no {COMMIT})") from None
    except (OSError, ValueError) as e:
        raise ParticlesError(f"{path}: corrupted {COMMIT} ({e})") from None
    if not isinstance(doc, dict):
        raise ParticlesError(f"{path}: corrupted {COMMIT}")
    return doc


def _read_commit(path: Path) -> dict:
    attrs = _read_group_doc(path).get("attributes") or {}
    if not isinstance(attrs, dict):
        raise ParticlesError(f"{path}: corrupted {COMMIT} (its attributes are not a record)")
    rec = attrs.get(ATTR)
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise ParticlesError(f"{path}: not a particles trajectory store")
    return rec


def _check_record(path: Path, rec: dict) -> None:
    """The commit record typed as :meth:`TrajectoryStore.create` writes it, or a clear error."""

    def whole(k, least):
        v = rec.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise ParticlesError(
                f"{path}: corrupted trajectory store: {k} must be an integer >= {least}, got {v!r}"
            )

    whole("length", 0)
    whole("n", 1)
    whole("d", 2)
    for k, kind in (("meta", dict), ("stats", dict), ("method", str), ("dynamics", dict)):
        if not isinstance(rec.get(k), kind):
            raise ParticlesError(
                f"{path}: corrupted trajectory store: {k} must be a {kind.__name__}, "
                f"got {type(rec.get(k)).__name__}"
            )


def _on_sphere(dyn) -> bool:
    """Whether every state of ``dyn`` (a Dynamics or a Piecewise) is on the unit sphere."""
    segs = [d for d, _ in dyn.segments] if hasattr(dyn, "segments") else [dyn]
    return all(d.on_sphere for d in segs)


def _reading(path, what: str, fn):
    """``fn()``, with a failed read of the store's chunks (missing, truncated or garbage: zarr and
    its codecs raise many kinds of errors) turned into one :class:`ParticlesError` line."""
    try:
        return fn()
    except ParticlesError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # zarr's codec errors (RuntimeError from Zstd, ValueError, ...)
        raise ParticlesError(
            f"{path}: cannot read {what} ({type(e).__name__}: {e}); the store is corrupted"
        ) from None


def _fsync_tree(root: Path) -> None:
    """fsync every file under ``root`` and the directories holding them (the frame's chunks)."""
    if not root.exists():
        return
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _OrthogonalKey(tuple):
    """A key for ``get_orthogonal_selection`` (see :meth:`Frames._get`)."""


class Frames:
    """The saved states of a store, read on demand: behaves like a read-only (T, n, d) array.

    Indexing (``frames[k]``, ``frames[-1]``, ``frames[a:b]``, ``frames[idx]``, ``frames[k, :, 0]``)
    reads only the chunks needed; iterating yields one (n, d) frame at a time; ``np.asarray(frames)``
    reads everything (refused when it does not fit in memory). :meth:`blocks` yields consecutive
    frames in blocks of bounded size; :meth:`to_dask` gives a ``dask.array``.
    """

    lazy = True

    def __init__(self, arr, length: int, post=None, *, path=None, on_sphere: bool = False):
        self._arr = arr
        self._post = post  # applied to every state read (rows normalised: :meth:`normalized`)
        self.path = path  # for messages: states are checked as they are read
        self.on_sphere = on_sphere  # whole states read must be on the unit sphere
        self.length = int(length)
        self.shape = (self.length, *arr.shape[1:])
        self.dtype = np.dtype(arr.dtype)
        self.ndim = 3

    def __len__(self) -> int:
        return self.length

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def _first(self, k):
        T = self.length
        if isinstance(k, (int, np.integer)):
            k = int(k)
            if not -T <= k < T:
                raise IndexError(f"frame {k} is out of range for {T} saved times")
            return k + T if k < 0 else k
        if isinstance(k, slice):
            start, stop, step = k.indices(T)
            if step == 1:
                return slice(start, max(start, stop))
            return np.arange(start, stop, step)
        idx = np.asarray(k)
        if idx.dtype == bool:
            if idx.shape != (T,):
                raise IndexError(f"boolean index of shape {idx.shape} for {T} saved times")
            return np.flatnonzero(idx)
        if not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"frames are indexed by integers, slices or masks, not {idx.dtype}")
        if idx.size and (idx.min() < -T or idx.max() >= T):
            raise IndexError(f"frame index out of range for {T} saved times")
        return np.where(idx < 0, idx + T, idx)

    def normalized(self) -> Frames:
        """The same frames with every row x_i / |x_i| (the token directions of a residual stream),
        still read on demand."""
        from ..model.sphere import normalize

        return Frames(self._arr, self.length, post=normalize, path=self.path)

    def _get(self, key, first: int = 0, whole: bool = False):
        """``self._arr[key]`` read and checked: finite (a missing chunk reads as NaN) and, for
        whole states of a scheme on the sphere, of norm 1 (:func:`particles.storage.records.check_states`)."""
        if isinstance(key, _OrthogonalKey):
            a = _reading(
                self.path,
                "saved states",
                lambda: np.asarray(self._arr.get_orthogonal_selection(tuple(key))),
            )
        else:
            a = _reading(self.path, "saved states", lambda: np.asarray(self._arr[key]))
        if a.size and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            check_states(
                a if a.ndim in (2, 3) else a.reshape(1, 1, -1), str(self.path), False, first
            )
        if whole and self.on_sphere and a.ndim in (2, 3):
            check_states(a, str(self.path), True, first)
        return a

    def _read(self, key):
        first = (key.start or 0) if isinstance(key, slice) else int(key)
        a = self._get(key, first, whole=True)
        return a if self._post is None else self._post(a)

    def __getitem__(self, key):
        if self._post is not None:  # read whole states, transform them, then index within them
            key = key if isinstance(key, tuple) else (key,)
            if not key or key[0] is Ellipsis:
                return self._post(self._get(slice(0, self.length)))[key]
            base = Frames(self._arr, self.length, path=self.path)[key[0]]
            base = self._post(base) if base.size else base
            return base[key[1:]] if base.ndim == 2 else base[(slice(None), *key[1:])]
        key = key if isinstance(key, tuple) else (key,)
        if not key or key[0] is Ellipsis:  # the ellipsis stays in ``rest`` and covers the others
            first, rest = slice(0, self.length), key
        else:
            first, rest = self._first(key[0]), key[1:]
        whole = all(isinstance(r, slice) and r == slice(None) for r in rest)
        if isinstance(first, np.ndarray):
            if first.ndim != 1:
                raise IndexError("frame index arrays must be one-dimensional")
            if any(not isinstance(r, slice) for r in rest):
                frames = [self._get((int(k), *rest), int(k)) for k in first]
                return np.stack(frames) if frames else np.empty((0,), self.dtype)
            if first.size == 0:
                return self._get((slice(0, 0), *rest))
            sel = _OrthogonalKey((first, *rest))
            return self._get(sel, int(first[0]), whole)
        at = first if isinstance(first, int) else first.start
        return self._get((first, *rest), at, whole)

    def __iter__(self):
        for k in range(self.length):
            yield self._read(k)

    def __array__(self, dtype=None, copy=None):
        check_memory(self.nbytes, f"reading {self.length} saved states of shape {self.shape[1:]}")
        out = self._read(slice(0, self.length))
        return out if dtype is None else out.astype(dtype)

    def blocks(self, max_bytes: int | None = None):
        """Yield consecutive frames as arrays (k, n, d) of at most ``max_bytes`` (>= one frame)."""
        per = max(1, int((max_bytes or BLOCK_BYTES) // max(1, self.nbytes // max(1, self.length))))
        for a in range(0, self.length, per):
            yield self._read(slice(a, min(self.length, a + per)))

    def to_dask(self):
        """The frames as a lazy ``dask.array`` (chunks of the store)."""
        import dask.array as da

        arr = da.from_zarr(self._arr)[: self.length]
        if self._post is not None:
            arr = arr / da.sqrt((arr * arr).sum(axis=-1, keepdims=True))
        return arr

    def __repr__(self) -> str:
        return f"Frames(shape={self.shape}, dtype={self.dtype}, store={self._arr.store})"


class TrajectoryStore:
    """A zarr trajectory store: create or open, append frames, commit statistics.

    Use :meth:`create` (a new store, replacing an older store at the same path) or :meth:`open`.
    ``length`` is the number of committed frames; :attr:`t` and :attr:`frames` read them.
    """

    def __init__(self, path: Path, group, record: dict, writable: bool):
        self.path = Path(path)
        self._group = group
        self._x = group["x"]
        self._t = group["t"]
        self.record = record
        self.writable = writable
        self._times = None
        self._unsynced: list[int] = []

    # --- creating and opening ------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path,
        *,
        n: int,
        d: int,
        dynamics,
        method: str,
        meta: dict | None = None,
        stats: dict | None = None,
        capacity: int = 16,
        chunk_bytes: int | None = None,
    ) -> TrajectoryStore:
        """A new empty store at ``path`` (``*.zarr``) for frames (n, d); written into a temporary
        directory and renamed into place, so ``path`` is never a half-made store. An existing
        particles store at ``path`` is replaced; anything else there is refused."""
        zarr = _zarr()
        path = Path(path)
        if not is_store_path(path):
            raise ParticlesError(f"{path}: trajectory stores end in {SUFFIX}")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise ParticlesError(f"cannot write {path}: directory {parent} does not exist")
        if path.exists() or path.is_symlink():
            try:
                _read_commit(path)
            except ParticlesError:
                raise ParticlesError(
                    f"{path} exists and is not a particles trajectory store; remove it or "
                    "choose another path"
                ) from None
        n, d, capacity = int(n), int(d), max(1, int(capacity))
        rows = max(1, min(n, int((chunk_bytes or CHUNK_BYTES) // (8 * d))))
        dmeta, darrays = dynamics_to_record(dynamics)
        record = {
            "format": FORMAT,
            "version": io.package_version(),
            "method": method,
            "n": n,
            "d": d,
            "dynamics": dmeta,
            "meta": io._jsonable(meta or {}),
            "stats": io._jsonable(stats or {}),
            "length": 0,
        }
        io.dumps(record, f"cannot write {path}")  # before anything is made
        with io.sigint_held():
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
            try:
                group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
                group.create_array(
                    "x",
                    shape=(capacity, n, d),
                    chunks=(1, rows, d),
                    dtype="float64",
                    fill_value=np.nan,
                    dimension_names=DIMS,
                )
                group.create_array(
                    "t", shape=(capacity,), chunks=(1,), dtype="float64", fill_value=np.nan,
                    dimension_names=DIMS[:1],
                )  # fmt: skip
                if darrays:
                    sub = group.create_group("dynamics")
                    for k, a in darrays.items():
                        a = np.ascontiguousarray(a)
                        arr = sub.create_array(k, shape=a.shape, dtype=a.dtype)
                        arr[...] = a
                _write_commit(tmp, record)
                os.chmod(tmp, 0o777 & ~_umask())
                _replace_dir(tmp, path)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return cls.open(path, mode="r+")

    @classmethod
    def open(cls, path, mode: str = "r") -> TrajectoryStore:
        """Open an existing store (``mode="r"`` read-only, ``"r+"`` to append)."""
        zarr = _zarr()
        path = Path(path)
        record = _read_commit(path)
        _check_record(path, record)

        def open_arrays():
            group = zarr.open_group(str(path), mode="r" if mode == "r" else "r+", zarr_format=3)
            return cls(path, group, record, writable=mode != "r")

        store = _reading(path, "its arrays", open_arrays)
        for name, arr in (("x", store._x), ("t", store._t)):
            if np.dtype(arr.dtype).kind != "f":
                raise ParticlesError(
                    f"{path}: corrupted trajectory store ({name} holds {arr.dtype}, not floats)"
                )
        shape, tshape = tuple(store._x.shape), tuple(store._t.shape)
        if (
            len(shape) != 3
            or shape[1:] != (record["n"], record["d"])
            or record["length"] > shape[0]
            or tshape != shape[:1]
        ):
            raise ParticlesError(
                f"{path}: corrupted trajectory store (x has shape {shape}, t {tshape}, for "
                f"length {record['length']}, n = {record['n']}, d = {record['d']})"
            )
        return store

    # --- what it holds -----------------------------------------------------------------------

    @property
    def length(self) -> int:
        return int(self.record["length"])

    @property
    def n(self) -> int:
        return int(self.record["n"])

    @property
    def d(self) -> int:
        return int(self.record["d"])

    @property
    def capacity(self) -> int:
        return int(self._x.shape[0])

    @property
    def t(self) -> np.ndarray:
        """The committed save times (length,)."""
        if self._times is None or len(self._times) != self.length:
            check_memory(8.0 * self.length, f"reading the {self.length} save times of {self.path}")
            t = _reading(self.path, "the save times", lambda: np.asarray(self._t[: self.length]))
            self._times = check_times(t, f"{self.path}: corrupted trajectory store").astype(
                np.float64
            )
        return self._times.copy()

    @property
    def frames(self) -> Frames:
        return Frames(self._x, self.length, path=self.path)

    def dynamics(self):
        def read():
            if "dynamics" not in self._group:
                return {}
            arrays = dict(self._group["dynamics"].arrays())
            size = sum(
                float(np.prod([float(k) for k in a.shape])) * a.dtype.itemsize
                for a in arrays.values()
            )
            check_memory(size, f"reading the weights of {self.path}")
            return {k: np.asarray(a[...]) for k, a in arrays.items()}

        arrays = _reading(self.path, "the dynamics' arrays", read)
        try:
            return dynamics_from_record(self.record["dynamics"], arrays)
        except ParticlesError as e:
            raise ParticlesError(f"{self.path}: corrupted trajectory store: {e}") from None

    def fields(self) -> dict:
        """The fields of a :class:`~particles.Trajectory` (``t``, ``x``, ``dynamics``, ``method``,
        ``stats``, ``meta``), ``x`` a :class:`Frames` (read on demand); the Trajectory class
        composes them (``Trajectory.load``)."""
        rec = self.record
        dyn = self.dynamics()
        meta = {**rec["meta"], "format": "trajectory", "version": rec.get("version")}
        return dict(
            t=self.t,
            x=Frames(self._x, self.length, path=self.path, on_sphere=_on_sphere(dyn)),
            dynamics=dyn,
            method=rec["method"],
            stats=dict(rec["stats"]),
            meta=meta,
        )

    # --- writing -------------------------------------------------------------------------------

    def _check_writable(self):
        if not self.writable:
            raise ParticlesError(f"{self.path}: opened read-only")

    def append(self, t: float, x, *, stats: dict | None = None, meta: dict | None = None) -> None:
        """Write one frame (n, d) at save time ``t`` and commit it (see the module docstring);
        ``stats`` replaces the statistics and ``meta`` updates the metadata in the same commit."""
        self._check_writable()
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.n, self.d):
            raise ParticlesError(f"frame has shape {x.shape}, the store holds ({self.n}, {self.d})")
        k = self.length
        with io.sigint_held():
            if k >= self.capacity:  # grow: rewrites the two arrays' metadata (zarr.json) only
                cap = max(2 * self.capacity, k + 1)
                self._x.resize((cap, self.n, self.d))
                self._t.resize((cap,))
            self._x[k] = x
            self._t[k] = float(t)
            self._unsynced.append(k)
            self._commit(length=k + 1, stats=stats, meta=meta, sync=False)
            if self._times is not None and len(self._times) == k:
                self._times = np.append(self._times, float(t))

    def truncate(self, length: int) -> None:
        """Keep only the first ``length`` frames (later chunk files are overwritten by appends)."""
        self._check_writable()
        if not 0 <= int(length) <= self.length:
            raise ParticlesError(f"cannot truncate {self.length} frames to {length}")
        with io.sigint_held():
            self._commit(length=int(length))
        self._times = None

    def commit(self, *, stats: dict | None = None, meta: dict | None = None) -> None:
        """Replace the statistics and/or update the run's metadata (e.g. ``complete``); syncs."""
        self._check_writable()
        with io.sigint_held():
            self._fsync_frames()
            self._commit(stats=stats, meta=meta)

    def sync(self) -> None:
        """Make every appended frame durable: fsync the new chunk files, then the commit record."""
        self.commit()

    def _fsync_frames(self) -> None:
        for k in self._unsynced:
            _fsync_tree(self.path / "x" / "c" / str(k))
            _fsync_tree(self.path / "t" / "c" / str(k))
        self._unsynced = []

    def _commit(self, *, length=None, stats=None, meta=None, sync: bool = True) -> None:
        rec = dict(self.record)
        if length is not None:
            rec["length"] = int(length)
        if stats is not None:
            rec["stats"] = io._jsonable(stats)
        if meta is not None:
            rec["meta"] = {**rec["meta"], **io._jsonable(meta)}
        _write_commit(self.path, rec, sync=sync)
        self.record = rec


def _write_commit(path: Path, record: dict, sync: bool = True) -> None:
    """Replace the root ``zarr.json`` (a zarr v3 group document) with ``record`` as its attribute
    ``particles``, atomically (a complete temporary file renamed over it): the store is the previous
    valid one or the new one, never neither. ``sync``: fsync the file before the rename."""
    doc = _read_group_doc(path)
    doc["attributes"] = {**(doc.get("attributes") or {}), ATTR: record}
    try:
        data = json.dumps(doc, indent=1).encode()
    except (TypeError, ValueError) as e:
        raise ParticlesError(f"cannot write {path}: the metadata is not JSON-able ({e})") from None
    if sync:
        io.atomic_write_bytes(path / COMMIT, data)
        return
    tmp = path / f".{COMMIT}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path / COMMIT)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_dir(new: Path, path: Path) -> None:
    """Move the directory ``new`` to ``path``, replacing a previous store there (both renames are
    atomic; between them ``path`` is briefly absent, under a held SIGINT)."""
    if path.exists() or path.is_symlink():
        old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(path, old)
        os.replace(new, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, path)


# --- Trajectory <-> store ----------------------------------------------------------------------


def save(traj, path, *, chunk_bytes: int | None = None) -> Path:
    """Write a :class:`~particles.Trajectory` to a new store at ``path``, frame by frame."""
    store = TrajectoryStore.create(
        path,
        n=traj.n,
        d=traj.d,
        dynamics=traj.dynamics,
        method=traj.method,
        meta={k: v for k, v in traj.meta.items() if k not in ("format", "version")},
        stats=traj.stats,
        capacity=max(1, len(traj.t)),
        chunk_bytes=chunk_bytes,
    )
    for tk, xk in zip(traj.t, traj.x, strict=True):
        store.append(float(tk), xk)
    return Path(path)


def to_xarray(traj):
    """The trajectory as an ``xarray.Dataset``: variable ``x`` (t, particle, coordinate), coordinate
    ``t``, and the parameters (method, beta, kind, dt, seed, ...) as attributes. A store-backed
    trajectory stays lazy (a dask array over the store's chunks)."""
    try:
        import xarray as xr
    except ImportError:
        raise ParticlesError(
            "to_xarray needs xarray: pip install xarray, or pip install -e '.[zarr]' in the repository"
        ) from None
    x = traj.x
    if getattr(x, "lazy", False):
        try:
            data = x.to_dask()
        except ImportError:
            data = np.asarray(x)
    else:
        data = np.asarray(x)
    T, n, d = data.shape
    ds = xr.Dataset(
        {"x": (DIMS, data)},
        coords={"t": np.asarray(traj.t), "particle": np.arange(n), "coordinate": np.arange(d)},
        attrs=_flat_attrs(traj),
    )
    ds["x"].attrs["long_name"] = "position on the unit sphere"
    ds["t"].attrs["long_name"] = "time"
    return ds


def _flat_attrs(traj) -> dict:
    """Scalars and strings only (what netCDF and zarr attributes take); nested records as JSON."""
    dyn = traj.dynamics
    out = {"method": traj.method, "n": traj.n, "d": traj.d}
    if not isinstance(dyn, Piecewise):
        out.update(beta=float(dyn.beta), kind=dyn.kind, causal=int(bool(dyn.causal)))
    out["dynamics"] = json.dumps(io._jsonable(dynamics_to_record(dyn)[0]))
    out["stats"] = json.dumps(io._jsonable(traj.stats))
    for k, v in traj.meta.items():
        v = io._jsonable(v)
        if v is None or k in out:
            continue
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, float) and not math.isfinite(v):
            v = str(v)
        out[k] = v if isinstance(v, (int, float, str)) else json.dumps(v)
    return out
