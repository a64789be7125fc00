"""Write tests/data/noisy_regression.npz: noisy ensemble runs (projected Euler–Maruyama), the
transition engine built on them, and the coordinate ensembles under every normalisation scheme,
computed by the code of commit 708af74 (before the noisy and deterministic ensembles shared one
coordinate stepping loop). tests/test_noisy_regression.py checks that today's code reproduces every
array (bit for bit with the OpenBLAS kernels that wrote them, Haswell; within a stated tolerance of
a few ulp times the runs' amplification under others).

This script was run once, at that commit; it is kept to show how each reference was made (since
then :func:`arrays` was split out of ``main``, unchanged but for the optional ``move`` of the
initial points, with which the test measures the runs' amplification).
"""

import numpy as np

from particles.analysis.transition import TransitionParams, run_branch
from particles.solvers import ensemble


def arrays(move=None) -> dict:
    """Every reference array by name. ``move``: a function applied to the random initial points
    (of the ensembles; the transition branches draw their own) before the runs."""
    move = move or (lambda x: x)
    out = {}
    S, n, d = 3, 9, 3
    X0 = move(ensemble.random_points_batch(n, d, S, rng=11))
    B, V = ensemble.random_weights("ginibre-v=g", d, S, rng=12)
    betas, kappas, seeds = [0.5, 2.0, 4.0], [1.0, None, 3.0], [7, 8, 9]
    for kind in ("SA", "USA"):
        for w, (Bw, Vw) in (("identity", (None, None)), ("qkv", (B, V))):
            r = ensemble.ensemble_noisy(
                X0,
                betas,
                kappas,
                1.2,
                seeds=seeds,
                stream=5,
                B=Bw,
                V=Vw,
                dt=0.05,
                kind=kind,
                save_every=3,
                modes=3,
            )
            for k in ("r", "modes", "final"):
                out[f"noisy/{kind}/{w}/{k}"] = getattr(r, k)
    X2 = move(ensemble.random_points_batch(12, 2, 2, rng=13))
    r = ensemble.ensemble_noisy(X2, 3.0, 2.0, 2.0, seeds=4, dt=0.1, modes=0)
    out["noisy/circle/r"], out["noisy/circle/final"] = r.r, r.final

    p = TransitionParams(
        d=3,
        n=10,
        betas=(2.0,),
        kappas=(1.0, 4.0),
        seeds=2,
        dt=0.05,
        t_relax=0.5,
        t_avg=0.5,
        record_every=2,
    )
    for direction in ("up", "down"):
        arrays, _ = run_branch(p.record(), 2.0, direction)
        for k, v in arrays.items():
            out[f"transition/{direction}/{k}"] = v

    for norm, kw in (
        ("pre", {}),
        ("peri", {}),
        ("ngpt", {"alpha": 0.7}),
        ("mix", {"t_switch": 0.5}),
    ):
        for method in ("euler", "euler-tangent", "rk4"):
            r = ensemble.ensemble_coords(
                X0, betas, 1.0, B=B, V=V, dt=0.1, method=method, kind="SA", norm=norm, **kw
            )
            out[f"norm/{norm}/{method}/final"] = r.final
            out[f"norm/{norm}/{method}/pair_fraction"] = r.pair_fraction
            out[f"norm/{norm}/{method}/n_clusters"] = r.n_clusters
    return out


def main(path="tests/data/noisy_regression.npz"):
    out = arrays()
    np.savez_compressed(path, **out)
    print(f"{path}: {len(out)} arrays")


if __name__ == "__main__":
    main()
