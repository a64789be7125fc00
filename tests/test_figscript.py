"""The shared command line of the figure scripts."""

from pathlib import Path

import pytest

from particles.figscript import run_script


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
    run_script(main, "T", "/nowhere", argv=[])
    assert seen["outdir"] == Path("/nowhere") and seen["quick"] is False


def test_run_script_rejects_unknown_option():
    with pytest.raises(SystemExit):
        run_script(lambda o, quick=False: o, "T", ".", argv=["--bogus"])


def test_result_store(tmp_path, monkeypatch):
    from particles.figscript import result_store

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
