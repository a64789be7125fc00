"""Nothing computed is lost: a complete result is never replaced by less, SIGTERM saves like Ctrl-C,
an adaptive run resumes bit for bit, runs that cannot finish are refused, and Ctrl-C while the
program starts exits quietly. Interrupts are injected from inside the run (a signal sent to this
process by the k-th field evaluation) or, for the command line, sent to a subprocess once its
checkpoint shows progress: never by timing."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import particles as pt
import particles.solvers.integrate as integ
from particles.errors import ParticlesError
from particles.solvers.checkpoint import side_path
from tests.interrupt_helpers import DYN, X0, interrupt_call

SAVE_AT = np.linspace(0, 2, 11)


def _kw(method):
    return dict(method=method, save_at=SAVE_AT, checkpoint_every=0.0)


def _x(traj):
    return np.asarray(traj.x)


@pytest.fixture(scope="module")
def references():
    return {m: pt.simulate(X0, DYN, 2.0, **_kw(m)) for m in ("rk4", "RK45", "RK23", "DOP853")}


# --- adaptive resume -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["RK45", "RK23", "DOP853"])
@pytest.mark.parametrize("at", [3, 37, 60])
def test_an_adaptive_run_resumes_bit_for_bit(tmp_path, monkeypatch, references, method, at):
    """Interrupted at the at-th field evaluation (mid-step, mid-dense-output, before the first
    step), the resumed run equals the uninterrupted one: states, times and step statistics."""
    ref = references[method]
    real = interrupt_call(monkeypatch, integ, "velocity", at)
    path = tmp_path / "r.npz"
    with pytest.raises(pt.Interrupted):
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **_kw(method))
    monkeypatch.setattr(integ, "velocity", real)
    assert not pt.Trajectory.load(path).complete
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **_kw(method))
    np.testing.assert_array_equal(done.t, ref.t)
    np.testing.assert_array_equal(done.x, ref.x)
    for k in ("nfev", "nsteps", "nrejected", "max_norm_drift"):
        assert done.stats[k] == ref.stats[k], k
    assert "solver_state" not in pt.Trajectory.load(path).meta  # only partial files carry it


# --- a complete result is never replaced by less ------------------------------------------------


def _earlier(path):
    """A complete result of another run at ``path``; returns its states."""
    return _x(pt.simulate(X0, pt.Dynamics(beta=1.0), 1.0, checkpoint=path, method="rk4"))


@pytest.mark.parametrize("ext", ["npz", "zarr"])
def test_a_diverging_run_keeps_the_complete_result(tmp_path, ext):
    if ext == "zarr":
        pytest.importorskip("zarr")
    keep = tmp_path / f"keep.{ext}"
    before = _earlier(keep)
    bad = pt.Dynamics(beta=1.0, norm="ngpt", alpha=1e300)
    with pytest.raises(ParticlesError, match="kept unchanged") as e:
        pt.simulate(X0, bad, 2.0, checkpoint=keep, method="rk4", checkpoint_every=0.0)
    assert str(keep) in str(e.value)
    np.testing.assert_array_equal(_x(pt.Trajectory.load(keep)), before)
    assert pt.Trajectory.load(keep).complete
    assert not side_path(keep).exists()  # a diverged run cannot be resumed: no side file left


@pytest.mark.parametrize("ext", ["npz", "zarr"])
@pytest.mark.parametrize("method", ["rk4", "RK45"])
def test_an_interrupted_run_keeps_the_complete_result(
    tmp_path, monkeypatch, references, ext, method
):
    """Interrupted, the run's states go to the side file and the earlier result stays; resumed to
    the end, the run's complete result replaces it (a deliberate rerun)."""
    if ext == "zarr":
        pytest.importorskip("zarr")
    keep = tmp_path / f"keep.{ext}"
    before = _earlier(keep)
    real = interrupt_call(monkeypatch, integ, "velocity", 40)
    with pytest.raises(pt.Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=keep, **_kw(method))
    monkeypatch.setattr(integ, "velocity", real)
    side = side_path(keep)
    assert e.value.path == side and e.value.kept == keep
    assert "kept unchanged" in e.value.describe() and str(side) in e.value.describe()
    np.testing.assert_array_equal(_x(pt.Trajectory.load(keep)), before)
    assert not pt.Trajectory.load(side).complete
    done = pt.simulate(X0, DYN, 2.0, checkpoint=keep, resume=True, **_kw(method))
    np.testing.assert_array_equal(_x(done), references[method].x)
    final = pt.Trajectory.load(keep)
    assert final.complete
    np.testing.assert_array_equal(_x(final), references[method].x)
    assert not side.exists()


