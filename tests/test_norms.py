"""Normalisation schemes (particles.field.norms; arXiv 2510.22026 Tables 1-2, arXiv 2512.01868 §6.2):
the fields, every integrator, the equiangular reductions against full simulations, the late-time
rates."""

import json

import numpy as np
import pytest

import particles as pt
import particles.analysis.equiangular as eq
from particles.errors import ParticlesError
from particles.field import norms
from particles.solvers import registry

SCHEMES = ("post", "pre", "peri", "ngpt", "mix", "lns")


def _dyn(norm, **kw):
    alpha, ts = kw.pop("alpha", 0.7), kw.pop("t_switch", 1.0)
    c = kw.pop("t_offset", 0.6 if norm == "lns" else 1.0)
    return pt.Dynamics(
        norm=norm, alpha=alpha, t_switch=ts if norm == "mix" else None, t_offset=c, **kw
    )


def _stream(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return pt.random_points(n, d, rng) * rng.uniform(0.5, 3.0, size=(n, 1))


def test_dynamics_validates_the_scheme_and_keeps_post_records():
    with pytest.raises(ParticlesError, match="norm must be one of"):
        pt.Dynamics(norm="sandwich")
    with pytest.raises(ParticlesError, match="t_switch"):
        pt.Dynamics(norm="mix")
    with pytest.raises(ParticlesError, match="alpha"):
        pt.Dynamics(norm="ngpt", alpha=0.0)
    with pytest.raises(ParticlesError, match="t_switch"):
        pt.Dynamics(norm="mix", t_switch=-1)
    assert pt.Dynamics(norm="PRE").norm == "pre"
    # a Post-LN record has no new keys (files and checkpoints of earlier runs stay the same)
    meta, _ = pt.Dynamics(beta=2.0).to_record()
    assert "norm" not in meta and "alpha" not in meta
    for nm in SCHEMES:
        d = _dyn(nm, beta=1.5)
        m, a = d.to_record()
        back = pt.Dynamics.from_record(m, a)
        assert (back.norm, back.alpha, back.t_switch) == (d.norm, d.alpha, d.t_switch)
        assert back.t_offset == d.t_offset
    assert "t_offset" not in pt.Dynamics(norm="pre").to_record()[0]  # earlier records unchanged
    with pytest.raises(ParticlesError, match="t_offset"):
        pt.Dynamics(norm="lns", t_offset=0.0)
    with pytest.raises(ParticlesError, match="kappa"):
        pt.Dynamics(norm="lns", kappa=10.0)


def test_post_drift_is_velocity_bit_for_bit():
    x = pt.random_points(40, 5, 3)
    dyn = pt.Dynamics(beta=2.0, V=np.diag(np.arange(1.0, 6.0)))
    assert np.array_equal(pt.drift(x, dyn), pt.velocity(x, dyn))
    assert np.array_equal(pt.drift(x, dyn, project=False), pt.velocity(x, dyn, project=False))


@pytest.mark.parametrize("norm", SCHEMES)
@pytest.mark.parametrize("t", [0.0, 2.0])
def test_drift_matches_the_speed_factors_of_table_2(norm, t):
    """θ̇ = P⊥(θ) ḣ / r and ṙ = <θ, ḣ> from the field equal eq. (NA) with the table's s_i."""
    rng = np.random.default_rng(1)
    Q, K = rng.standard_normal((2, 3, 5))
    dyn = _dyn(norm, beta=1.3, V=rng.standard_normal((5, 5)), Q=Q, K=K)
    free = norm in ("pre", "peri") or (norm == "mix" and t >= 1.0)
    h = _stream(7, 5) if free else pt.random_points(7, 5, 2)
    theta, r = norms.directions(h)
    f = pt.drift(h, dyn, t=t)
    rdot = np.sum(theta * f, axis=1)
    thdot = (f - rdot[:, None] * theta) / r[:, None]
    np.testing.assert_allclose(thdot, norms.direction_velocity(h, dyn, t=t), atol=1e-14)
    if free:
        np.testing.assert_allclose(rdot, norms.radial_velocity(h, dyn, t=t), atol=1e-14)
    else:
        np.testing.assert_allclose(rdot, 0.0, atol=1e-14)


@pytest.mark.parametrize("norm", ["peri", "ngpt"])
def test_output_normalised_schemes_do_not_see_the_softmax_denominator(norm):
    """A_SA = A_USA * n / Z_i, a positive factor per token: A/|A| is the same for SA and USA."""
    h = _stream(9, 4, 5) if norm == "peri" else pt.random_points(9, 4, 5)
    a = pt.drift(h, _dyn(norm, beta=2.0, kind="SA"))
    b = pt.drift(h, _dyn(norm, beta=2.0, kind="USA"))
    np.testing.assert_allclose(a, b, atol=1e-13)


def test_one_euler_step_is_one_layer_of_each_scheme():
    """``euler`` with dt = 1 is the discrete layer of arXiv 2510.22026, Table 1."""
    rng = np.random.default_rng(4)
    h = _stream(6, 4, 4)
    theta = pt.normalize(h)
    dyn = pt.Dynamics(beta=1.1)
    A = pt.velocity(theta, dyn, project=False)  # the attention output on the directions
    unit = A / np.linalg.norm(A, axis=1, keepdims=True)
    from particles.solvers.integrate import step

    y, _ = step("euler", h, 1.0, dyn.replace(norm="pre"))
    np.testing.assert_allclose(y, h + A, atol=1e-14)  # h + A(N(h)), no norm after
    y, _ = step("euler", h, 1.0, dyn.replace(norm="peri"))
    np.testing.assert_allclose(y, h + unit, atol=1e-14)  # h + N(A(N(h)))
    y, _ = step("euler", theta, 1.0, dyn.replace(norm="ngpt", alpha=0.3))
    np.testing.assert_allclose(y, pt.normalize(theta + 0.3 * (unit - theta)), atol=1e-14)
    y, _ = step("euler", theta, 1.0, dyn)
    np.testing.assert_allclose(y, pt.normalize(theta + A), atol=1e-14)  # N(h + A(h))
    assert rng is not None


@pytest.mark.parametrize("norm", SCHEMES)
@pytest.mark.parametrize("method", registry.names())
def test_every_integrator_runs_every_scheme(norm, method):
    """Every registered method (fixed-step and scipy) integrates every scheme and agrees with a
    tight DOP853 reference to its order's accuracy; sphere schemes stay on the sphere."""
    x0 = pt.random_points(5, 4, 7)
    dyn = _dyn(norm, beta=1.2, t_switch=0.5)
    spec = registry.get(method)
    kw = {"dt": 0.01} if spec.fixed else {"rtol": 1e-9, "atol": 1e-11}
    tr = pt.simulate(x0, dyn, 1.0, method=method, save_at=[0.0, 1.0], **kw)
    ref = pt.simulate(x0, dyn, 1.0, method="DOP853", rtol=1e-12, atol=1e-13, save_at=[0, 1.0])
    tol = {1: 3e-2, 2: 3e-4}.get(spec.order, 1e-6)
    if method == "euler":  # the unprojected step differs at first order from the others too
        tol = 3e-2
    np.testing.assert_allclose(tr.final, ref.final, atol=tol)
    if norm in ("post", "ngpt", "lns"):
        np.testing.assert_allclose(np.linalg.norm(tr.final, axis=1), 1.0, atol=1e-8)
        assert tr.on_sphere
    else:
        assert np.all(tr.radii()[-1] > 1.05)  # the stream grew (ṙ = <θ, A> > 0 here)
        assert not tr.on_sphere and tr.stats["max_norm_drift"] is None


def test_free_schemes_accept_any_stream_and_save_it(tmp_path):
    h0 = _stream(6, 3, 8)
    with pytest.raises(ParticlesError, match="not on the unit sphere"):
        pt.simulate(h0, pt.Dynamics(), 1.0)
    with pytest.raises(ParticlesError, match="zero row"):
        pt.simulate(np.vstack([h0[:-1], np.zeros(3)]), pt.Dynamics(norm="pre"), 1.0)
    tr = pt.simulate(h0, pt.Dynamics(norm="pre"), 2.0, save_at=[0.0, 2.0])
    np.testing.assert_array_equal(tr.x[0], h0)
    np.testing.assert_allclose(tr.theta, pt.normalize(tr.x))
    tr.save(tmp_path / "pre.npz")
    back = pt.Trajectory.load(tmp_path / "pre.npz")
    assert back.dynamics.norm == "pre" and not back.on_sphere
    np.testing.assert_array_equal(back.x, tr.x)
    from particles.analysis.clusters import summary

    s = summary(back, 1e-2)  # reads the directions
    assert np.all(s.min_inner <= 1.0 + 1e-12)


def test_mix_is_post_then_pre():
    x0 = pt.random_points(6, 3, 9)
    dyn = pt.Dynamics(beta=1.0, norm="mix", t_switch=1.0)
    tr = pt.simulate(x0, dyn, 2.0, method="rk4", dt=0.01, save_at=[0, 1.0, 2.0])
    post = pt.simulate(x0, dyn.replace(norm="post", t_switch=None), 1.0, method="rk4", dt=0.01)
    np.testing.assert_allclose(tr.x[1], post.final, atol=1e-14)
    pre = pt.simulate(post.final, pt.Dynamics(beta=1.0, norm="pre"), 1.0, method="rk4", dt=0.01)
    np.testing.assert_allclose(tr.x[2], pre.final, atol=1e-14)
    assert tr.radii()[1].max() == pytest.approx(1.0) and tr.radii()[2].min() > 1.0


# --- equiangular reductions against the full particle system ----------------------------------


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("norm", SCHEMES)
def test_equiangular_ode_matches_full_simulation(norm, kind):
    """Tokens started equiangular (d >= n, rotated at random) stay equiangular, and their common
    inner product and radius follow :func:`equiangular.solve` to the integrator's accuracy."""
    n, beta, rho0 = 6, 1.5, 0.1
    x0 = eq.configuration(n, 8, rho0, rng=0)
    np.testing.assert_allclose(x0 @ x0.T, rho0 + (1 - rho0) * np.eye(n), atol=1e-14)
    scheme = dict(norm=norm, alpha=0.7, t_switch=1.3, t_offset=0.4)
    dyn = pt.Dynamics(beta=beta, kind=kind, **scheme)
    ts = np.linspace(0.0, 10.0, 21)
    tr = pt.simulate(x0, dyn, 10.0, method="DOP853", rtol=1e-12, atol=1e-12, save_at=ts)
    G = np.einsum("tid,tjd->tij", tr.theta, tr.theta)
    off = G[:, ~np.eye(n, dtype=bool)]
    assert np.ptp(off, axis=1).max() < 1e-12  # equiangular throughout
    rho, r = eq.solve(ts, beta, n, kind=kind, rho0=rho0, **scheme)
    np.testing.assert_allclose(off.mean(axis=1), rho, atol=1e-10)
    np.testing.assert_allclose(tr.radii().mean(axis=1), r, rtol=1e-10)
    eps, _ = eq.solve(ts, beta, n, kind=kind, rho0=rho0, complement=True, **scheme)
    ok = eps > 1e-6  # ε itself, where the simulation still resolves it
    np.testing.assert_allclose(1.0 - off.mean(axis=1)[ok], eps[ok], rtol=1e-6)


@pytest.mark.parametrize("norm", ["pre", "peri", "ngpt", "mix", "lns"])
def test_hitting_time_agrees_with_the_time_integration(norm):
    scheme = dict(norm=norm, alpha=0.6, t_switch=1.5, r0=1.7, t_offset=2.5)
    t = eq.hitting_time(2.0, 10, 1e-3, rho0=0.05, **scheme)
    eps, _ = eq.solve([t], 2.0, 10, rho0=0.05, complement=True, **scheme)
    assert eps[0] == pytest.approx(1e-3, rel=1e-8)


def test_post_hitting_time_unchanged_by_the_schemes():
    assert eq.hitting_time(1.0, 32, 1e-3, norm="post") == eq.hitting_time(1.0, 32, 1e-3)
    assert eq.hitting_time(1.0, 32, 1e-3, norm="mix", t_switch=100.0) == pytest.approx(
        eq.hitting_time(1.0, 32, 1e-3), rel=1e-12
    )


def test_pre_and_peri_trace_the_same_rho_r_curve():
    """dρ/dr is the same for both (module docstring of equiangular): at equal ρ, equal r."""
    tp = eq.hitting_time(1.0, 8, 1e-2, norm="pre")
    tq = eq.hitting_time(1.0, 8, 1e-2, norm="peri")
    rp = eq.radius([tp], 1.0, 8, norm="pre")[0]
    rq = eq.radius([tq], 1.0, 8, norm="peri")[0]
    assert rp == pytest.approx(rq, rel=1e-9)
    assert tq < tp  # Peri-LN moves faster along it (|A| <= 1)


# --- late-time rates ------------------------------------------------------------------------


def _slope(x, y):
    return float(np.polyfit(x, y, 1)[0])


@pytest.mark.parametrize("kind", ["SA", "USA"])
def test_late_time_rates_of_the_reductions(kind):
    """Exponential for Post-LN (2 or 2 e^β) and nGPT (2 α), t^{-2} for Pre-, Peri-, Mix-LN."""
    beta, n, alpha = 1.0, 8, 0.4
    ts = np.linspace(6.0, 12.0, 7)
    for norm in ("post", "ngpt"):
        law = eq.late_time(norm, beta, kind=kind, alpha=alpha)
        tt = ts / (law["rate"] / 2.0)  # ε from e^{-12} to e^{-24}
        eps, _ = eq.solve(tt, beta, n, kind=kind, norm=norm, alpha=alpha, complement=True)
        assert law["law"] == "exponential"
        assert -_slope(tt, np.log(eps)) == pytest.approx(law["rate"], rel=2e-3)
    tl = np.geomspace(1e3, 1e4, 5)
    for norm in ("pre", "peri", "mix"):
        eps, r = eq.solve(tl, beta, n, kind=kind, norm=norm, t_switch=2.0, complement=True)
        assert eq.late_time(norm)["exponent"] == 2.0
        assert -_slope(np.log(tl), np.log(eps)) == pytest.approx(2.0, abs=2e-3)
        growth = 1.0 if (kind == "SA" or norm == "peri") else np.e**beta
        assert r[-1] / tl[-1] == pytest.approx(growth, rel=2e-3)  # r ~ t (or e^β t)


def test_initial_velocities_are_the_table_of_theorem_4_1():
    """arXiv 2510.22026 §4.1: from orthonormal tokens, ρ̇(0) = 2/(e^β + n - 1) (Post-LN and
    LN-Scaling), 2/(r0 (e^β + n - 1)) (Pre-LN), 2/(r0 sqrt(e^{2β} + n - 1)) (Peri-LN),
    2α/sqrt(e^{2β} + n - 1) (nGPT); the full system's initial velocity agrees."""
    beta, n, r0, alpha = 1.7, 9, 2.5, 0.3
    z, z2 = np.exp(beta) + n - 1, np.sqrt(np.exp(2 * beta) + n - 1)
    want = {"post": 2 / z, "lns": 2 / z, "pre": 2 / (r0 * z), "peri": 2 / (r0 * z2)}
    want["ngpt"] = 2 * alpha / z2
    for norm, v in want.items():
        r = 1.0 if norm in ("post", "ngpt", "lns") else r0
        got = eq.rates(0.0, r, beta, n, norm=norm, alpha=alpha, t=0.0)[0]
        assert got == pytest.approx(v, rel=1e-13)
        h = r * np.eye(n)
        f = pt.drift(h, pt.Dynamics(beta=beta, norm=norm, alpha=alpha), t=0.0)
        theta, rr = norms.directions(h)
        thdot = (f - np.sum(theta * f, axis=1)[:, None] * theta) / rr[:, None]
        rho_dot = np.sum(thdot[0] * theta[1]) + np.sum(theta[0] * thdot[1])
        assert rho_dot == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_scheme_synchronises_from_a_uniform_start_theorem_3_1(seed):
    """arXiv 2510.22026 §3 Theorem 3.1 (Q = K = V = I, d >= 2, uniform start): Post-LN, nGPT and
    LN-Scaling synchronise (here to rounding: exponential, or e^{-4 sqrt(t)}); Pre-, Mix- and
    Peri-LN synchronise or their radial velocity stalls; here they synchronise, polynomially
    (1 - min <θ_i, θ_j> of order t^{-2} at t = 3000)."""
    x0 = pt.random_points(8, 3, seed)
    for norm, T, tol in (
        ("post", 60.0, 1e-14),
        ("ngpt", 120.0, 1e-14),
        ("lns", 1500.0, 1e-14),
        ("pre", 3000.0, 1e-4),
        ("peri", 3000.0, 1e-4),
        ("mix", 3000.0, 1e-4),
    ):
        dyn = _dyn(norm, beta=1.0, alpha=0.5, t_switch=2.0, t_offset=1.0)
        tr = pt.simulate(x0, dyn, T, method="DOP853", rtol=1e-10, atol=1e-12, save_at=[T])
        th = tr.theta[-1]
        assert 1.0 - (th @ th.T).min() < tol


def test_initial_speeds_at_a_uniform_start_theorem_4_2():
    """arXiv 2510.22026 §4.2 Theorem 4.2 (β = 1, Q = K = V = I, uniform start): every |A_j(0)| is
    O(sqrt(log n / n) + log n / d), so Post-LN, Pre-LN (r = 1) and LN-Scaling (s(0) = 1) move the
    directions that slowly, while Peri-LN and nGPT (α = 1), which divide by |A|, move them at speed
    close to 1 (measured: max |A| / bound ≈ 0.3-0.4; Post-LN's speed halves when n is 4x)."""
    speeds = {}
    for n, d in ((400, 400), (1600, 400), (400, 1600)):
        x = pt.random_points(n, d, 0)
        bound = np.sqrt(np.log(n) / n) + np.log(n) / d
        A = np.linalg.norm(pt.velocity(x, pt.Dynamics(beta=1.0), project=False), axis=1)
        assert A.max() <= bound
        for nm in ("post", "pre", "lns", "peri", "ngpt"):
            v = norms.direction_velocity(x, pt.Dynamics(beta=1.0, norm=nm))
            speeds[nm, n, d] = float(np.linalg.norm(v, axis=1).mean())
        for nm in ("post", "pre", "lns"):
            assert speeds[nm, n, d] <= bound
        for nm in ("peri", "ngpt"):
            assert speeds[nm, n, d] > 0.95
    assert 0.4 < speeds["post", 1600, 400] / speeds["post", 400, 400] < 0.6  # ~ n^{-1/2}


def test_cluster_variance_rates_from_a_local_cone_theorem_4_3():
    """arXiv 2510.22026 §4.3 Theorem 4.3 with V = I and random Q, K (|Q^T K|_op = 1), started in a
    local cone: (i) Pre-LN's radii grow at least like (1 - δ) t; (ii) the intra-cluster variance
    decays like e^{-2t} (Post-LN), e^{-2αt} (nGPT), e^{-4 sqrt(t)} (LN-Scaling), t^{-2} (Pre-, Peri-LN):
    d Var/dt = -Θ(Var / scale) with scale 1, 1/α, sqrt(t), t, and the constant 2 of the
    equiangular model (derived here) holds for these Q, K too."""
    rng = np.random.default_rng(3)
    n, d = 6, 5
    Q, K = rng.standard_normal((2, d, d))
    Q, K = (M / np.sqrt(np.linalg.norm(Q.T @ K, 2)) for M in (Q, K))
    c = pt.normalize(rng.standard_normal((1, d)))
    x0 = pt.normalize(c + 0.05 * rng.standard_normal((n, d)))
    delta = 1.0 - (x0 @ x0.T).min()
    assert delta < 0.05

    def var(th):
        return np.sum((th - th.mean(axis=1, keepdims=True)) ** 2, axis=2).mean(axis=1)

    cases = [  # (scheme, window of times, abscissa of the law, expected slope of log Var)
        ("post", np.linspace(6.0, 12.0, 7), lambda t: t, -2.0),
        ("ngpt", np.linspace(12.0, 24.0, 7), lambda t: t, -1.0),
        ("lns", np.linspace(25.0, 100.0, 7), lambda t: np.sqrt(t + 1.0), -4.0),
        ("pre", np.geomspace(300.0, 1000.0, 7), np.log, -2.0),
        ("peri", np.geomspace(300.0, 1000.0, 7), np.log, -2.0),
    ]
    for norm, ts, x, slope in cases:
        dyn = pt.Dynamics(beta=1.0, Q=Q, K=K, norm=norm, alpha=0.5)
        save = np.concatenate([[0.0, 1.0, 10.0], ts]) if norm == "pre" else ts
        tr = pt.simulate(x0, dyn, ts[-1], method="DOP853", rtol=1e-12, atol=1e-14, save_at=save)
        v = var(tr.theta[-len(ts) :])
        assert _slope(x(ts), np.log(v)) == pytest.approx(slope, abs=0.02 * abs(slope))
        if norm == "pre":  # (i): r_k(t) >= r_k(0) + (1 - δ) t
            r = tr.radii()
            assert np.all(r - r[0] >= (1.0 - delta) * np.asarray(save)[:, None] - 1e-12)


def test_ln_scaling_is_post_ln_in_its_clock():
    """θ̇ = P⊥ A / sqrt(t + c) (arXiv 2510.22026 Table 2): ρ_lns(t) = ρ_post(τ(t)), τ = 2 sqrt(t + c)
    - 2 sqrt(c), for the full system with any integrator; an ``euler`` step is one LN-Scaling layer
    N(x + Δτ A(x)), Δτ = τ(t + h) - τ(t) = h / sqrt(t + c) + O(h^2)."""
    from particles.solvers.integrate import step

    rng = np.random.default_rng(5)
    x0 = pt.random_points(6, 3, rng)
    V = rng.standard_normal((3, 3))
    lns = pt.Dynamics(beta=2.0, V=V, norm="lns", t_offset=0.5)
    post = lns.replace(norm="post", t_offset=1.0)
    T = 3.0
    tau = float(eq.clock(T, 0.5))
    assert tau == pytest.approx(2 * np.sqrt(3.5) - 2 * np.sqrt(0.5))
    ref = pt.simulate(x0, post, tau, method="DOP853", rtol=1e-12, atol=1e-13, save_at=[0, tau])
    for method, tol in (("rk4", 1e-9), ("DOP853", 1e-10), ("geometric", 1e-4)):
        kw = {"dt": 0.01} if registry.get(method).fixed else {"rtol": 1e-12, "atol": 1e-13}
        tr = pt.simulate(x0, lns, T, method=method, save_at=[0, T], **kw)
        np.testing.assert_allclose(tr.final, ref.final, atol=tol)
    t, h = 1.2, 0.3
    dtau = 2 * (np.sqrt(t + h + 0.5) - np.sqrt(t + 0.5))
    y, _ = step("euler", x0, h, lns, t=t)
    np.testing.assert_allclose(y, pt.normalize(x0 + dtau * pt.velocity(x0, post, project=False)))
    assert eq.clock_inverse(eq.clock(7.0, 0.5), 0.5) == pytest.approx(7.0, rel=1e-14)


@pytest.mark.parametrize("kind", ["SA", "USA"])
def test_ln_scaling_late_time_is_a_stretched_exponential(kind):
    """1 - ρ ~ C e^{-μ sqrt(t)}, μ = 4 (SA) or 4 e^β (USA): the e^{-4 sqrt(t)} of arXiv 2510.22026
    §4.1 (γ̇ ~ C e^{-4 sqrt(t)}/sqrt(t)), in the reduction."""
    beta, n = 1.0, 8
    law = eq.late_time("lns", beta, kind=kind)
    assert law["law"] == "stretched"
    mu = law["rate"]
    assert mu == pytest.approx(4.0 if kind == "SA" else 4.0 * np.e**beta)
    sq = np.linspace(10.0, 20.0, 6) * 4.0 / mu  # ε from e^{-40} to e^{-80}
    eps, _ = eq.solve(sq**2 - 1.0, beta, n, kind=kind, norm="lns", complement=True)
    assert -_slope(sq, np.log(eps)) == pytest.approx(mu, rel=2e-3)


def test_ln_scaling_rate_in_the_full_system():
    """The full particle system started orthonormal (n = d = 4) under LN-Scaling: log(1 - ρ) is
    linear in sqrt(t + 1) with slope -4 (arXiv 2510.22026 §4.1), as its reduction says."""
    n = 4
    ts = np.linspace(16.0, 64.0, 7)
    tr = pt.simulate(
        np.eye(n), pt.Dynamics(beta=1.0, norm="lns"), 64.0, method="rk4", dt=0.05, save_at=ts
    )
    G = np.einsum("tid,tjd->tij", tr.theta, tr.theta)
    eps = 1.0 - G[:, 0, 1]
    assert -_slope(np.sqrt(ts + 1.0), np.log(eps)) == pytest.approx(4.0, abs=0.03)
    eps_ode, _ = eq.solve(ts, 1.0, n, norm="lns", complement=True)
    ok = eps > 1e-9  # where 1 - <θ_i, θ_j> is still resolved in float64
    np.testing.assert_allclose(eps[ok], eps_ode[ok], rtol=1e-5)


def test_pre_ln_radius_growth_and_polynomial_rate_in_the_full_system():
    """The full particle system (n = 4, d = 4, orthonormal start) under Pre-LN: the radius grows
    like t and 1 - ρ decays like t^{-2} (arXiv 2512.01868 §6.2)."""
    n = 4
    x0 = np.eye(n)
    ts = np.geomspace(20.0, 200.0, 6)
    tr = pt.simulate(x0, pt.Dynamics(beta=1.0, norm="pre"), 200.0, method="rk4", dt=0.1, save_at=ts)
    G = np.einsum("tid,tjd->tij", tr.theta, tr.theta)
    eps = 1.0 - G[:, 0, 1]
    assert -_slope(np.log(ts), np.log(eps)) == pytest.approx(2.0, abs=0.05)
    r = tr.radii()[:, 0]
    assert _slope(ts, r) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("norm", SCHEMES)
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_batched_ensemble_matches_simulate(norm, method):
    """The numba ensembles run every scheme; one system equals particles.simulate's fixed steps."""
    from particles.solvers.ensemble import ensemble_coords

    rng = np.random.default_rng(11)
    X0 = np.stack([pt.random_points(6, 4, rng) for _ in range(3)])
    if norm in ("pre", "peri"):
        X0 = X0 * rng.uniform(0.5, 2.0, size=(3, 6, 1))
    V = rng.standard_normal((4, 4)) / 2
    res = ensemble_coords(
        X0,
        [0.5, 1.0, 2.0],
        1.0,
        V=V,
        dt=0.05,
        method=method,
        norm=norm,
        alpha=0.6,
        t_switch=0.5,
        t_offset=0.3,
        save_every=20,
    )
    for s, beta in enumerate([0.5, 1.0, 2.0]):
        dyn = pt.Dynamics(
            beta=beta,
            V=V,
            norm=norm,
            alpha=0.6,
            t_switch=0.5 if norm == "mix" else None,
            t_offset=0.3,
        )
        tr = pt.simulate(X0[s], dyn, 1.0, method=method, dt=0.05, save_at=[1.0])
        np.testing.assert_allclose(res.final[s], tr.final, atol=1e-12)


# --- command line ------------------------------------------------------------------------------


def _cli(*args):
    from click.testing import CliRunner

    from particles.cli.main import main

    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("norm", SCHEMES)
def test_cli_simulate_and_info_with_norm(tmp_path, norm):
    # each scheme's own option only: --alpha goes with ngpt, --t-switch with mix (others refuse them)
    extra = ["--t-switch", 1.0] if norm == "mix" else ["--alpha", 0.5] if norm == "ngpt" else []
    out = tmp_path / f"{norm}.npz"
    r = _cli(
        "simulate",
        "--n",
        6,
        "--d",
        6,
        "--beta",
        1,
        "--t-end",
        3,
        "--norm",
        norm,
        *extra,
        "--out",
        out,
        "--quiet",
        "--method",
        "geometric",
    )
    assert r.exit_code == 0, r.output
    tr = pt.Trajectory.load(out)
    assert tr.dynamics.norm == norm
    r = _cli("info", out)
    assert r.exit_code == 0 and (norm == "post" or f"norm={norm}" in r.output), r.output
    assert _cli("clusters", out, "--delta", "0.1").exit_code == 0


def test_cli_norm_errors(tmp_path):
    r = _cli("simulate", "--norm", "mix", "--out", tmp_path / "a.npz", "--quiet")
    assert r.exit_code != 0 and "t_switch" in r.output
    r = _cli("simulate", "--norm", "pre", "--t-switch", 1, "--out", tmp_path / "a.npz")
    assert r.exit_code != 0 and "--t-switch goes with --norm mix" in r.output
    r = _cli("simulate", "--norm", "sandwich", "--out", tmp_path / "a.npz")
    assert r.exit_code != 0


def test_cli_phase_and_sweep_with_norm(tmp_path):
    r = _cli(
        "phase",
        "--n",
        6,
        "--d",
        6,
        "--beta",
        "0,2",
        "--t-end",
        2,
        "--seeds",
        4,
        "--norm",
        "pre",
        "--method",
        "rk4",
        "--out",
        tmp_path / "p.png",
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    r = _cli(
        "sweep",
        "--n",
        6,
        "--d",
        3,
        "--beta",
        "1",
        "--t-end",
        2,
        "--seeds",
        4,
        "--norm",
        "mix",
        "--t-switch",
        1,
        "--store",
        tmp_path / "s",
        "--out",
        tmp_path / "s.json",
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    from particles.analysis.phase import PhaseParams

    assert "norm" not in PhaseParams().record()  # Post-LN store keys unchanged
    assert PhaseParams(norm="peri").record()["norm"] == "peri"


def test_cli_t_offset_reaches_the_dynamics(tmp_path):
    """--t-offset c (LN-Scaling's clock offset, with --norm lns only): simulate runs
    Dynamics(norm="lns", t_offset=c), i.e. Post-LN in the clock tau = 2 (sqrt(t + c) - sqrt(c));
    --t-offset 1 is the run without it, bit for bit; two offsets differ. In sweeps the offset is
    part of PhaseParams and of the task keys, and the default leaves the keys of earlier stores."""
    base = ["simulate", "--n", 6, "--d", 6, "--beta", 1, "--t-end", 3, "--seed", 0]
    base += ["--method", "rk4", "--dt", 0.05, "--norm", "lns", "--quiet"]
    runs = {}
    for name, extra in (("none", []), ("one", ["--t-offset", 1]), ("four", ["--t-offset", 4])):
        r = _cli(*base, *extra, "--out", tmp_path / f"{name}.npz")
        assert r.exit_code == 0, r.output
        runs[name] = pt.Trajectory.load(tmp_path / f"{name}.npz")
    np.testing.assert_array_equal(runs["none"].x, runs["one"].x)
    assert runs["one"].dynamics.t_offset == 1.0 and runs["four"].dynamics.t_offset == 4.0
    assert np.abs(runs["four"].final - runs["one"].final).max() > 1e-3
    x0 = pt.random_points(6, 6, 0)
    for name, c in (("one", 1.0), ("four", 4.0)):
        tau = 2.0 * (np.sqrt(3.0 + c) - np.sqrt(c))
        post = pt.simulate(x0, pt.Dynamics(beta=1.0), tau, method="RK45", rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(runs[name].final, post.final, atol=1e-6)

    from particles.analysis.phase import PhaseParams, phase_tasks

    # the task keys of stores written before --t-offset existed (Post-LN and LN-Scaling)
    keys = {
        "post": "phase_n4_d2_SA_euler_dt0.1_wI_beta1_a1616a2ecbeb",
        "lns": "phase_n4_d2_SA_lns_euler_dt0.1_wI_beta1_8e07853e6a94",
    }
    for norm, key in keys.items():
        for kw in ({}, {"t_offset": 1.0}):
            p = PhaseParams(n=4, d=2, betas=(1.0,), norm=norm, **kw)
            assert [t.key for t in phase_tasks(p)] == [key]
    assert PhaseParams(norm="lns", t_offset=4).record()["t_offset"] == 4.0
    sweep = ["sweep", "--n", 4, "--d", 2, "--beta", 1, "--t-end", 5, "--seeds", 16]
    sweep += ["--norm", "lns", "--quiet"]
    tables = {}
    for name, extra in (("none", []), ("one", ["--t-offset", 1]), ("far", ["--t-offset", 100])):
        out = tmp_path / f"{name}.json"
        r = _cli(*sweep, *extra, "--store", tmp_path / name, "--out", out)
        assert r.exit_code == 0, r.output
        tables[name] = json.loads(out.read_text())
    assert tables["none"] == tables["one"]
    assert sorted(p.name for p in (tmp_path / "none").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )
    # 100 slows the clock: tau(5) = 0.49 against 2.90 for c = 1, fewer pairs have merged
    assert tables["far"] != tables["none"]


# --- the transformer bridge for pre-LN networks --------------------------------------------------


def _pre_ln_encoder(norm="rmsnorm", biases=False, ffn=False, seed=0, d=16, H=4, L=3):
    from particles.transformer.model import Encoder, EncoderConfig, LayerWeights

    rng = np.random.default_rng(seed)
    cfg = EncoderConfig(
        vocab_size=20,
        hidden_size=d,
        num_layers=L,
        num_heads=H,
        intermediate_size=24,
        activation="gelu",
        norm=norm,
        norm_position="pre",
        position="none",
        eps=1e-12,
    )
    f = lambda *s: rng.standard_normal(s) / np.sqrt(s[-1])
    b = (lambda k: 0.1 * rng.standard_normal(k)) if biases else (lambda k: None)
    layers = tuple(
        LayerWeights(
            wq=f(d, d),
            bq=b(d),
            wk=f(d, d),
            bk=b(d),
            wv=f(d, d),
            bv=b(d),
            wo=0.5 * f(d, d),
            bo=b(d),
            n1_w=1 + 0.1 * rng.standard_normal(d),
            n1_b=None if norm == "rmsnorm" else b(d),
            w1=f(24, d),
            b1=b(24),
            w2=(0.3 if ffn else 0.0) * f(d, 24),
            b2=b(d),
            n2_w=np.ones(d),
            n2_b=None if norm == "rmsnorm" else b(d),
        )
        for _ in range(L)
    )
    return Encoder(config=cfg, word_embeddings=rng.standard_normal((20, d)), layers=layers)


@pytest.mark.parametrize("norm", ["rmsnorm", "layernorm"])
def test_pre_ln_network_is_euler_of_the_pre_ln_dynamics(norm):
    """A pre-LN network (attention sub-layers only, no biases) is exactly the Euler scheme with
    dt = 1 of Dynamics(norm="pre") on its residual stream (bridge module docstring)."""
    from particles.transformer import bridge

    enc = _pre_ln_encoder(norm)
    ids = np.arange(1, 12)
    hid = enc.hidden_states(ids)  # no final norm: the raw stream
    h = bridge.ode_stream(enc, hid[0], 3)
    np.testing.assert_allclose(h, bridge.stream(enc, hid), atol=1e-10)
    # the continuous-time flow through the same layers stays close (RK4, 8 steps per layer)
    th = bridge.ode_states(enc, hid[0], 3, method="rk4", steps_per_layer=8)
    err = np.abs(th - pt.normalize(bridge.stream(enc, hid))).max()
    assert err < 0.2
    assert bridge.layer_dynamics(enc, 0).norm == "pre"


def test_pre_ln_bridge_with_feedforward_and_compare_ode():
    from particles.transformer import bridge

    enc = _pre_ln_encoder("rmsnorm", ffn=True, seed=2)
    ids = np.arange(1, 10)
    hid = enc.hidden_states(ids)
    one = bridge.ode_stream(enc, hid[0], 1, ffn=True)[1]
    # one Euler step adds attention and feed-forward read at the same state; the network reads
    # the feed-forward after the attention: the difference is second order in the updates
    rel = np.linalg.norm(one - hid[1]) / np.linalg.norm(hid[1] - hid[0])
    assert rel < 0.5
    c = bridge.compare_ode(enc, ids, variants=("attention",), dt=1.0)
    assert c.ode["attention"].shape == (4, 9, 16)
    assert np.all(c.beta == 16 / np.sqrt(4))


@pytest.mark.parametrize("norm", SCHEMES)
def test_layer_map_is_the_euler_scheme_on_equiangular_tokens(norm):
    """equiangular.layer_map (one layer of Table 1 per step) equals simulate's 'euler' steps."""
    n, beta, dt = 6, 1.5, 0.2
    scheme = dict(norm=norm, alpha=0.6, t_switch=0.6 if norm == "mix" else None, t_offset=0.5)
    x0 = eq.configuration(n, 7, 0.1, rng=3)
    tr = pt.simulate(
        x0,
        pt.Dynamics(beta=beta, **scheme),
        4.0,
        method="euler",
        dt=dt,
        save_at=np.arange(0, 4.0 + 1e-9, dt),
    )
    G = np.einsum("tid,tjd->tij", tr.theta, tr.theta)[:, 0, 1]
    rho, r = eq.layer_map(20, beta, n, dt, rho0=0.1, **scheme)
    np.testing.assert_allclose(G, rho, atol=1e-12)
    np.testing.assert_allclose(tr.radii()[:, 0], r, rtol=1e-12)
    if norm == "post":
        np.testing.assert_allclose(rho, eq.euler_gamma(20, beta, n, dt, rho0=0.1), atol=1e-14)
