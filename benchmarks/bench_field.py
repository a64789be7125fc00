"""Benchmark one field evaluation against numpy and PyTorch, and the machine's GEMM peak.

Usage::

    python benchmarks/bench_field.py            # the full grid (~30-60 min on 2 cores), writes
                                                # benchmarks/field_grid.md, results.json, scaling.png
    python benchmarks/bench_field.py --quick    # a small grid (~1-2 min), same outputs in --outdir

Grid (``particles.bench.grid``): ours over n in {256, 1024, 4096} x d in {3, 16, 64, 128} x beta in
{1, 9} x SA/USA x identity/general weights, then n = 16384 (beta = 1, every d, SA/USA,
identity/general) and n = 65536 (beta = 1, SA, d in {3, 16, 64}, identity; d = 64 general), and
float32 at d = 64. The peers are trimmed: the n x n forms (numpy_naive, torch) stop at n = 4096
(at 16384 they need 2-6 GB and seconds per call) and run SA at beta = 1 only (plus USA and beta = 9
at n = 4096, d = 64); row-blocked numpy and SDPA 4-D also run at n = 16384 for every d, and at
65536 only ours runs (d in {3, 16, 64}; memory check). torch is optional (``pip install "particles[bench]"``); without it its columns
are absent. The cases of one (implementation, dtype, n) run in one subprocess, the peak RSS reset
before each call (memory = peak RSS growth during one call).

The script writes ``field_grid.md`` (all tables), ``results.json`` and ``scaling.png``. The committed
``benchmarks/RESULTS.md`` holds the hand-written summary of a full run (and the large-n runs,
n = 200 000 and 1 000 000, d = 16), which a rerun does not touch: update it by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from particles import bench  # noqa: E402
from particles.storage.npz import atomic_write_bytes  # noqa: E402


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grid, ~1-2 minutes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--outdir", type=Path, default=None, help="default: benchmarks/ (quick: benchmarks/quick/)"
    )
    args = ap.parse_args(argv)
    outdir = args.outdir or (HERE / "quick" if args.quick else HERE)
    outdir.mkdir(parents=True, exist_ok=True)
    suite = bench.run_suite(quick=args.quick, threads=args.threads)
    command = (
        "python benchmarks/bench_field.py"
        + (" --quick" if args.quick else "")
        + (f" --threads {args.threads}" if args.threads != 2 else "")
    )
    atomic_write_bytes(outdir / "results.json", json.dumps(suite, indent=1, default=float).encode())
    # the generated tables; benchmarks/RESULTS.md holds the hand-written summary of both benchmarks
    atomic_write_bytes(outdir / "field_grid.md", bench.results_md(suite, command).encode())
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.8))
    bench.plot_scaling(suite, a1, a2)
    fig.tight_layout()
    fig.savefig(outdir / "scaling.png", dpi=120)
    plt.close(fig)
    print(bench.table(suite))
    print(bench.key_summary(suite))
    return outdir / "field_grid.md"


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    main()
