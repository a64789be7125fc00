"""Long context, β_n = γ log n (arXiv 2510.05554; arXiv 2512.01868 §6.3, Theorem 7)."""

import numpy as np
import pytest

import particles.analysis.equiangular as eq
from particles.analysis import long_context as lc


def test_one_layer_closed_form_equals_the_layer_on_equiangular_tokens():
    for n, rho in ((7, 0.3), (50, 0.5), (120, 0.8)):
        x = eq.configuration(n, n + 3, rho, rng=1)
        for g in (0.5, 1 / (1 - rho), 3.0, 7.0):
            beta = float(lc.beta_n(n, g))
            S = np.exp(beta * (x @ x.T - 1.0))
            o = (S / S.sum(1, keepdims=True)) @ x
            o /= np.linalg.norm(o, axis=1, keepdims=True)
            off = (o @ o.T)[~np.eye(n, dtype=bool)]
            assert np.ptp(off) < 1e-12
            assert off.mean() == pytest.approx(lc.one_layer_inner(n, g, rho), abs=1e-12)


@pytest.mark.parametrize("rho", [0.2, 0.5, 0.8])
def test_critical_gamma_and_the_three_limits(rho):
    """1 below γ_c = 1/(1-ρ), 4ρ/(1+3ρ) at γ_c, ρ above (arXiv 2512.01868 Theorem 7), approached as n grows."""
    gc = lc.critical_gamma(rho)
    assert gc == pytest.approx(1 / (1 - rho))
    ns = np.array([1e2, 1e4, 1e6, 1e12, 1e100])
    for g, lim in ((0.8 * gc, 1.0), (gc, 4 * rho / (1 + 3 * rho)), (1.25 * gc, rho)):
        vals = lc.one_layer_inner(ns, g, rho)
        assert lc.one_layer_limit(g, rho) == pytest.approx(lim)
        err = np.abs(vals - lim)
        assert err[-1] < 1e-8 and np.all(np.diff(err) <= 1e-15)  # monotone approach
    # at γ_c the finite-n value is already within 1/n of the limit
    assert lc.one_layer_inner(1e4, gc, rho) == pytest.approx(4 * rho / (1 + 3 * rho), abs=1e-3)


def test_random_inputs_reproduce_the_transition():
    """Random almost-simplex tokens (n = 2000, d = 256): one layer's output inner product follows
    the equiangular formula up to the finite-d shift (module docstring of long_context)."""
    rho = 0.5
    gs = np.array([1.0, 2.0, 3.5])
    r = lc.one_layer_random(2000, 256, rho, gs, queries=24, seed=3, chunk=512)
    assert r["input"] == pytest.approx(rho, abs=0.02)
    exact = lc.one_layer_inner(2000, gs, rho)
    np.testing.assert_allclose(r["inner"], exact, atol=0.05)
    assert r["inner"][0] > 0.97 and r["inner"][-1] < 0.56


def test_flow_transition_sharpens_at_the_one_layer_gamma_c():
    rho0, T = 0.5, 3.0
    gc = lc.critical_gamma(rho0)
    sub = [lc.flow([T], n, 0.8 * gc, rho0)[0] for n in (1e2, 1e4, 1e6)]
    sup = [lc.flow([T], n, 1.25 * gc, rho0)[0] for n in (1e2, 1e4, 1e6)]
    lim = lc.flow_limit([T], 0.8 * gc, rho0)[0]
    assert lim > 0.9 and lc.flow_limit([T], 1.25 * gc, rho0)[0] == rho0
    assert abs(sub[-1] - lim) < abs(sub[0] - lim) and abs(sub[-1] - lim) < 0.02
    assert sup[-1] - rho0 < sup[0] - rho0 and sup[-1] - rho0 < 0.05  # ~ n^{1 - γ(1-ρ)}
