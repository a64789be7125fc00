"""Factored value maps O_h V_h (``Dynamics(V=..., O=...)``): the field in d_v dimensions, every
head in one pass, against the dense value maps and a plain-numpy twin.

Tolerances: float64 results agree with the dense form to 1e-13 relative (measured ~1e-15);
float32 to 2e-5 relative (eps32 = 1.2e-7 times the sums over n and d).
"""

import numpy as np
import pytest

import particles as pt
from particles import config
from particles.errors import ParticlesError
from particles.field import fixed_order, stable, velocity_rows
from particles.field.rows import Plan, alignment, attention_field_rows

N, D, H, DK = 150, 8, 3, 4
RNG = np.random.default_rng(24)
Q3 = RNG.standard_normal((H, DK, D)) / 2
K3 = RNG.standard_normal((H, DK, D)) / 2
#: d_v = 5 > d / 2: the dense product O_h V_h is not factored, so it takes the dense path
VW = RNG.standard_normal((H, 5, D)) / 2
OW = RNG.standard_normal((H, D, 5)) / 2
#: d_v = 3 <= d / 2
VL = RNG.standard_normal((H, 3, D)) / 2
OL = RNG.standard_normal((H, D, 3)) / 2


def pair(**kw):
    """(factored, dense) dynamics with the same value maps O_h V_h, d_v = 5 (dense not factored)."""
    fac = pt.Dynamics(Q=Q3, K=K3, V=VW, O=OW, **kw)
    dense = pt.Dynamics(Q=Q3, K=K3, V=OW @ VW, **kw)
    assert fac.factored and not dense.factored
    return fac, dense


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def naive_raw(x, Q, K, V, O, beta, kind, causal):
    """The plain-numpy twin: sum_h softmax(beta q k^T) x V_h^T O_h^T, the whole n x n matrix."""
    n = x.shape[0]
    out = np.zeros_like(x)
    for h in range(len(V)):
        s = beta * (x @ Q[h].T) @ (x @ K[h].T).T
        if causal:
            s = np.where(np.tri(n) > 0, s, -np.inf)
        m = s.max(axis=1, keepdims=True)
        w = np.exp(s - m)
        w = w / w.sum(axis=1, keepdims=True) if kind == "SA" else w * np.exp(m) / n
        out += (w @ (x @ V[h].T)) @ O[h].T
    return out


X = pt.random_points(N, D, rng=5)


# --- the field ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("causal", [False, True])
def test_factored_is_the_dense_field(kind, causal):
    fac, dense = pair(beta=1.5, kind=kind, causal=causal)
    for project in (True, False):
        a = pt.velocity(X, fac, project=project)
        b = pt.velocity(X, dense, project=project)
        assert rel(a, b) <= 1e-13


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("causal", [False, True])
def test_factored_is_the_numpy_twin(kind, causal):
    dyn = pt.Dynamics(beta=2.0, Q=Q3, K=K3, V=VL, O=OL, kind=kind, causal=causal)
    got = pt.velocity(X, dyn, project=False)
    assert rel(got, naive_raw(X, Q3, K3, VL, OL, 2.0, kind, causal)) <= 1e-13


@pytest.mark.parametrize(
    "name,kw",
    [
        ("shared V, O", dict(V=VL[0], O=OL[0])),  # 2-D maps shared by the heads of Q, K
        ("one head", dict(Q=Q3[0], K=K3[0], V=VL[0], O=OL[0])),
        ("identity Q = K (Gram path)", dict(Q=None, K=None, V=VL, O=OL)),
        ("Q = K", dict(Q=Q3, K=Q3, V=VL, O=OL)),
        ("Q = I, K general", dict(Q=None, K=RNG.standard_normal((H, D, D)) / 3, V=VL, O=OL)),
    ],
)
def test_factored_shapes_and_paths(name, kw):
    kw = {"Q": Q3, "K": K3, **kw}
    dyn = pt.Dynamics(beta=1.0, **kw)
    Hs = dyn.heads
    pick = lambda a, h: np.eye(D) if a is None else (a[h] if a.ndim == 3 else a)  # noqa: E731
    Q = [pick(kw["Q"], h) for h in range(Hs)]
    K = [pick(kw["K"], h) for h in range(Hs)]
    V = [pick(kw["V"], h) for h in range(Hs)]
    O = [pick(kw["O"], h) for h in range(Hs)]
    for causal in (False, True):
        d = dyn.replace(causal=causal)
        ref = naive_raw(X, Q, K, V, O, 1.0, "SA", causal)
        assert rel(pt.velocity(X, d, project=False), ref) <= 1e-13


