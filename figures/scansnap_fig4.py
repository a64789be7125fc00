"""Scan and Snap (Tian et al. 2023), Fig. 4: the class attention c_n over SGD iterations.

Setting (the authors' run for Fig. 4): K = 2 classes with separate queries, 10 common and 10
distinct tokens per class (weights linspace(0.1, 1, 10)), M = 34, context of 127 tokens, batch
128 (fresh each step), zero init, SGD with momentum 0.9, η_Z = 1, η_Y/η_Z = 1, seed 2.
Panel (a) is the paper's figure: c_{·|n} of class 1 over its 20 tokens at iterations 0, 2, 4, 6, 8,
10 and 48 ("Final" in the authors' script). We run to 300 steps to show the snap (the abstract's
phase transition): panel (b) the loss, panel (c) the common-token mass and the largest weight.
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
    SyntheticTask,
    TrainConfig,
    common_mass,
    distinct_order,
    max_weight,
    snap_time,
    train,
)
from particles.scansnap.plotting import plot_class_attention  # noqa: E402

STEM = "scansnap_fig4"
ROWS = (0, 2, 4, 6, 8, 10, 48)


def main(outdir=Path(__file__).parent, quick=False, redraw: bool = False) -> Path:
    """Train (or, with ``redraw``, load ``<outdir>/<stem>.npz``) and draw the figure."""
    return draw_saved(outdir, STEM, redraw=redraw, compute=lambda: compute(quick), draw=plot)


def compute(quick: bool) -> tuple[dict, dict]:
    """The arrays and metadata of the figure."""
    task = SyntheticTask(num_classes=2, classes_per_query=1)
    iters = 60 if quick else 300
    cfg = TrainConfig(eta_z=1.0, ratio=1.0, momentum=0.9, batch=128, iters=iters, init="zero")
    seed = 2
    res = train(task, cfg, seed)
    sup = task.class_support(0)
    rows = np.array(ROWS)
    c_img = res.c[rows][:, 0, sup]
    cm = common_mass(res.c, task)
    mw = max_weight(res.c, task)
    tau = [distinct_order(res.Z[i], task) for i in (10, 48, iters)]
    t_snap = snap_time(res.c, res.steps)

    late = iters // 3
    numbers = {
        "log_M": float(np.log(task.vocab_size)),
        "loss_0": float(res.loss[0]),
        "loss_10": float(res.loss[10]),
        "loss_final": float(res.loss[-1]),
        "common_mass": {s: cm[s].round(4).tolist() for s in (0, 10, 48, late, iters)},
        "common_change_after_late": float(np.abs(cm[-1] - cm[late]).max()),
        "common_change_total": float(np.abs(cm[-1] - cm[0]).max()),
        "max_weight_final": float(mw[-1].max()),
        "tau_at_10_48_end": tau,
        "snap_time": t_snap,
    }
    print(
        f"[{STEM}] loss: step0 {numbers['loss_0']:.4f} (ln M = {numbers['log_M']:.4f}), "
        f"step10 {numbers['loss_10']:.3g}, end {numbers['loss_final']:.3g}"
    )
    print(f"[{STEM}] common mass per class: {numbers['common_mass']}")
    print(
        f"[{STEM}] common-mass change after step {late}: "
        f"{numbers['common_change_after_late']:.2e} (total {numbers['common_change_total']:.3f})"
    )
    print(f"[{STEM}] largest weight at the end {numbers['max_weight_final']:.3f} (no winner)")
    print(f"[{STEM}] Kendall tau(z, P) over distinct tokens at steps 10/48/end: {tau}")
    print(f"[{STEM}] snap time (c within 10% of its total change): {t_snap:g} steps")
    return {
        "c_image": c_img,
        "rows": rows,
        "loss": res.loss,
        "steps": res.steps,
        "common": cm,
        "max_weight": mw,
        "c": res.c[:, :, task.support],
    }, {
        "seed": seed,
        "task": task.meta(),
        "train": cfg.meta(),
        "numbers": numbers,
    }


def plot(a: dict, meta: dict, png: Path) -> Path:
    """Draw the figure from the saved arrays and meta (see :func:`main`)."""
    nc = meta["task"]["num_common"]
    rows = [int(r) for r in a["rows"]]
    iters = a["loss"].size
    from particles.scansnap import snap_time

    t_snap = snap_time(a["c"], a["steps"])  # as claims() computes it
    fig, axes = plt.subplots(
        1, 3, figsize=(14, 4.0), gridspec_kw={"width_ratios": [1.6, 1, 1]}, layout="constrained"
    )
    im = plot_class_attention(
        axes[0], a["c_image"], [*rows[:-1], f"{rows[-1]} (final)"], num_common=nc
    )
    fig.colorbar(im, ax=axes[0], label="$c_{l|n}$")
    axes[0].set_title("(a) $c_n$ of class 1 (the paper's Fig. 4)", fontsize=10)
    axes[1].semilogy(np.arange(iters), a["loss"])
    axes[1].axhline(
        math.log(_ss_task(meta).vocab_size),
        color="k",
        ls=":",
        lw=0.8,
        label=r"$\ln M$ (uniform prediction)",
    )
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("batch loss (cross-entropy, nats)")
    axes[1].legend(loc="center right", frameon=False)
    axes[1].set_title("(b) loss", fontsize=10)
    for k in range(a["common"].shape[1]):
        axes[2].plot(
            a["steps"], a["common"][:, k], color=f"C{k}", label=f"common-token mass, class {k + 1}"
        )
        axes[2].plot(
            a["steps"],
            a["max_weight"][:, k],
            color=f"C{k}",
            ls="--",
            label=f"largest weight, class {k + 1}",
        )
    axes[2].axvline(t_snap, color="gray", ls=":", lw=0.8, label=f"snap time ({t_snap:g} steps)")
    axes[2].set_xlabel("iteration")
    axes[2].set_ylabel("attention weight in $c_n$")
    axes[2].set_ylim(0, 1)
    axes[2].legend(fontsize=8, frameon=False)
    axes[2].set_title("(c) scan, then snap", fontsize=10)
    fig.savefig(png, dpi=130)
    plt.close(fig)
    return png


# the numbers figures/README.md quotes (figures/claims.py checks them)
def _ss_task(meta):
    from particles.scansnap import SyntheticTask

    tk = meta["task"]
    return SyntheticTask(num_classes=tk["num_classes"], classes_per_query=tk["classes_per_query"])


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    from particles.scansnap import kendall_tau, snap_time

    task = _ss_task(meta)
    cm, loss, c_ = a["common"], a["loss"], a["c"]
    c: dict = {"M": task.vocab_size, "log_M": math.log(task.vocab_size)}
    c["loss0"], c["loss10"], c["loss_end"] = float(loss[0]), float(loss[10]), float(loss[-1])
    c["loss0_is_log_M"] = abs(loss[0] - math.log(task.vocab_size)) < 1e-12
    for s in (0, 10, 48, 300):
        c[f"common_{s}"] = [float(v) for v in cm[s]]
    c["common0"] = float(cm[0, 0])
    c["common_change_after_100"] = float(np.abs(cm[-1] - cm[100]).max())
    c["common_total_fall"] = float(np.abs(cm[-1] - cm[0]).max())
    c["snap"] = snap_time(c_, a["steps"])
    c["max_weight_end"] = float(a["max_weight"][-1].max())
    sup = list(task.support)

    def tau(step):
        # z_l - z_l' = log(c_l / P_l) - log(c_l' / P_l'): the order of z from the saved c
        out = []
        for k in range(task.num_classes):
            toks = task.distinct_tokens(k)
            cols = [sup.index(tk) for tk in toks]
            z = np.log(c_[step, k, cols] / task.probs[k, toks])
            out.append(kendall_tau(z, task.probs[k, toks]))
        return float(np.mean(out))

    c["tau10"], c["tau48"] = tau(10), tau(48)
    c["tau_min_from_48"] = min(tau(s) for s in range(48, len(a["steps"])))
    return c


if __name__ == "__main__":
    run_script(main, __doc__, Path(__file__).resolve().parent)
