"""The local/global picture of "Transformers as Support Vector Machines" (arXiv 2308.16898; the
authors' notebook ``visualization2``): in 2-D, normalised GD on W converges in direction to a
max-margin token selection that may be only locally optimal.

Data (the notebook's recipe): n=2 sequences of T=5 tokens in d=2, Y = (+1, +1), unit head v;
token 1 of sequence 1 (2) fixed at (1, 0.5) ((1, -0.5)), tokens 2..5 at 0.5 N(0, I) + (-1, 0);
z_i random unit; drawn in the order v, X, z from numpy ``default_rng(0)`` (the notebook's seed 3
of torch's generator gives other points; seed 0 here has both a global and a local outcome).
40 default initialisations (uniform(+-1/sqrt(2))), 3000 normalised GD steps, lr 0.1, logistic
loss; a run converges to Att-SVM(alpha) when corr(W, W^mm_alpha) > 0.99, alpha being the tokens
its softmax selects, and alpha is locally optimal by the SVM-neighbour test (every support token
scores below the selected one). Panels: (a) a run reaching the global W^mm, (b) one reaching a
locally optimal W^mm_alpha, with the separating hyperplanes of that SVM; (c) the correlations.

Run: ``python figures/svm_local_global_2d.py [--quick] [--redraw] [--outdir DIR]``
(or ``particles svm figure LG``).
"""

from __future__ import annotations

from pathlib import Path

from particles.figscript import run_script
from particles.svm.figures import make_figure, redraw_figure

HERE = Path(__file__).resolve().parent


def readme_section(npz=HERE / "svm_local_global_2d.npz") -> str:
    """The figures/README.md text for this figure, every number read from ``npz`` (the support
    tokens from the Att-SVM of the saved selection)."""
    import numpy as np

    from particles.io import load_npz
    from particles.svm.experiments import local_global_data
    from particles.svm.model import token_scores
    from particles.svm.solvers import local_optimality

    a, meta = load_npz(npz, "svm_figure")
    data = local_global_data(meta["seed"])
    g = token_scores(data)
    f = meta["fractions"]

    def one(al) -> str:
        return "(" + ", ".join(str(int(t) + 1) for t in al) + ")"

    lines = [
        "### Local vs global in 2-D — `svm_local_global_2d.png` (authors' notebook "
        "`visualization2`)",
        f"- Data: n = 2, T = 5, d = 2, numpy seed {meta['seed']} (recipe in the script); "
        f"{meta['inits']} default initialisations, {meta['iters']} normalised GD steps "
        f"(lr {meta['lr']:g}) on W. Tokens are numbered from 1.",
        f"- Of the {data.T**data.n} selections α, the optimal one is {one(a['opt'])} and "
        f"{len(a['local_alphas'])} other(s) locally optimal (SVM-neighbour test): "
        + ", ".join(one(al) for al in a["local_alphas"])
        + ".",
        f"- Runs: {100 * f['global']:.0f} % reach the global W^mm, {100 * f['local']:.0f} % the "
        f"local W^mm_α, {100 * f['neither']:.0f} % neither; every run ends with corr ≥ "
        f"{np.nanmin(a['corr_final']):.4f} with the SVM of the tokens it selects.",
    ]
    if "alpha_local" in a:
        al = a["alpha_local"]
        i = int(np.nonzero(al != a["opt"])[0][0])
        lo = local_optimality(data, al)
        sup = np.nonzero(lo.neighbours[i])[0]
        lines.append(
            f"- Panel (b): in sequence {i + 1} GD selects token {al[i] + 1} (score "
            f"{g[i, al[i]]:.2f}) instead of the optimal token {a['opt'][i] + 1} "
            f"({g[i, a['opt'][i]]:.2f}); its support token(s) in that sequence, "
            + ", ".join(f"{t + 1} ({g[i, t]:.2f})" for t in sup)
            + ", score lower, so the selection is locally optimal. The run's correlation with "
            f"W^mm_α is {a['corr_local_own'][-1]:.4f} and with the global W^mm "
            f"{a['corr_local_mm'][-1]:.2f}: it converges in direction to the local SVM, not the "
            "global one."
        )
    return "\n".join(lines)


def main(outdir=HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Run the experiment; write ``<outdir>/<stem>.png`` and ``.npz``; return the PNG path
    (``redraw``: draw the PNG again from the saved npz)."""
    if redraw:
        return redraw_figure("LG", outdir, stem="svm_local_global_2d")
    return make_figure("LG", outdir, quick=quick, stem="svm_local_global_2d", progress=not quick)


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
