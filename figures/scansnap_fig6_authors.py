"""Scan and Snap (arXiv 2305.16380), Fig. 6 compared numerically with the authors' own numbers.

The authors' table (facebookresearch/luckmatters, ``ssl/real-dataset/scan_snap/figure_6_data.pkl``,
converted to CSV: ``shared/reference/scansnap_fig6_authors.csv``) holds, for each setting of
``dataset2.num_last`` (query tokens; K = 2·num_last classes), ``opt.lr_z`` (η_Z) and
``opt.lr_y_multi_on_z`` (η_Y/η_Z), the mean and std over 10 seeds of the average entropy of c_n on
the class's distinct tokens (renormalised, natural log) at the end of training.
Ours: the same 64 settings run by ``figures/scansnap_fig6.py`` (10 + 10 tokens per class, context
127, batch 128, random init U(±1/√M), SGD momentum 0.9, 100 steps, seeds 1–10), read from its
saved ``scansnap_fig6.npz`` (``--rerun`` runs the sweep again instead, resumable in
``figures/scansnap_runs/``). Our std over seeds uses ddof = 1, as pandas does for such tables.

Deviation per cell, in units of the pooled std: d = (mean_ours − mean_authors) / √((s_ours² +
s_authors²)/2); also stored: the mean difference in standard errors, (mean_ours − mean_authors) /
√(s_ours²/10 + s_authors²/10). Top row: both curves with ±1 std error bars; bottom row: d per
cell. The table of deviations is printed and saved in the npz (``dev_pooled``, ``dev_se``); the
numbers figures/README.md quotes are recomputed by :func:`claims` from our per-seed entropies and
the authors' means, stds and seed counts saved beside them.

``--quick``: the quick sweep of scansnap_fig6.py (K = 2, two η_Z, two ratios, 2 seeds, 30 steps)
against the matching cells of the table.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from particles.errors import ParticlesError  # noqa: E402
from particles.plotting.claimtools import md_table
from particles.plotting.figures import draw_saved, run_script  # noqa: E402
from particles.storage.npz import load_npz  # noqa: E402

HERE = Path(__file__).resolve().parent
STEM = "scansnap_fig6_authors"
CSV_NAME = "scansnap_fig6_authors.csv"
UPSTREAM = "facebookresearch/luckmatters ssl/real-dataset/scan_snap/figure_6_data.pkl"


def find_authors_csv(path=None) -> Path | None:
    """The authors' table: ``path`` if given, else ``shared/reference/<CSV_NAME>`` in the source
    tree or in one of its parent directories (where the project keeps shared reference data)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ParticlesError(f"{p}: no such file (the authors' Fig. 6 table, CSV)")
        return p
    for base in (HERE.parent, *HERE.parent.parents):
        p = base / "shared" / "reference" / CSV_NAME
        if p.is_file():
            return p
    return None


def read_authors_csv(path) -> dict:
    """The CSV as arrays on the grid ``num_last x eta_z x ratio`` (sorted axes)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    key = ("dataset2.num_last", "opt.lr_z", "opt.lr_y_multi_on_z")
    axes = [sorted({float(r[k]) for r in rows}) for k in key]
    shape = tuple(len(a) for a in axes)
    out = {n: np.full(shape, np.nan) for n in ("mean", "std", "seeds")}
    for r in rows:
        idx = tuple(a.index(float(r[k])) for a, k in zip(axes, key, strict=True))
        out["mean"][idx] = float(r["entropy_mean"])
        out["std"][idx] = float(r["entropy_std"])
        out["seeds"][idx] = float(r["seeds"])
    if np.isnan(out["mean"]).any():
        raise ParticlesError(f"{path}: the table does not fill its grid")
    return {
        "num_last": np.array(axes[0], dtype=int),
        "eta_z": np.array(axes[1]),
        "ratio": np.array(axes[2]),
        **{f"authors_{n}": v for n, v in out.items()},
    }


def _authors(csv_path, outdir: Path) -> tuple[dict, str]:
    """The authors' numbers: from the CSV, else from a saved npz of this figure."""
    p = find_authors_csv(csv_path)
    if p is not None:
        return read_authors_csv(p), p.name
    for d in (Path(outdir), HERE):
        npz = d / f"{STEM}.npz"
        if npz.is_file():
            a, meta = load_npz(npz, f"figure_{STEM}")
            keys = ("num_last", "eta_z", "ratio", "authors_mean", "authors_std", "authors_seeds")
            return {k: a[k] for k in keys}, meta["authors_source"]
    raise ParticlesError(
        f"the authors' table {CSV_NAME} was not found (looked in shared/reference/ of the source "
        "tree and its parents); pass --authors PATH"
    )


