"""Network vs particle dynamics (arXiv 2312.10794 §2, layers ↔ time): MiniLM's layers against the
ODE of arXiv 2312.10794 run with each layer's own (Q_h, K_h, V_h, β).

Setup: all-MiniLM-L6-v2, the first 96 word pieces of Darwin's closing paragraph; the network is
run to 24 layers (layer 6 repeated past the trained depth). The ODE starts from the normalised
layer-0 tokens and uses, on [(ℓ-1)Δt, ℓΔt), layer ℓ's heads: Q_h = W^Q_h, K_h = W^K_h,
V_h = W^O_h W^V_h, β = r_ℓ²/√32 with r_ℓ the mean token norm entering layer ℓ (then layer 6's
weights forever). Two variants: "attention" (the paper's model) and "attention+ffn" (the layer's
feed-forward and output biases added to the field). RK4, 2 steps per layer. Δt is fitted per
variant by least squares on the mean <x_i, x_j> of layers 1-6; the ODE's mean similarity of layers
0-6 on a grid of Δt (:data:`DT_SCAN`) is saved too, so that :func:`claims` recomputes the fitted Δt
from the loss. Clusters: components of <x_i, x_j> > 1 - 0.01.

``--quick``: 12 tokens, depth 6, Δt fixed at 0.5 (no fit), 1 step per layer, 60 dpi.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles.plotting.claimtools import md_table
from particles.plotting.figures import run_script

HERE = Path(__file__).resolve().parent
STEM = "transformer_ode"


def _stats_from_npz(a: dict, meta: dict):
    """The plotted ``(label, DepthStats, colour)`` of each system, from the saved statistics."""
    from particles.transformer.depth import DepthStats

    systems = [("network", "network", "C0")] + [
        (f"ODE {v} (Δt = {meta['dt'][v]:.3g})", "ode_" + v.replace("+", "_"), f"C{k + 1}")
        for k, v in enumerate(meta["variants"])
    ]
    out = []
    for lab, key, c in systems:
        nan = np.full(a[f"{key}_mean"].shape, np.nan)
        st = DepthStats(
            edges=a["edges"],
            hist=a[f"{key}_hist"].astype(float),
            mean=a[f"{key}_mean"],
            std=a[f"{key}_std"],
            frac_above=nan,
            clusters=a[f"{key}_clusters"],
            norms=nan,
            threshold=np.nan,
            delta=meta["delta"],
        )
        out.append((lab, st, c))
    return out


def plot(a: dict, meta: dict, png: Path, dpi: int = 130) -> Path:
    """Draw the figure from the saved statistics (see :func:`main`)."""
    from particles.transformer.plotting import comparison_figure, model_title, save_figure

    dts = ", ".join(f"{v}: Δt = {meta['dt'][v]:.3f}" for v in meta["variants"])
    fig = comparison_figure(
        None,
        stats=_stats_from_npz(a, meta),
        fit_depth=meta["fit_depth"],
        title=f"{model_title(meta['model'])} layers vs particle dynamics "
        f"({meta['n_tokens']} tokens; {dts})",
    )
    return save_figure(fig, png, dpi=dpi)


def main(outdir=HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Run the network and the ODEs (or, with ``redraw``, load ``<outdir>/<stem>.npz``) and draw."""
    from particles.storage.npz import load_npz
    from particles.transformer.analysis import FORMAT_ODE

    outdir = Path(outdir)
    png = outdir / f"{STEM}.png"
    if redraw:
        a, meta = load_npz(outdir / f"{STEM}.npz", FORMAT_ODE)
        return plot(a, meta, png, dpi=60 if meta["depth"] < 24 else 130)
    from particles.transformer import compare_text, fetch_model, read_passage
    from particles.transformer.analysis import save_comparison

    fetch_model("minilm")
    outdir.mkdir(parents=True, exist_ok=True)
    depth, n, dt, spl = (6, 12, 0.5, 1) if quick else (24, 96, None, 2)
    cmp, tokens, meta = compare_text(
        read_passage("darwin_entangled_bank"),
        model="minilm",
        depth=depth,
        max_tokens=n,
        dt=dt,
        steps_per_layer=spl,
        source="darwin_entangled_bank",
    )
    # states at layers 0, 6 and the last only (float16), statistics at every layer: < 1 MB
    npz = save_comparison(
        outdir / f"{STEM}.npz",
        cmp,
        tokens=tokens,
        meta=meta,
        layers=sorted({0, min(6, depth), depth}),
        dtype=np.float16,
    )
    if dt is None:  # the loss of the fit on a grid of dt, saved beside the states
        from particles.storage.npz import save_npz

        a, saved = load_npz(npz)
        a.update(dt_scan(cmp, n, spl, meta["trained_depth"]))
        saved.pop("version", None)
        save_npz(npz, a, saved)
    return plot(*load_npz(outdir / f"{STEM}.npz", FORMAT_ODE), png, dpi=60 if quick else 130)


