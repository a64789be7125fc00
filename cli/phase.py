"""``particles phase`` (phase diagrams, arXiv 2312.10794 Fig. 3) and ``particles sweep`` (scans over
n, d, beta)."""

from __future__ import annotations

import click

from ._common import (
    LazyChoice,
    LibraryOption,
    MethodChoice,
    PathArg,
    apply,
    clean_errors,
    given,
    norm_options,
    parse_floats,
    parse_ints,
    refuse_given,
    scheme_kwargs,
)

_PP = "particles.analysis.phase:PhaseParams."


def _common(fn):
    opts = [
        click.option(
            "--n", "n", cls=LibraryOption, library=_PP + "n", help="tokens per system (list ok)"
        ),
        click.option(
            "--d",
            "d",
            cls=LibraryOption,
            library=_PP + "d",
            help="Dimensions: a list 2,8,32 or start:stop:step.",
        ),
        click.option(
            "--beta",
            default="0.1:9:0.1",
            show_default=True,
            help="Betas: a list 1,2,3 or start:stop:step; the default is the authors' grid. A "
            "list may end with inf: hardmax attention (method euler or euler-tangent, kind SA).",
        ),
        click.option(
            "--t-end", type=float, cls=LibraryOption, library=_PP + "t_end", help="Final time."
        ),
        click.option(
            "--dt",
            type=float,
            cls=LibraryOption,
            library=_PP + "dt",
            help="Step of fixed-step methods.",
        ),
        click.option(
            "--seeds",
            type=int,
            cls=LibraryOption,
            library=_PP + "seeds",
            help="Independent systems per beta.",
        ),
        click.option(
            "--seed", type=int, cls=LibraryOption, library=_PP + "seed", help="Base seed."
        ),
        click.option(
            "--delta",
            type=float,
            cls=LibraryOption,
            library=_PP + "delta",
            help="Cluster threshold: particles i, j are linked when <x_i, x_j> > 1 - delta.",
        ),
        click.option(
            "--method",
            type=MethodChoice(batched=True, stochastic=False),
            cls=LibraryOption,
            library=_PP + "method",
            help="euler: the authors' scheme (one residual layer + LayerNorm per step); "
            "euler-tangent: Euler on the tangent field; rk4: a faithful integrator",
        ),
        click.option(
            "--kind",
            type=LazyChoice(_kinds),
            cls=LibraryOption,
            library=_PP + "kind",
            help="SA (softmax), USA (normalised by n) or SK (Sinkhorn: doubly stochastic, arXiv 2110.11773).",
        ),
        *norm_options(),
        click.option(
            "--weights",
            default=None,
            type=LazyChoice(_weight_ensembles),
            help="random Q^T K and V ensembles (arXiv 2312.10794 Fig. 5); default Q=K=V=I",
        ),
        click.option(
            "--store",
            default=None,
            type=PathArg(file_okay=False),
            help="Directory of per-beta results; a rerun skips what is there.",
        ),
        click.option(
            "--scheduler",
            default=None,
            help="Run the tasks on Dask: 'local' (a LocalCluster) or a scheduler ADDRESS.",
        ),
        click.option(
            "--workers",
            type=int,
            cls=LibraryOption,
            library="particles.analysis.phase:phase_diagrams.workers",
            help="Workers of a local Dask cluster.",
        ),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    return apply(opts)(fn)


def _kinds():
    from particles.solvers.ensemble import KINDS

    return KINDS


def _weight_ensembles():
    from particles.solvers.ensemble import WEIGHT_ENSEMBLES

    return list(WEIGHT_ENSEMBLES)


def _params(n, d, beta, norm, alpha, t_switch, t_offset, **options):
    """One PhaseParams per (n, d) from the options of :func:`_common` (those not given take the
    library's defaults)."""
    from particles.analysis.phase import PhaseParams

    scheme = scheme_kwargs(norm, alpha, t_switch, t_offset)
    kw = given(betas=tuple(parse_floats(beta, "--beta", allow_inf=True)), **options, **scheme)
    ns = [None] if n is None else parse_ints(n, "--n")
    ds = [None] if d is None else parse_ints(d, "--d")
    return [PhaseParams(**given(n=nn, d=dd), **kw) for nn in ns for dd in ds]


def _sweep_kw(scheduler, workers, quiet):
    if scheduler != "local":
        refuse_given(
            click.get_current_context(),
            ["workers"],
            "without --scheduler local (the workers of a local Dask cluster)",
        )
    return dict(
        backend="serial" if scheduler is None else "dask",
        scheduler=scheduler,
        threads=None if scheduler is None else 1,
        progress=not quiet,
        **given(workers=workers),
    )


@click.command("phase")
@_common
@click.option("--out", required=True, type=PathArg(dir_okay=False), help="PNG to write")
@click.option(
    "--data", default=None, type=PathArg(dir_okay=False), help="also save the data (.npz)"
)
@clean_errors
def phase(store, scheduler, workers, quiet, out, data, **params):
    """(t, beta) phase diagram of P(<x_1(t), x_2(t)> >= 1 - delta), one panel per d, with the curve
    Gamma_{inf,delta} of the equiangular ODE.

    Results are saved per beta as they finish (in --store, default OUT.store/); a rerun skips them.

    \b
    Examples:
      particles phase --n 32 --d 2,8,32 --beta 0:9:0.1 --t-end 30 --seeds 1024 --out phase.png
      particles phase --d 128 --weights goe --seeds 64 --out goe.png --scheduler local
      particles phase --d 32 --method rk4 --seeds 128 --out rk4.png --store runs/rk4
      particles phase --d 32 --norm pre --method rk4 --t-end 60 --seeds 128 --out pre.png
    """
    from particles.analysis.phase import phase_figure

    phase_figure(
        _params(**params), out, store=store, data=data, **_sweep_kw(scheduler, workers, quiet)
    )
    click.echo(f"wrote {out}" + (f" and {data}" if data else ""))


@click.command("sweep")
@_common
@click.option(
    "--out",
    default=None,
    type=PathArg(dir_okay=False),
    help="write the table to .npz, .json or .csv (default: print it)",
)
@clean_errors
def sweep(store, scheduler, workers, quiet, out, **params):
    """Scan over n, d and beta (each (n, d, beta) one resumable task; Dask with --scheduler): a table of
    the final pair fraction P(t_end), the final mean cluster count and the first time with P >= 1/2.

    \b
    Examples:
      particles sweep --n 16,32 --d 2,3,8 --beta 1,4,9 --seeds 256 --store scan/ --out scan.csv
      particles sweep --d 2 --beta 4,9 --seeds 1024 --scheduler tcp://10.0.0.5:8786 --store /shared/s
      particles sweep --n 16 --d 16 --beta 1,4 --norm peri --seeds 64 --store peri/
      particles sweep --n 16 --d 16 --beta 1,4 --norm lns --t-offset 4 --seeds 64 --store lns/
    """
    from particles.analysis.phase import check_table_path, scan

    if store is None:
        raise click.UsageError("sweep needs --store DIR (where per-task results are kept)")
    if out is not None:
        check_table_path(out)
    table = scan(_params(**params), store=store, **_sweep_kw(scheduler, workers, quiet))
    if out is None:
        click.echo(table.text())
        return
    table.save(out)
    click.echo(f"wrote {out}")