def test_a_rerun_without_resume_replaces_only_when_complete(tmp_path, references):
    keep = tmp_path / "keep.npz"
    _earlier(keep)
    done = pt.simulate(X0, DYN, 2.0, checkpoint=keep, **_kw("rk4"))
    np.testing.assert_array_equal(_x(pt.Trajectory.load(keep)), references["rk4"].x)
    assert done.complete and not side_path(keep).exists()


def test_a_foreign_file_at_the_side_path_is_refused(tmp_path):
    keep = tmp_path / "keep.npz"
    _earlier(keep)
    _earlier(side_path(keep))  # a complete result where the side file would go
    with pytest.raises(ParticlesError, match="move one of them away"):
        pt.simulate(X0, DYN, 2.0, checkpoint=keep, **_kw("rk4"))


# --- runs that cannot finish ---------------------------------------------------------------------

REFUSED = [
    (dict(method="rk4", saves=10**8), 2.0, "max_steps"),
    (dict(method="rk4", saves=1000, max_steps=500), 2.0, "max_steps"),
    (dict(method="RK45", saves=10**8), 2.0, "max_steps"),
    (dict(method="RK45"), 1e12, "would need"),
    (dict(method="DOP853"), 1e13, "would need"),
    (dict(method="rk4", checkpoint_every=-1.0), 2.0, "checkpoint_every"),
    (dict(method="rk4", checkpoint_every=float("nan")), 2.0, "checkpoint_every"),
    (dict(method="RK45", max_steps=0), 2.0, "max_steps"),
]


@pytest.mark.parametrize(("kw", "t_end", "match"), REFUSED)
def test_runs_that_cannot_finish_are_refused(tmp_path, kw, t_end, match):
    path = tmp_path / "r.npz"
    with pytest.raises(ParticlesError, match=match):
        pt.simulate(X0, DYN, t_end, checkpoint=path, **kw)
    assert not path.exists()


def test_an_adaptive_run_stops_at_max_steps_and_resumes(tmp_path, references):
    path = tmp_path / "r.npz"
    with pytest.raises(integ.StepLimit, match="resume with a larger max_steps"):
        pt.simulate(X0, DYN, 2.0, checkpoint=path, max_steps=15, **_kw("RK45"))
    assert not pt.Trajectory.load(path).complete
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **_kw("RK45"))
    np.testing.assert_array_equal(done.x, references["RK45"].x)


# --- SIGTERM -------------------------------------------------------------------------------------


def test_sigterm_saves_like_ctrl_c(tmp_path, monkeypatch, references):
    real = integ._step
    calls = {"n": 0}

    def step(*a, **k):
        calls["n"] += 1
        if calls["n"] == 7:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*a, **k)

    monkeypatch.setattr(integ, "_step", step)
    path = tmp_path / "r.npz"
    with pytest.raises(pt.Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **_kw("rk4"))
    monkeypatch.setattr(integ, "_step", real)
    assert e.value.signum == signal.SIGTERM and "SIGTERM" in e.value.describe()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored after the run
    assert pt.Trajectory.load(path).t[-1] == e.value.t_saved > 0
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **_kw("rk4"))
    np.testing.assert_array_equal(done.x, references["rk4"].x)


SCRIPT = "import sys\nfrom particles.cli.main import main\nsys.exit(main())\n"
#: blocks the import of scipy (part of `import particles`) until a signal arrives
BLOCK = (
    "import sys, time\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'scipy':\n"
    "            sys.meta_path.remove(self)\n"
    "            print('READY', flush=True)\n"
    "            time.sleep(600)\n"
    "sys.meta_path.insert(0, Block())\n"
)
RUN = ["simulate", "--n", "4", "--d", "3", "--t-end", "1e5", "--dt", "0.01", "--saves", "100001"]


def _console(tmp_path, prefix=""):
    """A script named like the console script ``particles`` (its start is guarded by name)."""
    script = tmp_path / "bin" / "particles"
    script.parent.mkdir(exist_ok=True)
    script.write_text(prefix + SCRIPT)
    return [sys.executable, str(script)]