def _ours(quick: bool, rerun: bool, outdir: Path) -> tuple[dict, dict]:
    """Our sweep: entropy [K, eta_z, ratio, seed] and the grid's meta."""
    from particles.scansnap import fig6_grid, figure_sweep

    if not quick and not rerun:
        for d in (Path(outdir), HERE):
            npz = d / "scansnap_fig6.npz"
            if npz.is_file():
                a, meta = load_npz(npz, "figure_scansnap_fig6")
                if not meta.get("quick", False) and len(meta["seeds"]) > 2:
                    return a, {**meta, "ours_source": str(npz.name)}
    grid = fig6_grid(quick)
    res = figure_sweep(grid, outdir, "scansnap_fig6", quick)
    return res, {**grid.meta(), "ours_source": "run_sweep"}


def compare(ours: dict, grid_meta: dict, authors: dict) -> dict:
    """Both tables on our grid and the deviations per cell."""
    cpq = int(grid_meta["classes_per_query"])
    num_last = np.asarray(ours["classes"]) // cpq
    pick = []
    for name, ax in (("num_last", num_last), ("eta_z", ours["eta_z"]), ("ratio", ours["ratio"])):
        ref = list(np.asarray(authors[name], dtype=float))
        try:
            pick.append([ref.index(float(v)) for v in ax])
        except ValueError:
            raise ParticlesError(f"our {name} {list(ax)} is not in the authors' table") from None
    ix = np.ix_(*pick)
    ent = np.asarray(ours["entropy"], dtype=float)
    n = ent.shape[-1]
    m_o, s_o = ent.mean(-1), ent.std(-1, ddof=1 if n > 1 else 0)
    m_a, s_a = authors["authors_mean"][ix], authors["authors_std"][ix]
    n_a = authors["authors_seeds"][ix]
    diff = m_o - m_a
    pooled = np.sqrt((s_o**2 + s_a**2) / 2)
    se = np.sqrt(s_o**2 / n + s_a**2 / n_a)
    return {
        "num_last": num_last,
        "classes": np.asarray(ours["classes"]),
        "eta_z": np.asarray(ours["eta_z"], dtype=float),
        "ratio": np.asarray(ours["ratio"], dtype=float),
        "seeds": np.asarray(ours["seeds"]),
        "ours_entropy": ent,
        "ours_mean": m_o,
        "ours_std": s_o,
        "authors_mean": m_a,
        "authors_std": s_a,
        "authors_seeds": n_a,
        "diff": diff,
        "pooled_std": pooled,
        "dev_pooled": diff / pooled,
        "dev_se": diff / se,
    }


