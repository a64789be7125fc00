"""The one figure runner: every figure is a script ``figures/NAME.py`` with
``main(outdir, quick=False, **options) -> Path`` (the PNG it wrote, its ``.npz`` data beside it).

Three ways in, one code path (:func:`run_main`):

- ``particles figure NAME`` (and ``particles svm figure E2``, ``particles scansnap figure fig4``,
  which name the scripts ``svm_e2_*``, ``scansnap_fig4``): :func:`run_figure` imports the script
  from the source tree's ``figures/`` and runs it;
- ``python figures/NAME.py [--quick] [--outdir DIR] [options]``: the script ends with
  ``run_script(main, __doc__, HERE, *options)``, its own command line;
- Python: ``run_figure("fig6_hessian_g", outdir, quick=True)``.

Either way the output directory must exist, ``options`` must be parameters of ``main``, and a
script may define ``report(png) -> str``, a text summary printed after the PNG path. A script whose
``main`` takes ``redraw`` can draw its PNG again from the saved ``<outdir>/<stem>.npz`` without
computing anything: ``redraw=True`` through every way in (``--redraw`` on the command lines).
Helpers for the scripts: :func:`compute_and_draw` (compute and save, or load, then draw; with
:func:`plot_figure` for scripts that draw from the arrays alone; :func:`draw_saved` for those
that draw from the file as saved), :func:`write_figure` (the PNG
and its ``.npz`` side by side),
:func:`read_figure` and :func:`write_png` (the redraw: the saved data in, the PNG alone out) and
:func:`result_store` (the resumable per-task store of the long figures, :data:`STORE_OPTION` on
their command lines) and :func:`figure_paths`.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ParticlesError
from ..storage.npz import load_npz, results_dir, save_npz

__all__ = [
    "STORE_OPTION",
    "FigureRun",
    "available",
    "figure_paths",
    "figures_dir",
    "can_redraw",
    "draw_saved",
    "compute_and_draw",
    "numbers_figure",
    "load_script",
    "plot_figure",
    "read_figure",
    "result_store",
    "run_figure",
    "run_main",
    "run_script",
    "save_drawn",
    "script_main",
    "write_figure",
    "write_png",
]


@dataclass(frozen=True)
class FigureRun:
    """What a figure run produced: the PNG (its ``.npz`` data beside it) and the script's text
    report (empty when the script defines no ``report``)."""

    png: Path
    report: str = ""


def figures_dir() -> Path:
    """The ``figures/`` directory of the source tree the package was imported from."""
    return Path(__file__).resolve().parents[2] / "figures"


def _directory(directory) -> Path:
    directory = figures_dir() if directory is None else Path(directory)
    if not directory.is_dir():
        raise ParticlesError(
            f"no figures directory at {directory}: the figure scripts need the source tree "
            "(git clone, then pip install -e .)"
        )
    return directory


#: a figure script defines ``main(outdir, ...)`` at top level (helpers such as claims.py do not)
_FIGURE_MAIN = re.compile(r"^(def main\(\s*outdir\b|main = script_main\()", re.M)


def available(directory: str | Path | None = None, prefix: str = "") -> list[str]:
    """Figure script names (without ``.py``) in ``directory`` (default :func:`figures_dir`) that
    start with ``prefix``, with the prefix removed: public modules with a top-level
    ``main(outdir, ...)`` or ``main = script_main(...)`` (private modules, tests and helpers are
    left out)."""
    directory = _directory(directory)
    return sorted(
        p.stem[len(prefix) :]
        for p in directory.glob(f"{prefix}*.py")
        if not p.name.startswith(("_", "test_", "conftest"))
        and _FIGURE_MAIN.search(p.read_text(encoding="utf-8"))
    )


def load_script(name: str, directory: str | Path | None = None):
    """Import the figure script ``<directory>/<name>.py`` (``name`` may end in ``.py``) as a module."""
    directory = _directory(directory)
    stem = name[:-3] if name.endswith(".py") else name
    names = available(directory)
    if stem not in names:
        raise ParticlesError(f"unknown figure {name!r}; available: {', '.join(names) or 'none'}")
    path = directory / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"_particles_figure_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(directory))  # scripts may import shared helpers from figures/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(directory))
    if not callable(getattr(module, "main", None)):
        raise ParticlesError(f"{path} has no main(outdir, quick) function")
    return module


def can_redraw(main: Callable[..., Path]) -> bool:
    """Whether a figure's ``main`` takes ``redraw`` (draws its PNG from the saved ``.npz``)."""
    params = inspect.signature(main).parameters
    return "redraw" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def _script_name(main) -> str:
    return (getattr(main, "__module__", "") or "the figure").removeprefix("_particles_figure_")


