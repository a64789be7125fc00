"""The mean-field equation of the noisy model (issue 13, §2 for d = 2, §4): linear stability against
the papers' closed forms, the stationary branches against the weakly nonlinear (Landau) expansion,
the Fokker–Planck solver on the circle (mass, positivity, growth rates, stationary states), the O(n)
circle particles and the W1 distance between particles and PDE, the transition sweeps and the CLI.

Closed forms (module docstring of particles.meanfield.linear):
- Funk–Hecke: a_l(beta) = Gamma(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta); d = 2: I_l; d = 3, l = 0:
  sinh(beta)/beta;
- kappa_c = beta / a_1 (USA) = beta^{d/2} / (2^{d/2-1} Gamma(d/2) I_{d/2}(beta)) = 2 K_#^{(d)}(beta)
  of Mun–Rosenzweig (arXiv 2606.05140); kappa_c -> d as beta -> 0 (noisy Kuramoto K = 2D on the circle);
- beta_*: I_{d/2+1}(beta_*) / I_{d/2}(beta_*) = 1/d (arXiv 2606.05140; 2604.16288 for d = 2);
- the fastest noiseless mode on the circle at beta = 5 is l = 3 (arXiv 2410.23228, Fig. 4).
"""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate
from scipy.optimize import brentq
from scipy.special import gamma, iv, ive

import particles as pt
from particles import meanfield as mf
from particles.analysis.transition import TransitionParams, TransitionResult, transition
from particles.cli.main import main
from particles.errors import ParticlesError
from particles.field import kernels
from particles.meanfield import stationary as ms
from tests import naive

# --- linear theory ----------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 4, 7])
@pytest.mark.parametrize("beta", [0.3, 2.0, 9.0])
def test_funk_hecke_coefficients_by_quadrature(d, beta):
    """a_l = int e^{beta t} P_l(t) d sigma(t) (marginal weight (1 - t^2)^{(d-3)/2}), rtol 1e-9."""
    t = np.cos(np.linspace(0, np.pi, 4001))
    th = np.linspace(0, np.pi, 4001)
    w = np.sin(th) ** (d - 2)
    P = ms.gegenbauer(t, d, 5)
    for ell in range(6):
        want = integrate.simpson(np.exp(beta * t) * P[:, ell] * w, x=th) / integrate.simpson(
            w, x=th
        )
        np.testing.assert_allclose(mf.funk_hecke(beta, d, ell), want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mf.funk_hecke(beta, 2, 3), iv(3, beta), rtol=1e-13)
    np.testing.assert_allclose(mf.funk_hecke(beta, 3, 0), math.sinh(beta) / beta, rtol=1e-13)
    assert mf.funk_hecke(0.0, d, 0) == 1.0 and mf.funk_hecke(0.0, d, 2) == 0.0


@pytest.mark.parametrize("d", [2, 3, 5, 10])
def test_critical_kappa_closed_forms(d):
    b = np.array([0.1, 1.0, 4.0, 20.0])
    usa = b ** (d / 2) / (2 ** (d / 2 - 1) * gamma(d / 2) * iv(d / 2, b))
    np.testing.assert_allclose(mf.critical_kappa(b, d), usa, rtol=1e-12)
    np.testing.assert_allclose(
        mf.critical_kappa(b, d), 2 * mf.mun_rosenzweig_threshold(b, d), rtol=1e-12
    )
    sa = b * iv(d / 2 - 1, b) / iv(d / 2, b)
    np.testing.assert_allclose(mf.critical_kappa(b, d, "SA"), sa, rtol=1e-12)
    for kind in ("SA", "USA"):  # beta -> 0: the noisy Kuramoto / mean-field Heisenberg threshold d
        assert mf.critical_kappa(0.0, d, kind) == pytest.approx(d, rel=1e-15)
        assert mf.critical_kappa(1e-6, d, kind) == pytest.approx(d, rel=1e-5)
    # the growth rate of mode 1 vanishes at kappa_c; the per-mode thresholds kappa_l = beta / a_l
    for kind in ("SA", "USA"):
        kc = mf.critical_kappa(2.0, d, kind)
        assert abs(mf.growth_rates(2.0, d, kc, kind, modes=1)[0]) < 1e-12
        kl = mf.critical_kappas(2.0, d, kind, modes=4)
        assert kl[0] == pytest.approx(kc) and np.all(np.diff(kl) > 0)