def summarize(c: dict) -> dict:
    """Headline numbers of the comparison (all from the arrays of :func:`compare`)."""
    d, z = c["dev_pooled"], c["dev_se"]
    ad = np.abs(d)
    worst = np.unravel_index(np.argmax(ad), d.shape)
    mo, ma = c["ours_mean"].ravel(), c["authors_mean"].ravel()
    # the paper's trends, in both tables: entropy falls with eta_z, rises with the ratio
    trends = {}
    for name, m in (("ours", c["ours_mean"]), ("authors", c["authors_mean"])):
        trends[name] = {
            "frac_falls_with_eta_z": float(np.mean(np.diff(m, axis=1) < 0)),
            "frac_rises_with_ratio": float(np.mean(np.diff(m, axis=2) > 0)),
        }
    return {
        "cells": int(d.size),
        "median_abs_dev_pooled": float(np.median(ad)),
        "mean_abs_dev_pooled": float(ad.mean()),
        "frac_abs_dev_pooled_lt_1": float(np.mean(ad < 1)),
        "frac_abs_dev_pooled_lt_2": float(np.mean(ad < 2)),
        "max_abs_dev_pooled": float(ad[worst]),
        "worst_cell": {
            "num_last": int(c["num_last"][worst[0]]),
            "eta_z": float(c["eta_z"][worst[1]]),
            "ratio": float(c["ratio"][worst[2]]),
            "ours": float(c["ours_mean"][worst]),
            "authors": float(c["authors_mean"][worst]),
            "dev_pooled": float(d[worst]),
        },
        "mean_abs_dev_pooled_per_num_last": {
            str(int(k)): float(ad[i].mean()) for i, k in enumerate(c["num_last"])
        },
        "frac_ours_above": float(np.mean(c["diff"] > 0)),
        "mean_diff": float(c["diff"].mean()),
        "median_abs_diff": float(np.median(np.abs(c["diff"]))),
        "max_abs_diff": float(np.abs(c["diff"]).max()),
        "corr_means": float(np.corrcoef(mo, ma)[0, 1]) if mo.size > 1 else float("nan"),
        "frac_abs_dev_se_lt_2": float(np.mean(np.abs(z) < 2)),
        "median_ratio_std_ours_over_authors": float(np.median(c["ours_std"] / c["authors_std"])),
        "trends": trends,
    }


def table_lines(c: dict) -> list[str]:
    """The deviation table, one line per cell."""
    lines = [
        "num_last  K  eta_z ratio |  ours mean±std  | authors mean±std | diff    | d (pooled) | z (s.e.)"
    ]
    for i, k in enumerate(c["num_last"]):
        for j, ez in enumerate(c["eta_z"]):
            for r, ratio in enumerate(c["ratio"]):
                q = (i, j, r)
                lines.append(
                    f"{int(k):8d} {int(c['classes'][i]):2d} {ez:6g} {ratio:5g} | "
                    f"{c['ours_mean'][q]:.3f} ± {c['ours_std'][q]:.3f}  | "
                    f"{c['authors_mean'][q]:.3f} ± {c['authors_std'][q]:.3f}    | "
                    f"{c['diff'][q]:+.3f}  | {c['dev_pooled'][q]:+6.2f}     | {c['dev_se'][q]:+6.2f}"
                )
    return lines


