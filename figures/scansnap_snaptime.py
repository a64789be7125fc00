"""Scan and Snap (arXiv 2305.16380): snap time and final attention against the learning rates.

Setting: the Fig. 4 task family (separate queries, 10 common + 10 distinct tokens per class,
context 127, batch 128, zero init, SGD momentum 0.9, 300 steps) for K ∈ {2, 6, 10},
η_Z ∈ {0.5, 1, 2} and η_Y/η_Z ∈ {1, 2, 5, 10, 20}, seeds 1–5 (mean ± std). The snap time is the
step after which c_n stays within 10% of its total change (``particles.scansnap.snap_time``).
The claim (the paper's snap result, recalled): the snap happens at t₀ = O(K ln M / η_Y), so a larger
η_Y freezes earlier, with less change from the initial attention and higher distinct-token entropy.
Panels: (a) snap time vs η_Y; (b) the common-mass drop 1 − (final/initial) vs η_Y/η_Z;
(c) final distinct-token entropy vs η_Y/η_Z.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from particles.plotting.figures import draw_saved, run_script
from particles.scansnap import (  # noqa: E402
    SweepGrid,
    SyntheticTask,
    TrainConfig,
    figure_sweep,
    sweep_arrays,
)

STEM = "scansnap_snaptime"
#: the sweep's arrays saved with the figure
FIELDS = ("snap_time", "common", "entropy", "max_weight", "tau")


def main(outdir=Path(__file__).parent, quick=False, redraw: bool = False) -> Path:
    """Run the sweep (or, with ``redraw``, load ``<outdir>/<stem>.npz``) and draw the figure."""
    return draw_saved(
        outdir, STEM, redraw=redraw, compute=lambda: compute(outdir, quick), draw=plot
    )


def compute(outdir, quick: bool) -> tuple[dict, dict]:
    """The arrays and metadata of the figure (runs under ``outdir``)."""
    if quick:
        grid = SweepGrid(
            classes=(2,),
            eta_z=(0.5, 2.0),
            ratio=(1.0, 10.0),
            seeds=(1,),
            classes_per_query=1,
            config=TrainConfig(init="zero", iters=40),
        )
    else:
        grid = SweepGrid(
            classes=(2, 6, 10),
            eta_z=(0.5, 1.0, 2.0),
            ratio=(1.0, 2.0, 5.0, 10.0, 20.0),
            seeds=(1, 2, 3, 4, 5),
            classes_per_query=1,
            config=TrainConfig(init="zero", iters=300),
        )
    res = figure_sweep(grid, outdir, STEM, quick)
    drop = 1 - res["common"] / _common0(grid.classes)[:, None, None, None]
    ratio = np.array(grid.ratio)
    snap = res["snap_time"].mean(-1)
    numbers = {}
    for i, k in enumerate(grid.classes):
        for j, ez in enumerate(grid.eta_z):
            key = f"K={k} eta_z={ez:g}"
            numbers[key] = {
                "snap_time_vs_ratio": snap[i, j].round(1).tolist(),
                "common_drop_vs_ratio": drop[i, j].mean(-1).round(3).tolist(),
                "entropy_vs_ratio": res["entropy"][i, j].mean(-1).round(3).tolist(),
            }
            print(
                f"[{STEM}] {key}: ratio {list(grid.ratio)} -> "
                f"snap {numbers[key]['snap_time_vs_ratio']}"
                f", drop {numbers[key]['common_drop_vs_ratio']}"
                f", entropy {numbers[key]['entropy_vs_ratio']}"
            )
    # slope of log snap time against log eta_y, all runs pooled per K
    slopes = {}
    for i, k in enumerate(grid.classes):
        eta_y = (np.array(grid.eta_z)[:, None] * ratio[None, :]).ravel()
        s = snap[i].ravel()
        ok = s > 0
        if ok.sum() >= 2 and np.ptp(np.log(eta_y[ok])) > 0:
            slopes[str(k)] = float(np.polyfit(np.log(eta_y[ok]), np.log(s[ok]), 1)[0])
    numbers["loglog_slope_snap_vs_eta_y"] = slopes
    print(f"[{STEM}] log-log slope of snap time vs eta_Y per K: {slopes}")
    return sweep_arrays(res, FIELDS), {**grid.meta(), "numbers": numbers}


def _common0(classes) -> np.ndarray:
    """Initial (uniform-attention) common-token mass of class 1, per K."""
    return np.array(
        [
            SyntheticTask(num_classes=int(k), classes_per_query=1).probs[0, :10].sum()
            for k in classes
        ]
    )


def plot(a: dict, meta: dict, png: Path) -> Path:
    """Three panels from the saved sweep; colour: eta_Z, marker: K (see the module docstring)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    classes, eta_z, ratio = a["classes"], a["eta_z"], a["ratio"]
    drop = 1 - a["common"] / _common0(classes)[:, None, None, None]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), layout="constrained")
    markers = "osd^v"
    for i, _k in enumerate(classes):
        for j, ez in enumerate(eta_z):
            kw = {"color": f"C{j}", "marker": markers[i % 5], "ms": 4, "capsize": 2}
            st = a["snap_time"][i, j]
            axes[0].errorbar(ratio * ez, st.mean(-1), st.std(-1), **kw)
            axes[1].errorbar(ratio, drop[i, j].mean(-1), drop[i, j].std(-1), **kw)
            ent = a["entropy"][i, j]
            axes[2].errorbar(ratio, ent.mean(-1), ent.std(-1), **kw)
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    axes[0].yaxis.set_major_formatter(plain)
    axes[0].yaxis.set_minor_formatter(plain)
    axes[0].xaxis.set_major_formatter(plain)
    axes[0].set_xlabel(r"$\eta_Y$")
    axes[0].set_ylabel("snap time (SGD steps)")
    axes[0].set_title("(a) snap time", fontsize=10)
    for ax in axes[1:]:
        ax.set_xscale("log")
        ax.set_xticks(ratio, [f"{r:g}" for r in ratio])
        ax.minorticks_off()
        ax.set_xlabel(r"$\eta_Y / \eta_Z$")
    axes[1].set_ylabel("common-mass drop 1 − final/initial")
    axes[1].set_title("(b) how far attention moved", fontsize=10)
    axes[2].set_ylabel("entropy of $c_n$ on distinct tokens (nats)")
    axes[2].axhline(np.log(10), color="k", ls=":", lw=0.8)
    axes[2].annotate(
        "uniform (ln 10)", (ratio[0], np.log(10)), xytext=(0, -11), textcoords="offset points"
    )
    axes[2].set_title("(c) final distinct-token entropy", fontsize=10)
    colour = [
        Line2D([], [], color=f"C{j}", lw=2, label=rf"$\eta_Z$ = {ez:g}")
        for j, ez in enumerate(eta_z)
    ]
    marker = [
        Line2D([], [], color="0.3", marker=markers[i % 5], ls="", label=f"K = {int(k)}")
        for i, k in enumerate(classes)
    ]
    fig.legend(
        handles=colour + marker,
        loc="outside lower center",
        ncol=len(colour) + len(marker),
        frameon=False,
    )
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


if __name__ == "__main__":
    run_script(main, __doc__, Path(__file__).resolve().parent)
