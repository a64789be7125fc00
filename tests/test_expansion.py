"""The O(n p) expansion fields on S^1 and S^2 (particles.field.expansion, issue 13 §3).

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
from particles.errors import ParticlesError
from particles.field import expansion, kernels, velocity_rows
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


def _off_points(n, rng, spread):
    """n random points of the plane with |x_i| spread uniformly over [1 - spread, 1 + spread]."""
    th = rng.uniform(0, 2 * np.pi, n)
    r = 1.0 + spread * rng.uniform(-1.0, 1.0, n)
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=1)


@pytest.mark.parametrize("n", [1, 2, 7, 50, 700])
@pytest.mark.parametrize("variant", ["parallel", "serial"])
@pytest.mark.parametrize("Q", [0, 4], ids=["circle", "radial"])
def test_s1r_moments_kernel(n, variant, Q):
    """Q = 0 with q = 1 is the on-circle path (expansion._circle)."""
    rng = np.random.default_rng(20 + n)
    x = _off_points(n, rng, 0.2 if Q else 0.0)
    c, s = np.ascontiguousarray(x[:, 0]), np.ascontiguousarray(x[:, 1])
    q = c * c + s * s - 1.0 if Q else np.ones(n)
    p, chunks = 9, 3
    acc_re = np.full((chunks, p + 1, Q + 1), np.nan)
    acc_im = np.full((chunks, p + 1, Q + 1), np.nan)
    kern = kernels._s1r_moments if variant == "parallel" else kernels._s1r_moments.serial
    kern(c, s, q, p, Q, chunks, acc_re, acc_im)
    want_re, want_im = naive._s1r_moments(c, s, q, p, Q, chunks, acc_re, acc_im)
    # |w^k q^l| <= 1.2^9: the scale of the summed terms
    np.testing.assert_allclose(acc_re, want_re, rtol=0, atol=1e-12 * 1.2**p * max(1, n))
    np.testing.assert_allclose(acc_im, want_im, rtol=0, atol=1e-12 * 1.2**p * max(1, n))


@pytest.mark.parametrize("n", [1, 2, 7, 50, 700])
@pytest.mark.parametrize("variant", ["parallel", "serial"])
@pytest.mark.parametrize("A", [1, 4], ids=["circle", "radial"])
def test_s1r_sums_kernel(n, variant, A):
    """A = 1 with q = 1 is the on-circle path (expansion._circle)."""
    rng = np.random.default_rng(30 + n)
    x = _off_points(n, rng, 0.2 if A > 1 else 0.0)
    c, s = np.ascontiguousarray(x[:, 0]), np.ascontiguousarray(x[:, 1])
    q = c * c + s * s - 1.0 if A > 1 else np.ones(n)
    coef = rng.standard_normal((13, A, 6))
    G = np.full(n, np.nan)
    N = np.full((n, 2), np.nan)
    kern = kernels._s1r_sums if variant == "parallel" else kernels._s1r_sums.serial
    kern(c, s, q, coef, G, N)
    want_G, want_N = naive._s1r_sums(c, s, q, coef, G, N)
    scale = np.abs(coef).sum() * 1.2**12
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


@pytest.mark.parametrize("d, off", [(2, False), (3, False), (2, True)])
def test_expansion_is_deterministic(d, off):
    """Same input, same bits (ducc0's threaded adjoint transform is not, so it runs on one thread)."""
    x = pt.random_points(20000, d, rng=4)
    if off:  # the radial expansion
        x *= 1.0 + 1e-3 * np.random.default_rng(4).uniform(-1, 1, (x.shape[0], 1))
    dyn = pt.Dynamics(beta=10.0)
    first = pt.velocity(x, dyn, method="expansion")
    for _ in range(4):
        np.testing.assert_array_equal(pt.velocity(x, dyn, method="expansion"), first)


@pytest.mark.parametrize(
    "d, fixed, off", [(2, False, False), (2, True, False), (3, True, False), (2, False, True)]
)
def test_expansion_bits_do_not_depend_on_the_thread_count(monkeypatch, d, fixed, off):
    """One thread or two (the field's config and numba's): the same bits, so that a noisy run on the
    expansion has the same path for a seed on any machine. The circle's moment slots are fixed (off
    the circle too: ``off``); on S^2 ducc0's syntheses run on one thread inside field.fixed_order()
    (as noisy runs do)."""
    import contextlib

    import numba

    from particles import config, field

    x = pt.random_points(300 * kernels.CIRCLE_BLOCK, d, rng=5)
    if off:
        x *= 1.0 + 1e-3 * np.random.default_rng(5).uniform(-1, 1, (x.shape[0], 1))
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


# --- off the circle (the radial expansion) -------------------------------------------------------


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("beta", [0.3, 5.0, 20.0])
@pytest.mark.parametrize("spread", [1e-3, 0.1])
def test_off_circle_matches_exact(kind, beta, spread):
    """|x_i| in [1 - spread, 1 + spread]: the field and the output before projection within tol of
    the exact evaluation (velocity(method="exact") and velocity_rows)."""
    rng = np.random.default_rng(int(10 * beta) + int(1e3 * spread))
    x = _off_points(400, rng, spread)
    dyn = pt.Dynamics(beta=beta, kind=kind)
    scale = _weight_scale(x, beta, kind)
    for tol in (1e-10, 1e-6):
        f, info = expansion.expansion_raw(x, beta, kind, None, tol)
        assert info.radial >= 1
        want = pt.velocity(x, dyn, method="exact", project=False)
        assert (np.linalg.norm(f - want, axis=1) / scale).max() <= tol
        got = pt.velocity(x, dyn, method="expansion", tol=tol)
        rows = np.arange(0, 400, 7)
        want = velocity_rows(x, dyn, rows)
        assert (np.linalg.norm(got[rows] - want, axis=1) / scale[rows]).max() <= tol


def test_off_circle_scalar_v_and_equal_radii():
    """A scalar V scales the field; points all at one radius r0 != 1 need no radial terms (M = 0:
    the problem rescaled to the unit circle with beta r0^2 is exact)."""
    x = pt.random_points(300, 2, rng=3) * 1.01
    plan = expansion.circle_plan(4.0, 300, 1e-10, *expansion.radii(x))
    assert plan is not None and plan[1] == 0
    for V in (-1.0, 2.5):
        dyn = pt.Dynamics(beta=4.0, V=V)
        got = pt.velocity(x, dyn, method="expansion")
        want = pt.velocity(x, dyn, method="exact")
        assert np.abs(got - want).max() <= 1e-10 * abs(V)


def test_off_circle_clusters_and_repair():
    """Clusters at radius 1.05, a few isolated points at 0.95 far away (small Z_i): within tol."""
    rng = np.random.default_rng(11)
    x = _clustered(1500, 2, rng)
    x[3:] *= 1.05
    x[:3] *= 0.95
    for beta in (20.0, 60.0):
        f, info = expansion.expansion_raw(x, beta, "SA", None, 1e-10)
        assert info.radial >= 1
        want = naive.attention_naive(x, x, x, beta)
        assert np.linalg.norm(f - want, axis=1).max() <= 1e-10


def _off_sums(x, beta, r0):
    """(G, N') of the rescaled problem in units of e^{beta r0^2} (what _circle_off returns)."""
    bp = beta * r0 * r0
    y = x / r0
    w = np.exp(bp * (y @ y.T) - bp)
    return w.sum(axis=1), w @ y


def test_off_circle_a_posteriori_estimate_bounds_the_error():
    rng = np.random.default_rng(12)
    for beta in (1.0, 20.0):
        for spread in (1e-3, 0.1):
            x = _off_points(1000, rng, spread)
            n = x.shape[0]
            p, M = expansion.circle_plan(beta, n, 1e-10, *expansion.radii(x))
            G, N, err, r0 = expansion._circle_off(x, beta, p, M, True)
            Ge, Ne = _off_sums(x, beta, r0)
            assert np.abs(G - Ge).max() <= err
            assert np.linalg.norm(N - Ne, axis=1).max() <= err


@pytest.mark.parametrize("tol", [1e-10, 1e-5])
def test_off_circle_worst_case_truncation_bound(tol):
    """One particle at the smallest radius opposite a cluster of n - 1 at the largest (the smallest
    Z_i): truncation alone, with the a-priori p and M and no repair, stays within tol; and the
    bound is not loose by many terms (four radial terms fewer break it; each term gains ~1e-2 here)."""
    n, beta = 400, 3.0
    th = np.zeros(n)
    th[0] = np.pi
    r = np.full(n, 1.1)
    r[0] = 0.9
    x = np.stack([r * np.cos(th), r * np.sin(th)], axis=1)
    p, M = expansion.circle_plan(beta, n, tol, *expansion.radii(x))
    G, N, _, r0 = expansion._circle_off(x, beta, p, M, True)
    Ge, Ne = _off_sums(x, beta, r0)
    err = r0 * np.linalg.norm(N / G[:, None] - Ne / Ge[:, None], axis=1)
    assert err.max() <= tol
    G, N, _, r0 = expansion._circle_off(x, beta, p, M - 4, True)
    err = r0 * np.linalg.norm(N / G[:, None] - Ne / Ge[:, None], axis=1)
    assert err.max() > tol


def test_off_circle_plan():
    """M grows with the radii's spread, beta and the accuracy; None where the spread is too large."""
    n = 10**6
    Ms = [expansion.circle_plan(5.0, n, 1e-10, 1 - e, 1 + e)[1] for e in (1e-6, 1e-3, 0.1, 0.3)]
    assert Ms == sorted(Ms) and Ms[0] <= 3 and len(set(Ms)) == 4
    assert expansion.circle_plan(20.0, n, 1e-10, 0.9, 1.1)[1] > Ms[2]
    assert expansion.circle_plan(5.0, n, 1e-6, 0.9, 1.1)[1] < Ms[2]
    assert expansion.circle_plan(5.0, n, 1e-10, 1.0201, 1.0201)[1] == 0
    assert expansion.circle_plan(20.0, n, 1e-10, 0.25, 4.0) is None
    assert expansion.circle_plan(1.0, n, 1e-10, 0.0, 0.0) is None


def test_off_sphere_points():
    """On the circle, "auto" takes the radial expansion off it; on S^2 there is none (exact)."""
    x = pt.random_points(3000, 2, rng=4) * 1.01
    dyn = pt.Dynamics(beta=1.0)
    plan = expansion.choose(dyn, x, 1e-10)
    assert plan is not None and plan[1] == 0
    rows = np.arange(0, 3000, 101)
    np.testing.assert_allclose(pt.velocity(x, dyn)[rows], velocity_rows(x, dyn, rows), atol=1e-10)
    y = pt.random_points(3000, 3, rng=4) * 1.01
    assert expansion.choose(dyn, y, 1e-10) is None
    with pytest.raises(ParticlesError, match="unit sphere"):
        pt.velocity(y, dyn, method="expansion")
    z = _off_points(3000, np.random.default_rng(4), 0.6)
    dyn = pt.Dynamics(beta=20.0)
    assert expansion.choose(dyn, z, 1e-10) is None
    with pytest.raises(ParticlesError, match="radial terms"):
        pt.velocity(z, dyn, method="expansion")


def test_auto_at_runge_kutta_stages(monkeypatch):
    """The decision documented in velocity(): RK4's stages are off the circle by (c h)^2 |k|^2, and
    "auto" evaluates all four by the expansion (the radial one at the three off-circle stages); the
    geometric method's two evaluations are on the sphere. Where the radii spread too much for the
    radial expansion, "auto" is the exact evaluation."""
    from particles.solvers.integrate import step

    x = pt.random_points(3000, 2, rng=6)
    dyn = pt.Dynamics(beta=5.0)
    calls = []
    real = expansion.expansion_raw

    def counting(*a, **k):
        calls.append(k.get("radial"))
        return real(*a, **k)

    monkeypatch.setattr(expansion, "expansion_raw", counting)
    h = 0.05
    step("rk4", x, h, dyn)
    assert len(calls) == 4 and calls[0] is None and all(m >= 1 for m in calls[1:])
    calls.clear()
    step("geometric", x, h, dyn)
    assert calls == [None, None]
    k1 = pt.velocity(x, dyn)
    y = x + 0.5 * h * k1  # RK4's second stage point
    dev = np.max(np.abs(np.einsum("ij,ij->i", y, y) - 1.0))
    assert dev == pytest.approx((0.5 * h) ** 2 * np.max(np.einsum("ij,ij->i", k1, k1)), rel=1e-6)
    assert not expansion.unit_deviation_ok(y, dyn.beta, 1e-10)
    rows = np.arange(0, 3000, 59)
    np.testing.assert_allclose(pt.velocity(y, dyn)[rows], velocity_rows(y, dyn, rows), atol=1e-10)
    # radii in [0.5, 1.5] at beta = 20: no radial expansion; "auto" is the exact evaluation
    z = _off_points(3000, np.random.default_rng(6), 0.5)
    dyn = pt.Dynamics(beta=20.0)
    calls.clear()
    np.testing.assert_allclose(
        pt.velocity(z, dyn), pt.velocity(z, dyn, method="exact"), rtol=0, atol=1e-15
    )
    assert not calls


@pytest.mark.parametrize("kind", ["SA", "USA"])
def test_rk4_step_with_auto_matches_exact(monkeypatch, kind):
    """One RK4 step at n = 5000 with "auto" (expansion at all four stages) equals the step on the
    exact field to ~tol (tol = 1e-10 per field evaluation, times h and the weight scale)."""
    from particles.solvers.integrate import step

    x = pt.random_points(5000, 2, rng=7)
    dyn = pt.Dynamics(beta=4.0, kind=kind)
    h = 0.1
    got, _ = step("rk4", x, h, dyn)
    monkeypatch.setattr(expansion, "choose", lambda *a, **k: None)
    want, _ = step("rk4", x, h, dyn)
    scale = 1.0 if kind == "SA" else float(_weight_scale(x, 4.0, kind).max())
    assert np.abs(got - want).max() <= 1e-10 * h * scale
    assert np.abs(got - x).max() > 1e-3  # the step moved the points


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
