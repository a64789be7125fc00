"""Helpers of the Ctrl-C tests (test_interrupts.py: .npz checkpoints, test_store.py: zarr stores):
one small run, SIGINT sent to this process from inside a chosen call, and the check that the file
left behind is valid and resumes to the uninterrupted result."""

import os
import signal

import numpy as np

import particles as pt

X0 = pt.random_points(6, 3, rng=3)
DYN = pt.Dynamics(beta=2.0)
KW = dict(method="rk4", dt=0.1, save_at=np.linspace(0, 2, 11), checkpoint_every=0.0)


def sigint(times: int = 1) -> None:
    """Send SIGINT to this process ``times`` times (a double tap with 2)."""
    for _ in range(times):
        os.kill(os.getpid(), signal.SIGINT)


def interrupt_call(monkeypatch, owner, name: str, at: int, taps: int = 1):
    """Replace ``owner.name`` (through ``monkeypatch``) by a wrapper whose ``at``-th call sends
    SIGINT (``taps`` times) before calling the real one; returns the real one."""
    real = getattr(owner, name)
    calls = {"n": 0}

    def wrapper(*a, **k):
        calls["n"] += 1
        if calls["n"] == at:
            sigint(taps)
        return real(*a, **k)

    monkeypatch.setattr(owner, name, wrapper)
    return real


def check_resume(path, err, reference) -> None:
    """The file is valid, holds what the exception ``err`` says, and resuming finishes the run
    exactly (``reference``: the uninterrupted run of :data:`X0`, :data:`DYN`, :data:`KW`)."""
    assert err.path == path
    tr = pt.Trajectory.load(path)
    assert tr.complete == err.complete
    if err.t_saved is None:
        assert len(tr.t) == 0
    else:
        assert tr.t[-1] == err.t_saved
        np.testing.assert_array_equal(np.asarray(tr.x), reference.x[: len(tr.t)])
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **KW)
    np.testing.assert_array_equal(np.asarray(done.x), reference.x)
    assert "interrupted" in err.describe() and str(path) in err.describe()
