"""``particles svm``: attention as a max-margin token selector (Transformers as SVMs)."""

from __future__ import annotations

import click

from ._common import (
    Choice,
    LazyChoice,
    LibraryOption,
    PathArg,
    apply,
    clean_errors,
    echo_run,
    figure_options,
    given,
    refuse_given,
)

_TC = "particles.svm.train:TrainConfig."
_SR = "particles.svm.solvers:solve_random."


def _losses():
    from particles.svm.model import LOSSES

    return list(LOSSES)


def _figure_names() -> list[str]:
    from particles.svm.experiments import FIGURE_STEMS

    return list(FIGURE_STEMS)


_CTX = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=_CTX)
def svm():
    """Att-SVM: GD on attention weights and the max-margin problems it converges to.

    \b
    Examples:
      particles svm train --n 6 --T 8 --d 10 --param W --iters 2000 --seed 0 --out svm.npz
      particles svm solve --n 6 --T 8 --d 10 --seed 0 --norm nuc --out s.npz
      particles svm solve --data svm.npz --alpha selected --out s.npz
      particles svm figure E2 --outdir figures
    """


_size_options = apply(
    [
        click.option("--n", "n", type=int, default=6, show_default=True, help="sequences"),
        click.option("--T", "T", type=int, default=8, show_default=True, help="tokens each"),
        click.option("--d", "d", type=int, default=10, show_default=True, help="dimension"),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="seed of the run (the library derives the data and initialisation streams)",
        ),
        click.option(
            "--self-attention",
            is_flag=True,
            help="query z_i = first token of sequence i (default: cross-attention)",
        ),
    ]
)


@svm.command(context_settings=_CTX)
@_size_options
@click.option(
    "--param",
    type=Choice(["W", "KQ"]),
    cls=LibraryOption,
    library=_TC + "param",
)
@click.option("--iters", type=int, cls=LibraryOption, library=_TC + "iters", help="GD steps")
@click.option("--lr", type=float, cls=LibraryOption, library=_TC + "lr", help="step size")
@click.option("--loss", type=LazyChoice(_losses), cls=LibraryOption, library=_TC + "loss")
@click.option("--plain", is_flag=True, help="plain GD instead of normalised GD")
@click.option(
    "--normalize",
    type=Choice(["separate", "joint"]),
    cls=LibraryOption,
    library=_TC + "normalize",
    help="KQ: normalise K and Q separately (the authors') or as one pair (a gradient-flow path)",
)
@click.option(
    "--step",
    type=Choice(["fixed", "proportional"]),
    cls=LibraryOption,
    library=_TC + "step",
    help="normalised steps of length lr, or lr x the parameter's norm (constant angular step)",
)
@click.option("--max-norm", type=float, default=None, help="stop once |W|_F reaches this")
@click.option(
    "--head",
    type=Choice(["linear", "relu"]),
    cls=LibraryOption,
    library="particles.svm.train:train_record.head",
)
@click.option("--record-every", type=int, cls=LibraryOption, library=_TC + "record_every")
@click.option("--out", type=PathArg(dir_okay=False), required=True, help="output .npz")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@clean_errors
def train(
    n,
    T,
    d,
    seed,
    self_attention,
    param,
    iters,
    lr,
    loss,
    plain,
    normalize,
    step,
    max_norm,
    head,
    record_every,
    out,
    quiet,
):
    """Train the attention weights by (normalised) gradient descent on random data.

    Writes X (n,T,d), Y (n,), z (n,d), v (d,), the final W (d,d) (logits = X W z), the recorded
    iterates Ws, softmax probs, norms, losses and the selected tokens alpha.

    \b
    Example:
      particles svm train --n 6 --T 8 --d 10 --param W --iters 2000 --seed 0 --out svm.npz
    """
    from particles.storage.npz import save_npz
    from particles.svm import TrainConfig, train_record

    ctx = click.get_current_context()
    if param != "KQ":
        refuse_given(ctx, ["normalize"], "with --param W (it splits the step between K and Q)")
    elif plain:
        refuse_given(ctx, ["normalize"], "with --plain (it is a normalised-GD option)")
    cfg = TrainConfig(
        normalized=not plain,
        **given(
            param=param,
            iters=iters,
            lr=lr,
            normalize=normalize,
            step=step,
            max_norm=max_norm,
            loss=loss,
            record_every=record_every,
        ),
    )
    arrays, meta = train_record(
        n, T, d, seed, cfg, self_attention=self_attention, progress=not quiet, **given(head=head)
    )
    save_npz(out, arrays, meta)
    num = meta["numbers"]
    click.echo(f"{out}: |W|_F = {num['norm']:.4g}, mean max softmax = {num['max_softmax']:.6f}")


