"""Matplotlib drawings of the Att-SVM experiments; each function draws on given axes."""

from __future__ import annotations

import numpy as np

__all__ = [
    "draw_experiment",
    "experiment_figure",
    "plot_e1",
    "plot_e2",
    "plot_e3",
    "plot_e4",
    "plot_e5",
    "plot_local_global",
]

_SEQ_COLORS = ["tab:blue", "tab:orange"]


def _path(ax, traj, arrows, *, color, lw) -> None:
    """A GD path ``traj`` (k, 2) with direction arrows at the steps ``arrows`` (those < k)."""
    ax.plot(traj[:, 0], traj[:, 1], color=color, lw=lw)
    for k in arrows:
        if k < len(traj):
            ax.annotate(
                "",
                xy=traj[k],
                xytext=traj[k - 1],
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.2},
            )


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
            _path(ax, traj, (5, 30, 200), color=c, lw=1.3)
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


def _hyperplane(ax, u, level, lim, **kw):
    """The line {x : <x, u> = level} in the square [-lim, lim]^2."""
    nu = float(np.dot(u, u))
    x0 = u * level / nu
    perp = np.array([-u[1], u[0]]) / np.sqrt(nu)
    t = np.linspace(-4 * lim, 4 * lim, 2)
    ax.plot(x0[0] + t * perp[0], x0[1] + t * perp[1], **kw)


