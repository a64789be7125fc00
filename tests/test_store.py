"""Zarr trajectory stores (particles.storage.zarr): written while the run goes, always a valid store (Ctrl-C
and crashes injected at every stage of an append), resumed by appending, read lazily, analysed
frame by frame, labelled for xarray; memory does not grow with the number of saved times."""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("zarr")

import particles as pt  # noqa: E402
import particles.solvers.integrate as integ  # noqa: E402
from particles.analysis import clusters, energy, modes  # noqa: E402
from particles.errors import ParticlesError  # noqa: E402
from particles.solvers.checkpoint import Interrupted  # noqa: E402
from particles.storage import zarr as S  # noqa: E402
from tests.interrupt_helpers import DYN, KW, X0, check_resume, interrupt_call, sigint  # noqa: E402


@pytest.fixture(scope="module")
def reference():
    return pt.simulate(X0, DYN, 2.0, **KW)


# --- round trip and lazy frames ------------------------------------------------------------------
def test_simulate_into_a_store_is_the_npz_run(tmp_path, reference):
    path = tmp_path / "r.zarr"
    tr = pt.simulate(X0, DYN, 2.0, checkpoint=path, **KW)
    assert isinstance(tr.x, S.Frames) and tr.complete
    np.testing.assert_array_equal(np.asarray(tr.x), reference.x)
    back = pt.Trajectory.load(path)
    assert back.complete and back.method == "rk4" and back.dynamics == DYN
    np.testing.assert_array_equal(back.t, reference.t)
    np.testing.assert_array_equal(np.asarray(back.x), reference.x)
    assert back.stats["nfev"] == reference.stats["nfev"]
    assert back.meta["fingerprint"] == reference.meta["fingerprint"]
    np.testing.assert_array_equal(back.energy(), reference.energy())
    # a finished store is returned as is by resume
    again = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **KW)
    np.testing.assert_array_equal(np.asarray(again.x), reference.x)


def test_save_and_load_keep_weights(tmp_path):
    rng = np.random.default_rng(0)
    dyn = pt.Dynamics(beta=1.0, Q=rng.standard_normal((2, 3, 3)), K=rng.standard_normal((2, 3, 3)))
    tr = pt.simulate(X0, dyn, 0.5, save_at=[0, 0.25, 0.5])
    tr.save(tmp_path / "w.zarr")
    back = pt.Trajectory.load(tmp_path / "w.zarr")
    np.testing.assert_array_equal(back.dynamics.Q, dyn.Q)
    np.testing.assert_array_equal(back.dynamics.K, dyn.K)
    assert back.dynamics.V is None and back.dynamics.heads == 2
    np.testing.assert_array_equal(np.asarray(back.x), tr.x)
    back.save(tmp_path / "w.npz")  # and back to .npz
    np.testing.assert_array_equal(pt.Trajectory.load(tmp_path / "w.npz").x, tr.x)


def test_frames_index_like_an_array(tmp_path, reference):
    reference.save(tmp_path / "r.zarr")
    f, a = pt.Trajectory.load(tmp_path / "r.zarr").x, reference.x
    assert f.shape == a.shape and len(f) == len(a) and f.ndim == 3 and f.dtype == a.dtype
    mask = np.arange(len(a)) % 3 == 0
    for key in (0, -1, 4, slice(2, 7), slice(None, None, 3), slice(8, 2, -2), slice(5, 5), [1, -2, 0],
                np.array([3]), mask, (2, slice(1, 4), 0), (slice(None), 0), (Ellipsis, 1), (-1, Ellipsis),
                np.array([], dtype=int)):  # fmt: skip
        np.testing.assert_array_equal(f[key], a[key], err_msg=repr(key))
    np.testing.assert_array_equal(np.stack(list(f)), a)
    np.testing.assert_array_equal(np.concatenate(list(f.blocks(3 * a[0].nbytes))), a)
    for bad in (11, -12, [0, 11], np.array([0.5])):
        with pytest.raises(IndexError):
            f[bad]


