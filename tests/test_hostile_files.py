"""Files that lie: each one is a good trajectory file (``.npz`` or zarr store) changed by one
mutation, and each must be refused with one :class:`ParticlesError` line by ``Trajectory.load``
(and by reading what it loads), by ``particles info`` and by ``particles clusters`` (also
``--json``): never a traceback, an out-of-memory, NaN in the output, or a wrong answer believed.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import particles as pt
from particles.cli.main import main
from particles.errors import ParticlesError
from particles.storage.npz import META_KEY

N, D = 6, 3


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A good .npz file and a good zarr store of the same run (n = 6 on S^2, 4 saved times)."""
    root = tmp_path_factory.mktemp("good")
    x0 = pt.random_points(N, D, rng=0)
    Q = np.random.default_rng(1).standard_normal((2, D))
    tr = pt.simulate(x0, pt.Dynamics(beta=2.0, Q=Q, K=Q), 1.5, method="rk4", dt=0.1, saves=4)
    tr.save(root / "good.npz")
    pytest.importorskip("zarr")
    tr.save(root / "good.zarr")
    return root


# --- .npz mutations ---------------------------------------------------------------------------


def _read_npz(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop(META_KEY)))
    return arrays, meta


def _write_npz(path, arrays, meta):
    np.savez(path, **arrays, **{META_KEY: np.array(json.dumps(meta))})


def _meta(**changes):
    def mutate(arrays, meta):
        meta.update(changes)

    return mutate


def _dyn(**changes):
    def mutate(arrays, meta):
        meta["dynamics"].update(changes)

    return mutate


def _array(name, fn):
    def mutate(arrays, meta):
        arrays[name] = fn(arrays[name])

    return mutate


def _set(a, idx, value):
    a = np.array(a, dtype=np.result_type(a, type(value)))
    a[idx] = value
    return a


def _wide_qk(arrays, meta):
    w = np.ones((2, D + 1))
    arrays["dyn_Q"], arrays["dyn_K"] = w, w


def _drop(name):
    def mutate(arrays, meta):
        (arrays if name in arrays else meta).pop(name)

    return mutate


NPZ_MUTATIONS = {
    # metadata
    "complete is a string": _meta(complete="no"),
    "complete is a number": _meta(complete=1),
    "stats is a string": _meta(stats="fast"),
    "stats value is a string": _meta(stats={"nfev": "many"}),
    "stats value is NaN": _meta(stats={"wall_time": float("nan")}),
    "dt is a string": _meta(dt="0.1"),
    "dt is infinite": _meta(dt=float("inf")),
    "seed is fractional": _meta(seed=1.5),
    "seed is a bool": _meta(seed=True),
    "seed is negative": _meta(seed=-3),
    "dtype is unknown": _meta(dtype="float16"),
    "fingerprint is a number": _meta(fingerprint=5),
    "rng_state is garbage": _meta(rng_state={"bit_generator": "PCG64", "state": 5}),
    "rng_state is a string": _meta(rng_state="PCG64"),
    "n disagrees with x": _meta(n=N + 1),
    "method is a number": _meta(method=5),
    "no dynamics": _drop("dynamics"),
    "no method": _drop("method"),
    # the dynamics record
    "beta is a string": _dyn(beta="hot"),
    "beta is negative": _dyn(beta=-1.0),
    "beta is a bool": _dyn(beta=True),
    "kind is unknown": _dyn(kind="XSA"),
    "kind is a number": _dyn(kind=5),
    "causal is a string": _dyn(causal="no"),
    "norm is a list": _dyn(norm=["post"]),
    "V is a string": _dyn(V="big"),
    "Q array missing": _dyn(Q="array", K="identity"),
    "Q, K of the wrong width": _wide_qk,
    "Q is complex": _array("dyn_Q", lambda a: a * (1 + 1j)),
    "Q is ragged (object)": _array("dyn_Q", lambda a: a[0]),
    "dynamics is a list": _meta(dynamics=[1, 2]),
    "piecewise is empty": _meta(dynamics={"piecewise": []}),
    "piecewise duration is a string": _meta(
        dynamics={"piecewise": [{"beta": 1.0, "kind": "SA", "duration": "long"}]}
    ),
    "ffn is not a record": _dyn(ffn=5),
    # the arrays
    "t has a NaN row": _array("t", lambda t: _set(t, 2, np.nan)),
    "t is infinite": _array("t", lambda t: _set(t, -1, np.inf)),
    "t decreases": _array("t", lambda t: t[::-1].copy()),
    "t repeats": _array("t", lambda t: _set(t, 1, t[0])),
    "t is 2-D": _array("t", lambda t: t[:, None]),
    "t is complex": _array("t", lambda t: t + 0j),
    "t is text": _array("t", lambda t: t.astype(str)),
    "t is boolean": _array("t", lambda t: t > 0),
    "t is shorter than x": _array("t", lambda t: t[:-1]),
    "x has a NaN": _array("x", lambda x: _set(x, (1, 2, 0), np.nan)),
    "x is infinite": _array("x", lambda x: _set(x, (3, 0, 1), -np.inf)),
    "x is off the sphere": _array("x", lambda x: 5.0 * x),
    "one token off the sphere": _array("x", lambda x: _set(x, (2, 4, 0), x[2, 4, 0] + 1e-3)),
    "x is 2-D": _array("x", lambda x: x[0]),
    "x has d = 1": _array("x", lambda x: x[..., :1]),
    "x has no particles": _array("x", lambda x: x[:, :0]),
    "x is complex": _array("x", lambda x: x * (1 + 0j)),
    "x is text": _array("x", lambda x: x.astype(str)),
    "x has the wrong width for Q": _array("x", lambda x: np.concatenate([x, 0 * x], axis=2)),
    # the arrays against the run's record
    "complete but no state": lambda arrays, meta: arrays.update(
        t=arrays["t"][:0], x=arrays["x"][:0]
    ),
    "t_end is negative": _meta(t_end=-5.0),
    "t beyond t_end": _meta(t_end=0.5),
}


