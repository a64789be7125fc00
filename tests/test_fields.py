"""The tiled attention field against the plain-numpy references (tests/naive.py).

Covers both paths of :func:`particles.field.attention` (the symmetric Gram path for k is q and the
online-softmax path), single- and multi-threaded task layouts, tile boundaries, masks, heads,
large beta, the float32 option, and the polynomial exponentials.
"""

import numpy as np
import pytest

import particles as pt
from particles import config
from particles.field import inputs as fields
from particles.field import kernels
from tests import naive
from tests.naive import attention_naive, velocity_naive

TOL = 1e-10


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request, monkeypatch):
    """Run with one thread, and with two threads even for tiny inputs (task layout exercised)."""
    monkeypatch.setattr(config, "THREADS", request.param)
    monkeypatch.setattr(config, "THREADED_MIN_WORK", 0)
    return request.param


# --- the exponentials ------------------------------------------------------------------------------
def test_exp_row_matches_numpy_over_its_range():
    x = np.concatenate([np.linspace(-708.0, 709.0, 200_001), [0.0, -1e-300, 1e-300, -0.5, 0.5]])
    out = np.empty_like(x)
    kernels._exp_array(x, out)
    assert np.max(np.abs(out / np.exp(x) - 1.0)) < 1e-15
    below = np.array([-708.5, -745.0, -1e4, -np.inf])
    out = np.empty_like(below)
    kernels._exp_array(below, out)
    assert np.all(out == 0.0)  # clamped: no denormals


@pytest.mark.parametrize("dtype, tol, lo", [(np.float64, 1e-15, -708.0), (np.float32, 2e-7, -87.0)])
def test_shifted_exp_row_matches_numpy(dtype, tol, lo):
    x = np.linspace(lo, 0.0, 100_003).astype(dtype)
    row = x.copy()
    buf = np.empty_like(row)
    fn = kernels._exp_shift_row
    fn(row, row.size, 1.0, 0.0, np.empty(0, dtype), buf)
    ref = np.exp(x.astype(np.float64))
    assert row.dtype == dtype
    assert np.max(np.abs(row / ref - 1.0)) < tol
    row = np.array([lo - 1.0, lo - 100.0], dtype)
    fn(row, 2, 1.0, 0.0, np.empty(0, dtype), np.empty_like(row))
    assert np.all(row == 0.0)


# --- tile kernels against their references ---------------------------------------------------------
@pytest.mark.parametrize("variant", ["parallel", "serial"])
@pytest.mark.parametrize("causal, diag", [(False, 0), (True, 0), (True, 5), (True, -3)])
def test_exp_shift_tile(variant, causal, diag):
    rng = np.random.default_rng(1)
    s = rng.uniform(-1, 1, (37, 53))
    ci, cj = rng.uniform(0, 2, 37), rng.uniform(0, 2, 53)
    ref = naive._exp_shift_tile(s, 2.0, ci, cj, diag, causal)
    kern = kernels._exp_shift_tile if variant == "parallel" else kernels._exp_shift_tile.serial
    kern(s, 2.0, ci, cj, diag, causal)
    assert np.max(np.abs(s - ref)) < 1e-15
    assert np.all(s[ref == 0.0] == 0.0)


@pytest.mark.parametrize("variant", ["parallel", "serial"])
@pytest.mark.parametrize("causal, diag", [(False, 0), (True, 0), (True, -40)])
@pytest.mark.parametrize("beta", [0.0, 3.0, -2.0])
def test_softmax_tile(variant, causal, diag, beta):
    rng = np.random.default_rng(2)
    s = rng.uniform(-1, 1, (29, 64))
    m = np.where(rng.random(29) < 0.5, -np.inf, rng.uniform(-1, 1, 29))
    w, m_new, alpha, z = naive._softmax_tile(s, beta, diag, causal, m.copy(), None, None)
    got_alpha, got_z = np.empty(29), np.empty(29)
    kern = kernels._softmax_tile if variant == "parallel" else kernels._softmax_tile.serial
    kern(s, beta, diag, causal, m, got_alpha, got_z)
    assert np.max(np.abs(got_z - z)) < 1e-13
    assert np.max(np.abs(s - w)) < 1e-15
    np.testing.assert_array_equal(np.isfinite(m), np.isfinite(m_new))
    fin = np.isfinite(m_new)
    assert np.max(np.abs(m[fin] - m_new[fin]), initial=0.0) < 1e-15
    assert np.max(np.abs(got_alpha - alpha)) < 1e-15


