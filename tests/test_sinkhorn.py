"""Sinkhorn attention (``Dynamics(kind="SK")``, arXiv 2110.11773): kernels against their numpy twins,
the tiled field against a dense log-domain Sinkhorn, the doubly stochastic property, the toolchain
(integrators, ensembles, noise, normalisation schemes, storage, CLI) and the refusals."""

import numpy as np
import pytest

import particles as pt
from particles.errors import ParticlesError
from particles.field import sinkhorn
from particles.solvers import kernels as skern
from tests import naive
from tests.test_kernels import assert_close, variants

EPS = float(np.finfo(np.float64).eps)


# --- kernels and their twins ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", [0, 1], ids=["parallel", "serial"])
def test__lse_tile(variant):
    k = variants("_lse_tile")[variant]
    rng = np.random.default_rng(0)
    for B in (1, 2, 7, 50):
        for C in (1, 2, 7, 50):
            for beta in (0.0, 3.0, 40.0, 900.0):
                s = rng.uniform(-1.0, 1.0, (B, C))
                npot = rng.uniform(-5.0, 5.0, C)
                m = np.where(rng.random(B) < 0.4, -np.inf, rng.uniform(-40.0, 40.0, B))
                acc = np.where(np.isfinite(m), rng.uniform(0.5, 3.0, B), 0.0)
                want_m, want_acc = naive._lse_tile(s, beta, npot, m, acc)
                got_m, got_acc = m.copy(), acc.copy()
                k(s.copy(), beta, npot, got_m, got_acc)
                # beta s - npot may be fused (fastmath "contract"): 1 ulp of the terms
                assert_close(got_m, want_m, scale=beta + 5.0, rtol=2 * EPS)
                # a sum of C + 1 positive terms, each exact to ~4 eps (1 + |exponent|)
                rtol = 8 * EPS * (C + 2) * (1 + beta + 50)
                assert_close(got_acc, want_acc, rtol=rtol)


def test__shifted_row_max():
    k = variants("_shifted_row_max")[0]
    rng = np.random.default_rng(9)
    for C in (1, 2, 7, 50):
        for beta in (0.0, 2.0, 700.0):
            row, npot = rng.uniform(-1, 1, C), rng.uniform(-3, 3, C)
            # beta row - npot may be fused (fastmath "contract"): 1 ulp of the terms
            assert_close(k(row, beta, npot), naive._shifted_row_max(row, beta, npot),
                         scale=beta + 3.0, rtol=2 * EPS)  # fmt: skip


def test__lse_rows_and__sinkhorn_rows():
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 50):
        x = pt.random_points(n, 3, rng=n)
        for L in (x @ x.T, x @ rng.standard_normal((3, 3)) @ x.T / 3):
            for beta in (0.0, 1.0, 8.0):
                pot = rng.uniform(-2, 2, n)
                for trans in (False, True):
                    out = np.empty(n)
                    skern._lse_rows(L, beta, pot, trans, out)
                    want = naive._lse_rows(L, beta, pot, trans, None)
                    assert_close(out, want, scale=np.abs(want).max() + beta, rtol=1e-13)
                out = np.empty((n, n))
                it = skern._sinkhorn_rows(L, beta, out)
                want, it_naive = naive._sinkhorn_rows(L, beta, None)
                assert it > 0
                # both stop at SK_TOL, possibly one iteration apart: agree to ~tol
                np.testing.assert_allclose(out, want, atol=1e-9)
                np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-13)
                np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-9)
                if np.array_equal(L, L.T):
                    assert out.shape == (n, n)


def test__sinkhorn_rows_gives_up_with_nan(monkeypatch):
    """Past SK_MAX_ITER the kernel returns -1 and NaN (the ensemble turns it into a clear error);
    the Python body reads the cap from the module, so a cap of 1 shows it."""
    monkeypatch.setattr(skern, "SK_MAX_ITER", 1)
    L = np.array([[1.0, 0.0, -1.0], [0.3, 1.0, 0.0], [0.0, -0.5, 1.0]])
    out = np.empty((3, 3))
    assert skern._sinkhorn_rows.py_func(L, 5.0, out) == -1
    assert np.all(np.isnan(out))


# --- the field against a dense Sinkhorn -------------------------------------------------------------