def _lying_header(path, shape):
    """Rewrite the .npy header of ``x`` in the archive to claim ``shape`` (the data stays)."""
    from numpy.lib import format as npy

    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    raw = members["x.npy"]
    f = io.BytesIO(raw)
    assert npy.read_magic(f) == (1, 0)
    _, fortran, dtype = npy.read_array_header_1_0(f)
    body = raw[f.tell() :]
    out = io.BytesIO()
    npy.write_array_header_1_0(out, {"descr": dtype.str, "fortran_order": fortran, "shape": shape})
    members["x.npy"] = out.getvalue() + body
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def make_npz(good: Path, tmp: Path, name: str) -> Path:
    path = tmp / "lying.npz"
    if name.startswith("header:"):
        shutil.copy(good / "good.npz", path)
        _lying_header(path, HEADERS[name])
        return path
    arrays, meta = _read_npz(good / "good.npz")
    NPZ_MUTATIONS[name](arrays, meta)
    _write_npz(path, arrays, meta)
    return path


HEADERS = {
    "header: 1e11 x 6 x 3": (10**11, N, D),
    "header: one state more": (5, N, D),
    "header: 1e11 x 1e11 x 3": (10**11, 10**11, D),
}

# --- zarr mutations ---------------------------------------------------------------------------


def _commit_doc(path):
    return json.loads((path / "zarr.json").read_text())


def _record(**changes):
    def mutate(path):
        doc = _commit_doc(path)
        doc["attributes"]["particles"].update(changes)
        (path / "zarr.json").write_text(json.dumps(doc))

    return mutate


def _record_meta(**changes):
    def mutate(path):
        doc = _commit_doc(path)
        doc["attributes"]["particles"]["meta"].update(changes)
        (path / "zarr.json").write_text(json.dumps(doc))

    return mutate


def _attributes(value):
    def mutate(path):
        doc = _commit_doc(path)
        doc["attributes"] = value
        (path / "zarr.json").write_text(json.dumps(doc))

    return mutate


