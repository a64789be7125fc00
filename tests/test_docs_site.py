"""The documentation site's own code (docs/_ext, docs/check_site.py), without building the site:
the docstring reader turns the docstrings' plain notation into clean reStructuredText, the
figures page shows every saved figure, the API pages cover every module, and the browser check
tells a broken link from a good one. The build itself (docs/build.sh, -W) and the browser run
(docs/check_site.py) are run by .ci/run."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

from _ext import docstrings, figures_page  # noqa: E402

docutils_core = pytest.importorskip("docutils.core")


def rst_problems(text: str) -> list[str]:
    """The warnings and errors docutils reports for ``text``."""
    err = io.StringIO()
    docutils_core.publish_doctree(
        text, settings_overrides={"warning_stream": err, "report_level": 2, "halt_level": 5}
    )
    return [ln for ln in err.getvalue().splitlines() if "(WARNING" in ln or "(ERROR" in ln]


#: docstring shapes of this project that plain reStructuredText reads wrongly
DOCSTRINGS = [
    ["Bound: |beta| max_i |q_i| (>= every |logit|)."],
    ["**Arguments:**", "- ``method``: a name;", "  continued", "- ``rng``: a seed."],
    [
        "A formula,",
        "",
        "    I_k(beta r_i)",
        "        = sum_a c_ka",
        "    c_ka = (beta/2)^a,",
        "",
        "after.",
    ],
    ["norms |W|_F or |W|_* and beta_* and h * rho, **bold** stays."],
    ["I_|k|(beta' r_i) and kappa_c(beta_) here."],
    ["literal ``|x|`` and :emphasis:`f` keep theirs::", "", "    |x| and *", "", "after |y|."],
    ["* a bullet with |x|", "* another"],
]


@pytest.mark.parametrize("lines", DOCSTRINGS, ids=range(len(DOCSTRINGS)))
def test_docstrings_read_as_clean_rst(lines):
    assert rst_problems("\n".join(lines)), "the case no longer needs the reader"  # a real case
    fixed = list(lines)
    docstrings._process(None, "function", "f", None, {}, fixed)
    assert rst_problems("\n".join(fixed)) == [], fixed


def test_relative_module_references_are_written_out():
    import particles.model

    lines = ["Points (:mod:`.sphere`) and :func:`.params.Dynamics`."]
    docstrings._process(None, "module", "particles.model", particles.model, {}, lines)
    assert ":mod:`~particles.model.sphere`" in lines[0]
    assert ":func:`~particles.model.params.Dynamics`" in lines[0]


def test_constants_do_not_show_their_types_docstring():
    lines = dict.__doc__.splitlines()
    docstrings._process(None, "data", "M.TABLE", {"a": 1}, {}, lines)
    assert lines == []


def test_figures_page_shows_every_saved_figure_once():
    stems = sorted(p.stem for p in (ROOT / "figures").glob("*.png"))
    text = figures_page.figures_markdown((ROOT / "figures" / "README.md").read_text(), stems)
    for stem in stems:
        assert text.count(f"](../../figures/{stem}.png)") == 1, stem


def test_figures_page_lists_figures_the_text_never_names():
    text = figures_page.figures_markdown("# Figures\n\n### `a.py` — one\n", ["a", "b"])
    assert text.index("figures/a.png") < text.index("## Other figures") < text.index("b.png")


def test_api_pages_cover_every_module_once():
    pytest.importorskip("sphinx")
    import importlib
    import pkgutil

    from _ext import api_pages

    import particles

    mods = api_pages.modules()
    expected = {
        m.name
        for m in pkgutil.walk_packages(particles.__path__, "particles.")
        if not any(p.startswith("_") for p in m.name.split("."))
        and not m.name.startswith("particles.cli")
    } | {"particles"}
    assert set(mods) == expected
    all_modules = {m: importlib.import_module(m) for m in mods}
    page = api_pages.page("particles", all_modules)
    # a re-exported name is documented where it is defined, and linked from the package
    assert "~particles.model.params.Dynamics" in page
    assert ".. autoclass:: particles.Dynamics" not in page


def test_check_site_tells_broken_links(tmp_path):
    import check_site

    (tmp_path / "a.html").write_text('<h1 id="top">A</h1>')
    ok = (tmp_path / "a.html").as_uri()
    assert check_site.broken_link(ok, tmp_path) is None
    assert check_site.broken_link(ok + "#top", tmp_path) is None
    assert check_site.broken_link(ok + "#gone", tmp_path) == "no anchor #gone"
    assert check_site.broken_link((tmp_path / "b.html").as_uri(), tmp_path) == "no such file"
    assert check_site.broken_link("https://example.org/x", tmp_path) is None  # not internal


def test_check_site_skips_without_a_built_site(tmp_path, capsys):
    import check_site

    assert check_site.main(["--site", str(tmp_path)]) == 0
    assert "check_site: skipped: no built site" in capsys.readouterr().out
