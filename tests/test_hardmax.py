"""Hardmax attention (beta = inf): the kernels against their numpy twins, the field against a plain
numpy computation, the integrators admitted and refused, the toolchain (simulate, norms, CLI, npz,
zarr), and the results of arXiv 2407.01602 (leaders, clustered equilibrium, layers to reach it) and
arXiv 2508.09628 (finite beta -> hardmax, metastability over times exponential in beta)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import particles as pt
from particles.analysis import hardmax as H
from particles.errors import ParticlesError
from particles.field import hardmax as hm
from tests import naive

INF = float("inf")

# ------------------------------------------------------------------------------------------------
# the numba kernels against their plain-numpy twins (tests/naive.py, same summation order)


def _tie_tile(rng, tr=7, tc=11, dv=3):
    L = rng.standard_normal((tr, tc)).round(1)  # rounded: many exact ties
    return L, rng.standard_normal((tc, dv))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("r0,c0", [(0, 0), (5, 0), (3, 6), (20, 0)])
def test_kernels_match_numpy_twins_exactly(causal, r0, c0):
    rng = np.random.default_rng(r0 + 7 * c0 + causal)
    L, v = _tie_tile(rng)
    m1 = np.full(L.shape[0], -np.inf)
    m2 = m1.copy()
    hm._tile_rowmax(L, r0, c0, causal, m1)
    naive._tile_rowmax(L, r0, c0, causal, m2)
    assert np.array_equal(m1, m2)
    thr = m1 - 0.15
    acc1, acc2 = np.zeros((L.shape[0], 3)), np.zeros((L.shape[0], 3))
    c1, c2 = np.zeros(L.shape[0], np.int64), np.zeros(L.shape[0], np.int64)
    hm._tile_ties(L, thr, v, r0, c0, causal, acc1, c1)
    naive._tile_ties(L, thr, v, r0, c0, causal, acc2, c2)
    assert np.array_equal(c1, c2) and np.array_equal(acc1, acc2)


def _dense_hardmax(q, k, v, causal=False):
    """The definition: the mean of v_j over the j within tau_i of the row maximum (one GEMM)."""
    s = q @ k.T
    if causal:
        s = np.where(np.tril(np.ones(s.shape, bool)), s, -np.inf)
    tau = hm.TIE_RTOL * np.linalg.norm(q, axis=1) * np.linalg.norm(k, axis=1).max()
    w = (s >= s.max(axis=1, keepdims=True) - tau[:, None]).astype(float)
    return (w @ v) / w.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("tiles", [(256, 2048), (5, 7), (64, 16)])
def test_tiled_attention_is_the_definition(causal, tiles):
    rng = np.random.default_rng(3)
    n, dk, dv = 70, 4, 3
    q, k, v = (
        rng.standard_normal((n, dk)),
        rng.standard_normal((n, dk)),
        rng.standard_normal((n, dv)),
    )
    k[10] = k[20]  # exact ties between two columns
    got = hm.attention(q, k, v, causal=causal, tile_rows=tiles[0], tile_cols=tiles[1])
    assert np.allclose(got, _dense_hardmax(q, k, v, causal), rtol=0, atol=1e-14)


def test_ties_are_averaged():
    """A query equidistant from two keys takes the midpoint of their values (2407.01602's C_i)."""
    k = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    v = np.array([[2.0, 0.0], [0.0, 4.0], [9.0, 9.0]])
    q = np.array([[1.0, 1.0], [1.0, 0.2]])
    out, cnt, _, _ = hm.attention(q, k, v, details=True)
    assert list(cnt) == [2, 1]
    assert np.array_equal(out, [[1.0, 2.0], [2.0, 0.0]])
    # rounding-level differences are one tie: 1 + 1e-15 against 1
    q2 = np.array([[1.0 + 1e-15, 1.0]])
    assert hm.attention(q2, k, v, details=True)[1][0] == 2


def _weights(rng, d, heads=1):
    shape = (heads, d, d) if heads > 1 else (d, d)
    return rng.standard_normal(shape), rng.standard_normal(shape), rng.standard_normal(shape)


@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("causal", [False, True])
def test_field_against_plain_numpy(heads, causal):
    rng = np.random.default_rng(heads + 2 * causal)
    n, d = 40, 4
    x = pt.random_points(n, d, rng=5)
    Q, K, V = _weights(rng, d, heads)
    dyn = pt.Dynamics(beta=INF, Q=Q, K=K, V=V, causal=causal)
    f = np.zeros((n, d))
    for h in range(heads):
        Qh, Kh, Vh = (M[h] if heads > 1 else M for M in (Q, K, V))
        f += _dense_hardmax(x @ Qh.T, x @ Kh.T, x @ Vh.T, causal)
    assert np.allclose(pt.velocity(x, dyn, project=False), f, rtol=0, atol=1e-13)
    proj = f - np.einsum("ij,ij->i", x, f)[:, None] * x
    assert np.allclose(pt.velocity(x, dyn), proj, rtol=0, atol=1e-13)
    rows = [0, 7, 39]
    if not causal:
        assert np.allclose(pt.field.velocity_rows(x, dyn, rows), proj[rows], atol=1e-13)


def test_softmax_field_tends_to_hardmax():
    """|v_beta - v_inf| falls like exp(-beta g), g the smallest score margin (here ~1e-4 at 1e4)."""
    rng = np.random.default_rng(1)
    x = pt.random_points(50, 3, rng=1)
    Q, K, _ = _weights(rng, 3)
    vi = pt.velocity(x, pt.Dynamics(beta=INF, Q=Q, K=K))
    errs = [np.abs(pt.velocity(x, pt.Dynamics(beta=b, Q=Q, K=K)) - vi).max() for b in (1e2, 1e4)]
    assert errs[1] < 1e-7 < errs[0]


# ------------------------------------------------------------------------------------------------
# integrators, the toolchain, refusals


def test_euler_step_is_the_layer_map():
    """One euler step: x <- N(x + dt H(x)) = N((x + dt H) / (1 + dt)), 2407.01602's layer then LN."""
    x = pt.random_points(20, 3, rng=2)
    rng = np.random.default_rng(2)
    Q, K, _ = _weights(rng, 3)
    dyn = pt.Dynamics(beta=INF, Q=Q, K=K)
    tr = pt.simulate(x, dyn, t_end=0.5, dt=0.5, saves=2)
    assert tr.method == "euler"  # the default at beta = inf
    Hx = _dense_hardmax(x @ Q.T, x @ K.T, x)
    y = (x + 0.5 * Hx) / 1.5
    assert np.allclose(tr.final, y / np.linalg.norm(y, axis=1, keepdims=True), atol=1e-14)


REFUSED = [m for m in pt.METHODS if m not in ("euler", "euler-tangent", "euler-maruyama")]


@pytest.mark.parametrize("method", REFUSED)
def test_other_integrators_refused(method):
    with pytest.raises(ParticlesError, match="not admitted") as e:
        pt.simulate(
            pt.random_points(6, 3, rng=0), pt.Dynamics(beta=INF), 1.0, method=method, dt=0.1
        )
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(kind="USA"), "needs kind='SA'"),
        (dict(beta=1e13), "above 1e\\+12"),
        (dict(beta=-INF), "beta must be finite"),
    ],
)
def test_dynamics_refusals(kw, match):
    kw = {"beta": INF, **kw}
    with pytest.raises(ParticlesError, match=match):
        pt.Dynamics(**kw)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x, d: pt.velocity(x, d, method="expansion"), "expansion"),
        (lambda x, d: pt.energy(x, d.beta), "beta must be finite"),
        (
            lambda x, d: pt.solvers.ensemble.ensemble_coords(
                x[None], [d.beta], t_end=1, dt=0.1, method="rk4"
            ),
            "not admitted",
        ),
    ],
)
def test_elsewhere_refused(call, match):
    import particles.solvers.ensemble  # noqa: F401

    with pytest.raises(ParticlesError, match=match):
        call(pt.random_points(6, 3, rng=0), pt.Dynamics(beta=INF))


