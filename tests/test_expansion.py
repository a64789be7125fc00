"""The O(n p) expansion fields on S^1 and S^2 (particles.expansion, issue 13 §3).

Tolerances, and why:

- kernels against their twins in tests/naive.py: 1e-12 relative to the size of the summed terms
  (powers by repeated multiplication carry ~k eps, sums are reordered);
- fields against the naive n x n field: the requested ``tol`` (1e-10, and 1e-6 for a loose run),
  measured as |v_i - v_i^naive| / (|V| * total weight of row i) — the quantity ``tol`` bounds — and,
  with tol = 1e-13, at 1e-12;
- ``method="auto"`` where the expansion does not apply or is not faster: bit-identical to "exact".
"""

import numpy as np
import pytest

import particles as pt
from particles import expansion, kernels
from particles.errors import ParticlesError
from particles.field import velocity_rows
from tests import naive

pytest.importorskip("ducc0")


def _clustered(n, d, rng, spread=1e-3, isolated=3):
    """Three tight clusters and a few isolated particles (small Z_i: the rows the repair is for)."""
    c = pt.random_points(3, d, rng=rng)
    x = c[rng.integers(0, 3, n)] + spread * rng.standard_normal((n, d))
    x[:isolated] = -c[0] + 0.3 * rng.standard_normal((isolated, d))
    return x / np.linalg.norm(x, axis=1)[:, None]


def _weight_scale(x, beta, kind):
    """Total attention weight of each row (1 for SA; Z_i / n for USA): what ``tol`` is relative to."""
    if kind == "SA":
        return np.ones(x.shape[0])
    return np.exp(beta * (x @ x.T)).sum(axis=1) / x.shape[0]


# --- kernels against their twins --------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 50, 700])
@pytest.mark.parametrize("variant", ["parallel", "serial"])
def test_s1_moments_kernel(n, variant):
    rng = np.random.default_rng(n)
    th = rng.uniform(0, 2 * np.pi, n)
    c, s = np.cos(th), np.sin(th)
    p, chunks, B = 9, 3, kernels.CIRCLE_BLOCK
    acc_re = np.full((chunks, p + 1, B), np.nan)
    acc_im = np.full((chunks, p + 1, B), np.nan)
    kern = kernels._s1_moments if variant == "parallel" else kernels._s1_moments.serial
    kern(c, s, p, chunks, acc_re, acc_im)
    want_re, want_im = naive._s1_moments(c, s, p, chunks, acc_re, acc_im)
    np.testing.assert_allclose(acc_re, want_re, rtol=0, atol=1e-12 * max(1, n))
    np.testing.assert_allclose(acc_im, want_im, rtol=0, atol=1e-12 * max(1, n))


