"""The equiangular reduction (Thm 6.8): closed form, quadrature, ODE, the full system, the Gamma curve."""

import math

import numpy as np
import pytest

import particles as pt
from particles.analysis import equiangular as eq
from particles.errors import ParticlesError


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("rho0", [0.0, 0.3])
def test_beta0_closed_form_matches_ode(kind, rho0):
    t = np.linspace(0, 8, 33)
    np.testing.assert_allclose(
        eq.gamma(t, 0.0, 32, kind=kind, rho0=rho0),
        eq.gamma_beta0(t, 32, rho0),
        rtol=1e-9,
        atol=1e-11,
    )


def test_beta0_hitting_time_spec_value():
    """(6.9)-(6.10) at beta = 0 in closed form (derived here):
    t = 1/2 ln((n - (n-1) delta)/delta) = 5.186 for n = 32, delta = 1e-3."""
    n, delta = 32, 1e-3
    exact = 0.5 * math.log((n - (n - 1) * delta) / delta)
    assert eq.hitting_time(0.0, n, delta) == pytest.approx(exact, rel=1e-12)
    assert round(exact, 3) == 5.186
    assert eq.hitting_time(0.0, n, delta, kind="USA") == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("beta", [0.5, 4.0, 9.0])
def test_quadrature_hitting_time_matches_ode(kind, beta):
    t_hit = eq.hitting_time(beta, 32, 1e-3, kind=kind)
    g = eq.gamma([t_hit], beta, 32, kind=kind)[0]
    assert 1.0 - g == pytest.approx(1e-3, rel=1e-7)


def test_rhs_forms_agree():
    """(6.9) in its two printed forms (the second is also arXiv 2512.01868 §6.1's), and (6.10), which
    §6.1 of arXiv 2512.01868 prints the same way."""
    n, beta = 32, 2.7
    g = np.linspace(-0.02, 0.999, 50)
    form1 = (
        2
        * np.exp(beta * g)
        * (1 - g)
        * ((n - 1) * g + 1)
        / (np.exp(beta) + (n - 1) * np.exp(beta * g))
    )
    np.testing.assert_allclose(eq.rhs(g, beta, n, "SA"), form1, rtol=1e-13)
    usa = (2 / n) * np.exp(beta * g) * (1 - g) * ((n - 1) * g + 1)
    np.testing.assert_allclose(eq.rhs(g, beta, n, "USA"), usa, rtol=1e-13)


@pytest.mark.parametrize("kind", ["SA", "USA"])
def test_full_system_from_orthonormal_tokens(kind):
    """arXiv 2312.10794, Thm 6.8: x_i(0) = e_i stays equiangular and follows (6.9)/(6.10)
    (here n = d = 10)."""
    n, beta = 10, 1.5
    x0 = np.eye(n)
    ts = np.linspace(0, 3, 7)
    tr = pt.simulate(
        x0,
        pt.Dynamics(beta=beta, kind=kind),
        3.0,
        method="RK45",
        rtol=1e-11,
        atol=1e-13,
        save_at=ts,
    )
    off = ~np.eye(n, dtype=bool)
    for k, x in enumerate(tr.x):
        G = x @ x.T
        assert np.ptp(G[off]) < 1e-10
        assert G[off].mean() == pytest.approx(eq.gamma(ts[k], beta, n, kind=kind)[()], abs=1e-9)


def test_critical_beta_inverts_hitting_time_and_spec_values():
    for b in (0.3, 4.0, 6.5):
        t = eq.hitting_time(b, 32)
        assert eq.critical_beta(t, 32) == pytest.approx(b, abs=1e-9)
    assert np.isnan(eq.critical_beta(5.0, 32))  # before the beta = 0 hitting time
    # recomputed here: the largest beta below the curve on the 50-point grid (spacing 0.18) of the
    # authors' curve.ipynb
    ts, bs = eq.gamma_curve(32, 1e-3, times=[7.5, 10, 12.5, 20, 25])
    chk = np.array([4.28, 5.0, 5.55, 6.28, 6.64])
    assert np.all(bs >= chk) and np.all(bs < chk + 0.19)
    assert np.all(np.diff(bs) > 0)
    with pytest.raises(ParticlesError, match="SA"):
        eq.critical_beta(10.0, 32, kind="USA")


def test_gamma_curve_by_beta_is_increasing():
    ts, bs = eq.gamma_curve(32, 1e-3, betas=np.linspace(0, 9, 10))
    assert np.all(np.diff(ts) > 0)
    assert ts[0] == pytest.approx(5.18626, abs=1e-5)


def test_authors_euler_scheme_lags_the_exact_curve():
    """The authors' dt = 0.1 Euler scheme reaches 1 - delta late, by several tenths at large beta
    (here 0.5 at beta = 4, 0.9 at beta = 5, 1.5 at beta = 6: about 5-10 % of the exact time)."""
    for beta in (4.0, 5.0, 6.0):
        t = eq.hitting_time(beta, 32, 1e-3)
        lag = eq.euler_hitting_time(beta, 32, 1e-3, 0.1) - t
        assert 0.3 < lag and 0.05 < lag / t < 0.12
    # and converges to the exact time as dt -> 0 (first order)
    e1 = eq.euler_hitting_time(4.0, 32, 1e-3, 0.02) - eq.hitting_time(4.0, 32)
    e2 = eq.euler_hitting_time(4.0, 32, 1e-3, 0.01) - eq.hitting_time(4.0, 32)
    assert 0 < e2 < e1 < 0.5


def test_bad_input():
    with pytest.raises(ParticlesError, match="n >= 2"):
        eq.hitting_time(1.0, 1)
    with pytest.raises(ParticlesError, match="beta"):
        eq.gamma([1.0], -1.0, 4)
    with pytest.raises(ParticlesError, match="delta"):
        eq.hitting_time(1.0, 4, delta=2.0)
    with pytest.raises(ParticlesError, match="kind"):
        eq.rhs(0.5, 1.0, 4, kind="XA")
    with pytest.raises(ParticlesError, match="rho0"):
        eq.gamma_beta0(1.0, 4, rho0=1.0)
    with pytest.raises(ParticlesError, match="betas or times"):
        eq.gamma_curve(betas=[1.0], times=[1.0])
