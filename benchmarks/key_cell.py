"""The key cells of the speed targets, measured interleaved in one run (each case in a subprocess).

    python benchmarks/key_cell.py [--rounds 3]

n = 4096, d = 64, SA, beta = 1, float64, 2 threads: ours (Q = K = V = I and general weights), naive
and row-blocked numpy, PyTorch SDPA with 4-D tensors (if torch is installed) and numpy's 4096^2 GEMM;
float32 at n = 16384: ours against SDPA. Prints a markdown table of medians with GFLOP/s (4 n^2 d flops
per evaluation) and the share of the best and of the median GEMM rate of the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from particles import bench


def main(rounds: int = 3) -> str:
    torch = bench.have_torch()
    cells = [
        ("particles, Q=K=V=I", bench.Case(impl="particles", n=4096, d=64)),
        (
            "particles, general Q, K, V",
            bench.Case(impl="particles", n=4096, d=64, weights="general"),
        ),
        ("numpy naive (n x n)", bench.Case(impl="numpy_naive", n=4096, d=64)),
        ("numpy row-blocked", bench.Case(impl="numpy_blocked", n=4096, d=64)),
    ]
    if torch:
        cells.append(("torch SDPA 4-D", bench.Case(impl="torch_sdpa4d", n=4096, d=64)))
    f32 = [
        ("particles float32, n=16384", bench.Case(impl="particles", n=16384, d=64, dtype="float32"))
    ]
    if torch:
        f32.append(
            (
                "torch SDPA 4-D float32, n=16384",
                bench.Case(impl="torch_sdpa4d", n=16384, d=64, dtype="float32"),
            )
        )
    times: dict[str, list[float]] = {name: [] for name, _ in cells + f32}
    gemm64, gemm32 = [], []
    for _ in range(rounds):
        for name, case in cells + f32:
            r = bench.run_case(case)
            times[name].append(r.get("seconds", float("nan")))
        gemm64.append(bench.run_gemm("float64")["gflops_best"])
        gemm32.append(bench.run_gemm("float32")["gflops_best"])
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {rounds} interleaved rounds; "
        f"best GEMM 4096^2 of each round: float64 {', '.join(f'{g:.1f}' for g in gemm64)} GFLOP/s, float32 "
        f"{', '.join(f'{g:.1f}' for g in gemm32)}",
        "",
        "| impl | runs (s) | median | GFLOP/s | % best GEMM | % median GEMM | ours faster by |",
        "|---|---|---|---|---|---|---|",
    ]
    for group, peak in ((cells, gemm64), (f32, gemm32)):
        ref = statistics.median(times[group[0][0]])
        for name, case in group:
            t = statistics.median(times[name])
            gf = 4 * case.n**2 * case.d / t / 1e9
            lines.append(
                f"| {name} | {', '.join(f'{v:.3f}' for v in times[name])} | {t:.3f} s | {gf:.1f} | "
                f"{100 * gf / max(peak):.0f}% | {100 * gf / statistics.median(peak):.0f}% | {t / ref:.2f}× |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    print(main(ap.parse_args().rounds))
