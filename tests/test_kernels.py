"""Every numba kernel against its plain-numpy twin of the same name in tests/naive.py (STYLE §3, §5).

Kernels are found by name wherever they live in ``particles`` (:func:`all_kernels`), so they may move
between modules; :func:`test_every_kernel_has_a_tested_twin` fails for a kernel without a twin, and
for a twin that no test calls.

Tolerances, and why:

- ``RTOL = 1e-12`` for the arithmetic kernels (products, projections, normalisations, attention
  rows). Kernel and twin differ only by rounding: summation order, and the fused multiply-adds that
  ``config.FASTMATH`` ("contract") allows. The error is measured against the size of the terms that
  were summed (``scale``: |a| |b| for a product), so cancellation cannot fail a correct kernel.
- Exact equality where both sides round the same single operation, or none: transpose, max/min,
  row rescaling, union-find, pair fractions, cluster counts, the collapse test, fills.
- ``_exp_poly``: 3 ulp of e^r. The kernel's degree-12 Taylor polynomial is documented at 2e-16
  truncation error; with Horner rounding it is within 2 ulp (measured), and numpy's exp within 1 ulp.
- ``_exp_row`` / ``_exp_array``: 4 ulp (the Cody–Waite reduction adds about 1 ulp to the polynomial).
- Shifted exponentials exp(a s - b - c) (``_exp_shift_row``, tiles, online softmax): the exponent
  v is rounded (and perhaps fused) differently in kernel and twin; an absolute error eps |terms| in v
  is a relative error of e^v, so the relative tolerance is ``4 eps (1 + |a s| + |b| + |c|)``, with
  eps = 2^-52 for float64 and 2^-23 for float32 (whose polynomial is documented at 1e-7).
- Time steppers (``_gram_system``, ``_coord_system`` and their ensembles, with or without noise):
  1e-12 absolute on unit vectors and Gram entries after a few steps (rounding differences of 1e-16
  grow by the Lipschitz constant of the step, a few units per step); the harmonic modes, 1e-10.

Sizes follow STYLE §5: n in {1, 2, 7, 50}, d in {2, 3, 16}; every random input comes from a seeded
``np.random.default_rng``.
"""

import functools
import importlib
import itertools
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from numba import njit
from numba.core.dispatcher import Dispatcher

from particles.solvers import registry
from particles.solvers.ensemble import _scheme
from tests import naive

RTOL = 1e-12
EPS = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)
NS = (1, 2, 7, 50)
DS = (2, 3, 16)
TESTS = Path(__file__).parent
#: the online softmax's running maximum beta * max(row) is float64 in numba and float32 for a float32
#: row in plain Python (numpy's scalar promotion, NEP 50): checked with the JIT on only
needs_jit = pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="plain Python promotes float scalars unlike numba"
)


# --------------------------------------------------------------------------------------------------
# finding the kernels (by name, in any module of particles)


def _modules():
    """Every module of the package ``particles``, imported (including ``particles.cli``, which is
    installed from the top-level cli/ folder and so is not below particles/ on disk)."""
    import particles

    mods = [particles]
    roots = [particles]
    try:
        roots.append(importlib.import_module("particles.cli"))
        mods.append(roots[-1])
    except ModuleNotFoundError:
        pass
    for root in roots:
        for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
            mods.append(importlib.import_module(info.name))
    return mods


def _overloaded():
    """Python functions of particles that numba compiles through ``@overload`` (typed dispatch)."""
    try:
        from numba.core.typing.templates import builtin_registry
    except ImportError:  # numba moved its registry: such kernels are then not enumerated
        return []
    return [
        f
        for f, _ in builtin_registry.globals
        if str(getattr(f, "__module__", "")).startswith("particles")
    ]


def _discover():
    """{name: [(kernel, (module, attribute, serial))]} of the numba kernels of particles, found in
    this process (the JIT must be on: only then are kernels numba dispatchers).

    A dispatcher is named after its Python function's code object, so the serial twin that
    ``_serial_and_parallel`` compiles from the same code (``kernel.serial``) joins its parallel
    kernel under one name; a ``<name>_serial`` of a kernel ``<name>`` is folded in too. Functions
    compiled through ``@overload`` count as kernels (their value is the Python function).
    """
    found = {}

    def add(name, obj, where):
        entries = found.setdefault(name, [])
        if not any(e is obj for e, _ in entries):
            entries.append((obj, where))

    for mod in _modules():
        for attr, obj in list(vars(mod).items()):
            if not isinstance(obj, Dispatcher):
                continue
            for d, serial in ((obj, False), (getattr(obj, "serial", None), True)):
                if isinstance(d, Dispatcher) and d.py_func.__module__.startswith("particles"):
                    add(d.py_func.__code__.co_name, d, (mod.__name__, attr, serial))
    for f in _overloaded():
        add(f.__name__, f, (f.__module__, f.__name__, False))
    for name in [n for n in found if n.endswith("_serial") and n[: -len("_serial")] in found]:
        for d, where in found.pop(name):
            add(name[: -len("_serial")], d, where)
    for name, entries in found.items():  # the kernel of that very name first, its twin after
        entries.sort(key=lambda e: getattr(e[0], "__name__", name) != name)
    return found


def _locations_from_a_jit_process():
    """{name: [(module, attribute, serial)]} from :func:`_discover` in a subprocess with the JIT on.

    Under ``NUMBA_DISABLE_JIT=1`` (coverage runs, STYLE §5) the decorators return plain functions,
    which nothing tells apart from other functions.
    """
    code = (
        "import json; from tests.test_kernels import _discover; "
        "print(json.dumps({n: [w for _, w in e] for n, e in _discover().items()}))"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "0"}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=TESTS.parent, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@functools.cache
