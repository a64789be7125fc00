"""The mean-field Sinkhorn (SK) dynamics (particles.meanfield.sinkhorn): the potential's fixed point,
the velocity against the particle SK field as n grows, the functional's dissipation identity, the
linear growth rates, and the S^2 solver."""

import numpy as np
import pytest

import particles as pt
from particles import meanfield as mf
from particles.errors import ParticlesError
from particles.meanfield import sample_density, solve_circle
from particles.meanfield import sinkhorn as ms

N = 128
TH = 2 * np.pi * np.arange(N) / N
RHO = 1 + 0.5 * np.cos(TH) + 0.3 * np.sin(2 * TH)  # mean 1
BETA = 3.0


def _angular(a, vel):
    return -np.sin(a) * vel[:, 0] + np.cos(a) * vel[:, 1]


def test_circle_potential_is_the_fixed_point_and_the_velocity_its_plan():
    """A plain numpy quadrature of the plan P(x, y) = e^{beta cos + f(x) + f(y)}: its rows
    integrate to 1 against rho, and int P sin(phi - theta) rho is the spectral velocity."""
    f = ms.circle_potential(RHO, BETA)
    P = np.exp(BETA * np.cos(TH[:, None] - TH[None, :]) + f[:, None] + f[None, :])
    P *= RHO[None, :] / N
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-11)
    vq = (P * np.sin(TH[None, :] - TH[:, None])).sum(axis=1)
    v = ms.circle_velocity(RHO, BETA)
    np.testing.assert_allclose(v, vq, rtol=0, atol=1e-12)
    # the same at arbitrary angles (the fixed point extends f off the grid)
    a = np.linspace(0.1, 6.0, 7)
    fa = -np.log((np.exp(BETA * np.cos(a[:, None] - TH[None, :]) + f[None, :]) * RHO / N).sum(1))
    Pa = np.exp(BETA * np.cos(a[:, None] - TH[None, :]) + fa[:, None] + f[None, :]) * RHO / N
    va = (Pa * np.sin(TH[None, :] - a[:, None])).sum(axis=1)
    np.testing.assert_allclose(ms.circle_velocity(RHO, BETA, theta=a), va, rtol=0, atol=1e-12)


def test_circle_particle_sk_field_converges_to_the_mean_field():
    """n particles drawn from rho: the particle SK field (particles.velocity, kind="SK") at the
    particles tends to X[rho] at rate ~ n^(-1/2) (measured: 0.027, 0.012, 0.0054 at n = 250, 1000,
    4000, max |X| = 0.16)."""
    err = {}
    for n in (250, 1000, 4000):
        e = []
        for seed in range(1):
            a = sample_density(RHO, n, rng=seed)
            x = np.stack([np.cos(a), np.sin(a)], axis=1)
            ang = _angular(a, pt.velocity(x, pt.Dynamics(beta=BETA, kind="SK")))
            e.append(np.sqrt(np.mean((ang - ms.circle_velocity(RHO, BETA, theta=a)) ** 2)))
        err[n] = np.mean(e)
    assert err[250] > err[1000] > err[4000]
    assert err[4000] < err[250] / 3 and err[4000] < 0.01


def test_particle_functional_tends_to_the_mean_field_one():
    from particles.analysis.sinkhorn import ot_energy

    F = ms.energy(RHO, BETA)
    a = sample_density(RHO, 3000, rng=1)
    Fn = ot_energy(np.stack([np.cos(a), np.sin(a)], axis=1), pt.Dynamics(beta=BETA, kind="SK"))
    assert abs(Fn - F) < 3e-3 * abs(F) + 2e-3


def test_circle_functional_dissipation_identity():
    """Noiseless: dF/dt = -int X^2 rho (measured to 1e-5 relative by a centred difference)."""
    sol = solve_circle(RHO, BETA, None, 0.2, kind="SK", dt=0.002, save_at=[0, 0.09, 0.1, 0.11])
    F = [ms.energy(sol.density(i), BETA) for i in range(4)]
    v = ms.circle_velocity(sol.density(2), BETA)
    rate = -np.mean(v**2 * sol.density(2))
    assert F[0] > F[1] > F[2] > F[3]
    assert abs((F[3] - F[1]) / 0.02 - rate) < 1e-4 * abs(rate)