def test_growth_rates_formula_and_shapes():
    lam = mf.growth_rates(5.0, 2, modes=5)
    np.testing.assert_allclose(lam, [k * k * iv(k, 5.0) / 5.0 for k in range(1, 6)], rtol=1e-12)
    d, kap = 3, 2.0
    lam = mf.growth_rates(1.5, d, kap, "SA", modes=3)
    a = [mf.funk_hecke(1.5, d, ell) for ell in range(4)]
    want = [ell * (ell + d - 2) * (a[ell] / (1.5 * a[0]) - 1 / kap) for ell in (1, 2, 3)]
    np.testing.assert_allclose(lam, want, rtol=1e-12)
    assert mf.growth_rates([1.0, 2.0, 3.0], 3, modes=4).shape == (3, 4)
    assert np.all(mf.growth_rates(0.0, 4, 10.0, modes=3)[1:] < 0)  # only l = 1 can grow at beta = 0
    for bad in (dict(d=1), dict(d=2.5), dict(kind="X"), dict(kappa=0.0), dict(modes=0)):
        kw = dict(beta=1.0, d=2) | bad
        with pytest.raises(ParticlesError):
            mf.growth_rates(**kw)


def test_fastest_mode():
    """arXiv 2410.23228, Fig. 4: beta = 5 on the circle gives 3 clusters; l* ~ sqrt(2 beta)."""
    assert mf.fastest_mode(5.0, 2)[0] == 3
    assert mf.fastest_mode(5.0, 2, kind="SA")[0] == 3  # SA = USA / a_0 at linear order
    assert mf.fastest_mode(0.5, 3)[0] == 1
    for beta in (20.0, 50.0, 100.0):
        assert abs(mf.fastest_mode(beta, 2)[0] - math.sqrt(2 * beta)) <= 1.0


@pytest.mark.parametrize("d", [2, 3, 4, 8])
def test_beta_star_against_mun_rosenzweig(d):
    bs = mf.beta_star(d)
    assert ive(d / 2 + 1, bs) / ive(d / 2, bs) == pytest.approx(1 / d, rel=1e-12)
    assert mf.landau_coefficient(bs * 0.99, d) < 0 < mf.landau_coefficient(bs * 1.01, d)
    assert mf.beta_star(d, "SA") == math.inf
    assert np.all(mf.landau_coefficient(np.linspace(0.05, 100, 500), d, "SA") < 0)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_global_minimizer_dichotomy_of_mun_rosenzweig(d):
    """arXiv 2606.05140 (abstract; 2604.16288 for d = 2): for beta <= beta_* the uniform density is
    the global minimizer up to K_# (= kappa_c / 2 here) and the transition is continuous; for
    beta > beta_* it is not globally minimizing at K_#. On the computed one-cluster branch (the
    candidates the papers' obstruction uses): at 0.95 beta_* the branch is supercritical (kappa_1 =
    kappa_c, stable throughout); at 1.05 beta_* it folds below kappa_c (by > 5e-4 relative) and its
    stable part has a lower USA free energy than the uniform state at kappa_c (by > 1e-5)."""
    bs = mf.beta_star(d)
    below = mf.stationary_branch(0.95 * bs, d, points=120, r_max=0.5)
    assert mf.first_order_kappa(below) == below.meta["kappa_c"] and below.stable.all()
    above = mf.stationary_branch(1.05 * bs, d, points=120, r_max=0.5)
    kc = above.meta["kappa_c"]
    kf, rf = above.fold
    assert kf < kc * (1 - 5e-4) and 0.1 < rf < 0.4
    assert mf.first_order_kappa(above) < kc
    st = above.stable
    k, f = above.kappa[st], above.free_energy[st] - above.meta["free_energy_uniform"]
    o = np.argsort(k)
    assert np.interp(kc, k[o], f[o]) < -1e-5


def test_beta_star_values():
    assert mf.beta_star(2) == pytest.approx(2.446918, abs=1e-6)
    assert mf.beta_star(3) == pytest.approx(1.816155, abs=1e-6)


