"""Hostile input to the library: refused up front with a one-line reason, never a traceback from
deep inside or an allocation the machine cannot hold."""

import numpy as np
import pytest

import particles as pt
from particles import resources
from particles.analysis import equiangular as eq
from particles.analysis.phase import PhaseParams
from particles.errors import ParticlesError
from particles.solvers import ensemble


def test_requests_beyond_memory_are_refused_with_the_estimate(monkeypatch):
    monkeypatch.setattr(resources, "machine_memory", lambda: 2**30)  # a 1 GiB machine
    with pytest.raises(ParticlesError, match=r"needs ~2\.98 GiB of memory, this machine has 1 GiB"):
        pt.random_points(100_000_000, 1 + 1, rng=0)
    x0 = pt.random_points(1000, 3, rng=0)
    with pytest.raises(ParticlesError, match="saved times needs ~"):
        pt.simulate(x0, pt.Dynamics(), 1.0, dt=0.1, save_at=np.linspace(0, 1, 50_000))
    with pytest.raises(ParticlesError, match="systems of 64 particles"):
        ensemble.ensemble_gram(np.broadcast_to(np.eye(64), (3000, 64, 64)), 1.0, 0.1)
    with pytest.raises(ParticlesError, match="phase diagram of"):
        PhaseParams(n=4, d=2, betas=tuple(range(100)), t_end=1000.0, seeds=10_000_000)


def test_counts_that_cannot_finish_are_refused():
    with pytest.raises(ParticlesError, match="max_steps"):
        pt.simulate(pt.random_points(3, 3, rng=0), pt.Dynamics(), 1.0, method="rk4", dt=1e-300)
    with pytest.raises(ParticlesError, match="seeds = 1e\\+11"):
        PhaseParams(n=4, d=2, seeds=10**11)
    with pytest.raises(ParticlesError, match="number of steps"):
        ensemble.ensemble_gram(np.eye(3), 1.0, 1e300, dt=0.1)


def test_degenerate_numbers_are_clear_errors():
    with pytest.raises(ParticlesError, match="not a whole number of steps"):
        PhaseParams(n=4, d=2, t_end=1e-9, dt=0.1)  # once silently 0 steps
    with pytest.raises(ParticlesError, match="below float64 resolution"):
        PhaseParams(n=4, d=2, delta=1e-300)
    with pytest.raises(ParticlesError, match="below float64 resolution"):
        eq.hitting_time(1.0, 8, 1e-300)
    zero = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    with pytest.raises(ParticlesError, match="zero row"):
        pt.simulate(zero, pt.Dynamics(), 1.0, normalize=True)
    with pytest.raises(ParticlesError, match="complex"):
        pt.velocity(pt.random_points(3, 3, rng=0) * (1 + 0j), pt.Dynamics())
    with pytest.raises(ParticlesError, match="complex"):
        pt.Dynamics(Q=np.eye(3) * 1j)


def test_huge_beta_gives_an_infinite_hitting_time_not_an_overflow():
    assert eq.hitting_time(800.0, 32, 1e-3) == np.inf
    assert np.isfinite(eq.hitting_time(8.0, 32, 1e-3))
    t, b = eq.gamma_curve(32, betas=[1.0, 800.0])
    assert np.isfinite(t[0]) and t[1] == np.inf
    with pytest.raises(ParticlesError, match="overflows"):
        eq.euler_gamma(3, 800.0, 8, kind="USA")


def test_a_diverging_step_says_what_to_change():
    x0 = pt.random_points(16, 3, rng=1)
    with pytest.raises(ParticlesError, match=r"non-finite at t = .*reduce dt or use an adaptive"):
        pt.simulate(x0, pt.Dynamics(beta=12.0, kind="USA"), 5.0, method="rk4", dt=0.5)


