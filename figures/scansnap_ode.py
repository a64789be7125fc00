"""Scan and Snap (arXiv 2305.16380): SGD against the reduced long-sequence flow, derived here.

Setting: the Fig. 4 task (K = 2, separate queries, M = 34, context 127, batch 128, zero init),
η_Z = 1 and η_Y/η_Z ∈ {1, 10}. SGD uses momentum 0.9 (the authors' optimiser), 10 seeds, mean ±
std; the reduced ODE (T → ∞, π uniform) is integrated with scipy RK45 at the effective rates
η/(1 − 0.9), so both run in SGD steps. A control row uses plain SGD (momentum 0) at η_Z = 0.1
against the ODE at the same rates, where the two should agree closely.
Panels: common-token mass, the weights of the lowest-, middle- and highest-P distinct tokens of
class 1, and the loss.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from particles.io import save_npz  # noqa: E402
from particles.plotting.figures import run_script
from particles.scansnap import (  # noqa: E402
    SyntheticTask,
    TrainConfig,
    common_mass,
    distinct_order,
    integrate_reduced,
    snap_time,
    train,
)
from particles.scansnap.plotting import plot_band  # noqa: E402

STEM = "scansnap_ode"


def main(outdir=Path(__file__).parent, quick=False) -> Path:
    outdir = Path(outdir)
    task = SyntheticTask(num_classes=2, classes_per_query=1)
    iters = 40 if quick else 300
    seeds = range(1, 2) if quick else range(1, 11)
    # (label, eta_z, ratio, momentum)
    cases = [
        ("mom. 0.9, ratio 1", 1.0, 1.0, 0.9),
        ("mom. 0.9, ratio 10", 1.0, 10.0, 0.9),
        ("plain SGD, η_Z=0.1, ratio 1", 0.1, 1.0, 0.0),
    ]
    if quick:
        cases = cases[:1]
    d_toks = task.distinct_tokens(0)[[0, 4, 9]]
    fig, axes = plt.subplots(len(cases), 3, figsize=(13, 3.1 * len(cases)), squeeze=False)
    arrays, numbers = {}, {}
    ts = np.arange(iters + 1, dtype=float)
    for row, (label, ez, ratio, mu) in enumerate(cases):
        cfg = TrainConfig(eta_z=ez, ratio=ratio, momentum=mu, iters=iters, init="zero")
        runs = [train(task, cfg, s, keep_weights=False) for s in seeds]
        c_sgd = np.array([r.c for r in runs])  # [S, R, K, M]
        loss_sgd = np.array([r.loss for r in runs])
        sol = integrate_reduced(task, eta_y=cfg.eta_y / (1 - mu), eta_z=ez / (1 - mu), ts=ts)
        cm_sgd = common_mass(c_sgd, task)  # [S, R, K]
        cm_ode = common_mass(sol.c, task)
        key = f"case{row}"
        arrays[f"{key}_c_sgd"] = c_sgd[:, :, :, task.support].mean(axis=0)
        arrays[f"{key}_c_ode"] = sol.c[:, :, task.support]
        arrays[f"{key}_loss_sgd"] = loss_sgd.mean(axis=0)
        arrays[f"{key}_loss_ode"] = sol.loss
        tau_sgd = float(np.mean([distinct_order(r.Z[-1], task) for r in runs]))
        tau_ode = distinct_order(sol.Z[-1], task)
        order_sgd = np.argsort(c_sgd[:, -1, 0].mean(axis=0)[task.distinct_tokens(0)])
        order_ode = np.argsort(sol.c[-1, 0, task.distinct_tokens(0)])
        numbers[label] = {
            "common_final_sgd": float(cm_sgd[:, -1].mean()),
            "common_final_sgd_std": float(cm_sgd[:, -1].mean(axis=-1).std()),
            "common_final_ode": float(cm_ode[-1].mean()),
            "common_initial": float(cm_ode[0].mean()),
            "tau_sgd": tau_sgd,
            "tau_ode": tau_ode,
            "same_distinct_order": bool(np.array_equal(order_sgd, order_ode)),
            "snap_sgd": float(np.mean([snap_time(r.c, r.steps) for r in runs])),
            "snap_ode": snap_time(sol.c, ts),
            "max_abs_c_diff": float(np.abs(c_sgd.mean(axis=0) - sol.c).max()),
        }
        n = numbers[label]
        print(
            f"[{STEM}] {label}: common mass {n['common_initial']:.3f} -> SGD "
            f"{n['common_final_sgd']:.3f}±{n['common_final_sgd_std']:.3f}, ODE "
            f"{n['common_final_ode']:.3f}; tau SGD {tau_sgd:.2f} ODE {tau_ode:.2f}; same order "
            f"{n['same_distinct_order']}; snap SGD {n['snap_sgd']:.0f} ODE {n['snap_ode']:.0f}; "
            f"max |c_SGD - c_ODE| {n['max_abs_c_diff']:.3f}"
        )
        ax = axes[row]
        plot_band(ax[0], ts, cm_sgd.mean(axis=-1), label="SGD (mean ± std)")
        ax[0].plot(ts, cm_ode.mean(axis=-1), "k--", label="reduced ODE")
        ax[0].set_ylabel(f"{label}\ncommon-token mass")
        for i, tok in enumerate(d_toks):
            plot_band(
                ax[1],
                ts,
                c_sgd[:, :, 0, tok],
                color=f"C{i}",
                label=f"SGD, P={task.probs[0, tok]:.3f}",
            )
            ax[1].plot(ts, sol.c[:, 0, tok], "--", color=f"C{i}")
        ax[1].set_ylabel("$c_{l|n}$, class 1 (dashed: ODE)")
        ax[2].plot(ts[:-1], loss_sgd.mean(axis=0), label="SGD batch loss (seed mean)")
        ax[2].plot(ts, sol.loss, "k--", label="ODE loss J")
        ax[2].set_yscale("log")
        for a in ax:
            a.set_xlabel("SGD step")
            a.legend(fontsize=7)
    axes[0, 0].set_title("common tokens (discriminative bias)", fontsize=10)
    axes[0, 1].set_title("distinct tokens (frequency bias)", fontsize=10)
    axes[0, 2].set_title("loss", fontsize=10)
    fig.tight_layout()
    png = outdir / f"{STEM}.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    save_npz(
        outdir / f"{STEM}.npz",
        {"ts": ts, **arrays},
        {
            "format": f"figure_{STEM}",
            "seeds": list(seeds),
            "task": task.meta(),
            "cases": cases,
            "numbers": numbers,
        },
    )
    return png


if __name__ == "__main__":
    run_script(main, __doc__, Path(__file__).resolve().parent)