def test_circle_free_energy_decreases_with_noise():
    kappa = 4.0
    sol = solve_circle(RHO, BETA, kappa, 2.0, kind="SK", dt=0.01, saves=9)
    free = []
    for i in range(9):
        r = sol.density(i)
        free.append(ms.energy(r, BETA) + np.mean(r * np.log(r)) / kappa)
    assert np.all(np.diff(free) < 0)
    assert sol.stats["positive"] and sol.stats["max_mass_error"] < 1e-14


@pytest.mark.parametrize("beta, kappa", [(3.0, 10.0), (1.0, 4.0)])
def test_linear_growth_rates_are_the_solvers(beta, kappa):
    """Small modes 1 and 2 of the uniform density grow (or decay) at lambda (a / (beta (1 + a))
    - 1 / kappa)."""
    rho = 1 + 1e-5 * np.cos(TH) + 1e-5 * np.cos(2 * TH)
    sol = solve_circle(rho, beta, kappa, 1.0, kind="SK", dt=0.005, saves=2)
    c = sol.rho_hat
    measured = np.log(np.abs(c[-1, 1:3]) / np.abs(c[0, 1:3]))
    rates = mf.growth_rates(beta, 2, kappa, "SK", 2)
    np.testing.assert_allclose(measured, rates, rtol=1e-3, atol=1e-5)
    k = mf.critical_kappa(beta, 2, "SK")
    assert (
        mf.growth_rates(beta, 2, 0.99 * k, "SK", 1)[0]
        < 0
        < mf.growth_rates(beta, 2, 1.01 * k, "SK", 1)[0]
    )
    np.testing.assert_allclose(k, mf.critical_kappa(beta, 2, "SA") + beta, rtol=1e-13)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_sk_linear_theory_limits(d):
    """beta -> 0: SK, SA and USA share kappa_c = d; the SK rates lie below SA's."""
    for kind in ("SA", "USA"):
        assert mf.critical_kappa(1e-12, d, "SK") == pytest.approx(mf.critical_kappa(1e-12, d, kind))
    assert mf.critical_kappa(0.0, d, "SK") == pytest.approx(d)
    sk, sa = mf.growth_rates(4.0, d, np.inf, "SK", 5), mf.growth_rates(4.0, d, np.inf, "SA", 5)
    assert np.all((0 < sk) & (sk < sa))


def test_beta_zero_sk_is_sa():
    """beta = 0: P = 1 for both, the Kuramoto field."""
    a = solve_circle(RHO, 0.0, 3.0, 0.5, kind="SK", dt=0.01, saves=2)
    b = solve_circle(RHO, 0.0, 3.0, 0.5, kind="SA", dt=0.01, saves=2)
    np.testing.assert_array_equal(a.rho_hat, b.rho_hat)
    np.testing.assert_allclose(
        ms.circle_velocity(RHO, 0.0), ms.circle_velocity(RHO, 1e-9), rtol=0, atol=1e-9
    )


# --- S^2 ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sphere_sol():
    from particles.meanfield import sphere as S

    rho0 = S.von_mises_fisher(np.array([0.0, 0.0, 1.0]), 2.0)
    return S.solve_sphere(rho0, 2.0, 0.2, kind="SK", L=16, dt=0.02, save_at=[0, 0.01, 0.1, 0.2])


def test_sphere_particle_sk_field_converges_to_the_mean_field(sphere_sol):
    """Measured: RMS error 0.042, 0.028, 0.012 at n = 250, 1000, 4000 (RMS |X| = 0.23)."""
    from particles.meanfield import sphere as S

    rng = np.random.default_rng(0)
    err = {}
    for n in (250, 4000):
        x = S.sample_von_mises_fisher(n, np.array([0.0, 0.0, 1.0]), 2.0, rng)
        v = pt.velocity(x, pt.Dynamics(beta=2.0, kind="SK"))
        w = ms.sphere_velocity_at(x, sphere_sol, 0)
        err[n] = np.sqrt(np.mean(np.sum((v - w) ** 2, axis=1)))
    assert err[4000] < err[250] / 2 and err[4000] < 0.02


