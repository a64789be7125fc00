"""Physics and numerics of the core simulator (arXiv 2312.10794), integrators, files, errors."""

import math
import tracemalloc

import numpy as np
import pytest
from scipy.special import iv
from scipy.stats import special_ortho_group

import particles as pt
from particles.errors import ParticlesError
from particles.field import attention
from tests.naive import attention_naive, energy_naive, gamma_equiangular, velocity_naive

# ---------------------------------------------------------------------------------------------
# the field


def test_velocity_matches_reference_with_ffn_and_heads():
    rng = np.random.default_rng(3)
    n, d, H, dk, m = 37, 6, 3, 4, 5
    x = pt.random_points(n, d, rng)
    Q = rng.standard_normal((H, dk, d))
    K = rng.standard_normal((H, dk, d))
    V = rng.standard_normal((H, d, d))
    W1, b1, W2, b2 = (
        rng.standard_normal((m, d)),
        rng.standard_normal(m),
        rng.standard_normal((d, m)),
        rng.standard_normal(d),
    )
    for act in ("relu", "gelu", "tanh"):
        ffn = pt.FeedForward(W1=W1, b1=b1, W2=W2, b2=b2, activation=act)
        for kind in ("SA", "USA"):
            dyn = pt.Dynamics(beta=0.7, kind=kind, Q=Q, K=K, V=V, causal=True, ffn=ffn)
            got = pt.velocity(x, dyn)
            ref = velocity_naive(x, 0.7, kind, Q, K, V, causal=True, ffn=(W1, b1, W2, b2, act))
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_velocity_is_tangent_and_scalar_v():
    x = pt.random_points(50, 4, 1)
    for V in (None, -1.0, 2.5):
        v = pt.velocity(x, pt.Dynamics(beta=2.0, V=V))
        assert np.abs(np.sum(v * x, axis=1)).max() < 1e-14
        ref = velocity_naive(x, 2.0, "SA", V=V)
        np.testing.assert_allclose(v, ref, atol=1e-13)
    # repulsive = minus attractive
    np.testing.assert_allclose(
        pt.velocity(x, pt.Dynamics(beta=2.0, V=-1.0)),
        -pt.velocity(x, pt.Dynamics(beta=2.0)),
        atol=1e-15,
    )


def test_rotation_and_permutation_equivariance():
    rng = np.random.default_rng(0)
    x = pt.random_points(40, 5, rng)
    R = special_ortho_group.rvs(5, random_state=1)
    perm = rng.permutation(40)
    for kind in ("SA", "USA"):
        dyn = pt.Dynamics(beta=3.0, kind=kind)
        v = pt.velocity(x, dyn)
        np.testing.assert_allclose(pt.velocity(x @ R.T, dyn), v @ R.T, atol=1e-13)
        np.testing.assert_allclose(pt.velocity(x[perm], dyn), v[perm], atol=1e-14)


def test_causal_first_token_is_fixed_and_sees_only_the_past():
    x = pt.random_points(10, 3, 2)
    dyn = pt.Dynamics(beta=1.0, causal=True)
    v = pt.velocity(x, dyn)
    assert (
        np.abs(v[0]).max() < 1e-15
    )  # token 0 attends only to itself: A V x_0 = x_0, projected to 0
    # token i's velocity does not depend on tokens j > i
    y = x.copy()
    y[6:] = pt.random_points(4, 3, 9)
    np.testing.assert_allclose(pt.velocity(y, dyn)[:6], v[:6], atol=1e-15)


def test_large_beta_is_stable():
    x = pt.random_points(300, 3, 4)
    for beta in (100.0, 700.0):
        v = pt.velocity(x, pt.Dynamics(beta=beta))
        assert np.all(np.isfinite(v))
        np.testing.assert_allclose(v, velocity_naive(x, beta), atol=1e-10)


