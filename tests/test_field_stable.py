"""The field where the tiled evaluation loses its digits or overflows: USA at large beta (the
self term e^{beta} x_i / n cancels in the projection), huge inputs. Checked against an 80-digit
evaluation with Python's ``decimal`` at the points x_i / |x_i| (on the sphere), and for a clear
error (never NaN or inf) where the field is beyond the float64 range."""

from __future__ import annotations

import decimal
from decimal import Decimal

import numpy as np
import pytest

import particles as pt
from particles.errors import Overflow, ParticlesError
from particles.field import stable as field_stable

decimal.getcontext().prec = 80


def _dec(a):
    return [[Decimal(float(v)) for v in row] for row in np.atleast_2d(a)]


def _matvec(M, r):
    return r if M is None else [sum(Decimal(float(m)) * c for m, c in zip(row, r)) for row in M]


def reference(x, beta, kind="USA", Q=None, K=None, V=None, project=True):
    """The field at x_i / |x_i| in 80-digit arithmetic, straight from the definition (one head)."""
    n, d = x.shape
    X = [[c / sum(c * c for c in r).sqrt() for c in r] for r in _dec(x)]
    q = [_matvec(Q, r) for r in X]
    k = [_matvec(K, r) for r in X]
    if V is None or np.isscalar(V):
        s = Decimal(1) if V is None else Decimal(float(V))
        v = [[s * c for c in r] for r in X]
    else:
        v = [_matvec(V, r) for r in X]
    b = Decimal(float(beta))
    out = []
    for i in range(n):
        w = [(b * sum(p * c for p, c in zip(q[i], k[j]))).exp() for j in range(n)]
        z = sum(w) if kind == "SA" else Decimal(n)
        terms = [list(v[j]) for j in range(n)]
        if project:  # term by term: the self term of V = v I projects to exactly 0
            for j in range(n):
                ip = sum(a * c for a, c in zip(X[i], terms[j]))
                terms[j] = [terms[j][c] - ip * X[i][c] for c in range(d)]
            if V is None or np.isscalar(V):
                terms[i] = [Decimal(0)] * d
        out.append([sum(w[j] * terms[j][c] for j in range(n)) / z for c in range(d)])
    return out


def rel_err(approx, ref) -> float:
    """|approx - ref| / |ref| over the whole array (Frobenius), in Decimal (ref may be huge)."""
    num = sum((Decimal(float(a)) - e) ** 2 for ra, re in zip(approx, ref) for a, e in zip(ra, re))
    den = sum(e**2 for re in ref for e in re)
    return float((num / den).sqrt())


X8 = pt.random_points(8, 3, rng=0)  # its USA field at beta = 750 is finite (~1e298)


@pytest.mark.parametrize("beta", [1.0, 30.0, 400.0, 500.0, 750.0])
def test_usa_at_large_beta_matches_80_digits(beta):
    v = pt.velocity(X8, pt.Dynamics(beta=beta, kind="USA"))
    assert np.all(np.isfinite(v))
    assert rel_err(v, reference(X8, beta)) < 1e-11


@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.parametrize("beta", [200.0, 500.0, 750.0, 1e4])
def test_sa_at_large_beta_matches_80_digits(seed, beta):
    """The same self-term cancellation as USA's, at the scale of the softmax's largest weight."""
    x = pt.random_points(8, 3, rng=seed)
    v = pt.velocity(x, pt.Dynamics(beta=beta))
    ref = reference(x, beta, kind="SA")
    if beta < 1e3:
        assert rel_err(v, ref) < 1e-11
    else:  # the field is below the float64 range (~1e-352): it underflows to 0
        assert max(abs(c) for r in ref for c in r) < Decimal("1e-320")
        assert np.all(np.abs(v) < 1e-300)


def test_usa_at_750_is_the_finite_field():
    v = pt.velocity(X8, pt.Dynamics(beta=750.0, kind="USA"))
    assert 1e290 < np.abs(v).max() < 1e305