@pytest.mark.parametrize("n", [1, 2, 7, 50, 700])
@pytest.mark.parametrize("variant", ["parallel", "serial"])
def test_s1_sums_kernel(n, variant):
    rng = np.random.default_rng(10 + n)
    th = rng.uniform(0, 2 * np.pi, n)
    c, s = np.cos(th), np.sin(th)
    coef = rng.standard_normal((13, 6))
    G = np.full(n, np.nan)
    N = np.full((n, 2), np.nan)
    kern = kernels._s1_sums if variant == "parallel" else kernels._s1_sums.serial
    kern(c, s, coef, G, N)
    want_G, want_N = naive._s1_sums(c, s, coef, G, N)
    scale = np.abs(coef).sum()
    np.testing.assert_allclose(G, want_G, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(N, want_N, rtol=0, atol=1e-12 * scale)


# --- the fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("beta", [0.0, 0.3, 5.0, 20.0])
def test_expansion_matches_naive(d, kind, beta):
    rng = np.random.default_rng(int(10 * beta) + d)
    x = pt.random_points(300, d, rng=rng)
    dyn = pt.Dynamics(beta=beta, kind=kind)
    got = pt.velocity(x, dyn, method="expansion")
    want = naive.velocity_naive(x, beta, kind)
    err = np.linalg.norm(got - want, axis=1) / _weight_scale(x, beta, kind)
    assert err.max() <= 1e-10
    raw = pt.velocity(x, dyn, method="expansion", project=False, tol=1e-13)
    want_raw = naive.attention_naive(x, x, x, beta, kind == "SA")
    err = np.linalg.norm(raw - want_raw, axis=1) / _weight_scale(x, beta, kind)
    assert err.max() <= 1e-12


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("V", [-1.0, 2.5])
def test_expansion_scalar_v(d, V):
    x = pt.random_points(200, d, rng=3)
    dyn = pt.Dynamics(beta=4.0, V=V)
    got = pt.velocity(x, dyn, method="expansion")
    want = naive.velocity_naive(x, 4.0, "SA", V=V)
    assert np.abs(got - want).max() <= 1e-12 * abs(V)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("beta,tol", [(20.0, 1e-10), (60.0, 1e-10), (5.0, 1e-6)])
def test_expansion_tolerance_on_clusters(d, kind, beta, tol):
    """Clustered points with isolated ones far away: the a-priori order plus the exact repair of the
    rows with small Z_i keep every row within tol."""
    rng = np.random.default_rng(7)
    x = _clustered(1500, d, rng)
    dyn = pt.Dynamics(beta=beta, kind=kind)
    got = pt.velocity(x, dyn, method="expansion", tol=tol, project=False)
    want = naive.attention_naive(x, x, x, beta, kind == "SA")
    err = np.linalg.norm(got - want, axis=1) / _weight_scale(x, beta, kind)
    assert err.max() <= tol


def test_repair_recomputes_isolated_rows():
    rng = np.random.default_rng(8)
    x = _clustered(2000, 3, rng, isolated=4)
    f, info = expansion.expansion_raw(x, 60.0, "SA", None, 1e-10)
    assert 1 <= info.repaired < 100
    assert info.max_estimate > 1e-10
    want = naive.attention_naive(x, x, x, 60.0)
    assert np.abs(f - want).max() <= 1e-10


def test_a_posteriori_estimate_bounds_the_error():
    """Before repair, |dG_i| and |dN_i| stay below the estimate (in units of e^beta)."""
    rng = np.random.default_rng(9)
    for d in (2, 3):
        for beta in (1.0, 20.0):
            for x in (pt.random_points(1500, d, rng=rng), _clustered(1500, d, rng)):
                n = x.shape[0]
                order = expansion.order_for(d, beta, n, 1e-10)
                if d == 2:
                    G, N, err = expansion._circle(x, beta, order, True)
                else:
                    G, N, err = expansion._sphere(x, beta, order, 1e-10)
                Ge, Ne = naive.kernel_sums_naive(x, beta)
                assert np.abs(G - Ge).max() <= err
                assert np.linalg.norm(N - Ne, axis=1).max() <= err


def test_order_grows_with_beta_and_accuracy():
    ps = [expansion.circle_order(b, 10**6, 1e-10) for b in (0.5, 5, 20, 100)]
    assert ps == sorted(ps) and ps[2] <= 50
    Ls = [expansion.sphere_degree(b, 10**6, 1e-10) for b in (0.5, 5, 20, 100)]
    assert Ls == sorted(Ls) and Ls[2] <= 50
    assert expansion.circle_order(20, 10**6, 1e-6) < ps[2]
    assert expansion.circle_order(0.0, 10, 1e-10) == 0


def test_worst_case_truncation_bound():
    """One particle opposite a cluster of n - 1 (the smallest Z_i): truncation alone, with the a-priori
    order and no repair, stays within tol."""
    n, beta, tol = 400, 3.0, 1e-10
    th = np.zeros(n)
    th[0] = np.pi
    x = np.stack([np.cos(th), np.sin(th)], axis=1)
    p = expansion.circle_order(beta, n, tol)
    G, N, _ = expansion._circle(x, beta, p, True)
    Ge, Ne = naive.kernel_sums_naive(x, beta)
    err = np.linalg.norm(N / G[:, None] - Ne / Ge[:, None], axis=1)
    assert err.max() <= tol


# --- method selection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dyn,d",
    [
        (pt.Dynamics(beta=2.0), 4),
        (pt.Dynamics(beta=2.0, causal=True), 3),
        (pt.Dynamics(beta=2.0, Q=np.eye(3) * 2, K=np.eye(3)), 3),
        (pt.Dynamics(beta=2.0, V=np.eye(2) * 0.5), 2),
    ],
)
def test_auto_is_exact_where_expansion_does_not_apply(dyn, d):
    # the threaded exact path sums per-thread partial results in whichever order the threads finish,
    # so at this n two exact calls agree to rounding only; bit identity is checked at small n below
    x = pt.random_points(3000, d, rng=1)
    assert expansion.choose(dyn, x, 1e-10) is None
    np.testing.assert_allclose(
        pt.velocity(x, dyn), pt.velocity(x, dyn, method="exact"), rtol=0, atol=1e-15
    )
    xs = x[:50]
    np.testing.assert_array_equal(pt.velocity(xs, dyn), pt.velocity(xs, dyn, method="exact"))
    with pytest.raises(ParticlesError, match="expansion"):
        pt.velocity(x, dyn, method="expansion")


@pytest.mark.parametrize("d", [2, 3])
def test_auto_small_n_is_exact_bits(d):
    x = pt.random_points(40, d, rng=2)
    dyn = pt.Dynamics(beta=3.0)
    np.testing.assert_array_equal(pt.velocity(x, dyn), pt.velocity(x, dyn, method="exact"))