def test_tiled_attention_memory_is_linear_in_n():
    # the naive n x n matrix at n = 12000 would need 1.15 GB; the tiled field needs O(n d + tile)
    n, d = 12000, 3
    x = pt.random_points(n, d, 0)
    pt.velocity(x[:300], pt.Dynamics())  # compile outside the measurement
    tracemalloc.start()
    pt.velocity(x, pt.Dynamics(beta=1.0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 48e6, f"peak {peak / 1e6:.1f} MB"


def test_attention_tiles_agree():
    from tests.naive import attention_naive

    rng = np.random.default_rng(5)
    q, k, v = (
        rng.standard_normal((53, 3)),
        rng.standard_normal((53, 3)),
        rng.standard_normal((53, 2)),
    )
    for causal in (False, True):
        for norm in (False, True):
            got = attention(q, k, v, 1.3, normalize=norm, causal=causal, tile_rows=8, tile_cols=11)
            ref = attention_naive(q, k, v, 1.3, norm, causal)
            np.testing.assert_allclose(got, ref, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# closed-form reductions


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("beta", [0.0, 1.0, 4.0])
def test_equiangular_reduction(kind, beta):
    """Thm 6.8: from pairwise orthogonal tokens all inner products stay equal to gamma(t)."""
    n = d = 12
    t_end = 1.0 if kind == "USA" and beta == 4.0 else 3.0
    ts = np.linspace(0, t_end, 7)
    traj = pt.simulate(
        np.eye(n, d),
        pt.Dynamics(beta=beta, kind=kind),
        t_end,
        method="DOP853",
        rtol=1e-11,
        atol=1e-13,
        save_at=ts,
    )
    off = ~np.eye(n, dtype=bool)
    gamma = gamma_equiangular(kind, n, beta, ts)
    for k, x in enumerate(traj.x):
        g = (x @ x.T)[off]
        assert g.max() - g.min() < 1e-12
        assert abs(g.mean() - gamma[k]) < 1e-8
    if beta == 0.0:
        closed = (np.exp(2 * ts) - 1) / (np.exp(2 * ts) + n - 1)
        np.testing.assert_allclose([(x @ x.T)[0, 1] for x in traj.x], closed, atol=1e-9)


@pytest.mark.parametrize("kind", ["SA", "USA"])
def test_circle_matches_angle_ode(kind):
    """d = 2: thetadot_i = -(1/Z_i) sum_j e^{beta cos(th_i - th_j)} sin(th_i - th_j)."""
    rng = np.random.default_rng(7)
    th = rng.uniform(0, 2 * np.pi, 25)
    beta = 2.5
    x = np.stack([np.cos(th), np.sin(th)], axis=1)
    v = pt.velocity(x, pt.Dynamics(beta=beta, kind=kind))
    thdot = -np.sin(th) * v[:, 0] + np.cos(th) * v[:, 1]
    diff = th[:, None] - th[None, :]
    w = np.exp(beta * np.cos(diff))
    Z = w.sum(axis=1) if kind == "SA" else len(th)
    ref = -(w * np.sin(diff)).sum(axis=1) / Z
    np.testing.assert_allclose(thdot, ref, atol=1e-13)
    assert np.abs(np.sum(v * x, axis=1)).max() < 1e-14


# ---------------------------------------------------------------------------------------------
# energy


def test_energy_matches_reference_and_bounds():
    for d in (3, 5):
        for beta in (0.5, 2.0, 8.0):
            for seed in range(3):
                x = pt.random_points(40, d, seed)
                e = pt.energy(x, beta)
                assert e == pytest.approx(energy_naive(x, beta), rel=1e-13)
                dirac = math.exp(beta) / (2 * beta)
                uniform = (
                    math.gamma(d / 2) * (2 / beta) ** (d / 2 - 1) * iv(d / 2 - 1, beta) / (2 * beta)
                )
                assert uniform <= e <= dirac
    assert pt.energy(np.tile([[0.0, 1.0, 0.0]], (5, 1)), 2.0) == pytest.approx(math.exp(2) / 4)
    assert math.sinh(2.0) / (2 * 4.0) == pytest.approx(
        math.gamma(1.5) * iv(0.5, 2.0) / 4 * 1.0, rel=1e-12
    )


@pytest.mark.parametrize("kind,V,sign", [("SA", None, 1), ("USA", None, 1), ("USA", -1.0, -1)])
def test_energy_monotone_along_flow(kind, V, sign):
    beta = 3.0
    traj = pt.simulate(
        pt.random_points(30, 3, 11),
        pt.Dynamics(beta=beta, kind=kind, V=V),
        5.0,
        method="rk4",
        dt=0.01,
    )
    e = traj.energy()
    assert np.all(sign * np.diff(e) >= -1e-12)
    assert sign * (e[-1] - e[0]) > 1e-3


@pytest.mark.parametrize("kind", ["SA", "USA"])
def test_energy_rate_identities(kind):
    """USA: dE/dt = (1/n) sum |xdot_i|^2;  SA: dE/dt = (1/n^2) sum Z_i |xdot_i|^2 (finite differences)."""
    beta, n = 1.7, 20
    x = pt.random_points(n, 4, 13)
    v = pt.velocity(x, pt.Dynamics(beta=beta, kind=kind))
    h = 1e-5
    rate = (energy_naive(x + h * v, beta) - energy_naive(x - h * v, beta)) / (2 * h)
    sq = np.sum(v * v, axis=1)
    if kind == "USA":
        expect = sq.sum() / n
    else:
        Z = np.exp(beta * x @ x.T).sum(axis=1)
        expect = (Z * sq).sum() / n**2
    assert rate == pytest.approx(expect, rel=1e-7)


# ---------------------------------------------------------------------------------------------
# integrators


def _reference_solution(x0, dyn, t_end):
    return pt.simulate(
        x0, dyn, t_end, method="DOP853", rtol=1e-13, atol=1e-15, save_at=[t_end]
    ).final


@pytest.mark.parametrize(
    "method,order", [("euler", 1), ("lie-euler", 1), ("geometric", 2), ("rk4", 4)]
)
def test_integrator_orders(method, order):
    x0 = pt.random_points(8, 3, 21)
    dyn = pt.Dynamics(beta=1.0)
    ref = _reference_solution(x0, dyn, 1.0)
    dts = [0.2, 0.1, 0.05] if order == 4 else [0.05, 0.025, 0.0125]
    errs = [
        np.abs(pt.simulate(x0, dyn, 1.0, method=method, dt=dt, save_at=[1.0]).final - ref).max()
        for dt in dts
    ]
    slopes = np.diff(np.log(errs)) / np.diff(np.log(dts))
    assert np.all(np.abs(slopes - order) < 0.3), (errs, slopes)


@pytest.mark.parametrize("method", ["euler", "rk4", "lie-euler", "geometric"])
def test_fixed_step_methods_stay_on_sphere(method):
    traj = pt.simulate(
        pt.random_points(20, 4, 1), pt.Dynamics(beta=5.0), 10.0, method=method, dt=0.1
    )
    assert np.abs(np.linalg.norm(traj.x, axis=2) - 1).max() < 1e-12
    assert traj.stats["max_norm_drift"] < 1e-12


@pytest.mark.parametrize("method", ["RK45", "DOP853", "LSODA", "BDF"])
def test_scipy_methods_agree_with_reference(method):
    x0 = pt.random_points(10, 3, 5)
    dyn = pt.Dynamics(beta=2.0, kind="USA")
    ref = _reference_solution(x0, dyn, 2.0)
    traj = pt.simulate(x0, dyn, 2.0, method=method, rtol=1e-9, atol=1e-11)
    assert np.abs(traj.final - ref).max() < 1e-5
    assert np.abs(np.linalg.norm(traj.x, axis=2) - 1).max() < 1e-14  # saved states renormalised
    assert 0 <= traj.stats["max_norm_drift"] < 1e-6


def test_lsoda_on_a_large_system_does_not_allocate_a_dense_jacobian():
    x0 = pt.random_points(2000, 16, 0)  # dense Jacobian would be 32000^2 doubles = 8 GB
    traj = pt.simulate(
        x0, pt.Dynamics(beta=1.0), 0.05, method="LSODA", rtol=1e-6, atol=1e-8, save_at=[0.05]
    )
    assert traj.final.shape == (2000, 16)


def test_save_at_hits_requested_times_exactly():
    ts = [0.0, 0.13, 0.5, 1.0]
    for method in ("rk4", "RK45"):
        traj = pt.simulate(
            pt.random_points(5, 3, 0),
            pt.Dynamics(),
            1.0,
            method=method,
            dt=0.1 if method == "rk4" else None,
            save_at=ts,
        )
        np.testing.assert_array_equal(traj.t, ts)


@pytest.mark.parametrize("beta", [0.0, 1.0, 5.0])
def test_single_cluster_in_d3(beta):
    """Thm 6.1: for d >= 3 and any beta the tokens collapse to one point.

    At beta = 5 most random starts first form two far-apart clusters whose merging takes a time of
    order e^{beta (1 - cos angle)} (metastability); seed 5 merges within t = 60.
    """
    traj = pt.simulate(
        pt.random_points(16, 3, 5),
        pt.Dynamics(beta=beta),
        60.0,
        method="RK45",
        rtol=1e-8,
        atol=1e-10,
        save_at=[0.0, 60.0],
    )
    assert pt.min_inner_product(traj.x[0]) < 0
    assert pt.min_inner_product(traj.final) > 1 - 1e-6


def test_piecewise_equals_consecutive_runs():
    x0 = pt.random_points(12, 3, 8)
    d1 = pt.Dynamics(beta=1.0)
    d2 = pt.Dynamics(beta=4.0, V=np.diag([1.0, 0.5, 2.0]))
    pw = pt.Piecewise(segments=[(d1, 0.5), (d2, 1.0)])
    whole = pt.simulate(x0, pw, 1.5, method="rk4", dt=0.05, save_at=[0.5, 1.5])
    a = pt.simulate(x0, d1, 0.5, method="rk4", dt=0.05, save_at=[0.5]).final
    b = pt.simulate(a, d2, 1.0, method="rk4", dt=0.05, save_at=[1.0]).final
    np.testing.assert_allclose(whole.x[0], a, atol=1e-15)
    np.testing.assert_allclose(whole.final, b, atol=1e-14)
    assert pw.at(0.49) is d1 and pw.at(0.5) is d2 and pw.at(99) is d2


def test_euler_step_is_a_residual_attention_layer():
    """ "euler" is one residual attention layer with post-LN: normalise(x + dt * A V x), the
    attention output unprojected (the authors' scheme); "euler-tangent" steps with P_perp(A V x)."""
    x0 = pt.random_points(9, 4, 2)
    dyn = pt.Dynamics(beta=1.5)
    dt = 0.1
    got = pt.simulate(x0, dyn, dt, method="euler", dt=dt, save_at=[dt]).final
    y = x0 + dt * attention_naive(x0, x0, x0, 1.5)
    np.testing.assert_allclose(got, y / np.linalg.norm(y, axis=1, keepdims=True), atol=1e-15)
    got = pt.simulate(x0, dyn, dt, method="euler-tangent", dt=dt, save_at=[dt]).final
    y = x0 + dt * velocity_naive(x0, 1.5)
    np.testing.assert_allclose(got, y / np.linalg.norm(y, axis=1, keepdims=True), atol=1e-15)
    # the two differ at O(dt^2): normalising x + dt f and x + dt P(f) are not the same map
    other = pt.simulate(x0, dyn, dt, method="euler", dt=dt, save_at=[dt]).final
    assert 1e-6 < np.max(np.abs(other - got)) < 10 * dt**2


# ---------------------------------------------------------------------------------------------
# files, checkpoints, resume


def test_trajectory_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    ffn = pt.FeedForward(
        W1=rng.standard_normal((4, 3)),
        b1=np.zeros(4),
        W2=rng.standard_normal((3, 4)),
        activation="gelu",
    )
    dyn = pt.Piecewise(
        segments=[
            (
                pt.Dynamics(
                    beta=2.0,
                    Q=rng.standard_normal((2, 2, 3)),
                    K=rng.standard_normal((2, 2, 3)),
                    ffn=ffn,
                ),
                0.3,
            ),
            (pt.Dynamics(beta=1.0, kind="USA", V=-1.0, causal=True), 1.0),
        ]
    )
    traj = pt.simulate(
        pt.random_points(6, 3, 1), dyn, 1.0, method="geometric", dt=0.1, meta={"seed": 1}
    )
    path = traj.save(tmp_path / "t.npz")
    back = pt.Trajectory.load(path)
    np.testing.assert_array_equal(back.x, traj.x)
    np.testing.assert_array_equal(back.t, traj.t)
    assert back.method == "geometric" and back.meta["seed"] == 1 and back.meta["dt"] == 0.1
    s0 = back.dynamics.segments[0][0]
    np.testing.assert_array_equal(s0.Q, dyn.segments[0][0].Q)
    assert s0.ffn.activation == "gelu" and back.dynamics.segments[1][0].V == -1.0
    assert back.dynamics.segments[1][0].causal
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]  # no temporary files left behind


def test_corrupt_and_foreign_files_give_clear_errors(tmp_path):
    traj = pt.simulate(pt.random_points(4, 3, 0), pt.Dynamics(), 0.2, dt=0.1)
    p = traj.save(tmp_path / "t.npz")
    data = p.read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParticlesError, match="corrupted or truncated"):
        pt.Trajectory.load(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(ParticlesError, match="not a particles file"):
        pt.Trajectory.load(foreign)
    with pytest.raises(ParticlesError, match="no such file"):
        pt.Trajectory.load(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ParticlesError):
        pt.Trajectory.load(tmp_path / "text.npz")


def test_interrupt_then_resume_gives_the_same_result(tmp_path, monkeypatch):
    import particles.solvers.integrate as integ

    x0 = pt.random_points(8, 3, 4)
    dyn = pt.Dynamics(beta=2.0)
    full = pt.simulate(x0, dyn, 2.0, method="rk4", dt=0.05)
    ck = tmp_path / "run.npz"
    real_step, calls = integ._step, {"k": 0}

    def flaky(*a, **kw):
        calls["k"] += 1
        if calls["k"] == 25:
            raise KeyboardInterrupt
        return real_step(*a, **kw)

    monkeypatch.setattr(integ, "_step", flaky)
    with pytest.raises(KeyboardInterrupt):
        pt.simulate(x0, dyn, 2.0, method="rk4", dt=0.05, checkpoint=ck)
    monkeypatch.setattr(integ, "_step", real_step)
    part = pt.Trajectory.load(ck)
    assert not part.complete and 1 < part.t.size < full.t.size
    resumed = pt.simulate(x0, dyn, 2.0, method="rk4", dt=0.05, checkpoint=ck, resume=True)
    assert resumed.complete and pt.Trajectory.load(ck).complete
    np.testing.assert_array_equal(resumed.t, full.t)
    np.testing.assert_allclose(resumed.x, full.x, atol=1e-15)
    with pytest.raises(ParticlesError, match="other parameters"):
        pt.simulate(
            x0, pt.Dynamics(beta=3.0), 2.0, method="rk4", dt=0.05, checkpoint=ck, resume=True
        )


def test_trajectory_summary_and_describe():
    import json

    dyn = pt.Dynamics(beta=0.0, kind="USA", V=-1.0, causal=True)
    traj = pt.simulate(pt.random_points(6, 3, 1), dyn, 0.5, dt=0.1, saves=2, meta={"seed": 1})
    rec = traj.summary()
    json.dumps(rec)
    assert rec["n"] == 6 and rec["d"] == 3 and rec["seed"] == 1 and rec["saved_times"] == 2
    assert rec["dynamics"] == "USA, beta=0, Q=I, K=I, V=-1I, causal" and rec["complete"]
    assert rec["final"]["delta"] == 1e-3 and rec["final"]["n_clusters"] == 6
    assert traj.summary(2.0)["final"]["n_clusters"] == 1
    with pytest.raises(ParticlesError, match="delta"):
        traj.summary(0.0)
    pw = pt.Piecewise(
        segments=[(pt.Dynamics(beta=1.0), 1.0), (pt.Dynamics(Q=np.eye(2, 3), K=np.eye(2, 3)), 2)]
    )
    assert pw.describe() == (
        "piecewise, 2 segments: [SA, beta=1, Q=I, K=I, V=I] for 1; "
        "[SA, beta=1, Q(2, 3), K(2, 3), V=I] for 2"
    )


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"beta": float("nan")}, "beta"),
        ({"beta": -1.0}, "beta"),
        ({"beta": float("inf"), "kind": "USA"}, "beta"),  # inf is hardmax: SA only
        ({"kind": "XA"}, "kind"),
        ({"Q": np.ones((3, 4)), "K": np.ones((2, 4))}, "d_k"),
        ({"Q": np.ones((3, 4)), "V": np.ones((5, 5))}, "dimension"),
        ({"V": np.ones((3, 4))}, "square"),
        ({"Q": np.ones((2, 3, 3)), "K": np.ones((3, 3, 3))}, "heads"),
        ({"Q": np.full((3, 3), np.nan)}, "non-finite"),
        ({"Q": 2.0}, "scalar"),
    ],
)
def test_bad_dynamics(kw, msg):
    with pytest.raises(ParticlesError, match=msg):
        pt.Dynamics(**kw)