# --- attention: both paths, tile boundaries, masks --------------------------------------------------
def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(6))
def test_attention_matches_naive(seed, threads):
    rng = np.random.default_rng(seed)
    for _ in range(6):
        n = int(rng.choice([1, 2, 3, 7, 64, 129, 300]))
        m = n if rng.random() < 0.5 else int(rng.integers(1, 200))
        dk, dv = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        beta = float(rng.choice([0.0, 0.5, 1.0, 9.0, 100.0]))
        normalize = bool(rng.random() < 0.6)
        same = m == n and rng.random() < 0.6
        causal = m == n and rng.random() < 0.4
        q = rng.standard_normal((n, dk))
        if beta >= 9:  # keep beta <q, k> moderate, as on the sphere, so USA values stay finite
            q = _unit(q)
        k = (
            q
            if same
            else (
                _unit(rng.standard_normal((m, dk))) if beta >= 9 else rng.standard_normal((m, dk))
            )
        )
        v = rng.standard_normal((m, dv))
        tr, tc = int(rng.integers(1, 40)), int(rng.integers(1, 50))
        ref = attention_naive(q, k, v, beta, normalize, causal)
        got = fields.attention(
            q, k, v, beta, normalize=normalize, causal=causal, tile_rows=tr, tile_cols=tc
        )
        assert got.shape == (n, dv)
        assert _rel(got, ref) < TOL, (n, m, dk, dv, beta, normalize, same, causal, tr, tc)


@pytest.mark.parametrize("same", [True, False], ids=["gram", "online"])
@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_tile_boundaries(same, kind, causal, threads):
    """n one off a multiple of the tile sizes, and exactly a multiple."""
    rng = np.random.default_rng(3)
    for n in (47, 48, 49, 97):
        q = _unit(rng.standard_normal((n, 5)))
        k = q if same else _unit(rng.standard_normal((n, 5)))
        v = rng.standard_normal((n, 3))
        ref = attention_naive(q, k, v, 4.0, kind == "SA", causal)
        got = fields.attention(
            q, k, v, 4.0, normalize=kind == "SA", causal=causal, tile_rows=16, tile_cols=24
        )
        assert _rel(got, ref) < TOL


def test_attention_adds_into_out():
    rng = np.random.default_rng(4)
    q, v = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    out = np.ones((20, 2))
    fields.attention(q, q, v, 1.0, out=out)
    assert _rel(out, 1.0 + attention_naive(q, q, v, 1.0)) < TOL


def test_gram_path_falls_back_when_norms_spread():
    """beta * spread of |q|^2 / 2 beyond GRAM_SPREAD_MAX: the online path gives the exact answer."""
    rng = np.random.default_rng(5)
    q = rng.standard_normal((50, 4))
    q[:25] *= 0.01
    q[25:] = 10.0 * _unit(q[25:])
    v = rng.standard_normal((50, 3))
    beta = 20.0  # spread = 20 * (100 - 1e-4) / 2 = 1000 > 600
    got = fields.attention(q, q, v, beta)
    assert np.all(np.isfinite(got))
    assert _rel(got, attention_naive(q, q, v, beta)) < TOL


def test_large_beta_does_not_overflow(threads):
    x = pt.random_points(300, 4, 6)
    for kind in ("SA", "USA"):
        dyn = pt.Dynamics(beta=100.0, kind=kind)
        got = pt.velocity(x, dyn)
        assert np.all(np.isfinite(got))
        assert _rel(got, velocity_naive(x, 100.0, kind)) < TOL
    y = pt.random_points(300, 4, 7)  # general weights: logits up to beta |Q^T K| = 300
    dyn = pt.Dynamics(beta=100.0, Q=np.eye(4), K=np.eye(4) * 3.0)
    assert _rel(pt.velocity(y, dyn), velocity_naive(y, 100.0, Q=np.eye(4), K=np.eye(4) * 3.0)) < TOL


# --- the velocity: heads, general weights, masks, feed-forward ---------------------------------------
def _random_dynamics(rng, d):
    H = int(rng.integers(1, 4))
    dk = int(rng.integers(1, d + 2))
    kind = str(rng.choice(["SA", "USA"]))
    choice = int(rng.integers(0, 4))
    if choice == 0:
        Q = K = None
    elif choice == 1:  # Q = K: Gram path through array_equal
        Q = rng.standard_normal((H, dk, d)) / np.sqrt(d)
        K = Q.copy()
    else:
        Q = rng.standard_normal((H, dk, d)) / np.sqrt(d)
        K = rng.standard_normal((H, dk, d)) / np.sqrt(d)
    V = [None, -1.0, 0.5, rng.standard_normal((H, d, d))][int(rng.integers(0, 4))]
    return dict(
        beta=float(rng.choice([0.0, 1.0, 4.0, 9.0])),
        kind=kind,
        Q=Q,
        K=K,
        V=V,
        causal=bool(rng.random() < 0.3),
    )