def test_threads_and_tiles_give_the_same_field(monkeypatch):
    """Several row tiles, several column tiles, two threads: the same bits as one thread."""
    fac, dense = pair(beta=1.0)
    monkeypatch.setattr(config, "TILE_ROWS", 32)
    monkeypatch.setattr(config, "TILE_COLS", 48)
    monkeypatch.setattr(config, "THREADED_MIN_WORK", 0)
    with fixed_order():
        monkeypatch.setattr(config, "THREADS", 1)
        one = pt.velocity(X, fac)
        monkeypatch.setattr(config, "THREADS", 2)
        two = pt.velocity(X, fac)
    np.testing.assert_array_equal(one, two)
    assert rel(one, pt.velocity(X, dense)) <= 1e-13


def test_float32():
    fac, dense = pair(beta=1.0)
    a = pt.velocity(X, fac, dtype=np.float32)
    assert a.dtype == np.float32
    assert rel(a.astype(np.float64), pt.velocity(X, dense)) <= 2e-5


@pytest.mark.parametrize("norm", ["post", "pre", "peri", "ngpt", "mix", "lns"])
def test_every_normalisation_scheme(norm):
    extra = {"mix": dict(t_switch=0.5), "ngpt": dict(alpha=0.7)}.get(norm, {})
    fac, dense = pair(beta=1.0, norm=norm, **extra)
    h = X * np.linspace(0.5, 2.0, N)[:, None] if norm in ("pre", "peri") else X
    for t in (0.0, 1.0):
        assert rel(pt.drift(h, fac, t=t), pt.drift(h, dense, t=t)) <= 1e-13


def test_noise():
    """Same seed, same noise: the noisy paths of the factored and dense forms agree."""
    fac, dense = pair(beta=1.0, kappa=20.0)
    x0 = X[:40]
    kw = dict(dt=0.05, save_at=[0.0, 0.5], rng=3)
    a = pt.simulate(x0, fac, 0.5, **kw)
    b = pt.simulate(x0, dense, 0.5, **kw)
    assert a.meta["noise_seed"] == b.meta["noise_seed"]
    assert rel(a.x[-1], b.x[-1]) <= 1e-12


def test_feedforward_and_a_simulation():
    ffn = pt.FeedForward(
        W1=RNG.standard_normal((6, D)), b1=RNG.standard_normal(6), W2=RNG.standard_normal((D, 6))
    )
    fac, dense = pair(beta=1.0, ffn=ffn)
    assert rel(pt.velocity(X, fac), pt.velocity(X, dense)) <= 1e-13
    a = pt.simulate(X[:30], fac, 1.0, dt=0.1, save_at=[0.0, 1.0])
    b = pt.simulate(X[:30], dense, 1.0, dt=0.1, save_at=[0.0, 1.0])
    assert rel(a.x[-1], b.x[-1]) <= 1e-12


def test_velocity_rows_and_the_log_domain_repair():
    fac, dense = pair(beta=1.0, kind="USA")
    rows = [0, 7, 149]
    assert rel(velocity_rows(X, fac, rows), velocity_rows(X, dense, rows)) <= 1e-13
    for project in (True, False):
        ga, La = stable.field_rows(X, fac, rows, project=project)
        gb, Lb = stable.field_rows(X, dense, rows, project=project)
        assert rel(np.exp(La)[:, None] * ga, np.exp(Lb)[:, None] * gb) <= 1e-13


