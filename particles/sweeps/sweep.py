"""Parameter sweeps as independent tasks, with one result file per task in a store directory.

A :class:`Task` is a key (its file name in the store), a module-level function and its keyword arguments;
the function returns ``(arrays, meta)``. :func:`run_sweep` runs the tasks that have no result yet and
writes each result, as soon as it is computed and by the process that computed it, to
``<store>/<key>.npz`` with :func:`particles.storage.npz.save_npz` (atomic: temp file + rename). Hence:

- a rerun (or a run after a crash, Ctrl-C or a killed machine) skips every finished task: *resumable*;
- a worker that dies loses only the task it was running; Dask reruns that task on another worker;
- a task that runs twice (a worker killed after writing but before reporting) replaces its file with
  the same content: every task's result is present exactly once.

Backends: ``"serial"`` (this process, in order), ``"processes"`` (a local process pool), ``"dask"``
(Dask distributed: a ``LocalCluster`` on this machine by default, or the scheduler at ``scheduler=
"tcp://HOST:PORT"``; needs the optional ``dask`` extra). Numerical tasks that already use every core
(numba ``prange`` over systems) run fastest serially; Dask is for more machines.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, count
from ..storage.npz import _jsonable, load_npz, results_dir, save_npz

BACKENDS = ("serial", "processes", "dask")
FORMAT = "sweep_task"
#: how long to wait for a remote Dask scheduler before giving up
CONNECT_TIMEOUT = "20s"
_KEY_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.=+")


@dataclass(frozen=True, kw_only=True)
class Task:
    """One unit of a sweep: ``fn(**kwargs) -> (arrays: dict, meta: dict)``, stored as ``<key>.npz``.

    ``fn`` must be importable by name (a module-level function) so that other processes can run it.
    """

    key: str
    fn: Callable
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.key or not set(self.key) <= _KEY_OK or self.key.startswith("."):
            raise ParticlesError(
                f"task key {self.key!r} must be a non-empty file name of letters, digits and _-.=+"
            )
        if not callable(self.fn) or "<" in getattr(self.fn, "__qualname__", "<"):
            raise ParticlesError(f"task {self.key}: fn must be a module-level function")

    @property
    def fn_name(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"


def fingerprint(obj) -> str:
    """A short stable hash of a JSON-able description (parameters of a task or a sweep)."""
    try:
        text = json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ParticlesError(
            f"cannot fingerprint a description that is not JSON-able: {e}"
        ) from None
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def task_path(store: str | os.PathLike, key: str) -> Path:
    if not isinstance(store, (str, os.PathLike)) or not isinstance(key, str) or not key:
        raise ParticlesError(
            f"a task's store is a path and its key a string, got {store!r}, {key!r}"
        )
    return Path(store) / f"{key}.npz"


def _resolve(fn_name: str) -> Callable:
    mod, _, qual = fn_name.partition(":")
    obj = importlib.import_module(mod)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def execute_task(
    fn_name: str, kwargs: dict, path: str, key: str, threads: int | None = None
) -> str:
    """Run one task and write its result file atomically (runs in the worker). Returns the path."""
    if threads:
        try:
            import numba

            numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
        except (ImportError, ValueError):  # pragma: no cover
            pass
    arrays, meta = _resolve(fn_name)(**kwargs)
    meta = {
        **meta,
        "format": FORMAT,
        "task_key": key,
        "task_fn": fn_name,
        "task_fingerprint": fingerprint(kwargs),
    }
    save_npz(path, arrays, meta)
    return path


def is_done(store: str | os.PathLike, task: Task) -> bool:
    """True when the store holds a readable result of exactly this task (same function and arguments)."""
    p = task_path(store, task.key)
    if not p.exists():
        return False
    try:
        _, meta = load_npz(p, FORMAT)
    except ParticlesError:
        return False  # unreadable: recompute (the rewrite is atomic)
    if (
        meta.get("task_fingerprint") != fingerprint(task.kwargs)
        or meta.get("task_fn") != task.fn_name
    ):
        raise ParticlesError(
            f"{p}: holds the result of a task with other parameters; use another store directory"
        )
    return True


def load_result(store: str | os.PathLike, key: str) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` of one finished task."""
    return load_npz(task_path(store, key), FORMAT)


def _progress(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="task")


