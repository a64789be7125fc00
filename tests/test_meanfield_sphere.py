"""The S^2 mean-field solver (particles.meanfield.sphere).

Tolerances, and why:

- heat flow (beta = 0): the diffusion is integrated exactly (ETDRK4's E = e^{h lambda}), so 1e-12;
- mass: conserved to rounding (the l = 0 factor of the divergence is 0): 1e-12;
- growth rates of a 1e-7 perturbation of the uniform density against the linearisation
  sigma_l = l(l+1) i_l(beta) / (beta Z) - l(l+1)/kappa (Z = i_0(beta) for SA, 1 for USA): 1e-6
  relative (the O(eps) nonlinear correction and the O(h^4) time error are far below);
- particles against the PDE: the change of the mean vector between t = 0 and t = 1, n = 20000
  particles sampled from the initial density: sampling noise ~ 1/sqrt(n) = 7e-3 at t = 0 mostly
  cancels in the change; measured 3e-4, asserted 2e-3.
"""

import numpy as np
import pytest
from scipy.special import ive

import particles as pt
from particles.errors import ParticlesError

pytest.importorskip("ducc0")
from particles.meanfield import sphere as S  # noqa: E402


def _uniform(L):
    a = np.zeros(S.n_alm(L), dtype=complex)
    a[0] = np.sqrt(4 * np.pi)
    return a


def test_grid_round_trip_and_weights():
    L = 10
    g = S.Grid.for_degree(L)
    pts = g.points()
    f = lambda x: 1 + 0.5 * x[:, 2] + 0.3 * x[:, 0] * x[:, 1]
    a = S.coefficients_of(f, L)
    np.testing.assert_allclose(
        g.synthesis(a), f(pts.reshape(-1, 3)).reshape(pts.shape[:2]), atol=1e-13
    )
    assert abs(g.weights().sum() - 1) < 1e-13
    assert abs(a[0].real / np.sqrt(4 * np.pi) - 1) < 1e-13


def test_divergence_of_gradient_is_laplacian():
    L = 12
    g = S.Grid.for_degree(L)
    rng = np.random.default_rng(0)
    a = rng.standard_normal(S.n_alm(L)) + 1j * rng.standard_normal(S.n_alm(L))
    a[: L + 1] = a[: L + 1].real  # m = 0 coefficients of a real field are real
    ell = S.degrees(L)
    np.testing.assert_allclose(g.divergence(g.gradient(a)), -ell * (ell + 1.0) * a, atol=1e-11)


@pytest.mark.parametrize("kappa", [0.5, 3.0])
def test_beta_zero_is_exact_heat_flow(kappa):
    L = 16
    f = S.von_mises_fisher([0.2, -0.4, 1.0], 4.0)
    a0 = S.coefficients_of(f, L)
    sol = S.solve_sphere(a0, 0.0, 0.7, kappa=kappa, L=L, dt=0.1, save_at=[0, 0.35, 0.7])
    ell = S.degrees(L)
    for t, a in zip(sol.t, sol.alm):
        np.testing.assert_allclose(a, np.exp(-ell * (ell + 1) * t / kappa) * a0, atol=1e-12)


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("kappa", [None, 2.0])
def test_mass_conserved_and_positive(kind, kappa):
    # USA's field carries e^beta: at beta = 2 it concentrates rho below the grid's resolution by
    # t = 1 (the checks then show a negative minimum and a large tail), so it runs at beta = 0.5
    beta = 2.0 if kind == "SA" else 0.5
    f = S.von_mises_fisher([0.3, 0.1, 1.0], 1.5)
    sol = S.solve_sphere(f, beta, 1.0, kind=kind, kappa=kappa, L=24, dt=0.02, save_at=[0, 0.5, 1])
    np.testing.assert_allclose(sol.mass, 1.0, atol=1e-12)
    assert sol.min_density.min() > 0
    assert sol.tail.max() < 1e-3  # transport without noise steepens rho: the tail grows slowly
    assert sol.stats["steps"] == 50


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("kappa", [np.inf, 2.0])
def test_linear_growth_rates(kind, kappa):
    L, beta, l0, T, eps = 12, 3.0, 3, 0.5, 1e-7
    a = _uniform(L)
    idx = S._index(L, np.array([l0]), np.array([1]))[0]
    a[idx] = eps
    sol = S.solve_sphere(a, beta, T, kind=kind, kappa=kappa, L=L, dt=0.01)
    i_l = lambda l: ive(l + 0.5, beta) * np.sqrt(np.pi / (2 * beta)) * np.exp(beta)
    z = i_l(0) if kind == "SA" else 1.0
    sigma = l0 * (l0 + 1) * i_l(l0) / (beta * z) - l0 * (l0 + 1) / kappa
    got = np.log(abs(sol.alm[-1][idx]) / eps) / T
    assert abs(got - sigma) <= 1e-6 * abs(sigma)


