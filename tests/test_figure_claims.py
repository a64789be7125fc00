"""figures/README.md quotes only what the saved figure data show (issue 12, §3).

Every tagged number, list, yes/no statement and table of the README is recomputed from the
figures' .npz files by ``figures/claims.py``; every other non-integer number of a figure section
must be listed as an input of its section. See the module docstring of ``figures/claims.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

FIGURES = Path(__file__).resolve().parents[1] / "figures"


@pytest.fixture(scope="module")
def claims():
    spec = importlib.util.spec_from_file_location("figure_claims", FIGURES / "claims.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def readme():
    return (FIGURES / "README.md").read_text()


def test_every_tagged_number_agrees_with_the_data(claims, readme):
    errors, count = claims.check(readme)
    assert not errors, "\n".join(errors)
    # 814 numbers when written (tables count per cell): the README must not lose its tags
    assert count >= 800


def test_no_untagged_result_numbers(claims, readme):
    problems = claims.untagged(readme)
    assert not problems, "\n".join(problems)


def test_every_figure_with_data_is_quoted(claims, readme):
    """Each figure whose .npz is committed has at least one tag in the README."""
    tagged = {t.key.split(".")[0] for t in claims.parse_tags(readme)}
    assert tagged == set(claims.FIGURES)


@pytest.mark.parametrize(
    ("printed", "value", "expected"),
    [
        ("0.9946", 0.994647, "0.9946"),
        ("0.9946", 0.99465001, "0.9947"),
        ("6e-7", 5.8158e-7, "6e-7"),
        ("1.7e-5", 1.7095e-5, "1.7e-5"),
        ("1e-3", 9.96e-4, "1e-3"),
        ("−0.14", -0.1364, "−0.14"),
        ("97", 97, "97"),
        ("87.0", 87.01171875, "87.0"),
        ("40 000", 40000, "40 000"),
        ("10 637", 10637, "10 637"),
        ("0.00", -0.001, "0.00"),
    ],
)
def test_format_like(claims, printed, value, expected):
    assert claims.format_like(printed, value) == expected


def test_mismatches_are_reported_and_rewritten(claims, readme, tmp_path):
    bad = (
        readme.replace(
            "0.9946<!--claim:svm_e2.KQj_100k_mean-->", "0.9947<!--claim:svm_e2.KQj_100k_mean-->"
        )
        .replace("| 6 | 16.00 | 17.5 |", "| 6 | 16.01 | 17.5 |")
        .replace("1.872, 1.942, 2.030, 2.061<!--claims:", "1.872, 1.942, 2.031, 2.061<!--claims:")
    )
    assert bad != readme
    errors, _ = claims.check(bad)
    assert len(errors) == 3
    assert any("0.9947" in e and "0.9946" in e for e in errors)
    assert any("16.01" in e for e in errors)
    path = tmp_path / "README.md"
    path.write_text(bad)
    assert claims.write(path) == 3
    assert path.read_text() == readme


def test_wrong_checks_and_unknown_keys_fail(claims):
    text = (
        "x 1.0<!--claim:fig3.no_such_claim--> y<!--check:fig3.gamma_beta0-->"
        "<!--check:fig6h.g_sign--> 5.19<!--claim:nofig.x-->\n"
    )
    errors, _ = claims.check(text)
    assert len(errors) == 3  # unknown name, a number used as a check, unknown prefix


def test_untagged_numbers_are_found(claims):
    text = (
        "## A\nThe mean is 0.555 and 12 % of runs, Thm 6.7, (6.9), arXiv 2312.10794, 3.5 s.\n"
        "## B\n`scansnap_fig4.py`: dt 0.1 and 0.2.\n<!--inputs: 0.1 0.3-->\n"
        "## C\nnumbers 0.7 in `wendel.png`\n<!--untracked: no-->\n"
    )
    problems = claims.untagged(text)
    assert any("'0.555'" in p for p in problems)
    assert any("'12'" in p for p in problems)
    assert any("'0.2'" in p for p in problems)
    assert any("'0.3' is listed but not used" in p for p in problems)
    assert any("marked untracked but names a figure" in p for p in problems)
    assert not any(tok in p for p in problems for tok in ("'6.7'", "'6.9'", "'3.5'", "'0.1'"))
    assert len(problems) == 5


def test_claims_is_not_a_figure_script():
    """`particles figure --list` lists the scripts with main(outdir, ...), not this helper."""
    from particles.plotting.figures import available

    names = set(available(FIGURES))
    assert "claims" not in names
    assert {p.stem for p in FIGURES.glob("*.npz")} <= names
