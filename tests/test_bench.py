"""The benchmark suite's plumbing (not its timings): cases, in-process and subprocess measurement,
table and plot, and the ``particles bench`` command's bad-input handling."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import particles as pt
from particles import bench
from particles.cli.main import main
from tests.naive import velocity_naive


@pytest.mark.parametrize("impl", ["particles", "numpy_naive", "numpy_blocked"])
@pytest.mark.parametrize("kind, weights", [("SA", "identity"), ("USA", "general")])
def test_every_impl_computes_the_velocity(impl, kind, weights):
    case = bench.Case(impl=impl, n=300, d=5, beta=2.0, kind=kind, weights=weights)
    x, fn = bench.make_case(case, seed=3)
    rng = np.random.default_rng(3)
    pt.random_points(300, 5, rng)  # same draws as make_case: points first, then weights
    Q, K, V = bench._weights(case, rng)
    ref = velocity_naive(x, 2.0, kind, Q, K, V)
    assert np.abs(fn() - ref).max() < 1e-10


@pytest.mark.slow  # importing torch takes ~5-15 s
def test_torch_impls_compute_the_velocity():
    pytest.importorskip("torch")
    for impl in ("torch", "torch_sdpa4d"):
        case = bench.Case(impl=impl, n=200, d=4, beta=3.0)
        x, fn = bench.make_case(case)
        assert np.abs(fn() - velocity_naive(x, 3.0)).max() < 1e-10


def test_bad_cases():
    with pytest.raises(pt.ParticlesError, match="SA only"):
        bench.Case(impl="torch_sdpa4d", n=10, d=3, kind="USA")
    with pytest.raises(pt.ParticlesError, match="unknown implementation"):
        bench.Case(impl="jax", n=10, d=3)
    with pytest.raises(pt.ParticlesError):
        bench.Case(impl="particles", n=0, d=3)


@pytest.mark.slow  # two fresh interpreters importing numba
def test_measure_in_subprocess():
    r = bench.run_case(bench.Case(impl="particles", n=64, d=3), threads=1)
    assert "error" not in r, r
    assert r["seconds"] > 0 and r["finite"] and r["extra_mb"] >= 0
    assert bench.run_gemm("float64", threads=1, size=128)["gflops"] > 0


def test_measure_and_report():
    r = bench.measure_case(bench.Case(impl="particles", n=64, d=3), threads=1)
    assert r["seconds"] > 0 and r["finite"] and r["extra_mb"] >= 0
    g = bench.measure_gemm("float64", threads=1, size=128)
    assert g["gflops"] > 0
    peer = bench.measure_case(bench.Case(impl="numpy_blocked", n=64, d=3), threads=1)
    suite = dict(results=[r, peer], gemm=[g], key=[], info=dict(threads=1))
    text = bench.table(suite)
    assert "| particles |" in text and "numpy_blocked" in text
    json.dumps(suite)  # results are plain JSON
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    bench.plot_scaling(suite, a, b, d=3)
    plt.close(fig)


def test_grid_is_trimmed_for_slow_peers():
    cases = bench.grid(quick=False, torch=True)
    assert max(c.n for c in cases if c.impl in ("numpy_naive", "torch")) == 4096
    assert {c.n for c in cases if c.impl == "particles"} == {256, 1024, 4096, 16384, 65536}
    assert all(c.kind == "SA" for c in cases if c.impl == "torch_sdpa4d")
    quick = bench.grid(quick=True, torch=False)
    assert quick and all(not c.impl.startswith("torch") for c in quick)


@pytest.mark.parametrize("args", [["--n", "7"], ["--n", "abc"], ["--threads", "0"]])
def test_cli_bad_input(args):
    res = CliRunner().invoke(main, ["bench", *args])
    assert res.exit_code != 0
    assert "Traceback" not in res.output


def test_cli_help():
    res = CliRunner().invoke(main, ["bench", "--help"])
    assert res.exit_code == 0 and "Examples" in res.output