def run_main(
    main: Callable[..., Path],
    outdir: str | Path,
    *,
    quick: bool = False,
    redraw: bool = False,
    report: Callable[[Path], str] | None = None,
    **options,
) -> FigureRun:
    """Call ``main(outdir, quick=quick, **options)`` once ``outdir`` (created when missing) and
    ``options`` are checked (with ``redraw``: ``main(outdir, quick=quick, redraw=True, **options)``, which draws the PNG
    from the saved ``<outdir>/<stem>.npz``); then ``report(png)`` if given. The code path of
    every figure run."""
    outdir = Path(outdir)
    if redraw and not outdir.is_dir():
        raise ParticlesError(f"output directory {outdir} does not exist (nothing to redraw)")
    params = inspect.signature(main).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        own = [k for k in params if k not in ("outdir", "quick", "redraw")]
        for key in options:
            if key not in own:
                raise ParticlesError(
                    f"{_script_name(main)} takes no option {key!r}"
                    f" (its options: {', '.join(own) or 'none'})"
                )
    if redraw:
        if not can_redraw(main):
            raise ParticlesError(f"{_script_name(main)} cannot redraw from its .npz (no redraw)")
        options["redraw"] = True
    with results_dir(outdir, "output directory"):  # created when missing
        png = Path(main(outdir, quick=quick, **options))
    return FigureRun(png=png, report=report(png) if report is not None else "")


def run_figure(
    name: str,
    outdir: str | Path | None = None,
    *,
    quick: bool = False,
    redraw: bool = False,
    directory: str | Path | None = None,
    **options,
) -> FigureRun:
    """Run the figure script ``name`` from ``directory`` (default :func:`figures_dir`) into
    ``outdir`` (default: that directory); ``options`` go to its ``main``. ``redraw``: draw the
    PNG again from the ``.npz`` saved in ``outdir``, computing nothing."""
    module = load_script(name, directory)
    outdir = Path(module.__file__).parent if outdir is None else outdir
    return run_main(
        module.main,
        outdir,
        quick=quick,
        redraw=redraw,
        report=getattr(module, "report", None),
        **options,
    )


def run_script(
    main: Callable[..., Path],
    doc: str | None,
    outdir: str | Path,
    *options: tuple[str, dict],
    argv: Sequence[str] | None = None,
    after: Callable[[Path], None] | None = None,
) -> Path:
    """The command line of a figure script: parse ``--quick``, ``--outdir``, ``--redraw`` (when
    ``main`` takes ``redraw``: draw the PNG from the saved ``.npz`` in ``--outdir``) and the
    script's own ``options`` (``(flag, argparse keyword arguments)`` pairs, passed to ``main``
    under their argparse destination names), run it through :func:`run_main`, print the PNG path
    and the script's ``report(png)`` if its module defines one; ``after(png)`` runs last. ``argv``
    defaults to ``sys.argv[1:]``. A :class:`ParticlesError` exits with a one-line message."""
    ap = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    ap.add_argument("--quick", action="store_true", help="small sizes, runs in seconds (CI)")
    ap.add_argument(
        "--outdir", type=Path, default=Path(outdir), help="where the PNG and npz go (default: here)"
    )
    if can_redraw(main):
        ap.add_argument(
            "--redraw",
            action="store_true",
            help="redraw the PNG from the saved .npz in --outdir (no computation)",
        )
    for flag, kw in options:
        ap.add_argument(flag, **kw)
    args = vars(ap.parse_args(argv))
    report = getattr(sys.modules.get(getattr(main, "__module__", None)), "report", None)
    try:
        run = run_main(
            main,
            args.pop("outdir"),
            quick=args.pop("quick"),
            redraw=args.pop("redraw", False),
            report=report,
            **args,
        )
    except ParticlesError as e:
        raise SystemExit(f"error: {e}") from None
    print(run.png)
    if run.report:
        print(run.report)
    if after is not None:
        after(run.png)
    return run.png


def write_figure(
    outdir: str | Path, stem: str, fig, arrays: dict, meta: dict, *, dpi: int = 120
) -> Path:
    """Save ``arrays`` and ``meta`` (which needs a ``"format"``) to ``<outdir>/<stem>.npz`` and the
    matplotlib figure ``fig`` to ``<outdir>/<stem>.png``; returns the PNG path."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise ParticlesError(f"output directory {outdir} does not exist")
    save_npz(outdir / f"{stem}.npz", {k: np.asarray(v) for k, v in arrays.items()}, meta)
    return write_png(outdir, stem, fig, dpi=dpi)


def write_png(outdir: str | Path, stem: str, fig, *, dpi: int = 120) -> Path:
    """Save the matplotlib figure ``fig`` to ``<outdir>/<stem>.png`` alone (a redraw: the
    ``.npz`` stays as it is); returns the PNG path."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise ParticlesError(f"output directory {outdir} does not exist")
    png = outdir / f"{stem}.png"
    fig.savefig(png, dpi=dpi)
    return png


