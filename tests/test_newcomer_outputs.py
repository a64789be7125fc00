"""What a newcomer sees: ``particles info`` describes every result file the package writes, the
clusters pass shows progress, the phase figure names its parameters, the Fig. 3 script lays out
only the panels it draws, ``--outdir`` is created, and ``particles bench`` prints no empty column
and no share of the GEMM peak above 100 %."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from particles.cli.main import main
from particles.storage import results
from particles.storage.npz import save_npz


def ok(args: list[str]) -> str:
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, (args, r.output)
    assert "Traceback" not in r.output
    return r.output


#: tiny runs of the commands that write result files (all of them but the transformer's, which
#: needs downloaded weights: its formats are checked below from a file of the same layout)
WRITERS = [
    ["simulate", "--n", "8", "--d", "3", "--t-end", "0.5", "--out", "run.npz", "--quiet"],
    ["transition", "--d", "2", "--beta", "6", "--kappa", "0.1,0.12", "--engine", "pde", "--N", "32"]
    + ["--dt", "0.01", "--t-relax", "0.1", "--t-avg", "0.1", "--out", "t.npz", "--quiet"],
    ["meanfield", "solve", "--beta", "4", "--kappa", "0.5", "--t-end", "0.2", "--out", "mf.npz"],
    ["phase", "--n", "4", "--d", "2", "--beta", "1,2", "--t-end", "1", "--seeds", "2"]
    + ["--out", "p.png", "--data", "p.npz", "--quiet"],
    ["sweep", "--n", "4", "--d", "2", "--beta", "1", "--t-end", "1", "--seeds", "2"]
    + ["--store", "sc", "--out", "sc.npz", "--quiet"],
    ["svm", "train", "--n", "3", "--T", "4", "--d", "4", "--iters", "20", "--out", "svm.npz"],
    ["svm", "solve", "--n", "3", "--T", "4", "--d", "4", "--out", "s.npz"],
    ["scansnap", "train", "--classes", "2", "--iters", "20", "--out", "ss.npz"],
    ["figure", "wendel", "--quick", "--outdir", "figs"],
]


def test_info_describes_every_result_file_the_commands_write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in WRITERS:
        ok(args)
    files = sorted(tmp_path.rglob("*.npz"))
    kinds = {results.format_of(f) for f in files}
    # trajectories, transition sweeps, mean-field solutions, phase diagrams (and the sweep tasks),
    # sweep tables, svm and scansnap runs, figure data
    assert {
        "trajectory",
        "transition",
        "meanfield_circle",
        "phase_diagrams",
        "sweep_task",
    } <= kinds
    assert {"sweep_table", "svm_train", "svm_solve", "scansnap_train"} <= kinds, kinds
    for f in files:
        text = ok(["info", f])
        assert "expected" not in text and not text.lower().startswith("error")
        rec = json.loads(ok(["info", f, "--json"]))
        if results.format_of(f) != "trajectory":
            assert rec["format"] == results.format_of(f) and rec["arrays"], rec
    text = ok(["info", "t.npz"])
    assert "order parameter r over kappa" in text and "kappas" in text and "r_up" in text


@pytest.mark.parametrize("fmt", [*results.KINDS, "figure_wendel"])
def test_info_of_each_format(tmp_path, fmt):
    """Every format the package writes has a description (a transformer run, a figure's data...)."""
    path = save_npz(tmp_path / "f.npz", {"a": np.zeros((2, 3))}, {"format": fmt, "p": {"x": 1}})
    if fmt == "trajectory":
        return  # a real one above; this fake lacks the trajectory's arrays
    text = ok(["info", path])
    what, by = results.kind_of(fmt)
    assert what in text and by in text and "p.x" in text and "a  float64 (2, 3)" in text


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"not a zip", "not a readable .npz"), (None, "no such file")],
)
def test_info_of_a_foreign_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "x.npz"
    if content is not None:
        path.write_bytes(content)
    r = CliRunner().invoke(main, ["info", str(path)])
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_clusters_progress_bar_and_quiet(tmp_path, capsys):
    import particles as pt
    from particles.analysis.clusters import summary

    traj = pt.simulate(pt.random_points(16, 3, rng=0), pt.Dynamics(beta=1.0), t_end=1.0)
    a = summary(traj, progress=True)
    b = summary(traj)
    np.testing.assert_array_equal(a.n_clusters, b.n_clusters)
    traj.save(tmp_path / "r.npz")
    r = CliRunner().invoke(main, ["clusters", str(tmp_path / "r.npz"), "--quiet"])
    assert r.exit_code == 0 and "consensus" in r.output


