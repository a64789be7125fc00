"""``particles view``: one self-contained interactive HTML page of a saved result."""

from __future__ import annotations

import click

from ._common import LibraryOption, PathArg, clean_errors, given

_SF = "particles.plotting.viewer:states_figure."


@click.command()
@click.argument("run", type=PathArg())
@click.option("--out", required=True, type=PathArg(dir_okay=False), help="The page (.html).")
@click.option(
    "--delta",
    type=float,
    cls=LibraryOption,
    library="particles.analysis.clusters:DEFAULT_DELTA",
    help="Cluster threshold: particles i, j are linked when <x_i, x_j> > 1 - delta.",
)
@click.option(
    "--max-frames",
    type=click.IntRange(1, 100_000),
    cls=LibraryOption,
    library=_SF + "max_frames",
    help="Saved states drawn at most (evenly spaced; the page says so).",
)
@click.option(
    "--max-particles",
    type=click.IntRange(1, 1_000_000),
    cls=LibraryOption,
    library=_SF + "max_particles",
    help="Particles drawn at most (evenly spaced; the page says so).",
)
@click.option(
    "--coords",
    default=None,
    help="d >= 3: draw these three coordinates, e.g. 0,1,2 (default for d > 3: PCA).",
)
@click.option(
    "--pca-time",
    type=float,
    default=None,
    help="d > 3: the PCA axes of the saved state closest to this time (a Transformer run: "
    "layer); default: of all drawn states together.",
)
@clean_errors
def view(run, out, delta, max_frames, max_particles, coords, pca_time):
    """Write an interactive page of RUN: one self-contained HTML file that works offline.

    A trajectory (.npz or .zarr; particles simulate) or a Transformer run (particles
    transformer, transformer compare-ode): the particles on the sphere (d = 3, turned by the mouse),
    on the circle (d = 2) or projected (d > 3: PCA, or --coords), coloured by cluster, with a time
    slider and a play button; hovering shows the token index (and its text for a Transformer run).
    A phase diagram (particles phase --data) or a transition sweep (particles transition): the
    interactive version of its figure, values on hover.

    \b
    Examples:
      particles view run.npz --out run.html
      particles view big.zarr --out big.html --max-frames 100 --max-particles 2000
      particles view t.npz --out t.html --pca-time 6
      particles view tr.npz --out tr.html
    """
    from particles.plotting.view_file import figure_for_file
    from particles.plotting.viewer import write_html
    from particles.storage.npz import check_writable

    check_writable(out, "page", ".html")  # before the work
    fig = figure_for_file(
        run,
        **given(
            delta=delta,
            max_frames=max_frames,
            max_particles=max_particles,
            coords=coords,
            pca_time=pca_time,
        ),
    )
    click.echo(f"wrote {write_html(fig, out)}")