def compute_and_draw(outdir, stem: str, *, quick: bool, redraw: bool, compute, draw) -> Path:
    """The skeleton of a figure script's ``main``: ``compute(quick) -> (arrays, meta)`` and save
    them to ``<outdir>/<stem>.npz`` (format ``"figure"``, with ``figure``, ``quick`` and ``meta``),
    or with ``redraw`` read them back; then ``draw(arrays, meta, png_path)``. Returns the PNG."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise ParticlesError(f"output directory {outdir} does not exist")
    if redraw:
        arrays, meta = read_figure(outdir, stem, "figure")
    else:
        arrays, extra = compute(quick)
        meta = {"format": "figure", "figure": stem, "quick": quick, **extra}
        save_npz(outdir / f"{stem}.npz", arrays, meta)
    return draw(arrays, meta, outdir / f"{stem}.png")


def plot_figure(outdir, script: str, quick: bool, redraw: bool, compute, plot, meta: dict) -> Path:
    """:func:`compute_and_draw` for the script at path ``script`` (its ``__file__``; the stem
    names the files) whose ``compute(quick) -> arrays`` and ``plot(arrays, png) -> png`` need no
    metadata: ``meta`` (the script's constants) is saved with the arrays for the record."""
    return compute_and_draw(
        outdir,
        Path(script).stem,
        quick=quick,
        redraw=redraw,
        compute=lambda q: (compute(q), meta),
        draw=lambda arrays, _meta, png: plot(arrays, png),
    )


def draw_saved(outdir, stem: str, *, redraw: bool, compute, draw) -> Path:
    """The skeleton of a figure script's ``main`` that draws from its file: unless ``redraw``,
    ``compute() -> (arrays, meta)`` saved to ``<outdir>/<stem>.npz`` (format ``figure_<stem>``);
    then ``draw(arrays, meta, png)`` from the file as read back, so that a redraw draws the same
    PNG. Returns the PNG."""
    outdir = Path(outdir)
    npz, fmt = outdir / f"{stem}.npz", f"figure_{stem}"
    if not redraw:
        arrays, meta = compute()
        save_npz(npz, arrays, {"format": fmt, **meta})
    return draw(*load_npz(npz, fmt), outdir / f"{stem}.png")


def save_drawn(fig, path: str | Path, *, dpi: int = 130) -> Path:
    """The end of a ``draw``: lay ``fig`` out tightly, save it to ``path``; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return Path(path)


def script_main(file: str, compute, draw) -> Callable[..., Path]:
    """The ``main(outdir=<the script's directory>, quick=False, redraw=False)`` of the figure
    script ``file`` (its ``__file__``): :func:`compute_and_draw` with the script's name as stem.
    Its ``__module__`` is ``compute``'s, so :func:`run_script` finds the script's ``report``."""
    here = Path(file).resolve().parent
    stem = Path(file).stem

    def main(outdir: Path = here, quick: bool = False, redraw: bool = False) -> Path:
        """Compute (or, with ``redraw``, load from ``<outdir>/<stem>.npz``) and draw the figure."""
        return compute_and_draw(
            outdir, stem, quick=quick, redraw=redraw, compute=compute, draw=draw
        )

    main.__module__ = compute.__module__
    return main


def numbers_figure(
    outdir, stem: str, quick: bool, redraw: bool, compute, plot, *, dpi: int = 120, **meta
) -> Path:
    """:func:`compute_and_draw` for a script whose ``compute(quick) -> (arrays, numbers)`` and
    ``plot(arrays, numbers) -> Figure``: saves ``arrays`` and the meta ``{**meta, "numbers":
    numbers}`` (``numbers`` is what figures/claims.py reads), or with ``redraw`` reads them back;
    then writes the PNG. Returns the PNG path."""

    def _compute(q):
        arrays, numbers = compute(q)
        return {k: np.asarray(v) for k, v in arrays.items()}, {**meta, "numbers": numbers}

    def _draw(arrays, saved, png):
        return write_png(png.parent, png.stem, plot(arrays, saved["numbers"]), dpi=dpi)

    return compute_and_draw(outdir, stem, quick=quick, redraw=redraw, compute=_compute, draw=_draw)


def read_figure(outdir: str | Path, stem: str, fmt: str | None = None) -> tuple[dict, dict]:
    """The ``(arrays, meta)`` saved in ``<outdir>/<stem>.npz`` (by :func:`write_figure`), for a
    redraw; ``fmt``: the format its meta must name."""
    return load_npz(Path(outdir) / f"{stem}.npz", fmt)


def figure_paths(outdir: str | Path, stem: str) -> tuple[Path, Path]:
    """``(<outdir>/<stem>.npz, <outdir>/<stem>.png)``, with ``outdir`` created if missing."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return outdir / f"{stem}.npz", outdir / f"{stem}.png"


#: the ``--store`` option (:func:`run_script`) of the figures with resumable per-beta results
STORE_OPTION = ("--store", {"default": None, "help": "directory of per-beta results (resumable)"})


@contextmanager
def result_store(store: str | Path | None, quick: bool, default: str | Path) -> Iterator[str]:
    """The directory of resumable per-task results for a figure: ``store`` when given; in quick
    mode a temporary directory, removed afterwards; else ``$PARTICLES_STORE`` or ``default``."""
    if store is not None:
        yield str(store)
    elif quick:
        with tempfile.TemporaryDirectory(prefix="particles-fig-") as tmp:
            yield tmp
    else:
        yield os.environ.get("PARTICLES_STORE", str(default))
