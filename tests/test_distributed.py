"""The field in row blocks (particles.field.rows) and on a real Dask LocalCluster (particles.field.dask).

Bit-identity: row blocks repeat the local tiles, so the blocks put together are the local result to
the last bit, threaded or not (the one-thread evaluation with OpenBLAS on one thread, as blocks run).
Both sides are computed in the test, on this machine, with the same OpenBLAS kernel (the workers
inherit OPENBLAS_CORETYPE); .ci/run runs these tests under two kernels.
"""

import numpy as np
import pytest

import particles as pt
from particles import config
from particles.errors import ParticlesError
from particles.field.rows import Plan, alignment, attention_field_rows, attention_rows

RNG = np.random.default_rng(7)
Q2, K2, V2 = (RNG.standard_normal((2, 8, 8)) / 3 for _ in range(3))
FFN = pt.FeedForward(
    W1=RNG.standard_normal((12, 8)) / 3,
    b1=RNG.standard_normal(12) / 3,
    W2=RNG.standard_normal((8, 12)) / 3,
    b2=RNG.standard_normal(8) / 3,
    activation="gelu",
)
DYNAMICS = {
    "identity": pt.Dynamics(beta=1.0),
    "identity-usa": pt.Dynamics(beta=3.0, kind="USA"),
    "identity-causal": pt.Dynamics(beta=1.0, causal=True),
    "repulsive": pt.Dynamics(beta=1.0, kind="USA", V=-1.0),
    "heads": pt.Dynamics(beta=1.0, Q=Q2, K=K2, V=V2),
    "general-causal-usa": pt.Dynamics(beta=2.0, Q=Q2[0], K=K2[0], causal=True, kind="USA"),
    "q=k": pt.Dynamics(beta=2.0, Q=Q2[0], K=Q2[0]),
    "large-beta": pt.Dynamics(beta=300.0, Q=Q2[0], K=K2[0]),
    "ffn": pt.Dynamics(beta=1.0, ffn=FFN),
}


@pytest.fixture
def small_tiles(monkeypatch):
    """Small tiles so that a few hundred particles make several row blocks and column tiles."""
    monkeypatch.setattr(config, "TILE_ROWS", 32)
    monkeypatch.setattr(config, "TILE_COLS", 96)
    monkeypatch.setattr(config, "TILE_GRAM", 64)


def _one_thread(monkeypatch):
    monkeypatch.setattr(config, "THREADS", 1)