@pytest.mark.parametrize("beta", [250.0, 400.0])
def test_usa_with_weights_at_large_beta_matches_80_digits(beta):
    rng = np.random.default_rng(3)
    Q = np.eye(3) + 0.1 * rng.standard_normal((3, 3))
    V = np.eye(3) + 0.3 * rng.standard_normal((3, 3))
    for kw in (dict(Q=Q, K=Q), dict(Q=Q, K=Q, V=V), dict(V=-0.7)):
        v = pt.velocity(X8, pt.Dynamics(beta=beta, kind="USA", **kw))
        assert rel_err(v, reference(X8, beta, **kw)) < 1e-10, kw


def test_the_rows_that_were_right_keep_their_bits():
    """At moderate beta the tiled evaluation is kept, bit for bit."""
    from particles.field import kernels, raw_field

    x = pt.random_points(50, 4, rng=1)
    dyn = pt.Dynamics(beta=3.0, kind="USA")
    f = raw_field(x, dyn)
    out = np.empty_like(f)
    kernels._project_tangent(x, f, out)
    np.testing.assert_array_equal(pt.velocity(x, dyn), out)


@pytest.mark.parametrize("seed", [1, 3])
def test_usa_beyond_the_float_range_is_a_clear_error(seed):
    x = pt.random_points(8, 3, rng=seed)  # nearest neighbours closer than for X8
    with pytest.raises(Overflow, match=r"overflows float64 at beta = 750"):
        pt.velocity(x, pt.Dynamics(beta=750.0, kind="USA"))


def test_usa_unprojected_and_float32_and_rows():
    dyn = pt.Dynamics(beta=500.0, kind="USA")
    raw = pt.velocity(X8, dyn, project=False)
    assert rel_err(raw, reference(X8, 500.0, project=False)) < 1e-11
    with pytest.raises(Overflow):
        pt.velocity(X8, dyn.replace(beta=750.0), project=False)  # e^750 / 8 x_i itself
    v32 = pt.velocity(X8, dyn.replace(beta=60.0), dtype=np.float32)
    assert v32.dtype == np.float32
    assert rel_err(v32, reference(X8, 60.0)) < 1e-4  # float32: ~1e-7 beta
    with pytest.raises(Overflow, match="float32"):
        pt.velocity(X8, dyn.replace(beta=120.0), dtype=np.float32)
    rows = pt.field.velocity_rows(X8, dyn, [5, 1])
    np.testing.assert_allclose(rows, pt.velocity(X8, dyn)[[5, 1]], rtol=1e-12)


def test_drift_schemes_at_large_beta():
    ref = reference(X8, 500.0)
    raw = reference(X8, 500.0, project=False)
    for norm in ("pre", "peri", "ngpt"):
        v = pt.drift(X8, pt.Dynamics(beta=500.0, kind="USA", norm=norm))
        assert np.all(np.isfinite(v))
        if norm == "ngpt":  # P_perp(A / |A|) = P_perp(A) / |A|
            scaled = [[c / sum(a * a for a in r).sqrt() for c in p] for p, r in zip(ref, raw)]
            assert rel_err(v, scaled) < 1e-10
    with pytest.raises(Overflow):
        pt.drift(X8, pt.Dynamics(beta=750.0, kind="USA", norm="pre"))
    u = pt.drift(X8, pt.Dynamics(beta=2000.0, kind="USA", norm="peri"))
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, rtol=1e-12)


# --- the accurate projection and its numpy reference ----------------------------------------


def test_project_accurate_matches_80_digits():
    rng = np.random.default_rng(5)
    x = pt.random_points(20, 5, rng=6)
    y = rng.standard_normal((20, 5))
    y[:5] = x[:5]  # parallel rows project to exactly 0
    y[5:10] = x[5:10] + 1e-12 * y[5:10]  # nearly parallel: only the 1e-12 part is left
    p = field_stable.project_accurate(x, y)
    assert np.all(p[:5] == 0.0)
    for i in range(5, 20):
        xi = [c / sum(c * c for c in _dec(x[i])[0]).sqrt() for c in _dec(x[i])[0]]
        yi = _dec(y[i])[0]
        ip = sum(a * b for a, b in zip(xi, yi))
        exact = [yi[c] - ip * xi[c] for c in range(5)]
        assert rel_err([p[i]], [exact]) < 1e-14


