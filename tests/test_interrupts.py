"""Ctrl-C at every stage of simulate, injected by sending SIGINT to this process from inside the
stage (not by timing): the checkpoint on disk is always a valid file, the exception says what it
holds, and resuming gives the uninterrupted result bit for bit."""

import signal

import numpy as np
import pytest

import particles as pt
import particles.solvers.integrate as integ
from particles.solvers.checkpoint import Interrupted
from tests.interrupt_helpers import DYN, KW, X0, check_resume, interrupt_call, sigint


@pytest.fixture(scope="module")
def reference():
    return pt.simulate(X0, DYN, 2.0, **KW)


@pytest.mark.parametrize("at_step", [1, 7, 20])
def test_interrupt_during_the_steps(tmp_path, monkeypatch, reference, at_step):
    real = interrupt_call(monkeypatch, integ, "_step", at_step)
    path = tmp_path / "r.npz"
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **KW)
    monkeypatch.setattr(integ, "_step", real)
    assert not e.value.complete and e.value.t_saved is not None
    check_resume(path, e.value, reference)


# writes: 1 the first checkpoint, 2..11 one per save time, 12 the complete result
@pytest.mark.parametrize("write", [1, 2, 6, 11, 12])
@pytest.mark.parametrize("taps", [1, 2])
def test_interrupt_during_a_checkpoint_write(tmp_path, monkeypatch, reference, write, taps):
    real = interrupt_call(monkeypatch, np, "savez", write, taps)  # taps while a file is written
    path = tmp_path / "r.npz"
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **KW)
    monkeypatch.setattr(np, "savez", real)
    assert e.value.complete == (write == 12)
    check_resume(path, e.value, reference)


@pytest.mark.parametrize("build", [1, 5, 12])
def test_interrupt_while_the_result_is_assembled(tmp_path, monkeypatch, reference, build):
    calls = {"n": 0}
    real = integ.Trajectory

    class Slow(real):
        def __init__(self, *a, **k):
            calls["n"] += 1
            if calls["n"] == build:
                sigint()
            super().__init__(*a, **k)

    monkeypatch.setattr(integ, "Trajectory", Slow)
    path = tmp_path / "r.npz"
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **KW)
    monkeypatch.setattr(integ, "Trajectory", real)
    check_resume(path, e.value, reference)


def test_interrupt_without_checkpoint_keeps_the_states_in_memory(monkeypatch):
    interrupt_call(monkeypatch, integ, "_step", 5)
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, **KW)
    assert e.value.path is None and len(e.value.trajectory.t) >= 1
    assert "nothing was written" in e.value.describe()


def test_a_checkpoint_without_states_can_be_read_and_resumed(tmp_path, monkeypatch):
    """save_at starting after 0: the first checkpoint holds no state; it loads and resumes."""
    kw = {**KW, "save_at": [1.0, 2.0]}
    ref = pt.simulate(X0, DYN, 2.0, **kw)
    real = integ._step
    monkeypatch.setattr(integ, "_step", lambda *a, **k: (sigint(), real(*a, **k))[1])
    path = tmp_path / "r.npz"
    with pytest.raises(Interrupted) as e:
        pt.simulate(X0, DYN, 2.0, checkpoint=path, **kw)
    monkeypatch.setattr(integ, "_step", real)
    assert e.value.t_saved is None and len(pt.Trajectory.load(path).t) == 0
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **kw)
    np.testing.assert_array_equal(done.x, ref.x)


def test_sigint_is_held_only_during_the_block():
    from particles.storage.npz import sigint_held

    with pytest.raises(KeyboardInterrupt):
        with sigint_held():
            sigint()
            reached = True  # the interrupt did not cut the block short
    assert reached
    with sigint_held(deliver=False):
        sigint(2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_cli_reports_what_the_file_holds(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from particles.cli.main import main

    interrupt_call(monkeypatch, integ, "_step", 30)
    out = tmp_path / "r.npz"
    args = ["simulate", "--n", "5", "--d", "3", "--t-end", "2", "--dt", "0.05", "--seed", "1"]
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 130
    tr = pt.Trajectory.load(out)
    assert f"holds the states up to t = {tr.t[-1]:.6g}" in res.output
    assert "--resume" in res.output and not tr.complete
