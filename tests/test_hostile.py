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
