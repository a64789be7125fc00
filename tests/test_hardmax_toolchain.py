"""Hardmax attention (beta = inf) through the toolchain: row blocks and a Dask cluster, the batched
ensembles (deterministic, Gram and noisy), noise, phase diagrams and sweeps, the command line, and
the refusals of what is not defined at beta = inf, as tables."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

import particles as pt
from particles import config
from particles.analysis import phase as ph
from particles.analysis.transition import TransitionParams
from particles.errors import ParticlesError
from particles.field import hardmax as hm
from particles.field import hardmax_dask
from particles.solvers import ensemble as E
from particles.solvers import hardmax_ensemble as HE
from particles.solvers import kernels
from particles.solvers.integrate import step
from particles.sweeps.grids import parse_numbers

INF = float("inf")
RNG = np.random.default_rng(21)
Q3, K3, V3 = (RNG.standard_normal((2, 4, 4)) / 2 for _ in range(3))
FFN = pt.FeedForward(
    W1=RNG.standard_normal((6, 4)) / 3,
    b1=RNG.standard_normal(6) / 3,
    W2=RNG.standard_normal((4, 6)) / 3,
    b2=RNG.standard_normal(4) / 3,
)
HARD = {
    "heads": pt.Dynamics(beta=INF, Q=Q3, K=K3, V=V3),
    "causal": pt.Dynamics(beta=INF, Q=Q3[0], K=K3[0], causal=True),
    "scalar-v-ffn": pt.Dynamics(beta=INF, Q=Q3[0], K=K3[0], V=-0.5, ffn=FFN),
    "identity": pt.Dynamics(beta=INF),
}


# ------------------------------------------------------------------------------------------------
# row blocks (particles.field.hardmax_dask)


@pytest.mark.parametrize("causal", [False, True])
def test_rows_of_the_tiled_attention_are_its_rows_bit_for_bit(causal):
    rng = np.random.default_rng(1)
    q, k, v = (
        rng.standard_normal((40, 3)),
        rng.standard_normal((40, 3)),
        rng.standard_normal((40, 2)),
    )
    q[7] = q[3]  # repeated rows: ties
    whole = hm.attention(q, k, v, causal=causal, tile_rows=5, tile_cols=7)
    for r0, r1 in [(0, 5), (5, 20), (35, 40), (10, 40)]:
        part = hm.attention(q, k, v, causal=causal, tile_rows=5, tile_cols=7, rows=(r0, r1))
        np.testing.assert_array_equal(part, whole[r0:r1])


@pytest.mark.parametrize("name", sorted(HARD))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("project", [True, False])
def test_row_blocks_are_the_local_hardmax_field_bit_for_bit(name, dtype, project):
    from particles.field.dask import finish

    dyn = HARD[name]
    x = pt.random_points(600, 4, rng=3)  # 3 blocks of the 256-row tiles
    x[11] = x[5]  # a tie
    with config.blas_threads(1):
        ref = pt.velocity(x, dyn, dtype=dtype, project=project)
    xd = x.astype(dtype)
    a = hardmax_dask.alignment(600)
    f = np.concatenate(
        [hardmax_dask.block(xd, dyn, r0, min(600, r0 + a)) for r0 in range(0, 600, a)]
    )
    np.testing.assert_array_equal(finish(xd, f, dyn, project), ref)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_cluster_hardmax_is_the_local_one_bit_for_bit(client, monkeypatch, tmp_path):
    from particles.field.dask import DaskField

    monkeypatch.setattr(config, "THREADS", 1)
    x = pt.random_points(600, 4, rng=5)
    fld = DaskField(client, block_rows=256)
    for name in ("heads", "causal"):
        dyn = HARD[name]
        assert len(fld.blocks(600, 4, dyn, None)) == 3
        with config.blas_threads(1):
            ref = pt.velocity(x, dyn)
            ref_pre = pt.drift(x, dyn.replace(norm="pre"))
        np.testing.assert_array_equal(pt.velocity(x, dyn, scheduler=fld), ref)
        np.testing.assert_array_equal(pt.drift(x, dyn.replace(norm="pre"), scheduler=fld), ref_pre)
    dyn = HARD["heads"]
    kw = dict(method="euler", dt=0.25, save_at=[0.0, 0.5, 1.0])
    with config.blas_threads(1):
        ref = pt.simulate(x, dyn, 1.0, **kw)
    got = pt.simulate(x, dyn, 1.0, scheduler=client, checkpoint=tmp_path / "r.zarr", **kw)
    np.testing.assert_array_equal(np.asarray(got.x), ref.x)  # read back from the zarr store
    assert pt.Trajectory.load(tmp_path / "r.zarr").dynamics.hardmax


# ------------------------------------------------------------------------------------------------
# ensembles: beta = inf members are the single run, bit for bit


def _weights(S, d, shared):
    rng = np.random.default_rng(S + d)
    B, V = rng.standard_normal((S, d, d)), rng.standard_normal((S, d, d)) / 2
    return (B[0], V[0]) if shared else (B, V)


NORMS = [
    ("post", {}),
    ("pre", {}),
    ("peri", {}),
    ("ngpt", {"alpha": 0.5}),
    ("mix", {"t_switch": 0.5}),
    ("lns", {"t_offset": 2.0}),
]


@pytest.mark.parametrize("method", ["euler", "euler-tangent"])
@pytest.mark.parametrize("norm,kw", NORMS)
def test_ensemble_hardmax_members_are_simulate_bit_for_bit(method, norm, kw):
    S, n, d = 4, 10, 3
    X0 = E.random_points_batch(n, d, S, rng=2)
    B, V = _weights(S, d, shared=False)
    betas = np.array([1.5, INF, 0.5, INF])
    res = E.ensemble_coords(
        X0, betas, 1.0, B=B, V=V, dt=0.25, method=method, norm=norm, early_stop=False, **kw
    )
    for s in (1, 3):
        dyn = pt.Dynamics(beta=INF, K=B[s], V=V[s], norm=norm, **kw)
        tr = pt.simulate(X0[s], dyn, 1.0, method=method, dt=0.25, save_at=res.t)
        np.testing.assert_array_equal(res.final[s], tr.x[-1])
        th = tr.x / np.linalg.norm(tr.x, axis=2, keepdims=True)
        for k, xk in enumerate(th):  # the statistics of the saved states
            G = xk @ xk.T
            frac, ncl = kernels._gram_stats(G, 1 - 1e-3, 1 - 1e-3, True, np.empty(n, np.int64))
            assert abs(res.pair_fraction[s, k] - frac) < 1e-12 and res.n_clusters[s, k] == ncl
    fin = E.ensemble_coords(
        X0[[0, 2]], betas[[0, 2]], 1.0, B=B[[0, 2]], V=V[[0, 2]], dt=0.25, method=method,
        norm=norm, early_stop=False, **kw,
    )  # fmt: skip
    np.testing.assert_array_equal(res.final[[0, 2]], fin.final)  # the kernels' members unchanged
    np.testing.assert_array_equal(res.pair_fraction[[0, 2]], fin.pair_fraction)


def test_shared_and_identity_weights_and_early_stop():
    S, n, d = 3, 8, 3
    X0 = E.random_points_batch(n, d, S, rng=4)
    B, V = _weights(S, d, shared=True)
    res = E.ensemble_coords(X0, INF, 2.0, B=B, V=V, dt=0.25, early_stop=False)
    for s in range(S):
        tr = pt.simulate(X0[s], pt.Dynamics(beta=INF, K=B, V=V), 2.0, dt=0.25, saves=2)
        np.testing.assert_array_equal(res.final[s], tr.x[-1])
    # B = -I: every token attends to its antipode-most partner; early stopping changes nothing
    kw = dict(B=-np.eye(d), dt=0.25, delta=0.5)
    a = E.ensemble_coords(X0, INF, 4.0, early_stop=True, **kw)
    b = E.ensemble_coords(X0, INF, 4.0, early_stop=False, **kw)
    np.testing.assert_array_equal(a.pair_fraction, b.pair_fraction)
    # identity weights: each token is its own maximiser, nothing moves
    c = E.ensemble_coords(X0, INF, 1.0, dt=0.25, early_stop=False)
    np.testing.assert_allclose(c.final, X0, atol=1e-15)


def test_gram_hardmax_members_agree_with_coordinates():
    n, d, S = 6, 8, 3
    X0 = E.random_points_batch(n, d, S, rng=6)
    X0[0, 1] = X0[0, 0]  # two equal tokens: a tie, averaged
    G0 = X0 @ np.swapaxes(X0, 1, 2)
    G0[:, np.arange(n), np.arange(n)] = 1.0
    for method in ("euler", "euler-tangent"):
        g = E.ensemble_gram(G0, [INF, 2.0, INF], 1.0, dt=0.25, method=method, early_stop=False)
        c = E.ensemble_coords(X0, [INF, 2.0, INF], 1.0, dt=0.25, method=method, early_stop=False)
        for s in (0, 2):
            np.testing.assert_allclose(g.final[s], c.final[s] @ c.final[s].T, atol=1e-13)
            np.testing.assert_allclose(g.final[s], G0[s], atol=1e-13)  # nothing moves
        np.testing.assert_array_equal(g.n_clusters, c.n_clusters)


def test_hardmax_matrix_is_the_definition():
    x = pt.random_points(9, 3, rng=8)
    x[4] = x[2]
    G = x @ x.T
    A = HE.hardmax_matrix(G)
    ref = hm.attention(x, x, np.eye(9))  # row i: the weights of the maximisers
    np.testing.assert_array_equal(A, ref)


# ------------------------------------------------------------------------------------------------
# noise: the noisy layer map


def _qk():
    return pt.Dynamics(beta=INF, Q=Q3[0][:3, :3], K=K3[0][:3, :3])


def test_sigma_zero_is_the_noiseless_map_exactly():
    x = pt.random_points(20, 3, rng=9)
    dyn = _qk()
    ref = pt.simulate(x, dyn, 2.0, method="euler-tangent", dt=0.25, saves=3)
    for d in (dyn, dyn.replace(kappa=INF)):  # kappa None or inf: sigma = 0
        got = pt.simulate(x, d, 2.0, method="euler-maruyama", dt=0.25, saves=3, rng=0)
        np.testing.assert_array_equal(got.x, ref.x)
    noisy = dyn.replace(kappa=2.0)
    y, _ = step("euler-maruyama", x, 0.25, noisy, dW=np.zeros_like(x))
    np.testing.assert_array_equal(y, step("euler-tangent", x, 0.25, dyn)[0])


def test_noisy_step_is_euler_maruyama_of_the_hardmax_drift():
    x = pt.random_points(15, 3, rng=10)
    dyn = _qk().replace(kappa=0.5)
    dW = np.sqrt(0.1) * np.random.default_rng(3).standard_normal(x.shape)
    y, nfev = step("euler-maruyama", x, 0.1, dyn, dW=dW)
    P = dW - np.einsum("ij,ij->i", x, dW)[:, None] * x
    z = x + 0.1 * pt.velocity(x, _qk()) + np.sqrt(2 / 0.5) * P
    np.testing.assert_allclose(y, z / np.linalg.norm(z, axis=1, keepdims=True), atol=1e-15)
    assert nfev == 1


def test_noise_is_reproducible_by_seed():
    x = pt.random_points(12, 3, rng=11)
    dyn = _qk().replace(kappa=3.0)
    a, b, c = (pt.simulate(x, dyn, 1.0, dt=0.25, saves=2, rng=s) for s in (5, 5, 6))
    assert a.method == "euler-maruyama"  # the default with noise at beta = inf
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.allclose(a.x[-1], c.x[-1])


def test_noisy_ensemble_hardmax_members():
    S, n, d = 3, 8, 3
    X0 = E.random_points_batch(n, d, S, rng=12)
    kw = dict(seeds=[3, 4, 5], dt=0.125, kind="SA", modes=2)
    res = E.ensemble_noisy(X0, [INF, 2.0, INF], [1.0, 1.0, None], 0.5, **kw)
    keys = E.noise_keys([3, 4, 5])
    for s, kappa in ((0, 1.0), (2, None)):
        dyn = pt.Dynamics(beta=INF, kappa=kappa)
        x, z = X0[s].copy(), np.empty(n * d)
        for k in range(4):
            kernels._counter_normals(keys[s], k * n * d, z)
            x = step("euler-maruyama", x, 0.125, dyn, dW=np.sqrt(0.125) * z.reshape(n, d))[0]
        np.testing.assert_array_equal(res.final[s], x)
    again = E.ensemble_noisy(X0[[0]], [INF], [1.0], 0.5, **{**kw, "seeds": [3]})
    np.testing.assert_array_equal(again.final[0], res.final[0])  # by seed, whatever else runs
    np.testing.assert_allclose(res.r[0], again.r[0], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------
# phase diagrams and sweeps: the beta = inf column


def test_phase_diagram_has_a_hardmax_column(tmp_path):
    p = ph.PhaseParams(
        n=6, d=3, betas=(0.0, 2.0, INF), t_end=1.0, dt=0.25, seeds=4, weights="ginibre", delta=0.1
    )
    dg = ph.phase_diagram(p, progress=False)
    X, B, V = ph.initial_conditions(p)
    ref = E.ensemble_coords(X, INF, 1.0, B=B, V=V, dt=0.25, delta=0.1)
    np.testing.assert_allclose(dg.P[-1], ref.pair_fraction.mean(axis=0), atol=1e-15)
    dg.save(tmp_path / "p.npz")
    back = ph.PhaseDiagram.load(tmp_path / "p.npz")
    assert back.betas[-1] == INF and np.array_equal(back.P, dg.P)
    out = ph.plot_phase_figure([dg], tmp_path / "p.png")
    assert out.exists()
    table = ph.scan([p], store=tmp_path / "st", progress=False)
    assert INF in list(table.columns["beta"])


def test_identity_phase_column_is_constant():
    p = ph.PhaseParams(n=4, d=6, betas=(INF,), t_end=1.0, dt=0.25, seeds=3, delta=0.5)
    assert p.gram
    dg = ph.phase_diagram(p, progress=False)
    assert np.all(dg.P[0] == dg.P[0, 0])


def test_parse_numbers_takes_inf_where_allowed():
    assert parse_numbers("1,inf", "--beta", allow_inf=True) == [1.0, INF]
    with pytest.raises(ParticlesError, match="finite"):
        parse_numbers("1,inf", "--beta")


# ------------------------------------------------------------------------------------------------
# the command line


def _main():
    from particles.cli.main import main

    return main


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", "--n", "8", "--d", "3", "--beta", "inf", "--kappa", "2", "--t-end", "0.5"],
        ["simulate", "--n", "8", "--d", "3", "--beta", "inf", "--method", "euler-tangent"],
        ["phase", "--n", "4", "--d", "3", "--beta", "1,inf", "--t-end", "0.5", "--seeds", "2"],
        ["sweep", "--n", "4", "--d", "3", "--beta", "inf", "--t-end", "0.5", "--seeds", "2"],
    ],
)
def test_cli_runs_beta_inf(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    out = {"simulate": ["--out", "r.npz"], "phase": ["--out", "p.png"], "sweep": ["--store", "s"]}
    res = CliRunner().invoke(_main(), [*args, *out[args[0]], "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output


# ------------------------------------------------------------------------------------------------
# refusals: one clear line each

_X = pt.random_points(6, 3, rng=0)
REFUSED = [
    (lambda: pt.Dynamics(beta=INF, kind="USA"), "limit of the normalised"),
    (lambda: pt.Dynamics(beta=INF, kind="SK"), "optimal assignment"),
    (
        lambda: pt.simulate(_X, pt.Dynamics(beta=INF, kappa=1.0), 1.0, method="strang", dt=0.1),
        "not admitted",
    ),
    (
        lambda: pt.simulate(
            _X, pt.Dynamics(beta=INF, kappa=1.0), 1.0, method="lie-euler-maruyama", dt=0.1
        ),
        "not admitted",
    ),
    (lambda: pt.simulate(_X, pt.Dynamics(beta=INF), 1.0, method="rk4", dt=0.1), "not admitted"),
    (lambda: E.ensemble_coords(_X[None], INF, 1.0, method="rk4"), "not admitted"),
    (lambda: E.ensemble_coords(_X[None], INF, 1.0, kind="USA"), "needs kind='SA'"),
    (lambda: E.ensemble_coords(_X[None], [INF], 1.0, kind="SK"), "needs kind='SA'"),
    (lambda: E.ensemble_gram((_X @ _X.T)[None], INF, 1.0, method="rk4"), "not admitted"),
    (lambda: E.ensemble_noisy(_X[None], INF, 1.0, 1.0, seeds=0), "needs kind='SA'"),
    (
        lambda: E.ensemble_noisy(_X[None], INF, 1.0, 1.0, seeds=0, kind="SA", method="strang"),
        "euler-maruyama only",
    ),
    (lambda: E.ensemble_coords(_X[None], -INF, 1.0), "betas must be finite"),
    (lambda: ph.PhaseParams(betas=(1.0, INF), method="rk4"), "not admitted"),
    (lambda: ph.PhaseParams(betas=(1.0, INF), kind="USA"), "needs kind='SA'"),
    (lambda: ph.PhaseParams(betas=(1.0, -INF)), "finite numbers"),
    (lambda: TransitionParams(betas=(1.0, INF)), "no transition to sweep"),
    (lambda: hm.attention(_X, _X, _X, tile_rows=4, rows=(1, 4)), "whole row tiles"),
    (lambda: hm.attention(_X, _X, _X, tile_rows=4, rows=(0, 3)), "whole row tiles"),
    (lambda: pt.velocity(_X, pt.Dynamics(beta=INF), method="expansion"), "expansion"),
    (lambda: parse_numbers("1,-inf", "--beta", allow_inf=True), "finite \\(or inf\\)"),
]


@pytest.mark.parametrize("call,match", REFUSED)
def test_refusals_are_one_line(call, match):
    with pytest.raises(ParticlesError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


CLI_REFUSED = [
    (["simulate", "--beta", "inf", "--method", "rk4"], "not admitted"),
    (["simulate", "--beta", "inf", "--kappa", "1", "--method", "strang"], "not admitted"),
    (["simulate", "--beta", "inf", "--kind", "USA"], "needs kind='SA'"),
    (["phase", "--beta", "1,inf", "--method", "rk4", "--out", "p.png"], "not admitted"),
    (["phase", "--beta", "1,inf", "--kind", "USA", "--out", "p.png"], "needs kind='SA'"),
    (["sweep", "--beta", "-inf", "--store", "s"], "finite"),
    (["phase", "--beta", "1:inf:1", "--out", "p.png"], "finite"),
    (["meanfield", "theory", "--beta", "inf"], "finite"),
    (["transition", "--beta", "inf", "--kappa", "1", "--out", "t.npz"], "no transition to sweep"),
]


@pytest.mark.parametrize("args,match", CLI_REFUSED)
def test_cli_refusals_are_one_line(tmp_path, monkeypatch, args, match):
    monkeypatch.chdir(tmp_path)
    base = ["--n", "4", "--d", "3", "--t-end", "0.5"]
    if args[0] in ("phase", "sweep"):
        base += ["--seeds", "2"]
    if args[0] == "simulate":
        base += ["--out", "r.npz"]
    if args[0] == "meanfield":
        base = []
    if args[0] == "transition":
        base = ["--n", "4", "--d", "2", "--seeds", "1"]
    res = CliRunner().invoke(_main(), [*args, *base])
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert re.search(match, lines[0]), lines[0]
    assert not list(tmp_path.iterdir())  # nothing written
