"""The ``particles scansnap`` commands and the figure scripts in quick mode."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from particles.cli.scansnap import scansnap
from particles.storage.npz import load_npz
from tests.figure_helpers import load, run_quick

FIG_DIR = Path(__file__).resolve().parents[1] / "figures"
SCRIPTS = sorted(FIG_DIR.glob("scansnap_*.py"))


def _run(args):
    return CliRunner().invoke(scansnap, args, catch_exceptions=False)


def test_train_writes_the_issue_arrays(tmp_path):
    out = tmp_path / "ss.npz"
    r = _run(
        [
            "train",
            "--classes",
            "2",
            "--eta-z",
            "1",
            "--ratio",
            "1",
            "--iters",
            "12",
            "--seed",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert r.exit_code == 0, r.output
    a, meta = load_npz(out, "scansnap_train")
    assert a["loss"].shape == (12,) and a["c"].shape == (13, 2, 34)
    assert a["probs"].shape == (2, 34) and set(a["kinds"]) == {
        "common",
        "distinct",
        "query",
        "next",
    }
    assert a["loss"][0] == pytest.approx(np.log(34))
    assert meta["seed"] == 2 and meta["train"]["eta_y"] == 1.0


def test_train_text_mode(tmp_path):
    out = tmp_path / "t.npz"
    r = _run(
        [
            "train",
            "--text",
            "melville",
            "--vocab",
            "40",
            "--context",
            "5",
            "--iters",
            "10",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert r.exit_code == 0, r.output
    a, meta = load_npz(out)
    assert a["probe_attention"].shape[2] == 5 and len(a["vocab"]) == 40
    assert meta["text"] == "melville"


@pytest.mark.parametrize(
    "args",
    [
        ["--classes", "0"],
        ["--eta-z", "-1"],
        ["--ratio", "-2"],
        ["--context", "0"],
        ["--classes", "3", "--classes-per-query", "2"],
        ["--text", "no_such_file.txt"],
    ],
)
def test_train_bad_input_one_line_error(tmp_path, args):
    r = CliRunner().invoke(scansnap, ["train", *args, "--out", str(tmp_path / "x.npz"), "--quiet"])
    assert r.exit_code != 0
    msg = r.output.strip()
    assert msg.startswith("Error:") and "\n" not in msg and "Traceback" not in msg
    assert not (tmp_path / "x.npz").exists()


def test_sweep_resumes(tmp_path):
    args = [
        "sweep",
        "--classes",
        "2",
        "--classes-per-query",
        "1",
        "--eta-z",
        "0.5,1",
        "--ratio",
        "1",
        "--seeds",
        "1:2:1",
        "--iters",
        "4",
        "--outdir",
        str(tmp_path / "runs"),
        "--quiet",
    ]
    r = _run(args)
    assert r.exit_code == 0, r.output
    assert "4 runs trained, 0 already done" in r.output
    a, meta = load_npz(tmp_path / "runs" / "summary.npz", "scansnap_sweep")
    assert a["entropy"].shape == (1, 2, 1, 2) and meta["seeds"] == [1, 2]
    r = _run(args)
    assert "0 runs trained, 4 already done" in r.output


def test_sweep_bad_input(tmp_path):
    r = CliRunner().invoke(scansnap, ["sweep", "--eta-z", "-1", "--outdir", str(tmp_path)])
    assert r.exit_code != 0 and "eta_z" in r.output
    r = CliRunner().invoke(scansnap, ["sweep", "--seeds", "1.5", "--outdir", str(tmp_path)])
    assert r.exit_code != 0


def test_figure_command_quick(tmp_path):
    r = _run(["figure", "fig4", "--outdir", str(tmp_path), "--quick"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "scansnap_fig4.png").is_file()


def test_figure_command_names_and_redraw(tmp_path):
    """The figure names are the scripts' (fig6-authors for scansnap_fig6_authors); --redraw draws
    the PNG from the npz in --outdir."""
    import shutil

    r = _run(["figure", "--help"])
    assert "fig6-authors" in r.output
    shutil.copy(FIG_DIR / "scansnap_fig6_authors.npz", tmp_path)
    r = _run(["figure", "fig6-authors", "--redraw", "--outdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "scansnap_fig6_authors.png").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_figure_scripts_quick(tmp_path, script):
    run_quick(tmp_path, script.stem)
    load_npz(tmp_path / f"{script.stem}.npz")


def test_all_six_figures_exist():
    assert {s.stem for s in SCRIPTS} == {
        "scansnap_fig4",
        "scansnap_fig6",
        "scansnap_fig6_authors",
        "scansnap_snaptime",
        "scansnap_ode",
        "scansnap_text",
    }


def test_fig6_against_the_authors_table():
    """The committed comparison with the authors' Fig. 6 numbers: the full 4 x 4 x 4 grid, the
    deviations as defined, and the authors' numbers as in their table when it is available."""
    mod = load("scansnap_fig6_authors")
    a, meta = load_npz(FIG_DIR / "scansnap_fig6_authors.npz", "figure_scansnap_fig6_authors")
    assert a["dev_pooled"].shape == (4, 4, 4) and meta["numbers"]["cells"] == 64
    pooled = np.sqrt((a["ours_std"] ** 2 + a["authors_std"] ** 2) / 2)
    np.testing.assert_allclose(a["dev_pooled"], (a["ours_mean"] - a["authors_mean"]) / pooled)
    np.testing.assert_allclose(a["ours_mean"], a["ours_entropy"].mean(-1))
    ours, _ = load_npz(FIG_DIR / "scansnap_fig6.npz", "figure_scansnap_fig6")
    np.testing.assert_array_equal(a["ours_entropy"], ours["entropy"])
    csv = mod.find_authors_csv()
    if csv is not None:
        ref = mod.read_authors_csv(csv)
        np.testing.assert_array_equal(a["authors_mean"], ref["authors_mean"])
        np.testing.assert_array_equal(a["authors_std"], ref["authors_std"])
