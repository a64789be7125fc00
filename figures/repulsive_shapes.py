"""arXiv 2312.10794 §9.1: the repulsive dynamics (V = -I) finds optimal sphere configurations.

USA with V = -I, beta = 1, Euler + normalise with dt = 0.2 (the project's reference check), run in
chunks of t = 200 until max_i |xdot_i| < 1e-9 (at most t = 2e4, i.e. 1e5 steps), seeds 0..3, from
uniform random starts. Cases (n, d): (4, 3) tetrahedron, (6, 3) octahedron, (12, 3) icosahedron,
(5, 4) simplex, (8, 4) cross-polytope. Top: the final d = 3 configurations of seed 0 on the sphere.
Bottom: the inner-product spectrum (distinct values of <x_i, x_j>, i < j, and their multiplicities)
of every seed, against the expected one (crosses). --quick: (4, 3) and (6, 3), one seed. The paper
shows no figure for this; Thm 9.2 (Cohn–Kumar) names these shapes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from particles.analysis import repulsive
from particles.plotting import new_figure, plot_sphere
from particles.plotting.figures import compute_and_draw, run_script

HERE = Path(__file__).resolve().parent
CASES = ((4, 3), (6, 3), (12, 3), (5, 4), (8, 4))
SEEDS = (0, 1, 2, 3)
BETA, DT, TOL = 1.0, 0.2, 1e-9


def compute(quick: bool = False) -> dict:
    cases = CASES[:2] if quick else CASES
    seeds = SEEDS[:1] if quick else SEEDS
    out = {"cases": np.array(cases), "seeds": np.array(seeds)}
    shapes, times, speeds = [], [], []
    for n, d in cases:
        for s in seeds:
            r = repulsive.relax(n=n, d=d, beta=BETA, rng=s, dt=DT, tol=TOL)
            vals, mult = repulsive.inner_product_spectrum(r.x, 1e-4)
            out[f"x_{n}_{d}_{s}"] = r.x
            out[f"values_{n}_{d}_{s}"] = vals
            out[f"mult_{n}_{d}_{s}"] = mult
            shapes.append(repulsive.identify_shape(r.x, 1e-4))
            times.append(r.t)
            speeds.append(r.max_speed)
    out["shapes"] = np.array(shapes)
    out["t_final"] = np.array(times)
    out["max_speed"] = np.array(speeds)
    return out


def plot(data: dict, path: Path) -> Path:
    cases = [tuple(c) for c in data["cases"]]
    seeds = list(data["seeds"])
    fig = new_figure((12, 7))
    three = [c for c in cases if c[1] == 3]
    for j, (n, d) in enumerate(three):
        ax = fig.add_subplot(2, len(three), j + 1, projection="3d")
        x = data[f"x_{n}_{d}_{seeds[0]}"]
        plot_sphere(ax, x, color="C3", size=40, sphere_alpha=0.12)
        g = x @ x.T
        np.fill_diagonal(g, -2.0)
        for a, b in zip(*np.nonzero(np.triu(g > g.max() - 1e-3)), strict=True):  # edges
            ax.plot(*np.stack([x[a], x[b]]).T, color="k", lw=0.8)
        ax.set_title(f"n = {n}, d = 3: {data['shapes'][cases.index((n, d)) * len(seeds)]}")
    ax = fig.add_subplot(2, 1, 2)
    labels = []
    for ci, (n, d) in enumerate(cases):
        shape = data["shapes"][ci * len(seeds)]
        for si, s in enumerate(seeds):
            v, m = data[f"values_{n}_{d}_{s}"], data[f"mult_{n}_{d}_{s}"]
            x = ci + (si - (len(seeds) - 1) / 2) * 0.12
            ax.scatter(
                np.full(v.size, x),
                v,
                s=12 + 3 * m,
                color=f"C{si}",
                alpha=0.8,
                label=f"seed {s}" if ci == 0 else None,
            )
        if shape != "unknown":
            for k, (val, mult) in enumerate(repulsive.expected_spectrum(shape, n, d)):
                lab = "expected (×multiplicity)" if ci == 0 and k == 0 else None
                ax.plot(ci + 0.33, val, "kx", ms=7, label=lab)
                ax.annotate(f"×{mult}", (ci + 0.38, val), fontsize=8, va="center")
        labels.append(f"n={n}, d={d}\n{shape}")
    ax.set_xticks(range(len(cases)), labels)
    ax.set_ylabel(r"distinct $\langle x_i, x_j\rangle$ (marker size ~ multiplicity)")
    ax.set_xlim(-0.6, len(cases) - 0.3)
    ax.axhline(0, color="0.8", lw=0.5)
    ax.legend(frameon=False, fontsize=8, ncol=5, loc="lower left", bbox_to_anchor=(0, 1))
    fig.suptitle(
        r"Repulsive dynamics (USA with $V=-I$, $\beta=1$, Euler $dt=0.2$): final configurations"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _record(quick: bool):
    """(arrays, meta) to save: the shape names go into the metadata."""
    data = compute(quick)
    meta = {"beta": BETA, "dt": DT, "tol": TOL, "shapes": data["shapes"].tolist()}
    return {k: v for k, v in data.items() if k != "shapes"}, meta


def main(outdir: Path = HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Compute (or, with ``redraw``, load from ``<outdir>/<stem>.npz``) and draw the figure."""
    return compute_and_draw(
        outdir,
        Path(__file__).stem,
        quick=quick,
        redraw=redraw,
        compute=_record,
        draw=lambda a, m, png: plot({**a, "shapes": np.array(m["shapes"])}, png),
    )


# the numbers figures/README.md quotes (figures/claims.py checks them)
REPULSIVE_EXPECTED = {
    (4, 3): {-1 / 3: 6},
    (6, 3): {-1.0: 3, 0.0: 12},
    (12, 3): {-1.0: 6, -1 / math.sqrt(5): 30, 1 / math.sqrt(5): 30},
    (5, 4): {-1 / 4: 10},
    (8, 4): {-1.0: 4, 0.0: 24},
}


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    cases, seeds = [tuple(int(v) for v in c) for c in a["cases"]], [int(s) for s in a["seeds"]]
    match, worst = 0, 0.0
    for n, d in cases:
        exp = REPULSIVE_EXPECTED[(n, d)]
        for s in seeds:
            vals, mult = a[f"values_{n}_{d}_{s}"], a[f"mult_{n}_{d}_{s}"]
            ev = np.array(sorted(exp))
            if len(vals) != len(ev):
                continue
            order = np.argsort(vals)
            dev = np.abs(vals[order] - ev).max()
            if np.array_equal(mult[order], [exp[v] for v in ev]) and dev < 1e-4:
                match += 1
            worst = max(worst, float(dev))
    tf = a["t_final"].reshape(len(cases), len(seeds))
    c: dict = {"matches": match, "runs": len(cases) * len(seeds), "all_within_1e-4": worst < 1e-4}
    c["max_speed"] = float(a["max_speed"].max())
    names = {(4, 3): "tet", (6, 3): "oct", (12, 3): "ico", (5, 4): "simplex", (8, 4): "cross"}
    for k, nd in enumerate(cases):
        c[f"t_{names[nd]}_min"], c[f"t_{names[nd]}_max"] = float(tf[k].min()), float(tf[k].max())
    c["shapes_named"] = meta["shapes"][:: len(seeds)] == [
        "tetrahedron",
        "octahedron",
        "icosahedron",
        "simplex",
        "cross-polytope",
    ]
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
