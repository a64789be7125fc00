"""Hostile arguments, as tables: every bad value of every field of Dynamics, FeedForward and
Piecewise, and of the arguments of velocity, drift, energy and simulate, must give one
:class:`ParticlesError` line (never a bare ValueError/TypeError/AttributeError/IndexError, a
silently coerced value such as ``causal="no"`` read as True, or a NaN)."""

from __future__ import annotations

import numpy as np
import pytest

import particles as pt
from particles.analysis.energy import energy
from particles.errors import ParticlesError

X = pt.random_points(6, 3, rng=0)
RAGGED = [[1.0, 2.0, 3.0], [1.0, 2.0]]
OBJECTS = np.array([{"a": 1}, None], dtype=object)

BAD_NUMBERS = ["hot", None, np.nan, np.inf, -np.inf, 1j, True, np.True_, [1.0], {"a": 1}, b"1"]
BAD_MATRICES = [
    RAGGED,
    "abc",
    [[1j, 0, 0], [0, 1, 0], [0, 0, 1]],
    np.ones((2, 2, 2, 2)),
    np.zeros((0, 3)),
    [[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]],
    [[np.inf, 0, 0], [0, 1, 0], [0, 0, 1]],
    np.eye(3, dtype=bool),
    OBJECTS,
    np.array(["1", "2"]),
    {"a": 1},
    np.ones(3),
]

DYNAMICS_CASES = (
    # beta = inf is hardmax attention (tests/test_hardmax.py refuses it with USA or noise)
    [("beta", v) for v in [*BAD_NUMBERS, -1.0, 1e13, np.array([1.0, 2.0])] if v is not np.inf]
    + [("kind", v) for v in ["xx", 5, None, ["SA"], b"SA", True]]
    + [("Q", v) for v in BAD_MATRICES]
    + [("K", v) for v in BAD_MATRICES]
    + [("V", v) for v in [*BAD_MATRICES, "x", 1j, True, np.nan, np.ones((3, 4))]]
    + [("causal", v) for v in ["no", "False", 1, 0, None, 0.0, [True], np.array([True])]]
    + [("ffn", v) for v in ["relu", 5, {"W1": 1}]]
    + [("kappa", v) for v in ["x", -1.0, 0.0, np.nan, -np.inf, 1j, True, [1.0]]]
    + [("norm", v) for v in [5, "xx", None, ["post"], True]]
    + [("alpha", v) for v in [*BAD_NUMBERS, 0.0, -1.0]]
    + [("t_switch", v) for v in ["x", -1.0, np.nan, np.inf, 1j, True, [1.0]]]
    + [("t_offset", v) for v in [*BAD_NUMBERS, 0.0, -1.0]]
)


def _ids(cases):
    return [f"{k}={v!r}"[:60] for k, v in cases]


@pytest.mark.parametrize("field,value", DYNAMICS_CASES, ids=_ids(DYNAMICS_CASES))
def test_dynamics_refuses(field, value):
    with pytest.raises(ParticlesError) as e:
        pt.Dynamics(**{field: value})
    assert "\n" not in str(e.value)


DYNAMICS_COMBINATIONS = {
    "heads disagree": dict(Q=np.ones((2, 3, 3)), K=np.ones((3, 3, 3))),
    "d_k disagree": dict(Q=np.ones((2, 3)), K=np.ones((4, 3))),
    "d disagree": dict(Q=np.ones((2, 3)), K=np.ones((2, 3)), V=np.eye(4)),
    "mix without t_switch": dict(norm="mix"),
    "noise off the sphere": dict(norm="pre", kappa=1.0),
    "noise with LN-Scaling": dict(norm="lns", kappa=1.0),
}


@pytest.mark.parametrize("name", list(DYNAMICS_COMBINATIONS))
def test_dynamics_refuses_combinations(name):
    with pytest.raises(ParticlesError):
        pt.Dynamics(**DYNAMICS_COMBINATIONS[name])


def test_dynamics_takes_real_bools_and_numbers():
    assert pt.Dynamics(causal=np.True_).causal is True
    assert pt.Dynamics(beta=np.float32(2.0), kind="usa").beta == 2.0
    assert pt.Dynamics(V=np.int64(-1)).V == -1.0


GOOD_FFN = dict(W1=np.ones((4, 3)), b1=np.zeros(4), W2=np.ones((3, 4)), b2=np.zeros(3))
FFN_CASES = (
    [("W1", v) for v in [None, *BAD_MATRICES[:-1], np.ones(3)]]
    + [("W2", v) for v in [None, np.ones((4, 3)), RAGGED, [[1j] * 4] * 3]]
    + [
        ("b1", v)
        for v in [np.zeros(3), "ab", [1j, 0, 0, 0], RAGGED, [np.nan] * 4, [True] * 4, None]
    ]
    + [("b2", v) for v in [np.zeros(4), [1j, 0, 0], "abc", [np.inf, 0, 0], OBJECTS]]
    + [("activation", v) for v in [5, "sigmoid", None, ["relu"], b"relu"]]
)