def test_sphere_mean_moves_with_the_quadrature_velocity(sphere_sol):
    """d/dt int x rho = int X rho: the harmonic solver's transport against the plan by quadrature."""
    from particles.meanfield import sphere as S

    g = S.Grid.for_degree(sphere_sol.L)
    pts = g.points().reshape(-1, 3)
    w = (g.weights() * g.synthesis(sphere_sol.alm[0])).ravel()
    drift = (w[:, None] * ms.sphere_velocity_at(pts, sphere_sol, 0)).sum(axis=0)
    dm = (sphere_sol.mean(1) - sphere_sol.mean(0)) / 0.01
    np.testing.assert_allclose(dm, drift, rtol=0, atol=2e-3 * np.abs(drift).max())
    F = [ms.sphere_energy(sphere_sol, i) for i in range(4)]
    assert np.all(np.diff(F) < 0)


HOSTILE = [
    (lambda: ms.circle_potential(RHO, -1.0), "beta"),
    (lambda: ms.circle_potential(RHO, 1e5), "beta must be at most"),
    (lambda: ms.circle_potential(np.full(8, np.nan), 1.0), "finite"),
    (lambda: ms.circle_potential(-np.ones(16), 1.0), "not positive"),
    (lambda: ms.energy(RHO, 0.0), "beta > 0"),
    (lambda: mf.growth_rates(1.0, 3, 1.0, "XK"), "'SA', 'USA' or 'SK'"),
    (lambda: mf.landau_coefficient(1.0, 3, "SK"), "'SA' or 'USA'"),
    (lambda: solve_circle(RHO, 1.0, 1.0, 1.0, kind="XX"), "kind"),
]


@pytest.mark.parametrize("call, match", HOSTILE)
def test_hostile_inputs(call, match):
    with pytest.raises(ParticlesError, match=match):
        call()


# --- the CLI --------------------------------------------------------------------------------------


def _cli(args):
    from click.testing import CliRunner

    from particles.cli.main import main

    return CliRunner().invoke(main, args)


def test_cli_meanfield_solve_and_transition_take_sk(tmp_path):
    res = _cli(
        ["meanfield", "solve", "--kind", "SK", "--beta", "3", "--kappa", "5"]
        + ["--t-end", "0.5", "--saves", "3", "--N", "64", "--quiet"]
        + ["--out", str(tmp_path / "mf.npz")]
    )
    assert res.exit_code == 0, res.output
    sol = pt.meanfield.CircleSolution.load(tmp_path / "mf.npz")
    assert sol.params["kind"] == "SK"
    common = ["--beta", "3", "--kappa", "4,8", "--dt", "0.05", "--t-relax", "0.5"]
    common += ["--t-avg", "0.5", "--kind", "SK", "--quiet"]
    for engine, extra in (
        ("pde", ["--d", "2", "--N", "32"]),
        ("particles", ["--d", "3", "--n", "16", "--seeds", "2"]),
    ):
        out = tmp_path / f"t-{engine}.npz"
        res = _cli(
            ["transition", "--engine", engine, *extra, *common, "--out", str(out)]
            + ["--store", str(tmp_path / engine)]
        )
        assert res.exit_code == 0, res.output


def test_cli_theory_sk_is_the_linear_theory():
    import json

    res = _cli(["meanfield", "theory", "--kind", "SK", "--beta", "4", "--d", "2,3", "--json"])
    assert res.exit_code == 0, res.output
    for row in json.loads(res.output):
        assert row["kappa_c"] == pytest.approx(mf.critical_kappa(4.0, row["d"], "SK"))
        assert row["beta_star"] is None
        np.testing.assert_allclose(
            row["growth_rates"], mf.growth_rates(4.0, row["d"], None, "SK", 6)
        )


CLI_REFUSALS = [
    (["meanfield", "theory", "--kind", "SK", "--branch"], "stationary branches"),
    (
        ["transition", "--engine", "circle", "--d", "2", "--kind", "SK", "--kappa", "1"],
        "no circle engine",
    ),
]


@pytest.mark.parametrize("args, match", CLI_REFUSALS)
def test_cli_refusals_are_one_line(args, match, tmp_path):
    res = _cli([*args, "--out", str(tmp_path / "x.npz")] if args[0] == "transition" else args)
    assert res.exit_code != 0
    assert match in res.output and "Traceback" not in res.output
