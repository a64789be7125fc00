"""Scan and Snap on real text: attention maps over training (analogue of the paper's Fig. 7).

The paper's Fig. 7 trains a 1-layer Transformer LM on WikiText-2 and shows attention going from
diffuse to sparse. Here the model is the paper's analysed one (arXiv 2305.16380: no positional
encoding, query = the last token, ℓ2-normalised attended bag of tokens, decoder Y), trained by
SGD (momentum 0.9, batch 128, zero init, 1000 steps, seed 0) on the shipped public-domain
passage ``austen`` (Pride and Prejudice, ch. 1; 1053 tokens, vocabulary 200 incl. <unk>),
context 16 tokens. Two settings with the same η_Y = 5: η_Z = 5, η_Y/η_Z = 1 and η_Z = 1,
η_Y/η_Z = 5. Each map: 12 fixed probe samples (rows, labelled by their query word) × the 16
context positions, attention b_t at steps 0, 50, 200, 1000; last column: mean entropy of the
attention over positions (nats; uniform = ln 16) during training.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from particles.plotting.figures import draw_saved, run_script
from particles.scansnap import (  # noqa: E402
    TextTask,
    TrainConfig,
    load_text,
    position_entropy,
    probe_attention,
    probe_positions,
    train,
)
from particles.scansnap.plotting import plot_attention_rows  # noqa: E402

STEM = "scansnap_text"


SHOWN = (0, 50, 200, 1000)  # steps shown (full size)


def _task(meta: dict) -> TextTask:
    t = meta["task"]
    return TextTask(
        text=load_text(meta["text"]), vocab_size=t["vocab_size"], context_len=t["context_len"]
    )


def main(outdir=Path(__file__).parent, quick=False, redraw: bool = False) -> Path:
    """Train (or, with ``redraw``, load ``<outdir>/<stem>.npz``) and draw the figure."""
    return draw_saved(outdir, STEM, redraw=redraw, compute=lambda: compute(quick), draw=plot)


def compute(quick: bool) -> tuple[dict, dict]:
    """The arrays and metadata of the figure."""
    vocab, ctx_len, iters, every = (60, 8, 40, 10) if quick else (200, 16, 1000, 10)
    shown = (0, 10, 20, 40) if quick else SHOWN
    task = TextTask(text=load_text("austen"), vocab_size=vocab, context_len=ctx_len)
    pos = probe_positions(task, 12)
    settings = [(5.0, 1.0), (1.0, 5.0)]  # (eta_z, ratio)
    if quick:
        settings = settings[:1]
    seed = 0
    arrays, numbers = {"probe_positions": pos}, {}
    for row, (ez, ratio) in enumerate(settings):
        cfg = TrainConfig(eta_z=ez, ratio=ratio, iters=iters, record_every=every, init="zero")
        res = train(task, cfg, seed)
        att = probe_attention(task, res.Z, pos)  # [R, P, T]
        ent = position_entropy(att)
        idx = [int(np.nonzero(res.steps == s)[0][0]) for s in shown]
        key = f"eta_z={ez:g} ratio={ratio:g}"
        arrays[f"att{row}"] = att[idx]
        arrays[f"entropy{row}"] = ent
        arrays[f"loss{row}"] = res.loss
        numbers[key] = {
            "entropy_at_shown": ent[idx].round(3).tolist(),
            "loss_first_last10": [float(res.loss[0]), float(res.loss[-10:].mean())],
            "max_weight_final": float(att[-1].max()),
        }
        print(
            f"[{STEM}] {key}: entropy at steps {list(shown)}: {numbers[key]['entropy_at_shown']}"
            f" (uniform {np.log(ctx_len):.3f}); loss {res.loss[0]:.3f} -> "
            f"{res.loss[-10:].mean():.3f}; largest weight {numbers[key]['max_weight_final']:.2f}"
        )
    arrays["steps"] = res.steps
    return arrays, {
        "seed": seed,
        "task": task.meta(),
        "text": "austen",
        "settings": settings,
        "iters": iters,
        "shown_steps": list(shown),
        "numbers": numbers,
    }


def plot(a: dict, meta: dict, png: Path) -> Path:
    """Attention maps on one colour scale (one colour bar) and the entropy curves (shared axes)."""
    task = _task(meta)
    _, q, _ = task.sequences_at(a["probe_positions"])
    words = [task.vocab[t] for t in q]
    settings = meta["settings"]
    shown = meta.get("shown_steps", SHOWN)
    ctx_len = meta["task"]["context_len"]
    vmax = float(max(a[f"att{r}"].max() for r in range(len(settings))))
    fig, axes = plt.subplots(
        len(settings),
        len(shown) + 1,
        figsize=(17, 3.3 * len(settings) + 0.5),
        gridspec_kw={"width_ratios": [1] * len(shown) + [1.35]},
        squeeze=False,
        layout="constrained",
    )
    im = None
    for row, (ez, ratio) in enumerate(settings):
        for col, step in enumerate(shown):
            ax = axes[row, col]
            im = plot_attention_rows(ax, a[f"att{row}"][col], vmax=vmax, title=f"step {step}")
            if col == 0:
                ax.set_yticks(range(len(words)), words, fontsize=8)
                ax.set_ylabel(
                    rf"$\eta_Z$ = {ez:g}, $\eta_Y/\eta_Z$ = {ratio:g}" + "\nquery word", fontsize=10
                )
            else:
                ax.set_yticks(range(len(words)), [])
                ax.set_ylabel("")
        ent_ax = axes[row, -1]
        ent_ax.plot(a["steps"], a[f"entropy{row}"], label="attention entropy")
        ent_ax.axhline(np.log(ctx_len), color="k", ls=":", lw=0.8, label=f"uniform (ln {ctx_len})")
        ent_ax.set_xlabel("SGD step")
        ent_ax.set_ylabel("entropy over positions (nats)")
        loss = a[f"loss{row}"]
        ax2 = ent_ax.twinx()
        ax2.semilogy(np.arange(loss.size), loss, color="C1", lw=0.6, alpha=0.7)
        ax2.set_ylabel("batch loss (nats)", color="C1")
        ax2.set_ylim(0.05, 8)
        ent_ax.plot([], [], color="C1", lw=0.6, label="batch loss (right axis)")
        ent_ax.legend(fontsize=8, loc="upper right", frameon=False)
    lo = min(a[f"entropy{r}"].min() for r in range(len(settings)))
    for row in range(len(settings)):
        axes[row, -1].set_ylim(lo - 0.05, np.log(ctx_len) + 0.3)
    fig.colorbar(im, ax=axes[:, : len(shown)], label="attention weight $b_t$", shrink=0.9)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    st = a["steps"]
    idx = [int(np.nonzero(st == s)[0][0]) for s in (0, 50, 200, 1000)]
    c: dict = {}
    for r in range(2):
        e = a[f"entropy{r}"]
        c[f"entropy{r}"] = [float(e[i]) for i in idx[1:]]
        c[f"max_weight{r}"] = float(a[f"att{r}"][-1].max())
        c[f"loss_last10_{r}"] = float(a[f"loss{r}"][-10:].mean())
        c[f"loss0_{r}"] = float(a[f"loss{r}"][0])
    c["entropy_uniform"] = float(a["entropy0"][0])
    c["log_T"] = math.log(meta["task"]["context_len"])
    c["log_V"] = math.log(meta["task"]["vocab_size"])
    c["num_tokens"] = meta["task"]["num_tokens"]
    return c


if __name__ == "__main__":
    run_script(main, __doc__, Path(__file__).resolve().parent)