@pytest.mark.parametrize("field,value", FFN_CASES, ids=_ids(FFN_CASES))
def test_feedforward_refuses(field, value):
    with pytest.raises(ParticlesError) as e:
        pt.FeedForward(**{**GOOD_FFN, field: value})
    assert "\n" not in str(e.value)


def test_complex_biases_are_refused_not_truncated():
    for name in ("b1", "b2"):
        b = GOOD_FFN[name] + 1j
        with pytest.raises(ParticlesError, match="complex"):
            pt.FeedForward(**{**GOOD_FFN, name: b})


D = pt.Dynamics()
PIECEWISE_CASES = {
    "an int": 5,
    "None": None,
    "a string": "ab",
    "a dict": {"a": 1},
    "empty": [],
    "negative duration": [(D, -1.0)],
    "zero duration": [(D, 0.0)],
    "NaN duration": [(D, np.nan)],
    "infinite duration": [(D, np.inf)],
    "bool duration": [(D, True)],
    "complex duration": [(D, 1j)],
    "one element": [(D,)],
    "three elements": [(D, 1.0, 2.0)],
    "not a Dynamics": [(5, 1.0)],
    "segment a string": ["ab"],
    "segment an int": [5],
}


@pytest.mark.parametrize("name", list(PIECEWISE_CASES))
def test_piecewise_refuses(name):
    with pytest.raises(ParticlesError):
        pt.Piecewise(segments=PIECEWISE_CASES[name])


VELOCITY_CASES = {
    "x ragged": dict(x=RAGGED),
    "x complex": dict(x=X * (1 + 0j)),
    "x a list with complex": dict(x=[[1j, 0, 0]]),
    "x 1-D": dict(x=X[0]),
    "x d = 1": dict(x=X[:, :1]),
    "x empty": dict(x=np.zeros((0, 3))),
    "x NaN": dict(x=np.where(X > 0.5, np.nan, X)),
    "x inf": dict(x=np.where(X > 0.5, np.inf, X)),
    "x text": dict(x=X.astype(str)),
    "x booleans": dict(x=X > 0),
    "x objects": dict(x=OBJECTS),
    "dyn a string": dict(dyn="SA"),
    "dyn None": dict(dyn=None),
    "method unknown": dict(method="fast"),
    "tol 0": dict(tol=0.0),
    "tol 2": dict(tol=2.0),
    "tol text": dict(tol="x"),
    "tol NaN": dict(tol=np.nan),
    "tol True": dict(tol=True),
    "tol complex": dict(tol=1e-8j),
    "project a string": dict(project="no"),
    "project None": dict(project=None),
    "dtype int32": dict(dtype="int32"),
    "dtype complex": dict(dtype=np.complex128),
    "dimension mismatch": dict(dyn=pt.Dynamics(Q=np.ones((2, 4)), K=np.ones((2, 4)))),
}


@pytest.mark.parametrize("name", list(VELOCITY_CASES))
@pytest.mark.parametrize("fn", ["velocity", "drift"])
def test_velocity_and_drift_refuse(name, fn):
    kw = {"x": X, "dyn": pt.Dynamics(), **VELOCITY_CASES[name]}
    if fn == "drift" and ("method" in kw or "tol" in kw):
        pytest.skip("drift has no method or tol")
    with pytest.raises(ParticlesError) as e:
        getattr(pt, fn)(kw.pop("x"), kw.pop("dyn"), **kw)
    assert "\n" not in str(e.value)


DRIFT_TIMES = [-5.0, -1e-300, np.nan, np.inf, "x", None, True, 1j, [1.0]]


@pytest.mark.parametrize("t", DRIFT_TIMES, ids=[repr(t) for t in DRIFT_TIMES])
@pytest.mark.parametrize("norm", ["post", "lns", "mix", "pre", "ngpt"])
def test_drift_refuses_bad_times(t, norm):
    dyn = pt.Dynamics(norm=norm, t_switch=1.0 if norm == "mix" else None)
    with pytest.raises(ParticlesError):
        pt.drift(X, dyn, t=t)


def test_drift_refuses_a_zero_token():
    h = X.copy()
    h[2] = 0.0
    with pytest.raises(ParticlesError, match="zero norm"):
        pt.drift(h, pt.Dynamics(norm="pre"))


ENERGY_BETAS = [*BAD_NUMBERS, -1.0, 1e13]