def test_files_of_the_wrong_kind_are_named(tmp_path):
    from particles.storage.npz import load_array, load_npz

    np.save(tmp_path / "a.npy", np.zeros((2, 3)))
    (tmp_path / "t.txt").write_text("hello")
    (tmp_path / "e.npz").write_bytes(b"")
    with pytest.raises(ParticlesError, match="is a .npy array, not a .npz"):
        pt.Trajectory.load(tmp_path / "a.npy")
    with pytest.raises(ParticlesError, match="not a readable .npz file"):
        load_npz(tmp_path / "t.txt")
    with pytest.raises(ParticlesError, match="is empty"):
        load_npz(tmp_path / "e.npz")
    with pytest.raises(ParticlesError, match="is empty"):
        load_array(tmp_path / "e.npz")
    with pytest.raises(ParticlesError, match="is a directory"):
        load_array(tmp_path)


def test_number_lists_are_counted_before_they_are_built():
    from particles.sweeps.grids import parse_numbers

    assert parse_numbers("0.1:0.5:0.1") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert parse_numbers("1,2,3", integer=True) == [1, 2, 3]
    with pytest.raises(ParticlesError, match="--beta 0:1e12:1: the number of values = 1e\\+12"):
        parse_numbers("0:1e12:1", "--beta")
    for bad in ("nan", "1,inf", "", "1:0:1", "0:1:0", "a,b"):
        with pytest.raises(ParticlesError, match="--times"):
            parse_numbers(bad, "--times")
    with pytest.raises(ParticlesError, match="integers"):
        parse_numbers("1.5", "--seeds", integer=True)


def test_options_that_would_be_ignored_are_refused():
    x0 = pt.random_points(4, 3, rng=0)
    with pytest.raises(ParticlesError, match="rtol is for adaptive methods"):
        pt.simulate(x0, pt.Dynamics(), 0.1, method="rk4", rtol=1e-3)
    traj = pt.simulate(x0, pt.Dynamics(), 0.1, method="RK45", saves=2)
    assert traj.meta["rtol"] == 1e-8 and traj.meta["atol"] == 1e-10


def test_nan_times_and_betas_beyond_float64_are_refused():
    from particles.analysis.clusters import histograms_at, summary

    traj = pt.simulate(pt.random_points(4, 3, rng=0), pt.Dynamics(), 0.2, saves=3)
    with pytest.raises(ParticlesError, match="times has non-finite"):
        histograms_at(traj.t, traj.x, [np.nan])
    with pytest.raises(ParticlesError, match="below float64 resolution"):
        summary(traj, 1e-300)
    with pytest.raises(ParticlesError, match="precision"):
        pt.Dynamics(beta=1e300)
    with pytest.raises(ParticlesError, match="precision"):
        PhaseParams(n=4, d=2, betas=(1.0, 1e100))


def test_a_checkpoint_without_states_is_shown_and_refused_for_analysis(tmp_path):
    from particles.analysis.clusters import summary

    empty = pt.Trajectory(
        t=np.zeros(0), x=np.zeros((0, 4, 3)), dynamics=pt.Dynamics(), method="rk4"
    )
    empty.meta["complete"] = False
    empty.save(tmp_path / "c.npz")
    back = pt.Trajectory.load(tmp_path / "c.npz")
    rec = back.summary()
    assert rec["saved_times"] == 0 and rec["final"] is None and rec["t_saved"] is None
    with pytest.raises(ParticlesError, match="no saved state yet"):
        back.final
    with pytest.raises(ParticlesError, match="no saved state yet"):
        summary(back)


def test_training_that_diverges_or_cannot_fit_is_refused(monkeypatch):
    from particles import scansnap, svm

    task = scansnap.SyntheticTask()
    with pytest.raises(ParticlesError, match="SGD diverged at step"):
        scansnap.train(task, scansnap.TrainConfig(eta_z=1e300, iters=5), 0)
    with pytest.raises(ParticlesError, match="SGD diverged"):
        scansnap.train(task, scansnap.TrainConfig(ratio=1e300, iters=5), 0)
    with pytest.raises(ParticlesError, match="iters = 1e\\+12"):
        svm.TrainConfig(iters=10**12)
    with pytest.raises(ParticlesError, match="GD diverged at step 1"):
        svm.train_random(2, 3, 3, 0, svm.TrainConfig(iters=3, lr=1e300))
    monkeypatch.setattr(resources, "machine_memory", lambda: 2**30)
    with pytest.raises(ParticlesError, match="needs ~"):
        svm.train_random(2, 3, 3, 0, svm.TrainConfig(iters=10**8, record_every=1))
    with pytest.raises(ParticlesError, match="needs ~"):
        scansnap.SyntheticTask(num_common=10**6)


