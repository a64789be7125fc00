"""The one figure runner (particles.plotting.figures): the scripts' command line, the runner
behind `particles figure`, and its helpers."""

from pathlib import Path

import pytest

from particles.errors import ParticlesError
from particles.plotting.figures import (
    read_figure,
    result_store,
    run_figure,
    run_main,
    run_script,
    write_figure,
    write_png,
)


def test_run_script_parses_and_forwards(tmp_path, capsys):
    seen = {}

    def main(outdir, quick=False, store=None):
        seen.update(outdir=outdir, quick=quick, store=store)
        return Path(outdir) / "x.png"

    after = []
    png = run_script(
        main,
        "Title line.\n\nmore",
        "/nowhere",
        ("--store", {"default": None}),
        argv=["--quick", "--outdir", str(tmp_path), "--store", "s"],
        after=after.append,
    )
    assert png == tmp_path / "x.png" and after == [png]
    assert seen == {"outdir": tmp_path, "quick": True, "store": "s"}
    assert capsys.readouterr().out.strip() == str(png)
    run_script(main, "T", tmp_path, argv=[])
    assert seen["outdir"] == tmp_path and seen["quick"] is False
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit, match="cannot create output directory"):
        run_script(main, "T", tmp_path / "afile" / "sub", argv=[])


def test_run_script_rejects_unknown_option():
    with pytest.raises(SystemExit):
        run_script(lambda o, quick=False: o, "T", ".", argv=["--bogus"])


def test_run_main_checks_options_and_reports(tmp_path):
    def main(outdir, quick=False, iters=None):
        return Path(outdir) / f"{iters}.png"

    run = run_main(main, tmp_path, iters=3, report=lambda png: f"report of {png.name}")
    assert run.png == tmp_path / "3.png" and run.report == "report of 3.png"
    with pytest.raises(ParticlesError, match="takes no option 'seeds' \\(its options: iters\\)"):
        run_main(main, tmp_path, seeds=3)


def test_run_figure_imports_the_script(tmp_path):
    (tmp_path / "toy.py").write_text(
        "from pathlib import Path\n"
        "def main(outdir, quick=False):\n"
        "    (Path(outdir) / 'toy.png').write_bytes(b'png')\n"
        "    return Path(outdir) / 'toy.png'\n"
        "def report(png):\n"
        "    return 'quick' if png.exists() else 'missing'\n"
    )
    (tmp_path / "_private.py").write_text("")
    run = run_figure("toy.py", directory=tmp_path, quick=True)
    assert run.png == tmp_path / "toy.png" and run.report == "quick"
    with pytest.raises(ParticlesError, match="unknown figure 'nope'; available: toy"):
        run_figure("nope", directory=tmp_path)
    with pytest.raises(ParticlesError, match="no figures directory"):
        run_figure("toy", directory=tmp_path / "absent")


def test_result_store(tmp_path, monkeypatch):
    with result_store(tmp_path / "given", True, "/default") as s:
        assert s == str(tmp_path / "given")
    with result_store(None, True, "/default") as s:
        assert Path(s).is_dir()
    assert not Path(s).exists()  # the quick-mode store is temporary
    monkeypatch.delenv("PARTICLES_STORE", raising=False)
    with result_store(None, False, tmp_path / "d") as s:
        assert s == str(tmp_path / "d")
    monkeypatch.setenv("PARTICLES_STORE", str(tmp_path / "env"))
    with result_store(None, False, tmp_path / "d") as s:
        assert s == str(tmp_path / "env")


def test_run_script_redraw_flag_only_when_main_takes_it(tmp_path):
    seen = {}

    def main(outdir, quick=False, redraw=False):
        seen.update(quick=quick, redraw=redraw)
        return Path(outdir) / "x.png"

    run_script(main, "T", tmp_path, argv=["--redraw"])
    assert seen == {"quick": False, "redraw": True}
    with pytest.raises(SystemExit):  # a script without redraw has no such flag
        run_script(lambda o, quick=False: o, "T", ".", argv=["--redraw"])


def test_run_main_and_run_figure_redraw(tmp_path):
    """``redraw`` goes through the one runner to a main that takes it; one that does not refuses."""
    seen = {}

    def main(outdir, quick=False, redraw=False):
        seen.update(redraw=redraw)
        return Path(outdir) / "x.png"

    run_main(main, tmp_path)
    assert seen == {"redraw": False}
    run_main(main, tmp_path, redraw=True)
    assert seen == {"redraw": True}
    with pytest.raises(ParticlesError, match="cannot redraw"):
        run_main(lambda outdir, quick=False: outdir, tmp_path, redraw=True)
    (tmp_path / "toy.py").write_text(
        "from pathlib import Path\n"
        "def main(outdir, quick=False, redraw=False):\n"
        "    return Path(outdir) / ('redrawn.png' if redraw else 'computed.png')\n"
    )
    assert run_figure("toy", directory=tmp_path, redraw=True).png.name == "redrawn.png"
    assert run_figure("toy", directory=tmp_path).png.name == "computed.png"


def test_write_figure_then_redraw_writes_the_png_alone(tmp_path):
    from particles.plotting import new_figure

    fig = new_figure((2, 2), layout="constrained")
    fig.subplots().plot([0, 1], [1, 0])
    png = write_figure(tmp_path, "toy", fig, {"y": [1.0, 0.0]}, {"format": "toy_figure"})
    npz = tmp_path / "toy.npz"
    before = npz.read_bytes()
    arrays, meta = read_figure(tmp_path, "toy", "toy_figure")
    assert arrays["y"].tolist() == [1.0, 0.0] and meta["format"] == "toy_figure"
    png.unlink()
    assert write_png(tmp_path, "toy", fig) == png and png.is_file()
    assert npz.read_bytes() == before  # a redraw leaves the data as it is
    with pytest.raises(ParticlesError, match="holds a 'toy_figure' result"):
        read_figure(tmp_path, "toy", "svm_figure")
    with pytest.raises(ParticlesError, match="no such file"):
        read_figure(tmp_path, "absent")