def test_append_grows_the_store(tmp_path):
    st = S.TrajectoryStore.create(
        tmp_path / "g.zarr", n=4, d=3, dynamics=DYN, method="rk4", capacity=2
    )
    xs = [pt.random_points(4, 3, rng=k) for k in range(7)]
    for k, x in enumerate(xs):
        st.append(0.5 * k, x)
    st.sync()
    back = S.TrajectoryStore.open(tmp_path / "g.zarr")
    assert back.length == 7 and back.capacity >= 7
    np.testing.assert_array_equal(back.t, 0.5 * np.arange(7))
    np.testing.assert_array_equal(np.asarray(back.frames), np.stack(xs))
    with pytest.raises(ParticlesError, match="shape"):
        st.append(9.0, np.zeros((5, 3)))
    with pytest.raises(ParticlesError, match="read-only"):
        back.append(9.0, xs[0])


def test_bad_paths_are_clear_errors(tmp_path):
    with pytest.raises(ParticlesError, match="no such trajectory store"):
        pt.Trajectory.load(tmp_path / "missing.zarr")
    (tmp_path / "other.zarr").mkdir()
    (tmp_path / "other.zarr" / "keep.txt").write_text("mine")
    with pytest.raises(ParticlesError, match="not a zarr store"):
        pt.Trajectory.load(tmp_path / "other.zarr")
    with pytest.raises(ParticlesError, match="not a particles trajectory store"):
        pt.simulate(X0, DYN, 0.2, checkpoint=tmp_path / "other.zarr")
    assert (tmp_path / "other.zarr" / "keep.txt").read_text() == "mine"  # never overwritten
    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(ParticlesError, match="not a trajectory store"):
        pt.Trajectory.load(tmp_path / "file.zarr")
    with pytest.raises(ParticlesError, match="does not exist"):
        pt.simulate(X0, DYN, 0.2, checkpoint=tmp_path / "no" / "r.zarr")


def test_a_new_run_replaces_an_old_store(tmp_path):
    path = tmp_path / "r.zarr"
    pt.simulate(X0, DYN, 0.4, checkpoint=path, save_at=[0, 0.2, 0.4])
    pt.simulate(X0, pt.Dynamics(beta=1.0), 0.2, checkpoint=path, save_at=[0.2])
    back = pt.Trajectory.load(path)
    assert back.dynamics.beta == 1.0 and len(back.t) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    with pytest.raises(ParticlesError, match="other parameters"):
        pt.simulate(X0, DYN, 0.4, checkpoint=path, save_at=[0, 0.2, 0.4], resume=True)


# --- interrupts and crashes ----------------------------------------------------------------------
@pytest.mark.parametrize("at_step", [1, 7, 20])
def test_interrupt_during_the_steps(tmp_path, monkeypatch, reference, at_step):
    real = interrupt_call(monkeypatch, integ, "_step", at_step)
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=tmp_path / "r.zarr", **KW)
    monkeypatch.setattr(integ, "_step", real)
    assert not e.value.complete and e.value.t_saved is not None
    check_resume(tmp_path / "r.zarr", e.value, reference)


# appends: 1..11 (one per save time); each writes x[k], then t[k], then the commit record
@pytest.mark.parametrize("append", [1, 2, 6, 11])
@pytest.mark.parametrize("stage", ["x", "t", "commit"])
@pytest.mark.parametrize("taps", [1, 2])
def test_interrupt_during_an_append(tmp_path, monkeypatch, reference, append, stage, taps):
    """SIGINT (one or two taps) sent from inside an append's frame write, time write or commit."""
    import zarr

    calls = {"x": 0, "t": 0, "commit": 0}
    real_set, real_commit = zarr.Array.__setitem__, S._write_commit

    def setitem(arr, key, value):
        which = "x" if arr.ndim == 3 else "t"
        calls[which] += 1
        if which == stage and calls[which] == append:
            sigint(taps)
        return real_set(arr, key, value)

    def commit(path, record, sync=True):
        if record.get("length", 0) > 0 and not sync:
            calls["commit"] += 1
            if stage == "commit" and calls["commit"] == append:
                sigint(taps)
        return real_commit(path, record, sync)

    monkeypatch.setattr(zarr.Array, "__setitem__", setitem)
    monkeypatch.setattr(S, "_write_commit", commit)
    path = tmp_path / "r.zarr"
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **KW)
    monkeypatch.undo()
    # the interrupted append was completed before the interrupt was delivered
    assert e.value.t_saved == reference.t[append - 1]
    check_resume(path, e.value, reference)


