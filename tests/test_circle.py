"""The circle (d = 2, arXiv 2312.10794 §7, App. B): angle ODEs against the core Cartesian field,
gradient structure, Hessian."""

import math

import numpy as np
import pytest

import particles as pt
from particles.analysis import circle
from particles.errors import ParticlesError


@pytest.fixture
def theta():
    return np.random.default_rng(7).uniform(-np.pi, np.pi, 11)


def tangential(theta, v):
    """thetadot from a Cartesian velocity v (n, 2) at x = (cos, sin)."""
    return -np.sin(theta) * v[:, 0] + np.cos(theta) * v[:, 1]


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("beta", [0.0, 0.7, 4.0, 12.0])
def test_angle_ode_matches_cartesian(theta, kind, beta):
    x = circle.from_angles(theta)
    v = pt.velocity(x, pt.Dynamics(beta=beta, kind=kind))
    ref = tangential(theta, v)
    got = circle.angle_velocity(theta, beta, kind)
    assert np.allclose(got, ref, rtol=1e-12, atol=1e-13 * max(1.0, np.abs(ref).max()))
    # the Cartesian field is tangent, so the angle ODE captures all of it
    assert np.allclose(
        np.linalg.norm(v, axis=1), np.abs(ref), atol=1e-12 * max(1, np.abs(ref).max())
    )


def test_trajectory_matches_cartesian(theta):
    ts = np.linspace(0, 5, 11)
    t, th = circle.simulate_angles(theta, 3.0, 5.0, kind="SA", save_at=ts)
    traj = pt.simulate(
        circle.from_angles(theta),
        pt.Dynamics(beta=3.0),
        5.0,
        method="DOP853",
        rtol=1e-11,
        atol=1e-13,
        save_at=ts,
    )
    assert np.allclose(t, ts)
    assert np.max(np.abs(circle.wrap(circle.to_angles(traj.x) - th))) < 1e-6


def test_kuramoto_is_beta_zero(theta):
    for kind in ("SA", "USA"):
        assert np.allclose(circle.angle_velocity(theta, 0.0, kind), circle.kuramoto_velocity(theta))
    om = np.linspace(-1, 1, theta.size)
    assert np.allclose(
        circle.kuramoto_velocity(theta, 2.0, om) - om, 2 * circle.kuramoto_velocity(theta)
    )


@pytest.mark.parametrize("beta", [0.0, 0.5, 3.0, 10.0])
def test_usa_is_gradient_flow(theta, beta):
    n, h = theta.size, 1e-6
    fd = np.array(
        [
            (circle.energy(theta + h * e, beta) - circle.energy(theta - h * e, beta)) / (2 * h)
            for e in np.eye(n)
        ]
    )
    grad = circle.energy_gradient(theta, beta)
    assert np.allclose(fd, grad, rtol=1e-6, atol=1e-8 * math.exp(beta))
    assert np.allclose(n * grad, circle.angle_velocity(theta, beta, "USA"), rtol=1e-12, atol=1e-14)
    # the angle energy is the core energy of the points
    if beta > 0:
        assert circle.energy(theta, beta) == pytest.approx(
            pt.energy(circle.from_angles(theta), beta)
        )


@pytest.mark.parametrize("beta", [0.5, 3.0])
def test_hessian_by_finite_differences(theta, beta):
    n, h = theta.size, 1e-6
    fd = np.array(
        [
            (
                circle.energy_gradient(theta + h * e, beta)
                - circle.energy_gradient(theta - h * e, beta)
            )
            / (2 * h)
            for e in np.eye(n)
        ]
    )
    H = circle.hessian(theta, beta)
    assert np.allclose(H, H.T)
    assert np.allclose(H.sum(axis=1), 0, atol=1e-14 * math.exp(beta))
    assert np.allclose(fd, H, rtol=1e-5, atol=1e-8 * math.exp(beta))


@pytest.mark.parametrize("n", [8, 32])
@pytest.mark.parametrize("beta", [0.5, 2.0, 10.0, 50.0])
def test_equally_spaced_is_strict_saddle(n, beta):
    th = circle.equally_spaced(n, phase=0.3)
    assert circle.is_critical_point(th, beta)
    ok, lam = circle.strict_saddle(th, beta)
    assert ok and lam > 0
    # a synchronised state is the maximum of E: no positive eigenvalue there
    sync = np.zeros(n)
    ok_sync, lam_sync = circle.strict_saddle(sync, beta)
    assert not ok_sync and lam_sync <= 1e-12 * math.exp(beta)


def test_not_critical(theta):
    assert not circle.is_critical_point(theta, 1.0)


@pytest.mark.parametrize("beta, expected", [(2.0, 0.6749), (6.0, 0.4024)])
def test_tau_star(beta, expected):
    ts = circle.tau_star(beta)
    assert ts == pytest.approx(expected, abs=1e-4)
    assert beta * math.sin(ts) ** 2 == pytest.approx(math.cos(ts), rel=1e-12)
    # g changes sign at tau*: positive inside, negative outside (Fig. 6)
    assert circle.g(0.99 * ts, beta) > 0 > circle.g(1.01 * ts, beta)
    assert circle.tau_star(0.0) == pytest.approx(math.pi / 2)
    assert circle.tau_star(1e4) == pytest.approx(1e-2, rel=1e-3)  # ~ 1/sqrt(beta)
    assert circle.tau_star(100.0, d=5) == pytest.approx(math.sqrt(4 / 100), rel=0.05)


def test_angles_roundtrip(theta):
    x = circle.from_angles(theta)
    assert np.allclose(np.linalg.norm(x, axis=1), 1)
    assert np.allclose(circle.to_angles(x), circle.wrap(theta))
    assert np.all(circle.wrap(theta + 10) <= np.pi) and np.all(circle.wrap(theta + 10) > -np.pi)


def test_staircase_merges_and_energy_grows():
    th0 = np.random.default_rng(0).uniform(-np.pi, np.pi, 6)
    r = circle.staircase(th0, 9.0, 1e6, kind="SA")
    c, E = r["n_clusters"], r["energy"]
    assert c[0] == 6 and c[-1] == 1
    assert np.all(np.diff(c) <= 0)
    assert np.all(np.diff(E) >= -1e-9 * E.max())  # E_beta is non-decreasing along SA (3.6)
    assert E[-1] == pytest.approx(math.exp(9.0) / 18.0, rel=1e-6)  # the Dirac value e^b / (2b)
    # metastability: a plateau with more than one cluster lasting over a decade of time
    multi = r["t"][(c > 1) & (c == c[np.searchsorted(r["t"], 100.0)])]
    assert multi.size and multi.max() / max(multi.min(), 1e-9) > 10


@pytest.mark.parametrize(
    "call",
    [
        lambda: circle.angle_velocity([[0.0, 1.0]], 1.0),
        lambda: circle.angle_velocity([0.0, np.inf], 1.0),
        lambda: circle.angle_velocity([0.0, 1.0], -1.0),
        lambda: circle.angle_velocity([0.0, 1.0], 1.0, kind="XX"),
        lambda: circle.to_angles(np.ones((3, 3))),
        lambda: circle.tau_star(1.0, d=1),
        lambda: circle.simulate_angles([0.0, 1.0], 1.0, -1.0),
        lambda: circle.equally_spaced(0),
    ],
)
def test_bad_input(call):
    with pytest.raises(ParticlesError):
        call()
