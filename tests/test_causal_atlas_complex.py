"""The complex-eigenvalue rows of figures/causal_atlas.py (causal attention, arXiv 2411.04990 §4):
the top eigenspace L by real part, the rotation speed of the Euler layer on L against a plain
numpy step, and token 1 (autonomous, §3) turning at that speed."""

import numpy as np
import pytest

import particles as pt
from tests.figure_helpers import load

atlas = load("causal_atlas")

V_CASES = [  # (V, dimension of L, top eigenvalues complex)
    (np.eye(3), 3, False),
    (np.diag([1.0, 1.0, -1.0]), 2, False),
    (np.diag([-1.0, -2.0, -2.0]), 1, False),
    (atlas._rot(1.0, 1.0, 0.5), 2, True),
    (atlas._rot(-1.0, 2.0, -3.0), 2, True),
    (atlas._rot(0.5, 1.0, 1.0), 1, False),
]


@pytest.mark.parametrize("V, dim, cplx", V_CASES)
def test_top_eigenspace_by_real_part(V, dim, cplx):
    w, basis, lam = atlas._spectrum(V)
    assert basis.shape == (3, dim)
    assert np.allclose(basis.T @ basis, np.eye(dim), atol=1e-12)
    assert (np.abs(lam.imag).max() > 0) == cplx
    assert np.allclose(lam.real, w.real.max())
    P = basis @ basis.T
    assert np.allclose(P @ V @ P, V @ P, atol=1e-12)  # L is invariant under V


@pytest.mark.parametrize("a, b", [(1.0, 1.0), (-1.0, 1.0), (0.0, 1.0), (0.5, -2.0)])
def test_euler_rotation_speed_matches_a_numpy_step(a, b):
    dt = 0.1
    V = atlas._rot(a, b, -5.0)
    x = np.array([np.cos(0.3), np.sin(0.3), 0.0])
    y = x + dt * V @ x  # one Euler layer on a lone point of L, then normalise
    y /= np.linalg.norm(y)
    turn = np.arctan2(y[1], y[0]) - 0.3
    assert atlas._euler_omega(V, dt) == pytest.approx(turn / dt, rel=1e-13)


def test_first_token_turns_at_the_euler_speed_and_a_cluster_in_L_rotates_rigidly():
    V = atlas._rot(1.0, 1.0, 0.5)
    x0 = pt.random_points(n=6, d=3, rng=2)
    dyn = pt.Dynamics(beta=9.0, causal=True, V=V)
    traj = pt.simulate(x0, dyn, t_end=3.0, method="euler", dt=0.1, save_at=[0.0, 3.0])
    phi = np.arctan2(traj.x[:, 0, 1], traj.x[:, 0, 0])
    turned = np.mod(phi[1] - phi[0], 2 * np.pi)
    assert turned == pytest.approx(30 * 0.1 * atlas._euler_omega(V, 0.1), abs=1e-12)
    # ODE: tokens at one point of L move along L at speed b (derived: P(x)(a x + b J x) = b J x)
    x = np.array([[0.6, 0.8, 0.0]] * 3)
    v = pt.velocity(x, dyn)
    assert np.allclose(v, x @ V.T - 1.0 * x, atol=1e-12)  # b J x, with a = 1
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-12)  # speed b = 1
