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

from particles.plotting.figures import draw_saved, run_script
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


def _row_label(ez: float, ratio: float, mu: float) -> str:
    """Row label in mathtext."""
    opt = f"momentum {mu:g}" if mu else "plain SGD"
    return rf"{opt}, $\eta_Z$ = {ez:g}, $\eta_Y/\eta_Z$ = {ratio:g}"


def _distinct_logits(Z, task) -> np.ndarray:
    """``[K, D]``: z of each class's query token on that class's distinct tokens."""
    return np.array(
        [Z[task.query_tokens[k], task.distinct_tokens(k)] for k in range(task.num_classes)]
    )


def main(outdir=Path(__file__).parent, quick=False, redraw: bool = False) -> Path:
    """Train and integrate (or, with ``redraw``, load ``<outdir>/<stem>.npz``) and draw."""
    return draw_saved(outdir, STEM, redraw=redraw, compute=lambda: compute(quick), draw=plot)


def compute(quick: bool) -> tuple[dict, dict]:
    """The arrays and metadata of the figure."""
    task = SyntheticTask(num_classes=2, classes_per_query=1)
    iters = 40 if quick else 300
    seeds = range(1, 2) if quick else range(1, 11)
    # (label, eta_z, ratio, momentum); the labels key the printed numbers
    cases = [
        ("mom. 0.9, ratio 1", 1.0, 1.0, 0.9),
        ("mom. 0.9, ratio 10", 1.0, 10.0, 0.9),
        ("plain SGD, η_Z=0.1, ratio 1", 0.1, 1.0, 0.0),
    ]
    if quick:
        cases = cases[:1]
    d_toks = task.distinct_tokens(0)[[0, 4, 9]]
    arrays, numbers = {"dist_tokens": d_toks, "dist_P": task.probs[0, d_toks]}, {}
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
        # per seed, for the snap times and the orders: c on the support over the steps, and the
        # final logits z of each class's query on its distinct tokens (SGD seeds, and the ODE)
        arrays[f"{key}_c_sgd_seeds"] = c_sgd[:, :, :, task.support]
        arrays[f"{key}_z_sgd_seeds"] = np.array([_distinct_logits(r.Z[-1], task) for r in runs])
        arrays[f"{key}_z_ode"] = _distinct_logits(sol.Z[-1], task)
        arrays[f"{key}_c_ode"] = sol.c[:, :, task.support]
        arrays[f"{key}_loss_sgd"] = loss_sgd.mean(axis=0)
        arrays[f"{key}_loss_ode"] = sol.loss
        # per seed, for the bands: common mass (mean over classes) and class 1's shown tokens
        arrays[f"{key}_common_sgd_seeds"] = cm_sgd.mean(axis=-1)
        arrays[f"{key}_dist_sgd_seeds"] = c_sgd[:, :, 0, d_toks]
        arrays[f"{key}_common_ode"] = cm_ode.mean(axis=-1)
        arrays[f"{key}_dist_ode"] = sol.c[:, 0, d_toks]
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
    return {"ts": ts, **arrays}, {
        "seeds": list(seeds),
        "task": task.meta(),
        "cases": cases,
        "numbers": numbers,
    }


def _some_minor(v: float, _pos=None) -> str:
    """Label a minor log tick only at 2 and 5 times a power of ten."""
    lead = round(v / 10 ** np.floor(np.log10(v)))
    return f"{v:g}" if lead in (2, 5) else ""