@pytest.mark.parametrize("append", [1, 5, 11])
@pytest.mark.parametrize("stage", ["t", "commit"])
def test_a_crash_inside_an_append_leaves_a_valid_store(
    tmp_path, monkeypatch, reference, append, stage
):
    """The process dies (here: an exception) after the frame's chunks were written but before its
    commit: the store holds the frames before it, and resuming writes over the orphan chunks."""
    import zarr

    calls = {"t": 0, "commit": 0}
    real_set, real_commit = zarr.Array.__setitem__, S._write_commit

    def setitem(arr, key, value):
        if arr.ndim == 1:
            calls["t"] += 1
            if stage == "t" and calls["t"] == append:
                raise OSError("disk gone")
        return real_set(arr, key, value)

    def commit(path, record, sync=True):
        if record.get("length", 0) > 0 and not sync:
            calls["commit"] += 1
            if stage == "commit" and calls["commit"] == append:
                raise OSError("disk gone")
        return real_commit(path, record, sync)

    monkeypatch.setattr(zarr.Array, "__setitem__", setitem)
    monkeypatch.setattr(S, "_write_commit", commit)
    path = tmp_path / "r.zarr"
    with pytest.raises(OSError, match="disk gone"):
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **KW)
    monkeypatch.undo()
    tr = pt.Trajectory.load(path)
    assert len(tr.t) == append - 1 and not tr.complete
    np.testing.assert_array_equal(np.asarray(tr.x), reference.x[: append - 1])
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **KW)
    np.testing.assert_array_equal(np.asarray(done.x), reference.x)


def test_a_killed_process_leaves_a_valid_store(tmp_path, reference):
    """kill -9 in the middle of a run (a subprocess that kills itself after its 4th append)."""
    path = tmp_path / "r.zarr"
    code = f"""
import os, signal, numpy as np, particles as pt
from particles.storage import zarr as S
real, calls = S.TrajectoryStore.append, {{"n": 0}}
def append(self, t, x, **kw):
    real(self, t, x, **kw)
    calls["n"] += 1
    if calls["n"] == 4:
        os.kill(os.getpid(), signal.SIGKILL)
S.TrajectoryStore.append = append
pt.simulate(pt.random_points(6, 3, rng=3), pt.Dynamics(beta=2.0), 2.0, method="rk4", dt=0.1,
            save_at=np.linspace(0, 2, 11), checkpoint_every=0.0, checkpoint={str(path)!r})
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == -signal.SIGKILL, out.stderr
    tr = pt.Trajectory.load(path)
    assert len(tr.t) == 4 and not tr.complete
    assert tr.stats["nsteps"] == 6  # the statistics are committed with each frame
    np.testing.assert_array_equal(np.asarray(tr.x), reference.x[:4])
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **KW)
    np.testing.assert_array_equal(np.asarray(done.x), reference.x)


# --- analyses that stream ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same run as .npz (in memory) and as a store (lazy), with clusters forming."""
    d = tmp_path_factory.mktemp("pair")
    x0 = pt.random_points(150, 3, rng=1)
    kw = dict(method="rk4", dt=0.1, save_at=np.linspace(0, 8, 17))
    mem = pt.simulate(x0, pt.Dynamics(beta=4.0), 8.0, **kw)
    lazy = pt.simulate(x0, pt.Dynamics(beta=4.0), 8.0, checkpoint=d / "r.zarr", **kw)
    return mem, pt.Trajectory.load(d / "r.zarr"), lazy


