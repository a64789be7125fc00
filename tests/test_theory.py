"""Quantitative statements of the theory (arXiv 2312.10794, §§4–6) checked on simulations."""

import numpy as np
import pytest

import particles as pt
from tests.naive import gamma_equiangular


def _cap(n, d, width, rng):
    """n points in a small cap around e_1: e_1 + width * gaussian, normalised."""
    g = np.random.default_rng(rng).standard_normal((n, d)) * width
    g[:, 0] += 1.0
    return pt.normalize(g)


@pytest.mark.parametrize("kind,beta", [("SA", 0.5), ("SA", 3.0), ("USA", 0.5), ("USA", 1.5)])
def test_rate_of_final_collapse(kind, beta):
    """Near consensus eps = 1 - min <x_i, x_j> decays like exp(-2t) (SA) and exp(-2 e^beta t) (USA)."""
    rate = 2.0 if kind == "SA" else 2.0 * np.exp(beta)
    t_end = 8.0 / rate
    ts = np.linspace(0, t_end, 41)
    traj = pt.simulate(
        _cap(12, 4, 0.02, 1),
        pt.Dynamics(beta=beta, kind=kind),
        t_end,
        method="DOP853",
        rtol=1e-12,
        atol=1e-14,
        save_at=ts,
    )
    eps = np.array([1 - pt.min_inner_product(x) for x in traj.x])
    late = slice(20, 41)
    slope = np.polyfit(ts[late], np.log(eps[late]), 1)[0]
    assert slope == pytest.approx(-rate, rel=0.02)


def test_cone_collapse_lemma_6_4():
    """Points in an open hemisphere {<x, w> > 0}: min_i <x_i(t), w> never decreases, and once
    alpha(t) = min_i <x_i, x*> >= 1/2 the bound 1 - alpha(t) <= exp(-(t - t0) / (2 n e^{2 beta})) / 2 holds."""
    rng = np.random.default_rng(3)
    n, d, beta = 10, 3, 1.0
    x0 = pt.random_points(n, d, rng)
    w = np.array([0.0, 0.0, 1.0])
    x0[:, 2] = np.abs(x0[:, 2]) + 0.05
    x0 = pt.normalize(x0)
    ts = np.linspace(0, 30, 301)
    traj = pt.simulate(x0, pt.Dynamics(beta=beta), 30.0, method="rk4", dt=0.02, save_at=ts)
    m = traj.x @ w
    assert np.all(np.diff(m.min(axis=1)) >= -1e-12)
    xstar = traj.final.mean(axis=0)
    xstar /= np.linalg.norm(xstar)
    alpha = (traj.x @ xstar).min(axis=1)
    k0 = int(np.argmax(alpha >= 0.5))
    assert alpha[k0] >= 0.5
    bound = 0.5 * np.exp(-(ts[k0:] - ts[k0]) / (2 * n * np.exp(2 * beta)))
    assert np.all(1 - alpha[k0:] <= bound + 1e-12)


def test_small_beta_perturbation_is_linear():
    """Thm 4.2 (proof): |x^beta(t) - x^0(t)| = O(beta) e^{3t} at fixed t."""
    x0 = pt.random_points(8, 3, 5)
    t = 1.0
    run = lambda b: (
        pt.simulate(
            x0, pt.Dynamics(beta=b), t, method="DOP853", rtol=1e-12, atol=1e-14, save_at=[t]
        ).final
    )
    x_0 = run(0.0)
    errs = np.array([np.abs(run(b) - x_0).max() for b in (1e-3, 2e-3, 4e-3)])
    np.testing.assert_allclose(errs[1:] / errs[:-1], 2.0, rtol=0.01)
    assert errs[-1] <= 4e-3 * np.exp(3 * t)


def test_high_dimension_follows_equiangular_curve():
    """Thm 6.9: for i.i.d. uniform starts in high dimension, <x_i(t), x_j(t)> ~ gamma_beta(t), with an
    error that shrinks like sqrt(log d / d)."""
    n, beta, t = 8, 1.0, 1.0
    gamma = gamma_equiangular("SA", n, beta, [t])[0]
    ds = [64, 256, 1024, 4096]
    errs = []
    off = ~np.eye(n, dtype=bool)
    for d in ds:
        e = []
        for seed in range(8):
            x = pt.simulate(
                pt.random_points(n, d, seed),
                pt.Dynamics(beta=beta),
                t,
                method="rk4",
                dt=0.05,
                save_at=[t],
            ).final
            e.append(np.abs((x @ x.T)[off] - gamma).mean())
        errs.append(np.mean(e))
    slope = np.polyfit(np.log(ds), np.log(errs), 1)[0]
    assert -0.7 < slope < -0.35, (errs, slope)
    assert errs[-1] < 0.03
