"""Below κ_c, the fluctuations of the order parameter of the noisy particle system on the circle:
E r² = (1/n) / (1 − κ/κ_c), to leading order in 1/n (derived here: linearised about the uniform
state, the mode c_1 = mean_j e^{iθ_j} is an Ornstein–Uhlenbeck process with rate |λ_1| = 1/κ − 1/κ_c
driven by noise of variance 2/(κ n) per unit time). κ_c(β) is the linear-stability threshold of
:mod:`particles.meanfield.linear` (on the circle β/I_1(β) for USA, β I_0(β)/I_1(β) for SA;
arXiv 2606.05140's USA threshold K_# is κ_c/2 in that paper's normalisation of the coupling).

d = 2, identity weights, β = 1, USA (κ_c = 1.769) and SA (κ_c = 2.240). n = 50, 200, 1000 particles
(:func:`particles.meanfield.circle_particles`: Heun, exact Brownian increments on the angle, O(n K)
per step), from i.i.d. uniform angles, at κ/κ_c = 0.3, 0.5, 0.7, 0.8, 0.9. With
τ = 1/(2|λ_1|) the correlation time of r² (λ_1 = 1/κ_c − 1/κ, the rate of mode 1), each of 3 runs
per point relaxes for 6τ, then r² = |mean_j e^{iθ_j}|² is averaged over 80τ (saved every τ/4);
dt = min(0.1, 0.05 κ). Error bars: the standard error of the means of the 12 blocks of 20τ (4 per
run). (a) n E r² against κ/κ_c with the law 1/(1 − κ/κ_c); (b) the ratio to the law against
n (1 − κ/κ_c)²: the linear theory needs the fluctuation r² ~ 1/(n (1 − κ/κ_c)) to be small against
the distance 1 − κ/κ_c to the threshold, where the cubic term of the mean-field equation
(:func:`particles.meanfield.landau_coefficient`) takes over; below 1 for a supercritical L < 0. ``--quick``: n = 50, κ/κ_c ≤ 0.7, fewer and shorter runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles import meanfield as mf
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main

HERE = Path(__file__).resolve().parent
KINDS = ("USA", "SA")
FRACS = (0.3, 0.5, 0.7, 0.8, 0.9)
BLOCK, BLOCKS_PER_RUN, BURN = 20.0, 4, 6.0  # in units of tau


def compute(quick: bool = False) -> tuple[dict, dict]:
    beta = 1.0
    ns = (50,) if quick else (50, 200, 1000)
    runs = 2 if quick else 3
    per_run = (2 if quick else BLOCKS_PER_RUN) * BLOCK
    fracs = np.array(FRACS[:3] if quick else FRACS)
    data: dict = {"ns": np.array(ns), "fracs": fracs}
    meta: dict = {"beta": beta, "runs": runs, "block_tau": BLOCK, "burn_tau": BURN}
    seed = 0
    for kind in KINDS:
        kc = mf.critical_kappa(beta, 2, kind)
        data[f"kappa_c_{kind}"] = np.array(kc)
        for n in ns:
            blocks = []
            for f in fracs:
                kappa = f * kc
                tau = 1.0 / (2.0 * (1.0 / kappa - 1.0 / kc))
                dt = min(0.1, 0.05 * kappa)
                t_end = (BURN + per_run) * tau
                save = BURN * tau + np.arange(0.0, per_run * tau + 1e-9, tau / 4)
                bl = []
                for _ in range(runs):
                    th0 = np.random.default_rng(10_000 + seed).uniform(0, 2 * np.pi, n)
                    p = mf.circle_particles(
                        th0, beta, kappa, t_end, kind=kind, dt=dt, rng=seed, save_at=save,
                        modes=1, keep=False,
                    )  # fmt: skip
                    seed += 1
                    r2 = p.r[1:] ** 2  # drop the first save (the block edge)
                    bl.append(r2.reshape(-1, int(round(BLOCK * 4))).mean(axis=1))
                blocks.append(np.concatenate(bl))
            data[f"blocks_{kind}_n{n}"] = np.array(blocks)  # (fracs, blocks)
            meta[f"tau_{kind}"] = [1.0 / (2.0 * (1.0 / (f * kc) - 1.0 / kc)) for f in fracs]
    return data, meta


def _stats(a: dict, kind: str, n: int):
    """(n E r², its standard error, the law 1/(1 - κ/κ_c)) per κ/κ_c."""
    b = a[f"blocks_{kind}_n{n}"] * n
    mean = b.mean(axis=1)
    se = b.std(axis=1, ddof=1) / np.sqrt(b.shape[1])
    return mean, se, 1.0 / (1.0 - a["fracs"])


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((12, 4.5))
    axa, axb = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    f = data["fracs"]
    ff = np.linspace(0.0, 0.93, 200)
    axa.plot(ff, 1.0 / (1.0 - ff), "k-", lw=1, label="1 / (1 − κ/κ_c)")
    for kind, mk in zip(KINDS, ("o", "s"), strict=True):
        for i, n in enumerate(data["ns"]):
            m, se, law = _stats(data, kind, int(n))
            dx = (i - 1) * 0.006 + (0.002 if kind == "SA" else -0.002)
            lab = f"{kind}, n = {int(n)}"
            axa.errorbar(f + dx, m, se, fmt=mk, color=f"C{i}", mfc="none" if kind == "SA" else None,
                         ms=5, capsize=2, label=lab)  # fmt: skip
            x = int(n) * (1.0 - f) ** 2
            axb.errorbar(x, m / law, se / law, fmt=mk, color=f"C{i}",
                         mfc="none" if kind == "SA" else None, ms=5, capsize=2, label=lab)  # fmt: skip
    axa.set_xlabel("κ / κ_c")
    axa.set_ylabel("n ⟨r²⟩ (time average)")
    axa.set_title("(a) fluctuations of r below κ_c")
    axa.legend(fontsize=7.5, ncol=2)
    axb.axhline(1, color="k", lw=1)
    axb.set_xscale("log")
    axb.set_xlabel("n (1 − κ/κ_c)²")
    axb.set_ylabel("n ⟨r²⟩ (1 − κ/κ_c)  (1 = the law)")
    axb.set_title("(b) ratio to the law against n (1 − κ/κ_c)²")
    axb.legend(fontsize=7.5, ncol=2)
    nb = data[f"blocks_{KINDS[0]}_n{int(data['ns'][0])}"].shape[1]
    fig.suptitle(
        f"Noisy particles on the circle, β = {meta['beta']:g}, identity weights: "
        f"E r² = (1/n)/(1 − κ/κ_c) (κ_c = {float(data['kappa_c_USA']):.3f} USA, "
        f"{float(data['kappa_c_SA']):.3f} SA)\npoints: time averages, bars: ±1 standard error "
        f"from {nb} blocks of {meta['block_tau']:g} correlation times",
        fontsize=10,
    )
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    c: dict = {
        "kappa_c_USA": float(mf.critical_kappa(meta["beta"], 2, "USA")),
        "kappa_c_SA": float(mf.critical_kappa(meta["beta"], 2, "SA")),
        "points": 0,
    }
    dev, z, se_rel = [], [], []
    for kind in KINDS:
        for n in a["ns"]:
            m, se, law = _stats(a, kind, int(n))
            dev.append(np.abs(m / law - 1))
            z.append(np.abs(m - law) / se)
            se_rel.append(se / m)
            c["points"] += int(m.size)
            c[f"dev_pct_{kind}_n{int(n)}"] = float(100 * np.abs(m / law - 1).max())
    dev, z, se_rel = np.concatenate(dev), np.concatenate(z), np.concatenate(se_rel)
    x = np.concatenate([int(n) * (1.0 - a["fracs"]) ** 2 for _ in KINDS for n in a["ns"]])
    far = x >= 5.0  # where the linear fluctuations are small against 1 - κ/κ_c
    ratio = np.concatenate([_stats(a, k, int(n))[0] / _stats(a, k, int(n))[2] for k in KINDS
                            for n in a["ns"]])  # fmt: skip
    c["far_points"], c["near_points"] = int(far.sum()), int((~far).sum())
    c["max_dev_pct_far"] = float(100 * np.max(dev[far], initial=0.0))
    c["max_z_far"] = float(np.max(z[far], initial=0.0))
    c["far_within_2se"] = int((z[far] <= 2).sum())
    c["max_dev_pct_near"] = float(100 * np.max(dev[~far], initial=0.0))
    c["near_below_law"] = bool(np.all(ratio[~far] < 1.0))
    c["min_ratio_near"] = float(np.min(ratio[~far], initial=np.inf))
    c["max_dev_pct"] = float(100 * dev.max())
    c["max_z"] = float(z.max())
    c["within_2se"] = int((z <= 2).sum())
    c["median_se_pct"] = float(100 * np.median(se_rel))
    c["n_max"] = int(a["ns"][-1])
    c["blocks"] = int(a[f"blocks_USA_n{int(a['ns'][0])}"].shape[1])
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
