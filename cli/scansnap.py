"""``particles scansnap``: SGD dynamics of a 1-layer Transformer (Scan and Snap,
arXiv 2305.16380)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from ._common import clean_errors, parse_floats

FIGURES = {
    "fig4": "scansnap_fig4",
    "fig6": "scansnap_fig6",
    "fig6-authors": "scansnap_fig6_authors",
    "snaptime": "scansnap_snaptime",
    "ode": "scansnap_ode",
    "text": "scansnap_text",
}


def _ints(text: str, name: str) -> list[int]:
    vals = parse_floats(text)
    if any(v != int(v) for v in vals):
        raise click.BadParameter(f"{text!r}: {name} must be integers")
    return [int(v) for v in vals]


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


@scansnap.command("train")
@click.option("--classes", type=int, default=2, show_default=True, help="number of classes K")
@click.option("--classes-per-query", type=int, default=1, show_default=True)
@click.option("--common", type=int, default=10, show_default=True, help="common tokens")
@click.option("--distinct", type=int, default=10, show_default=True, help="distinct per class")
@click.option(
    "--context", type=int, default=None, help="context tokens before the query [127; text: 32]"
)
@click.option(
    "--text",
    "text",
    default=None,
    help="train on a real text instead: a built-in passage name (austen, melville) or a file",
)
@click.option("--vocab", type=int, default=200, show_default=True, help="text mode vocabulary")
@click.option("--eta-z", type=float, default=1.0, show_default=True, help="attention rate η_Z")
@click.option("--ratio", type=float, default=1.0, show_default=True, help="η_Y / η_Z")
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option("--batch", type=int, default=128, show_default=True)
@click.option("--iters", type=int, default=100, show_default=True)
@click.option("--init", type=click.Choice(["zero", "random"]), default="zero", show_default=True)
@click.option("--record-every", type=int, default=None, help="snapshot period [1; text: iters/10]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="result .npz")
@click.option("--quiet", is_flag=True, help="no progress bar")
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
    from particles.io import save_npz
    from particles.scansnap import SyntheticTask, TextTask, TrainConfig, load_text, train_record

    if text is not None:
        task = TextTask(
            text=load_text(text), vocab_size=vocab, context_len=32 if context is None else context
        )
        rec = max(1, iters // 10) if record_every is None else record_every
    else:
        task = SyntheticTask(
            num_classes=classes,
            classes_per_query=classes_per_query,
            num_common=common,
            num_distinct=distinct,
            context_len=127 if context is None else context,
        )
        rec = 1 if record_every is None else record_every
    config = TrainConfig(
        eta_z=eta_z,
        ratio=ratio,
        momentum=momentum,
        batch=batch,
        iters=iters,
        init=init,
        record_every=rec,
    )
    arrays, meta = train_record(task, config, seed, progress=not quiet)
    if text is not None:
        meta["text"] = str(text)
    save_npz(out, arrays, meta)
    nums = ", ".join(f"{k}={v:.4g}" for k, v in meta["numbers"].items())
    click.echo(f"wrote {out}: {nums}")


@scansnap.command("sweep")
@click.option("--classes", default="2,6,10,20", show_default=True, help="values of K")
@click.option("--classes-per-query", type=int, default=2, show_default=True)
@click.option("--eta-z", default="0.5,1,2,3", show_default=True, help="values of η_Z")
@click.option("--ratio", default="1,2,5,10", show_default=True, help="values of η_Y/η_Z")
@click.option("--seeds", default="1:10:1", show_default=True, help="seeds (list or a:b:step)")
@click.option("--iters", type=int, default=100, show_default=True)
@click.option("--init", type=click.Choice(["zero", "random"]), default="random", show_default=True)
@click.option("--batch", type=int, default=128, show_default=True)
@click.option("--context", type=int, default=127, show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option(
    "--outdir", type=click.Path(file_okay=False), required=True, help="one .npz per run here"
)
@click.option(
    "--summary", type=click.Path(dir_okay=False), default=None, help="[OUTDIR/summary.npz]"
)
@click.option("--quiet", is_flag=True, help="no progress bar")
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
    from particles.io import save_npz
    from particles.scansnap import SweepGrid, TrainConfig, run_sweep

    grid = SweepGrid(
        classes=_ints(classes, "--classes"),
        eta_z=parse_floats(eta_z),
        ratio=parse_floats(ratio),
        seeds=_ints(seeds, "--seeds"),
        classes_per_query=classes_per_query,
        context_len=context,
        config=TrainConfig(iters=iters, init=init, batch=batch, momentum=momentum),
    )
    res = run_sweep(grid, outdir, progress=not quiet)
    summary = Path(outdir) / "summary.npz" if summary is None else summary
    n_run, n_skip = res.pop("n_run"), res.pop("n_skipped")
    save_npz(summary, res, {"format": "scansnap_sweep", **grid.meta()})
    click.echo(f"{n_run} runs trained, {n_skip} already done; summary in {summary}")
    ent = res["entropy"].mean(axis=-1)
    for i, k in enumerate(grid.classes):
        for j, ez in enumerate(grid.eta_z):
            vals = " ".join(f"{v:.3f}" for v in ent[i, j])
            click.echo(f"K={k} eta_z={ez:g}: entropy vs ratio {list(grid.ratio)}: {vals}")


@scansnap.command("figure")
@click.argument("name", type=click.Choice(sorted(FIGURES)))
@click.option("--outdir", type=click.Path(file_okay=False), default=".", show_default=True)
@click.option("--quick", is_flag=True, help="tiny sizes (seconds)")
@clean_errors
def figure(name, outdir, quick):
    """Make one figure (runs figures/scansnap_<NAME>.py of the source tree).

    \b
    Example:
      particles scansnap figure fig4 --outdir figures
    """
    script = Path(__file__).resolve().parents[1] / "figures" / f"{FIGURES[name]}.py"
    if not script.is_file():
        raise click.ClickException(f"{script}: figure script not found (needs the source tree)")
    spec = importlib.util.spec_from_file_location(FIGURES[name], script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    Path(outdir).mkdir(parents=True, exist_ok=True)
    path = mod.main(outdir=Path(outdir), quick=quick)
    click.echo(f"wrote {path}")
