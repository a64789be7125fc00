"""``particles bench``: a quick run of the field-evaluation benchmark suite (prints the table)."""

from __future__ import annotations

import click

from ._common import LibraryOption, clean_errors, given, parse_ints


@click.command()
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    cls=LibraryOption,
    library="particles.bench:run_suite.threads",
    help="threads for BLAS, numba and torch in every case",
)
@click.option("--full", is_flag=True, help="the full grid (30-60 min) instead of the quick one")
@click.option("--n", "sizes", default=None, help="only these n (comma-separated), e.g. 256,1024")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@clean_errors
def bench(threads, full, sizes, quiet):
    """Time one field evaluation against numpy (naive and row-blocked), PyTorch (if installed)
    and the machine's GEMM peak, each case in its own subprocess; print a markdown table.

    \b
    Examples:
      particles bench                 # quick grid, ~1-2 minutes
      particles bench --n 256,1024    # only small n
      python benchmarks/bench_field.py   # the full suite, writes benchmarks/field_grid.md
    """
    from particles import bench as b

    keep = None if sizes is None else parse_ints(sizes, "--n")
    suite = b.run_suite(quick=not full, progress=not quiet, sizes=keep, **given(threads=threads))
    click.echo(b.report(suite))