@pytest.mark.parametrize("beta", [1.0, 300.0])
def test_repaired_rows_are_the_dense_ones(beta):
    """Rows that the tiled evaluation lost (here: set to inf) are evaluated again in the log
    domain, with the output maps applied there too."""
    fac, dense = pair(beta=beta, kind="USA")
    x = X[:20]
    out = {}
    for name, dyn in (("fac", fac), ("dense", dense)):
        v = pt.velocity(x, dyn)
        v[[3, 11]] = np.inf
        out[name] = stable.repaired(x, dyn, v.copy(), v)
    assert np.all(np.isfinite(out["fac"]))
    assert rel(out["fac"], out["dense"]) <= 1e-13
    assert rel(out["fac"], pt.velocity(x, fac)) <= 1e-13


# --- Dask row blocks --------------------------------------------------------------------------
@pytest.fixture
def small_tiles(monkeypatch):
    monkeypatch.setattr(config, "TILE_ROWS", 32)
    monkeypatch.setattr(config, "TILE_COLS", 96)
    monkeypatch.setattr(config, "TILE_GRAM", 64)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "kw",
    [
        dict(Q=Q3, K=K3, V=VL, O=OL),
        dict(Q=Q3, K=K3, V=VL, O=OL, causal=True, kind="USA"),
        dict(Q=Q3, K=Q3, V=VL, O=OL),  # Gram heads
        dict(Q=Q3, K=K3, V=OL @ VL),  # a dense V of low rank, factored
    ],
    ids=["online", "causal-usa", "gram", "low-rank-dense"],
)
def test_row_blocks_are_the_local_field_bit_for_bit(small_tiles, monkeypatch, threads, dtype, kw):
    from particles.field.dask import finish

    monkeypatch.setattr(config, "THREADS", threads)
    monkeypatch.setattr(config, "THREADED_MIN_WORK", 0)
    dyn = pt.Dynamics(beta=1.0, **kw)
    assert dyn.factored
    x = pt.random_points(300, D, rng=1).astype(dtype)
    ref = pt.velocity(x, dyn, dtype=dtype)
    plan = Plan.here()
    a = alignment(300, D, dyn, plan)
    blocks = [(r0, min(300, r0 + a)) for r0 in range(0, 300, a)]
    assert len(blocks) >= 3
    f = np.concatenate([attention_field_rows(x, dyn, r0, r1, plan) for r0, r1 in blocks])
    got = finish(x, f, dyn, True)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


# --- construction, records ------------------------------------------------------------------
def test_low_rank_dense_v_is_factored():
    lo = pt.Dynamics(Q=Q3, K=K3, V=OL @ VL)
    assert lo.factored and lo.d_v == 3 and lo.O is None and lo.V.shape == (H, D, D)
    Vf, Of = lo.value_factors
    assert Vf.shape == (H, 3, D) and Of.shape == (H, D, 3)
    assert rel(Of @ Vf, OL @ VL) <= 1e-14
    # shared 2-D, and ranks that differ by head (r = the largest)
    assert pt.Dynamics(V=OL[0] @ VL[0]).value_factors[0].shape == (3, D)
    mixed = np.stack([OL[0] @ VL[0], OL[1][:, :1] @ VL[1][:1], np.zeros((D, D))])
    assert pt.Dynamics(Q=Q3, K=K3, V=mixed).d_v == 3
    # full rank, or rank above d / 2: dense
    assert not pt.Dynamics(V=RNG.standard_normal((D, D))).factored
    assert not pt.Dynamics(Q=Q3, K=K3, V=OW @ VW).factored
    assert not pt.Dynamics(V=-1.0).factored and not pt.Dynamics().factored
    assert rel(pt.velocity(X, lo), pt.velocity(X, pt.Dynamics(Q=Q3, K=K3, V=VL, O=OL))) <= 1e-13


