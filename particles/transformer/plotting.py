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


#: y range of the shared log-scale histogram axes (densities on [-1, 1]; a one-bin spike of the
#: default 70 bins has density 35)
HIST_YLIM = (1e-2, 60.0)


def spike_layer(stats: DepthStats, mass: float = 0.95) -> int | None:
    """First layer from which every histogram has at least ``mass`` of its pairs in one bin (the
    picture no longer changes at the histogram's resolution), or None."""
    width = np.diff(stats.edges)
    top = (stats.hist * width).max(axis=1) >= mass
    if not top[-1]:
        return None
    k = len(top) - 1
    while k > 0 and top[k - 1]:
        k -= 1
    return k


def depth_panels(stats: DepthStats, trained: int, k: int = 12) -> list[tuple[int, int]]:
    """Histogram panels for :func:`depth_figure` as ``(first, last)`` layer ranges: about half
    spread over the trained depth, the rest over the extension up to the layer from which the
    histogram is a one-bin spike (:func:`spike_layer`); that spike and every later layer share
    one panel, ``(spike, depth)``, instead of repeating the same picture."""
    depth = stats.hist.shape[0] - 1
    spike = spike_layer(stats)
    end = depth if spike is None else spike - 1
    if end < trained or depth + 1 <= k:
        last = [] if spike is None or spike > depth else [(spike, depth)]
        n = k - len(last)
        layers = np.unique(np.linspace(0, end, min(n, end + 1)).round().astype(int))
        return [(int(v), int(v)) for v in layers] + last
    tail = [(spike, depth)] if spike is not None else []
    n_ext = (k - len(tail)) // 2 if end > trained else 0
    first = np.unique(np.linspace(0, trained, k - len(tail) - n_ext).round().astype(int))
    ext = np.unique(np.linspace(trained + 1, end, n_ext).round().astype(int)) if n_ext else []
    return [(int(v), int(v)) for v in (*first, *ext)] + tail


def plot_histogram(
    ax, stats: DepthStats, layer: int, *, color="C0", label=None, title=True, log=False
):
    """Density of pair similarities at ``layer`` as a step histogram on [-1, 1] (``log``: on a log
    y axis with the shared range :data:`HIST_YLIM`)."""
    e = stats.edges
    base = HIST_YLIM[0] if log else 0.0
    h = np.maximum(stats.hist[layer], base)
    ax.stairs(h, e, fill=True, alpha=0.35, color=color, baseline=base)
    ax.stairs(h, e, color=color, label=label, baseline=base)
    ax.set_xlim(-0.4, 1.02)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(*HIST_YLIM)
    if title:
        ax.set_title(f"layer {layer}", fontsize=9)
    ax.tick_params(labelsize=8)


