"""Plots for the real-Transformer analysis (matplotlib, Agg; functions take an ``ax``)."""

from __future__ import annotations

import numpy as np

from .depth import DepthStats


def pick_panels(depth: int, trained: int, k: int = 12) -> list[int]:
    """At most ``k`` layers to show, in the spirit of arXiv 2312.10794, Fig. 1: about ``k/2`` spread
    over the trained depth (first and last included) and, when extended, about ``k/2`` spread
    geometrically over the extension (last included)."""
    if depth + 1 <= k:
        return list(range(depth + 1))
    half = k // 2 if depth > trained else k
    first = np.unique(np.linspace(0, min(trained, depth), half).round().astype(int)).tolist()
    ext = []
    if depth > trained:
        ext = np.unique(
            (trained + np.geomspace(2 if depth - trained > 2 else 1, depth - trained, k - half))
            .round()
            .astype(int)
        ).tolist()
    return sorted(set(first) | {v for v in ext if trained < v <= depth})


def plot_histogram(ax, stats: DepthStats, layer: int, *, color="C0", label=None, title=True):
    """Density of pair similarities at ``layer`` as a step histogram on [-1, 1]."""
    e = stats.edges
    ax.stairs(stats.hist[layer], e, fill=True, alpha=0.35, color=color)
    ax.stairs(stats.hist[layer], e, color=color, label=label)
    ax.set_xlim(-0.4, 1.02)
    if title:
        ax.set_title(f"layer {layer}", fontsize=9)
    ax.tick_params(labelsize=7)


def plot_heatmap(ax, stats: DepthStats, *, trained: int | None = None):
    """Histograms of every layer as an image: similarity (x) against layer (y)."""
    h = np.log10(stats.hist + 1e-2)
    ax.imshow(
        h,
        aspect="auto",
        origin="lower",
        cmap="viridis",
        extent=(stats.edges[0], stats.edges[-1], -0.5, h.shape[0] - 0.5),
    )
    if trained is not None and trained < h.shape[0] - 1:
        ax.axhline(trained + 0.5, color="w", lw=0.8, ls="--")
    ax.set_xlabel(r"$\langle x_i, x_j\rangle$")
    ax.set_ylabel("layer")
    ax.set_xlim(-0.4, 1.0)
    ax.set_title("log10 density per layer", fontsize=9)


