"""arXiv 2312.10794 (v4), Fig. 2 (p. 17): where clustering to one point is proved.

A schematic in the (d, beta) plane, n fixed, for SA/USA with Q = K = V = I: green where a theorem
proves that almost every initial condition converges to a single cluster, red where the paper has
no result (d = 2, 1 < beta < n^2/pi^2). d takes the values 2, 3, ..., n, ..., d* (horizontal axis,
not to scale); beta the values 0, 1, n^2/pi^2 (vertical axis, not to scale). Regions carry their
theorem numbers: 4.2 (beta -> 0, any d), 4.3 (beta <= 1 for d = 2 and beta <~ 1/n in general),
5.1 (beta >~ n^2: n^2/pi^2 for d = 2), 6.1 (d >= 3, any beta), 6.3 (d >= n, random init, exponential
rate), 6.9 (d >= d*(n, beta): the equiangular approximation gamma_beta(t)).

The figure is pure data (cell colours and labels), saved in the .npz. Remark 2 (§4.1) of Rigollet's
survey (arXiv 2512.01868): the d = 2 window has since been closed for all beta > -0.16 [andrew25], drawn
here as a hatched note.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from particles.plotting import new_figure
from particles.plotting.figures import plot_figure, run_script

HERE = Path(__file__).resolve().parent

# columns: d = 2 | 3 <= d < n | n <= d < d* | d >= d*   ;  rows: beta in [0,1] | [1, n^2/pi^2] | above
D_EDGES = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
B_EDGES = np.array([0.0, 1.0, 2.0, 3.0])
D_TICKS = {0.5: "2", 1.0: "3", 2.0: "n", 3.0: r"$d^*$"}
B_TICKS = {1.0: "1", 2.0: r"$n^2/\pi^2$"}
# proved[row, col]: 1 = single cluster proved, 0 = open in the paper
PROVED = np.array([[1, 1, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]])
LABELS = {
    (0, 0): "Thm 4.2, 4.3\n(β ≤ 1)",
    (1, 0): "no result\n(open in the paper)",
    (2, 0): "Thm 5.1\n(β ≥ n²/π²)",
    (0, 1): "Thm 4.2, 4.3, 6.1",
    (1, 1): "Thm 6.1\n(d ≥ 3, any β)",
    (2, 1): "Thm 6.1\n(5.1 once β ≳ (d-1)n²)",
    (0, 2): "Thm 4.2, 4.3, 6.1,\n6.3 (d ≥ n)",
    (1, 2): "Thm 6.1, 6.3",
    (2, 2): "Thm 6.1, 6.3",
    (0, 3): "Thm 4.2, 4.3, 6.1, 6.3,\n6.9 (d ≥ d*)",
    (1, 3): "Thm 6.1, 6.3, 6.9",
    (2, 3): "Thm 6.1, 6.3, 6.9",
}
META = {"labels": {str(k): v for k, v in LABELS.items()}}  # saved with the data


def compute(quick: bool = False) -> dict:
    return {"d_edges": D_EDGES, "beta_edges": B_EDGES, "proved": PROVED}


def plot(data: dict, path: Path) -> Path:
    fig = new_figure((8, 5))
    ax = fig.add_subplot()
    green, red = "#7fc97f", "#f0027f"
    de, be, pr = data["d_edges"], data["beta_edges"], data["proved"]
    for r in range(pr.shape[0]):
        for c in range(pr.shape[1]):
            x0, y0 = de[c], be[r]
            w, h = de[c + 1] - de[c], be[r + 1] - be[r]
            ax.add_patch(
                Rectangle(
                    (x0, y0), w, h, facecolor=green if pr[r, c] else red, edgecolor="w", alpha=0.75
                )
            )
            ax.text(x0 + w / 2, y0 + h / 2, LABELS[(r, c)], ha="center", va="center", fontsize=8.5)
    ax.add_patch(Rectangle((0, 1), 1, 1, fill=False, hatch="//", edgecolor="0.3", lw=0, alpha=0.5))
    ax.text(
        0.5,
        1.1,
        "since closed\n(survey arXiv 2512.01868)",
        ha="center",
        fontsize=7.5,
        style="italic",
    )
    ax.set_xlim(de[0], de[-1])
    ax.set_ylim(be[0], be[-1])
    ax.set_xticks(list(D_TICKS), list(D_TICKS.values()))
    ax.set_yticks(list(B_TICKS), list(B_TICKS.values()))
    ax.set_xlabel("dimension d (not to scale)")
    ax.set_ylabel(r"inverse temperature $\beta$ (not to scale)")
    ax.set_title("Fig. 2: single cluster for a.e. initial condition (green: proved)")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    return path


def main(outdir: Path = HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Compute (or, with ``redraw``, load from ``<outdir>/<stem>.npz``) and draw the figure."""
    return plot_figure(outdir, __file__, quick, redraw, compute, plot, META)


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    proved = a["proved"]
    return {
        "red_cells": int((proved == 0).sum()),
        "red_cell_is_d2_mid_beta": bool(proved[1, 0] == 0),
    }


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