def test_analyses_stream_a_store(pair, monkeypatch):
    mem, lazy, _ = pair

    def refuse(*a, **k):
        raise AssertionError("the whole store was read")

    monkeypatch.setattr(S.Frames, "__array__", refuse)
    a, b = clusters.summary(mem).as_dict(), clusters.summary(lazy).as_dict()
    assert a == b and a["n_clusters"][0] > a["n_clusters"][-1]
    np.testing.assert_array_equal(
        clusters.cluster_counts_over_time(lazy), clusters.cluster_counts_over_time(mem)
    )
    ta, va, ea = clusters.histograms_at(mem.t, mem.x, [0, 4, 8], 30)
    tb, vb, eb = clusters.histograms_at(lazy.t, lazy.x, [0, 4, 8], 30)
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(lazy.energy(), mem.energy())
    np.testing.assert_array_equal(energy.energy_over_time(lazy, 4.0), mem.energy())
    r = modes.order_parameter(lazy.x)
    np.testing.assert_array_equal(r, modes.order_parameter(mem.x))
    assert r[-1] > r[0]
    np.testing.assert_array_equal(modes.harmonic_modes(lazy.x, 3), modes.harmonic_modes(mem.x, 3))
    assert clusters.consensus_time(lazy) == clusters.consensus_time(mem)


def test_to_xarray(pair, tmp_path):
    xr = pytest.importorskip("xarray")
    mem, lazy, _ = pair
    for tr in (mem, lazy):
        ds = tr.to_xarray()
        assert ds["x"].dims == ("t", "particle", "coordinate")
        assert ds.attrs["beta"] == 4.0 and ds.attrs["method"] == "rk4" and ds.attrs["kind"] == "SA"
        assert json.loads(ds.attrs["stats"])["nfev"] == mem.stats["nfev"]
        np.testing.assert_array_equal(ds["x"].sel(t=4.0).values, mem.at(4.0))
        np.testing.assert_array_equal(ds.t.values, mem.t)
    assert "dask" in type(lazy.to_xarray()["x"].data).__module__  # stays lazy
    # what xarray users then do: slice, reduce, write netCDF-friendly attributes
    r = np.sqrt((lazy.to_xarray()["x"].mean("particle") ** 2).sum("coordinate")).values
    np.testing.assert_allclose(r, modes.order_parameter(mem.x), rtol=1e-12)
    mem.to_xarray().to_zarr(tmp_path / "copy.zarr", mode="w", zarr_format=3, consolidated=False)
    opened = xr.open_zarr(lazy.x._arr.store.root, consolidated=False)
    np.testing.assert_array_equal(opened["x"].values, mem.x)


