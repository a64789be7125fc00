"""Every adaptive method resumes bit for bit: the implicit ones (LSODA, BDF, Radau) as well as the
explicit Runge-Kutta ones, since the checkpoint holds their whole state between steps
(:func:`particles.solvers.adaptive.internal_state`). Interrupts are injected from inside the run
(SIGINT sent by the k-th field evaluation), in .npz files and zarr stores, once or repeatedly."""

import numpy as np
import pytest

import particles as pt
import particles.solvers.integrate as integ
from particles.solvers.adaptive import EXACT_RESUME
from particles.solvers.checkpoint import decode_state, encode_state
from tests.interrupt_helpers import DYN, X0, interrupt_call

SAVE_AT = np.linspace(0, 2, 11)
IMPLICIT = ("LSODA", "BDF", "Radau")
#: the field evaluations at which the run is interrupted, in turn (each resumed run is interrupted
#: at the next one, counted from its start): before the first step, in mid-run, several times
STOPS = [(3,), (40,), (25, 30, 30)]


def _kw(method):
    return dict(method=method, save_at=SAVE_AT, checkpoint_every=0.0)


@pytest.fixture(scope="module")
def references():
    return {m: pt.simulate(X0, DYN, 2.0, **_kw(m)) for m in IMPLICIT}


@pytest.mark.parametrize("ext", ["npz", "zarr"])
@pytest.mark.parametrize("stops", STOPS)
@pytest.mark.parametrize("method", IMPLICIT)
def test_an_implicit_run_resumes_bit_for_bit(tmp_path, monkeypatch, references, method, stops, ext):
    """Interrupted at each of ``stops`` in turn and resumed to the end, the run equals the
    uninterrupted one: times, states and step statistics."""
    if ext == "zarr":
        pytest.importorskip("zarr")
    ref = references[method]
    path = tmp_path / f"r.{ext}"
    resume = False
    for at in stops:
        real = interrupt_call(monkeypatch, integ, "velocity", at)
        with pytest.raises(pt.Interrupted):
            pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=resume, **_kw(method))
        monkeypatch.setattr(integ, "velocity", real)
        assert not pt.Trajectory.load(path).complete
        resume = True
    done = pt.simulate(X0, DYN, 2.0, checkpoint=path, resume=True, **_kw(method))
    np.testing.assert_array_equal(done.t, ref.t)
    if method not in EXACT_RESUME:  # a scipy whose LSODA keeps state out of reach (Fortran)
        np.testing.assert_allclose(np.asarray(done.x), ref.x, rtol=0, atol=1e-6)
        return
    np.testing.assert_array_equal(np.asarray(done.x), ref.x)
    for k in ("nfev", "nsteps", "max_norm_drift"):
        assert done.stats[k] == ref.stats[k], k


def test_every_adaptive_method_is_resumed_exactly():
    import scipy

    release = tuple(int(p) for p in scipy.__version__.split(".")[:2])
    lsoda = ("LSODA",) if release >= (1, 17) else ()  # the C LSODA: its state in arrays
    assert set(EXACT_RESUME) >= {"RK45", "RK23", "DOP853", "BDF", "Radau", *lsoda}


@pytest.mark.parametrize("method", ("BDF", "Radau"))
def test_the_stored_state_round_trips_through_json(method):
    """The internal state (arrays, sparse Jacobian, the factorised matrices) goes through JSON
    and comes back with the same bits, dtypes and sparsity structure."""
    import json

    from particles.solvers.adaptive import make_solver
    from particles.solvers.checkpoint import solver_state

    n, d = X0.shape

    def fun(t, y):
        return integ.velocity(y.reshape(n, d), DYN).ravel()

    solver = make_solver(method, fun, 0.0, X0.ravel(), 2.0, 1e-6, 1e-9, n, d)
    for _ in range(3):
        solver.step()
    state = {**solver_state(solver, 0, {}), "saved": 0}
    back = decode_state(json.loads(json.dumps(encode_state(state))))
    for k, v in state["internal"].items():
        w = back["internal"][k]
        if hasattr(v, "tocsc"):
            assert type(w) is type(v)
            for part in ("data", "indices", "indptr"):
                np.testing.assert_array_equal(getattr(w, part), getattr(v, part))
                assert getattr(w, part).dtype == getattr(v, part).dtype
        elif isinstance(v, np.ndarray):
            np.testing.assert_array_equal(w, v)
            assert w.dtype == v.dtype
        else:
            assert w == v, k


DAMAGED = [
    {"J": {"sparse": "dok", "shape": [2, 2]}},
    {"D": {"array": "AAAA", "dtype": "|O", "shape": [1]}},
    {"D": {"array": "AAAAAAAAAAA=", "dtype": "<f8", "shape": [3]}},
    {"D": {"dtype": "<f8", "shape": [1]}},
    {"order": [1, 2]},
]


@pytest.mark.parametrize("internal", DAMAGED)
def test_a_damaged_internal_state_is_one_clear_error(internal):
    from particles.errors import ParticlesError

    y = np.zeros(3)
    record = encode_state(
        {"segment": 0, "method": "BDF", "t": 0.0, "y": y, "f": None, "h_abs": 0.1, "stats": {}}
    )
    record.update(saved=0, internal=internal)
    with pytest.raises(ParticlesError, match="corrupted solver state"):
        decode_state(record)


def _state_after_steps(method, steps=3):
    from particles.solvers.adaptive import make_solver
    from particles.solvers.checkpoint import solver_state

    n, d = X0.shape

    def fun(t, y):
        return integ.velocity(y.reshape(n, d), DYN).ravel()

    solver = make_solver(method, fun, 0.0, X0.ravel(), 2.0, 1e-6, 1e-9, n, d)
    for _ in range(steps):
        solver.step()
    return fun, {**solver_state(solver, 0, {}), "saved": 0}


N = X0.size
HOSTILE = [
    ("BDF", "order", 0),
    ("BDF", "order", 9),
    ("BDF", "order", 1.5),
    ("BDF", "D", np.zeros((3, N))),
    ("BDF", "D", None),
    ("BDF", "J", None),
    ("BDF", "J", np.eye(N)),
    ("BDF", "LU", __import__("scipy.sparse").sparse.csc_matrix((N, N))),  # singular
    ("BDF", "n_equal_steps", "2"),
    ("Radau", "Z", np.zeros((2, N))),
    ("Radau", "current_jac", 1),
    ("Radau", "jac_factor", np.zeros(N + 1)),
    ("Radau", "J", __import__("scipy.sparse").sparse.csc_matrix((N + 1, N + 1))),
    ("LSODA", "rwork", np.zeros(3)),
    ("LSODA", "iwork", np.zeros(20 + N)),  # float, not int32
    ("LSODA", "istate", 1),
    ("LSODA", "state_ints", None),
]


@pytest.mark.parametrize(("method", "key", "value"), HOSTILE)
def test_a_hostile_internal_state_is_refused_in_one_line(method, key, value):
    """A state that decodes but does not fit the solver is refused before scipy steps with it."""
    from particles.errors import ParticlesError
    from particles.solvers.adaptive import make_solver

    fun, state = _state_after_steps(method)
    if method == "BDF" and key == "LU" and state["internal"]["LU"] is None:
        state = _state_after_steps(method, steps=1)
    state["internal"][key] = value
    n, d = X0.shape
    with pytest.raises(ParticlesError, match="corrupted solver state"):
        make_solver(method, fun, state["t"], state["y"], 2.0, 1e-6, 1e-9, n, d, state=state)