def plot(c: dict, meta: dict, png: Path) -> Path:
    """Top: ours (solid, filled) and the authors' (dashed, open) entropy against eta_Y/eta_Z with
    ±1 std; bottom: the deviation per cell in pooled std."""
    from matplotlib.lines import Line2D

    from particles.plotting import plural

    nk = len(c["num_last"])
    ratio = c["ratio"]
    fig, axes = plt.subplots(
        2,
        nk,
        figsize=(3.7 * nk + 1.2, 7.8),
        squeeze=False,
        layout="constrained",
        gridspec_kw={"height_ratios": [1.15, 1]},
    )
    lo = np.nanmin([c["ours_mean"] - c["ours_std"], c["authors_mean"] - c["authors_std"]])
    hi = np.nanmax([c["ours_mean"] + c["ours_std"], c["authors_mean"] + c["authors_std"]])
    for i, k in enumerate(c["num_last"]):
        ax = axes[0, i]
        for j, _ez in enumerate(c["eta_z"]):
            col = f"C{j}"
            ax.errorbar(
                ratio / 1.04,
                c["ours_mean"][i, j],
                c["ours_std"][i, j],
                color=col,
                marker="o",
                ms=4,
                capsize=2,
            )
            ax.errorbar(
                ratio * 1.04,
                c["authors_mean"][i, j],
                c["authors_std"][i, j],
                color=col,
                marker="o",
                mfc="white",
                ms=4,
                capsize=2,
                ls="--",
            )
        ax.set_xscale("log")
        ax.set_xticks(ratio, [f"{v:g}" for v in ratio])
        ax.minorticks_off()
        ax.set_xlabel(r"$\eta_Y/\eta_Z$")
        ax.set_ylim(lo - 0.03, hi + 0.03)
        ax.set_title(f"{plural(k, 'query token')}, K = {int(c['classes'][i])}", fontsize=10)
        if i:
            ax.tick_params(labelleft=False)
    axes[0, 0].set_ylabel("average entropy of $c_n$\n(distinct tokens, nats)")
    vmax = max(3.0, float(np.ceil(np.nanmax(np.abs(c["dev_pooled"])))))
    im = None
    for i, _k in enumerate(c["num_last"]):
        ax = axes[1, i]
        d = c["dev_pooled"][i]
        im = ax.imshow(d, cmap="RdBu_r", vmin=-vmax, vmax=vmax, origin="lower", aspect="auto")
        for (j, r), v in np.ndenumerate(d):
            txt = f"{v:+.1f}"
            ax.text(
                r,
                j,
                "0.0" if txt in ("+0.0", "-0.0") else txt,
                ha="center",
                va="center",
                fontsize=9,
                color="white" if abs(v) > 0.6 * vmax else "black",
            )
        ax.set_xticks(range(len(ratio)), [f"{v:g}" for v in ratio])
        ax.set_yticks(range(len(c["eta_z"])), [f"{v:g}" for v in c["eta_z"]])
        ax.set_xlabel(r"$\eta_Y/\eta_Z$")
        if i == 0:
            ax.set_ylabel(r"$\eta_Z$")
        else:
            ax.tick_params(labelleft=False)
        ax.set_title(f"K = {int(c['classes'][i])}: deviation d", fontsize=10)
    fig.colorbar(
        im,
        ax=axes[1, :],
        label="d = (ours − authors) / pooled std",
        shrink=0.9,
    )
    handles = [
        Line2D([], [], color=f"C{j}", lw=2, label=rf"$\eta_Z$ = {ez:g}")
        for j, ez in enumerate(c["eta_z"])
    ] + [
        Line2D([], [], color="0.3", marker="o", label="ours (mean ± std)"),
        Line2D([], [], color="0.3", marker="o", mfc="white", ls="--", label="authors' table"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    s = claims(c, meta)
    fig.suptitle(
        f"Scan and Snap (arXiv 2305.16380) Fig. 6: our runs against the authors' numbers "
        f"({int(c['seeds'].size)} seeds each); median |d| = {s['dev_median']:.2f}, "
        f"|d| < 1 in {s['dev_lt1_pct']:.0f} % of the {s['cells']} cells",
        fontsize=11,
    )
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def main(
    outdir=HERE, quick: bool = False, redraw: bool = False, authors=None, rerun: bool = False
) -> Path:
    """Compare (or, with ``redraw``, load ``<outdir>/<stem>.npz``) and draw the figure."""
    return draw_saved(
        outdir,
        STEM,
        redraw=redraw,
        compute=lambda: _compute(quick, authors, rerun, outdir),
        draw=plot,
    )


def _compute(quick: bool, authors, rerun: bool, outdir) -> tuple[dict, dict]:
    """Both tables compared (arrays) and the record of where they came from (meta)."""
    outdir = Path(outdir)
    auth, auth_src = _authors(authors, outdir)
    ours, grid_meta = _ours(quick, rerun, outdir)
    c = compare(ours, grid_meta, auth)
    numbers = summarize(c)
    for line in table_lines(c):
        print(f"[{STEM}] {line}")
    print(
        f"[{STEM}] |d| median {numbers['median_abs_dev_pooled']:.2f}, < 1 in "
        f"{100 * numbers['frac_abs_dev_pooled_lt_1']:.0f} % and < 2 in "
        f"{100 * numbers['frac_abs_dev_pooled_lt_2']:.0f} % of {numbers['cells']} cells; max "
        f"{numbers['max_abs_dev_pooled']:.2f} at {numbers['worst_cell']}; mean difference "
        f"{numbers['mean_diff']:+.3f} nats; correlation of the means {numbers['corr_means']:.3f}"
    )
    meta = {
        "quick": quick,
        "authors_source": auth_src,
        "authors_upstream": UPSTREAM,
        "ours_source": grid_meta["ours_source"],
        "classes_per_query": grid_meta["classes_per_query"],
        "train_iters": grid_meta["train_iters"],
        "train_init": grid_meta["train_init"],
        "std_ddof_ours": 1,
        "numbers": numbers,
        "table": table_lines(c),
    }
    outdir.mkdir(parents=True, exist_ok=True)
    return c, meta


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """Fig. 6 against the authors' table (scansnap_fig6_authors.npz): the deviations recomputed
    from our per-seed entropies and the authors' means, stds and seed counts."""
    ent = a["ours_entropy"]
    n = ent.shape[-1]
    m_o, s_o = ent.mean(-1), ent.std(-1, ddof=1 if n > 1 else 0)
    m_a, s_a, n_a = a["authors_mean"], a["authors_std"], a["authors_seeds"]
    diff = m_o - m_a
    d = diff / np.sqrt((s_o**2 + s_a**2) / 2)
    z = diff / np.sqrt(s_o**2 / n + s_a**2 / n_a)
    a = {**a, "ours_mean": m_o, "ours_std": s_o}
    ad = np.abs(d)
    c: dict = {"cells": int(d.size)}
    c["dev_median"], c["dev_mean"] = float(np.median(ad)), float(ad.mean())
    c["dev_lt1_pct"], c["dev_lt2_pct"] = 100 * float(np.mean(ad < 1)), 100 * float(np.mean(ad < 2))
    w = np.unravel_index(np.argmax(ad), d.shape)
    c["dev_max"] = float(ad[w])
    c["worst_eta_z"], c["worst_ratio"] = float(a["eta_z"][w[1]]), float(a["ratio"][w[2]])
    c["worst_ours"], c["worst_authors"] = float(a["ours_mean"][w]), float(a["authors_mean"][w])
    c["dev_mean_per_panel"] = [float(ad[i].mean()) for i in range(d.shape[0])]
    c["diff_mean"] = float(diff.mean())
    c["ours_above_pct"] = 100 * float(np.mean(diff > 0))
    c["diff_median_abs"], c["diff_max_abs"] = (
        float(np.median(np.abs(diff))),
        float(np.abs(diff).max()),
    )
    c["corr_means"] = float(np.corrcoef(a["ours_mean"].ravel(), a["authors_mean"].ravel())[0, 1])
    c["std_ratio_median"] = float(np.median(a["ours_std"] / a["authors_std"]))
    c["z_lt2_pct"] = 100 * float(np.mean(np.abs(z) < 2))
    for name, m in (("ours", a["ours_mean"]), ("authors", a["authors_mean"])):
        c[f"falls_eta_z_pct_{name}"] = 100 * float(np.mean(np.diff(m, axis=1) < 0))
        c[f"rises_ratio_pct_{name}"] = 100 * float(np.mean(np.diff(m, axis=2) > 0))
    rows = []
    for i, k in enumerate(a["num_last"]):
        for j, ez in enumerate(a["eta_z"]):
            rows.append(
                [str(int(k)), str(int(a["classes"][i])), f"{ez:g}"]
                + [f"{v:.2f}".replace("-", "−") for v in d[i, j]]
            )
    c["dev_table"] = md_table(
        ["query tokens", "K", "η_Z"] + [f"η_Y/η_Z = {r:g}" for r in a["ratio"]], rows
    )
    return c


if __name__ == "__main__":
    run_script(
        main,
        __doc__,
        HERE,
        (
            "--authors",
            {"default": None, "help": f"path of {CSV_NAME} (default: shared/reference/)"},
        ),
        ("--rerun", {"action": "store_true", "help": "run our sweep again (not the saved npz)"}),
    )
