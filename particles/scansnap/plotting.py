"""Matplotlib helpers for the Scan-and-Snap figures; each draws on a given ``ax``."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_attention_rows", "plot_band", "plot_class_attention"]


def plot_class_attention(ax, c_rows, row_labels, *, num_common: int, cmap="viridis"):
    """Image of class attentions c_{·|n} (rows: snapshots, columns: the class's tokens).

    ``c_rows`` is ``[R, C + D]``: common tokens first, then distinct tokens by increasing
    P(l|n) (the layout of the authors' Fig. 4). Returns the image (for a colorbar).
    """
    c_rows = np.asarray(c_rows)
    im = ax.imshow(c_rows, aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_yticks(range(len(row_labels)), [str(s) for s in row_labels])
    ax.set_ylabel("iteration")
    n = c_rows.shape[1]
    ax.set_xticks(
        range(n),
        [f"c{i}" for i in range(num_common)] + [f"d{i}" for i in range(n - num_common)],
        fontsize=7.5,
        rotation=90,
    )
    if 0 < num_common < n:
        ax.axvline(num_common - 0.5, color="w", lw=1.0)
    ax.set_xlabel(r"token $l$ (c: common; d: distinct, by increasing $P(l\,|\,n)$)")
    return im


def plot_band(ax, x, samples, *, label=None, color=None, axis=0, **kw):
    """Mean line with a ± std band of ``samples`` over ``axis`` (e.g. seeds)."""
    samples = np.asarray(samples, dtype=np.float64)
    mean = samples.mean(axis=axis)
    std = samples.std(axis=axis)
    (line,) = ax.plot(x, mean, label=label, color=color, **kw)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
    return line


def plot_attention_rows(ax, weights, *, title=None, vmax=None, cmap="magma"):
    """Attention over context positions, one row per probe sample (``[P, T]``)."""
    weights = np.asarray(weights)
    im = ax.imshow(weights, aspect="auto", cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
    ax.set_xlabel("context position (query after the last)", fontsize=8)
    ax.set_ylabel("sample")
    if title:
        ax.set_title(title, fontsize=9)
    return im
