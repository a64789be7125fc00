"""The general single-head field (Q != K) against the identity field (Q = K = V = I) and the GEMM.

    python benchmarks/qk_cell.py [--rounds 25] [--dtype float64|float32|both] [--against DIR]
    python benchmarks/qk_cell.py --only general|identity|gemm [--calls 30]

n = 4096, d = 64, SA, beta = 1, random Q, K, V (d x d, scaled by 1/sqrt(d)), this process's threads
(``particles.config.THREADS``; OpenBLAS's own for the GEMMs). In one process, the cases are called
in turn, one call each per round: ``velocity`` with general weights, with identity weights, numpy's
4096^2 GEMM (the peak) and a GEMM of the same flops as one evaluation ((n x n) @ (n x 2d): 4 n^2 d
flops). After each threaded GEMM the script sleeps 0.3 s, since OpenBLAS's threads spin for ~0.1 s
after a GEMM and would otherwise slow the next case. Prints a markdown table of medians, GFLOP/s
(4 n^2 d flops per evaluation), the share of the best and of the median 4096^2 GEMM rate, and the
median of the paired ratios (same round) against the identity field and the same-flops GEMM.
``--against DIR``: also the same two fields of the ``particles`` package in DIR (another commit's
checkout, e.g. ``git archive main | tar -x -C DIR``), imported under another name, in the same
rounds, with the paired ratios ours / theirs.

``--only CASE`` calls one case ``--calls`` times (after one warm-up call) and prints the mean time
per call: for timing whole processes against each other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

N, D = 4096, 64
FLOPS = 4.0 * N * N * D


def _package(path: str, name: str = "particles_against"):
    """The ``particles`` package below ``path``, imported as ``name`` (relative imports only)."""
    import importlib.util
    import sys
    import tempfile
    from pathlib import Path

    import numba

    init = Path(path) / "particles" / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(init.parent)]
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    # numba caches compiled from here on go to a temporary folder (for the rest of this process:
    # overloads compile lazily): cached under this name, they would break that checkout's imports
    numba.config.CACHE_DIR = tempfile.mkdtemp(prefix="qk_cell_")
    spec.loader.exec_module(mod)
    return mod


def cases(dtype, against: str | None = None) -> dict:
    import particles as pt

    rng = np.random.default_rng(0)
    x = pt.random_points(N, D, rng)
    Q, K, V = (rng.standard_normal((D, D)) / np.sqrt(D) for _ in range(3))
    general = pt.Dynamics(beta=1.0, Q=Q, K=K, V=V)
    identity = pt.Dynamics(beta=1.0)
    g = np.random.default_rng(1)
    A = g.random((4096, 4096)).astype(dtype)
    B = A.T.copy()
    S = g.random((N, N)).astype(dtype)
    T = g.random((N, 2 * D)).astype(dtype)
    out = {
        "general": lambda: pt.velocity(x, general, dtype=dtype),
        "identity": lambda: pt.velocity(x, identity, dtype=dtype),
        "gemm 4096^2": lambda: A @ B,
        "gemm, same flops": lambda: S @ T,
    }
    if against:
        other = _package(against)
        og, oi = other.Dynamics(beta=1.0, Q=Q, K=K, V=V), other.Dynamics(beta=1.0)
        out["general, against"] = lambda: other.velocity(x, og, dtype=dtype)
        out["identity, against"] = lambda: other.velocity(x, oi, dtype=dtype)
    return out


def measure(dtype, rounds: int, against: str | None = None) -> list[str]:
    fns = cases(dtype, against)
    for name, fn in fns.items():
        fn()
        if name.startswith("gemm"):
            time.sleep(0.3)
    t = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            t[name].append(time.perf_counter() - t0)
            if name.startswith("gemm"):
                time.sleep(0.3)  # OpenBLAS's threads spin ~0.1 s after a threaded GEMM
    peak = [2.0 * 4096**3 / s / 1e9 for s in t["gemm 4096^2"]]
    best, med = max(peak), statistics.median(peak)
    name_dt = np.dtype(dtype).name
    lines = [
        f"{name_dt}: best 4096^2 GEMM {best:.1f} GFLOP/s, median {med:.1f}",
        "",
        "| case | median | GFLOP/s | % best GEMM | % median GEMM | / identity | / same-flops GEMM |",
        "|---|---|---|---|---|---|---|",
    ]

    def paired(a, b):
        return statistics.median([x / y for x, y in zip(t[a], t[b], strict=True)])

    for name in ("general", "identity", "gemm, same flops"):
        s = statistics.median(t[name])
        gf = FLOPS / s / 1e9
        lines.append(
            f"| {name_dt} {name} | {s * 1e3:.1f} ms | {gf:.1f} | {100 * gf / best:.0f}% | "
            f"{100 * gf / med:.0f}% | {paired(name, 'identity'):.3f} | "
            f"{paired(name, 'gemm, same flops'):.3f} |"
        )
    if against:
        lines.append("")
        for name in ("general", "identity"):
            s, o = statistics.median(t[name]), statistics.median(t[name + ", against"])
            lines.append(
                f"- {name_dt} {name}: ours {s * 1e3:.1f} ms, {against} {o * 1e3:.1f} ms (median); "
                f"paired ours / theirs {paired(name, name + ', against'):.3f}; theirs / identity "
                f"{paired(name + ', against', 'identity, against'):.3f}"
            )
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    ap.add_argument("--only", choices=["general", "identity", "gemm"], default=None)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--against", default=None, help="a directory holding another particles/")
    args = ap.parse_args(argv)
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    if args.only:
        key = "gemm, same flops" if args.only == "gemm" else args.only
        for dt in dtypes:
            fn = cases(np.dtype(dt).type)[key]
            fn()
            t0 = time.perf_counter()
            for _ in range(args.calls):
                fn()
            per = (time.perf_counter() - t0) / max(args.calls, 1)
            print(f"{dt} {args.only}: {per * 1e3:.1f} ms per call (mean of {args.calls})")
        return
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    out = [
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.rounds} interleaved "
        f"rounds, load average {load}",
        "",
    ]
    for dt in dtypes:
        out += measure(np.dtype(dt).type, args.rounds, args.against) + [""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