def test_huge_low_rank_v_stays_dense():
    """Singular values beyond the float range: no factors (never inf or NaN from the SVD)."""
    big = np.full((D, D), 1e308)
    dyn = pt.Dynamics(V=big)
    assert not dyn.factored
    assert pt.Dynamics(V=np.full((D, D), 1e300)).factored


def test_rank_tolerance():
    """Singular values at most d eps s_max are dropped: a perturbation below that is rank-free."""
    V = OL[0] @ VL[0]
    s = np.linalg.svd(V, compute_uv=False)
    u = RNG.standard_normal(D)
    tiny = np.outer(u / np.linalg.norm(u), u / np.linalg.norm(u))
    assert pt.Dynamics(V=V + 0.1 * D * 2.2e-16 * s[0] * tiny).d_v == 3
    assert pt.Dynamics(V=V + 1e-10 * s[0] * tiny).d_v == 4


def test_records_describe_replace_round_trip():
    from particles.storage.records import dynamics_from_record, dynamics_to_record

    fac = pt.Dynamics(beta=2.0, Q=Q3, K=K3, V=VL, O=OL, kind="USA", causal=True)
    assert "O(3, 8, 3)" in fac.describe() and "V(3, 3, 8)" in fac.describe()
    back = dynamics_from_record(*dynamics_to_record(fac))
    assert back.describe() == fac.describe()
    np.testing.assert_array_equal(back.O, fac.O)
    np.testing.assert_array_equal(pt.velocity(X, back), pt.velocity(X, fac))
    r = fac.replace(beta=1.0)
    assert r.factored and r.O is fac.O or np.array_equal(r.O, fac.O)
    # a dense low-rank V is stored dense and factored again to the same bits
    lo = pt.Dynamics(V=OL @ VL, Q=Q3, K=K3)
    meta, arrays = dynamics_to_record(lo)
    assert "O" not in meta
    lo2 = dynamics_from_record(meta, arrays)
    for a, b in zip(lo.value_factors, lo2.value_factors, strict=True):
        np.testing.assert_array_equal(a, b)
    # a dense record has no O: earlier records are unchanged
    assert "O" not in pt.Dynamics(V=OW @ VW, Q=Q3, K=K3).to_record()[0]


def test_head_views():
    fac = pt.Dynamics(Q=Q3, K=K3, V=VL, O=OL)
    q, k, v = fac.head(1)
    np.testing.assert_array_equal(v, OL[1] @ VL[1])
    Vf, Of = fac.head_factors(2)
    assert Vf is not None and np.array_equal(Of, OL[2])
    assert pt.Dynamics().head_factors(0) is None and pt.Dynamics().d_v is None


HOSTILE = [
    ("O without V", dict(O=OL), "needs V"),
    ("O with scalar V", dict(V=2.0, O=OL[0]), "needs V"),
    ("O a scalar", dict(V=VL[0], O=3.0), "scalar"),
    ("O 1-D", dict(V=VL[0], O=np.ones(D)), "matrix"),
    ("O 4-D", dict(V=VL, O=OL[None]), "matrix"),
    ("O empty", dict(V=VL[0], O=np.zeros((D, 0))), "empty|disagree"),
    ("O non-finite", dict(V=VL[0], O=np.where(OL[0] > 0, np.inf, 0.0)), "non-finite"),
    ("O a string", dict(V=VL[0], O="eye"), "O"),
    ("d_v disagrees", dict(V=VL[0], O=OW[0]), "disagree on d_v"),
    ("d disagrees", dict(V=VL[0], O=np.ones((D + 1, 3))), "disagree on d"),
    ("heads of V, O disagree", dict(V=VL[:2], O=OL), "number of heads"),
    ("heads of Q, O disagree", dict(Q=Q3[:2], K=K3[:2], V=VL[0], O=OL), "number of heads"),
    ("V factor without O", dict(V=VL[0]), "square"),
    ("V factor's d != Q's d", dict(Q=Q3, K=K3, V=np.ones((3, D + 1)), O=np.ones((D + 1, 3))), "d"),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_value_maps(case):
    _, kw, match = case
    with pytest.raises(ParticlesError, match=match) as e:
        pt.Dynamics(**kw)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "meta_O,arrays_O", [(5, None), ("array", None), ("identity", None)], ids=str
)
def test_hostile_records(meta_O, arrays_O):
    from particles.storage.records import dynamics_from_record, dynamics_to_record

    meta, arrays = dynamics_to_record(pt.Dynamics(Q=Q3, K=K3, V=VL, O=OL))
    meta["O"] = meta_O
    arrays.pop("dyn_O")
    with pytest.raises(ParticlesError, match="bad dynamics record") as e:
        dynamics_from_record(meta, arrays)
    assert "\n" not in str(e.value)