def plot_curves(ax, stats: DepthStats, *, label="network", color="C0", x=None, trained=None):
    """Mean ± std of the pair similarity per layer."""
    x = np.arange(stats.mean.size) if x is None else x
    ax.plot(x, stats.mean, "-o", ms=2.5, color=color, label=label)
    ax.fill_between(
        x, stats.mean - stats.std, np.minimum(stats.mean + stats.std, 1), color=color, alpha=0.15
    )
    if trained is not None:
        ax.axvline(trained, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("layer")
    ax.set_ylabel(r"mean $\langle x_i,x_j\rangle$ ± std")
    ax.set_ylim(-0.1, 1.05)


def plot_clusters(ax, stats: DepthStats, *, label="network", color="C0", x=None, trained=None):
    """Number of clusters (components of <x_i,x_j> > 1-δ) per layer, log scale."""
    x = np.arange(stats.clusters.size) if x is None else x
    ax.semilogy(x, stats.clusters, "-o", ms=2.5, color=color, label=label)
    lo, hi = ax.get_ylim()
    ax.set_ylim(0.8, max(hi, 1.6 * stats.clusters.max()))
    if trained is not None:
        ax.axvline(trained, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("layer")
    ax.set_ylabel(f"clusters (δ={stats.delta:g})")


def depth_figure(run, panels=None):
    """The Fig. 1 analog for a :class:`.analysis.DepthRun`: histogram panels (``panels``, default:
    a pick over the depth when every layer was saved, else the saved layers), heat map, mean and
    cluster curves. Returns a ``matplotlib.figure.Figure`` (no pyplot)."""
    from matplotlib.figure import Figure

    depth, trained = run.meta["depth"], run.meta["trained_depth"]
    if panels is None:  # every layer saved: a pick over the depth; else the saved layers
        saved = [int(k) for k in run.layers]
        panels = pick_panels(depth, trained) if len(saved) == depth + 1 else saved
    panels = list(panels)
    ncol = 6
    nrow = -(-len(panels) // ncol)
    fig = Figure(figsize=(15, 2.3 * nrow + 3.4), layout="constrained")
    gs = fig.add_gridspec(nrow + 1, ncol, height_ratios=[1] * nrow + [1.5])
    for k, layer in enumerate(panels):
        ax = fig.add_subplot(gs[k // ncol, k % ncol])
        plot_histogram(ax, run.stats, layer, color="C1" if layer > trained else "C0")
    ax = fig.add_subplot(gs[nrow, 0:2])
    plot_heatmap(ax, run.stats, trained=trained)
    ax = fig.add_subplot(gs[nrow, 2:4])
    plot_curves(ax, run.stats, trained=trained)
    ax = fig.add_subplot(gs[nrow, 4:6])
    plot_clusters(ax, run.stats, trained=trained)
    ext = f", layer {run.meta['repeat'] + 1} repeated past {trained}" if depth > trained else ""
    fig.suptitle(
        f"{run.meta['model']}: cosine similarities of {run.meta['n_tokens']} tokens "
        f"through {depth} layers{ext}",
        fontsize=11,
    )
    return fig


def comparison_figure(cmp, panels=None, *, title=""):
    """Network vs ODE: one row of histograms per system at the layers ``panels``, and the mean
    and cluster curves of all of them. Returns a ``Figure``."""
    from matplotlib.figure import Figure

    from .depth import depth_stats

    depth = cmp.hidden.shape[0] - 1
    panels = pick_panels(depth, cmp.fit_depth, k=6) if panels is None else list(panels)
    systems = [("network", cmp.hidden, "C0")] + [
        (f"ODE {v} (Δt={cmp.dt[v]:.3g})", cmp.ode[v], f"C{k + 1}")
        for k, v in enumerate(cmp.variants)
    ]
    stats = [(lab, depth_stats(x, delta=1e-2), c) for lab, x, c in systems]
    ncol = len(panels)
    fig = Figure(figsize=(2.4 * ncol, 2.0 * len(systems) + 3.2), layout="constrained")
    gs = fig.add_gridspec(len(systems) + 1, ncol, height_ratios=[1] * len(systems) + [1.6])
    for r, (lab, st, c) in enumerate(stats):
        for k, layer in enumerate(panels):
            ax = fig.add_subplot(gs[r, k])
            plot_histogram(ax, st, layer, color=c, title=False)
            ax.set_title(f"{'layer' if r == 0 else 't = ℓΔt, ℓ ='} {layer}", fontsize=8)
            if k == 0:
                ax.set_ylabel(lab, fontsize=8)
    half = ncol // 2
    ax1 = fig.add_subplot(gs[-1, :half])
    ax2 = fig.add_subplot(gs[-1, half:])
    for lab, st, c in stats:
        plot_curves(ax1, st, label=lab, color=c, trained=cmp.fit_depth)
        plot_clusters(ax2, st, label=lab, color=c, trained=cmp.fit_depth)
    ax1.legend(fontsize=7)
    ax1.set_xlabel("layer ℓ (ODE: time ℓΔt)")
    ax2.set_xlabel("layer ℓ (ODE: time ℓΔt)")
    fig.suptitle(title or "network layers vs particle dynamics", fontsize=11)
    return fig


def save_figure(fig, path, dpi: int = 130):
    """Save a ``Figure`` to ``path`` (PNG) atomically."""
    import io
    from pathlib import Path

    from ..errors import ParticlesError
    from ..io import atomic_write_bytes

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ParticlesError(f"{path}: plots are written as .png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())
