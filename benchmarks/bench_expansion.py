"""The O(n) expansion field (Q = K = I on S^1, S^2) against the exact tiled field, KeOps and numpy.

    python benchmarks/bench_expansion.py [--quick] [--out benchmarks/expansion_grid.md]

One process, the implementations interleaved at each (d, beta, n): ours by expansion
(``velocity(method="expansion", tol=1e-10)``), ours exact (the tiled O(n^2) field), KeOps (pykeops'
LazyTensor kernel sums, the library users reach for kernel sums without an n x n matrix; its
compilation is timed separately) and naive numpy (the full n x n matrix). n = 10^3 ... 10^7,
beta in {1, 20}, SA, float64, 2 threads. The O(n^2) peers run while their predicted time is under
``--budget`` seconds (a missing cell says so). Errors of the expansion are measured against the
exact tiled field on a subsample of 200 rows (all n columns, ``particles.field.velocity_rows``):
max |dv_i| (the absolute error, which tol bounds for SA) and max |dv_i| / max |v_i|.
Times are the best of ``--repeats`` calls after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import particles as pt  # noqa: E402
from particles.field import expansion, velocity_rows  # noqa: E402


def _best(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up (compilation, first touch)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return min(ts), out


def _keops():
    try:
        from pykeops.numpy import LazyTensor
    except Exception as e:  # pragma: no cover - depends on the machine
        return None, f"{type(e).__name__}: {e}"
    return LazyTensor, None


def keops_field(LazyTensor, x, beta):
    """SA field by KeOps: N_i = sum_j e^{beta <x_i,x_j>} x_j, Z_i = sum_j e^{beta <x_i,x_j>} (shifted
    by e^{-beta}, so beta <= 700 stays finite), then N / Z projected."""
    xi = LazyTensor(x[:, None, :])
    xj = LazyTensor(x[None, :, :])
    K = (beta * ((xi | xj) - 1.0)).exp()
    N = (K * xj).sum(axis=1)
    Z = K.sum(axis=1)
    f = N / Z
    return f - np.sum(f * x, axis=1, keepdims=True) * x


def numpy_field(x, beta):
    L = beta * (x @ x.T)
    L -= L.max(axis=1, keepdims=True)
    np.exp(L, out=L)
    f = (L @ x) / L.sum(axis=1, keepdims=True)
    return f - np.sum(f * x, axis=1, keepdims=True) * x


def _cell(d, beta, n, args, LazyTensor, rate) -> str:
    """One table row: every implementation at (d, beta, n), interleaved."""
    dyn = pt.Dynamics(beta=beta)
    x = pt.random_points(n, d, rng=n + d)
    order = expansion.order_for(d, beta, n, 1e-10)
    reps = args.repeats if n <= 10**6 else 1
    t_exp, f = _best(lambda: pt.velocity(x, dyn, method="expansion"), reps)
    peers = {
        "exact": lambda: pt.velocity(x, dyn, method="exact"),
        "keops": (lambda: keops_field(LazyTensor, x, beta)) if LazyTensor else None,
        "numpy": lambda: numpy_field(x, beta),
    }
    cells = {}
    for name, fn in peers.items():
        if fn is None:
            cells[name] = "n/a"
            continue
        pred = rate.get((name, d), 0.0) * n * n if n > 10**4 else 0.0  # small n: always run
        if pred > args.budget or (name == "numpy" and n > 2 * 10**4):
            cells[name] = f"— (~{pred:.0f} s)" if name != "numpy" else "— (memory)"
            continue
        t, _ = _best(fn, 1 if n >= 10**5 else args.repeats)
        rate[(name, d)] = t / (n * n)
        cells[name] = t
    rows = np.random.default_rng(0).choice(n, min(n, 200), replace=False)
    ref = velocity_rows(x, dyn, rows)
    err = np.linalg.norm(f[rows] - ref, axis=1)
    vmax = np.linalg.norm(ref, axis=1).max()

    def fmt(v):
        return f"{v:.3g} s" if isinstance(v, float) else v

    def ratio(v):
        return f"{v / t_exp:.0f}×" if isinstance(v, float) else "—"

    return (
        f"| {d} | {beta:g} | {n:.0e} | {order} | {t_exp:.3g} s | {fmt(cells['exact'])} | "
        f"{fmt(cells['keops'])} | {fmt(cells['numpy'])} | {ratio(cells['exact'])} | "
        f"{ratio(cells['keops'])} | {err.max():.1e} | {err.max() / vmax:.1e} |"
    )


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n <= 10^5, one beta")
    ap.add_argument("--budget", type=float, default=40.0, help="max predicted s per O(n^2) call")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    ns = [10**3, 10**4, 10**5] if args.quick else [10**3, 10**4, 10**5, 10**6, 10**7]
    betas = [20.0] if args.quick else [1.0, 20.0]
    LazyTensor, keops_err = _keops()
    lines = [
        f"Command: `python benchmarks/bench_expansion.py{' --quick' if args.quick else ''}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}, numpy {np.__version__}",
    ]
    try:
        import ducc0

        lines[-1] += f", ducc0 {ducc0.__version__}"
    except ImportError:
        pass
    if LazyTensor is not None:
        import pykeops

        lines[-1] += f", pykeops {pykeops.__version__} (CPU)"
        t = time.perf_counter()
        for d in (2, 3):
            keops_field(LazyTensor, pt.random_points(100, d, rng=0), 1.0)
        lines.append(
            f"KeOps first calls (formula compilation, d = 2 and 3): {time.perf_counter() - t:.1f} s"
        )
    else:
        lines.append(f"KeOps unavailable: {keops_err}")
    lines += [
        "",
        "| d | beta | n | order | expansion | exact tiled | KeOps | numpy n x n | exact / expansion "
        "| KeOps / expansion | max abs err | max err / max abs v |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rate = {}  # seconds per n^2 of each O(n^2) method, from the last measured n
    for d in (2, 3):
        for beta in betas:
            for n in ns:
                lines.append(_cell(d, beta, n, args, LazyTensor, rate))
                print(lines[-1], flush=True)
    lines.append("")
    lines.append(f"Load average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    text = "\n".join(lines) + "\n"
    out = args.out or (HERE / ("expansion_grid_quick.md" if args.quick else "expansion_grid.md"))
    out.write_text(text)
    return text


if __name__ == "__main__":
    print(main())
