"""``particles figure NAME``: regenerate a paper figure from its script in the repository's ``figures/``."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import click

from ._common import clean_errors


def figures_dir() -> Path:
    """The ``figures/`` directory of the source tree the package was imported from."""
    import particles

    return Path(particles.__file__).resolve().parent.parent / "figures"


#: a figure script defines ``main(outdir, ...)`` at top level (helpers such as claims.py do not)
_FIGURE_MAIN = re.compile(r"^def main\(\s*outdir\b", re.M)


def available(directory: Path) -> list[str]:
    """Figure script names (without .py) in ``directory``: public modules with ``main(outdir, ...)``."""
    return sorted(
        p.stem
        for p in directory.glob("*.py")
        if not p.name.startswith(("_", "test_", "conftest"))
        and _FIGURE_MAIN.search(p.read_text(encoding="utf-8"))
    )


def run_figure(name: str, outdir: Path | None, quick: bool, directory: Path | None = None) -> Path:
    """Import ``<directory>/<name>.py`` and call its ``main(outdir, quick)``; returns the PNG path."""
    from particles.errors import ParticlesError

    directory = directory or figures_dir()
    if not directory.is_dir():
        raise ParticlesError(
            f"no figures directory at {directory}: `particles figure` needs the source tree "
            "(git clone, then pip install -e .)"
        )
    stem = name[:-3] if name.endswith(".py") else name
    names = available(directory)
    if stem not in names:
        raise ParticlesError(f"unknown figure {name!r}; available: {', '.join(names) or 'none'}")
    spec = importlib.util.spec_from_file_location(
        f"_particles_figure_{stem}", directory / f"{stem}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(directory))  # scripts may import shared helpers from figures/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(directory))
    if not hasattr(module, "main"):
        raise ParticlesError(f"{directory / (stem + '.py')} has no main(outdir, quick) function")
    outdir = Path(outdir) if outdir is not None else directory
    if not outdir.is_dir():
        raise ParticlesError(f"output directory {outdir} does not exist")
    return Path(module.main(outdir, quick=quick))


@click.command()
@click.argument("name", required=False)
@click.option("--quick", is_flag=True, help="Small, fast version (seconds), as CI runs it.")
@click.option(
    "--outdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the PNG and its .npz go (default: the figures/ directory).",
)
@click.option("--list", "list_only", is_flag=True, help="List the available figures.")
@clean_errors
def figure(name, quick, outdir, list_only):
    """Regenerate a paper figure: runs figures/NAME.py's main(outdir, quick).

    \b
    Examples:
      particles figure --list
      particles figure fig6_hessian_g
      particles figure wendel.py --quick --outdir /tmp
    """
    from particles.errors import ParticlesError

    if list_only or not name:
        d = figures_dir()
        if not d.is_dir():
            raise ParticlesError(f"no figures directory at {d} (needs the source tree)")
        click.echo("\n".join(available(d)))
        return
    path = run_figure(name, Path(outdir) if outdir else None, quick)
    click.echo(f"wrote {path}")