def run_sweep(
    tasks: Iterable[Task],
    store: str | os.PathLike,
    *,
    backend: str = "serial",
    scheduler: str | None = None,
    workers: int = 2,
    threads: int | None = None,
    progress: bool = True,
    desc: str = "tasks",
) -> list[Path]:
    """Run every task whose result is not yet in ``store``; return the result paths, in task order.

    **Arguments:**
    - ``backend``: ``"serial"``, ``"processes"`` (``workers`` local processes) or ``"dask"``.
    - ``scheduler``: for Dask, ``None``/``"local"`` (a ``LocalCluster`` of ``workers`` single-threaded
      worker processes, closed at the end) or the address of a running scheduler.
    - ``threads``: numba threads per task (default: numba's default; 1 is best with many workers).
    - ``progress``: a tqdm bar of tasks done (finished tasks found in the store count as done).

    **Raises:** :class:`ParticlesError` for duplicate keys, an unknown backend, a store entry written
    with other parameters, or when Dask is needed but not installed.
    """
    tasks = list(tasks)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ParticlesError(f"duplicate task keys: {', '.join(dup[:5])}")
    if backend not in BACKENDS:
        raise ParticlesError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    check_workers(workers)  # checked even where unused: -1 is a slip, not a default
    if backend == "dask":
        check_scheduler(scheduler)
    elif scheduler is not None:
        raise ParticlesError(
            f"scheduler is for backend='dask'; backend={backend!r} would ignore it"
        )
    with results_dir(store, "store") as store:
        todo = [t for t in tasks if not is_done(store, t)]
        bar = _progress(len(tasks), len(tasks) - len(todo), progress, desc)
        try:
            if todo and backend == "serial":
                for t in todo:
                    execute_task(t.fn_name, t.kwargs, str(task_path(store, t.key)), t.key, threads)
                    bar.update(1)
            elif todo and backend == "processes":
                _run_processes(todo, store, workers, threads, bar)
            elif todo:
                _run_dask(todo, store, scheduler, workers, threads, bar)
        finally:
            bar.close()
    missing = [t.key for t in tasks if not task_path(store, t.key).exists()]
    if missing:  # pragma: no cover - every backend raises on failure first
        raise ParticlesError(f"{len(missing)} tasks have no result: {', '.join(missing[:5])}")
    return [task_path(store, k) for k in keys]


#: the most local worker processes a sweep starts
MAX_WORKERS = 1024
_ADDRESS = re.compile(r"([a-z][a-z0-9+.-]*://)?[A-Za-z0-9_.\-\[\]:]*[A-Za-z0-9_\]]:[0-9]{1,5}")


def check_workers(workers) -> int:
    """``workers`` as an int in 1..:data:`MAX_WORKERS`, or a clear error."""
    return count(workers, "workers", 1, MAX_WORKERS)


def check_scheduler(scheduler) -> str | None:
    """``scheduler`` if it is None, ``"local"`` or a Dask address ``[PROTOCOL://]HOST:PORT``, else
    a clear error (before anything is started or created)."""
    if scheduler is None or scheduler == "local":
        return scheduler
    if not isinstance(scheduler, str) or not _ADDRESS.fullmatch(scheduler.strip()):
        raise ParticlesError(
            f"scheduler must be 'local' or a Dask scheduler address like tcp://HOST:8786, "
            f"got {scheduler!r}"
        )
    return scheduler.strip()


def _run_processes(todo, store, workers, threads, bar):
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=max(1, int(workers))) as ex:
        futs = [
            ex.submit(
                execute_task, t.fn_name, t.kwargs, str(task_path(store, t.key)), t.key, threads
            )
            for t in todo
        ]
        for f in as_completed(futs):
            f.result()
            bar.update(1)


def _dask():
    try:
        import distributed
    except ImportError:
        raise ParticlesError(
            "the dask backend needs dask[distributed]: pip install 'dask[distributed]', or "
            "pip install -e '.[dask]' in the repository"
        ) from None
    return distributed


def _run_dask(todo, store, scheduler, workers, threads, bar):
    distributed = _dask()
    cluster = None
    if scheduler in (None, "local"):
        cluster = distributed.LocalCluster(
            n_workers=max(1, int(workers)),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise ParticlesError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    try:
        # pure=False: a task is never answered from another run's cache; the file is the record
        futs = [
            client.submit(
                execute_task,
                t.fn_name,
                t.kwargs,
                str(task_path(store, t.key)),
                t.key,
                threads,
                key=f"particles-{t.key}-{fingerprint(t.kwargs)}",
                pure=False,
                retries=2,
            )
            for t in todo
        ]
        for f in distributed.as_completed(futs):
            f.result()
            bar.update(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