@pytest.mark.parametrize("beta", ENERGY_BETAS, ids=[repr(b) for b in ENERGY_BETAS])
def test_energy_refuses_bad_betas(beta):
    with pytest.raises(ParticlesError):
        energy(X, beta)


def test_energy_is_finite_or_an_error():
    assert np.isfinite(energy(X, 700.0))
    with pytest.raises(ParticlesError, match="overflows"):
        energy(X, 800.0)
    with pytest.raises(ParticlesError, match="overflow"):
        energy(1e200 * X, 1.0)
    for x in (X * (1 + 0j), RAGGED, X.astype(str)):
        with pytest.raises(ParticlesError):
            energy(x, 1.0)


SEEDS = [1.7, "7", True, -1, [1], 2.0, None]


@pytest.mark.parametrize("rng", SEEDS[:-1], ids=[repr(s) for s in SEEDS[:-1]])
def test_simulate_refuses_seeds_that_are_not_integers(rng):
    with pytest.raises(ParticlesError, match="rng|seed"):
        pt.simulate(X, pt.Dynamics(kappa=1.0), 0.1, method="euler-maruyama", dt=0.05, rng=rng)


# --- segments shorter than a step add no save time --------------------------------------------

TINY = {
    "Piecewise 1e-13": pt.Piecewise(segments=[(pt.Dynamics(), 1e-13), (pt.Dynamics(beta=2.0), 1)]),
    "Piecewise 1e-13 in the middle": pt.Piecewise(
        segments=[(pt.Dynamics(), 0.5), (pt.Dynamics(beta=3.0), 1e-13), (pt.Dynamics(), 1.0)]
    ),
    "Piecewise ending 1e-13 before a save": pt.Piecewise(
        segments=[(pt.Dynamics(), 0.5 - 1e-13), (pt.Dynamics(beta=2.0), 1.0)]
    ),
    "Piecewise 1e-13 at the end": pt.Piecewise(
        segments=[(pt.Dynamics(), 1 - 1e-13), (pt.Dynamics(beta=2.0), 1e-13)]
    ),
    "Mix-LN t_switch 1e-13": pt.Dynamics(norm="mix", t_switch=1e-13),
    "Mix-LN t_switch 0.5 + 1e-13": pt.Dynamics(norm="mix", t_switch=0.5 + 1e-13),
}


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("method", ["rk4", "euler", "RK45"])
@pytest.mark.parametrize("saves", [None, [0.0, 0.25, 1.0], [0.5, 1.0]])
def test_tiny_segments_add_no_save_time(name, method, saves):
    kw = {"saves": 5} if saves is None else {"save_at": saves}
    if method != "RK45":
        kw["dt"] = 0.1
    tr = pt.simulate(X, TINY[name], 1.0, method=method, **kw)
    want = np.linspace(0.0, 1.0, 5) if saves is None else np.array(saves)
    np.testing.assert_array_equal(tr.t, want)  # exactly the times asked for


def test_parameters_may_be_given_by_position():
    """``Piecewise([(D, 1), (D2, 1)])``, ``FeedForward(W1, b1, W2, b2, activation)`` and
    ``Dynamics(beta, kind)`` read as written: positional arguments in field order, checked like
    keywords (a bad one is a ParticlesError, not a TypeError)."""
    D, D2 = pt.Dynamics(4.0, "USA"), pt.Dynamics(beta=1.0)
    assert D == pt.Dynamics(beta=4.0, kind="USA")
    assert pt.Piecewise([(D, 1.0), (D2, 1.0)]) == pt.Piecewise(segments=[(D, 1.0), (D2, 1.0)])
    W1, b1, W2 = np.ones((4, 3)), np.zeros(4), np.ones((3, 4))
    assert pt.FeedForward(W1, b1, W2, None, "tanh").activation == "tanh"
    for bad in (
        lambda: pt.Piecewise([]),
        lambda: pt.Piecewise([(D, -1.0)]),
        lambda: pt.Piecewise([("a", 1.0)]),
        lambda: pt.FeedForward(W1, np.zeros(5), W2),
        lambda: pt.FeedForward(W1, b1, W2, None, "swish?"),
        lambda: pt.Dynamics(-1.0),
        lambda: pt.Dynamics(1.0, "XYZ"),
    ):
        with pytest.raises(ParticlesError):
            bad()


@pytest.mark.parametrize("norm", ["post", "pre", "peri"])
def test_huge_initial_rows_are_one_line_without_warnings(norm):
    """Rows beyond 1e154 (|x_i|^2 overflows): refused in one line, with no RuntimeWarning on the
    way (the CLI would print it above the error)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParticlesError) as e:
            pt.simulate(np.eye(3) * 1e300, pt.Dynamics(norm=norm), 1.0)
    assert "\n" not in str(e.value)
