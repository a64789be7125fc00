"""The online path's tile kernels (q != k) against their plain-numpy twins, and the path itself.

The online path takes the row sums of each tile of exponentials from the kernel that computes
them (``_exp_shift_sum_tile`` for the bounded path, ``_softmax_tile`` for the online softmax)
instead of a column of ones in the values' GEMM; these tests pin the kernels to their twins in
tests/naive.py at tight tolerances (see tests/test_kernels.py for the conventions) and the
tiled results to the naive attention, float64 and float32, on tile boundaries.
"""

import numpy as np
import pytest

from particles import config
from particles.field import inputs as fields
from tests import naive
from tests.naive import attention_naive
from tests.test_kernels import (
    EPS,
    EPS32,
    NS,
    _tile_case,
    assert_close,
    assert_exp_close,
    tile_cases,
    variants,
)


@tile_cases(5, jit_only=False)
def test__exp_shift_sum_tile(variant, causal, diag, dtype):
    k = variants("_exp_shift_sum_tile")[variant]
    eps = EPS32 if dtype == np.float32 else EPS
    rng = np.random.default_rng(11)
    for B in NS:
        for C in NS:
            for beta in (0.0, 2.5, 300.0 if dtype == np.float64 else 30.0):
                s, ci, _, terms = _tile_case(rng, B, C, beta, dtype, True)
                want_s, want_z = naive._exp_shift_sum_tile(s, beta, ci, diag, causal, None)
                got, z = s.copy(), np.full(B, np.nan, dtype)
                k(got, beta, ci, diag, causal, z)
                assert got.dtype == dtype and z.dtype == dtype
                assert_exp_close(got, want_s, terms, eps)
                # the sums of the kernel's own terms (in [0, 1]), and against the twin's
                assert_close(z, got.astype(np.float64).sum(axis=1), rtol=C * eps)
                assert_close(z, want_z, rtol=C * eps + 4 * eps * (1 + terms.max()))
                if causal:
                    np.testing.assert_array_equal(got[naive._causal_mask(s.shape, diag)], 0.0)


@pytest.mark.parametrize("variant", [0, 1], ids=["parallel", "serial"])
def test__exp_shift_sum_tile_writes_a_strided_column(variant):
    """z may be a column of a larger array (the online path passes the last column of its sums)."""
    k = variants("_exp_shift_sum_tile")[variant]
    rng = np.random.default_rng(12)
    s, ci, _, _ = _tile_case(rng, 7, 50, 2.5, np.float64, True)
    acc = np.full((7, 4), 5.0)
    got = s.copy()
    k(got, 2.5, ci, 0, False, acc[:, 3])
    assert_close(acc[:, 3], got.sum(axis=1), rtol=50 * EPS)
    np.testing.assert_array_equal(acc[:, :3], 5.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test__row_sum(dtype):
    k = variants("_row_sum")[0]
    eps = EPS32 if dtype == np.float32 else EPS
    rng = np.random.default_rng(13)
    for n in (*NS, 64, 513, 4096):
        row = rng.uniform(0.0, 1.0, n).astype(dtype)
        for lim in {1, n // 2 or 1, n}:
            want = naive._row_sum(row, lim)
            assert_close(k(row, lim), want, rtol=lim * eps)


# --- the path: tiled results against the naive attention ------------------------------------------
@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request, monkeypatch):
    monkeypatch.setattr(config, "THREADS", request.param)
    monkeypatch.setattr(config, "THREADED_MIN_WORK", 0)
    return request.param


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@pytest.mark.parametrize("bounded", [True, False], ids=["bounded", "online_softmax"])
@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 3e-5)])
def test_online_path_matches_naive(bounded, kind, causal, dtype, tol, threads):
    """q != k on tiles that do not divide n or m; beta large enough for the online softmax where
    ``bounded`` is False (2 max_i c_i beyond the bounded path's span), same answers either way."""
    rng = np.random.default_rng(14)
    for n, m in ((47, 47), (97, 97), (64, 130)):
        if causal and n != m:
            continue
        q = _unit(rng.standard_normal((n, 6)))
        k = _unit(rng.standard_normal((m, 6)))
        v = rng.standard_normal((m, 5))
        beta = 3.0 if bounded else (400.0 if dtype == np.float64 else 40.0)
        path = fields.attention_path(q.astype(dtype), k.astype(dtype), v, beta, False)
        assert (path[1] is not None) == bounded
        ref = attention_naive(q, k, v, beta, kind == "SA", causal)
        got = fields.attention(
            q.astype(dtype),
            k.astype(dtype),
            v.astype(dtype),
            beta,
            normalize=kind == "SA",
            causal=causal,
            tile_rows=16,
            tile_cols=24,
        )
        assert got.dtype == dtype
        err = np.abs(got - ref).max() / np.abs(ref).max()
        assert err < tol, (n, m, err)
