"""Scan and Snap (Tian et al. 2023), Fig. 6: attention entropy against η_Y/η_Z.

Setting (the authors' sweep for Fig. 6): ``num_last`` ∈ {1, 3, 5, 10} query tokens with 2
classes each (K = 2, 6, 10, 20), 10 common + 10 distinct tokens per class, context 127, batch
128, random init (torch Linear default U(±1/√M)), SGD momentum 0.9, 100 steps,
η_Z ∈ {0.5, 1, 2, 3}, η_Y/η_Z ∈ {1, 2, 5, 10}, seeds 1–10 (mean ± std).
y-axis: the entropy (nats) of c_n restricted to the class's 10 distinct tokens and renormalised,
averaged over classes, at the end of training (the quantity the authors' stored numbers hold).
Expected (the paper's Fig. 6): entropy falls with η_Z and mostly rises with η_Y/η_Z.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from particles.plotting.figures import draw_saved, run_script
from particles.scansnap import fig6_grid, figure_sweep, sweep_arrays  # noqa: E402

STEM = "scansnap_fig6"
#: the sweep's arrays saved with the figure
FIELDS = ("entropy", "common", "max_weight", "tau", "snap_time")


def main(outdir=Path(__file__).parent, quick=False, redraw: bool = False) -> Path:
    """Run the sweep (or, with ``redraw``, load ``<outdir>/<stem>.npz``) and draw the figure."""
    return draw_saved(
        outdir, STEM, redraw=redraw, compute=lambda: compute(outdir, quick), draw=plot
    )


def compute(outdir, quick: bool) -> tuple[dict, dict]:
    """The arrays and metadata of the figure (runs under ``outdir``)."""
    grid = fig6_grid(quick)
    res = figure_sweep(grid, outdir, STEM, quick)
    ent = res["entropy"]  # [K, eta_z, ratio, seed]
    mean = ent.mean(-1)
    # how often entropy falls when eta_z grows / rises when the ratio grows (pairs of grid cells)
    falls_eta_z = float(np.mean(np.diff(mean, axis=1) < 0))
    rises_ratio = float(np.mean(np.diff(mean, axis=2) > 0))
    rises_ratio_k0 = float(np.mean(np.diff(mean[0], axis=1) > 0))
    numbers = {
        "entropy_mean": mean.round(4).tolist(),
        "frac_falls_with_eta_z": falls_eta_z,
        "frac_rises_with_ratio": rises_ratio,
        "frac_rises_with_ratio_first_K": rises_ratio_k0,
        "max_weight_max": float(np.nanmax(res["max_weight"])),
        "tau_mean": float(np.nanmean(res["tau"])),
    }
    for i, k in enumerate(grid.classes):
        for j, ez in enumerate(grid.eta_z):
            print(
                f"[{STEM}] K={k} eta_z={ez:g}: entropy vs ratio {list(grid.ratio)}: "
                + " ".join(
                    f"{m:.3f}±{s:.3f}" for m, s in zip(mean[i, j], ent[i, j].std(-1), strict=True)
                )
            )
    print(
        f"[{STEM}] entropy falls with eta_z in {falls_eta_z:.0%} of neighbouring cells; rises "
        f"with eta_y/eta_z in {rises_ratio:.0%} (first K: {rises_ratio_k0:.0%}); largest single "
        f"weight {numbers['max_weight_max']:.3f}; mean tau {numbers['tau_mean']:.2f}"
    )
    return sweep_arrays(res, FIELDS), {**grid.meta(), "numbers": numbers}


def plot(a: dict, meta: dict, png: Path) -> Path:
    """Entropy against eta_Y/eta_Z, one panel per number of query tokens (from the npz)."""
    from particles.plotting import plural

    ent = a["entropy"]  # [K, eta_z, ratio, seed]
    ratio = a["ratio"]
    cpq = meta["classes_per_query"]
    nk = len(a["classes"])
    fig, axes = plt.subplots(
        1, nk, figsize=(3.6 * nk, 3.6), squeeze=False, sharey=True, layout="constrained"
    )
    for i, k in enumerate(a["classes"]):
        ax = axes[0, i]
        for j, ez in enumerate(a["eta_z"]):
            ax.errorbar(
                ratio,
                ent[i, j].mean(-1),
                ent[i, j].std(-1),
                marker="o",
                ms=3,
                capsize=2,
                label=rf"$\eta_Z$ = {ez:g}",
            )
        ax.set_xscale("log")
        ax.set_xticks(ratio, [f"{r:g}" for r in ratio])
        ax.minorticks_off()
        ax.set_xlabel(r"$\eta_Y / \eta_Z$")
        ax.set_title(f"{plural(int(k) // cpq, 'query token')}, K = {int(k)}", fontsize=10)
    axes[0, 0].set_ylabel("average entropy of $c_n$ (distinct tokens, nats)")
    axes[0, -1].legend(fontsize=9, loc="lower right", frameon=False)
    fig.suptitle(
        f"Scan and Snap Fig. 6, our runs: mean ± std over {a['seeds'].size} seeds, "
        f"{meta['train_iters']} SGD steps",
        fontsize=11,
    )
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    K, ez, r = list(a["classes"]), list(a["eta_z"]), list(a["ratio"])
    ent = a["entropy"]
    mean, std = ent.mean(-1), ent.std(-1)
    c: dict = {}
    c["seeds"] = int(a["seeds"].size)
    c["falls_with_eta_z_pct"] = 100 * float(np.mean(np.diff(mean, axis=1) < 0))
    c["rises_with_ratio_pct"] = 100 * float(np.mean(np.diff(mean, axis=2) > 0))
    c["rises_with_ratio_K2_pct"] = 100 * float(np.mean(np.diff(mean[0], axis=1) > 0))
    k2 = K.index(2)
    c["ent_K2_r1_vs_eta_z"] = [float(v) for v in mean[k2, :, r.index(1)]]
    c["ent_K2_z1_vs_ratio"] = [float(v) for v in mean[k2, ez.index(1), :]]
    c["ent_K20_z3_vs_ratio"] = [float(v) for v in mean[K.index(20), ez.index(3), :]]
    # the large-step cells: K = 2, eta_z >= 2, ratio >= 5
    big = np.zeros(mean.shape, bool)
    for j, e in enumerate(ez):
        for q, x in enumerate(r):
            big[k2, j, q] = e >= 2 and x >= 5
    c["std_K2_z2_r10"] = float(std[k2, ez.index(2), r.index(10)])
    c["std_K2_z3_r10"] = float(std[k2, ez.index(3), r.index(10)])
    c["std_K2_z2_r5"] = float(std[k2, ez.index(2), r.index(5)])
    c["std_K2_z3_r5"] = float(std[k2, ez.index(3), r.index(5)])
    c["std_max_elsewhere"] = float(std[~big].max())
    mw = np.nanmax(a["max_weight"], axis=-1)
    c["max_weight_max"] = float(mw.max())
    c["max_weight_max_in_big"] = bool(mw[big].max() == mw.max())
    c["max_weight_elsewhere"] = float(mw[~big].max())
    return c


if __name__ == "__main__":
    run_script(main, __doc__, Path(__file__).resolve().parent)