# --- stationary branches ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("d", [2, 3])
def test_branch_at_beta_zero_is_the_noisy_kuramoto_pitchfork(d, kind):
    """beta -> 0 is the noisy Kuramoto model (d = 2; mean-field Heisenberg for d = 3): arXiv
    2512.01868, §7 (after Bertini, Giacomin, Pakdaman 2010): the uniform state is the only stationary
    state for kappa <= 2 (d = 2), a pitchfork at kappa = 2, one non-trivial branch beyond. The branch
    is the von Mises–Fisher family rho ~ exp(kappa r <e, x>) with the self-consistency
    r = A_d(kappa r), A_d = I_{d/2} / I_{d/2-1} (derived). Tolerance 2e-6: beta = 1e-6 moves kappa by
    O(beta)."""
    br = mf.stationary_branch(1e-6, d, kind, points=40, r_max=0.9)
    conc = np.array(
        [brentq(lambda k, r=r: ive(d / 2, k) / ive(d / 2 - 1, k) - r, 1e-9, 1e4) for r in br.r]
    )
    np.testing.assert_allclose(br.kappa, conc / br.r, rtol=2e-6)
    assert br.fold == pytest.approx((d, 0.0), abs=1e-9)  # supercritical: the pitchfork at kappa = d
    assert br.stable.all()


@pytest.mark.parametrize("kind", ["USA", "SA"])
@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_branch_near_kappa_c_follows_the_landau_expansion(kind, d, beta):
    """kappa / kappa_c - 1 = -L A^2 + O(A^4) with A = d r (derivation in meanfield.linear): at r = 0.005
    the measured ratio matches L within 1e-3 relative."""
    b = mf.stationary_branch(beta, d, kind, r_max=0.005, points=4)
    r = b.r[-1]
    mu = b.kappa[-1] / b.meta["kappa_c"] - 1
    Ls = mf.landau_coefficient(beta, d, kind)
    k1 = ive(d / 2, beta) / ive(d / 2 - 1, beta)
    L = Ls / (d * (d + 2)) * ((1 - k1) if kind == "SA" else 1.0)
    assert mu / (r * r) == pytest.approx(-L * d * d, rel=1e-3)
    assert b.meta["residual"] < 1e-10


def test_branch_shapes_and_first_order_transition():
    sup = mf.stationary_branch(1.5, 2, points=60)  # beta < beta_*: supercritical
    assert sup.stable.all() and sup.fold == (sup.meta["kappa_c"], 0.0)
    assert mf.first_order_kappa(sup) == sup.meta["kappa_c"]
    sub = mf.stationary_branch(6.0, 2, points=150)  # beta > beta_*: subcritical
    kf, rf = sub.fold
    k1 = mf.first_order_kappa(sub)
    assert kf < k1 < sub.meta["kappa_c"] and 0.5 < rf < 0.8
    assert not sub.stable[0] and sub.stable[-1]
    # free energy: on the stable branch F < F_uniform above kappa_1
    i = np.argmin(np.abs(sub.kappa - (k1 + sub.meta["kappa_c"]) / 2) + 10 * (~sub.stable))
    assert sub.free_energy[i] < sub.meta["free_energy_uniform"]
    assert np.isnan(mf.stationary_branch(2.0, 3, "SA", points=20).free_energy).all()
    assert mf.first_order_kappa(
        mf.stationary_branch(2.0, 3, "SA", points=20)
    ) != mf.first_order_kappa(sup)


def test_stationary_state_is_a_fixed_point_of_the_pde():
    """The branch's density at kappa, fed to the Fokker–Planck solver, stays put (d = 2, both kinds)."""
    for kind, beta in (("USA", 4.0), ("SA", 2.0)):
        b = mf.stationary_branch(beta, 2, kind, r_max=0.8, points=40)
        i = -1
        th = 2 * np.pi * np.arange(256) / 256
        P = ms.gegenbauer(np.cos(th), 2, b.coeffs.shape[1] - 1)
        rho = P @ b.coeffs[i]
        sol = mf.solve_circle(rho, beta, b.kappa[i], 5.0, kind=kind, dt=0.01, save_at=[0, 5])
        assert abs(sol.r[-1] - b.r[i]) < 1e-8
        np.testing.assert_allclose(sol.density(-1), rho, atol=1e-8)


