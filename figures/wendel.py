"""arXiv 2312.10794, Thm 6.7 (Wendel): exact hemisphere probability vs Monte Carlo.

For n i.i.d. uniform points on S^{d-1}, P(all in one open hemisphere) = 2^{-(n-1)} sum_{k<d} C(n-1, k)
(1 when d >= n). Curves: the exact value against d for n in {6, 8, 10, 16}; points: Monte-Carlo
estimates with one LP feasibility problem per sample (scipy HiGHS: find w with <x_i, w> >= 1),
``SAMPLES`` = 1000 samples per point (200 in --quick, which also uses fewer (n, d)), seed 0,
error bars +-2 standard errors. Reference values: n=8, d=3 -> 29/128; n=6, d=2 -> 3/16;
n=10, d=4 -> 65/256. The paper has no figure for this theorem; this one checks it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles.analysis import wendel
from particles.plotting import new_figure
from particles.plotting.figures import plot_figure, run_script

HERE = Path(__file__).resolve().parent
SAMPLES = 1000
SEED = 0


def compute(quick: bool = False) -> dict:
    ns = (6, 8) if quick else (6, 8, 10, 16)
    samples = 100 if quick else SAMPLES
    rng = np.random.default_rng(SEED)
    rows = []
    for n in ns:
        ds = range(2, n + 2) if not quick else (2, 3)
        for d in ds:
            p, se = wendel.hemisphere_probability_mc(n, d, samples, rng)
            rows.append((n, d, wendel.wendel_probability(n, d), p, se))
    arr = np.array(rows)
    z = np.where(arr[:, 4] > 0, (arr[:, 3] - arr[:, 2]) / np.where(arr[:, 4] > 0, arr[:, 4], 1), 0)
    return {
        "n": arr[:, 0].astype(int),
        "d": arr[:, 1].astype(int),
        "exact": arr[:, 2],
        "mc": arr[:, 3],
        "stderr": arr[:, 4],
        "z": z,
        "samples": np.array(samples),
    }


def plot(data: dict, path: Path) -> Path:
    fig = new_figure((7, 4.5))
    ax = fig.add_subplot()
    for k, n in enumerate(np.unique(data["n"])):
        m = data["n"] == n
        dd = np.arange(2, n + 3)
        ax.plot(dd, [wendel.wendel_probability(n, d) for d in dd], color=f"C{k}", lw=1.2)
        ax.errorbar(
            data["d"][m],
            data["mc"][m],
            yerr=2 * data["stderr"][m],
            fmt="o",
            ms=4,
            color=f"C{k}",
            capsize=2,
            label=f"n = {n}",
        )
    ax.set_xlabel("dimension d")
    ax.set_ylabel("P(n points in an open hemisphere)")
    ax.set_title(
        f"Wendel (Thm 6.7): exact (lines) vs LP Monte Carlo ({int(data['samples'])} samples, ±2 s.e.)",
        fontsize=9,
    )
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    return path


def main(outdir: Path = HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Compute (or, with ``redraw``, load from ``<outdir>/<stem>.npz``) and draw the figure."""
    return plot_figure(outdir, __file__, quick, redraw, compute, plot, {"seed": SEED})


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    from scipy.stats import norm

    z, se = a["z"], a["stderr"]
    nz = se > 0
    c: dict = {"n_nonzero_se": int(nz.sum()), "within_2se": int(np.sum(np.abs(z[nz]) <= 2))}
    c["max_abs_z"] = float(np.abs(z).max())
    top = np.argsort(-np.abs(z))[:2]
    c["max_abs_z_cases"] = [[int(a["n"][i]), int(a["d"][i])] for i in top]
    c["expected_excursions"] = float(nz.sum() * 2 * norm.sf(2))
    c["samples"] = int(a["samples"])
    c["total_lps"] = int(a["samples"]) * len(a["n"])
    for n, d in ((8, 3), (6, 2), (10, 4), (16, 2), (16, 14)):
        i = int(np.nonzero((a["n"] == n) & (a["d"] == d))[0][0])
        c[f"exact_n{n}_d{d}"] = float(a["exact"][i])
        c[f"mc_n{n}_d{d}"] = float(a["mc"][i])
        c[f"se_n{n}_d{d}"] = float(a["stderr"][i])
        c[f"hits_n{n}_d{d}"] = int(round(a["mc"][i] * int(a["samples"])))
    c["d_ge_n_all_in_hemisphere"] = bool(np.all(a["mc"][a["d"] >= a["n"]] == 1.0))
    c["top_cases_are_n6_d4_d5"] = sorted(map(tuple, c["max_abs_z_cases"])) == [(6, 4), (6, 5)]
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