def _chunk(array: str, k: int, how: str):
    def mutate(path):
        files = sorted((path / array / "c" / str(k)).rglob("*")) if array == "x" else []
        files = [f for f in files if f.is_file()] or [path / array / "c" / str(k)]
        f = files[0]
        if how == "missing":
            f.unlink()
        elif how == "truncated":
            data = f.read_bytes()
            f.write_bytes(data[: len(data) // 2])
        elif how == "garbage":
            f.write_bytes(np.random.default_rng(0).bytes(max(16, f.stat().st_size)))
        elif how == "empty":
            f.write_bytes(b"")

    return mutate


def _array_meta(name, **changes):
    def mutate(path):
        doc = json.loads((path / name / "zarr.json").read_text())
        doc.update(changes)
        (path / name / "zarr.json").write_text(json.dumps(doc))

    return mutate


def _write_frame(fn):
    def mutate(path):
        import zarr

        g = zarr.open_group(str(path), mode="r+")
        g["x"][2] = fn(np.asarray(g["x"][2]))

    return mutate


def _write_times(fn):
    def mutate(path):
        import zarr

        g = zarr.open_group(str(path), mode="r+")
        g["t"][:4] = fn(np.asarray(g["t"][:4]))

    return mutate


def _capacity(T):
    """Claim ``T`` saved times: the arrays' shapes and the committed length (no chunk written)."""

    def mutate(path):
        for name in ("x", "t"):
            doc = json.loads((path / name / "zarr.json").read_text())
            doc["shape"][0] = T
            (path / name / "zarr.json").write_text(json.dumps(doc))
        _record(length=T)(path)

    return mutate


ZARR_MUTATIONS = {
    "attributes are a list": _attributes([1, 2]),
    "attributes are a string": _attributes("particles"),
    "record is a list": _attributes({"particles": [1]}),
    "length is negative": _record(length=-1),
    "length is a string": _record(length="3"),
    "length is fractional": _record(length=2.5),
    "length is a bool": _record(length=True),
    "length is beyond the capacity": _record(length=99),
    "n is a string": _record(n="6"),
    "d disagrees": _record(d=4),
    "meta is a list": _record(meta=[1]),
    "stats is a string": _record(stats="fast"),
    "method is a number": _record(method=3),
    "dynamics is a string": _record(dynamics="SA"),
    "beta is a string": _record(dynamics={"beta": "hot", "kind": "SA"}),
    "complete is a string": _record_meta(complete="no"),
    "dt is a string": _record_meta(dt="fast"),
    "x chunk missing": _chunk("x", 1, "missing"),
    "x chunk truncated": _chunk("x", 1, "truncated"),
    "x chunk garbage": _chunk("x", 2, "garbage"),
    "x chunk empty": _chunk("x", 3, "empty"),
    "t chunk missing": _chunk("t", 1, "missing"),
    "t chunk truncated": _chunk("t", 1, "truncated"),
    "t chunk garbage": _chunk("t", 2, "garbage"),
    "length and capacity 1e11": _capacity(10**11),
    "length and capacity 1e15": _capacity(10**15),
    "x holds complex numbers": _array_meta("x", data_type="complex128", fill_value=[0.0, 0.0]),
    "t holds integers": _array_meta("t", data_type="int64", fill_value=0),
    "weights claim 1e6 x 1e6": _array_meta("dynamics/dyn_Q", shape=[10**6, 10**6]),
    "rng_state is garbage": _record_meta(rng_state=[1, 2]),
    "zarr.json garbage": lambda p: (p / "zarr.json").write_bytes(b"\x00\xff garbage"),
    "x array metadata garbage": lambda p: (p / "x" / "zarr.json").write_text("{"),
    "no x array": lambda p: shutil.rmtree(p / "x"),
    "a state off the sphere": _write_frame(lambda x: 5.0 * x),
    "a state with NaN": _write_frame(lambda x: _set(x, (0, 0), np.nan)),
    "times decrease": _write_times(lambda t: t[::-1].copy()),
}


def make_zarr(good: Path, tmp: Path, name: str) -> Path:
    path = tmp / "lying.zarr"
    shutil.copytree(good / "good.zarr", path)
    ZARR_MUTATIONS[name](path)
    return path


CASES = (
    [("npz", k) for k in NPZ_MUTATIONS]
    + [("npz", k) for k in HEADERS]
    + [("zarr", k) for k in ZARR_MUTATIONS]
)


def make(good, tmp, kind, name) -> Path:
    if kind == "zarr":
        pytest.importorskip("zarr")
        return make_zarr(good, tmp, name)
    return make_npz(good, tmp, name)


def use(path):
    """Load ``path`` and read everything in it, as the analyses do."""
    tr = pt.Trajectory.load(path)
    tr.summary()
    np.asarray(tr.x)
    [np.asarray(x) for x in tr.x]
    return tr


def test_the_good_files_are_good(good):
    for name in ("good.npz", "good.zarr"):
        tr = use(good / name)
        assert tr.complete and tr.x.shape == (4, N, D)
        for args in (["info"], ["clusters"], ["clusters", "--json"]):
            res = CliRunner().invoke(main, [*args, str(good / name)])
            assert res.exit_code == 0, res.output


@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}:{n}" for k, n in CASES])
def test_a_lying_file_is_refused_by_load(good, tmp_path, kind, name):
    path = make(good, tmp_path, kind, name)
    with pytest.raises(ParticlesError) as e:
        use(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.strip()


@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}:{n}" for k, n in CASES])
@pytest.mark.parametrize(
    "command", [["info"], ["info", "--json"], ["clusters"], ["clusters", "--json"]]
)
def test_a_lying_file_is_one_error_line_in_the_cli(good, tmp_path, kind, name, command):
    path = make(good, tmp_path, kind, name)
    res = CliRunner().invoke(main, [*command, str(path)])
    assert res.exit_code != 0, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    assert not res.stdout.strip(), res.stdout
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr


# --- what save refuses, so that load never has to -----------------------------------------------


def _traj(**changes):
    x = pt.random_points(N, D, rng=3)
    kw = dict(
        t=np.array([0.0, 1.0]),
        x=np.stack([x, x]),
        dynamics=pt.Dynamics(),
        method="rk4",
        stats={},
        meta={"complete": True},
    )
    kw.update(changes)
    return pt.Trajectory(**kw)


SAVE_REFUSED = {
    "t longer than x": dict(t=np.array([0.0, 1.0, 2.0])),
    "x 2-D": dict(x=pt.random_points(N, D, rng=3)),
    "t decreasing": dict(t=np.array([1.0, 0.0])),
    "t NaN": dict(t=np.array([0.0, np.nan])),
    "x NaN": dict(x=np.full((2, N, D), np.nan)),
    "x off the sphere": dict(x=5.0 * np.ones((2, N, D))),
    "x of the wrong d for Q": dict(dynamics=pt.Dynamics(Q=np.ones((2, 4)), K=np.ones((2, 4)))),
    "complete a string": dict(meta={"complete": "no"}),
    "stats a string": dict(stats="fast"),
    "method a number": dict(method=4),
    "dynamics a string": dict(dynamics="SA"),
}


@pytest.mark.parametrize("name", list(SAVE_REFUSED))
@pytest.mark.parametrize("suffix", [".npz", ".zarr"])
def test_save_refuses_what_load_would_refuse(tmp_path, name, suffix):
    if suffix == ".zarr":
        pytest.importorskip("zarr")
    path = tmp_path / f"run{suffix}"
    with pytest.raises(ParticlesError):
        _traj(**SAVE_REFUSED[name]).save(path)
    assert not path.exists()


def test_a_partial_trajectory_round_trips(tmp_path):
    tr = _traj(t=np.zeros(0), x=np.zeros((0, N, D)), meta={"complete": False})
    tr.save(tmp_path / "p.npz")
    back = pt.Trajectory.load(tmp_path / "p.npz")
    assert not back.complete and back.x.shape == (0, N, D)


def test_a_lying_npy_header_is_refused_before_allocating(tmp_path):
    from numpy.lib import format as npy

    from particles.storage.npz import load_array

    buf = io.BytesIO()
    npy.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**11, 6, 3)}
    )
    path = tmp_path / "lie.npy"
    path.write_bytes(buf.getvalue() + np.ones(18).tobytes())
    with pytest.raises(ParticlesError, match="claims shape"):
        load_array(path)