def _weights(case, d, rng):
    if case == "identity":
        return dict()
    if case == "QK":
        return dict(
            Q=rng.standard_normal((d, d)) / np.sqrt(d),
            K=rng.standard_normal((d, d)) / np.sqrt(d),
            V=rng.standard_normal((d, d)) / np.sqrt(d),
        )
    if case == "symmetric":
        A = rng.standard_normal((d, d)) / np.sqrt(d)
        return dict(Q=A, K=A, V=A.T @ A)
    if case == "repulsive":
        return dict(V=-1.0)
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["identity", "QK", "symmetric", "repulsive"])
@pytest.mark.parametrize("beta", [0.0, 1.0, 9.0])
@pytest.mark.parametrize("n, d", [(1, 2), (7, 3), (60, 5)])
def test_field_matches_dense_sinkhorn(case, beta, n, d):
    rng = np.random.default_rng(n + d)
    x = pt.random_points(n, d, rng=rng)
    w = _weights(case, d, rng)
    dyn = pt.Dynamics(beta=beta, kind="SK", sinkhorn_tol=1e-12, **w)
    got = pt.velocity(x, dyn)
    want = naive.sinkhorn_velocity_naive(x, beta, w.get("Q"), w.get("K"), w.get("V"), tol=1e-13)
    V = w.get("V", 1.0)
    scale = max(1.0, float(np.abs(V).max()) * d)
    np.testing.assert_allclose(got, want, atol=5e-11 * scale)
    rows = [0, n - 1]
    np.testing.assert_allclose(pt.field.velocity_rows(x, dyn, rows), got[rows], atol=5e-11 * scale)


def test_factored_value_maps():
    """V = O_h V_h given as factors: the same field as the dense product."""
    rng = np.random.default_rng(5)
    x = pt.random_points(30, 6, rng=1)
    Vf, Of = rng.standard_normal((2, 6)), rng.standard_normal((6, 2))
    dyn = pt.Dynamics(beta=2.0, kind="SK", V=Vf, O=Of, sinkhorn_tol=1e-12)
    want = naive.sinkhorn_velocity_naive(x, 2.0, V=Of @ Vf)
    np.testing.assert_allclose(pt.velocity(x, dyn), want, atol=1e-10)
    np.testing.assert_allclose(pt.field.velocity_rows(x, dyn, [1, 5]), want[[1, 5]], atol=1e-10)


def test_heads_add_up():
    rng = np.random.default_rng(3)
    x = pt.random_points(40, 4, rng=0)
    Q = rng.standard_normal((2, 4, 4)) / 2
    K = rng.standard_normal((2, 4, 4)) / 2
    V = rng.standard_normal((2, 4, 4)) / 2
    got = pt.velocity(x, pt.Dynamics(beta=2.0, kind="SK", Q=Q, K=K, V=V, sinkhorn_tol=1e-12))
    want = sum(naive.sinkhorn_velocity_naive(x, 2.0, Q[h], K[h], V[h]) for h in range(2))
    np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.parametrize("symmetric", [True, False])
def test_potentials_make_the_matrix_doubly_stochastic(symmetric):
    rng = np.random.default_rng(4)
    x = pt.random_points(300, 3, rng=1)
    q = x
    k = x if symmetric else x @ rng.standard_normal((3, 3))
    tol = 1e-10
    tiling = sinkhorn.tiles.Tiling.here(64, 128)  # several row and column tiles
    pot = sinkhorn.solve(q, k, 6.0, tol, tiling=tiling)
    P = np.exp(6.0 * q @ k.T + pot.f[:, None] + pot.g[None, :])
    assert pot.error <= tol and pot.iterations >= 1
    assert np.max(np.abs(P.sum(axis=1) - 1)) <= 2 * tol
    assert np.max(np.abs(P.sum(axis=0) - 1)) <= 2 * tol
    # the tiles do not change the answer beyond rounding
    pot1 = sinkhorn.solve(q, k, 6.0, tol)
    np.testing.assert_allclose(pot1.f + pot1.g.mean(), pot.f + pot.g.mean(), atol=1e-9)