def _blocks_of(x, dyn, plan, per=3):
    n, d = x.shape
    a = alignment(n, d, dyn, plan)
    size = a * max(1, -(-n // (a * per)))
    return [(r0, min(n, r0 + size)) for r0 in range(0, n, size)]


def _rows_field(x, dyn, plan, project=True):
    from particles.field.dask import finish

    f = np.concatenate(
        [attention_field_rows(x, dyn, r0, r1, plan) for r0, r1 in _blocks_of(x, dyn, plan)]
    )
    return finish(x, f, dyn, project)


# --- row blocks, no Dask -------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(DYNAMICS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_blocks_are_the_one_thread_field_bit_for_bit(small_tiles, monkeypatch, name, dtype):
    dyn = DYNAMICS[name]
    x = pt.random_points(300, 8, rng=1).astype(dtype)
    _one_thread(monkeypatch)
    with config.blas_threads(1):
        ref = pt.velocity(x, dyn, dtype=dtype)
    plan = Plan.here()
    assert len(_blocks_of(x, dyn, plan)) >= 3
    got = _rows_field(x, dyn, plan)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("name", ["heads", "general-causal-usa", "large-beta"])
def test_row_blocks_are_the_threaded_online_field_bit_for_bit(small_tiles, monkeypatch, name):
    """The online path (Q != K) is deterministic at any thread count: blocks match it exactly."""
    monkeypatch.setattr(config, "THREADS", 2)
    monkeypatch.setattr(config, "THREADED_MIN_WORK", 0)
    dyn = DYNAMICS[name]
    x = pt.random_points(300, 8, rng=2)
    ref = pt.velocity(x, dyn)
    np.testing.assert_array_equal(_rows_field(x, dyn, Plan.here()), ref)


@pytest.mark.parametrize("name", ["identity", "identity-usa", "identity-causal", "q=k"])
def test_row_blocks_are_the_threaded_gram_field_bit_for_bit(small_tiles, monkeypatch, name):
    """The threaded Gram path adds each row block's products in a fixed order (not per-thread sums
    in scheduling order): it is reproducible, and the blocks repeat it exactly."""
    monkeypatch.setattr(config, "THREADS", 2)
    monkeypatch.setattr(config, "THREADED_MIN_WORK", 0)
    monkeypatch.setattr(config, "TILE_GRAM", 16)  # the threaded tiles: max(min(16, 75), 128) = 128
    dyn = DYNAMICS[name]
    x = pt.random_points(300, 8, rng=3)
    ref = pt.velocity(x, dyn)
    plan = Plan.here()
    assert plan.gram(300, 8, 8) == (2, 128) and len(_blocks_of(x, dyn, plan)) == 3
    np.testing.assert_array_equal(_rows_field(x, dyn, plan), ref)


def _unaligned(x):
    """A copy of x at an address that is no multiple of its item size, as Dask may unpickle it."""
    buf = np.empty(x.nbytes + 1, np.uint8)
    u = np.frombuffer(buf[1:].data, dtype=x.dtype).reshape(x.shape)
    u[...] = x
    assert not u.flags.aligned
    return u


@pytest.mark.parametrize("name,d", [("identity", 3), ("identity", 4), ("heads", 8), ("ffn", 8)])
def test_unaligned_points_give_the_same_bits(small_tiles, monkeypatch, name, d):
    """numpy's matmul copies an unaligned operand into another layout (a GEMM NN for NT), which
    OpenBLAS's SkylakeX kernels round differently: the field and the row blocks take an aligned
    copy. (Under Haswell kernels the two GEMMs agree, so this checks something only where
    OPENBLAS_CORETYPE=SkylakeX or on an AVX-512 machine: .ci/run runs it there.)"""
    _one_thread(monkeypatch)
    dyn = DYNAMICS[name]
    x = pt.random_points(300, d, rng=9)
    with config.blas_threads(1):
        ref = pt.velocity(x, dyn)
        np.testing.assert_array_equal(pt.velocity(_unaligned(x), dyn), ref)
    np.testing.assert_array_equal(_rows_field(_unaligned(x), dyn, Plan.here()), ref)


def test_misaligned_rows_are_refused(small_tiles):
    x = pt.random_points(200, 3, rng=0)
    with pytest.raises(ValueError, match="aligned"):
        attention_rows(x, x, x, 1.0, 10, 74, plan=Plan.here())


# --- a real LocalCluster -------------------------------------------------------------------------
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


@pytest.mark.parametrize("name", ["identity", "heads", "ffn", "identity-causal"])
def test_cluster_velocity_is_the_local_one_bit_for_bit(client, small_tiles, monkeypatch, name):
    from particles.field.dask import DaskField

    _one_thread(monkeypatch)
    dyn = DYNAMICS[name]
    x = pt.random_points(400, 8, rng=4)
    with config.blas_threads(1):
        ref = pt.velocity(x, dyn)
        ref_raw = pt.velocity(x, dyn, project=False)
    fld = DaskField(client)
    assert len(fld.blocks(400, 8, dyn, Plan.here())) >= 4
    np.testing.assert_array_equal(pt.velocity(x, dyn, scheduler=fld), ref)
    np.testing.assert_array_equal(pt.velocity(x, dyn, scheduler=client, project=False), ref_raw)


def test_workers_use_the_requesters_tiling(client, small_tiles, monkeypatch):
    """Workers with other tile settings still repeat the tiles of the machine that asked."""
    from tests.dask_field_helpers import configure

    _one_thread(monkeypatch)
    client.run(configure, {"TILE_ROWS": 256, "TILE_GRAM": 512, "TILE_COLS": 4096})
    try:
        dyn = DYNAMICS["q=k"]
        x = pt.random_points(300, 8, rng=5)
        with config.blas_threads(1):
            ref = pt.velocity(x, dyn)
        np.testing.assert_array_equal(pt.velocity(x, dyn, scheduler=client), ref)
    finally:
        client.run(configure, {"TILE_ROWS": 256, "TILE_GRAM": 512, "TILE_COLS": 4096})


def test_cluster_simulation_is_the_local_one_bit_for_bit(
    client, small_tiles, monkeypatch, tmp_path
):
    _one_thread(monkeypatch)
    x0 = pt.random_points(300, 4, rng=6)
    dyn = pt.Dynamics(beta=2.0)
    kw = dict(method="rk4", dt=0.1, save_at=np.linspace(0, 1, 6))
    with config.blas_threads(1):
        ref = pt.simulate(x0, dyn, 1.0, **kw)
    got = pt.simulate(x0, dyn, 1.0, scheduler=client, checkpoint=tmp_path / "r.zarr", **kw)
    np.testing.assert_array_equal(np.asarray(got.x), ref.x)
    ada = pt.simulate(x0, dyn, 0.5, method="RK45", rtol=1e-6, atol=1e-8, scheduler=client)
    with config.blas_threads(1):
        ada_ref = pt.simulate(x0, dyn, 0.5, method="RK45", rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(ada.x, ada_ref.x)


def test_a_killed_worker_loses_nothing(client, small_tiles, monkeypatch, tmp_path):
    """A block SIGKILLs its worker process mid-run (its 7th block, i.e. during the 2nd evaluation):
    Dask reruns the lost blocks on the other worker, the nanny restarts the dead one, and the run
    finishes with the local trajectory, bit for bit."""
    from particles.field.dask import DaskField
    from tests.dask_field_helpers import install_killer, restore

    _one_thread(monkeypatch)
    marker = tmp_path / "killed"
    pids = set(client.run(install_killer, str(marker), 7).values())
    x0 = pt.random_points(400, 4, rng=8)
    dyn = pt.Dynamics(beta=1.0)
    kw = dict(method="rk4", dt=0.1, save_at=np.linspace(0, 0.6, 4))
    with config.blas_threads(1):
        ref = pt.simulate(x0, dyn, 0.6, **kw)
    fld = DaskField(client)
    got = pt.simulate(x0, dyn, 0.6, scheduler=fld, **kw)
    assert marker.exists() and int(marker.read_text()) in pids  # a worker really was killed
    np.testing.assert_array_equal(got.x, ref.x)
    assert fld.evaluations == got.stats["nfev"]
    client.wait_for_workers(2, timeout=60)  # the nanny brought it back
    client.run(restore)


def test_a_failed_evaluation_is_sent_again(client, small_tiles, monkeypatch, tmp_path):
    """Ten block failures: each of the 5 blocks fails, and fails again when Dask retries it, so
    the evaluation fails and is sent again, with the same result."""
    from particles.field.dask import DaskField
    from tests.dask_field_helpers import install_flaky, restore

    _one_thread(monkeypatch)
    x = pt.random_points(300, 4, rng=9)
    dyn = pt.Dynamics(beta=1.0)
    with config.blas_threads(1):
        ref = pt.velocity(x, dyn)
    client.run(install_flaky, str(tmp_path), 10)
    try:
        fld = DaskField(client, block_rows=64)
        assert len(fld.blocks(300, 4, dyn, Plan.here())) == 5
        got = fld.velocity(x, dyn)
        assert fld.resubmitted == 1 and len(list(tmp_path.glob("fail*"))) == 10
        np.testing.assert_array_equal(got, ref)
        (tmp_path / "more").mkdir()
        client.run(install_flaky, str(tmp_path / "more"), 50)  # fails more often than retries
        with pytest.raises(ParticlesError, match="failed 2 times"):
            DaskField(client, retries=1).velocity(x, dyn)
    finally:
        client.run(restore)


def test_local_scheduler_and_the_cli(tmp_path):
    """scheduler="local" starts (and closes) a LocalCluster; `simulate --scheduler local` too."""
    pytest.importorskip("distributed")
    from click.testing import CliRunner

    from particles.cli.main import main

    out = tmp_path / "r.npz"
    args = ["simulate", "--n", "40", "--d", "3", "--t-end", "0.5", "--saves", "3", "--quiet"]
    res = CliRunner().invoke(
        main, [*args, "--out", str(out), "--scheduler", "local", "--workers", "1"]
    )
    assert res.exit_code == 0, res.output
    ref = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "l.npz")])
    assert ref.exit_code == 0
    a, b = pt.Trajectory.load(out), pt.Trajectory.load(tmp_path / "l.npz")
    np.testing.assert_allclose(a.x, b.x, rtol=0, atol=1e-14)


