"""The field's serial passes done once: the tangent projection with the repair scan in one pass
(``_project_scan`` against its twin ``naive._project_scan`` and against ``_project_tangent`` and
``stable.repair_scan``, bit for bit), the logit bound's row norms computed once and passed on, the
stacked maps of factored heads kept per Dynamics. Sizes as tests/test_kernels.py."""

import gc

import numpy as np
import pytest

import particles as pt
from particles.field import inputs, kernels, stable
from tests import naive

NS = (1, 2, 7, 50)
DS = (2, 3, 16)


def _unit(rng, n, d, dt=np.float64):
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(dt)


def _scan_inputs(rng, n, d, dt):
    """Points and fields with the rows the scan must find: a normal row (cancels), inf, NaN."""
    x = _unit(rng, n, d, dt)
    v = (rng.standard_normal((n, d)) * rng.uniform(0.1, 10.0)).astype(dt)
    if n >= 7:
        v[0] = 3.0 * x[0]  # its projection cancels to ~0: bad
        v[1, 0] = np.inf
        v[2, 1] = np.nan
        v[3] = 0.0  # a zero row: not bad (0 < ratio * 0 is false)
        v[4] = x[4] * dt(1e5) + v[4] * dt(1e-4)  # a large cancelled part, a tangent remainder
    return x, v


@pytest.mark.parametrize("variant", ["parallel", "serial"])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test__project_scan_against_twin_and_the_two_passes(variant, dt):
    """Same bits as _project_tangent, the same rows as stable.repair_scan; the twin to 1e-12
    (float32: 1e-6) of the summed terms, the flags equal."""
    rng = np.random.default_rng(24)
    ratio = dt(stable.CANCEL_RATIO[dt])
    kern = kernels._project_scan if variant == "parallel" else kernels._project_scan.serial
    for n in NS:
        for d in DS:
            x, v = _scan_inputs(rng, n, d, dt)
            out = np.full((n, d), np.nan, dtype=dt)
            bad = np.zeros(n, dtype=np.bool_)
            kern(x, v, out, ratio, bad)
            ref = np.empty_like(out)
            kernels._project_tangent.serial(x, v, ref)
            np.testing.assert_array_equal(out, ref)
            np.testing.assert_array_equal(bad, stable.repair_scan(v, ref))
            want, want_bad = naive._project_scan(x, v, None, ratio, None)
            ok = np.all(np.isfinite(want), axis=1)
            scale = np.linalg.norm(v[ok].astype(np.float64), axis=1, keepdims=True)
            tol = 1e-12 if dt is np.float64 else 1e-6
            assert np.all(np.abs(out[ok] - want[ok]) <= tol * (np.abs(want[ok]) + scale))
            np.testing.assert_array_equal(~np.all(np.isfinite(out), axis=1), ~ok)
            if n >= 7:
                assert bad[:3].all() and not bad[3]
            np.testing.assert_array_equal(bad, want_bad)


#: (name, dynamics, dtype): paths through the shared row norms (Gram, bounded, online, factored)
CASES = [
    ("identity", dict(beta=1.0), np.float64),
    ("identity USA", dict(beta=2.0, kind="USA"), np.float32),
    ("general", dict(beta=1.0, Q="A", K="B"), np.float64),
    ("general float32", dict(beta=1.0, Q="A", K="B"), np.float32),
    ("general large beta", dict(beta=400.0, Q="A", K="B"), np.float64),
    ("factored", dict(beta=0.7, Q="Qh", K="Kh", V="Vh", O="Oh"), np.float64),
    ("factored Q = K", dict(beta=0.7, Q="Qh", K="Qh", V="Vh", O="Oh"), np.float32),
]


