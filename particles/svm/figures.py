"""Run an Att-SVM experiment and write its figure (PNG) and data (npz) side by side.

Used by the scripts ``figures/svm_*.py`` and by ``particles svm figure``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ParticlesError
from ..io import save_npz
from . import experiments as ex
from . import plotting as pl

__all__ = ["FIGURES", "make_figure", "draw_figure", "figure_report", "redraw_figure"]

# name -> (default file stem, experiment function)
FIGURES = {
    "E1": ("svm_e1_trajectories", ex.experiment_e1),
    "E2": ("svm_e2_local_convergence", ex.experiment_e2),
    "E3": ("svm_e3_rank", ex.experiment_e3),
    "E4": ("svm_e4_multitoken", ex.experiment_e4),
    "E5": ("svm_e5_global_vs_local", ex.experiment_e5),
    "LG": ("svm_local_global_2d", ex.experiment_local_global),
}


def draw_figure(name: str, arrays: dict, meta: dict):
    """Draw experiment ``name`` from its arrays; returns the matplotlib Figure (Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if name == "E1":
        fig, axes = plt.subplots(1, 2, figsize=(11, 5.8), layout="constrained")
        pl.plot_e1(axes, arrays)
        fig.suptitle(
            "arXiv 2308.16898, Fig. 1: the GD path of the attention weights turns onto the "
            "Att-SVM directions (n = 2, T = 3, d = 2)"
        )
    elif name == "E2":
        if "corr_nuc_KQj" in arrays:  # four panels and the summary table below
            fig, axes = plt.subplots(
                3,
                2,
                figsize=(12, 10.8),
                gridspec_kw={"height_ratios": [1, 1, 0.2]},
                layout="constrained",
            )
            for ax in axes[2, 1:]:
                ax.remove()
            table = fig.add_subplot(axes[2, 0].get_gridspec()[2, :])
            axes[2, 0].remove()
            pl.plot_e2(axes[:2].ravel(), arrays, meta, table_ax=table)
        else:  # older files: three panels
            fig, axes = plt.subplots(1, 3, figsize=(15, 4.9), layout="constrained")
            pl.plot_e2(axes, arrays, meta)
        S = arrays["maxprob_W"].shape[1]
        fig.suptitle(
            f"Local convergence of normalised GD (lr {meta.get('lr', 0.1):g}), n = {meta['n']}, "
            f"T = {meta['T']}, d = {meta['d']}, {S} seeds, {meta['iters']} steps "
            f"(dashed: step {meta['checkpoint']}, the paper's length)"
        )
    elif name == "E3":
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.9), layout="constrained")
        pl.plot_e3(axes, arrays)
        fig.suptitle(
            r"Rank of the Att-SVM solutions $W^{mm}$ (Frobenius, solid) and $W^{mm}_\star$"
            rf" (nuclear, dashed); rank = #{{$\sigma_i > 10^{{{int(np.log10(meta['rtol']))}}}"
            r"\,\sigma_1$}"
        )
    elif name == "E4":
        nd = len(arrays["dims"])
        fig, axes = plt.subplots(
            2, nd, figsize=(3.3 * nd + 1, 6.5), squeeze=False, layout="constrained"
        )
        pl.plot_e4(axes[0], axes[1], arrays)
        fig.suptitle("Nonlinear head, n = 3, T = 4: GD against the generalised SVM equivalence")
    elif name == "LG":
        fig, axes = plt.subplots(
            1, 3, figsize=(16, 5.6), layout="constrained", gridspec_kw={"width_ratios": [1, 1, 0.9]}
        )
        pl.plot_local_global(axes, arrays, meta)
        fig.suptitle(
            "arXiv 2308.16898: normalised GD on W converges in direction to a max-margin token "
            "selection, global or only locally optimal (n = 2, T = 5, d = 2; "
            "numbers: token scores $\\gamma_{it} = Y_i v^T x_{it}$)"
        )
    elif name == "E5":
        fig, ax = plt.subplots(figsize=(6.5, 4.4), layout="constrained")
        pl.plot_e5(ax, arrays)
        ax.set_title(
            f"Where GD converges (n = {meta['n']}, T = {meta['T']}, {meta['runs_per_d']} runs"
            f" per d,\nconverged: correlation > {meta['threshold']})"
        )
    else:
        raise ParticlesError(f"unknown figure {name!r}; choose from {sorted(FIGURES)}")
    return fig


def make_figure(
    name: str,
    outdir: str | Path = ".",
    *,
    quick: bool = False,
    stem: str | None = None,
    progress: bool = False,
    iters: int | None = None,
) -> Path:
    """Run experiment ``name`` ("E1".."E5"), write ``<outdir>/<stem>.npz`` and ``.png``; return
    the PNG path. ``iters`` (E2 only): GD steps (default 100 000, quick 300)."""
    key = str(name).upper()
    if key not in FIGURES:
        raise ParticlesError(f"unknown figure {name!r}; choose from {sorted(FIGURES)}")
    default_stem, fn = FIGURES[key]
    stem = stem or default_stem
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise ParticlesError(f"output directory {outdir} does not exist")
    kw = {} if key == "E1" else {"progress": progress}
    if iters is not None:
        if key != "E2":
            raise ParticlesError(f"iters can only be set for E2, not {key}")
        kw["iters"] = int(iters)
    arrays, meta = fn(quick=quick, **kw)
    meta = {"format": "svm_figure", "figure": key, **meta}
    save_npz(outdir / f"{stem}.npz", {k: np.asarray(v) for k, v in arrays.items()}, meta)
    return _save(draw_figure(key, arrays, meta), outdir / f"{stem}.png")


def redraw_figure(name: str, outdir: str | Path = ".", *, stem: str | None = None) -> Path:
    """Draw figure ``name`` again from its saved ``<outdir>/<stem>.npz`` (no computation);
    returns the PNG path."""
    from ..io import load_npz

    key = str(name).upper()
    if key not in FIGURES:
        raise ParticlesError(f"unknown figure {name!r}; choose from {sorted(FIGURES)}")
    stem = stem or FIGURES[key][0]
    arrays, meta = load_npz(Path(outdir) / f"{stem}.npz", "svm_figure")
    return _save(draw_figure(key, arrays, meta), Path(outdir) / f"{stem}.png")


def _save(fig, png: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def figure_report(name: str, meta: dict) -> str:
    """Text summary of a figure's result (E2: its statistics table; others: empty)."""
    if str(name).upper() == "E2" and "summary" in meta:
        return ex.e2_report(meta)
    return ""