def test_sweeps_check_their_backend_options_before_creating_anything(tmp_path):
    from particles.sweeps import sweep

    with pytest.raises(ParticlesError, match="scheduler must be 'local' or a Dask"):
        sweep.run_sweep([], tmp_path / "s", backend="dask", scheduler="nonesuch")
    with pytest.raises(ParticlesError, match="workers must be an integer in 1.."):
        sweep.run_sweep([], tmp_path / "s", backend="processes", workers=0)
    assert not (tmp_path / "s").exists()
    assert sweep.check_scheduler("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert sweep.check_scheduler("localhost:8786") == "localhost:8786"
    with pytest.raises(ParticlesError, match="seed must be an integer >= 0"):
        PhaseParams(n=4, d=2, seed=-1)
    with pytest.raises(ParticlesError, match="t_end must be finite and > 0"):
        PhaseParams(n=4, d=2, t_end=0.0)
    with pytest.raises(ParticlesError, match="n = 1e\\+12"):
        PhaseParams(n=10**12, d=2)


def test_mean_field_and_noise_inputs_are_checked():
    from particles.analysis.equiangular import hitting_time
    from particles.analysis.transition import TransitionParams
    from particles.meanfield import initial_density, solve_circle
    from particles.meanfield.circle import _etdrk4_coefficients

    with pytest.raises(ParticlesError, match="eps = 100 makes the perturbed density negative"):
        initial_density("perturbed", N=16, eps=100.0)
    with pytest.raises(ParticlesError, match="concentration = 1e\\+300"):
        initial_density("von-mises", N=16, concentration=1e300)
    with pytest.raises(ParticlesError, match="N \\(the grid points\\)"):
        initial_density("uniform", N=7)
    with pytest.raises(ParticlesError, match="t_end / dt"):
        solve_circle(initial_density("uniform", N=16), 1.0, 1.0, 1.0, dt=1e-300)
    # strong noise: the ETDRK4 coefficients of very stiff modes stay finite (they were 0/0)
    assert all(np.all(np.isfinite(c)) for c in _etdrk4_coefficients(np.array([-1.0, -1e300])))
    sol = solve_circle(initial_density("perturbed", N=16), 1.0, 1e-300, 0.1, dt=0.05, saves=3)
    np.testing.assert_allclose(sol.density(-1), 1.0)
    # nGPT's equiangular time is exactly 1/alpha times its alpha = 1 time, even for tiny alpha
    t1 = hitting_time(4.0, 8, 1e-3, norm="ngpt", alpha=1.0)
    assert hitting_time(4.0, 8, 1e-3, norm="ngpt", alpha=1e-300) == pytest.approx(t1 * 1e300)
    with pytest.raises(ParticlesError, match="seed must be an integer in 0.."):
        TransitionParams(seed=-1)
    with pytest.raises(ParticlesError, match="n = 1e\\+12"):
        TransitionParams(n=10**12)


def test_diverging_runs_say_so_and_leave_no_checkpoint(tmp_path):
    from particles.solvers import ensemble

    x0 = pt.random_points(4, 3, rng=0)
    with pytest.raises(ParticlesError, match="rtol = 1 is not a relative tolerance"):
        pt.simulate(x0, pt.Dynamics(), 0.1, method="RK45", rtol=1.0)
    for tiny in (1e-300, 2e-14):  # scipy would warn and raise it to 100 eps
        with pytest.raises(ParticlesError, match="below what float64 steps can meet"):
            pt.simulate(x0, pt.Dynamics(), 0.1, method="RK45", rtol=tiny)
    pt.simulate(x0, pt.Dynamics(), 0.1, method="RK45", rtol=2.3e-14, saves=2)  # at the floor
    out = tmp_path / "run.npz"
    with pytest.raises(ParticlesError, match="alpha\\); reduce dt"):
        pt.simulate(x0, pt.Dynamics(norm="ngpt", alpha=1e300), 0.2, saves=3, checkpoint=out)
    assert not out.exists()
    X = ensemble.random_points_batch(4, 2, 2, 0)
    with pytest.raises(ParticlesError, match="the ensemble diverged"):
        ensemble.ensemble_coords(X, 1.0, t_end=0.2, dt=0.1, norm="ngpt", alpha=1e300)


def test_scalar_checkers_accept_what_they_promise_and_name_the_rest():
    from particles.errors import count, finite, number

    assert number(2.5, "x") == 2.5 and finite(0, "x", ">= 0") == 0.0
    with pytest.raises(ParticlesError, match="must be a number"):
        number("2.5", "x")  # a string is a slip in the API (the CLI parses its options)
    assert finite(2, "delta", "(0, 2]") == 2.0 and finite(0, "m", "[0, 1)") == 0.0
    assert count(np.int64(3), "k") == 3 and count(0, "seed", 0) == 0
    for value, bound, msg in [
        ("a", "", "x must be a number, got 'a'"),
        (None, "> 0", "x must be a number, got None"),
        (np.nan, "", "x must be finite, got nan"),
        (0, "> 0", "x must be finite and > 0, got 0.0"),
        (-1e-300, ">= 0", "x must be finite and >= 0"),
        (np.inf, ">= 0", "x must be finite and >= 0, got inf"),
        (0, "(0, 2]", r"x must lie in \(0, 2\], got 0.0"),
        (2.5, "(0, 2]", r"x must lie in \(0, 2\], got 2.5"),
        (1, "[0, 1)", r"x must lie in \[0, 1\), got 1.0"),
    ]:
        with pytest.raises(ParticlesError, match=msg):
            finite(value, "x", bound)
    for value, args, msg in [
        (0, (), "k must be an integer >= 1, got 0"),
        (True, (0,), "k must be an integer >= 0, got True"),
        (2.0, (), "k must be an integer >= 1, got 2.0"),
        ("3", (), "k must be an integer >= 1, got '3'"),
        (1025, (1, 1024), r"k must be an integer in 1\.\.1024, got 1025"),
    ]:
        with pytest.raises(ParticlesError, match=msg):
            count(value, "k", *args)


# --- the memory this process may really use --------------------------------------------------


def test_the_tightest_limit_applies_and_is_named(monkeypatch):
    monkeypatch.setattr(resources, "machine_memory", lambda: 64 * 2**30)
    monkeypatch.setattr(resources, "_rlimits", lambda: [(2**30, "ulimit -v")])
    monkeypatch.setattr(resources, "_cgroup_limits", lambda: [(8 * 2**30, "cgroup memory.max")])
    assert resources.usable_memory() == (2**30, "ulimit -v")
    with pytest.raises(ParticlesError, match=r"this process may use 1 GiB \(ulimit -v\)"):
        pt.random_points(50_000_000, 3, rng=0)
    resources.check_memory(0.5 * 2**30, "half a GiB")  # within 80 % of the limit
    monkeypatch.setattr(resources, "_rlimits", lambda: [])
    with pytest.raises(ParticlesError, match=r"may use 8 GiB \(cgroup memory.max\)"):
        resources.check_memory(7 * 2**30, "seven GiB")
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ParticlesError, match="needs more of memory"):
            resources.check_memory(bad, "a request")


