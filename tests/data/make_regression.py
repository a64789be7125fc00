"""Write tests/data/regression.npz: fixed-step trajectories, ensemble statistics and a phase diagram
computed by the code of commit 98190a2 (before the one-core redesign). tests/test_regression.py
checks that today's code reproduces every array (bit for bit with the OpenBLAS kernels that wrote
them, Haswell; within a stated tolerance of a few ulp times the run's amplification under others).

This script was run once, at that commit; it is kept to show how each reference was made (since
then :func:`cases` was split out of ``main``, unchanged, for the test to rebuild the inputs). The
method names are those of that commit: ``simulate(method="euler")`` was then Euler on the
tangent-projected field (now ``"euler-tangent"``), the ensembles' ``"euler"`` the authors' scheme.
"""

import numpy as np

import particles as pt
from particles.analysis.phase import PhaseParams, phase_diagram
from particles.solvers import ensemble


def weights(rng, d):
    return {
        "Q": rng.standard_normal((2, 3, d)) / np.sqrt(d),
        "K": rng.standard_normal((2, 3, d)) / np.sqrt(d),
        "V": rng.standard_normal((2, d, d)) / np.sqrt(d),
    }


def cases() -> dict:
    """The simulate references' (initial points, dynamics) by name; tests/test_regression.py
    rebuilds its inputs with this function."""
    rng = np.random.default_rng(2024)
    d = 4
    ffn = pt.FeedForward(
        W1=rng.standard_normal((6, d)) / 2,
        b1=rng.standard_normal(6) / 4,
        W2=rng.standard_normal((d, 6)) / 2,
        b2=rng.standard_normal(d) / 4,
        activation="gelu",
    )
    return {
        "sa_identity": (pt.random_points(12, 3, rng=1), pt.Dynamics(beta=2.0)),
        "usa_qkv": (
            pt.random_points(10, d, rng=2),
            pt.Dynamics(beta=1.0, kind="USA", **weights(rng, d)),
        ),
        "sa_causal_ffn": (
            pt.random_points(9, d, rng=3),
            pt.Dynamics(beta=1.5, causal=True, ffn=ffn, V=-0.5),
        ),
        "piecewise": (
            pt.random_points(8, 3, rng=4),
            pt.Piecewise(
                segments=((pt.Dynamics(beta=1.0), 0.7), (pt.Dynamics(beta=4.0, kind="USA"), 1.0))
            ),
        ),
    }


def main(path="tests/data/regression.npz"):
    out = {}
    inputs = cases()
    for name, (x0, dyn) in inputs.items():
        for method in ("euler", "rk4", "lie-euler", "geometric"):
            tr = pt.simulate(x0, dyn, 1.5, method=method, dt=0.1, save_at=np.linspace(0, 1.5, 7))
            out[f"simulate/{name}/{method}"] = tr.x
    x0, dyn = inputs["usa_qkv"]
    out["simulate/usa_qkv/rk4-f32"] = pt.simulate(
        x0, dyn, 1.0, method="rk4", dt=0.1, dtype=np.float32
    ).x

    G0 = ensemble.random_gram(8, 5, 3, rng=5)
    X0 = ensemble.random_points_batch(7, 4, 3, rng=6)
    B, V = ensemble.random_weights("ginibre-v=g", 4, 3, rng=7)
    for method in ("euler", "euler-tangent", "rk4"):
        for kind, betas in (("SA", [0.5, 2.0, 6.0]), ("USA", [0.3, 1.0, 2.0])):
            r = ensemble.ensemble_gram(
                G0, betas, 2.0, dt=0.1, method=method, kind=kind, early_stop=False
            )
            out[f"gram/{method}/{kind}/final"] = r.final
            out[f"gram/{method}/{kind}/pair_fraction"] = r.pair_fraction
            r = ensemble.ensemble_coords(
                X0, betas, 2.0, B=B, V=V, dt=0.1, method=method, kind=kind, early_stop=False
            )
            out[f"coords/{method}/{kind}/final"] = r.final
            out[f"coords/{method}/{kind}/pair_fraction"] = r.pair_fraction
            out[f"coords/{method}/{kind}/n_clusters"] = r.n_clusters

    for d_, w in ((2, None), (16, None), (4, "ginibre")):
        p = PhaseParams(n=8, d=d_, betas=(0.0, 1.0, 4.0), t_end=3.0, dt=0.1, seeds=16, weights=w)
        ph = phase_diagram(p, progress=False)
        for k in ("P", "P_se", "mean_clusters", "final_clusters"):
            out[f"phase/d{d_}_{w}/{k}"] = getattr(ph, k)
    np.savez_compressed(path, **out)
    print(f"{path}: {len(out)} arrays")


if __name__ == "__main__":
    main()
