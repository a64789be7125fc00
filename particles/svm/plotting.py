"""Matplotlib drawings of the Att-SVM experiments; each function draws on given axes."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_e1", "plot_e2", "plot_e3", "plot_e4", "plot_e5"]

_SEQ_COLORS = ["tab:blue", "tab:orange"]


def plot_e1(axes, a: dict, radius: float = 2.0) -> None:
    """E1: tokens (star = optimal), SVM rays along W^mm z_i (solid) / W^mm_* z_i (dashed), and
    the normalised GD paths radius * W(k) z_i / |W(k)|_F, which must end on the points
    radius * W^mm z_i / |W^mm|_F (circle / square); axes[0] W-param, axes[1] (K,Q)-param."""
    X, z, opt = a["X"], a["z"], a["opt"]
    for ax, key, title, target in (
        (axes[0], "Ws_W", "W-parameterisation", "W_mm"),
        (axes[1], "Ws_KQ", "(K,Q)-parameterisation", "W_nuc"),
    ):
        Ws = a[key]
        nrm = np.linalg.norm(Ws, axis=(1, 2))
        ok = nrm > 0
        Wn = Ws[ok] / nrm[ok][:, None, None]
        for i in range(X.shape[0]):
            c = _SEQ_COLORS[i % 2]
            others = [t for t in range(X.shape[1]) if t != opt[i]]
            ax.scatter(X[i, others, 0], X[i, others, 1], color=c, s=40, zorder=3)
            ax.scatter(*X[i, opt[i]], color=c, marker="*", s=250, edgecolor="k", zorder=4)
            for tgt, lstyle, mk in (("W_mm", "-", "o"), ("W_nuc", "--", "s")):
                W = a[tgt]
                ray = W @ z[i]
                far = 100 * ray / np.linalg.norm(ray)
                ax.plot([0, far[0]], [0, far[1]], color=c, ls=lstyle, lw=1.2, alpha=0.8)
                end = radius * ray / np.linalg.norm(W)
                ax.scatter(*end, marker=mk, s=70, facecolor="none", edgecolor=c, lw=1.5, zorder=5)
            traj = radius * (Wn @ z[i])  # (k, 2)
            ax.plot(traj[:, 0], traj[:, 1], color=c, lw=1.3)
            for k in (5, 30, 200):
                if k < len(traj):
                    ax.annotate(
                        "",
                        xy=traj[k],
                        xytext=traj[k - 1],
                        arrowprops={"arrowstyle": "-|>", "color": c, "lw": 1.2},
                    )
        ax.plot([], [], color="gray", lw=1.3, label=rf"GD path ${radius:g}\,W(k)z_i/\|W(k)\|$")
        ax.plot(
            [], [], color="gray", ls="-", marker="o", mfc="none", label=r"$W^{mm}z_i$ (Frobenius)"
        )
        ax.plot(
            [],
            [],
            color="gray",
            ls="--",
            marker="s",
            mfc="none",
            label=r"$W^{mm}_\star z_i$ (nuclear)",
        )
        ax.set_xlim(-2.6, 2.6)
        ax.set_ylim(-2.6, 2.6)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.5, zorder=0)
        ax.axvline(0, color="0.85", lw=0.5, zorder=0)
        corr = float(np.squeeze(a["corr_" + key[3:]]))
        lab = r"W^{mm}" if target == "W_mm" else r"W^{mm}_\star"
        ax.set_title(f"{title}: corr$(W(k), {lab})$ = {corr:.4f}")
        ax.set_xlabel("coordinate 1")
        ax.set_ylabel("coordinate 2")
        ax.legend(loc="lower left", fontsize=8)


def _band(ax, x, y, color, label, ls="-"):
    m, s = y.mean(1), y.std(1)
    ax.plot(x, m, color=color, ls=ls, label=label)
    ax.fill_between(x, m - s, m + s, color=color, alpha=0.2, lw=0)


def plot_e2(axes, a: dict, meta: dict | None = None, *, table_ax=None) -> None:
    """E2 on a log iteration axis (step 0 left out): (a) mean max softmax probability, (b)
    correlation with the SVM targets of the final alpha, mean +- std, (c) 1 - corr with the own
    target, median and 10-90 % band; (d) when a fourth axes is given, 1 - corr against the norm.
    The summary of ``meta`` goes into ``table_ax`` (turned off) when given, else into panel (b).
    The dashed vertical line marks the checkpoint (the paper's
    2000 steps) at which E2 is also summarised."""
    it = a["iters"]
    keep = it >= 1
    x = it[keep]
    ck = int(a["stages"][0]) if "stages" in a else None
    joint = "corr_nuc_KQj" in a  # (K,Q) normalised jointly (absent from older files)
    ax = axes[0]
    _band(ax, x, a["maxprob_W"][keep], "tab:blue", "W")
    _band(ax, x, a["maxprob_KQ"][keep], "tab:red", "(K,Q)")
    if joint:
        _band(ax, x, a["maxprob_KQj"][keep], "tab:purple", "(K,Q), joint normalisation")
    ax.set_ylabel(r"mean$_i$ max$_t$ softmax $s_{it}$")
    ax.set_title("(a) softmax probability of the selected token")
    ax.legend(loc="lower right")
    ax = axes[1]
    _band(ax, x, a["corr_fro_W"][keep], "tab:blue", r"W vs $W^{mm}_\alpha$")
    _band(ax, x, a["corr_nuc_KQ"][keep], "tab:red", r"(K,Q) vs $W^{mm}_{\star,\alpha}$")
    _band(ax, x, a["corr_nuc_W"][keep], "tab:blue", r"W vs $W^{mm}_{\star,\alpha}$", ls=":")
    _band(ax, x, a["corr_fro_KQ"][keep], "tab:red", r"(K,Q) vs $W^{mm}_\alpha$", ls=":")
    if joint:
        _band(
            ax,
            x,
            a["corr_nuc_KQj"][keep],
            "tab:purple",
            r"(K,Q) joint norm. vs $W^{mm}_{\star,\alpha}$",
        )
    ax.axhline(0.99, color="0.5", lw=0.6)
    ax.set_ylabel("correlation coefficient")
    ax.set_title("(b) correlation with the Att-SVM solutions (mean ± std)")
    ax.set_ylim(-0.1, 1.02)
    ax.legend(fontsize=8, loc="center right")
    ax = axes[2]
    curves = [
        ("corr_fro_W", "tab:blue", r"W: $1-$corr$(W, W^{mm}_\alpha)$"),
        ("corr_nuc_KQ", "tab:red", r"(K,Q): $1-$corr$(W, W^{mm}_{\star,\alpha})$"),
    ]
    if joint:
        curves.append(("corr_nuc_KQj", "tab:purple", "(K,Q), joint normalisation"))
    for key, c, lab in curves:
        y = np.maximum(1.0 - a[key][keep], 1e-8)
        lo, med, hi = np.percentile(y, [10, 50, 90], axis=1)
        ax.loglog(x, med, color=c, label=lab + " (median)")
        ax.fill_between(x, lo, hi, color=c, alpha=0.2, lw=0)
    ax.axhline(0.01, color="0.5", lw=0.6)
    ax.set_ylabel(r"$1 -$ correlation")
    ax.set_title("(c) distance to its own SVM (median, 10–90 % band)")
    ax.legend(fontsize=8, loc="lower left")
    if meta is not None and "summary" in meta:
        sm = meta["summary"]
        txt = []
        for p, lab in (("W", "W"), ("KQ", "(K,Q)"), ("KQj", "(K,Q) joint")):
            if p not in sm:
                continue
            for st in ("checkpoint", "final", "continued"):
                if st not in sm[p]:
                    continue
                q = sm[p][st]
                if st == "continued":
                    e = int(np.floor(np.log10(q["norm_median"])))
                    at = rf"$\|W\|_F=10^{{{e}}}$"
                else:
                    at = f"step {q['step']}"
                txt.append(
                    f"{lab}, {at}: {100 * q['frac_corr_ge_0.99']:.0f} % with corr $\\geq$ 0.99,"
                    f" {100 * q['frac_locally_optimal']:.0f} % locally optimal"
                )
        if table_ax is not None:
            table_ax.axis("off")
            half = (len(txt) + 1) // 2
            for col, part in enumerate((txt[:half], txt[half:])):
                table_ax.text(
                    0.0 + 0.5 * col,
                    1.0,
                    "\n".join(part),
                    transform=table_ax.transAxes,
                    ha="left",
                    va="top",
                    fontsize=9,
                )
        else:
            axes[1].text(
                0.98,
                0.03,
                "\n".join(txt),
                transform=axes[1].transAxes,
                ha="right",
                va="bottom",
                fontsize=7.5,
                bbox={"facecolor": "white", "alpha": 0.85, "lw": 0},
            )
    for ax in axes[:3]:
        ax.set_xscale("log")
        ax.set_xlabel("iteration")
        if ck is not None:
            ax.axvline(ck, color="k", ls="--", lw=0.7)
    if len(axes) > 3:
        plot_e2_norm(axes[3], a)


def plot_e2_norm(ax, a: dict) -> None:
    """E2 (d): 1 - corr with the own SVM against |W|_F, the natural clock of the direction.
    Medians over runs (at each recorded step, median norm vs median 1 - corr); thin lines: each
    jointly normalised (K,Q) run, including its continuation along the same path."""
    keep = a["iters"] >= 1
    runs = [("W", "corr_fro_W", "tab:blue", "W"), ("KQ", "corr_nuc_KQ", "tab:red", "(K,Q)")]
    if "corr_nuc_KQj" in a:
        runs.append(("KQj", "corr_nuc_KQj", "tab:purple", "(K,Q), joint normalisation"))
    for p, key, c, lab in runs:
        y = np.maximum(1.0 - a[key][keep], 1e-8)
        nrm = a[f"norm_{p}"][keep]
        if p == "KQj" and "cont_corr_nuc_KQj" in a:
            y = np.concatenate([y, np.maximum(1.0 - a["cont_corr_nuc_KQj"][1:], 1e-8)])
            nrm = np.concatenate([nrm, a["cont_norm_KQj"][1:]])
            ax.loglog(nrm, y, color=c, lw=0.3, alpha=0.25)
        ax.loglog(np.median(nrm, axis=1), np.median(y, axis=1), color=c, lw=2, label=lab)
    ax.axhline(0.01, color="0.5", lw=0.6)
    ax.set_xlabel(r"$\|W\|_F$")
    ax.set_ylabel(r"$1 -$ correlation with its own SVM")
    ax.set_title("(d) against the norm (median; thin: each joint run)")
    ax.legend(fontsize=8, loc="lower left")


def plot_e3(axes, a: dict) -> None:
    """E3: mean rank of W^mm (solid) and W^mm_* (dashed) vs d; left varying n, right varying T."""
    dims, settings = a["dims"], a["settings"]
    groups = (
        (axes[0], [k for k, (n, T) in enumerate(settings) if T == 5], "n", 0),
        (axes[1], [k for k, (n, T) in enumerate(settings) if n == 5], "T", 1),
    )
    for ax, rows, lab, col in groups:
        for j, k in enumerate(rows):
            c = f"C{j}"
            val = settings[k][col]
            ax.plot(dims, a["rank_fro"][k], "o-", color=c, label=f"{lab} = {val}, Frobenius")
            ax.plot(dims, a["rank_nuc"][k], "s--", color=c, label=f"{lab} = {val}, nuclear")
        ax.set_xlabel("dimension d")
        ax.set_ylabel("mean rank over 100 feasible seeds")
        fixed = "T = 5" if lab == "n" else "n = 5"
        ax.set_title(f"{'(a)' if col == 0 else '(b)'} {fixed}, {lab} varies")
        ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.14))


def plot_e4(axes_top, axes_bottom, a: dict) -> None:
    """E4: 1 - corr of W(k) with W^SVMeq (solid), W^mm(O) (dotted), W^1token (dashed), mean
    over accepted runs (log scale); bottom: largest unselected softmax value vs final 1 - corr."""
    for j, d in enumerate(a["dims"]):
        ax = axes_top[j]
        it = a[f"iters_d{d}"]
        for key, ls, lab in (
            ("eq", "-", r"$W^{SVMeq}$"),
            ("dir", ":", r"$W^{mm}(\mathcal{O})$"),
            ("one", "--", r"$W^{1token}$"),
        ):
            y = a[f"{key}_d{d}"]
            if y.size:
                ax.semilogy(it, np.maximum(y.mean(0), 1e-16), ls=ls, color="k", label=lab)
        ax.set_title(f"d = {d} ({a[f'seed_d{d}'].size} runs)")
        ax.set_xlabel("iteration")
        if j == 0:
            ax.set_ylabel(r"$1 -$ correlation (mean over runs)")
            ax.legend(fontsize=8)
        ax = axes_bottom[j]
        y = a[f"eq_d{d}"]
        if y.size:
            ax.loglog(a[f"leak_d{d}"], np.maximum(y[:, -1], 1e-16), ".", ms=3)
        ax.set_xlabel(r"max$_{i,\tau\notin\mathcal{O}_i} s_{i\tau}$")
        if j == 0:
            ax.set_ylabel(r"final $1 -$ corr. with $W^{SVMeq}$")


def plot_e5(ax, a: dict) -> None:
    """E5: stacked fractions of runs converging to the global SVM, a local SVM, or neither."""
    dims = a["dims"]
    frac = a["fractions"]
    x = np.arange(len(dims))
    bottom = np.zeros(len(dims))
    for k, (lab, c) in enumerate(
        (
            ("global: $W^{mm}$", "tab:green"),
            ("local: $W^{mm}_\\alpha$", "tab:orange"),
            ("neither", "0.7"),
        )
    ):
        ax.bar(x, frac[:, k], bottom=bottom, color=c, label=lab, width=0.7)
        bottom += frac[:, k]
    ax.set_xticks(x, [str(d) for d in dims])
    ax.set_xlabel("dimension d")
    ax.set_ylabel("fraction of GD runs")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=8)
