"""One RK4 step on the circle (d = 2, Q = K = I, SA) with ``method="auto"``, against before.

    python benchmarks/bench_rk4_circle.py [--n 100000 1000000] [--beta 1 5 20] [--exact-n 100000]

RK4's three later stages lie off the circle (|y|^2 = 1 + O(h^2 |f|^2)). "auto" now evaluates them
by the radial expansion (``particles.field.expansion``, off the circle); before, it took the exact
O(n^2) field there. Per (n, beta): the time of one step with "auto" (best of 2 after a warm-up),
each stage's (p, M) and its error against the exact field on 200 rows (``velocity_rows``, all n
columns), and "before" = the first stage by the expansion + 3 exact evaluations, the exact one timed
once at ``--exact-n`` and scaled by n^2 (at n = 10^6 one exact evaluation takes tens of minutes).
h = 0.05 (the default step), tol = 1e-10. Inputs: uniform on the circle (the usual initial
condition, a small field) and uniform on a half circle (|f| up to ~0.5: stages further off).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import particles as pt  # noqa: E402
from particles.field import expansion, velocity, velocity_rows  # noqa: E402
from particles.solvers import registry, steps  # noqa: E402


def rk4_auto(x, h, dyn):
    """One RK4 step with "auto"; returns (y, stage points, stage fields)."""
    ys, fs = [], []

    def f(y):
        ys.append(y)
        fs.append(velocity(y, dyn))
        return fs[-1]

    y, _ = steps.explicit_rk(registry.get("rk4").tableau, x, h, f)
    return y, ys, fs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--beta", type=float, nargs="+", default=[1.0, 5.0, 20.0])
    ap.add_argument("--exact-n", type=int, default=100_000)
    a = ap.parse_args(argv)
    h, tol = 0.05, 1e-10
    rng = np.random.default_rng(0)
    print(f"# one RK4 step, d = 2, SA, h = {h}, tol = {tol}, {os.cpu_count()} cores")
    xe = pt.random_points(a.exact_n, 2, rng=rng)
    t_exact = {}
    for beta in a.beta:
        dyn = pt.Dynamics(beta=beta)
        velocity(xe[:2000], dyn, method="exact")
        t = time.perf_counter()
        velocity(xe, dyn, method="exact")
        t_exact[beta] = time.perf_counter() - t
        print(f"exact field at n = {a.exact_n}, beta = {beta}: {t_exact[beta]:.2f} s")
    for n, init in [(n, init) for n in a.n for init in ("uniform", "half")]:
        th = rng.uniform(0.0, 2 * np.pi if init == "uniform" else np.pi, n)
        x = np.stack([np.cos(th), np.sin(th)], axis=1)
        rows = rng.choice(n, 200, replace=False)
        for beta in a.beta:
            dyn = pt.Dynamics(beta=beta)
            rk4_auto(x, h, dyn)  # warm-up
            best = np.inf
            for _ in range(2):
                t = time.perf_counter()
                _, ys, fs = rk4_auto(x, h, dyn)
                best = min(best, time.perf_counter() - t)
            t = time.perf_counter()
            velocity(x, dyn)
            t_first = time.perf_counter() - t
            plans, errs = [], []
            for y, fy in zip(ys, fs, strict=True):
                plans.append(expansion.choose(dyn, y, tol))
                errs.append(np.abs(fy[rows] - velocity_rows(y, dyn, rows)).max())
            before = t_first + 3 * t_exact[beta] * (n / a.exact_n) ** 2
            print(
                f"{init:>7} n = {n:>8}  beta = {beta:>4}: auto {best:8.3f} s   before ~{before:10.1f} s "
                f"(x{before / best:,.0f})   stages (p, M): {plans}   "
                f"max |f| {np.abs(fs[0]).max():.2f}  max err on 200 rows: {max(errs):.1e}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
