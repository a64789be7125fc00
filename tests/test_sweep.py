"""Sweeps: one atomic result file per task, resume, process pool, and a real 2-worker Dask cluster that
loses a worker mid-sweep."""

import numpy as np
import pytest

from particles.errors import ParticlesError
from particles.sweeps import sweep
from tests import sweep_tasks as st


def tasks(xs, fn=st.square, **kw):
    return [sweep.Task(key=f"x{x}", fn=fn, kwargs={"x": x, **kw}) for x in xs]


def check_store(store, xs):
    for x in xs:
        arrays, meta = sweep.load_result(store, f"x{x}")
        assert arrays["y"][0] == x * x and meta["x"] == x
    files = sorted(p.name for p in store.glob("*.npz"))
    assert files == sorted(f"x{x}.npz" for x in xs)  # each result exactly once, nothing else
    assert not list(store.glob(".*tmp*"))  # no temp files left behind


def test_serial_writes_and_resumes(tmp_path):
    log = tmp_path / "log.txt"
    xs = [1, 2, 3]
    paths = sweep.run_sweep(tasks(xs, log=str(log)), tmp_path / "s", progress=False)
    assert [p.name for p in paths] == ["x1.npz", "x2.npz", "x3.npz"]
    check_store(tmp_path / "s", xs)
    assert len(log.read_text().splitlines()) == 3
    # rerun with one more task: only the new one runs
    sweep.run_sweep(tasks([1, 2, 3, 4], log=str(log)), tmp_path / "s", progress=False)
    assert len(log.read_text().splitlines()) == 4
    check_store(tmp_path / "s", [1, 2, 3, 4])


def test_store_with_other_parameters_is_an_error(tmp_path):
    sweep.run_sweep(tasks([1]), tmp_path, progress=False)
    other = [sweep.Task(key="x1", fn=st.square, kwargs={"x": 5})]
    with pytest.raises(ParticlesError, match="other parameters"):
        sweep.run_sweep(other, tmp_path, progress=False)


def test_corrupt_result_is_recomputed(tmp_path):
    sweep.run_sweep(tasks([2]), tmp_path, progress=False)
    (tmp_path / "x2.npz").write_bytes(b"garbage")
    sweep.run_sweep(tasks([2]), tmp_path, progress=False)
    check_store(tmp_path, [2])


def test_failed_task_keeps_the_finished_ones(tmp_path):
    ts = tasks([1, 2]) + [sweep.Task(key="bad", fn=st.fail, kwargs={"x": 3})] + tasks([4])
    with pytest.raises(ValueError, match="on purpose"):
        sweep.run_sweep(ts, tmp_path, progress=False)
    assert (tmp_path / "x1.npz").exists() and (tmp_path / "x2.npz").exists()


def test_bad_input(tmp_path):
    with pytest.raises(ParticlesError, match="duplicate"):
        sweep.run_sweep(tasks([1, 1]), tmp_path, progress=False)
    with pytest.raises(ParticlesError, match="backend"):
        sweep.run_sweep(tasks([1]), tmp_path, backend="mpi", progress=False)
    with pytest.raises(ParticlesError, match="task key"):
        sweep.Task(key="a/b", fn=st.square)
    with pytest.raises(ParticlesError, match="module-level"):
        sweep.Task(key="a", fn=lambda: None)


def test_process_pool(tmp_path):
    xs = [1, 2, 3, 4]
    sweep.run_sweep(tasks(xs), tmp_path, backend="processes", workers=2, progress=False)
    check_store(tmp_path, xs)


def test_dask_local_cluster_survives_a_killed_worker(tmp_path):
    """A real LocalCluster of 2 worker processes; one task SIGKILLs its worker the first time it runs.

    The sweep must complete with every task's result present exactly once and correct.
    """
    pytest.importorskip("distributed")
    store = tmp_path / "store"
    log = tmp_path / "log.txt"
    xs = [1, 2, 3, 4, 5, 6]
    ts = tasks(xs, sleep=0.3, log=str(log))
    ts[2] = sweep.Task(
        key="x3",
        fn=st.die_once,
        kwargs={"x": 3, "marker": str(tmp_path / "marker"), "sleep": 0.3, "log": str(log)},
    )
    sweep.run_sweep(ts, store, backend="dask", workers=2, progress=False)
    assert (tmp_path / "marker").exists()  # the worker really was killed
    check_store(store, xs)
    runs = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(set(runs)) == sorted(str(x) for x in xs)
    # a rerun finds everything done and runs nothing
    sweep.run_sweep(ts, store, backend="dask", workers=2, progress=False)
    assert len(log.read_text().splitlines()) == len(runs)
    np.testing.assert_array_equal(sweep.load_result(store, "x6")[0]["y"], [36])


def test_dask_missing_scheduler_is_a_clean_error(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ParticlesError, match="cannot reach the Dask scheduler"):
        sweep.run_sweep(
            tasks([1]), tmp_path, backend="dask", scheduler="tcp://127.0.0.1:1", progress=False
        )


def test_results_dir_refuses_a_file_and_leaves_no_empty_directory(tmp_path):
    """The store / run directory of a sweep (particles.storage.npz.results_dir): a file is refused; a
    directory it created is removed when the run fails before writing anything, and kept (with
    its results) when something was written, or when it existed before."""
    from particles.storage.npz import results_dir

    (tmp_path / "f").write_text("x")
    with pytest.raises(ParticlesError, match="store .*f is a file, not a directory"):
        with results_dir(tmp_path / "f", "store"):
            pass
    new = tmp_path / "a" / "new"
    with pytest.raises(KeyboardInterrupt):
        with results_dir(new, "store") as d:
            assert d == new and d.is_dir()
            raise KeyboardInterrupt
    assert not new.exists()
    with pytest.raises(RuntimeError):
        with results_dir(new, "store") as d:
            (d / "task.npz").write_bytes(b"")
            raise RuntimeError
    assert (new / "task.npz").exists()
    old = tmp_path / "old"
    old.mkdir()
    with pytest.raises(RuntimeError):
        with results_dir(old, "store"):
            raise RuntimeError
    assert old.is_dir()