#: the grid of dt on which the fit's loss is saved (the fitted values lie inside it)
DT_SCAN = np.round(np.linspace(0.30, 0.65, 71), 3)


def dt_scan(cmp, n_tokens: int, steps_per_layer: int, fit_depth: int) -> dict:
    """For every dt of :data:`DT_SCAN` and both variants: the ODE's mean <x_i, x_j> at layers
    0..``fit_depth`` (the quantity the fit of dt matches to the network's), run as the figure's ODE
    (same start, scales, steps per layer)."""
    from particles.transformer import depth_stats, load_model, read_passage
    from particles.transformer.bridge import ode_states

    enc, tok = load_model("minilm")
    ids, _ = tok.encode(read_passage("darwin_entangled_bank"), max_length=n_tokens)
    h0 = enc.hidden_states(np.asarray(ids), depth=fit_depth)[0]
    out = {"dt_scan": DT_SCAN}
    for key, ffn in (("attention", False), ("attention_ffn", True)):
        out[f"dt_scan_{key}_mean"] = np.array(
            [
                depth_stats(
                    ode_states(
                        enc,
                        h0,
                        fit_depth,
                        dt=float(dt),
                        ffn=ffn,
                        scales=cmp.scale,
                        steps_per_layer=steps_per_layer,
                    )
                ).mean
                for dt in DT_SCAN
            ]
        )
    return out