# --- the Fokker–Planck solver ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["USA", "SA"])
@pytest.mark.parametrize("kappa", [np.inf, 5.0])
def test_pde_growth_rates_match_linear_theory(kind, kappa):
    """From rho = 1 + 1e-9 (random modes 1..8), the amplitudes |rho_k| grow or decay at the rates of
    growth_rates (beta = 4), measured on t in [0.2, 1] (modes whose amplitude stays above 1e-14):
    relative error < 1e-3."""
    beta = 4.0
    rho0 = mf.initial_density("perturbed", N=128, eps=1e-9, modes=8, rng=1)
    sol = mf.solve_circle(
        rho0, beta, kappa, 1.0, kind=kind, dt=0.005, save_at=np.linspace(0, 1, 11)
    )
    lam = mf.growth_rates(beta, 2, kappa, kind, modes=8)
    m = sol.modes(8)
    for k in range(8):  # skip modes at rounding level or driven by the square of a grown mode
        if min(m[-1, k], m[2, k]) < max(1e-14, 1e3 * m[-1].max() ** 2):
            continue
        rate = np.polyfit(sol.t[2:], np.log(m[2:, k]), 1)[0]
        assert rate == pytest.approx(lam[k], rel=1e-3, abs=1e-3), (k + 1, rate, lam[k])


def test_pde_conserves_mass_and_stays_positive():
    rho0 = mf.initial_density("von-mises", N=256, concentration=3.0, mu=1.0)
    for kind, kappa in (("USA", 0.3), ("SA", 2.0), ("USA", 0.6)):
        sol = mf.solve_circle(rho0, 4.0, kappa, 20.0, kind=kind, dt=0.01)
        assert sol.stats["max_mass_error"] < 1e-14 and np.abs(sol.mass - 1).max() < 1e-14
        assert sol.stats["positive"] and sol.min_density.min() > 0
        assert sol.tail.max() < 1e-12
        grid = np.linspace(0, 2 * np.pi, 2001)
        assert integrate.trapezoid(sol.density(-1, grid), grid) / (2 * np.pi) == pytest.approx(
            1, abs=1e-10
        )
        np.testing.assert_allclose(sol.cdf([2 * np.pi]), [1.0], atol=1e-13)


def test_pde_flags_negative_densities_and_blowup():
    # too coarse a grid for the noiseless equation: spectral ringing makes rho negative, or it blows up
    rho0 = mf.initial_density("von-mises", N=32, concentration=2.0)
    try:
        sol = mf.solve_circle(rho0, 8.0, None, 3.0, dt=0.01)
    except ParticlesError as e:
        assert "non-finite" in str(e)
    else:
        assert not sol.stats["positive"]
    with pytest.raises(ParticlesError, match="even"):
        mf.solve_circle(np.ones(31), 1.0, 1.0, 1.0)
    with pytest.raises(ParticlesError, match="kappa"):
        mf.solve_circle(np.ones(32), 1.0, -1.0, 1.0)


def test_pde_save_load_roundtrip(tmp_path):
    sol = mf.solve_circle(np.ones(16) + 0.1 * np.cos(np.arange(16)), 2.0, 3.0, 1.0, save_at=[0, 1])
    p = sol.save(tmp_path / "mf.npz")
    back = mf.CircleSolution.load(p)
    np.testing.assert_array_equal(back.rho_hat, sol.rho_hat)
    assert back.params == sol.params
    with pytest.raises(ParticlesError):
        mf.CircleSolution.load(tmp_path / "missing.npz")


def test_pde_stationary_r_matches_the_branch():
    """Long runs of the PDE settle on the stationary branch: |r_PDE - r_branch| < 1e-4."""
    for beta, kappa in ((1.0, 2.5), (6.0, 0.09)):
        b = mf.stationary_branch(beta, 2, points=300, r_max=0.97)
        rho0 = mf.initial_density("von-mises", N=256, concentration=5.0)
        sol = mf.solve_circle(rho0, beta, kappa, 40.0, dt=0.01, save_at=[0, 40])
        assert sol.r[-1] == pytest.approx(b.r_of_kappa(kappa), abs=1e-4)