def plot_local_global(axes, a: dict, meta: dict | None = None, radius: float = 2.0) -> None:
    """The local/global picture: axes[0] a GD run converging to the global W^mm, axes[1] one
    converging to a locally optimal W^mm_alpha; tokens (star: the optimal token of each
    sequence, ring: the token the run selects, numbers: scores gamma_it = Y_i v^T x_it), for each
    sequence the max-margin hyperplane {x : x^T W z_i = x_{i alpha_i}^T W z_i - 1/2} (solid) and
    the margins at 0 and -1 (dotted), the direction W z_i (dashed ray) and the normalised GD path
    radius * W(k) z_i / |W(k)|_F (thin, arrows). axes[2]: the runs' correlations over the steps."""
    X, z, opt, v, Y = a["X"], a["z"], a["opt"], a["v"], a["Y"]
    lim = 2.5
    for ax, name, tag in ((axes[0], "global", "(a)"), (axes[1], "local", "(b)")):
        if f"W_{name}" not in a:
            ax.set_axis_off()
            ax.set_title(f"{tag} no run reached a {name} Att-SVM")
            continue
        W, alpha, Ws = a[f"W_{name}"], a[f"alpha_{name}"], a[f"Ws_{name}"]
        for i in range(X.shape[0]):
            c = _SEQ_COLORS[i % 2]
            others = [t for t in range(X.shape[1]) if t != opt[i]]
            ax.scatter(X[i, others, 0], X[i, others, 1], color=c, s=40, zorder=3)
            ax.scatter(*X[i, opt[i]], color=c, marker="*", s=260, edgecolor="k", zorder=4)
            ax.scatter(*X[i, alpha[i]], s=420, facecolor="none", edgecolor="k", lw=1.4, zorder=5)
            pts = X.reshape(-1, 2)
            for t in range(X.shape[1]):
                # the label away from the nearest other token, outside the selection ring
                gap = pts - X[i, t]
                dist = np.linalg.norm(gap, axis=1)
                dist[dist == 0] = np.inf
                away = -gap[int(np.argmin(dist))] / dist.min()
                ax.annotate(
                    f"{Y[i] * v @ X[i, t]:.2f}",
                    X[i, t],
                    xytext=tuple(17 * away),
                    textcoords="offset points",
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color=c,
                    zorder=6,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
                )
            u = W @ z[i]
            top = float(X[i, alpha[i]] @ u)
            _hyperplane(ax, u, top - 0.5, lim, color=c, lw=3.0, alpha=0.45)
            for lev in (top, top - 1.0):
                _hyperplane(ax, u, lev, lim, color=c, lw=0.8, ls=":")
            far = 10 * lim * u / np.linalg.norm(u)
            ax.plot([0, far[0]], [0, far[1]], color=c, ls="--", lw=1.0, alpha=0.8)
            nrm = np.linalg.norm(Ws, axis=(1, 2))
            ok = nrm > 0
            traj = radius * (Ws[ok] @ z[i]) / nrm[ok][:, None]
            _path(ax, traj, (2, 10, 40), color=c, lw=1.2)
        base = np.array([-lim + 0.6, -lim + 0.6])
        ax.annotate(
            "",
            xy=base + 0.5 * v,
            xytext=base,
            arrowprops={"arrowstyle": "-|>", "color": "k", "lw": 1.5},
        )
        ax.annotate(
            "head $v$", base, xytext=(0, 6), textcoords="offset points", ha="center", fontsize=8
        )
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.5, zorder=0)
        ax.axvline(0, color="0.85", lw=0.5, zorder=0)
        ax.set_xlabel("coordinate 1")
        ax.set_ylabel("coordinate 2")
        corr = float(a[f"corr_{name}_own"][-1])
        sel = ", ".join(str(int(t) + 1) for t in alpha)
        what = "global: $W^{mm}$" if name == "global" else r"locally optimal: $W^{mm}_\alpha$"
        ax.set_title(
            f"{tag} GD selects tokens ({sel}), {what}\ncorrelation {corr:.4f} after "
            f"{int(a['iters'][-1])} steps",
            fontsize=10,
        )
    ax = axes[2]
    it = a["iters"]
    keep = it >= 1
    for name, c, tag in (("global", "tab:green", "(a)"), ("local", "tab:red", "(b)")):
        if f"W_{name}" not in a:
            continue
        own = r"$W^{mm}$" if name == "global" else r"its $W^{mm}_\alpha$"
        ax.plot(it[keep], a[f"corr_{name}_own"][keep], color=c, label=f"run {tag} vs {own}")
        if name == "local":
            ax.plot(
                it[keep],
                a["corr_local_mm"][keep],
                color=c,
                ls="--",
                label="run (b) vs the global $W^{mm}$",
            )
    ax.axhline(1.0, color="0.6", lw=0.6)
    ax.set_ylim(-0.5, 1.05)
    ax.set_xscale("log")
    ax.set_xlabel("GD step")
    ax.set_ylabel("correlation $\\langle W(k), W\\rangle / (\\|W(k)\\|\\,\\|W\\|)$")
    ax.set_title("(c) convergence in direction", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    from matplotlib.lines import Line2D

    key = [
        Line2D([], [], color="0.3", lw=3.0, alpha=0.45, label="max-margin separating hyperplane"),
        Line2D([], [], color="0.3", lw=0.8, ls=":", label="its margins"),
        Line2D([], [], color="0.3", lw=1.0, ls="--", label=r"direction $W^{mm}_\alpha z_i$"),
        Line2D([], [], color="0.3", lw=1.2, label=rf"GD path ${radius:g}\,W(k)z_i/\|W(k)\|$"),
        Line2D([], [], color="0.3", marker="*", ms=12, mec="k", ls="", label="optimal token"),
        Line2D([], [], marker="o", ms=14, mfc="none", mec="k", ls="", label="token GD selects"),
    ]
    axes[0].figure.legend(handles=key, loc="outside lower center", ncol=6, frameon=False)
    if meta is not None and "fractions" in meta:
        f = meta["fractions"]
        ax.text(
            0.35,
            0.62,
            f"{meta['inits']} random initialisations:\n"
            f"{100 * f['global']:.0f} % reach the global $W^{{mm}}$\n"
            f"{100 * f['local']:.0f} % a local $W^{{mm}}_\\alpha$, {100 * f['neither']:.0f} % neither",
            transform=ax.transAxes,
            va="top",
            fontsize=8,
        )


def draw_experiment(name: str, arrays: dict, meta: dict):
    """The figure of experiment ``name`` ("E1".."E5", "LG") from its arrays and meta (as
    :func:`particles.svm.experiments.run_experiment` returns them, or as saved in its npz): a
    pyplot-free Agg Figure with a constrained layout."""
    from ..errors import ParticlesError
    from ..plotting import new_figure

    key = str(name).upper()
    if key == "E1":
        fig = new_figure((11, 5.8), layout="constrained")
        plot_e1(fig.subplots(1, 2), arrays)
        fig.suptitle(
            "arXiv 2308.16898, Fig. 1: the GD path of the attention weights turns onto the "
            "Att-SVM directions (n = 2, T = 3, d = 2)"
        )
    elif key == "E2":
        if "corr_nuc_KQj" in arrays:  # four panels and the summary table below
            fig = new_figure((12, 10.8), layout="constrained")
            axes = fig.subplots(3, 2, gridspec_kw={"height_ratios": [1, 1, 0.2]})
            for ax in axes[2, 1:]:
                ax.remove()
            table = fig.add_subplot(axes[2, 0].get_gridspec()[2, :])
            axes[2, 0].remove()
            plot_e2(axes[:2].ravel(), arrays, meta, table_ax=table)
        else:  # older files: three panels
            fig = new_figure((15, 4.9), layout="constrained")
            plot_e2(fig.subplots(1, 3), arrays, meta)
        S = arrays["maxprob_W"].shape[1]
        fig.suptitle(
            f"Local convergence of normalised GD (lr {meta.get('lr', 0.1):g}), n = {meta['n']}, "
            f"T = {meta['T']}, d = {meta['d']}, {S} seeds, {meta['iters']} steps "
            f"(dashed: step {meta['checkpoint']}, the paper's length)"
        )
    elif key == "E3":
        fig = new_figure((11, 4.9), layout="constrained")
        plot_e3(fig.subplots(1, 2), arrays)
        fig.suptitle(
            r"Rank of the Att-SVM solutions $W^{mm}$ (Frobenius, solid) and $W^{mm}_\star$"
            rf" (nuclear, dashed); rank = #{{$\sigma_i > 10^{{{int(np.log10(meta['rtol']))}}}"
            r"\,\sigma_1$}"
        )
    elif key == "E4":
        nd = len(arrays["dims"])
        fig = new_figure((3.3 * nd + 1, 6.5), layout="constrained")
        axes = fig.subplots(2, nd, squeeze=False)
        plot_e4(axes[0], axes[1], arrays)
        fig.suptitle("Nonlinear head, n = 3, T = 4: GD against the generalised SVM equivalence")
    elif key == "E5":
        fig = new_figure((6.5, 4.4), layout="constrained")
        ax = fig.subplots()
        plot_e5(ax, arrays)
        ax.set_title(
            f"Where GD converges (n = {meta['n']}, T = {meta['T']}, {meta['runs_per_d']} runs"
            f" per d,\nconverged: correlation > {meta['threshold']})"
        )
    elif key == "LG":
        fig = new_figure((16, 5.6), layout="constrained")
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 0.9]})
        plot_local_global(axes, arrays, meta)
        fig.suptitle(
            "arXiv 2308.16898: normalised GD on W converges in direction to a max-margin token "
            "selection, global or only locally optimal (n = 2, T = 5, d = 2; "
            "numbers: token scores $\\gamma_{it} = Y_i v^T x_{it}$)"
        )
    else:
        raise ParticlesError(f"unknown experiment {name!r}; choose from E1..E5, LG")
    return fig


def experiment_figure(
    name: str,
    outdir,
    stem: str,
    *,
    quick: bool = False,
    progress: bool | None = None,
    redraw: bool = False,
    **options,
):
    """Run experiment ``name`` (``options`` as :func:`.experiments.run_experiment`) and write
    ``<outdir>/<stem>.png`` and ``.npz``; with ``redraw``, draw the PNG again from the saved npz,
    computing nothing. ``progress``: a progress bar (default: unless ``quick``). Returns the PNG."""
    from ..plotting.figures import read_figure, write_figure, write_png
    from .experiments import FIGURE_FORMAT, run_experiment

    if redraw:
        arrays, meta = read_figure(outdir, stem, FIGURE_FORMAT)
        return write_png(outdir, stem, draw_experiment(name, arrays, meta))
    progress = not quick if progress is None else progress
    arrays, meta = run_experiment(name, quick=quick, progress=progress, **options)
    return write_figure(outdir, stem, draw_experiment(name, arrays, meta), arrays, meta)