def test_rlimits_count_what_the_process_already_maps():
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    got = dict((label, b) for b, label in resources._rlimits())
    if soft == resource.RLIM_INFINITY:
        assert "ulimit -v" not in got
    else:
        assert 0 <= got["ulimit -v"] < soft
    assert resources._status_bytes("VmSize") > 0


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_cgroup_limits_are_read_along_the_path(tmp_path, version):
    """The group's limit less its unreclaimable usage; the tightest of the group and its parents;
    'max' (v2) and 2^63 (v1) mean no limit."""
    proc = tmp_path / "cgroup"
    if version == "v2":
        proc.write_text("0::/a/b\n")
        root = tmp_path / "fs"
        names = ("memory.max", "memory.current", "memory.stat", "inactive_file")
    else:
        proc.write_text("4:memory:/a/b\n3:cpu:/a/b\n")
        root = tmp_path / "fs" / "memory"
        names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat")
        names += ("total_inactive_file",)
    limit, usage, stat, key = names
    for rel, lim, use, cache in (
        ("", "max", 0, 0),
        ("a", 4 * 2**30, 0, 0),
        ("a/b", 2**30, 2**29, 2**28),
    ):
        d = root / rel
        d.mkdir(parents=True, exist_ok=True)
        text = "max" if lim == "max" and version == "v2" else str(2**63 if lim == "max" else lim)
        (d / limit).write_text(text + "\n")
        (d / usage).write_text(f"{use}\n")
        (d / stat).write_text(f"anon 5\n{key} {cache}\n")
    got = resources._cgroup_limits(proc, tmp_path / "fs")
    label = "cgroup memory.max" if version == "v2" else "cgroup memory.limit_in_bytes"
    assert (2**30 - (2**29 - 2**28), label) in got  # the group: usage less its inactive cache
    assert (4 * 2**30, label) in got and len(got) == 2  # its parent; the root has no limit
    assert resources._cgroup_limits(tmp_path / "nonesuch", tmp_path) == []