@pytest.mark.parametrize("norm", ["post", "pre", "peri", "ngpt", "mix", "lns"])
def test_every_norm_runs(norm):
    kw = {"t_switch": 0.3} if norm == "mix" else {}
    rng = np.random.default_rng(4)
    Q, K, _ = _weights(rng, 3)
    dyn = pt.Dynamics(beta=INF, Q=Q, K=K, norm=norm, **kw)
    tr = pt.simulate(pt.random_points(12, 3, rng=4), dyn, 1.0, dt=0.1, saves=3)
    assert np.all(np.isfinite(tr.x))
    assert not np.allclose(tr.x[0], tr.x[-1])  # something moved


@pytest.mark.parametrize("ext", ["npz", "zarr"])
def test_save_and_load(tmp_path, ext):
    if ext == "zarr":
        pytest.importorskip("zarr")
    dyn = pt.Dynamics(beta=INF, Q=np.eye(3) * 2.0, K=np.eye(3))
    path = tmp_path / f"run.{ext}"
    tr = pt.simulate(pt.random_points(8, 3, rng=0), dyn, 0.5, dt=0.1, checkpoint=str(path))
    back = pt.Trajectory.load(str(path))
    assert back.dynamics.hardmax and back.dynamics.describe() == dyn.describe()
    assert np.array_equal(np.asarray(back.x[-1]), tr.final)


