"""Ctrl-C at every stage of simulate, injected by sending SIGINT to this process from inside the
stage (not by timing): the checkpoint on disk is always a valid file, the exception says what it
holds, and resuming gives the uninterrupted result bit for bit."""

import os
import signal

import numpy as np
import pytest

import particles as pt
import particles.solvers.integrate as integ
from particles.solvers.checkpoint import Interrupted

X0 = pt.random_points(6, 3, rng=3)
DYN = pt.Dynamics(beta=2.0)
KW = dict(method="rk4", dt=0.1, save_at=np.linspace(0, 2, 11), checkpoint_every=0.0)


def _sigint(times=1):
    for _ in range(times):
        os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(scope="module")
def reference():
    return pt.simulate(X0, DYN, 2.0, **KW)


def _check(path, err: Interrupted, reference):
    """The file is valid, holds what the exception says, and resuming finishes the run exactly."""
    assert err.path == path
    tr = pt.Trajectory.load(path)
    assert tr.complete == err.complete
    if err.t_saved is None:
        assert len(tr.t) == 0
    else:
        assert tr.t[-1] == err.t_saved
        np.testing.assert_array_equal(tr.x, reference.x[: len(tr.t)])
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **KW)
    np.testing.assert_array_equal(done.x, reference.x)
    assert "interrupted" in err.describe() and str(path) in err.describe()


@pytest.mark.parametrize("at_step", [1, 7, 20])
def test_interrupt_during_the_steps(tmp_path, monkeypatch, reference, at_step):
    calls = {"n": 0}
    real = integ._step

    def step(*a, **k):
        calls["n"] += 1
        if calls["n"] == at_step:
            _sigint()
        return real(*a, **k)

    monkeypatch.setattr(integ, "_step", step)
    path = tmp_path / "r.npz"
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **KW)
    monkeypatch.setattr(integ, "_step", real)
    assert not e.value.complete and e.value.t_saved is not None
    _check(path, e.value, reference)


# writes: 1 the first checkpoint, 2..11 one per save time, 12 the complete result
@pytest.mark.parametrize("write", [1, 2, 6, 11, 12])
@pytest.mark.parametrize("taps", [1, 2])
def test_interrupt_during_a_checkpoint_write(tmp_path, monkeypatch, reference, write, taps):
    calls = {"n": 0}
    real = np.savez

    def savez(*a, **k):
        calls["n"] += 1
        if calls["n"] == write:
            _sigint(taps)  # a double tap while the file is being written
        return real(*a, **k)

    monkeypatch.setattr(np, "savez", savez)
    path = tmp_path / "r.npz"
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **KW)
    monkeypatch.setattr(np, "savez", real)
    assert e.value.complete == (write == 12)
    _check(path, e.value, reference)


@pytest.mark.parametrize("build", [1, 5, 12])
def test_interrupt_while_the_result_is_assembled(tmp_path, monkeypatch, reference, build):
    calls = {"n": 0}
    real = integ.Trajectory

    class Slow(real):
        def __init__(self, *a, **k):
            calls["n"] += 1
            if calls["n"] == build:
                _sigint()
            super().__init__(*a, **k)

    monkeypatch.setattr(integ, "Trajectory", Slow)
    path = tmp_path / "r.npz"
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **KW)
    monkeypatch.setattr(integ, "Trajectory", real)
    _check(path, e.value, reference)


def test_interrupt_without_checkpoint_keeps_the_states_in_memory(monkeypatch):
    real = integ._step
    calls = {"n": 0}

    def step(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            _sigint()
        return real(*a, **k)

    monkeypatch.setattr(integ, "_step", step)
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, **KW)
    assert e.value.path is None and len(e.value.trajectory.t) >= 1
    assert "nothing was written" in e.value.describe()


def test_a_checkpoint_without_states_can_be_read_and_resumed(tmp_path, monkeypatch):
    """save_at starting after 0: the first checkpoint holds no state; it loads and resumes."""
    kw = {**KW, "save_at": [1.0, 2.0]}
    ref = pt.simulate(X0, DYN, 2.0, **kw)
    real = integ._step
    monkeypatch.setattr(integ, "_step", lambda *a, **k: (_sigint(), real(*a, **k))[1])
    path = tmp_path / "r.npz"
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **kw)
    monkeypatch.setattr(integ, "_step", real)
    assert e.value.t_saved is None and len(pt.Trajectory.load(path).t) == 0
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **kw)
    np.testing.assert_array_equal(done.x, ref.x)


def test_sigint_is_held_only_during_the_block():
    from particles.io import sigint_held

    with pytest.raises(KeyboardInterrupt):
        with sigint_held():
            _sigint()
            reached = True  # the interrupt did not cut the block short
    assert reached
    with sigint_held(deliver=False):
        _sigint(2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_cli_reports_what_the_file_holds(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from particles.cli.main import main

    real = integ._step
    calls = {"n": 0}

    def step(*a, **k):
        calls["n"] += 1
        if calls["n"] == 30:
            _sigint()
        return real(*a, **k)

    monkeypatch.setattr(integ, "_step", step)
    out = tmp_path / "r.npz"
    args = ["simulate", "--n", "5", "--d", "3", "--t-end", "2", "--dt", "0.05", "--seed", "1"]
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 130
    tr = pt.Trajectory.load(out)
    assert f"holds the states up to t = {tr.t[-1]:.6g}" in res.output
    assert "--resume" in res.output and not tr.complete