def all_kernels():
    """{name: [kernels]} of every numba kernel defined in particles (any module), keyed by name; a
    serial/parallel pair is one name, the parallel kernel first."""
    if numba.config.DISABLE_JIT:

        def resolve(module, attr, serial):
            obj = getattr(importlib.import_module(module), attr)
            return obj.serial if serial else obj

        locations = _locations_from_a_jit_process()
        return {name: [resolve(*w) for w in ws] for name, ws in locations.items()}
    return {name: [k for k, _ in entries] for name, entries in _discover().items()}


def kernel(name):
    """The numba kernel ``name`` (for a serial/parallel pair: the parallel one)."""
    entries = all_kernels().get(name)
    if not entries:
        pytest.fail(f"no numba kernel named {name} in particles: remove its test and its twin")
    return entries[0]


def variants(name):
    """Every compiled variant of kernel ``name``: itself, and its serial twin when it has one."""
    kernel(name)
    return list(all_kernels()[name])


# --------------------------------------------------------------------------------------------------
# comparisons


def assert_close(got, want, scale=0.0, rtol=RTOL):
    """|got - want| <= rtol (|want| + scale) elementwise; ``scale`` is the size of the terms that
    were summed (so that cancellation is judged against them). NaN anywhere fails."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    bound = rtol * (np.abs(want.astype(np.float64)) + scale)
    bad = ~(err <= bound)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{bad.sum()} of {bad.size} entries differ; first at {i}: got {got[i]!r}, want "
            f"{want[i]!r}, |err| = {err[i]:.3g} > {bound[i]:.3g}; max err {err.max():.3g}"
        )


def assert_ulp(got, want, ulp):
    """|got - want| <= ulp * spacing(want) (zeros must match exactly)."""
    got, want = np.asarray(got), np.asarray(want)
    err = np.abs(got - want)
    bad = ~(err <= ulp * np.spacing(np.abs(want)))
    assert not bad.any(), (got[bad][:5], want[bad][:5], (err / np.spacing(np.abs(want))).max())


def assert_exp_close(got, want, terms, eps):
    """For a shifted exponential: relative error <= 4 eps (1 + terms), terms = |a s| + |b| + |c|
    (the size of the exponent's summands); zeros must match exactly."""
    got64, want64 = np.asarray(got, np.float64), np.asarray(want, np.float64)
    tol = 4.0 * eps * (1.0 + np.asarray(terms, np.float64)) * np.abs(want64)
    bad = ~(np.abs(got64 - want64) <= tol)
    assert not bad.any(), (got64[bad][:5], want64[bad][:5])


def unit_rows(rng, n, d):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def cap(rng, n, d, width):
    """n unit vectors c + width u_i (normalised) around a random direction c: one tight cluster for
    small width, nearly uniform points for large width."""
    c = unit_rows(rng, 1, d)
    x = unit_rows(np.random.default_rng(rng.integers(1 << 30)), n, d) * width + c
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def gram_of(x):
    """The Gram matrix of the normalised rows of x, symmetric with unit diagonal."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    G = x @ x.T
    np.fill_diagonal(G, 1.0)
    return 0.5 * (G + G.T)


def _copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


# ==================================================================================================
# field kernels (particles/field/kernels.py)


def test__exp_poly():
    r = np.concatenate(
        [
            np.linspace(-np.log(2) / 2, np.log(2) / 2, 4001),
            np.random.default_rng(0).uniform(-np.log(2) / 2, np.log(2) / 2, 4000),
            [0.0, -0.0, 1e-300, -1e-300],
        ]
    )
    k = kernel("_exp_poly")
    got = np.array([k(v) for v in r])
    assert_ulp(got, naive._exp_poly(r), 3)


@pytest.mark.parametrize("m", [*NS, 1000])
def test__exp_row_and__exp_array(m):
    rng = np.random.default_rng(m)
    x = rng.uniform(-760.0, 709.0, m)
    x[: min(m, 6)] = [-708.0, 0.0, -0.0, 709.0, -1e-300, -709.0][: min(m, 6)]
    want = naive._exp_row(x, None, None)
    out = np.full(m, np.nan)
    kernel("_exp_row")(x, out, np.empty(m, np.int64))
    assert_ulp(out, want, 4)
    assert np.all((out == 0.0) == (x < -708.0))
    same = x.copy()  # x and out may be the same array
    kernel("_exp_row")(same, same, np.empty(m, np.int64))
    np.testing.assert_array_equal(same, out)
    out2 = np.full(m, np.nan)
    kernel("_exp_array")(x, out2)
    assert_ulp(out2, naive._exp_array(x, None), 4)


def test__exp_row_above_its_range():
    """Finite up to log(DBL_MAX) = 709.78, +inf beyond (the exponent bits once overflowed here)."""
    x = np.array([709.0, 709.5, 709.7, 709.78, 709.8, 710.5, 800.0, 1e4, np.inf])
    out = np.empty_like(x)
    kernel("_exp_row")(x, out, np.empty(x.size, np.int64))
    with np.errstate(over="ignore"):
        want = naive._exp_row(x, None, None)
    fin = np.isfinite(want)
    assert fin.sum() == 4 and np.array_equal(out[~fin], want[~fin])
    assert_ulp(out[fin], want[fin], 4)


def test__exp_row_nan():
    x = np.array([np.nan, -1.0])
    out = np.empty_like(x)
    kernel("_exp_row")(x, out, np.empty(x.size, np.int64))
    assert np.isnan(out[0])


def _shift_case(rng, m, dtype, with_c):
    """row, a, b, cj with exponents a row_j - b - cj_j spread over [lo - 40, 0], none within a band
    around the clamp lo (where float32 and float64 evaluation could fall on different sides)."""
    lo = naive.EXP_MIN32 if dtype == np.float32 else naive.EXP_MIN
    v = rng.uniform(lo - 40.0, 0.0, m)
    v[np.abs(v - lo) < 0.5] -= 1.0
    a = float(rng.uniform(0.5, 3.0))
    b = float(rng.uniform(0.0, 30.0))
    c = rng.uniform(0.0, 30.0, m) if with_c else np.zeros(m)
    row = ((v + b + c) / a).astype(dtype)
    cj = c.astype(dtype) if with_c else np.empty(0, dtype)
    return row, a, b, cj, np.abs(a * row.astype(np.float64)) + abs(b) + c


@pytest.mark.parametrize("with_c", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test__exp_shift_row(dtype, with_c):
    twin = naive._exp_shift_row
    k = kernel("_exp_shift_row")
    eps = EPS32 if dtype == np.float32 else EPS
    rng = np.random.default_rng(3)
    for m in (*NS, 333):
        for lim in sorted({0, 1, m // 2, m}):
            row, a, b, cj, terms = _shift_case(rng, m, dtype, with_c)
            args = (row, lim, a, b, cj, np.empty(m, dtype))
            want = twin(*args)
            got = row.copy()
            k(got, lim, a, b, cj, np.empty(m, dtype))
            assert got.dtype == dtype
            np.testing.assert_array_equal(got[lim:], row[lim:])  # untouched beyond lim
            assert_exp_close(got[:lim], want[:lim], terms[:lim], eps)


def test__exp_shift_row_underflows_to_zero():
    k = kernel("_exp_shift_row")
    for dtype, lo in ((np.float64, naive.EXP_MIN), (np.float32, naive.EXP_MIN32)):
        row = np.array([lo - 1.0, lo - 100.0, lo + 1.0], dtype)
        args = (row, 3, 1.0, 0.0, np.empty(0, dtype), np.empty(3, dtype))
        want = naive._exp_shift_row(*args)
        got = row.copy()
        k(got, *args[1:])
        np.testing.assert_array_equal(got[:2], 0.0)
        np.testing.assert_array_equal(want[:2], 0.0)
        assert_close(got[2], want[2], rtol=4 * EPS32)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test__exp_precision(dtype):
    """The constants of the shifted exp in each precision: values and types, exactly."""
    f = kernel("_exp_precision")

    @njit
    def call(buf, a, b):  # every value in an array, so that its numba type shows
        a, b, bits, c = f(buf, a, b)
        head = (c[0], c[1], c[2], c[3], c[4], c[5])
        return (
            np.full(1, a),
            np.full(1, b),
            bits,
            np.array(head),
            np.full(1, c[6]),
            c[7],
            np.array(c[8]),
        )

    def pack(a, b, bits, c):
        return (
            np.array([a]),
            np.array([b]),
            bits,
            np.array(c[:6]),
            np.array([c[6]]),
            c[7],
            np.array(c[8]),
        )

    buf = np.array([1.5, -2.0], dtype)
    want = pack(*naive._exp_precision(buf, 0.1, 1e-9))
    py = pack(*f(buf, 0.1, 1e-9))  # the Python body (NUMBA_DISABLE_JIT)
    for got in (call(buf, 0.1, 1e-9), py):
        assert got[5] == want[5]
        for g, w in zip(got[:5] + got[6:], want[:5] + want[6:], strict=True):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, twin", [("_row_max", naive._row_max), ("_row_min", naive._row_min)])
def test__row_max_and__row_min(name, twin, dtype):
    rng = np.random.default_rng(4)
    for m in (*NS, 1001):
        row = rng.standard_normal(m).astype(dtype)
        for lim in sorted({1, 2, m // 2 + 1, m} & set(range(1, m + 1))):
            got = kernel(name)(row, lim)
            assert got == twin(row, lim)


def tile_cases(diag: int, jit_only: bool = True):
    """The cases of a tile kernel's test (``jit_only``: skipped without the JIT): both variants;
    unmasked, or causal with the offsets 0, ``diag``, -3, -60; float64 and float32."""
    marks = [
        pytest.mark.parametrize("dtype", [np.float64, np.float32]),
        pytest.mark.parametrize(
            "causal, diag", [(False, 0), (True, 0), (True, diag), (True, -3), (True, -60)]
        ),
        pytest.mark.parametrize("variant", [0, 1], ids=["parallel", "serial"]),
    ] + ([needs_jit] if jit_only else [])

    def decorate(fn):
        for mark in marks:
            fn = mark(fn)
        return fn

    return decorate


def _tile_case(rng, B, C, beta, dtype, empty_cj):
    """A tile s with shifts ci, cj that keep every exponent beta s_ij - ci_i - cj_j <= 0."""
    s = rng.uniform(-1.0, 1.0, (B, C)).astype(dtype)
    ci = (abs(beta) / 2 + rng.uniform(0.0, 3.0, B)).astype(dtype)
    cj = (
        np.empty(0, dtype) if empty_cj else (abs(beta) / 2 + rng.uniform(0.0, 3.0, C)).astype(dtype)
    )
    c = np.zeros(C) if empty_cj else cj.astype(np.float64)
    terms = (
        np.abs(beta * s.astype(np.float64)) + np.abs(ci.astype(np.float64))[:, None] + c[None, :]
    )
    return s, ci, cj, terms


@tile_cases(5, jit_only=False)
def test__exp_shift_tile(variant, causal, diag, dtype):
    k = variants("_exp_shift_tile")[variant]
    eps = EPS32 if dtype == np.float32 else EPS
    rng = np.random.default_rng(5)
    for B in NS:
        for C in NS:
            for beta in (0.0, 2.5, 300.0 if dtype == np.float64 else 30.0):
                empty_cj = bool(rng.integers(2))
                s, ci, cj, terms = _tile_case(rng, B, C, beta, dtype, empty_cj)
                want = naive._exp_shift_tile(s, beta, ci, cj, diag, causal)
                got = s.copy()
                k(got, beta, ci, cj, diag, causal)
                assert got.dtype == dtype
                assert_exp_close(got, want, terms, eps)
                if causal:
                    np.testing.assert_array_equal(got[naive._causal_mask(s.shape, diag)], 0.0)


@tile_cases(4)
def test__softmax_tile(variant, causal, diag, dtype):
    k = variants("_softmax_tile")[variant]
    eps = EPS32 if dtype == np.float32 else EPS
    rng = np.random.default_rng(6)
    for B in NS:
        for C in NS:
            for beta in (0.0, 3.0, -2.0, 40.0):
                s = rng.uniform(-1.0, 1.0, (B, C)).astype(dtype)
                m = np.where(rng.random(B) < 0.4, -np.inf, rng.uniform(-40.0, 40.0, B))
                want = naive._softmax_tile(s, beta, diag, causal, m, None, None)
                want_s, want_m, want_alpha, want_z = want
                got_s, got_m, got_alpha = s.copy(), m.copy(), np.full(B, np.nan)
                got_z = np.full(B, np.nan, dtype)
                k(got_s, beta, diag, causal, got_m, got_alpha, got_z)
                np.testing.assert_array_equal(got_m, want_m)  # max commutes with beta * (exact)
                fin = np.isfinite(want_m)
                terms = (
                    np.abs(beta * s.astype(np.float64)) + np.where(fin, np.abs(want_m), 0)[:, None]
                )
                assert_exp_close(got_s, want_s, terms, eps)
                # the row sums: of the kernel's own terms (in [0, 1]) to C eps, and the twin's
                assert_close(got_z, got_s.astype(np.float64).sum(axis=1), rtol=C * eps)
                assert_close(got_z, want_z, rtol=C * eps + 4 * eps * (1 + terms.max(initial=0)))
                assert_close(got_alpha, want_alpha, rtol=4 * EPS)
                if causal:
                    np.testing.assert_array_equal(got_s[naive._causal_mask(s.shape, diag)], 0.0)


@pytest.mark.parametrize("variant", [0, 1], ids=["parallel", "serial"])
def test__rescale_add_and__rescale_rows(variant):
    rng = np.random.default_rng(7)
    for n in NS:
        for d in (*DS, 17):
            acc = rng.standard_normal((n, d))
            part = rng.standard_normal((n, d))
            alpha = rng.uniform(0.0, 1.0, n)
            alpha[: min(n, 2)] = [1.0, 0.0][: min(n, 2)]
            want = naive._rescale_add(acc, alpha, part)
            got = acc.copy()
            variants("_rescale_add")[variant](got, alpha, part)
            assert_close(got, want, scale=np.abs(alpha[:, None] * acc) + np.abs(part))
            want = naive._rescale_rows(acc, alpha)
            got = acc.copy()
            variants("_rescale_rows")[variant](got, alpha)
            np.testing.assert_array_equal(got, want)  # one rounding on both sides


@pytest.mark.parametrize("variant", [0, 1], ids=["parallel", "serial"])
def test__project_tangent_and__normalize_rows(variant):
    rng = np.random.default_rng(8)
    for n in NS:
        for d in DS:
            x = unit_rows(rng, n, d)
            v = rng.standard_normal((n, d)) * rng.uniform(0.1, 10.0)
            v[0] = 3.0 * x[0]  # a normal vector: its projection cancels to ~0
            out = np.full((n, d), np.nan)
            variants("_project_tangent")[variant](x, v, out)
            scale = np.linalg.norm(v, axis=1, keepdims=True) * np.ones(d)
            assert_close(out, naive._project_tangent(x, v, None), scale=scale)
            y = rng.standard_normal((n, d)) * rng.uniform(1e-3, 1e3)
            got = y.copy()
            variants("_normalize_rows")[variant](got)
            assert_close(got, naive._normalize_rows(y), scale=1.0)


# ==================================================================================================
# ensemble kernels (particles/solvers/kernels.py)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 2), (50, 16), (16, 50), (0, 3)])
def test__transpose(shape):
    a = np.random.default_rng(9).standard_normal(shape)
    out = np.full(shape[::-1], np.nan)
    kernel("_transpose")(a, out)
    np.testing.assert_array_equal(out, naive._transpose(a, None))


# (n, m, p) for a (n, m) @ (m, p): every branch of _mm (BLAS in row blocks, narrow output, loops)
MM_SHAPES = [
    (1, 1, 1),
    (2, 3, 2),
    (7, 3, 16),  # inner size < 8: loop
    (7, 16, 16),  # BLAS, one block
    (20, 128, 128),  # BLAS, several row blocks
    (50, 16, 3),  # narrow output: transposed accumulation
    (50, 2, 2),
    (9, 7, 2),
    (1, 50, 50),
    (50, 50, 50),
    (3, 0, 4),  # empty inner dimension: zeros
]


@pytest.mark.parametrize("n, m, p", MM_SHAPES)
def test__mm(n, m, p):
    rng = np.random.default_rng(n * 10000 + m * 100 + p)
    a, b = rng.standard_normal((n, m)), rng.standard_normal((m, p))
    out = np.full((n, p), np.nan)
    kernel("_mm")(a, b, out)
    assert_close(out, naive._mm(a, b, None), scale=np.abs(a) @ np.abs(b))


@pytest.mark.parametrize("usa", [False, True], ids=["SA", "USA"])
@pytest.mark.parametrize("beta", [0.0, 1.5, 8.0, 300.0])
def test__attention_rows(beta, usa):
    rng = np.random.default_rng(10)
    for n in NS:
        for d in DS:
            x = unit_rows(rng, n, d)
            L = x @ (rng.standard_normal((d, d)) / np.sqrt(d)) @ x.T  # logits x_i^T B x_j
            if beta == 300.0:
                L = np.clip(L, -1.0, 1.0)  # exponents >= -600: no clamp at -708 (USA: no overflow)
            out = np.full((n, n), np.nan)
            args = (L, beta, usa, out, np.empty((n, n)), np.empty(n * n, np.int64))
            kernel("_attention_rows")(*args)
            assert_close(out, naive._attention_rows(*args))


def test__find():
    rng = np.random.default_rng(11)
    for n in (*NS, 200):
        parent = np.array([rng.integers(0, i + 1) for i in range(n)], np.int64)  # a forest
        roots = [naive._find(parent, i) for i in range(n)]
        work = parent.copy()
        for i in rng.permutation(n):
            assert kernel("_find")(work, i) == roots[i]
        # path compression may rewire the forest but never changes a root
        assert [naive._find(work, i) for i in range(n)] == roots


def _stats_cases(rng):
    for n in NS:
        for d in DS:
            for width in (0.02, 0.3, 3.0):
                yield n, gram_of(cap(rng, n, d, width))


@pytest.mark.parametrize("count", [True, False])
def test__gram_stats_and__gram_of(count):
    rng = np.random.default_rng(12)
    for n, G in _stats_cases(rng):
        for delta, cl in ((0.05, 0.01), (0.5, 0.3), (1.5, 1.9)):
            thr, thr_cl = 1.0 - delta, 1.0 - cl
            args = (G, thr, thr_cl, count, np.empty(n, np.int64))
            assert kernel("_gram_stats")(*args) == naive._gram_stats(*args)
    # strict inequalities: an entry equal to a threshold is not a hit
    G = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.2], [0.2, 0.2, 1.0]])
    args = (G, 0.5, 0.2, count, np.empty(3, np.int64))
    assert kernel("_gram_stats")(*args) == naive._gram_stats(*args) == (0.0, 2 if count else -1)
    for n in NS:
        for d in DS:
            Y = cap(rng, n, d, 0.3)
            L = np.empty((n, n))
            kernel("_gram_of")(Y, np.empty((d, n)), L)
            assert_close(L, naive._gram_of(Y, None, None), scale=1.0)
            H = 3.0 * Y  # a residual stream: only its directions enter the statistics
            for code, state in ((0, Y), (1, H)):
                kernel("_state_gram")(state, code, np.empty((n, d)), np.empty((d, n)), L)
                assert_close(L, naive._state_gram(state, code, None, None, None), scale=1.0)


def test__collapsed_and__fill_collapsed():
    rng = np.random.default_rng(13)
    for n, G in _stats_cases(rng):
        for thr, thr_cl in ((0.9, 0.99), (0.5, -0.5), (-0.5, -0.9), (G.min(), -1.0)):
            args = (G, float(thr), float(thr_cl))
            assert kernel("_collapsed")(*args) == naive._collapsed(*args)
    for T in (1, 2, 7):
        for k in range(T + 1):
            for count in (True, False):
                frac, ncl = rng.random(T), rng.integers(0, 9, T)
                want = naive._fill_collapsed(frac, ncl, k, count)
                kernel("_fill_collapsed")(frac, ncl, k, count)
                np.testing.assert_array_equal(frac, want[0])
                np.testing.assert_array_equal(ncl, want[1])


def test__normalize_gram_and__congruence():
    rng = np.random.default_rng(14)
    for n in NS:
        for d in DS:
            Y = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, (n, 1))
            H = Y @ Y.T
            out = np.full((n, n), np.nan)
            kernel("_normalize_gram")(H, out)
            assert_close(out, naive._normalize_gram(H, None))
            np.testing.assert_array_equal(np.diag(out), 1.0)
            G = gram_of(Y)
            C = np.eye(n) + 0.3 * rng.standard_normal((n, n))
            s = [np.empty((n, n)) for _ in range(3)]
            out = np.full((n, n), np.nan)
            kernel("_congruence")(C, G, *s, out)
            assert_close(
                out, naive._congruence(C, G, *s, None), scale=np.abs(C) @ np.abs(G) @ np.abs(C).T
            )
            np.testing.assert_array_equal(out, out.T)  # symmetric to the last bit


def _coeffs_case(rng, n, d):
    X = unit_rows(rng, n, d)
    C = np.eye(n) + 0.1 * rng.standard_normal((n, n))
    return X, C, gram_of(X)


@pytest.mark.parametrize("tangent", [True, False])
@pytest.mark.parametrize("usa", [False, True], ids=["SA", "USA"])
def test__gram_coeffs(usa, tangent):
    rng = np.random.default_rng(15)
    for n in NS:
        for d in DS:
            for beta in (0.0, 2.0, 8.0):
                X, C, G = _coeffs_case(rng, n, d)
                outs = [np.full((n, n), np.nan) for _ in range(3)]
                scratch = [np.empty((n, n)) for _ in range(3)] + [np.empty(n * n, np.int64)]
                args = (C, G, beta, usa, tangent, *outs, *scratch)
                want = naive._gram_coeffs(*_copies(args))
                kernel("_gram_coeffs")(*args)
                H, A, F = outs
                absC = np.abs(C)
                assert_close(H, want[0], scale=absC @ np.abs(G) @ absC.T)
                assert_close(A, want[1])
                c = np.abs(np.sum(want[1] * want[0], axis=1))[:, None] if tangent else 0.0
                assert_close(F, want[2], scale=np.abs(want[1]) @ absC + c * absC)


def test_naive_gram_coeffs_is_the_field():
    """The twin itself: F X is the field at Y = C X (coefficients of f(C X) in the rows of X)."""
    rng = np.random.default_rng(16)
    for usa in (False, True):
        for tangent in (False, True):
            X, C, G = _coeffs_case(rng, 7, 3)
            H, A, F = naive._gram_coeffs(C, G, 2.0, usa, tangent, *[None] * 7)
            Y = C @ X
            assert_close(F @ X, naive.field_naive(Y, 2.0, usa, tangent=tangent), scale=1e2)


def _weights(rng, d, has):
    return rng.standard_normal((d, d)) / np.sqrt(d) if has else np.zeros((d, d))


@pytest.mark.parametrize("has_B, has_V", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("usa", [False, True], ids=["SA", "USA"])
def test__coord_field(usa, has_B, has_V):
    rng = np.random.default_rng(17)
    for n in NS:
        for d in DS:
            for beta in (0.0, 1.0, 6.0):
                for tangent in (False, True):
                    Y = unit_rows(rng, n, d)
                    B, V = _weights(rng, d, has_B), _weights(rng, d, has_V)
                    VT = np.ascontiguousarray(V.T)
                    out = np.full((n, d), np.nan)
                    scratch = (
                        [np.empty((n, d))]
                        + [np.empty((n, n)) for _ in range(2)]
                        + [np.empty((d, n)), np.empty((n, n)), np.empty((n, d))]
                    )
                    args = (Y, B, VT, has_B, has_V, beta, usa, tangent, *scratch, out)
                    args = (*args, np.empty(n * n, np.int64))
                    want = naive._coord_field(*_copies(args))
                    kernel("_coord_field")(*args)
                    A = naive._attention_rows(
                        Y @ (B if has_B else np.eye(d)) @ Y.T, beta, usa, *[None] * 3
                    )
                    absV = np.abs(VT) if has_V else np.eye(d)
                    assert_close(out, want, scale=2.0 * np.max(np.abs(A) @ np.abs(Y) @ absV))


def test__combine_and__subtract_along():
    rng = np.random.default_rng(18)
    for n in NS:
        for d in DS:
            base = rng.standard_normal((n, d))
            Ks = rng.standard_normal((4, n, d))
            nums = np.array([1.0, 2.0, 0.0, 1.0])
            out = np.empty((n, d))
            kernel("_combine")(base, Ks, nums, 6.0, 0.1, out)
            want = naive._combine(base, Ks, nums, 6.0, 0.1, None)
            assert_close(out, want, scale=np.abs(base).max() + 0.1 * np.abs(Ks).sum(0).max())
            a, b, sv = (rng.standard_normal((n, d)) for _ in range(3))
            r = rng.standard_normal((n, d))
            got = r.copy()
            kernel("_subtract_along")(a, b, sv, got)
            scale = 1.0 + np.abs(a * b).sum(1).max() * np.abs(sv).max()
            assert_close(got, naive._subtract_along(a, b, sv, r), scale=scale)


@pytest.mark.parametrize("early", [True, False])
def test__checkpoint(early):
    rng = np.random.default_rng(21)
    for n, G in _stats_cases(rng):
        for k in (0, 1, 3):
            frac, ncl = np.full(5, np.nan), np.full(5, -7, np.int64)
            stats = (0.9, 0.97, True, early)
            want = naive._checkpoint(G, k, frac, ncl, stats, None)
            got = kernel("_checkpoint")(G, k, frac, ncl, stats, np.empty(n, np.int64))
            assert got == want[0]
            np.testing.assert_array_equal(frac, want[1])
            np.testing.assert_array_equal(ncl, want[2])


# -------------------------------------------------------------------------------- the time steppers
# the stepping loops are generic over a Butcher tableau: every batched method of the registry

METHOD_IDS = list(registry.names(batched=True, stochastic=False))
STEP_TOL = 1e-12


def _system_cases():
    """(n, d, width, early, count, save_every) over n in NS and d in DS, cycling the other settings so
    that each appears with every method: width 0.05 is collapsed at the first checkpoint (the early
    stop), 0.5 a loose cluster, 3.0 nearly uniform points."""
    for i, (n, d) in enumerate(itertools.product(NS, DS)):
        yield n, d, (0.05, 0.5, 3.0)[i % 3], i % 4 < 2, i % 2 == 0, 1 + (i // 3) % 3


def _run_args(nsteps, save_every, early, count):
    """(dt, nsteps, save_every, (thr_pair, thr_cl, count_cl, early)) and fresh frac / ncl arrays."""
    T = nsteps // save_every + 1
    frac, ncl = np.full(T, np.nan), np.full(T, -7, np.int64)
    return (0.1, nsteps, save_every, (0.7, 0.95, count, early)), frac, ncl


def _check_run(state, frac, ncl, steps, want):
    np.testing.assert_allclose(state, want[0], rtol=0, atol=STEP_TOL)
    np.testing.assert_array_equal(frac, want[1])
    np.testing.assert_array_equal(ncl, want[2])
    np.testing.assert_array_equal(steps, want[3])


@pytest.mark.parametrize("method", METHOD_IDS)
@pytest.mark.parametrize("usa", [False, True], ids=["SA", "USA"])
def test__gram_system(method, usa):
    rng = np.random.default_rng(19 + METHOD_IDS.index(method))
    scheme = _scheme(registry.get(method))
    for n, d, width, early, count, save_every in _system_cases():
        G = gram_of(cap(rng, n, d, width))
        beta = float(rng.choice([0.0, 1.0, 4.0] if not usa else [0.0, 0.5, 1.0]))
        common, frac, ncl = _run_args(6, save_every, early, count)
        args = (G, beta, usa, scheme, *common, frac, ncl)
        want = naive._gram_system(*_copies(args))
        steps = kernel("_gram_system")(*args)
        _check_run(G, frac, ncl, steps, want)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test__gram_ensemble(method):
    rng = np.random.default_rng(39)
    S, n, d = 3, 7, 3
    G = np.stack([gram_of(cap(rng, n, d, w)) for w in (0.05, 0.5, 3.0)])
    betas = np.array([0.0, 1.0, 4.0])
    common, frac, ncl = _run_args(6, 2, True, True)
    frac, ncl = np.stack([frac] * S), np.stack([ncl] * S)
    done = np.zeros(S, np.int64)
    args = (G, betas, False, _scheme(registry.get(method)), *common, frac, ncl, done)
    want = naive._gram_ensemble(*_copies(args))
    kernel("_gram_ensemble")(*args)
    _check_run(G, frac, ncl, done, want)


@pytest.mark.parametrize("has_B, has_V", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("method", METHOD_IDS)
@pytest.mark.parametrize("usa", [False, True], ids=["SA", "USA"])
def test__coord_system(method, usa, has_B, has_V):
    """The one coordinate loop, Post-LN without noise: the deterministic ensembles."""
    rng = np.random.default_rng(29 + METHOD_IDS.index(method))
    scheme = _scheme(registry.get(method))
    for n, d, width, early, count, save_every in _system_cases():
        X = cap(rng, n, d, width)
        B, V = _weights(rng, d, has_B), _weights(rng, d, has_V)
        beta = float(rng.choice([0.0, 1.0, 4.0] if not usa else [0.0, 0.5, 1.0]))
        common, frac, ncl = _run_args(6, save_every, early, count)
        args = (X, B, V, has_B, has_V, beta, usa, scheme, POST, np.inf, NO_KEY, *common)
        args += (frac, ncl, *_no_records())
        want = naive._coord_system(*_copies(args))
        steps = kernel("_coord_system")(*args)
        _check_run(X, frac, ncl, steps, want[:3] + want[5:])


#: (codes, k_switch): post, pre, peri, ngpt, Mix-LN (post for 3 steps, then pre), LN-Scaling
NORM_CASES = [((0, 0), 6), ((1, 1), 6), ((2, 2), 6), ((3, 3), 6), ((0, 1), 3), ((4, 4), 6)]
#: the Post-LN scheme as the loop's ``norm``, and the key of a noiseless run
POST = (np.zeros(2, np.int64), 0, 0.0)
NO_KEY = np.uint64(0)
NOISY_IDS = list(registry.names(batched=True, stochastic=True))


def _no_records(T=0, M=0):
    """Empty (r, modes) records (the deterministic ensembles), or (T,) and (T, M) ones."""
    return np.full(T, np.nan), np.full((T, M), np.nan)


def _streams(rng, n, d, width):
    """Residual streams: points of a cap scaled by radii in [0.5, 3]."""
    return cap(rng, n, d, width) * rng.uniform(0.5, 3.0, size=(n, 1))


@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize("case", range(len(NORM_CASES)))
def test__coord_system_norms(method, case):
    """The one coordinate loop under every normalisation scheme (residual streams for pre, peri)."""
    codes, k_switch = NORM_CASES[case]
    rng = np.random.default_rng(70 + case)
    scheme = _scheme(registry.get(method))
    norm = (np.array(codes), k_switch, 0.7)
    for n, d, width, _early, count, save_every in _system_cases():
        X = _streams(rng, n, d, width)
        if codes[0] in (0, 3, 4):
            X = X / np.linalg.norm(X, axis=1, keepdims=True)
        common, frac, ncl = _run_args(6, save_every, False, count)
        zero = np.zeros((d, d))
        args = (X, zero, zero, False, False, 1.0, False, scheme, norm, np.inf, NO_KEY, *common)
        args += (frac, ncl, *_no_records())
        want = naive._coord_system(*_copies(args))
        steps = kernel("_coord_system")(*args)
        _check_run(X, frac, ncl, steps, want[:3] + want[5:])


@pytest.mark.parametrize("method", NOISY_IDS)
@pytest.mark.parametrize("usa", [False, True], ids=["SA", "USA"])
def test__coord_system_noisy(method, usa):
    """The one coordinate loop with noise, every stochastic step: against the twin, whose geodesic
    and Strang steps are particles.simulate's own (steps.lie_euler_maruyama, steps.strang) driven by
    the same counter-based normals; r and the harmonic modes recorded, kappa = inf included."""
    rng = np.random.default_rng(90 + NOISY_IDS.index(method))
    scheme = _scheme(registry.get(method))
    for i, (n, d, width, _early, _count, save_every) in enumerate(_system_cases()):
        X = cap(rng, n, d, width)
        has = i % 2 == 1
        B, V = _weights(rng, d, has), _weights(rng, d, has)
        kappa = (0.5, 4.0, np.inf)[i % 3]
        key = np.uint64(rng.integers(1 << 62))
        common, _, _ = _run_args(6, save_every, False, False)
        r, modes = _no_records(6 // save_every + 1, 3)
        frac, ncl = np.empty(0), np.empty(0, np.int64)
        args = (X, B, V, has, has, 1.5, usa, scheme, POST, kappa, key, *common, frac, ncl, r, modes)
        want = naive._coord_system(*_copies(args))
        steps = kernel("_coord_system")(*args)
        np.testing.assert_allclose(X, want[0], rtol=0, atol=STEP_TOL)
        np.testing.assert_allclose(r, want[3], rtol=0, atol=STEP_TOL)
        np.testing.assert_allclose(modes, want[4], rtol=0, atol=1e-10)
        assert steps == want[5] == 6


@pytest.mark.parametrize("nb, nv", [(0, 0), (1, 0), (3, 1), (3, 3)])
@pytest.mark.parametrize("method", ["rk4", "strang"])
def test__coord_ensemble(nb, nv, method):
    rng = np.random.default_rng(40 + nb + nv)
    S, n, d = 3, 7, 3
    X = np.stack([cap(rng, n, d, w) for w in (0.05, 0.5, 3.0)])
    B = rng.standard_normal((nb, d, d)) / np.sqrt(d)
    V = rng.standard_normal((nv, d, d)) / np.sqrt(d)
    betas = np.array([0.0, 1.0, 4.0])
    noisy = registry.get(method).stochastic
    kappas = np.array([1.0, np.inf, 3.0]) if noisy else np.full(S, np.inf)
    keys = np.array([5, 6, 7], np.uint64)
    common, frac, ncl = _run_args(6, 2, not noisy, True)
    frac, ncl = np.stack([frac] * S), np.stack([ncl] * S)
    r, modes = (np.stack([a] * S) for a in _no_records(4, 2))
    done = np.zeros(S, np.int64)
    args = (X, B, V, betas, False, _scheme(registry.get(method)), POST, kappas, keys, *common)
    args += (frac, ncl, r, modes, done)
    want = naive._coord_ensemble(*_copies(args))
    kernel("_coord_ensemble")(*args)
    _check_run(X, frac, ncl, done, want[:3] + want[5:])
    np.testing.assert_allclose(r, want[3], rtol=0, atol=STEP_TOL)
    np.testing.assert_allclose(modes, want[4], rtol=0, atol=1e-10)


def test__exp_rows_and__rotate_rows():
    rng = np.random.default_rng(85)
    for n in NS:
        for d in DS:
            X = unit_rows(rng, n, d)
            U = rng.standard_normal((n, d)) * rng.choice([0.0, 1e-13, 1e-3, 2.0], size=(n, 1))
            U -= np.sum(U * X, axis=1, keepdims=True) * X
            out = np.empty((n, d))
            kernel("_exp_rows")(X, U, out)
            assert_close(out, naive._exp_rows(X, U, None), scale=1.0)
            P = unit_rows(rng, n, d)
            W = rng.standard_normal((n, d)) * rng.choice([0.0, 1e-3, 2.0], size=(n, 1))
            W -= np.sum(W * P, axis=1, keepdims=True) * P
            Y = X.copy()
            kernel("_rotate_rows")(Y, P, W, 0.3)
            assert_close(Y, naive._rotate_rows(X, P, W, 0.3), scale=4.0)


@pytest.mark.parametrize("code", [0, 1])
def test__record(code):
    rng = np.random.default_rng(86 + code)
    for n, d, width, early, count, _ in _system_cases():
        X = cap(rng, n, d, width) * (1.0 if code == 0 else rng.uniform(0.5, 2, size=(n, 1)))
        for T, M, pairs in ((4, 3, True), (4, 0, False), (4, 2, False), (4, 0, True)):
            frac, ncl = np.full(T if pairs else 0, np.nan), np.full(T if pairs else 0, -7)
            r, modes = np.full(0 if pairs else T, np.nan), np.full((T, M), np.nan)
            stats = (0.7, 0.95, count, early)
            scratch = (np.empty((n, d)), np.empty((d, n)), np.empty((n, n)))
            args = (X, code, 2, *scratch, stats, np.empty(n, np.int64), frac, ncl, r, modes)
            want = naive._record(*_copies(args))
            assert kernel("_record")(*args) == want[0]
            np.testing.assert_array_equal(frac, want[1])
            np.testing.assert_array_equal(ncl, want[2])
            np.testing.assert_allclose(r, want[3], rtol=0, atol=1e-14)
            np.testing.assert_allclose(modes, want[4], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# coordinate formulation under a normalisation scheme (particles.field.norms)


def test__directions():
    rng = np.random.default_rng(61)
    for n in NS:
        for d in DS:
            Y = _streams(rng, n, d, 1.0)
            out = np.empty_like(Y)
            kernel("_directions")(Y, out)
            assert_close(out, naive._directions(Y, None), scale=1.0)


@pytest.mark.parametrize("code", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("tangent", [False, True])
@pytest.mark.parametrize("has_B, has_V", [(False, False), (True, True)])
def test__norm_field(code, tangent, has_B, has_V):
    rng = np.random.default_rng(62 + code)
    for n in NS:
        for d in DS:
            Y = _streams(rng, n, d, 0.7)
            if code in (0, 3, 4):
                Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
            B = rng.standard_normal((d, d)) / np.sqrt(d)
            VT = rng.standard_normal((d, d)) / np.sqrt(d)
            out = np.empty((n, d))
            scratch = [np.empty((n, d)), np.empty((n, d)), np.empty((n, n)), np.empty((n, n))]
            scratch += [np.empty((d, n)), np.empty((n, n)), np.empty((n, d))]
            args = (Y, B, VT, has_B, has_V, 1.3, False, code, 0.7, tangent, *scratch, out)
            args += (np.empty(n * n, np.int64),)
            want = naive._norm_field(*_copies(args))
            kernel("_norm_field")(*args)
            assert_close(out, want, scale=4.0)


# ==================================================================================================
# the meta-test


def test_every_kernel_has_a_tested_twin():
    """Every numba kernel of particles has ``naive.<name>`` (plain Python, not a jitted function),
    and some test in tests/ calls it: a twin without a comparison does not count."""
    kernels = all_kernels()
    assert "_exp_row" in kernels and "_softmax_tile" in kernels, "kernel discovery found nothing"
    sources = {
        p.name: p.read_text(encoding="utf-8") for p in TESTS.glob("*.py") if p.name != "naive.py"
    }

    def where(name):
        return ", ".join(sorted({getattr(k, "py_func", k).__module__ for k in kernels[name]}))

    missing = [f"{n} ({where(n)})" for n in sorted(kernels) if not hasattr(naive, n)]
    jitted = [n for n in sorted(kernels) if isinstance(getattr(naive, n, None), Dispatcher)]
    uncalled = [
        f"{n} ({where(n)})"
        for n in sorted(kernels)
        if hasattr(naive, n)
        and not any(re.search(rf"\bnaive\.{re.escape(n)}\b", s) for s in sources.values())
    ]
    problems = []
    if missing:
        problems.append(
            "kernels without a twin naive.<name> in tests/naive.py: " + ", ".join(missing)
        )
    if jitted:
        problems.append("twins that are numba kernels themselves: " + ", ".join(jitted))
    if uncalled:
        problems.append("twins that no test in tests/ calls: " + ", ".join(uncalled))
    assert not problems, "\n".join(problems)


def test_kernel_discovery_folds_serial_twins():
    """The serial twin of a _serial_and_parallel kernel is found under the kernel's own name."""
    ks = all_kernels()
    assert not [n for n in ks if n.endswith("_serial")]
    assert len(ks["_exp_shift_tile"]) == 2
    assert ks["_exp_shift_tile"][1] is ks["_exp_shift_tile"][0].serial
