"""CLI and figure-script tests of the Att-SVM module (tiny sizes)."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from particles.cli.main import main
from particles.storage.npz import load_npz
from particles.svm import AttentionData, att_svm, correlation
from particles.svm.experiments import e2_report
from tests.figure_helpers import run_quick

FIG = Path(__file__).resolve().parents[1] / "figures"


def _run(args):
    return CliRunner().invoke(main, ["svm", *args])


def test_train_and_solve_files(tmp_path):
    out = tmp_path / "svm.npz"
    size = ["--n", "3", "--T", "4", "--d", "5"]  # the same sizes in every run
    r = _run(["train", *size, "--iters", "300", "--seed", "0", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    a, meta = load_npz(out, "svm_train")
    assert a["X"].shape == (3, 4, 5) and a["Y"].shape == (3,) and a["z"].shape == (3, 5)
    assert a["v"].shape == (5,) and a["W"].shape == (5, 5)
    assert meta["seed"] == 0 and meta["param"] == "W"
    data = AttentionData(X=a["X"], Y=a["Y"], z=a["z"], v=a["v"])
    # convention logits = X W z: the stored softmax is softmax(X W z)
    logit = np.einsum("ntd,de,ne->nt", a["X"], a["W"], a["z"])
    s = np.exp(logit - logit.max(1, keepdims=True))
    np.testing.assert_allclose(s / s.sum(1, keepdims=True), a["probs"][-1], rtol=1e-10)

    out2 = tmp_path / "s.npz"
    r = _run(["solve", "--data", str(out), "--alpha", "selected", "--out", str(out2)])
    assert r.exit_code == 0, r.output
    b, m2 = load_npz(out2, "svm_solve")
    np.testing.assert_array_equal(b["alpha"], a["alpha"])
    np.testing.assert_allclose(b["W"], att_svm(data, a["alpha"]).W)
    assert correlation(a["W"], b["W"]) > 0.9

    out3 = tmp_path / "n.npz"
    r = _run(["solve", *size, "--seed", "0", "--norm", "nuc", "--out", str(out3)])
    assert r.exit_code == 0, r.output
    c, m3 = load_npz(out3, "svm_solve")
    assert m3["norm"] == "nuc" and m3["rank"] <= 3
    np.testing.assert_allclose(c["X"], a["X"])  # same seed, same data

    kq = ["--iters", "20", "--param", "KQ", "--self-attention", "--quiet"]
    r = _run(["train", *size, *kq, "--out", str(tmp_path / "kq.npz")])
    assert r.exit_code == 0, r.output
    k, _ = load_npz(tmp_path / "kq.npz")
    np.testing.assert_allclose(k["K"] @ k["Q"].T, k["W"], rtol=1e-12)
    np.testing.assert_array_equal(k["z"], k["X"][:, 0])


@pytest.mark.parametrize(
    "args, msg",
    [
        (["solve", "--d", "2", "--out", "x.npz"], "infeasible"),
        (["solve", "--d", "10", "--alpha", "0,1", "--out", "x.npz"], "alpha"),
        (["solve", "--d", "10", "--alpha", "a,b", "--out", "x.npz"], "alpha"),
        (["solve", "--alpha", "selected", "--out", "x.npz"], "--data"),
        (["solve", "--data", "missing.npz", "--out", "x.npz"], "no such file"),
        (["train", "--iters", "-1", "--out", "x.npz", "--quiet"], "iters"),
        (["train", "--T", "1", "--out", "x.npz", "--quiet"], "T must be"),
        (["train", "--out", "x.txt", "--iters", "1", "--quiet"], ".npz"),
    ],
)
def test_bad_input_one_line_error(tmp_path, monkeypatch, args, msg):
    monkeypatch.chdir(tmp_path)
    r = _run(args)
    assert r.exit_code != 0
    assert msg in r.output
    assert "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_help_lists_commands():
    r = _run(["--help"])
    assert r.exit_code == 0
    for cmd in ("train", "solve", "figure"):
        assert cmd in r.output


def test_figure_command_quick(tmp_path):
    r = _run(["figure", "E5", "--outdir", str(tmp_path), "--quick", "--quiet"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "svm_e5_global_vs_local.png").stat().st_size > 0
    r = _run(["figure", "E9", "--outdir", str(tmp_path)])
    assert r.exit_code != 0
    r = _run(["figure", "E5", "--iters", "10", "--outdir", str(tmp_path), "--quick"])
    assert r.exit_code != 0 and "svm_e5_global_vs_local takes no option 'iters'" in r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("script", sorted(p.name for p in FIG.glob("svm_*.py")))
def test_figure_scripts_quick(tmp_path, script):
    _, png = run_quick(tmp_path, script[:-3])
    arrays, meta = load_npz(png.with_suffix(".npz"), "svm_figure")
    if meta["figure"] == "E2":  # summarised at the checkpoint and at the last step
        cont = meta["summary"]["KQj"]["continued"]  # the joint run continued to |W| = 1e4
        assert 0 <= cont["balance_median"] < 1e-2 and 1e4 <= cont["norm_median"] < 1.1e4
        assert arrays["cont_norm_KQj"].max() < 1.1e4 and arrays["cont_norm_KQj"][-1].min() >= 1e4
        for p in ("W", "KQ", "KQj"):
            sm = meta["summary"][p]
            assert [sm["checkpoint"]["step"], sm["final"]["step"]] == [100, 300]
            assert arrays[f"corr_target_{p}"].shape == (3 if p == "KQj" else 2, 2)
            np.testing.assert_allclose(
                sm["final"]["corr_mean"], arrays[f"corr_target_{p}"][1].mean(), rtol=1e-12
            )
        assert "neighbour test" in e2_report(meta)


def test_local_global_picture():
    """The committed local/global picture (arXiv 2308.16898): one GD run reaches the global
    W^mm, another a locally optimal W^mm_alpha with alpha != opt, each in direction (corr > 0.99);
    the local one stays away from the global direction."""
    from particles.svm.experiments import local_global_data
    from particles.svm.model import optimal_tokens
    from particles.svm.solvers import local_optimality

    a, meta = load_npz(FIG / "svm_local_global_2d.npz", "svm_figure")
    assert meta["figure"] == "LG" and not meta["quick"]
    data = local_global_data(meta["seed"])
    np.testing.assert_array_equal(a["X"], data.X)
    assert np.array_equal(a["alpha_global"], optimal_tokens(data))
    assert not np.array_equal(a["alpha_local"], a["alpha_global"])
    assert local_optimality(data, a["alpha_local"]).locally_optimal
    assert a["corr_global_own"][-1] > 0.99 and a["corr_local_own"][-1] > 0.99
    assert a["corr_local_mm"][-1] < 0.5
    assert 0 < meta["fractions"]["local"] < 1


def test_figure_command_lists_and_redraws_lg(tmp_path):
    """``particles svm figure LG --redraw``: the local/global picture from its committed npz."""
    import shutil

    r = _run(["figure", "--help"])
    assert r.exit_code == 0 and "lg" in r.output.lower()
    shutil.copy(FIG / "svm_local_global_2d.npz", tmp_path)
    r = _run(["figure", "lg", "--redraw", "--outdir", str(tmp_path), "--quiet"])
    assert r.exit_code == 0, r.output
    png = tmp_path / "svm_local_global_2d.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = _run(["figure", "E5", "--redraw", "--outdir", str(tmp_path)])
    assert r.exit_code != 0 and "svm_e5_global_vs_local.npz: no such file" in r.output