def test_points_of_another_dimension():
    fac = pt.Dynamics(Q=Q3, K=K3, V=VL, O=OL)
    with pytest.raises(ParticlesError, match="dimension"):
        pt.velocity(pt.random_points(10, D + 1, rng=0), fac)


# --- the transformer bridge -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.transformer_helpers import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


def test_bridge_builds_the_factored_form(tiny):
    """Post-LN layers: V = W^V (H, d_v, d), O = dt W^O_h; the field is the one of the products
    W^O_h W^V_h given dense (of rank d_v = 8 <= d / 2: factored again, by the SVD)."""
    from particles.transformer import bridge
    from particles.transformer.model import load_encoder

    enc = load_encoder(tiny)
    for ffn in (False, True):
        dyn = bridge.layer_dynamics(enc, 1, scale=2.5, dt=0.5, ffn=ffn)
        assert dyn.O is not None and dyn.V.shape == (4, 8, 32) and dyn.O.shape == (4, 32, 8)
        Q, K, V = bridge.head_matrices(enc, 1)
        dense = pt.Dynamics(beta=dyn.beta, Q=Q, K=K, V=0.5 * V, ffn=dyn.ffn)
        z = pt.random_points(40, 32, rng=0)
        assert rel(pt.velocity(z, dyn), pt.velocity(z, dense)) <= 1e-13


@pytest.mark.parametrize("norm", ["rmsnorm", "layernorm"])
def test_pre_ln_bridge_builds_the_factored_form(norm):
    """Pre-LN layers: V = W^V G, O = sqrt(d) P W^O_h; the field is that of the dense value maps
    sqrt(d) P W^O_h W^V_h G."""
    from particles.transformer import bridge
    from tests.test_norms import _pre_ln_encoder

    enc = _pre_ln_encoder(norm)
    dyn = bridge.pre_layer_dynamics(enc, 1, dt=0.7)
    assert dyn.factored and dyn.O is not None and dyn.norm == "pre"
    lw, d, H = enc.layer(1), 16, 4
    Wv, Wo = lw.wv.reshape(H, -1, d), lw.wo.reshape(d, H, -1).transpose(1, 0, 2)
    V = np.sqrt(d) * (Wo @ Wv) * lw.n1_w
    if norm == "layernorm":
        V = (np.eye(d) - 1.0 / d) @ V
    dense = pt.Dynamics(beta=dyn.beta, Q=dyn.Q, K=dyn.K, V=0.7 * V, norm="pre")
    h = pt.random_points(30, d, rng=1) * 3.0
    assert rel(pt.drift(h, dyn), pt.drift(h, dense)) <= 1e-13


def test_an_overflowing_output_map_is_a_clear_error():
    dyn = pt.Dynamics(Q=Q3, K=K3, V=VL * 1e10, O=OL * 1e300)
    with pytest.raises(ParticlesError, match="overflow") as e:
        pt.velocity(X, dyn)
    assert "\n" not in str(e.value)
