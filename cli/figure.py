"""``particles figure NAME``: regenerate a paper figure from its script in the repository's
``figures/`` (through :func:`particles.plotting.figures.run_figure`, the one figure runner)."""

from __future__ import annotations

import click

from ._common import PathArg, clean_errors, echo_run, refuse_given


@click.command()
@click.argument("name", required=False)
@click.option("--quick", is_flag=True, help="Small, fast version (seconds).")
@click.option(
    "--outdir",
    type=PathArg(file_okay=False),
    default=None,
    help="Where the PNG and its .npz go (default: the figures/ directory).",
)
@click.option(
    "--redraw",
    is_flag=True,
    help="Draw the PNG again from the .npz saved in the output directory (no computation).",
)
@click.option("--list", "list_only", is_flag=True, help="List the available figures.")
@clean_errors
def figure(name, quick, outdir, redraw, list_only):
    """Regenerate a paper figure: runs figures/NAME.py's main(outdir, quick).

    \b
    Examples:
      particles figure --list
      particles figure fig6_hessian_g
      particles figure wendel.py --quick --outdir /tmp
      particles figure scansnap_fig6 --redraw
    """
    from particles.plotting import figures

    if list_only or name is None:
        if name is not None:
            raise click.UsageError("give a figure NAME or --list, not both")
        refuse_given(click.get_current_context(), ["quick", "outdir"], "with --list")
        click.echo("\n".join(figures.available()))
        return
    echo_run(figures.run_figure(name, outdir, quick=quick, redraw=redraw))
