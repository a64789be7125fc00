"""E2 -- the "softmax probability / correlation" figure of "Transformers as Support Vector Machines"
(arXiv 2308.16898; authors' notebook ``local_converge``).

Parameters (SPEC B §A8 E2): n=6, T=8, d=10, cross-attention, seeds 0..99, default init
uniform(+-1/sqrt(d)) for W, K, Q; 2000 normalised GD steps, lr 0.1, logistic loss. alpha = argmax
of the final softmax. (a) mean_i max_t s_it; (b) corr(W(k), W^mm_alpha) for W and
corr(W_KQ(k), W^mm_{*,alpha}) for (K,Q) (plus the cross-correlations, dotted); mean +- std over
runs; all 2000 iterations shown (the paper shows the first 1000).

Run: ``python figures/svm_e2_local_convergence.py [--quick] [--outdir DIR]``
(or ``particles svm figure E2``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from particles.svm.figures import make_figure

HERE = Path(__file__).resolve().parent


def main(outdir=HERE, quick: bool = False) -> Path:
    """Run experiment E2; write ``<outdir>/<stem>.png`` and ``.npz``; return the PNG path."""
    return make_figure(
        "E2", outdir, quick=quick, stem="svm_e2_local_convergence", progress=not quick
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, runs in seconds")
    p.add_argument("--outdir", type=Path, default=HERE)
    args = p.parse_args()
    print(main(args.outdir, quick=args.quick))