def test_cli(tmp_path):
    from click.testing import CliRunner

    from particles.cli.main import main as cli

    out = tmp_path / "h.npz"
    base = ["simulate", "--n", "8", "--d", "3", "--beta", "inf", "--t-end", "0.5", "--quiet"]
    r = CliRunner().invoke(cli, base + ["--dt", "0.1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert pt.Trajectory.load(str(out)).dynamics.hardmax
    for extra, match in [(["--method", "rk4"], "not admitted"), (["--kind", "USA"], "kind='SA'")]:
        r = CliRunner().invoke(cli, base + extra + ["--out", str(tmp_path / "x.npz")])
        assert r.exit_code != 0 and match in r.output and "Traceback" not in r.output


# ------------------------------------------------------------------------------------------------
# arXiv 2407.01602: leaders and the clustered equilibrium


def _config(seed=0, n=30, d=2):
    rng = np.random.default_rng(seed)
    z0 = rng.standard_normal((n, d))
    M = rng.standard_normal((d, d))
    return z0, M @ M.T + 0.5 * np.eye(d)  # A symmetric positive definite


def test_leaders_are_the_self_attending_tokens():
    z0, A = _config()
    lead = H.leaders(z0, A)
    s = (z0 @ A.T) @ z0.T
    self_only = [i for i in range(len(z0)) if np.all(s[i, i] > np.delete(s[i], i))]
    assert list(lead) == self_only and len(lead) >= 1
    # the token of largest A-norm is a leader (A positive definite)
    assert np.argmax(np.diag(s)) in lead


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_clustered_equilibrium_of_leaders(seed, alpha):
    """Leaders never move (bitwise), the leader set is the same at every layer, and every token
    reaches a leader within eps after at most a few layers more than the straight-line count
    ceil(log(D / eps) / log(1 + alpha)) (D the largest initial distance to a leader)."""
    z0, A = _config(seed, n=25, d=2 + seed % 2)
    eps = 1e-9
    eq = H.equilibrium(z0, A=A, alpha=alpha, eps=eps)
    assert eq.layers is not None
    traj = H.layers(z0, eq.layers, A=A, alpha=alpha)
    lead = eq.leaders
    assert np.array_equal(traj[:, lead], np.broadcast_to(z0[lead], traj[:, lead].shape))
    for k in range(0, eq.layers, max(1, eq.layers // 5)):
        assert np.array_equal(H.leaders(traj[k], A), lead)
    D = eq.distance[0]
    pred = H.predicted_layers(D, alpha, eps)
    assert pred - 1 <= eq.layers <= pred + 6
    # the contraction is exactly 1 / (1 + alpha) per layer once every token heads for its leader
    ratio = eq.distance[-3] / eq.distance[-4]
    assert ratio == pytest.approx(1.0 / (1.0 + alpha), rel=1e-6)


def test_tie_between_leaders_is_kept():
    """A token on the tie hyperplane between two leaders attends to both and goes to their midpoint
    (ties averaged): the equilibrium includes a non-leader point."""
    z0 = np.array([[2.0, 1.0], [-2.0, 1.0], [0.0, 0.5]])
    lead = H.leaders(z0)
    assert list(lead) == [0, 1]
    z = H.layers(z0, 60, alpha=1.0)
    assert np.allclose(z[-1, 2], [0.0, 1.0], atol=1e-15)  # the midpoint of the leaders
    with pytest.raises(ParticlesError, match="no leader"):
        H.equilibrium(np.zeros((4, 2)))


# ------------------------------------------------------------------------------------------------
# arXiv 2508.09628: finite beta -> hardmax, and metastability


def _margin(traj, A):
    """The smallest gap between a row's best score and its best non-maximal score along traj."""
    g = np.inf
    for z in traj:
        s = (z @ A.T) @ z.T
        m = s.max(axis=1, keepdims=True)
        other = np.where(s < m - 1e-9, s, -np.inf).max(axis=1)
        g = min(g, float(np.min(m[:, 0] - other)))
    return g


def test_finite_beta_converges_to_hardmax_at_the_margin_rate():
    """max_i |z_i^beta(K) - z_i^inf(K)| ~ C exp(-beta g): the fitted rate is the margin g."""
    z0, A = _config()
    K = 4
    zinf = H.layers(z0, K, A=A)
    g = _margin(zinf[:K], A)
    betas = np.array([160.0, 240.0, 320.0])
    err = [np.abs(H.layers(z0, K, A=A, beta=b)[-1] - zinf[-1]).max() for b in betas]
    rate = -np.polyfit(betas, np.log(err), 1)[0]
    assert rate == pytest.approx(g, rel=0.02)


def test_metastability_exit_time_grows_like_exp_beta_gap():
    """The finite-beta map enters the delta-neighbourhood of the hardmax equilibrium after a number
    of layers independent of beta and leaves it after ~exp(beta Delta) layers, Delta the leader gap."""
    z0, A = _config()
    eq = H.equilibrium(z0, A=A)
    Delta = H.leader_gap(z0[eq.leaders], A)
    betas = np.array([10.0, 12.0, 14.0])
    res = [H.exit_layers(z0, b, A=A, delta=0.1, max_layers=20_000) for b in betas]
    assert len({e for e, _ in res}) == 1  # the same entry layer
    slope = np.polyfit(betas, np.log([x for _, x in res]), 1)[0]
    assert slope == pytest.approx(Delta, rel=0.2)
    assert math.isfinite(Delta) and Delta > 0


@pytest.mark.parametrize("causal", [False, True])
def test_factored_value_maps_match_dense(causal):
    """beta = inf with factored value maps O_h V_h equals the dense form V_h = O_h V_h."""
    rng = np.random.default_rng(7)
    n, d, H, dv = 40, 8, 2, 3
    x = rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    Q, K = rng.normal(size=(H, 4, d)), rng.normal(size=(H, 4, d))
    V, O = rng.normal(size=(H, dv, d)), rng.normal(size=(H, d, dv))
    inf = float("inf")
    a = pt.velocity(x, pt.Dynamics(beta=inf, Q=Q, K=K, V=V, O=O, causal=causal))
    b = pt.velocity(x, pt.Dynamics(beta=inf, Q=Q, K=K, V=O @ V, causal=causal))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * np.abs(b).max())
