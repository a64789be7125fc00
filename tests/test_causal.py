"""Causal attention (Karagodin, Polyanskiy, Rigollet, arXiv 2411.04990): Theorem 4.1 (one cluster at
x_1(0) for arbitrary Q, K and V = I) with its rate, and Lemma 5.1 (strong Rényi centres stay almost
fixed) measured along simulations."""

import numpy as np
import pytest

import particles as pt
from particles.analysis import renyi


def _geodesic(a, b):
    return 2 * np.arcsin(np.minimum(1.0, np.linalg.norm(a - b, axis=-1) / 2))


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_theorem_4_1_one_cluster_at_the_first_token_for_random_q_k(d, seed):
    """Every token tends to x_1(0); token 1 never moves. The rate: near consensus all weights are
    1/k whatever Q, K and beta, so the linearisation is eps_k' = -(1 - 1/k) eps_k + (1/k) sum_{j<k}
    eps_j (derived here): the slowest mode is token 2's, distances decay like exp(-t/2). The paper
    proves convergence without a rate; the measured slope of log max_k dist(x_k, x_1(0)) over
    t in [30, 50] is -0.50 within 0.02 for every (d, seed) here (beta = 1, n = 8)."""
    rng = np.random.default_rng(seed)
    Q, K = rng.standard_normal((2, d, d)) / np.sqrt(d)
    x0 = pt.random_points(n=8, d=d, rng=seed + 100)
    dyn = pt.Dynamics(beta=1.0, Q=Q, K=K, causal=True)
    ts = np.arange(0.0, 51.0)
    traj = pt.simulate(x0, dyn, t_end=50.0, method="rk4", dt=0.2, save_at=ts)
    assert np.abs(traj.x[:, 0] - x0[0]).max() <= 1e-14  # token 1 never moves (to rounding)
    dist = _geodesic(traj.x, x0[0]).max(axis=1)
    assert dist[-1] < 1e-5
    late = ts >= 30
    slope = np.polyfit(ts[late], np.log(dist[late]), 1)[0]
    assert slope == pytest.approx(-0.5, abs=0.02)


def test_theorem_4_1_with_heads_and_rectangular_q_k():
    """Q, K of shape (d_k, d) with d_k != d and two heads (V = I each, so the heads sum to 2I):
    still one cluster at x_1(0)."""
    rng = np.random.default_rng(5)
    d = 3
    Q, K = rng.standard_normal((2, 2, 5, d)) / np.sqrt(d)
    V = np.stack([np.eye(d), np.eye(d)])
    x0 = pt.random_points(n=6, d=d, rng=9)
    traj = pt.simulate(x0, pt.Dynamics(beta=1.0, Q=Q, K=K, V=V, causal=True), t_end=40.0,
                       method="rk4", dt=0.2, save_at=[0.0, 40.0])  # fmt: skip
    assert _geodesic(traj.x[-1], x0[0]).max() < 1e-8


@pytest.mark.parametrize("seed", [0, 1])
def test_lemma_5_1_strong_centres_stay_within_the_bound(seed):
    """d = 2, Q = K = V = I, beta = 64. Strong Rényi centres at separation c (1 + 2 eps) beta^{-1/2}
    with c (1 + 2 eps) = 4 (the paper's delta = 4 beta^{-1/2}) and eps = 0.05 move less than
    eps c beta^{-1/2} up to T_j = eps exp(c^2/2 - c^4/(24 beta)) / s_j (Lemma 5.1). Measured: they
    stay inside that radius far longer than T_j (the bound is conservative)."""
    beta, eps = 64.0, 0.05
    c = 4.0 / (1 + 2 * eps)
    x0 = pt.random_points(n=40, d=2, rng=seed)
    strong = renyi.strong_renyi_centres(x0, c * (1 + 2 * eps) / np.sqrt(beta))
    t_j = renyi.strong_centre_time_bound(strong + 1, c, eps, beta)
    ts = np.arange(0.0, 40.0 + 1e-9, 0.5)
    traj = pt.simulate(x0, pt.Dynamics(beta=beta, causal=True), t_end=ts[-1], method="rk4",
                       dt=0.1, save_at=ts)  # fmt: skip
    disp = renyi.displacements(traj, strong)
    radius = eps * c / np.sqrt(beta)
    for j in range(strong.size):
        assert disp[ts <= t_j[j], j].max() < radius
    assert disp[:, 0].max() <= 1e-13  # token 1
    # measured stationarity: the first time each centre leaves the radius, against the bound
    left = [ts[np.argmax(disp[:, j] >= radius)] if (disp[:, j] >= radius).any() else np.inf
            for j in range(1, strong.size)]  # fmt: skip
    assert np.all(np.asarray(left) > 2 * t_j[1:])
