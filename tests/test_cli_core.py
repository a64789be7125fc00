"""The simulate and info commands through click's test runner."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import particles as pt
from particles.cli.main import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean_error(res, text):
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert text in res.output, res.output
    assert sum(line.startswith("Error:") for line in res.output.splitlines()) == 1


def test_help_lists_commands_with_examples():
    res = run("--help")
    assert res.exit_code == 0 and "simulate" in res.output
    res = run("simulate", "--help")
    assert res.exit_code == 0 and "Examples" in res.output


def test_simulate_writes_reproducible_trajectory(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for p in (a, b):
        res = run(
            "simulate",
            "--n",
            12,
            "--d",
            3,
            "--beta",
            2,
            "--t-end",
            1,
            "--seed",
            4,
            "--method",
            "euler",
            "--dt",
            0.1,
            "--out",
            p,
            "--quiet",
        )
        assert res.exit_code == 0, res.output
    ta, tb = pt.Trajectory.load(a), pt.Trajectory.load(b)
    np.testing.assert_array_equal(ta.x, tb.x)
    assert (
        ta.meta["seed"] == 4
        and ta.dynamics.beta == 2.0
        and ta.method == "euler"
        and ta.meta["dt"] == 0.1
    )
    np.testing.assert_array_equal(ta.x[0], pt.random_points(12, 3, 4))


def test_simulate_from_x0_file_and_options(tmp_path):
    x0 = 3 * pt.random_points(6, 4, 0)
    np.save(tmp_path / "x0.npy", x0)
    out = tmp_path / "r.npz"
    x0_run = ["simulate", "--x0", tmp_path / "x0.npy", "--out", out, "--t-end", 0.5, "--quiet"]
    x0_run += ["--kind", "usa", "--repulsive", "--causal", "--method", "DOP853"]
    assert_clean_error(run(*x0_run), "not on the unit sphere")
    res = run(*x0_run, "--normalize", "--saves", 3)
    assert res.exit_code == 0, res.output
    t = pt.Trajectory.load(out)
    assert t.dynamics.kind == "USA" and t.dynamics.V == -1.0 and t.dynamics.causal and t.t.size == 3


@pytest.mark.parametrize(
    "args,text",
    [
        (["--n", 0], "n (the number of particles) must be an integer >= 1"),
        (["--d", 1], "d (particles live on S^(d-1)) must be an integer >= 2"),
        (["--beta", "nan"], "beta must be finite"),
        (["--beta", -2], "beta must be finite and >= 0"),
        (["--t-end", 0], "t_end must be finite and > 0"),
        (["--dt", 0], "dt must be finite and > 0"),
        (["--method", "heun"], "Invalid value for '--method'"),
        (["--method", "RK45", "--dt", 0.1], "RK45 is adaptive"),
        (["--method", "RK45", "--rtol", 0], "rtol must be finite and > 0"),
        (["--saves", 1], "saves must be an integer >= 2"),
    ],
)
def test_simulate_bad_input(tmp_path, args, text):
    res = (
        run("simulate", "--out", tmp_path / "o.npz", "--t-end", 1, "--quiet", *args)
        if "--t-end" not in args
        else run("simulate", "--out", tmp_path / "o.npz", "--quiet", *args)
    )
    assert_clean_error(res, text)


def test_simulate_bad_paths(tmp_path):
    assert_clean_error(run("simulate", "--out", tmp_path / "nodir" / "o.npz"), "does not exist")
    assert_clean_error(run("simulate", "--out", tmp_path / "o.txt"), ".npz")
    assert_clean_error(
        run("simulate", "--out", tmp_path / "o.npz", "--x0", tmp_path / "missing.npy"),
        "no such file",
    )
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    assert_clean_error(
        run("simulate", "--out", tmp_path / "o.npz", "--x0", tmp_path / "bad.npy"),
        "not a readable .npy",
    )


def test_info_reports_parameters_and_clusters(tmp_path):
    pytest.importorskip("particles.analysis.clusters")
    out = tmp_path / "r.npz"
    assert (
        run(
            "simulate",
            "--n",
            10,
            "--d",
            3,
            "--t-end",
            40,
            "--seed",
            1,
            "--out",
            out,
            "--quiet",
            "--method",
            "RK45",
        ).exit_code
        == 0
    )
    res = run("info", out)
    assert res.exit_code == 0, res.output
    assert (
        "n = 10, d = 3" in res.output
        and "1 cluster" in res.output
        and "seed        1" in res.output
    )
    rec = json.loads(run("info", out, "--json").output)
    assert rec["final"]["n_clusters"] == 1 and rec["seed"] == 1 and rec["complete"]


def test_info_bad_files(tmp_path):
    assert_clean_error(run("info", tmp_path / "missing.npz"), "no such file")
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04garbage")
    assert_clean_error(run("info", tmp_path / "c.npz"), "corrupted")