@pytest.mark.parametrize("seed", range(8))
def test_velocity_matches_naive(seed, threads):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.choice([1, 2, 5, 33, 130]))
    d = int(rng.integers(2, 7))
    x = pt.random_points(n, d, rng)
    p = _random_dynamics(rng, d)
    dyn = pt.Dynamics(**p)
    got = pt.velocity(x, dyn)
    ref = velocity_naive(x, **p)
    assert got.dtype == np.float64
    assert np.abs(got - ref).max() < TOL * max(1.0, np.abs(ref).max())
    assert np.abs(np.sum(got * x, axis=1)).max() < 1e-12 * max(1.0, np.abs(got).max())


def test_velocity_with_feedforward():
    rng = np.random.default_rng(7)
    d, m = 4, 6
    W1, b1, W2, b2 = (
        rng.standard_normal((m, d)),
        rng.standard_normal(m),
        rng.standard_normal((d, m)),
        rng.standard_normal(d),
    )
    x = pt.random_points(40, d, 8)
    for act in ("relu", "gelu", "tanh"):
        ffn = pt.FeedForward(W1=W1, b1=b1, W2=W2, b2=b2, activation=act)
        got = pt.velocity(x, pt.Dynamics(beta=2.0, ffn=ffn))
        ref = velocity_naive(x, 2.0, ffn=(W1, b1, W2, b2, act))
        assert _rel(got, ref) < TOL


def test_one_and_two_particles():
    for d in (2, 3):
        x = pt.random_points(1, d, 0)
        assert np.abs(pt.velocity(x, pt.Dynamics(beta=1.0))).max() < 1e-15  # only itself
        x = pt.random_points(2, d, 1)
        for kind in ("SA", "USA"):
            ref = velocity_naive(x, 1.5, kind)
            assert _rel(pt.velocity(x, pt.Dynamics(beta=1.5, kind=kind)), ref) < TOL


def test_threads_agree():
    """The two-thread task layout sums the same tiles (in another order) as one thread."""
    x = pt.random_points(700, 8, 9)
    dyn = pt.Dynamics(beta=3.0)
    one = pt.velocity(x, dyn)
    old = config.THREADS, config.THREADED_MIN_WORK
    try:
        config.THREADS, config.THREADED_MIN_WORK = 2, 0
        two = pt.velocity(x, dyn)
    finally:
        config.THREADS, config.THREADED_MIN_WORK = old
    assert np.abs(one - two).max() < 1e-13


# --- float32 option ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_float32_velocity(seed, threads):
    rng = np.random.default_rng(200 + seed)
    n, d = int(rng.choice([1, 3, 64, 257])), int(rng.integers(2, 9))
    x = pt.random_points(n, d, rng)
    p = _random_dynamics(rng, d)
    p["beta"] = float(rng.choice([1.0, 9.0, 100.0]))
    if p["beta"] == 100.0:
        p.update(Q=None, K=None, V=None)
    got = pt.velocity(x, pt.Dynamics(**p), dtype=np.float32)
    ref = velocity_naive(x, **p)
    assert got.dtype == np.float32
    assert np.all(np.isfinite(got))
    # exponent rounding: beta * |logit| * eps32; then a sum of n terms
    tol = 2e-6 * max(1.0, p["beta"]) * np.sqrt(max(n, 1))
    assert np.abs(got - ref).max() <= tol * max(1.0, np.abs(ref).max())


def test_float32_attention_dtype_follows_inputs():
    rng = np.random.default_rng(10)
    q = rng.standard_normal((30, 4)).astype(np.float32)
    v = rng.standard_normal((30, 2)).astype(np.float32)
    got = fields.attention(q, q, v, 1.0)
    assert got.dtype == np.float32
    assert _rel(got, attention_naive(q.astype(float), q.astype(float), v.astype(float), 1.0)) < 1e-5
    assert fields.attention(q, q, v.astype(np.float64), 1.0).dtype == np.float64


@pytest.mark.parametrize("bad", ["float16", np.int64, "complex128", "nonsense"])
def test_bad_dtype(bad):
    with pytest.raises(pt.ParticlesError, match="dtype"):
        pt.velocity(pt.random_points(4, 3, 0), pt.Dynamics(), dtype=bad)