# --- the circle particles and W1 ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("beta", [0.0, 1.0, 7.0, 60.0])
def test_circle_field_is_the_attention_field(kind, beta):
    th = np.random.default_rng(0).uniform(0, 2 * np.pi, 300)
    x = np.stack([np.cos(th), np.sin(th)], axis=1)
    v = pt.velocity(x, pt.Dynamics(beta=beta, kind=kind))
    om = v[:, 1] * x[:, 0] - v[:, 0] * x[:, 1]
    np.testing.assert_allclose(mf.circle_field(th, beta, kind), om, atol=1e-12 * np.abs(om).max())


def test_circle_kernels_match_their_twins():
    th = np.random.default_rng(1).uniform(0, 2 * np.pi, 9000)
    out = np.empty((3, 6), np.complex128)
    kernels._circle_moments(th, 5, out)
    np.testing.assert_allclose(out, naive._circle_moments(th, 5, out), atol=1e-10)
    coef = np.array([1.0, 0.3 - 0.1j, 0.05 + 0.02j, 0.01j])
    for usa, scale in ((True, 2.5), (False, 1.5)):
        got = np.empty(th.size)
        kernels._circle_field(th, coef, usa, scale, got)
        np.testing.assert_allclose(got, naive._circle_field(th, coef, usa, scale, got), atol=1e-13)


def test_circle_particles_reproducible_and_threads_independent():
    import numba

    th0 = np.random.default_rng(2).uniform(0, 2 * np.pi, 10000)
    a = mf.circle_particles(th0, 3.0, 2.0, 0.2, dt=0.02, rng=5, save_at=[0.2])
    numba.set_num_threads(1)
    try:
        b = mf.circle_particles(th0, 3.0, 2.0, 0.2, dt=0.02, rng=5, save_at=[0.2])
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert np.array_equal(a.theta, b.theta)


def test_w1_circle_exact_cases():
    """W1 between a point mass and the uniform density is pi/2; between n equispaced points and the
    uniform density it is pi / (2 n) (a rotation by half a gap is optimal: 2 pi / (4 n) each)."""
    uni = mf.solve_circle(np.ones(64), 1.0, 1.0, 0.1, save_at=[0])
    assert mf.w1_circle([1.0], uni, 0) == pytest.approx(np.pi / 2, abs=1e-6)
    for n in (4, 37):
        pts = 2 * np.pi * np.arange(n) / n + 0.3
        assert mf.w1_circle(pts, uni, 0) == pytest.approx(np.pi / (2 * n), rel=1e-4)


def test_particles_converge_to_the_pde_in_w1():
    """USA, beta = 3, kappa = 2, from a von Mises density, t = 0.5: W1(mu_n(t), rho(t)) (mean of 4 runs)
    falls like n^{-1/2}: log-log slope -0.5 +- 0.15 over n = 10^2..10^4."""
    beta, kappa, T = 3.0, 2.0, 0.5
    sol = mf.solve_circle(
        mf.initial_density("von-mises", N=256, concentration=0.5),
        beta,
        kappa,
        T,
        dt=0.005,
        save_at=[0, T],
    )
    ns = np.array([100, 1000, 10000])
    w = []
    for n in ns:
        runs = []
        for s in range(4):
            th0 = mf.sample_density(sol, n, rng=s, i=0)
            p = mf.circle_particles(th0, beta, kappa, T, dt=0.01, rng=100 + s, save_at=[T])
            runs.append(mf.w1_circle(p.theta[-1], sol, -1))
        w.append(np.mean(runs))
    slope = np.polyfit(np.log(ns), np.log(w), 1)[0]
    assert abs(slope + 0.5) < 0.15, (w, slope)


def test_sample_density_has_the_right_law():
    sol = mf.solve_circle(
        mf.initial_density("von-mises", N=128, concentration=2.0, mu=1.0),
        1.0,
        1.0,
        0.1,
        save_at=[0],
    )
    th = mf.sample_density(sol, 200000, rng=3)
    c1 = np.exp(-1j * th).mean()
    assert abs(c1 - sol.rho_hat[0, 1]) < 5 / math.sqrt(200000)