# the numbers figures/README.md quotes (figures/claims.py checks them)
TODE_LAYERS = (0, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13, 24)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    L = list(TODE_LAYERS)

    def f3(v):
        return "0" if v == 0 else f"{v:.3f}"

    rows = []
    for label, key in (
        ("network mean", "network_mean"),
        ("ODE attention mean", "ode_attention_mean"),
        ("ODE attention+ffn mean", "ode_attention_ffn_mean"),
        ("network std", "network_std"),
        ("ODE attention std", "ode_attention_std"),
    ):
        rows.append([label] + [f3(v) for v in a[key][L]])
    for label, key in (
        ("network clusters", "network_clusters"),
        ("ODE attention clusters", "ode_attention_clusters"),
        ("ODE attention+ffn clusters", "ode_attention_ffn_clusters"),
    ):
        rows.append([label] + [str(int(v)) for v in a[key][L]])
    c: dict = {"table": md_table(["ℓ"] + [str(x) for x in L], rows)}
    c["r"] = [float(v) for v in a["scale"]]
    c["beta"] = [float(v) for v in a["beta"]]
    med = np.median(a["betas"], axis=1)
    c["head_beta_median_min"], c["head_beta_median_max"] = float(med.min()), float(med.max())
    c["head_beta_max"] = float(a["betas"].max())
    # the fitted dt: the minimiser of the saved loss scan (parabola through the grid minimum and
    # its neighbours), and how far the bounded optimiser's dt (the ODE runs' input) lies from it
    for var, key, label in (
        ("attention", "attention", "attention"),
        ("ffn", "attention_ffn", "attention+ffn"),
    ):
        if "dt_scan" not in a:  # --quick: dt given, not fitted
            c[f"dt_{var}"] = float(meta["dt"][label])
            continue
        g = a["dt_scan"]
        nm = a["network_mean"][: a[f"dt_scan_{key}_mean"].shape[1]]
        loss = np.mean((a[f"dt_scan_{key}_mean"][:, 1:] - nm[1:]) ** 2, axis=1)
        i = int(np.clip(np.argmin(loss), 1, g.size - 2))
        p = np.polyfit(g[i - 1 : i + 2], loss[i - 1 : i + 2], 2)
        c[f"dt_{var}"] = float(-p[1] / (2 * p[0]))
        c[f"dt_{var}_interior"] = bool(0 < np.argmin(loss) < g.size - 1)
        c[f"dt_{var}_fit_minus_scan"] = float(meta["dt"][label] - c[f"dt_{var}"])
        near = np.abs(g - c[f"dt_{var}"]) <= 0.01 + 1e-9
        rms = np.sqrt(loss)
        c[f"dt_{var}_rms_change_pct"] = float(100 * (rms[near].max() / rms.min() - 1))
    if "dt_scan" in a:
        c["dt_rms_change_pct_max"] = max(
            c["dt_attention_rms_change_pct"], c["dt_ffn_rms_change_pct"]
        )
        c["dt_fit_minus_scan_max"] = max(
            abs(c["dt_attention_fit_minus_scan"]), abs(c["dt_ffn_fit_minus_scan"])
        )
    nm = a["network_mean"]
    for var, key in (("attention", "ode_attention"), ("ffn", "ode_attention_ffn")):
        err = a[f"{key}_mean"][1:7] - nm[1:7]
        c[f"rms_{var}"] = float(np.sqrt(np.mean(err**2)))
    c["net_mean10"], c["ode_mean10"] = float(nm[10]), float(a["ode_attention_mean"][10])

    def first_one(cl):
        return int(np.nonzero(np.asarray(cl) == 1)[0][0])

    c["ode_one_cluster_at"] = first_one(a["ode_attention_clusters"])
    c["net_one_cluster_at"] = first_one(a["network_clusters"])
    c["ode_std_nonincreasing"] = bool(np.all(np.diff(a["ode_attention_std"]) <= 0))
    c["ode_std6"], c["net_std6"] = float(a["ode_attention_std"][6]), float(a["network_std"][6])
    c["ode_clusters_9_12"] = [int(v) for v in a["ode_attention_clusters"][9:13]]
    c["net_clusters5"] = int(a["network_clusters"][5])
    e = a["edges"]
    w, centres = np.diff(e), 0.5 * (e[1:] + e[:-1])
    c["hist_tv_1_3"] = [
        0.5 * float(np.abs((a["network_hist"][k] - a["ode_attention_hist"][k]) * w).sum())
        for k in (1, 2, 3)
    ]
    c["mode_net_1_3"] = [float(centres[np.argmax(a["network_hist"][k])]) for k in (1, 2, 3)]
    c["mode_ode_1_3"] = [float(centres[np.argmax(a["ode_attention_hist"][k])]) for k in (1, 2, 3)]
    c["ffn_mean5"], c["net_mean5"] = float(a["ode_attention_ffn_mean"][5]), float(nm[5])
    c["ffn_std6"] = float(a["ode_attention_ffn_std"][6])
    neg = e[:-1] < 0
    c["ffn_neg_pct6"] = 100 * float((a["ode_attention_ffn_hist"][6] * w)[neg].sum())
    c["net_neg_pct6"] = 100 * float((a["network_hist"][6] * w)[neg].sum())
    c["ffn_mean24"] = float(a["ode_attention_ffn_mean"][24])
    c["ffn_clusters24"] = int(a["ode_attention_ffn_clusters"][24])
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