@svm.command(context_settings=_CTX)
@_size_options
@click.option(
    "--data",
    "data_file",
    type=PathArg(dir_okay=False),
    help="take X, Y, z, v (and alpha) from a file written by 'svm train' or 'svm solve'",
)
@click.option(
    "--norm",
    type=Choice(["fro", "nuc"]),
    cls=LibraryOption,
    library=_SR + "norm",
)
@click.option(
    "--alpha",
    cls=LibraryOption,
    library=_SR + "alpha",
    help="selected tokens: 'opt', 'selected' (the alpha stored in --data) or a list '0,3,1,...'",
)
@click.option(
    "--solver",
    type=Choice(["auto", "ldp", "bm", "cvxpy"]),
    cls=LibraryOption,
    library=_SR + "solver",
    help="fro: ldp (exact NNLS dual); nuc: bm (Burer-Monteiro) or cvxpy (Clarabel)",
)
@click.option("--out", type=PathArg(dir_okay=False), required=True, help="output .npz")
@clean_errors
def solve(n, T, d, seed, self_attention, data_file, norm, alpha, solver, out):
    """Solve Att-SVM (Frobenius) or Att-SVM* (nuclear) for a token selection alpha.

    Also runs the SVM-neighbour test (is alpha locally optimal?) on the support tokens of the
    solution of the chosen norm. Writes X, Y, z, v, W (d,d) (logits = X W z), alpha, margins,
    dual, neighbours.

    \b
    Examples:
      particles svm solve --n 6 --T 8 --d 10 --seed 0 --norm nuc --out s.npz
      particles svm solve --data svm.npz --alpha selected --out s.npz
    """
    from particles.storage.npz import save_npz
    from particles.svm import solve_record

    if data_file is not None:
        refuse_given(
            click.get_current_context(),
            ["n", "T", "d", "seed", "self_attention"],
            "with --data (the file holds the data)",
        )
    arrays, meta = solve_record(
        n,
        T,
        d,
        seed,
        self_attention=self_attention,
        data_file=data_file,
        **given(norm=norm, alpha=alpha, solver=solver),
    )
    save_npz(out, arrays, meta)
    click.echo(
        f"{out}: |W|_{meta['norm']} = {meta['objective']:.10g}, rank = {meta['rank']}, "
        f"alpha locally optimal: {meta['locally_optimal']}"
    )


@svm.command(context_settings=_CTX)
@click.argument("name", type=LazyChoice(_figure_names))
@figure_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--iters", type=int, default=None, help="E2 only: GD steps (default 100000; summarised at 2000)"
)
@clean_errors
def figure(name, outdir, quick, redraw, quiet, iters):
    """Run experiment E1..E5 or LG through its script figures/svm_*.py (as `particles figure`
    does) and write <stem>.png and <stem>.npz into OUTDIR.

    \b
    E1 2-D trajectories   E2 local convergence (100 seeds)   E3 rank vs d
    E4 nonlinear head     E5 global vs local convergence vs d
    LG 2-D local vs global picture with the separating hyperplanes
    Example:
      particles svm figure E2 --outdir figures
      particles svm figure E2 --iters 2000 --outdir /tmp
      particles svm figure LG --redraw --outdir figures
    """
    from particles.plotting.figures import run_figure
    from particles.svm.experiments import FIGURE_STEMS

    options = {"progress": not quiet} | ({} if iters is None else {"iters": iters})
    echo_run(run_figure(FIGURE_STEMS[name.upper()], outdir, quick=quick, redraw=redraw, **options))
