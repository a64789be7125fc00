"""``particles histogram``, ``particles clusters`` and ``particles animate``: look at a saved run."""

from __future__ import annotations

import json

import click

from ._common import LibraryOption, PathArg, clean_errors, cluster_options, given, parse_floats

_ANIMATE = "particles.plotting:animate."


def _load(path):
    from particles import Trajectory

    return Trajectory.load(path)


@click.command()
@click.argument("run", type=PathArg())
@click.option("--times", default=None, help="Comma list or start:stop:step (default: 5 times).")
@click.option(
    "--bins",
    type=click.IntRange(1, 10_000),
    cls=LibraryOption,
    library="particles.plotting:save_histograms.bins",
)
@click.option("--out", required=True, type=PathArg(dir_okay=False), help="Image file (.png).")
@clean_errors
def histogram(run, times, bins, out):
    """Histograms of inner products <x_i, x_j> of RUN at chosen times (arXiv 2312.10794 Figs. 1, 4).

    \b
    Examples:
      particles histogram run.npz --times 0,5,10 --out h.png
      particles histogram run.npz --times 0:20:5 --bins 80 --out h.png
      particles histogram big.zarr --times 0,5,10 --out h.png   # reads only those states
    """
    from particles.plotting import save_histograms

    ts = None if times is None else parse_floats(times, "--times")
    save_histograms(_load(run), ts, out, **given(bins=bins))
    click.echo(f"wrote {out}")


@click.command()
@click.argument("run", type=PathArg())
@cluster_options('Print {"t": [...], "n_clusters": [...]}.')
@click.option("--quiet", is_flag=True, help="No progress bar.")
@clean_errors
def clusters(run, delta, as_json, quiet):
    """Clusters of RUN over time: count, largest cluster, min inner product, fraction of close pairs.

    \b
    Examples:
      particles clusters run.npz
      particles clusters run.npz --delta 1e-4 --json
      particles clusters big.zarr          # one saved state at a time, never the whole store

    A progress bar over the saved states appears when the pass takes more than a second
    (--quiet: none).
    """
    from particles.analysis.clusters import summary

    s = summary(_load(run), delta, progress=not quiet)
    if as_json:
        # allow_nan=False: NaN is not JSON (and never comes out of a validated file)
        rec = {"t": s.t.tolist(), "n_clusters": s.n_clusters.tolist()}
        click.echo(json.dumps(rec, allow_nan=False))
        return
    click.echo(f"{'t':>10}  {'clusters':>8}  {'largest':>7}  {'min <xi,xj>':>12}  {'pairs>1-d':>9}")
    for row in zip(s.t, s.n_clusters, s.largest, s.min_inner, s.pair_fraction, strict=True):
        t, k, big, m, f = row
        click.echo(f"{t:10.4g}  {k:8d}  {big:7d}  {m:12.6f}  {f:9.4f}")
    ct = "never" if s.consensus_time is None else f"t = {s.consensus_time:g}"
    click.echo(f"consensus (all pairs > 1 - {s.delta:g}): {ct}")


@click.command()
@click.argument("run", type=PathArg())
@click.option("--out", required=True, type=PathArg(dir_okay=False), help=".gif or .mp4 file.")
@click.option("--fps", type=click.IntRange(1, 120), cls=LibraryOption, library=_ANIMATE + "fps")
@click.option(
    "--max-frames",
    type=click.IntRange(1, 5000),
    cls=LibraryOption,
    library=_ANIMATE + "max_frames",
)
@click.option("--dpi", type=click.IntRange(20, 600), cls=LibraryOption, library=_ANIMATE + "dpi")
@clean_errors
def animate(run, out, fps, max_frames, dpi):
    """Animate RUN: sphere (d = 3), circle (d = 2) or inner-product histogram (larger d).

    GIF through pillow; MP4 when ffmpeg is installed.

    \b
    Examples:
      particles animate run.npz --out run.gif
      particles animate run.npz --out run.mp4 --fps 30
      particles animate big.zarr --out big.gif   # reads only the frames it draws
    """
    from particles.plotting import animate as _animate

    _animate(_load(run), out, **given(fps=fps, max_frames=max_frames, dpi=dpi))
    click.echo(f"wrote {out}")