def test_bad_simulate_input():
    x = pt.random_points(5, 3, 0)
    dyn = pt.Dynamics()
    cases = [
        (dict(x0=np.zeros((0, 3))), "n = 0"),
        (dict(x0=np.ones((4, 1))), "d >= 2"),
        (dict(x0=np.ones(3)), "shape"),
        (dict(x0=2 * x), "not on the unit sphere"),
        (dict(x0=np.full((2, 3), np.nan)), "non-finite"),
        (dict(t_end=0.0), "t_end"),
        (dict(t_end=float("nan")), "t_end"),
        (dict(dt=0.0), "dt"),
        (dict(dt=-1.0), "dt"),
        (dict(method="heun"), "unknown method"),
        (dict(method="RK45", dt=0.1), "adaptive"),
        (dict(save_at=[2.0]), "save_at"),
        (dict(saves=1), "saves must be an integer >= 2"),
        (dict(saves=2.5), "saves must be an integer >= 2"),
        (dict(saves=3, save_at=[0.5]), "not both"),
        (dict(checkpoint="nodir/run.npz"), "directory nodir does not exist"),
        (dict(checkpoint="run.txt"), "trajectory files end in .npz"),
        (dict(dyn=pt.Dynamics(Q=np.eye(4))), "dimension 4"),
    ]
    for kw, msg in cases:
        args = {"x0": x, "dyn": dyn, "t_end": 1.0, **kw}
        with pytest.raises(ParticlesError, match=msg):
            pt.simulate(args.pop("x0"), args.pop("dyn"), args.pop("t_end"), **args)
    np.testing.assert_allclose(
        np.linalg.norm(pt.simulate(2 * x, dyn, 0.1, normalize=True).x[0], axis=1), 1
    )
    np.testing.assert_array_equal(pt.simulate(x, dyn, 1.0, saves=3).t, [0.0, 0.5, 1.0])


def test_float32_field_in_simulate():
    x0 = pt.random_points(300, 8, 3)
    dyn = pt.Dynamics(beta=2.0)
    a = pt.simulate(x0, dyn, 1.0, dt=0.1, save_at=[1.0])
    b = pt.simulate(x0, dyn, 1.0, dt=0.1, save_at=[1.0], dtype=np.float32)
    assert b.final.dtype == np.float64 and b.meta["dtype"] == "float32"
    err = np.abs(a.final - b.final).max()
    assert 0 < err < 1e-5
    assert np.abs(np.linalg.norm(b.final, axis=1) - 1).max() < 1e-12
    with pytest.raises(ParticlesError):
        pt.simulate(x0, dyn, 1.0, dtype=np.int32)