def _signal(proc, signals) -> str:
    """Send the first signal; once the program has reported it (its line on stderr), send the
    others, which must change nothing; returns stderr."""
    proc.send_signal(signals[0])
    first = proc.stderr.readline()
    for s in signals[1:]:
        proc.send_signal(s)
    _, rest = proc.communicate(timeout=120)
    return first + rest


def _saved(path) -> int:
    try:
        return len(pt.Trajectory.load(path).t)
    except ParticlesError:
        return 0


@pytest.mark.parametrize(
    ("signals", "code"), [((signal.SIGTERM,), 143), ((signal.SIGINT,) * 2, 130)]
)
def test_the_command_line_saves_on_sigterm_and_double_ctrl_c(tmp_path, signals, code):
    """The run is signalled once its file holds three saved states (no timing involved)."""
    out = tmp_path / "r.npz"
    args = [*RUN, "--checkpoint-every", "0", "--quiet", "--out", str(out)]
    proc = subprocess.Popen(
        _console(tmp_path) + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        while _saved(out) < 3 and proc.poll() is None:
            time.sleep(0.05)
        err = _signal(proc, signals)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    tr = pt.Trajectory.load(out)
    assert not tr.complete and len(tr.t) >= 3
    assert f"holds the states up to t = {tr.t[-1]:.6g}" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("signals", "code"),
    [((signal.SIGINT,), 130), ((signal.SIGINT,) * 2, 130), ((signal.SIGTERM,), 143)],
)
def test_a_signal_while_starting_exits_quietly(tmp_path, signals, code):
    out = tmp_path / "r.npz"
    proc = subprocess.Popen(
        _console(tmp_path, BLOCK) + [*RUN, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "READY"
        err = _signal(proc, signals)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert err.strip().count("\n") == 0 and "while starting" in err, err
    assert not out.exists()


def test_the_cli_takes_checkpoint_every(tmp_path):
    from click.testing import CliRunner

    from particles.cli.main import main

    out = tmp_path / "r.npz"
    args = ["simulate", "--n", "4", "--t-end", "1", "--quiet", "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--checkpoint-every", "-1"])
    assert res.exit_code == 1 and "checkpoint_every" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, [*args, "--checkpoint-every", "0"])
    assert res.exit_code == 0 and pt.Trajectory.load(out).complete


# LSODA, BDF and Radau resume bit for bit too: tests/test_exact_resume.py


def test_sigterm_is_held_during_a_write_and_delivered_after():
    from particles.interrupts import Terminated, sigterm_raises
    from particles.storage.npz import sigint_held

    with sigterm_raises():
        with pytest.raises(Terminated):
            with sigint_held():
                os.kill(os.getpid(), signal.SIGTERM)
                reached = True  # the signal did not cut the block short
        assert reached
        with sigint_held(deliver=False):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize("where", ["parse_args", "resolve_command"])
def test_ctrl_c_while_the_arguments_are_parsed_is_one_line_and_130(monkeypatch, where):
    """Ctrl-C while click parses the group's arguments or loads the sub-command: one line and
    status 130, not click's "Aborted!" and 1."""
    import click
    from click.testing import CliRunner

    from particles.cli.main import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(click.Group, where, interrupted)
    res = CliRunner().invoke(main, ["info", "x.npz"])
    assert res.exit_code == 130, res.output
    assert "Aborted" not in res.output and res.output.strip().count("\n") == 0


@pytest.mark.parametrize("content", ["phase", "garbage", "foreign npz"])
def test_resume_refuses_a_file_that_is_no_trajectory_checkpoint(tmp_path, content):
    """--resume on another kind of result (or not a particles file) has nothing to resume: one
    line, and the file is left as it was (it was replaced by a fresh run)."""
    from particles.storage.npz import save_npz

    out = tmp_path / "r.npz"
    if content == "phase":
        save_npz(out, {"P": np.zeros((2, 3))}, {"format": "phase_diagram"})
    elif content == "garbage":
        out.write_bytes(b"not an archive")
    else:
        np.savez(out, a=np.arange(3))
    before = out.read_bytes()
    x0 = pt.random_points(4, 3, rng=0)
    with pytest.raises(ParticlesError, match="nothing to resume"):
        pt.simulate(x0, pt.Dynamics(), 0.2, checkpoint=out, resume=True)
    assert out.read_bytes() == before and not list(tmp_path.glob("*.partial*"))
