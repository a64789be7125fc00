"""``particles scansnap``: SGD dynamics of a 1-layer Transformer (Scan and Snap,
arXiv 2305.16380)."""

from __future__ import annotations

import click

from ._common import (
    Choice,
    LazyChoice,
    LibraryOption,
    PathArg,
    clean_errors,
    echo_run,
    figure_options,
    given,
    parse_floats,
    parse_ints,
)


def _figure_names() -> list[str]:
    """The figures/scansnap_*.py scripts, named without the prefix, "-" for "_" (fig6-authors)."""
    from particles.plotting.figures import available

    return [name.replace("_", "-") for name in available(prefix="scansnap_")]


@click.group("scansnap", context_settings={"help_option_names": ["-h", "--help"]})
def scansnap():
    """Scan and Snap: a 1-layer Transformer trained by SGD on next-token prediction.

    \b
    Examples:
      particles scansnap train --classes 2 --eta-z 1 --ratio 1 --iters 300 --seed 2 --out ss.npz
      particles scansnap train --text austen --context 16 --iters 2000 --out text.npz
      particles scansnap sweep --classes 2,6 --eta-z 0.5,1 --ratio 1,10 --seeds 1:3:1 \\
          --outdir runs/fig6 --summary fig6.npz
      particles scansnap figure fig4 --outdir figures
    """


_ST = "particles.scansnap.data:SyntheticTask."
_TT = "particles.scansnap.data:TextTask."
_TC = "particles.scansnap.model:TrainConfig."
_SG = "particles.scansnap.sweep:SweepGrid."


@scansnap.command("train")
@click.option(
    "--classes",
    type=int,
    cls=LibraryOption,
    library=_ST + "num_classes",
    help="number of classes K",
)
@click.option("--classes-per-query", type=int, cls=LibraryOption, library=_ST + "classes_per_query")
@click.option(
    "--common", type=int, cls=LibraryOption, library=_ST + "num_common", help="common tokens"
)
@click.option(
    "--distinct",
    type=int,
    cls=LibraryOption,
    library=_ST + "num_distinct",
    help="distinct per class",
)
@click.option(
    "--context", type=int, default=None, help="context tokens before the query [127; text: 32]"
)
@click.option(
    "--text",
    "text",
    default=None,
    help="train on a real text instead: a built-in passage name (austen, melville) or a file",
)
@click.option(
    "--vocab", type=int, cls=LibraryOption, library=_TT + "vocab_size", help="text mode vocabulary"
)
@click.option(
    "--eta-z", type=float, cls=LibraryOption, library=_TC + "eta_z", help="attention rate η_Z"
)
@click.option("--ratio", type=float, cls=LibraryOption, library=_TC + "ratio", help="η_Y / η_Z")
@click.option("--momentum", type=float, cls=LibraryOption, library=_TC + "momentum")
@click.option("--batch", type=int, cls=LibraryOption, library=_TC + "batch")
@click.option("--iters", type=int, cls=LibraryOption, library=_TC + "iters")
@click.option(
    "--init",
    type=Choice(["zero", "random"]),
    cls=LibraryOption,
    library=_TC + "init",
    help="initial Z and Y: zero or random",
)
@click.option("--record-every", type=int, default=None, help="snapshot period [1; text: iters/10]")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the run")
@click.option("--out", type=PathArg(dir_okay=False), required=True, help="result .npz")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@clean_errors
def train(
    classes,
    classes_per_query,
    common,
    distinct,
    context,
    text,
    vocab,
    eta_z,
    ratio,
    momentum,
    batch,
    iters,
    init,
    record_every,
    seed,
    out,
    quiet,
):
    """Train one run; the .npz holds loss, c (steps, classes, tokens), probs, kinds, Z, Y.

    \b
    Example (the authors' Fig. 4 setting, run to 300 steps):
      particles scansnap train --classes 2 --eta-z 1 --ratio 1 --iters 300 --seed 2 --out ss.npz
    """
    from particles.scansnap import train_run
    from particles.storage.npz import save_npz

    arrays, meta = train_run(
        seed,
        text=text,
        task_options=given(
            num_classes=classes,
            classes_per_query=classes_per_query,
            num_common=common,
            num_distinct=distinct,
            context_len=context,
            vocab_size=vocab,
        ),
        config_options=given(
            eta_z=eta_z,
            ratio=ratio,
            momentum=momentum,
            batch=batch,
            iters=iters,
            init=init,
            record_every=record_every,
        ),
        progress=not quiet,
    )
    save_npz(out, arrays, meta)
    nums = ", ".join(f"{k}={v:.4g}" for k, v in meta["numbers"].items())
    click.echo(f"wrote {out}: {nums}")