# --- mean-field solutions ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_solution(tmp_path_factory):
    import particles.meanfield as mf

    path = tmp_path_factory.mktemp("sol") / "sol.npz"
    mf.solve_circle(mf.initial_density("perturbed", N=16), 4.0, 1.0, 0.2, saves=4).save(path)
    return path


def _params(**changes):
    def mutate(arrays, meta):
        meta["params"].update(changes)

    return mutate


SOLUTION_MUTATIONS = {
    "t has NaN": _array("t", lambda t: _set(t, 1, np.nan)),
    "t decreases": _array("t", lambda t: t[::-1].copy()),
    "re and im of other shapes": _array("rho_hat_im", lambda a: a[:, :-1]),
    "coefficients of the wrong length": _array("rho_hat_re", lambda a: a[:, :-1]),
    "coefficients NaN": _array("rho_hat_re", lambda a: _set(a, (1, 1), np.nan)),
    "coefficients text": _array("rho_hat_re", lambda a: a.astype(str)),
    "tail NaN": _array("tail", lambda a: _set(a, 0, np.nan)),
    "min_density shorter": _array("min_density", lambda a: a[:-1]),
    "params a list": _meta(params=[1]),
    "N a string": _params(N="16"),
    "N disagrees": _params(N=64),
    "stats a string": _meta(stats="x"),
    "no params": _drop("params"),
}


@pytest.mark.parametrize("name", list(SOLUTION_MUTATIONS))
def test_a_lying_mean_field_file_is_refused(good_solution, tmp_path, name):
    from particles.meanfield.circle import CircleSolution

    CircleSolution.load(good_solution)
    arrays, meta = _read_npz(good_solution)
    SOLUTION_MUTATIONS[name](arrays, meta)
    path = tmp_path / "lying.npz"
    _write_npz(path, arrays, meta)
    with pytest.raises(ParticlesError) as e:
        CircleSolution.load(path)
    assert "\n" not in str(e.value)