# --- the transition sweeps ------------------------------------------------------------------------------


def test_transition_sweep_is_resumable_and_shows_hysteresis(tmp_path):
    """PDE engine, beta = 6 > beta_* (d = 2): between the fold (0.0835) and kappa_c (0.0978) the up
    sweep stays disordered and the down sweep ordered; outside the window they agree."""
    p = TransitionParams(
        d=2,
        betas=(6.0,),
        kappas=(0.07, 0.09, 0.12),
        engine="pde",
        dt=0.01,
        t_relax=20.0,
        t_avg=2.0,
        N=256,
    )
    res = transition(p, store=tmp_path / "s", progress=False)
    up, _ = res.mean_and_error("up")
    down, _ = res.mean_and_error("down")
    assert up[0, 0] < 0.01 and down[0, 0] < 0.01  # below the fold: uniform
    assert up[0, 1] < 0.01 and down[0, 1] > 0.8  # in the window: hysteresis
    assert up[0, 2] > 0.9 and down[0, 2] > 0.9  # above kappa_c: ordered
    again = transition(p, store=tmp_path / "s", progress=False)  # resumed: nothing recomputed
    np.testing.assert_array_equal(again.r_up, res.r_up)
    res.save(tmp_path / "t.npz")
    assert TransitionResult.load(tmp_path / "t.npz").params == p


def test_transition_sphere_pde_shows_hysteresis(tmp_path):
    """pde-sphere engine (S^2, ducc0), USA, beta = 4 > beta_* (d = 3): inside the window [fold,
    kappa_c] = [0.618, 0.781] the up sweep stays uniform and the down sweep on the stable branch
    (r = 0.9166 at 0.9 kappa_c to 1e-3 at L = 24); below the fold both uniform, at 1.3 kappa_c both
    ordered (the up sweep grows out of the 1e-3 kick at rate 2 (1/kappa_c - 1/kappa))."""
    kc = mf.critical_kappa(4.0, 3)
    br = mf.stationary_branch(4.0, 3, points=200, r_max=0.97)
    dt = round(0.02 * kc, 10)
    p = TransitionParams(
        d=3,
        betas=(4.0,),
        kappas=tuple(np.round(kc * np.array([0.5, 0.9, 1.3]), 8)),
        engine="pde-sphere",
        dt=dt,
        t_relax=round(20 * kc / dt) * dt,
        t_avg=5 * dt,
        record_every=5,
        N=24,
        pde_eps=1e-3,
    )
    res = transition(p, store=tmp_path, progress=False)
    up, _ = res.mean_and_error("up")
    down, _ = res.mean_and_error("down")
    assert up[0, 0] < 1e-3 and down[0, 0] < 1e-3
    assert up[0, 1] < 1e-3 and abs(down[0, 1] - br.r_of_kappa(kc * 0.9)) < 1e-3
    assert up[0, 2] > 0.9 and abs(up[0, 2] - down[0, 2]) < 1e-3
    assert res.r_up.shape == (1, 3, 1)


def test_sphere_perturbation_keeps_the_mass():
    from particles.analysis.transition import sphere_perturbation
    from particles.meanfield.sphere import Grid

    a = sphere_perturbation(12, 1e-3, np.random.default_rng(0))
    vals = Grid.for_degree(12).synthesis(a)
    w = Grid.for_degree(12).weights()
    assert a[0] == 0 and abs((w * vals).sum()) < 1e-16  # mean 0: the mass is unchanged
    rms = np.sqrt((w * vals**2).sum())  # 24 real harmonics of unit variance: rms ~ 1e-3 sqrt(24)
    assert 1e-3 < rms < 1e-2


def test_transition_particles_engine_any_d(tmp_path):
    p = TransitionParams(
        d=3, n=40, betas=(1.0,), kappas=(1.0, 6.0), seeds=2, dt=0.02, t_relax=4.0, t_avg=2.0
    )
    res = transition(p, store=tmp_path, progress=False)
    up, err = res.mean_and_error("up")
    assert up[0, 0] < 0.4 < 0.7 < up[0, 1] and err.shape == (1, 2)


