"""The package's shape: one import name, the declared packages match the tree, old module names
do not import, and the papers are cited by their own numbering."""

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_declared_packages_match_the_tree():
    """pyproject.toml lists every package (setuptools' package-dir maps cli/ to particles.cli)."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(conf["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "particles").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert conf["package-dir"] == {"particles.cli": "cli"}
    assert declared == on_disk | {"particles.cli"}


@pytest.mark.parametrize("cwd", ["repository", "elsewhere"])
def test_cli_is_not_a_top_level_import(tmp_path, cwd):
    """`import cli` fails, from the repository root too; `particles.cli` is the command line."""
    where = ROOT if cwd == "repository" else tmp_path
    code = "import particles.cli.main\ntry:\n    import cli\nexcept ImportError:\n    print('ok')"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=where, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "ok", out.stderr


#: module names of earlier layouts: each thing has one import path, so none of these imports
OLD_NAMES = [
    "particles.energy",
    "particles.clusters",
    "particles.equiangular",
    "particles.circle",
    "particles.repulsive",
    "particles.wendel",
    "particles.phase",
    "particles.integrate",
    "particles.ensemble",
    "particles.fields",
    "particles.figscript",
    "particles.sphere",
    "particles.params",
    "particles.field_tiles",
    "particles.field_rows",
    "particles.field_stable",
    "particles.expansion",
    "particles.distributed",
    "particles.norms",
    "particles.kernels",
    "particles.io",
    "particles.store",
    "particles.trajectory",
    "particles.results",
    "particles.sweep",
    "particles.grids",
    "particles._aliases",
]


@pytest.mark.parametrize("old", OLD_NAMES)
def test_old_module_names_do_not_import(old):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


def test_the_public_functions_stay_functions():
    """Importing the analyses' modules does not replace the function pt.energy."""
    code = (
        "import particles as pt, particles.analysis.energy, particles.solvers.integrate\n"
        "print(callable(pt.energy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr


def test_the_public_api_of_the_readme():
    import particles as pt

    for name in (
        "Dynamics", "FeedForward", "Piecewise", "Trajectory", "velocity", "simulate", "energy",
        "random_points", "min_inner_product", "METHODS", "Interrupted", "ParticlesError",
    ):  # fmt: skip
        assert hasattr(pt, name), name
    from particles.analysis.clusters import cluster_labels, count_clusters  # noqa: F401
    from particles.analysis.phase import PhaseParams  # noqa: F401
    from particles.solvers.ensemble import ensemble_coords, ensemble_gram  # noqa: F401


def test_no_reference_to_the_private_digest():
    """Code, docs and help texts cite the papers (arXiv id, section, equation, figure), never the
    project's private digest of them."""
    word = "SP" + "EC"
    hits = []
    for p in ROOT.rglob("*"):
        if any(part in (".git", ".venv", "__pycache__") for part in p.parts) or not p.is_file():
            continue
        if p.suffix not in (".py", ".md", ".toml", ".txt", ".cfg", ".json", ".csv", ""):
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        hits += [
            f"{p.relative_to(ROOT)}:{i}" for i, ln in enumerate(text.splitlines(), 1) if word in ln
        ]
    assert not hits, hits