@pytest.mark.parametrize("name, kw, dt", CASES, ids=[c[0] for c in CASES])
def test_field_with_norms_once_matches_recomputed(name, kw, dt):
    """The field with the row norms computed once equals, bit for bit, the field whose every pass
    computes them itself (check_logits and attention_path told nothing), and the rows the scan
    flags are those the two-pass scan flags."""
    rng = np.random.default_rng(7)
    n, d = 150, 6
    mats = dict(
        A=rng.standard_normal((d, d)),
        B=rng.standard_normal((d, d)),
        Qh=rng.standard_normal((2, 3, d)),
        Kh=rng.standard_normal((2, 3, d)),
        Vh=rng.standard_normal((2, 3, d)),
        Oh=rng.standard_normal((2, d, 3)),
    )
    dyn = pt.Dynamics(**{k: mats.get(v, v) if isinstance(v, str) else v for k, v in kw.items()})
    x = _unit(rng, n, d)
    got = pt.velocity(x, dyn, dtype=dt)
    orig_path, orig_check = inputs.attention_path, inputs.check_logits

    def path(q, k, v, beta, same, norms=None):
        return orig_path(q, k, v, beta, same)

    def check(q, k, beta, what=""):
        orig_check(q, k, beta, what)
        return None

    try:
        inputs.attention_path, inputs.check_logits = path, check
        want = pt.velocity(x, dyn, dtype=dt)
    finally:
        inputs.attention_path, inputs.check_logits = orig_path, orig_check
    np.testing.assert_array_equal(got, want)


def test_head_norms_and_bound():
    """head_norms: one array when k is q; the bound from them equals the one computed afresh; an
    overflowing bound is refused with the same error."""
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal((9, 4)), rng.standard_normal((5, 4))
    qq, kk = inputs.head_norms(q, q)
    assert kk is qq
    norms = inputs.check_logits(q, k, 2.0)
    assert inputs.logit_bound(q, k, 2.0, norms) == inputs.logit_bound(q, k, 2.0)
    assert inputs.check_logits(q[:0], k, 2.0) is None
    with pytest.raises(pt.ParticlesError, match="overflow"):
        inputs.check_logits(q * 1e155, k * 1e155, 1.0)


def test_stacked_maps_kept_per_dynamics():
    """The stacked maps of a factored Dynamics are built once per dtype, read-only, and not
    returned for another Dynamics (even one at the same address after the first is freed)."""
    rng = np.random.default_rng(5)
    d = 5
    mk = lambda: pt.Dynamics(  # noqa: E731
        beta=1.0,
        Q=rng.standard_normal((2, 3, d)),
        K=rng.standard_normal((2, 3, d)),
        V=rng.standard_normal((2, 3, d)),
        O=rng.standard_normal((2, d, 3)),
    )
    dyn = mk()
    a = inputs.stacked_maps(dyn, d, np.float64)
    assert inputs.stacked_maps(dyn, d, np.float64)[0] is a[0]
    assert not a[0].flags.writeable and not a[2].flags.writeable
    b = inputs.stacked_maps(dyn, d, np.float32)
    assert b[0].dtype == np.float32 and b[0] is not a[0]
    W0 = a[0].copy()
    del dyn, a, b
    gc.collect()
    for _ in range(20):  # new objects, perhaps at the freed address
        other = mk()
        W, _, _ = inputs.stacked_maps(other, d, np.float64)
        np.testing.assert_array_equal(W, inputs._stacked_maps(other, d, np.float64)[0])
        assert W.shape == W0.shape


@pytest.mark.parametrize("beta, kind", [(500.0, "USA"), (750.0, "USA"), (300.0, "SA")])
def test_velocity_repairs_the_rows_the_two_pass_scan_finds(beta, kind):
    """At large beta (rows that overflow or cancel) velocity, whose projection pass also scans,
    equals the projection followed by stable.repaired's own scan, bit for bit."""
    rng = np.random.default_rng(11)
    x = _unit(rng, 8, 3)
    dyn = pt.Dynamics(beta=beta, kind=kind)
    got = pt.velocity(x, dyn, method="exact")
    with np.errstate(over="ignore", invalid="ignore"):
        f = inputs.raw_field(x, dyn)
        out = np.empty_like(f)
        kernels._project_tangent.serial(x, f, out)
    assert stable.repair_scan(f, out).any()
    np.testing.assert_array_equal(got, stable.repaired(x, dyn, f, out))