def test_transition_params_are_checked():
    for bad in (
        dict(engine="x"),
        dict(engine="pde", d=3),
        dict(engine="pde-sphere", d=2),
        dict(engine="pde-sphere", d=3, N=2),
        dict(kappas=(0.0,)),
        dict(betas=(-1,)),
        dict(t_avg=1.005),
        dict(method="rk4"),
        dict(method="nonesuch"),
        dict(engine="pde", method="strang"),
    ):
        with pytest.raises(ParticlesError):
            TransitionParams(**bad)
    # each count is named, and a fractional one is refused (d = 2.5 used to pass as 2)
    for name, bad in (("d", 1), ("d", 2.5), ("n", 0), ("seeds", 0), ("seeds", True)):
        with pytest.raises(ParticlesError, match=f"^{name} must be an integer"):
            TransitionParams(**{name: bad})


def test_transition_method_comes_from_the_registry(tmp_path):
    """The particles engine runs any method of the noisy ensembles (``registry.NOISY_ENSEMBLE_NAMES``);
    the default is not recorded, so the task keys of sweeps stored before the option stay valid;
    another method is part of the key; each is the ensemble run with that method."""
    from particles.analysis.transition import run_branch, transition_tasks
    from particles.solvers import registry

    kw = dict(d=3, n=6, betas=(2.0,), kappas=(1.0,), seeds=2, dt=0.05, t_relax=0.1, t_avg=0.2)
    kw["record_every"] = 2
    base = TransitionParams(**kw)
    assert "method" not in base.record() and base.method == "euler-maruyama"
    assert TransitionParams(**kw, method="EULER-MARUYAMA").record() == base.record()
    keys = {t.key for t in transition_tasks(base)}
    for name in registry.NOISY_ENSEMBLE_NAMES:
        p = TransitionParams(**kw, method=name)
        assert p.method == name and TransitionParams(**p.record()) == p
        if name != "euler-maruyama":
            assert p.record()["method"] == name
            assert not keys & {t.key for t in transition_tasks(p)}
        arrays, meta = run_branch(p.record(), 2.0, "up")
        assert meta["params"] == p.record() and np.all(arrays["r_mean"] > 0)
    a = run_branch(TransitionParams(**kw, method="strang").record(), 2.0, "up")[0]
    b = run_branch(base.record(), 2.0, "up")[0]
    assert not np.array_equal(a["r_mean"], b["r_mean"])


# --- command line --------------------------------------------------------------------------------