def test_unreachable_scheduler_is_a_clean_error(monkeypatch):
    pytest.importorskip("distributed")
    from particles.field import dask as D

    monkeypatch.setattr(D, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ParticlesError, match="cannot reach the Dask scheduler"):
        pt.velocity(
            pt.random_points(5, 3, rng=0), pt.Dynamics(beta=1.0), scheduler="tcp://127.0.0.1:1"
        )
    with pytest.raises(ParticlesError, match="scheduler must be"):
        pt.velocity(pt.random_points(5, 3, rng=0), pt.Dynamics(beta=1.0), scheduler=3)


@pytest.mark.parametrize("norm", ["pre", "peri", "ngpt"])
def test_cluster_drift_of_the_normalisation_schemes(client, small_tiles, monkeypatch, norm):
    _one_thread(monkeypatch)
    dyn = pt.Dynamics(beta=2.0, norm=norm)
    h = pt.random_points(300, 4, rng=10) * np.linspace(0.5, 2.0, 300)[:, None]
    with config.blas_threads(1):
        ref = pt.drift(h, dyn)
    np.testing.assert_array_equal(pt.drift(h, dyn, scheduler=client), ref)


def test_cluster_noisy_simulation_is_the_local_one(client, small_tiles, monkeypatch):
    """A noisy run (fixed summation order, seeded) gives the local path on the cluster too."""
    dyn = pt.Dynamics(beta=2.0, kappa=4.0)
    x0 = pt.random_points(300, 4, rng=12)
    kw = dict(method="euler-maruyama", dt=0.1, save_at=np.linspace(0, 0.5, 3), rng=5)
    with config.blas_threads(1):
        ref = pt.simulate(x0, dyn, 0.5, **kw)
    got = pt.simulate(x0, dyn, 0.5, scheduler=client, **kw)
    np.testing.assert_array_equal(got.x, ref.x)
