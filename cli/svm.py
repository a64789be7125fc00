"""``particles svm``: attention as a max-margin token selector (Transformers as SVMs)."""

from __future__ import annotations

import click

from ._common import clean_errors

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


def _size_options(fn):
    for opt in reversed(
        [
            click.option("--n", "n", type=int, default=6, show_default=True, help="sequences"),
            click.option("--T", "T", type=int, default=8, show_default=True, help="tokens each"),
            click.option("--d", "d", type=int, default=10, show_default=True, help="dimension"),
            click.option("--seed", type=int, default=0, show_default=True, help="data seed"),
            click.option(
                "--self-attention",
                is_flag=True,
                help="query z_i = first token of sequence i (default: cross-attention)",
            ),
        ]
    ):
        fn = opt(fn)
    return fn


@svm.command(context_settings=_CTX)
@_size_options
@click.option("--param", type=click.Choice(["W", "KQ"]), default="W", show_default=True)
@click.option("--iters", type=int, default=2000, show_default=True, help="GD steps")
@click.option("--lr", type=float, default=0.1, show_default=True, help="step size")
@click.option(
    "--loss",
    type=click.Choice(["logistic", "exp", "linear"]),
    default="logistic",
    show_default=True,
)
@click.option("--plain", is_flag=True, help="plain GD instead of normalised GD")
@click.option(
    "--normalize",
    type=click.Choice(["separate", "joint"]),
    default="separate",
    show_default=True,
    help="KQ: normalise K and Q separately (the authors') or as one pair (a gradient-flow path)",
)
@click.option(
    "--step",
    type=click.Choice(["fixed", "proportional"]),
    default="fixed",
    show_default=True,
    help="normalised steps of length lr, or lr x the parameter's norm (constant angular step)",
)
@click.option("--max-norm", type=float, default=None, help="stop once |W|_F reaches this")
@click.option("--head", type=click.Choice(["linear", "relu"]), default="linear", show_default=True)
@click.option("--record-every", type=int, default=10, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="output .npz")
@click.option("--quiet", is_flag=True, help="no progress bar")
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
    from particles.io import save_npz
    from particles.svm import TrainConfig, train_random

    cfg = TrainConfig(
        param=param,
        iters=iters,
        lr=lr,
        normalized=not plain,
        normalize=normalize,
        step=step,
        max_norm=max_norm,
        loss=loss,
        record_every=record_every,
    )
    data, res = train_random(
        n, T, d, seed, cfg, self_attention=self_attention, head=head, progress=not quiet
    )
    meta = {
        "format": "svm_train",
        "n": n,
        "T": T,
        "d": d,
        "seed": seed,
        "self_attention": self_attention,
        "head": head,
        "param": param,
        "iters": iters,
        "lr": lr,
        "loss": loss,
        "normalized": not plain,
        "normalize": normalize,
        "step": step,
        "max_norm": max_norm,
        "init_rng": f"default_rng([{seed}, 2])",
    }
    save_npz(out, {**data.arrays(), **res.arrays()}, meta)
    click.echo(
        f"{out}: |W|_F = {res.norms[-1]:.4g}, mean max softmax = {res.probs[-1].max(-1).mean():.6f}"
    )


@svm.command(context_settings=_CTX)
@_size_options
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False),
    help="take X, Y, z, v (and alpha) from a file written by 'svm train' or 'svm solve'",
)
@click.option("--norm", type=click.Choice(["fro", "nuc"]), default="fro", show_default=True)
@click.option(
    "--alpha",
    default="opt",
    show_default=True,
    help="selected tokens: 'opt', 'selected' (the alpha stored in --data) or a list '0,3,1,...'",
)
@click.option(
    "--solver",
    type=click.Choice(["auto", "ldp", "bm", "cvxpy"]),
    default="auto",
    show_default=True,
    help="fro: ldp (exact NNLS dual); nuc: bm (Burer-Monteiro) or cvxpy (Clarabel)",
)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="output .npz")
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
    from particles.io import save_npz
    from particles.svm import solve_random

    data, sol, loc, meta = solve_random(
        n,
        T,
        d,
        seed,
        norm=norm,
        alpha=alpha,
        solver=solver,
        self_attention=self_attention,
        data_file=data_file,
    )
    arrays = {
        **data.arrays(),
        **sol.arrays(),
        "neighbours": loc.neighbours,
        "locally_optimal": loc.locally_optimal,
    }
    save_npz(out, arrays, {"format": "svm_solve", **meta})
    click.echo(
        f"{out}: |W|_{norm} = {sol.objective:.10g}, rank = {meta['rank']}, "
        f"alpha locally optimal: {loc.locally_optimal}"
    )


@svm.command(context_settings=_CTX)
@click.argument(
    "name", type=click.Choice(["E1", "E2", "E3", "E4", "E5", "LG"], case_sensitive=False)
)
@click.option("--outdir", type=click.Path(file_okay=False), default=".", show_default=True)
@click.option("--quick", is_flag=True, help="small sizes (seconds)")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option(
    "--iters", type=int, default=None, help="E2 only: GD steps (default 100000; summarised at 2000)"
)
@clean_errors
def figure(name, outdir, quick, quiet, iters):
    """Run experiment E1..E5 or LG and write <stem>.png and <stem>.npz into OUTDIR.

    \b
    E1 2-D trajectories   E2 local convergence (100 seeds)   E3 rank vs d
    E4 nonlinear head     E5 global vs local convergence vs d
    LG 2-D local vs global picture with the separating hyperplanes
    Example:
      particles svm figure E2 --outdir figures
      particles svm figure E2 --iters 2000 --outdir /tmp
    """
    from particles.io import load_npz
    from particles.svm.figures import figure_report, make_figure

    png = make_figure(name, outdir, quick=quick, progress=not quiet, iters=iters)
    click.echo(png)
    report = figure_report(name, load_npz(png.with_suffix(".npz"), "svm_figure")[1])
    if report:
        click.echo(report)
