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


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    from particles.scansnap import SyntheticTask

    K, ez, r = list(a["classes"]), list(a["eta_z"]), list(a["ratio"])
    snap = a["snap_time"].mean(-1)
    c: dict = {}
    c["snap_K2_z0.5"] = [float(v) for v in snap[K.index(2), ez.index(0.5)]]
    c["snap_K10_z1"] = [float(v) for v in snap[K.index(10), ez.index(1)]]
    for k in K:
        c[f"snap_K{k}_z1_r1"] = float(snap[K.index(k), ez.index(1), r.index(1)])
    n_cells = len(ez) * len(r)
    c["cells"] = n_cells
    c["K6_after_K2"] = int(np.sum(snap[K.index(6)] > snap[K.index(2)]))
    c["K10_after_K6"] = int(np.sum(snap[K.index(10)] > snap[K.index(6)]))
    c["K10_after_K2"] = int(np.sum(snap[K.index(10)] > snap[K.index(2)]))
    eta_y = (np.array(ez)[:, None] * np.array(r)[None, :]).ravel()
    for i, k in enumerate(K):
        c[f"slope_K{k}"] = float(np.polyfit(np.log(eta_y), np.log(snap[i].ravel()), 1)[0])
    c["snap_min"] = float(snap.min())
    jm = np.unravel_index(np.argmin(snap), snap.shape)
    c["snap_min_K"], c["snap_min_eta_y"] = int(K[jm[0]]), float(ez[jm[1]] * r[jm[2]])
    common0 = np.array(
        [SyntheticTask(num_classes=int(k), classes_per_query=1).probs[0, :10].sum() for k in K]
    )
    drop_runs = 1 - a["common"] / common0[:, None, None, None]
    drop = drop_runs.mean(-1)
    ent = a["entropy"].mean(-1)
    c["pairs"] = int(np.diff(drop, axis=2).size)
    c["drop_falls"] = int(np.sum(np.diff(drop, axis=2) < 0))
    c["entropy_rises"] = int(np.sum(np.diff(ent, axis=2) > 0))
    c["drop_K2_z1"] = [float(v) for v in drop[K.index(2), ez.index(1)]]
    e = ent[K.index(2), ez.index(1)]
    c["ent_K2_z1_first"], c["ent_K2_z1_last"] = float(e[0]), float(e[-1])
    for z in (1, 2):
        d = drop[K.index(10), ez.index(z)]
        c[f"drop_K10_z{z}_r1"], c[f"drop_K10_z{z}_r2"] = float(d[0]), float(d[1])
    i6, j2, q20 = K.index(6), ez.index(2), r.index(20)
    c["drop_K6_z2_r20"] = float(drop_runs[i6, j2, q20].mean())
    c["drop_K6_z2_r20_std"] = float(drop_runs[i6, j2, q20].std())
    c["maxw_K6_z2_r20"] = float(np.nanmax(a["max_weight"][i6, j2, q20]))
    c["ratio_max"] = float(max(r))
    return c


if __name__ == "__main__":
    run_script(main, __doc__, Path(__file__).resolve().parent)