def test_cli_meanfield_solve_and_theory(tmp_path):
    out = tmp_path / "mf.npz"
    r = CliRunner().invoke(
        main,
        [
            "meanfield",
            "solve",
            "--beta",
            "4",
            "--kappa",
            "0.5",
            "--t-end",
            "1",
            "--N",
            "64",
            "--out",
            str(out),
            "--plot",
            str(tmp_path / "m.png"),
            "--quiet",
        ],
    )
    assert r.exit_code == 0, r.output
    sol = mf.CircleSolution.load(out)
    assert sol.params["kappa"] == 0.5 and sol.meta["init"] == "perturbed" and "version" in sol.meta
    r = CliRunner().invoke(main, ["meanfield", "theory", "--beta", "5", "--d", "2", "--json"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output)[0]
    assert rec["fastest_mode"] == 3 and rec["transition"] == "discontinuous"
    r = CliRunner().invoke(
        main,
        ["meanfield", "solve", "--beta", "1", "--t-end", "1", "--out", str(tmp_path / "x.txt")],
    )
    assert r.exit_code != 0 and "must end in .npz" in r.output
    assert "Examples" in CliRunner().invoke(main, ["meanfield", "solve", "--help"]).output


def test_cli_transition(tmp_path):
    out = tmp_path / "t.npz"
    args = [
        "transition",
        "--d",
        "2",
        "--beta",
        "1.5",
        "--kappa",
        "1,2",
        "--engine",
        "pde",
        "--t-relax",
        "1",
        "--t-avg",
        "1",
        "--N",
        "64",
        "--out",
        str(out),
        "--plot",
        str(tmp_path / "t.png"),
        "--quiet",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert TransitionResult.load(out).r_up.shape == (1, 2, 1)
    r = CliRunner().invoke(
        main, ["transition", "--d", "3", "--engine", "pde", "--kappa", "1", "--out", str(out)]
    )
    assert r.exit_code != 0 and "d = 2" in r.output and "Traceback" not in r.output


def test_cli_transition_pde_sphere(tmp_path):
    """--engine pde-sphere (offered from the library's ENGINES) runs the S^2 PDE sweep: the same
    numbers as the library with those parameters; uniform below the fold (0.618 at beta = 4), the
    down sweep on the stable branch above kappa_c = 0.781 (r = 0.97814 at kappa = 1.2; L = 16 gives
    0.97797); --n, --seeds, --method, d = 2 and a too small L are refused."""
    out = tmp_path / "s2.npz"
    base = ["transition", "--beta", "4", "--kappa", "0.4,1.2", "--engine", "pde-sphere"]
    base += ["--dt", "0.02", "--t-relax", "2", "--t-avg", "0.2", "--N", "16", "--quiet"]
    r = CliRunner().invoke(main, [*base, "--d", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = TransitionResult.load(out)
    want = transition(
        TransitionParams(
            d=3,
            betas=(4.0,),
            kappas=(0.4, 1.2),
            engine="pde-sphere",
            dt=0.02,
            t_relax=2.0,
            t_avg=0.2,
            N=16,
        ),
        store=tmp_path / "lib",
        progress=False,
    )
    assert res.params == want.params and res.params.engine == "pde-sphere"
    np.testing.assert_array_equal(res.r_up, want.r_up)
    np.testing.assert_array_equal(res.r_down, want.r_down)
    r_branch = mf.stationary_branch(4.0, 3, points=200, r_max=0.98).r_of_kappa(1.2)
    assert res.r_up.shape == (1, 2, 1) and res.r_up[0, 0, 0] < 1e-3
    assert abs(res.r_down[0, 1, 0] - r_branch) < 1e-3
    for extra, msg in (
        (["--d", "3", "--n", "8"], "--n does not apply with --engine pde-sphere"),
        (["--d", "3", "--seeds", "2"], "--seeds does not apply with --engine pde-sphere"),
        (["--d", "3", "--method", "strang"], "--method does not apply with --engine pde-sphere"),
        (["--d", "2"], "the pde-sphere engine is for d = 3"),
        (["--d", "3", "--N", "2"], "largest degree L"),
    ):
        r = CliRunner().invoke(main, [*base, *extra, "--out", str(tmp_path / "x.npz")])
        assert r.exit_code != 0 and msg in r.output and "Traceback" not in r.output, r.output


def test_cli_transition_method(tmp_path):
    """--method offers the noisy ensembles' methods (from the registry), reaches the particles
    engine, and is refused for the other engines."""
    out = tmp_path / "s.npz"
    base = ["transition", "--d", "3", "--beta", "2", "--kappa", "1", "--n", "6", "--seeds", "1"]
    base += ["--dt", "0.05", "--t-relax", "0.1", "--t-avg", "0.5", "--out", str(out), "--quiet"]
    r = CliRunner().invoke(main, [*base, "--method", "strang"])
    assert r.exit_code == 0, r.output
    assert TransitionResult.load(out).params.method == "strang"
    r = CliRunner().invoke(main, ["transition", "--help"])
    assert "lie-euler-maruyama" in r.output and "rk4" not in r.output
    for extra, msg in (
        (["--method", "rk4"], "rk4"),
        (["--engine", "pde", "--method", "strang"], "--method"),
    ):
        r = CliRunner().invoke(main, [*base, *extra])
        assert r.exit_code != 0 and msg in r.output and "Traceback" not in r.output


def test_pde_blowup_message_gives_the_time_and_a_measured_speed():
    """A blow-up before the first save names the step where it happened and the speed measured so
    far (the initial state's), not 0 (a sweep's relaxation saves only at its end)."""
    rho0 = mf.initial_density("von-mises", N=256, concentration=50.0)
    with pytest.raises(ParticlesError, match="non-finite at t = ") as e:
        mf.solve_circle(rho0, 6.0, 2.0, 10.0, dt=0.01, save_at=[10.0])
    speed = float(str(e.value).split("largest speed up to t = 0: ")[1].split(")")[0])
    assert speed > 10