@pytest.mark.parametrize("beta", [50.0, 700.0, 5000.0])
def test_stable_for_large_beta(beta):
    """The log domain: no overflow, rows of a near-identity matrix (the self term dominates) are
    repaired in the log domain with Sinkhorn's column potentials, and agree with the dense solve."""
    x = pt.random_points(12, 3, rng=2)
    dyn = pt.Dynamics(beta=beta, kind="SK")
    v = pt.velocity(x, dyn)
    assert np.all(np.isfinite(v))
    if beta <= 700:
        want = naive.sinkhorn_velocity_naive(x, beta, tol=1e-12)
        # the dense twin projects at the scale of the self term: rounding noise of ~1e-16
        np.testing.assert_allclose(v, want, atol=1e-9 * np.abs(want).max() + 1e-15)


def test_float32_is_float64_rounded():
    x = pt.random_points(30, 3, rng=5)
    dyn = pt.Dynamics(beta=3.0, kind="SK")
    v32 = pt.velocity(x, dyn, dtype=np.float32)
    assert v32.dtype == np.float32
    np.testing.assert_allclose(v32, pt.velocity(x, dyn), atol=1e-6)


def test_sa_is_the_first_sinkhorn_step():
    """With one row normalisation only, Sinkhorn is SoftMax: at beta = 0 both are 1/n, and for
    points where exp(beta G) is already doubly stochastic (equally spaced on the circle) SK = SA."""
    n = 9
    th = 2 * np.pi * np.arange(n) / n
    x = np.stack([np.cos(th), np.sin(th)], axis=1)
    for beta in (0.5, 4.0):
        np.testing.assert_allclose(
            pt.velocity(x, pt.Dynamics(beta=beta, kind="SK")),
            pt.velocity(x, pt.Dynamics(beta=beta, kind="SA")),
            atol=1e-12,
        )


def test_not_converged_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(sinkhorn, "MAX_ITER", 2)
    x = pt.random_points(20, 3, rng=0)
    with pytest.raises(sinkhorn.SinkhornNotConverged, match="did not reach sinkhorn_tol"):
        pt.velocity(x, pt.Dynamics(beta=30.0, kind="SK", Q=np.diag([1.0, 2, 3])))


# --- hostile input, as a table ------------------------------------------------------------------


HOSTILE = [
    (dict(kind="SK", sinkhorn_tol=0.0), "sinkhorn_tol must lie in"),
    (dict(kind="SK", sinkhorn_tol=1e-16), "sinkhorn_tol must lie in"),
    (dict(kind="SK", sinkhorn_tol=0.5), "sinkhorn_tol must lie in"),
    (dict(kind="SK", sinkhorn_tol=float("nan")), "sinkhorn_tol"),
    (dict(kind="SK", sinkhorn_tol="tight"), "sinkhorn_tol"),
    (dict(kind="SK", sinkhorn_tol=-1e-9), "sinkhorn_tol must lie in"),
    (dict(kind="SK", causal=True), "cannot be causal"),
    (dict(kind="sinkhorn-ish"), "kind must be"),
    (dict(kind="SK", beta=float("inf")), "optimal assignment"),
]


@pytest.mark.parametrize("kw, match", HOSTILE)
def test_hostile_dynamics(kw, match):
    with pytest.raises(ParticlesError, match=match):
        pt.Dynamics(**kw)


REFUSALS = [
    (lambda x, dyn: pt.velocity(x, dyn, method="expansion"), "kind SA or USA"),
]


@pytest.mark.parametrize("call, match", REFUSALS)
def test_refusals(call, match):
    x = pt.random_points(10, 2, rng=0)
    with pytest.raises(ParticlesError, match=match):
        call(x, pt.Dynamics(beta=1.0, kind="SK"))


def test_alias_and_records():
    dyn = pt.Dynamics(beta=2.0, kind="sinkhorn", sinkhorn_tol=1e-8)
    assert dyn.kind == "SK" and "sinkhorn_tol=1e-08" in dyn.describe()
    meta, arrays = dyn.to_record()
    assert pt.Dynamics.from_record(meta, arrays) == dyn
    # SA / USA records are unchanged by the new field
    assert "sinkhorn_tol" not in pt.Dynamics(beta=2.0).to_record()[0]


def test_auto_never_takes_the_expansion():
    x = pt.random_points(600, 2, rng=0)  # where "auto" takes the circle's expansion for SA
    dyn = pt.Dynamics(beta=1.0, kind="SK")
    np.testing.assert_array_equal(pt.velocity(x, dyn), pt.velocity(x, dyn, method="exact"))