def test_phase_figure_title_names_n_seeds_and_delta():
    from particles.analysis.phase import PhaseDiagram, PhaseParams, _figure_titles

    def dg(**kw):
        p = PhaseParams(betas=(1.0, 2.0), t_end=1.0, seeds=8, **kw)
        return PhaseDiagram.from_saved(p.record(), np.linspace(0, 1, 11), np.zeros((2, 11)))

    head, titles = _figure_titles([dg(d=2), dg(d=8)])
    assert "n = 32" in head and "8 seeds" in head and "δ = 0.001" in head
    assert titles == ["d = 2", "d = 8"]
    head, titles = _figure_titles([dg(d=2, n=8), dg(d=2, n=16)])
    assert "n =" not in head and titles == ["d = 2, n = 8", "d = 2, n = 16"]


def test_fig3_quick_lays_out_only_the_panels_it_draws(tmp_path, monkeypatch):
    """--quick draws two heat maps: no hidden axes (a blank gap), and the colour bar's label does
    not overlap panel (h)."""
    import matplotlib.pyplot as plt

    from tests.figure_helpers import load

    mod = load("fig3_phase_diagrams")
    saved = {}
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: saved.setdefault("fig", fig))
    png = mod.main(tmp_path / "new", quick=True, progress=False)
    assert png.exists()
    fig = saved["fig"]
    fig.canvas.draw()
    axes = fig.get_axes()
    assert all(ax.get_visible() for ax in axes)
    heat = [ax for ax in axes if ax.get_title().startswith(("(a)", "(b)", "(c)"))]
    assert len(heat) == 2
    (cbar,) = [ax for ax in axes if ax.get_label() == "<colorbar>"]
    (h,) = [ax for ax in axes if ax.get_title().startswith("(h)")]
    r = fig.canvas.get_renderer()
    label = cbar.yaxis.label.get_window_extent(r)
    assert label.x1 < h.get_tightbbox(r).x0  # the colour bar's label stays left of panel (h)
    real_close(fig)


def test_figure_outdir_is_created(tmp_path):
    out = tmp_path / "a" / "b"
    ok(["figure", "wendel", "--quick", "--outdir", out])
    assert (out / "wendel.png").exists()
    r = CliRunner().invoke(main, ["figure", "wendel", "--redraw", "--outdir", str(tmp_path / "x")])
    assert r.exit_code != 0 and "does not exist" in r.output
    assert not (tmp_path / "x").exists()


def _suite(gflops: float, path: str = "exact") -> dict:
    r = dict(
        impl="particles",
        dtype="float64",
        n=4096,
        d=64,
        beta=1.0,
        kind="SA",
        weights="identity",
        seconds=0.1,
        gflops=gflops,
        extra_mb=1.0,
        path=path,
    )
    g = dict(impl="gemm", dtype="float64", n=2048, gflops=90.0, gflops_best=100.0)
    return dict(results=[r], gemm=[g], key=[], info=dict(threads=2))


@pytest.mark.parametrize(
    "gflops, path, cell",
    [(50.0, "exact", "| 50% |"), (111.0, "exact", "| 100%* |"), (300.0, "expansion", "| O(n) |")],
)
def test_bench_share_of_the_gemm_peak_never_exceeds_100(gflops, path, cell):
    from particles import bench

    suite = _suite(gflops, path)
    text = bench.report(suite)
    assert cell in text
    assert not any(f"| {p}% |" in text for p in range(101, 1000))
    if cell != "| 50% |":
        assert bench.NOTES[cell.strip("| ")] in text


def test_bench_without_torch_says_so_and_has_no_torch_columns(monkeypatch):
    from particles import bench

    monkeypatch.setattr(bench, "have_torch", lambda: False)
    text = bench.report(_suite(50.0))
    assert "torch" not in bench.table(_suite(50.0))
    assert [ln for ln in text.splitlines() if "PyTorch is not installed" in ln]


def test_bench_names_the_expansion_path():
    from particles import bench

    x = np.random.default_rng(0).normal(size=(256, 64))
    assert not bench._uses_expansion(bench.Case(impl="particles", n=256, d=64), x)
    assert not bench._uses_expansion(bench.Case(impl="numpy_blocked", n=256, d=3), x[:, :3])


def test_missing_extra_names_an_install_that_works():
    """The PyPI project called ``particles`` is another library: hints name the dependencies or
    an editable install of this repository, never ``particles[extra]``."""
    root = Path(__file__).resolve().parents[1]
    for p in [*root.glob("particles/**/*.py"), *root.glob("cli/*.py"), root / "README.md"]:
        assert "particles[" not in p.read_text(), p