# --- the inputs named in the issue, and the rest of their kind ------------------------------


def test_simulate_refuses_bad_checkpoints_meta_and_workers(tmp_path):
    x0 = pt.random_points(4, 3, rng=0)
    dyn = pt.Dynamics()
    cases = [
        ({"checkpoint": 5}, "checkpoint must be a file name"),
        ({"checkpoint": tmp_path / "c.npz", "meta": {"a": object()}}, "meta must hold JSON"),
        ({"meta": "seed=3"}, "meta must be a dict"),
        ({"workers": -1, "scheduler": "local"}, "workers must be an integer in 1..4096"),
        ({"workers": 2}, "workers needs scheduler='local'"),
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "a remote scheduler has its own"),
        ({"checkpoint_every": "often"}, "checkpoint_every must be a number"),
        ({"max_steps": None}, "max_steps must be a number"),
    ]
    for kw, msg in cases:
        with pytest.raises(ParticlesError, match=msg):
            pt.simulate(x0, dyn, 0.1, saves=2, **kw)
    assert not (tmp_path / "c.npz").exists()


def test_rows_too_small_or_too_large_to_square_are_normalised():
    x = np.array([[1e-320, 0.0, 0.0], [3e200, 4e200, 0.0], [0.0, 3.0, 4.0]])
    np.testing.assert_allclose(pt.normalize(x), [[1, 0, 0], [0.6, 0.8, 0], [0, 0.6, 0.8]])
    traj = pt.simulate(x, pt.Dynamics(), 0.1, saves=2, normalize=True)
    np.testing.assert_allclose(traj.x[0], [[1, 0, 0], [0.6, 0.8, 0], [0, 0.6, 0.8]], atol=1e-15)
    with pytest.raises(ParticlesError, match="zero"):
        pt.normalize(np.zeros((2, 3)))


def test_mean_field_solutions_name_the_saves_they_have():
    from particles import meanfield as mf

    sol = mf.solve_circle(mf.initial_density("perturbed", N=16), 2.0, 1.0, 0.1, dt=0.05, saves=3)
    theta = mf.sample_density(sol, 16, rng=0)
    for i, msg in (
        (99, "i = 99 is not a save: the solution has 3"),
        (-4, "not a save"),
        (1.0, "an integer"),
        (None, "an integer"),
        (True, "an integer"),
    ):
        with pytest.raises(ParticlesError, match=msg):
            mf.w1_circle(theta, sol, i=i)
        with pytest.raises(ParticlesError, match=msg):
            sol.density(i)
    assert np.isfinite(mf.w1_circle(theta, sol, i=-3, grid=64))


def test_sweeps_refuse_workers_and_schedulers_they_would_ignore(tmp_path):
    from particles.sweeps import sweep

    for kw, msg in (
        ({"workers": -1}, "workers must be an integer in 1.."),
        ({"workers": 2.5}, "workers must be an integer"),
        ({"scheduler": "tcp://127.0.0.1:1"}, "scheduler is for backend='dask'"),
        ({"backend": "processes", "scheduler": "local"}, "scheduler is for backend='dask'"),
    ):
        with pytest.raises(ParticlesError, match=msg):
            sweep.run_sweep([], tmp_path / "s", **kw)
    assert not (tmp_path / "s").exists()