@pytest.mark.parametrize("d", [2, 3])
def test_expansion_is_deterministic(d):
    """Same input, same bits (ducc0's threaded adjoint transform is not, so it runs on one thread)."""
    x = pt.random_points(20000, d, rng=4)
    dyn = pt.Dynamics(beta=10.0)
    first = pt.velocity(x, dyn, method="expansion")
    for _ in range(4):
        np.testing.assert_array_equal(pt.velocity(x, dyn, method="expansion"), first)


@pytest.mark.parametrize("d, fixed", [(2, False), (2, True), (3, True)])
def test_expansion_bits_do_not_depend_on_the_thread_count(monkeypatch, d, fixed):
    """One thread or two (the field's config and numba's): the same bits, so that a noisy run on the
    expansion has the same path for a seed on any machine. The circle's moment slots are fixed;
    on S^2 ducc0's syntheses run on one thread inside field.fixed_order() (as noisy runs do)."""
    import contextlib

    import numba

    from particles import config, field

    x = pt.random_points(300 * kernels.CIRCLE_BLOCK, d, rng=5)
    dyn = pt.Dynamics(beta=4.0)
    got = []
    saved = numba.get_num_threads()
    try:
        for threads in (1, 2):
            monkeypatch.setattr(config, "THREADS", threads)
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            with field.fixed_order() if fixed else contextlib.nullcontext():
                got.append(pt.velocity(x, dyn, method="expansion"))
    finally:
        numba.set_num_threads(saved)
    np.testing.assert_array_equal(got[0], got[1])


@pytest.mark.parametrize("d", [2, 3])
def test_auto_picks_expansion_for_large_n(d):
    x = pt.random_points(20000, d, rng=3)
    dyn = pt.Dynamics(beta=10.0)
    a = pt.velocity(x, dyn)
    b = pt.velocity(x, dyn, method="expansion")
    np.testing.assert_array_equal(a, b)
    rows = np.arange(0, 20000, 997)
    np.testing.assert_allclose(a[rows], velocity_rows(x, dyn, rows), rtol=0, atol=1e-10)
    assert expansion.choose(dyn, x, 1e-10) is not None


def test_off_sphere_points():
    x = pt.random_points(3000, 2, rng=4) * 1.01
    dyn = pt.Dynamics(beta=1.0)
    assert expansion.choose(dyn, x, 1e-10) is None
    with pytest.raises(ParticlesError, match="unit sphere"):
        pt.velocity(x, dyn, method="expansion")


def test_auto_at_runge_kutta_stages_falls_back_to_exact(monkeypatch):
    """The decision documented in velocity(): RK4's stages are off the sphere, so "auto" evaluates
    them exactly (the expansion serves the first of its four evaluations); the geometric method's
    two evaluations are on the sphere and both use the expansion."""
    from particles.solvers.integrate import step

    x = pt.random_points(3000, 2, rng=6)
    dyn = pt.Dynamics(beta=5.0)
    calls = []
    real = expansion.expansion_raw

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(expansion, "expansion_raw", counting)
    h = 0.05
    step("rk4", x, h, dyn)
    assert len(calls) == 1
    calls.clear()
    step("geometric", x, h, dyn)
    assert len(calls) == 2
    k1 = pt.velocity(x, dyn)
    y = x + 0.5 * h * k1  # RK4's second stage point
    dev = np.max(np.abs(np.einsum("ij,ij->i", y, y) - 1.0))
    assert dev == pytest.approx((0.5 * h) ** 2 * np.max(np.einsum("ij,ij->i", k1, k1)), rel=1e-6)
    assert not expansion.unit_deviation_ok(y, dyn.beta, 1e-10)
    calls.clear()
    np.testing.assert_allclose(
        pt.velocity(y, dyn), pt.velocity(y, dyn, method="exact"), rtol=0, atol=1e-15
    )
    assert not calls


def test_float32_and_bad_arguments():
    x = pt.random_points(500, 2, rng=5)
    dyn = pt.Dynamics(beta=1.0)
    f = pt.velocity(x, dyn, method="expansion", dtype=np.float32)
    assert f.dtype == np.float32
    with pytest.raises(ParticlesError, match="method"):
        pt.velocity(x, dyn, method="fmm")
    with pytest.raises(ParticlesError, match="tol"):
        pt.velocity(x, dyn, tol=0.0)


def test_velocity_rows_matches_exact():
    rng = np.random.default_rng(6)
    d = 4
    dyn = pt.Dynamics(
        beta=1.5,
        kind="USA",
        Q=rng.standard_normal((2, 3, d)),
        K=rng.standard_normal((2, 3, d)),
        V=rng.standard_normal((2, d, d)),
    )
    x = pt.random_points(300, d, rng=rng)
    rows = [0, 17, 299, 17]
    want = pt.velocity(x, dyn, method="exact")[rows]
    np.testing.assert_allclose(velocity_rows(x, dyn, rows), want, rtol=1e-12, atol=1e-12)
