"""The (β, κ) phase diagram of the noisy model on the circle (d = 2, identity weights), SA and USA,
from the mean-field theory of :mod:`particles.meanfield` (the noisy transformer of arXiv 2512.01868
§7; conventions in particles.meanfield).

Lines: κ_c(β), where the uniform state loses stability through mode 1 (:func:`critical_kappa`; on
the circle β/I_1(β) for USA, β I_0(β)/I_1(β) for SA, both → d = 2 as β → 0), and κ_2, κ_3, where modes
2 and 3 become unstable (:func:`critical_kappas`). USA above β_* = 2.447 (the root of
I_2(β)/I_1(β) = 1/2, :func:`beta_star`; Mun–Rosenzweig arXiv 2606.05140, abstract, and arXiv
2604.16288 for d = 2): the one-cluster branch is subcritical, with a fold κ_f < κ_c (the smallest κ
of :func:`stationary_branch`, 200 points in r up to 0.95, so κ_f is the branch's grid minimum) and
the first-order κ_1 where the stable branch's free energy equals the uniform state's
(:func:`first_order_kappa`); the uniform state and one cluster are both stable for κ_f < κ < κ_c.
SA: the branch is supercritical at every β (its Landau coefficient stays negative), its fold is
κ_c. (a) USA, (b) SA, κ on a log scale; (c) κ_f/κ_c and κ_1/κ_c against β (USA), and the SA
branch's κ_f/κ_c.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles import meanfield as mf
from particles.errors import ParticlesError
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main

HERE = Path(__file__).resolve().parent
KINDS = ("USA", "SA")


def compute(quick: bool = False) -> tuple[dict, dict]:
    d = 2
    betas = np.geomspace(0.05, 12.0, 200)
    bstar = mf.beta_star(d, "USA")
    data: dict = {"betas": betas, "beta_star": np.array(bstar)}
    for kind in KINDS:
        data[f"kappas_{kind}"] = mf.critical_kappas(betas, d, kind, modes=3)  # (beta, 3)
    nb = 6 if quick else 28
    bb = np.geomspace(0.3, 12.0, nb)
    data["branch_betas"] = bb
    for kind in KINDS:
        fold, first, kc = np.full(nb, np.nan), np.full(nb, np.nan), np.full(nb, np.nan)
        for i, b in enumerate(bb):
            br = mf.stationary_branch(b, d, kind, points=60 if quick else 200)
            fold[i], kc[i] = br.fold[0], br.meta["kappa_c"]
            if kind == "USA":
                try:
                    first[i] = mf.first_order_kappa(br)
                except ParticlesError:  # no crossing resolved on the branch's grid
                    pass
        data[f"fold_{kind}"], data[f"kappa_c_branch_{kind}"] = fold, kc
        if kind == "USA":
            data["first_USA"] = first
    return data, {"d": d, "branch_points": 60 if quick else 200, "branch_r_max": 0.95}


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((14, 4.4))
    axs = [fig.add_subplot(1, 3, k) for k in (1, 2, 3)]
    b, bb, bs = data["betas"], data["branch_betas"], float(data["beta_star"])
    for ax, kind in zip(axs[:2], KINDS, strict=True):
        K = data[f"kappas_{kind}"]
        ax.semilogy(b, K[:, 0], "k-", lw=2, label="κ_c (mode 1)")
        ax.semilogy(b, K[:, 1], "C7--", lw=1, label="κ_2 (mode 2)")
        ax.semilogy(b, K[:, 2], "C7:", lw=1, label="κ_3 (mode 3)")
        sub = data[f"fold_{kind}"] < data[f"kappa_c_branch_{kind}"]
        if sub.any():  # SA: the branch is supercritical, no fold below κ_c
            ax.semilogy(bb[sub], data[f"fold_{kind}"][sub], "C3o-", ms=3, lw=1, label="fold κ_f")
        if kind == "USA":
            ok = sub & np.isfinite(data["first_USA"])
            ax.semilogy(
                bb[ok], data["first_USA"][ok], "C0s-", ms=3, lw=1, label="κ_1 (first order)"
            )
            ax.axvline(bs, color="C2", lw=1, ls="-.", label=f"β_* = {bs:.3f}")
            # the fold relative to κ_c, 1 at β_*, interpolated in β (κ_c itself is exact)
            xs = np.concatenate([[bs], bb[sub]])
            ys = np.concatenate(
                [[1.0], data["fold_USA"][sub] / data[f"kappa_c_branch_{kind}"][sub]]
            )
            lo = np.interp(b, xs, ys) * K[:, 0]
            ax.fill_between(b, lo, K[:, 0], where=b >= bs, color="C3", alpha=0.15, lw=0,
                            label="bistable: κ_f < κ < κ_c")  # fmt: skip
        ax.set_xlabel("β")
        ax.set_ylabel("κ (inverse noise)")
        ax.set_title(
            f"({'a' if kind == 'USA' else 'b'}) {kind}: uniform below κ_c, clustered above"
        )
        ax.legend(fontsize=7.5)
    ax = axs[2]
    kc = data["kappa_c_branch_USA"]
    ax.plot(bb, data["fold_USA"] / kc, "C3o-", ms=3, label="USA κ_f / κ_c")
    ax.plot(bb, data["first_USA"] / kc, "C0s-", ms=3, label="USA κ_1 / κ_c")
    ax.plot(bb, data["fold_SA"] / data["kappa_c_branch_SA"], "C1^-", ms=3, label="SA κ_f / κ_c")
    ax.axvline(bs, color="C2", lw=1, ls="-.")
    ax.set_xscale("log")
    ax.set_xlabel("β")
    ax.set_ylabel("κ / κ_c")
    ax.set_title("(c) the bistable window, relative to κ_c")
    ax.legend(fontsize=7.5)
    fig.suptitle(
        "Phase diagram of the noisy model on the circle (d = 2, mean-field theory)", fontsize=10
    )
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    b, bb, bs = a["betas"], a["branch_betas"], float(mf.beta_star(2, "USA"))
    c: dict = {"beta_star": bs, "beta_min": float(b[0]), "beta_max": float(b[-1])}
    for kind in KINDS:
        K = a[f"kappas_{kind}"]
        c[f"kappa_c_beta_min_{kind}"] = float(K[0, 0])
        c[f"kappa_c_beta_max_{kind}"] = float(K[-1, 0])
        c[f"modes_ordered_{kind}"] = bool(np.all(K[:, 0] < K[:, 1]) and np.all(K[:, 1] < K[:, 2]))
    kc = a["kappa_c_branch_USA"]
    sub = a["fold_USA"] < kc * (1 - 1e-9)
    c["usa_sub_beta_min"] = float(bb[sub].min())  # first branch β with a fold below κ_c
    c["usa_super_beta_max"] = float(bb[~sub].max())
    c["usa_fold_below_bstar"] = bool(np.all(bb[~sub] < bs) and np.all(bb[sub] > bs))
    i12 = int(np.argmin(np.abs(bb - 12.0)))
    c["usa_fold_ratio_bmax"] = float(a["fold_USA"][i12] / kc[i12])
    c["usa_first_ratio_bmax"] = float(a["first_USA"][i12] / kc[i12])
    ok = sub & np.isfinite(a["first_USA"])
    c["usa_first_between"] = bool(
        np.all(a["fold_USA"][ok] <= a["first_USA"][ok]) and np.all(a["first_USA"][ok] <= kc[ok])
    )
    c["usa_first_resolved"] = int(ok.sum())
    c["usa_sub_count"] = int(sub.sum())
    c["sa_fold_is_kappa_c"] = bool(np.all(a["fold_SA"] >= a["kappa_c_branch_SA"] * (1 - 1e-9)))
    c["branch_betas"] = int(bb.size)
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