def plot_heatmap(ax, stats: DepthStats, *, trained: int | None = None):
    """Histograms of every layer as an image: similarity (x) against layer (y). Returns the
    image (for a colour bar of log10 density)."""
    h = np.log10(stats.hist + 1e-2)
    im = ax.imshow(
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
    ax.set_title("density of the pair similarities, every layer", fontsize=9)
    return im


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
    # down to the lowest band drawn on ax so far (dataLim holds every earlier curve too)
    ax.set_ylim(min(-0.1, float(ax.dataLim.y0) - 0.03), 1.05)


def plot_clusters(ax, stats: DepthStats, *, label="network", color="C0", x=None, trained=None):
    """Number of clusters (components of <x_i,x_j> > 1-δ) per layer, log scale."""
    x = np.arange(stats.clusters.size) if x is None else x
    ax.semilogy(x, stats.clusters, "-o", ms=2.5, color=color, label=label)
    lo, hi = ax.get_ylim()
    ax.set_ylim(0.8, max(hi, 1.6 * stats.clusters.max()))
    if trained is not None:
        ax.axvline(trained, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("layer")
    ax.set_ylabel(rf"clusters ($\langle x_i,x_j\rangle > 1-\delta$, $\delta$ = {stats.delta:g})")


def model_title(name: str) -> str:
    """The display name of a model (``"minilm"`` -> ``"all-MiniLM-L6-v2"``)."""
    from .hub import MODELS

    src = MODELS.get(str(name))
    return src.description.split(":")[0] if src is not None and src.description else str(name)


def _label_hist_grid(axes) -> None:
    """x labels on the bottom row and y labels on the first column of a histogram grid."""
    nrow, ncol = axes.shape
    for r in range(nrow):
        for c in range(ncol):
            ax = axes[r, c]
            if not ax.get_visible():
                continue
            if r == nrow - 1 or not axes[r + 1, c].get_visible():
                ax.set_xlabel(r"$\langle x_i, x_j\rangle$", fontsize=9)
            else:
                ax.tick_params(labelbottom=False)
            if c > 0:
                ax.tick_params(labelleft=False)


def depth_figure(run, panels=None, *, others=None):
    """The Fig. 1 analog for a :class:`.analysis.DepthRun`: histogram panels (shared axes, log
    density), heat map with colour bar, mean and cluster curves. ``panels``: the layers to show,
    each a layer or a ``(first, last)`` range drawn once (as :func:`depth_panels` gives them);
    default: :func:`depth_panels` when every layer was saved, else the saved layers. ``others``:
    more texts' curves on the last two panels, a dict ``label -> {"mean": [...],
    "clusters": [...]}``. Returns a ``matplotlib.figure.Figure`` (no pyplot)."""
    from matplotlib.figure import Figure

    depth, trained = run.meta["depth"], run.meta["trained_depth"]
    if panels is None:  # every layer saved: a pick over the depth; else the saved layers
        saved = [int(k) for k in run.layers]
        panels = depth_panels(run.stats, trained) if len(saved) == depth + 1 else saved
    ranges = [(int(v[0]), int(v[1])) if np.ndim(v) else (int(v), int(v)) for v in panels]
    ncol = 6
    nrow = -(-len(ranges) // ncol)
    fig = Figure(figsize=(15, 2.4 * nrow + 4.0), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.4 * nrow, 3.6])
    axes = top.subplots(nrow, ncol, sharex=True, sharey=True, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(ranges):
            ax.set_visible(False)
            continue
        lo, hi = ranges[k]
        plot_histogram(ax, run.stats, hi, color="C1" if hi > trained else "C0", log=True)
        if hi > lo:
            ax.set_title(f"layers {lo}–{hi} (same spike)", fontsize=9)
    _label_hist_grid(axes)
    for r in range(nrow):
        axes[r, 0].set_ylabel("density (log)", fontsize=9)
    ax_h, ax_m, ax_c = bottom.subplots(1, 3, gridspec_kw={"wspace": 0.12})
    im = plot_heatmap(ax_h, run.stats, trained=trained)
    bottom.colorbar(im, ax=ax_h, label=r"$\log_{10}$ density")
    label = f"{run.meta.get('source', '').split('_')[0] or 'text'} ({run.meta['n_tokens']} tokens)"
    plot_curves(ax_m, run.stats, trained=trained, label=label)
    plot_clusters(ax_c, run.stats, trained=trained, label=label)
    for k, (lab, r) in enumerate((others or {}).items()):
        for ax, y in ((ax_m, r["mean"]), (ax_c, r["clusters"])):
            ax.plot(np.arange(len(y)), y, "--", color=f"C{k + 2}", lw=1, label=lab)
    ax_m.plot([], [], color="0.5", lw=0.8, ls="--", label=f"last trained layer ({trained})")
    ax_m.legend(fontsize=8, loc="lower right")
    ext = (
        f"; layers {trained + 1}–{depth} repeat layer {run.meta['repeat'] + 1}"
        if depth > trained
        else ""
    )
    fig.suptitle(
        f"{model_title(run.meta['model'])}: pair similarities of {run.meta['n_tokens']} tokens "
        f"through {depth} layers{ext} (blue: trained layers, orange: repeated)",
        fontsize=11,
    )
    return fig


def comparison_stats(cmp) -> list[tuple[str, DepthStats, str]]:
    """``(label, statistics, colour)`` of the network and each ODE variant of a comparison."""
    from .depth import depth_stats

    systems = [("network", cmp.hidden, "C0")] + [
        (f"ODE {v} (Δt = {cmp.dt[v]:.3g})", cmp.ode[v], f"C{k + 1}")
        for k, v in enumerate(cmp.variants)
    ]
    return [(lab, depth_stats(x, delta=1e-2), c) for lab, x, c in systems]


def comparison_figure(cmp, panels=None, *, title="", stats=None, fit_depth=None):
    """Network vs ODE: one row of histograms per system at the layers ``panels`` (shared axes, log
    density), and the mean and cluster curves of all of them. ``stats``: the systems'
    ``(label, DepthStats, colour)`` (default: computed from ``cmp``, which may then be None, with
    ``fit_depth`` given). Returns a ``Figure``."""
    from matplotlib.figure import Figure

    stats = comparison_stats(cmp) if stats is None else stats
    fit_depth = cmp.fit_depth if fit_depth is None else fit_depth
    depth = stats[0][1].hist.shape[0] - 1
    panels = pick_panels(depth, fit_depth, k=6) if panels is None else list(panels)
    ncol = len(panels)
    fig = Figure(figsize=(2.4 * ncol, 2.1 * len(stats) + 3.8), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.1 * len(stats), 3.6])
    axes = top.subplots(len(stats), ncol, sharex=True, sharey=True, squeeze=False)
    for r, (lab, st, c) in enumerate(stats):
        for k, layer in enumerate(panels):
            ax = axes[r, k]
            plot_histogram(ax, st, layer, color=c, title=False, log=True)
            if r == 0:
                ax.set_title(f"layer ℓ = {layer}", fontsize=9)
        axes[r, 0].set_ylabel(f"{lab}\ndensity (log)", fontsize=8)
    _label_hist_grid(axes)
    ax1, ax2 = bottom.subplots(1, 2)
    for lab, st, c in stats:
        plot_curves(ax1, st, label=lab, color=c, trained=fit_depth)
        plot_clusters(ax2, st, label=lab, color=c, trained=fit_depth)
    ax1.plot([], [], color="0.5", lw=0.8, ls="--", label=f"Δt fitted on layers 1–{fit_depth}")
    ax1.legend(fontsize=8, loc="upper left")
    ax1.set_xlabel("layer ℓ (ODE: time ℓΔt)")
    ax2.set_xlabel("layer ℓ (ODE: time ℓΔt)")
    fig.suptitle(title or "network layers vs particle dynamics", fontsize=11)
    return fig


def save_figure(fig, path, dpi: int = 130):
    """Save a ``Figure`` to ``path`` (PNG) atomically."""
    import io
    from pathlib import Path

    from ..errors import ParticlesError
    from ..storage.npz import atomic_write_bytes

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ParticlesError(f"{path}: plots are written as .png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())