def test_velocity_rejects_non_dynamics():
    with pytest.raises(pt.ParticlesError):
        pt.velocity(pt.random_points(4, 3, 0), object())


def test_threads_without_controllable_blas(monkeypatch):
    """With a BLAS whose threads cannot be limited, tiles run in turn and the answer is the same."""
    monkeypatch.setattr(config, "_blas", [])
    monkeypatch.setattr(config, "THREADS", 2)
    monkeypatch.setattr(config, "THREADED_MIN_WORK", 0)
    x = pt.random_points(200, 5, 11)
    for dyn in (pt.Dynamics(beta=2.0), pt.Dynamics(beta=2.0, Q=np.eye(5), K=2 * np.eye(5))):
        ref = velocity_naive(x, 2.0, Q=dyn.Q, K=dyn.K)
        assert _rel(pt.velocity(x, dyn), ref) < TOL


def test_blas_threads_context_restores():
    with config.blas_threads(1) as b:
        inside = [get() for get, _ in config._blas]
    after = [get() for get, _ in config._blas]
    if b.ok:
        assert all(v == 1 for v in inside)
        assert after == [old for _, old in b.saved]


def test_serial_twins_are_distinct_in_the_disk_cache(tmp_path):
    """numba's cache is keyed by qualified name and signature, not flags: each serial twin must have
    its own name, or a process that finds the parallel code cached would run it from several threads
    (the workqueue layer aborts). Run the threaded field twice in fresh processes sharing one cache."""
    import subprocess
    import sys

    from particles.field import kernels

    for name in dir(kernels):
        k = getattr(kernels, name)
        if hasattr(k, "serial"):
            assert k.serial.py_func.__qualname__ == k.py_func.__qualname__ + "_serial"
            assert not k.serial.targetoptions.get("parallel")
    code = (
        "import numpy as np, particles as pt\n"
        "x = pt.random_points(3000, 3, 0)\n"
        "v = pt.velocity(x, pt.Dynamics(beta=1.0))\n"
        "w = pt.velocity(x, pt.Dynamics(beta=1.0, Q=np.eye(3), K=2 * np.eye(3)))\n"
        "print('ok', np.isfinite(v).all() and np.isfinite(w).all())\n"
    )
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    for _ in range(2):
        r = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
        )
        assert r.returncode == 0 and "ok True" in r.stdout, r.stderr[-2000:]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("causal", [False, True])
def test_bounded_and_online_paths_agree(threads, dtype, normalize, causal):
    """q != k: the one-pass path with the Cauchy-Schwarz shift c_i = |beta| |q_i| max|k_j| and the
    online softmax give the same field, and both match the reference; negative beta included."""
    rng = np.random.default_rng(11)
    q = (0.5 * rng.standard_normal((70, 5))).astype(dtype)
    k = (0.5 * rng.standard_normal((90, 5))).astype(dtype)
    v = rng.standard_normal((90, 3)).astype(dtype)
    tol = TOL if dtype == np.float64 else 2e-5
    for beta in (2.0, -1.5):
        c = abs(beta) * np.sqrt((k.astype(float) ** 2).sum(1).max()) * np.linalg.norm(q, axis=1)
        assert 2 * c.max() < fields.BOUND_SPAN_MAX[dtype]  # fields.attention takes the bounded path
        kw = dict(tr=32, tc=40)  # several row and column tiles
        args = (q, k, v, beta, normalize, causal)
        online = fields._attention_online(*args, np.zeros((70, 3), dtype), **kw)
        bounded = fields._attention_online(*args, np.zeros((70, 3), dtype), **kw, shift=c)
        ref = attention_naive(
            q.astype(float), k.astype(float), v.astype(float), beta, normalize, causal
        )
        assert bounded.dtype == dtype
        assert _rel(bounded, ref) < tol and _rel(online, ref) < tol
        got = fields.attention(q, k, v, beta, normalize=normalize, causal=causal)
        assert _rel(got, ref) < tol


def test_bounded_path_gives_way_to_online_when_the_bound_is_loose():
    """2 max c_i beyond BOUND_SPAN_MAX (the shifted row maximum could underflow): online softmax."""
    rng = np.random.default_rng(12)
    q = 30.0 * _unit(rng.standard_normal((40, 4)))
    k = _unit(rng.standard_normal((50, 4)))
    v = rng.standard_normal((50, 2))
    beta = 20.0  # 2 * 20 * 30 * 1 = 1200 > 600
    got = fields.attention(q, k, v, beta)
    assert np.all(np.isfinite(got)) and _rel(got, attention_naive(q, k, v, beta)) < TOL