@scansnap.command("sweep")
@click.option(
    "--classes", cls=LibraryOption, library=_SG + "classes", help="values of K (list or a:b:step)"
)
@click.option("--classes-per-query", type=int, cls=LibraryOption, library=_SG + "classes_per_query")
@click.option("--eta-z", cls=LibraryOption, library=_SG + "eta_z", help="values of η_Z")
@click.option("--ratio", cls=LibraryOption, library=_SG + "ratio", help="values of η_Y/η_Z")
@click.option("--seeds", cls=LibraryOption, library=_SG + "seeds", help="seeds (list or a:b:step)")
@click.option("--iters", type=int, cls=LibraryOption, library=_SG + "config.iters")
@click.option(
    "--init",
    type=Choice(["zero", "random"]),
    cls=LibraryOption,
    library=_SG + "config.init",
    help="initial Z and Y: zero or random",
)
@click.option("--batch", type=int, cls=LibraryOption, library=_SG + "config.batch")
@click.option("--context", type=int, cls=LibraryOption, library=_SG + "context_len")
@click.option("--momentum", type=float, cls=LibraryOption, library=_SG + "config.momentum")
@click.option(
    "--outdir", type=PathArg(file_okay=False), required=True, help="one .npz per run here"
)
@click.option("--summary", type=PathArg(dir_okay=False), default=None, help="[OUTDIR/summary.npz]")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@clean_errors
def sweep(
    classes,
    classes_per_query,
    eta_z,
    ratio,
    seeds,
    iters,
    init,
    batch,
    context,
    momentum,
    outdir,
    summary,
    quiet,
):
    """Sweep K × η_Z × η_Y/η_Z × seeds (defaults: the authors' Fig. 6); resumable.

    Each run is one file in OUTDIR, written atomically; a rerun skips finished runs. The
    summary .npz holds arrays [K, η_Z, ratio, seed] of the final distinct-token entropy,
    common-token mass, largest weight, order τ, snap time and final loss.

    \b
    Example:
      particles scansnap sweep --classes 2 --eta-z 0.5,1,2 --ratio 1,2,5,10 --seeds 1:5:1 \\
          --init zero --iters 300 --classes-per-query 1 --outdir runs/snap
    """
    from particles.scansnap import (
        SweepGrid,
        entropy_report,
        run_sweep,
        save_summary,
        summary_path,
    )

    summary_path(outdir, summary)  # checked before the runs
    grid = SweepGrid.from_options(
        classes=None if classes is None else parse_ints(classes, "--classes"),
        eta_z=None if eta_z is None else parse_floats(eta_z, "--eta-z"),
        ratio=None if ratio is None else parse_floats(ratio, "--ratio"),
        seeds=None if seeds is None else parse_ints(seeds, "--seeds"),
        classes_per_query=classes_per_query,
        context_len=context,
        iters=iters,
        init=init,
        batch=batch,
        momentum=momentum,
    )
    res = run_sweep(grid, outdir, progress=not quiet)
    path = save_summary(res, grid, outdir, summary)
    click.echo(f"{res['n_run']} runs trained, {res['n_skipped']} already done; summary in {path}")
    click.echo(entropy_report(res, grid))


@scansnap.command("figure")
@click.argument("name", type=LazyChoice(_figure_names))
@figure_options
@clean_errors
def figure(name, outdir, quick, redraw):
    """Make one figure: runs figures/scansnap_<NAME>.py of the source tree (as `particles figure`
    does; fig6-authors runs scansnap_fig6_authors.py).

    \b
    Example:
      particles scansnap figure fig4 --outdir figures
      particles scansnap figure fig6-authors --redraw --outdir figures
    """
    from particles.plotting.figures import run_figure

    echo_run(run_figure(f"scansnap_{name.replace('-', '_')}", outdir, quick=quick, redraw=redraw))