def test_checks_flag_under_resolution():
    """USA at beta = 2 concentrates rho into a spike that L = 24 cannot resolve: the checks say so."""
    f = S.von_mises_fisher([0.3, 0.1, 1.0], 1.5)
    sol = S.solve_sphere(f, 2.0, 1.0, kind="USA", L=24, dt=0.02, save_at=[0, 1])
    assert sol.min_density[-1] < 0 and sol.tail[-1] > 1e-3
    np.testing.assert_allclose(sol.mass, 1.0, atol=1e-10)


def test_usa_energy_grows_without_noise():
    f = S.von_mises_fisher([0.0, 1.0, 0.5], 1.0)
    sol = S.solve_sphere(f, 1.5, 1.0, kind="USA", L=24, dt=0.02, save_at=np.linspace(0, 1, 6))
    assert np.all(np.diff(sol.energy) > 0)


def test_particles_follow_the_pde():
    """n particles from the initial density, moved by the O(n) expansion field (the geometric
    method keeps every evaluation on the sphere), against the PDE's mean vector."""
    beta, T, mu, k = 2.0, 1.0, [0.3, 0.1, 1.0], 1.5
    sol = S.solve_sphere(S.von_mises_fisher(mu, k), beta, T, L=32, dt=0.02)
    x0 = S.sample_von_mises_fisher(20000, mu, k, rng=1)
    tr = pt.simulate(x0, pt.Dynamics(beta=beta), T, method="geometric", dt=0.02, save_at=[0, T])
    d_particles = tr.x[-1].mean(axis=0) - tr.x[0].mean(axis=0)
    d_pde = sol.mean(-1) - sol.mean(0)
    assert np.abs(d_particles - d_pde).max() < 2e-3
    assert np.linalg.norm(d_pde) > 0.05  # the mean really moved
    pm = S.particle_moments(tr.x[0], 4)
    assert abs(pm[0] - 1 / np.sqrt(4 * np.pi)) < 1e-12


def test_bad_arguments():
    with pytest.raises(ParticlesError, match="kappa"):
        S.solve_sphere(_uniform(4), 1.0, 1.0, L=4, kappa=0)
    with pytest.raises(ParticlesError, match="shape"):
        S.solve_sphere(_uniform(5), 1.0, 1.0, L=4)
    with pytest.raises(ParticlesError, match="kind"):
        S.solve_sphere(_uniform(4), 1.0, 1.0, L=4, kind="XX")


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("kappa", [np.inf, 4.0])
def test_growth_rates_agree_with_linear_theory(kind, kappa):
    """The solver's measured growth of each mode l = 1..4 against particles.meanfield.linear (written
    independently, for any d): 1e-6 relative."""
    from particles.meanfield import linear

    L, beta, T, eps = 8, 2.5, 0.4, 1e-8
    want = linear.growth_rates(beta, 3, kappa=kappa, kind=kind, modes=4)
    for l0 in range(1, 5):
        a = _uniform(L)
        idx = S._index(L, np.array([l0]), np.array([0]))[0]
        a[idx] = eps
        sol = S.solve_sphere(a, beta, T, kind=kind, kappa=kappa, L=L, dt=0.02)
        got = np.log(abs(sol.alm[-1][idx]) / eps) / T
        assert abs(got - want[l0 - 1]) <= 1e-6 * abs(want[l0 - 1])