def plot(a: dict, meta: dict, png: Path) -> Path:
    """Draw the figure from the saved arrays and meta (see :func:`main`)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    cases = meta["cases"]
    ts = a["ts"]
    S = len(meta["seeds"])
    fig, axes = plt.subplots(
        len(cases), 3, figsize=(13, 3.0 * len(cases) + 0.6), squeeze=False, layout="constrained"
    )
    for row, (_label, ez, ratio, mu) in enumerate(cases):
        key = f"case{row}"
        ax = axes[row]
        plot_band(ax[0], ts, a[f"{key}_common_sgd_seeds"], color="C0")
        ax[0].plot(ts, a[f"{key}_common_ode"], "k--")
        ax[0].set_ylabel(_row_label(ez, ratio, mu) + "\ncommon-token mass", fontsize=9)
        for i in range(a["dist_tokens"].size):
            plot_band(ax[1], ts, a[f"{key}_dist_sgd_seeds"][:, :, i], color=f"C{i + 2}")
            ax[1].plot(ts, a[f"{key}_dist_ode"][:, i], "--", color=f"C{i + 2}")
        ax[1].set_ylabel("$c_{l|n}$ of class 1")
        loss = a[f"{key}_loss_sgd"]
        ax[2].plot(ts[: loss.size], loss, color="C0")
        ax[2].plot(ts, a[f"{key}_loss_ode"], "k--")
        ax[2].set_yscale("log")
        lo, hi = ax[2].get_ylim()
        if hi / lo < 100:  # under two decades: plain numbers (1, 2, 3, 5 x 10^k) on the ticks
            ax[2].yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax[2].yaxis.set_minor_formatter(FuncFormatter(_some_minor))
        ax[2].set_ylabel("loss (nats)")
        for x in ax:
            x.set_xlabel("SGD step")
    axes[0, 0].set_title("common tokens (discriminative bias)", fontsize=10)
    axes[0, 1].set_title("distinct tokens (frequency bias)", fontsize=10)
    axes[0, 2].set_title("loss", fontsize=10)
    handles = [
        Line2D([], [], color="C0", label=f"SGD (mean ± std over {S} seeds; loss: seed mean)"),
        Line2D([], [], color="k", ls="--", label="reduced ODE (T → ∞; its loss J)"),
    ] + [
        Line2D([], [], color=f"C{i + 2}", label=rf"distinct token, $P(l\,|\,n)$ = {p:.3f}")
        for i, p in enumerate(a["dist_P"])
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    from particles.scansnap import kendall_tau, snap_time

    tk = meta["task"]
    task = SyntheticTask(num_classes=tk["num_classes"], classes_per_query=tk["classes_per_query"])
    sup = list(task.support)
    dist0 = [sup.index(t) for t in task.distinct_tokens(0)]

    def tau(z) -> float:
        """Mean over classes of Kendall's tau between z and P(l|n) on the distinct tokens (as
        particles.scansnap.distinct_order: logits closer than 1e-12 are ties)."""
        out = []
        for k, zk in enumerate(z):
            zk = np.zeros_like(zk) if np.ptp(zk) < 1e-12 else zk
            out.append(kendall_tau(zk, task.probs[k, task.distinct_tokens(k)]))
        return float(np.mean(out))

    ts = a["ts"]
    c: dict = {"steps": int(ts[-1])}
    for k in range(len(meta["cases"])):
        cseeds, co = a[f"case{k}_c_sgd_seeds"], a[f"case{k}_c_ode"]
        cs = cseeds.mean(axis=0)
        cm_s, cm_o = cs[..., :10].sum(-1).mean(-1), co[..., :10].sum(-1).mean(-1)
        c[f"case{k}_max_c_diff"] = float(np.abs(cs - co).max())
        c[f"case{k}_common_sgd"], c[f"case{k}_common_ode"] = float(cm_s[-1]), float(cm_o[-1])
        c[f"case{k}_common_sgd_std"] = float(a[f"case{k}_common_sgd_seeds"][:, -1].std())
        c[f"case{k}_common0"] = float(cm_o[0])
        c[f"case{k}_loss_sgd_end"] = float(a[f"case{k}_loss_sgd"][-1])
        c[f"case{k}_loss_ode_end"] = float(a[f"case{k}_loss_ode"][-1])
        # snap time: mean of the seeds' snap times, and of the seed-mean trajectory
        c[f"case{k}_snap_sgd_runs"] = float(np.mean([snap_time(x, ts) for x in cseeds]))
        c[f"case{k}_snap_sgd"] = snap_time(cs, ts)
        c[f"case{k}_snap_ode"] = snap_time(co, ts)
        # distinct-token order: tau of the final logits (SGD: mean over seeds)
        c[f"case{k}_tau_sgd"] = float(np.mean([tau(z) for z in a[f"case{k}_z_sgd_seeds"]]))
        c[f"case{k}_tau_ode"] = tau(a[f"case{k}_z_ode"])
        c[f"case{k}_same_order"] = bool(
            np.array_equal(np.argsort(cs[-1, 0, dist0]), np.argsort(co[-1, 0, dist0]))
        )
    c["ratio_order_kept"] = bool(
        c["case1_common_sgd"] > c["case0_common_sgd"]
        and c["case1_common_ode"] > c["case0_common_ode"]
    )
    # the plain-SGD control never leaves the scan phase: its c still moves at the end
    c["case2_drop_pct_of_momentum"] = 100 * (
        (c["case2_common0"] - c["case2_common_sgd"]) / (c["case0_common0"] - c["case0_common_sgd"])
    )
    return c


if __name__ == "__main__":
    run_script(main, __doc__, Path(__file__).resolve().parent)
