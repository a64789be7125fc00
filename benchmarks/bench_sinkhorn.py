"""One field evaluation of Sinkhorn attention (``Dynamics(kind="SK")``) at n = 4096, d = 64, against
SA's field and a plain numpy log-domain Sinkhorn (dense n x n, scipy's logsumexp), same inputs.

    python benchmarks/bench_sinkhorn.py --impl sk|sa|numpy|none [--weights identity|general]
        [--beta 1] [--reps 5]

Each process builds x (uniform on S^63, seed 0) and the weights (identity, or Gaussian Q, K, V with
entries N(0, 1/d), seed 1), evaluates the field once untimed (numba's compilation, from the disk
cache), then ``--reps`` times, and prints one line: the median seconds per evaluation measured
inside the process, Sinkhorn's iteration count (sk, numpy) and the largest deviation of the
result from SK's when ``--check``. ``--impl none`` does the set-up only (the baseline of a
whole-process timing). Results: benchmarks/RESULTS.md, "Sinkhorn attention".
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def numpy_sinkhorn_field(x, beta, Q, K, V, tol, symmetric):
    """The SK field by a dense log-domain Sinkhorn (numpy + scipy), projected; returns (v, iters)."""
    from scipy.special import logsumexp

    q = x if Q is None else x @ Q.T
    k = x if K is None else x @ K.T
    vals = x if V is None else x @ V.T
    L = beta * (q @ k.T)
    it = 0
    if symmetric:
        f = -0.5 * logsumexp(L, axis=1)
        while True:
            t = -logsumexp(L + f[None, :], axis=1)
            it += 1
            if np.max(np.abs(np.expm1(f - t))) <= tol:
                g = f
                break
            f = 0.5 * (f + t)
    else:
        f = -logsumexp(L, axis=1)
        while True:
            g = -logsumexp(L + f[:, None], axis=0)
            fn = -logsumexp(L + g[None, :], axis=1)
            it += 1
            err = np.max(np.abs(np.expm1(f - fn)))
            f = fn
            if err <= tol:
                break
    P = np.exp(L + f[:, None] + g[None, :])
    out = (P @ vals) / P.sum(axis=1, keepdims=True)
    out -= np.einsum("ij,ij->i", x, out)[:, None] * x
    return out, it


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", choices=("sk", "sa", "numpy", "none"), required=True)
    ap.add_argument("--weights", choices=("identity", "general"), default="identity")
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()

    import particles as pt
    from particles.field import head_inputs, sinkhorn

    x = pt.random_points(a.n, a.d, rng=0)
    Q = K = V = None
    if a.weights == "general":
        rng = np.random.default_rng(1)
        Q, K, V = (rng.standard_normal((a.d, a.d)) / np.sqrt(a.d) for _ in range(3))
    kind = "SA" if a.impl == "sa" else "SK"
    dyn = pt.Dynamics(beta=a.beta, kind=kind, Q=Q, K=K, V=V)
    if a.impl == "none":
        print("setup only")
        return
    if a.impl == "numpy":

        def run():
            return numpy_sinkhorn_field(x, a.beta, Q, K, V, dyn.sinkhorn_tol, Q is None)
    else:

        def run():
            return pt.velocity(x, dyn, method="exact"), None

    v, it = run()  # warm-up (compilation from the cache)
    ts = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        v, it = run()
        ts.append(time.perf_counter() - t0)
    if a.impl == "sk":
        q, k, _, _ = head_inputs(x, dyn, 0)
        it = sinkhorn.solve(q, k, a.beta, dyn.sinkhorn_tol, symmetric=sinkhorn.symmetric(dyn, 0))
        it = it.iterations
    line = f"{a.impl} {a.weights} n={a.n} d={a.d} beta={a.beta:g}: {np.median(ts):.4f} s/eval"
    line += f" (min {min(ts):.4f}, max {max(ts):.4f}, {a.reps} reps)"
    if it is not None:
        line += f", {it} Sinkhorn iterations"
    if a.check and a.impl != "sk":
        ref = pt.velocity(x, dyn.replace(kind="SK"), method="exact")
        line += f", max |v - v_SK| = {np.max(np.abs(v - ref)):.2e}"
    print(line, flush=True)


if __name__ == "__main__":
    main()
