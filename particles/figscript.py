"""The command line shared by the figure scripts in ``figures/``.

Every script defines ``main(outdir, quick=False, **options) -> Path`` (the PNG it wrote) and ends
with ``run_script(main, __doc__, HERE)``, which parses ``--quick``, ``--outdir`` and the script's
own options and prints the PNG path. A script whose ``main`` takes ``redraw`` also gets
``--redraw``: draw the PNG again from the saved ``<stem>.npz`` in ``--outdir``, computing nothing.
"""

from __future__ import annotations

import argparse
import inspect
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["result_store", "run_script"]


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


def run_script(
    main: Callable[..., Path],
    doc: str | None,
    outdir: str | Path,
    *options: tuple[str, dict],
    argv: Sequence[str] | None = None,
    after: Callable[[Path], None] | None = None,
) -> Path:
    """Parse the command line and call ``main(outdir, quick=..., **options)``.

    ``options`` are ``(flag, argparse keyword arguments)`` pairs, passed to ``main`` under their
    argparse destination names; ``after(png)`` runs once the PNG is written (e.g. to print a
    table). ``argv`` defaults to ``sys.argv[1:]``.
    """
    ap = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    ap.add_argument("--quick", action="store_true", help="small sizes, runs in seconds (CI)")
    ap.add_argument(
        "--outdir", type=Path, default=Path(outdir), help="where the PNG and npz go (default: here)"
    )
    if "redraw" in inspect.signature(main).parameters:
        ap.add_argument(
            "--redraw",
            action="store_true",
            help="redraw the PNG from the saved .npz in --outdir (no computation)",
        )
    for flag, kw in options:
        ap.add_argument(flag, **kw)
    args = vars(ap.parse_args(argv))
    png = main(args.pop("outdir"), quick=args.pop("quick"), **args)
    print(png)
    if after is not None:
        after(png)
    return png