# --- huge inputs: an error, never NaN --------------------------------------------------------

HUGE = {
    "points 1e200": (1e200 * X8, pt.Dynamics()),
    "points 1e200, USA": (1e200 * X8, pt.Dynamics(kind="USA")),
    "Q = K = 1e200 I": (X8, pt.Dynamics(Q=1e200 * np.eye(3), K=1e200 * np.eye(3))),
    "Q = 1e200 I, USA": (X8, pt.Dynamics(kind="USA", Q=1e200 * np.eye(3), K=np.eye(3))),
    "points 1e160 at beta 0": (1e160 * X8, pt.Dynamics(beta=0.0)),
    "V = 1e300 I (matrix)": (X8, pt.Dynamics(V=1e300 * np.eye(3), kind="USA", beta=10.0)),
    "ffn 1e300": (
        X8,
        pt.Dynamics(ffn=pt.FeedForward(W1=1e300 * np.eye(3), b1=np.zeros(3), W2=np.eye(3))),
    ),
    "USA beta 1e6": (X8, pt.Dynamics(beta=1e6, kind="USA")),
    "USA beta 1e12": (X8, pt.Dynamics(beta=1e12, kind="USA")),
}


@pytest.mark.parametrize("name", list(HUGE))
@pytest.mark.parametrize("project", [True, False])
def test_huge_inputs_give_an_error_or_a_finite_field(name, project):
    x, dyn = HUGE[name]
    try:
        v = pt.velocity(x, dyn, project=project)
    except ParticlesError as e:
        assert "\n" not in str(e)
        return
    assert np.all(np.isfinite(v)), name


def test_sa_at_huge_beta_is_finite():
    v = pt.velocity(X8, pt.Dynamics(beta=1e6))
    assert np.all(np.isfinite(v))


#: a regular tetrahedron: every pair at <x_i, x_j> = -1/3, so USA's field e^{-beta/3} stays
#: representable far beyond the beta at which the self term's e^{beta} overflows
TETRA = np.array([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3.0)


@pytest.mark.parametrize("kind", ["USA"])
@pytest.mark.parametrize("beta", [800.0, 1500.0, 2000.0])
def test_a_field_far_below_the_self_terms_scale_is_not_lost(kind, beta):
    """USA's self term e^{beta} projects to ~0; the other columns' e^{-beta/3} must not be added
    at its scale, where they underflow (the field came out 0). (SA's field here is e^{-4 beta/3}
    relative to its weights: below the float64 range, a true 0.)"""
    x = TETRA + 1e-3 * np.random.default_rng(0).standard_normal(TETRA.shape)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    v = pt.velocity(x, pt.Dynamics(beta=beta, kind=kind))
    assert np.abs(v).max() > 0
    assert rel_err(v, reference(x, beta, kind=kind)) < 1e-11


@pytest.mark.parametrize("beta", [1e3, 1e4, 1e6])
def test_usa_beyond_the_float_range_is_an_error_at_any_larger_beta(beta):
    with pytest.raises(Overflow, match="overflows float64"):
        pt.velocity(X8, pt.Dynamics(beta=beta, kind="USA"))


@pytest.mark.parametrize("beta", [1e3, 2e3, 5e3])
def test_sa_between_the_self_terms_overflow_and_underflow_matches_80_digits(beta):
    v = pt.velocity(X8, pt.Dynamics(beta=beta))
    ref = reference(X8, beta, kind="SA")
    rows = [i for i, r in enumerate(ref) if max(abs(c) for c in r) > Decimal("1e-290")]
    assert rows  # some rows are representable; the others underflow to (near) 0
    assert rel_err(v[rows], [ref[i] for i in rows]) < 1e-11