# --- memory ------------------------------------------------------------------------------------
_MEM = """
import resource, sys, numpy as np, particles as pt
n, saves, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
x0 = pt.random_points(n, 16, rng=0)
pt.simulate(x0, pt.Dynamics(beta=1.0), 0.01 * (saves - 1), method="euler", dt=0.01,
            save_at=np.linspace(0, 0.01 * (saves - 1), saves), checkpoint=out)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss_mib(tmp_path, n, saves, suffix):
    out = tmp_path / f"m{saves}{suffix}"
    res = subprocess.run(
        [sys.executable, "-c", _MEM, str(n), str(saves), str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return int(res.stdout.split()[-1]) / 1024


@pytest.mark.slow
def test_memory_does_not_grow_with_the_saved_times(tmp_path):
    """Peak RSS of a run writing 20 vs 400 saved states of 4000 x 16 (0.5 MiB each; 200 MiB in all):
    with a store it stays flat; with .npz it grows by the states held."""
    small = _peak_rss_mib(tmp_path, 4000, 20, ".zarr")
    large = _peak_rss_mib(tmp_path, 4000, 400, ".zarr")
    assert large - small < 40, (small, large)
    npz = _peak_rss_mib(tmp_path, 4000, 400, ".npz")
    assert npz - small > 150, (small, npz)  # the in-memory path does hold them
    assert len(pt.Trajectory.load(tmp_path / "m400.zarr").t) == 400


# --- command line ------------------------------------------------------------------------------
def test_cli_on_a_store(tmp_path):
    from click.testing import CliRunner

    from particles.cli.main import main

    r = CliRunner()
    args = [
        "simulate",
        "--n",
        "30",
        "--d",
        "3",
        "--beta",
        "4",
        "--t-end",
        "4",
        "--saves",
        "9",
        "--quiet",
    ]
    assert r.invoke(main, [*args, "--out", str(tmp_path / "r.zarr")]).exit_code == 0
    assert r.invoke(main, [*args, "--out", str(tmp_path / "r.npz")]).exit_code == 0
    res = r.invoke(main, [*args, "--out", str(tmp_path / "r.zarr"), "--resume"])
    assert res.exit_code == 0 and "9 saved times" in res.output
    for cmd in (["clusters", "--json"], ["info", "--json"]):
        a = r.invoke(main, [cmd[0], str(tmp_path / "r.zarr"), *cmd[1:]])
        b = r.invoke(main, [cmd[0], str(tmp_path / "r.npz"), *cmd[1:]])
        assert a.exit_code == 0 and b.exit_code == 0, a.output
        if cmd[0] == "clusters":
            assert a.output == b.output
        else:
            ja, jb = json.loads(a.output), json.loads(b.output)
            assert ja["final"] == jb["final"] and ja["saved_times"] == 9
    for cmd in (["histogram", "--out", str(tmp_path / "h.png")], ["animate", "--out", str(tmp_path / "a.gif"), "--max-frames", "3"]):  # fmt: skip
        res = r.invoke(main, [cmd[0], str(tmp_path / "r.zarr"), *cmd[1:]])
        assert res.exit_code == 0, res.output
    res = r.invoke(main, [*args, "--out", str(tmp_path / "r.h5")])
    assert res.exit_code != 0 and ".zarr" in res.output
    res = r.invoke(main, ["info", str(tmp_path)])
    assert res.exit_code != 0 and "Error" in res.output


def test_a_residual_stream_in_a_store(tmp_path):
    """norm="pre": the store holds the stream h; theta (its directions) is normalised as read."""
    x0 = pt.random_points(40, 3, rng=2)
    dyn = pt.Dynamics(beta=4.0, norm="pre")
    kw = dict(method="rk4", dt=0.1, save_at=np.linspace(0, 3, 7))
    mem = pt.simulate(x0, dyn, 3.0, **kw)
    lazy = pt.simulate(x0, dyn, 3.0, checkpoint=tmp_path / "p.zarr", **kw)
    np.testing.assert_array_equal(np.asarray(lazy.x), mem.x)
    assert isinstance(lazy.theta, S.Frames)
    np.testing.assert_array_equal(np.asarray(lazy.theta), mem.theta)
    np.testing.assert_array_equal(lazy.theta[-1], mem.theta[-1])
    np.testing.assert_array_equal(lazy.theta[2:5, :, 0], mem.theta[2:5, :, 0])
    np.testing.assert_array_equal(lazy.radii(), mem.radii())
    assert clusters.summary(lazy).as_dict() == clusters.summary(mem).as_dict()
    a, b = lazy.summary(), mem.summary()
    assert a.pop("stats")["nfev"] == b.pop("stats")["nfev"] and a == b
    np.testing.assert_allclose(lazy.to_xarray()["x"].values, mem.x)


def test_a_noisy_run_resumes_from_a_store_on_the_same_path(tmp_path, monkeypatch):
    """kappa < inf: the generator's state is committed with each frame, so a run interrupted and
    resumed from the store follows the same Brownian path as the uninterrupted one."""
    dyn = pt.Dynamics(beta=2.0, kappa=4.0)
    kw = dict(method="euler-maruyama", dt=0.05, save_at=np.linspace(0, 1, 6), rng=11)
    ref = pt.simulate(X0, dyn, 1.0, **kw)
    interrupt_call(monkeypatch, integ, "_step", 9)
    path = tmp_path / "noisy.zarr"
    with pytest.raises(Interrupted):
        pt.simulate(X0, dyn, 1.0, checkpoint=path, checkpoint_every=0.0, **kw)
    monkeypatch.undo()
    assert 0 < len(pt.Trajectory.load(path).t) < 6
    done = pt.simulate(X0, dyn, 1.0, checkpoint=path, resume=True, **kw)
    np.testing.assert_array_equal(np.asarray(done.x), ref.x)
