"""Multi-head attention with factored value maps: ours against PyTorch and row-blocked numpy.

One evaluation of the SA velocity at n points on S^{d-1} (uniform), H heads of d_k = d_v:
logits beta <Q_h x_i, K_h x_j> with beta = 1/sqrt(d_k), value maps O_h V_h, then the tangent
projection. Implementations, each given the same weights and points:

- **ours**: ``particles.velocity(x, Dynamics(Q=(H,d_k,d), K, V=(H,d_v,d), O=(H,d,d_v)))``;
- **torch**: the projections x W^T as one matmul each, ``scaled_dot_product_attention`` on
  4-D (1, H, n, d_k) inputs (its flash CPU kernel), the output projection, the tangent projection;
  ``torch.set_num_threads(threads)``;
- **numpy**: the same projections, then per head row blocks of 256: logits GEMM, max-subtracted
  exp, GEMM with the values, normalised; the output projection.

Each implementation runs in its own subprocess (its own thread pools; ``NUMBA_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` = threads). Rounds are
interleaved: in each round every cell is timed by each implementation in turn, and the GEMM peak
(numpy, a 4096^2 matmul) is measured at the start of every round; the table shows medians over
rounds (each round's time is the median of at least 3 calls after a warm-up). Share of the peak:
the flops the factored computation needs, 2 n^2 (d_k + d_v) H + 4 n d H d_v per evaluation, over
the time, over the median peak of the dtype. "agree" is the largest relative difference of the
three results on a few rows (ours against torch and numpy).

Usage::

    python benchmarks/bench_heads.py --quick   # n = 512, 1024; 2 rounds (~3 min quiet)
    python benchmarks/bench_heads.py           # n = 512 ... 8192; 3 rounds (~15-25 min quiet)

Markdown to stdout; the raw results as JSON to ``--json`` (default ``benchmarks/heads.json``,
``benchmarks/quick/heads.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: (d, H, d_k = d_v): MiniLM, BERT-base, the paper's single general head, a 512-wide model
SHAPES = [(384, 12, 32), (768, 12, 64), (64, 1, 64), (512, 8, 64)]
NS = [512, 1024, 2048, 4096, 8192]
QUICK_NS = [512, 1024]
IMPLS = ("ours", "torch", "numpy")
BLOCK_ROWS = 256


def needed_flops(n: int, d: int, H: int, dk: int) -> float:
    """2 n^2 (d_k + d_v) H + 4 n d H d_v with d_v = d_k."""
    return 2.0 * n * n * (2 * dk) * H + 4.0 * n * d * H * dk


# --- the worker (one per implementation) ----------------------------------------------------------
def _inputs(d, H, dk, n, dtype, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    Q = rng.standard_normal((H, dk, d))
    K = rng.standard_normal((H, dk, d))
    V = rng.standard_normal((H, dk, d))
    O = rng.standard_normal((H, d, dk)) / np.sqrt(H * dk)
    return x, Q, K, V, O, 1.0 / np.sqrt(dk)


def _make(impl, d, H, dk, n, dtype):
    """A callable returning the velocity (n, d) as a numpy array of ``dtype``."""
    import numpy as np

    x, Q, K, V, O, beta = _inputs(d, H, dk, n, dtype)
    if impl == "ours":
        import particles as pt

        dyn = pt.Dynamics(beta=beta, Q=Q, K=K, V=V, O=O)
        dt = np.dtype(dtype).type
        return lambda: pt.velocity(x, dyn, dtype=dt)
    x = x.astype(dtype)
    W = np.concatenate([Q.reshape(H * dk, d), K.reshape(H * dk, d), V.reshape(H * dk, d)])
    W = W.astype(dtype)
    Ocat = np.concatenate(list(O), axis=1).astype(dtype)  # (d, H dv)
    if impl == "torch":
        import torch
        import torch.nn.functional as F

        xt, Wt, Ot = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x, W, Ocat))

        def fn():
            with torch.no_grad():
                p = xt @ Wt.T  # (n, 3 H dk)
                q, k, v = (
                    p[:, i * H * dk : (i + 1) * H * dk].reshape(n, H, dk).transpose(0, 1)[None]
                    for i in range(3)
                )
                y = F.scaled_dot_product_attention(q, k, v, scale=beta)[0]  # (H, n, dv)
                f = y.transpose(0, 1).reshape(n, H * dk) @ Ot.T
                return (f - (f * xt).sum(dim=1, keepdim=True) * xt).numpy()

        return fn

    def fn():
        p = x @ W.T
        y = np.empty((n, H * dk), dtype=x.dtype)
        for h in range(H):
            q = p[:, h * dk : (h + 1) * dk]
            k = np.ascontiguousarray(p[:, (H + h) * dk : (H + h + 1) * dk])
            v = np.ascontiguousarray(p[:, (2 * H + h) * dk : (2 * H + h + 1) * dk])
            for r0 in range(0, n, BLOCK_ROWS):
                s = q[r0 : r0 + BLOCK_ROWS] @ k.T
                s *= x.dtype.type(beta)
                s -= s.max(axis=1, keepdims=True)
                np.exp(s, out=s)
                y[r0 : r0 + BLOCK_ROWS, h * dk : (h + 1) * dk] = (s @ v) / s.sum(
                    axis=1, keepdims=True
                )
        f = y @ Ocat.T
        return f - np.sum(f * x, axis=1, keepdims=True) * x

    return fn


def _gemm(dtype, size):
    import numpy as np

    a = np.random.default_rng(0).random((size, size)).astype(dtype)
    b = a.T.copy()
    a @ b
    times = []
    for _ in range(3):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2.0 * size**3 / min(times) / 1e9


def _time(fn, min_time):
    import numpy as np

    y = fn()  # warm-up (first touch, compilation)
    times = []
    t_all = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - t_all < min_time and len(times) < 15):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    rows = [0, y.shape[0] // 2, y.shape[0] - 1]
    return float(np.median(times)), float(np.min(times)), np.asarray(y[rows], float).tolist()


def worker(impl: str, threads: int) -> None:
    """Answer JSON jobs from stdin, one per line, with one JSON line each."""
    if impl == "torch":
        import torch

        torch.set_num_threads(threads)
    for line in sys.stdin:
        job = json.loads(line)
        try:
            if "gemm" in job:
                res = {"gflops": _gemm(job["gemm"], job["size"])}
            else:
                fn = _make(impl, job["d"], job["H"], job["dk"], job["n"], job["dtype"])
                sec, best, rows = _time(fn, job["min_time"])
                res = {"seconds": sec, "best": best, "rows": rows}
        except Exception as e:  # report, keep serving
            res = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res), flush=True)


# --- the driver ---------------------------------------------------------------------------------
class Worker:
    """A worker subprocess of ``script`` (default: this file) answering JSON jobs."""

    def __init__(self, impl: str, threads: int, script: Path | None = None):
        env = dict(os.environ)
        for key in (
            "NUMBA_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
        ):
            env[key] = str(threads)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, str(Path(script or __file__).resolve()), "--worker", impl]
        cmd += ["--threads", str(threads)]
        self.p = subprocess.Popen(
            cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, job: dict) -> dict:
        self.p.stdin.write(json.dumps(job) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        return json.loads(line) if line else {"error": "worker died"}

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


def have_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def run(quick: bool, threads: int, rounds: int, shapes, ns, dtypes, gemm_size: int) -> dict:
    import numpy as np

    impls = [i for i in IMPLS if i != "torch" or have_torch()]
    workers = {i: Worker(i, threads) for i in impls}
    cells = [(s, n, dt) for dt in dtypes for s in shapes for n in ns]
    raw = {"peak": {dt: [] for dt in dtypes}, "cells": {}}
    min_time = 0.3 if quick else 1.0
    try:
        for r in range(rounds):
            for dt in dtypes:
                raw["peak"][dt].append(workers["numpy"].ask({"gemm": dt, "size": gemm_size}))
            for (d, H, dk), n, dt in cells:
                key = f"{d},{H},{dk},{n},{dt}"
                for impl in impls:
                    job = dict(d=d, H=H, dk=dk, n=n, dtype=dt, min_time=min_time)
                    res = workers[impl].ask(job)
                    raw["cells"].setdefault(key, {}).setdefault(impl, []).append(res)
                print(f"round {r + 1}/{rounds}: {key} done", file=sys.stderr, flush=True)
    finally:
        for w in workers.values():
            w.close()
    peaks = {
        dt: float(np.median([p["gflops"] for p in raw["peak"][dt] if "gflops" in p]))
        for dt in dtypes
    }
    table = []
    for (d, H, dk), n, dt in cells:
        key = f"{d},{H},{dk},{n},{dt}"
        row = dict(d=d, H=H, dk=dk, n=n, dtype=dt, flops=needed_flops(n, d, H, dk))
        got = raw["cells"][key]
        for impl in impls:
            ok = [x for x in got[impl] if "seconds" in x]
            row[impl] = float(np.median([x["seconds"] for x in ok])) if ok else None
            if not ok:
                row[impl + "_error"] = got[impl][0].get("error")
        ref = next((x for x in got["ours"] if "rows" in x), None)
        if ref is not None:
            a = np.asarray(ref["rows"])
            diffs = [
                float(np.max(np.abs(np.asarray(x["rows"]) - a)) / np.max(np.abs(a)))
                for impl in impls[1:]
                for x in got[impl][:1]
                if "rows" in x
            ]
            row["agree"] = max(diffs) if diffs else None
        for impl in impls:  # the best call of any round, for a loaded machine
            best = [x["best"] for x in got[impl] if "best" in x]
            row[impl + "_best"] = min(best) if best else None
            for x in got[impl]:
                x.pop("rows", None)  # (compared above; not kept in the JSON)
        if row["ours"]:
            row["share"] = row["flops"] / row["ours"] / 1e9 / peaks[dt]
        table.append(row)
    return dict(
        quick=quick,
        threads=threads,
        rounds=rounds,
        peaks=peaks,
        table=table,
        raw=raw,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        load=os.getloadavg(),
        openblas_coretype=os.environ.get("OPENBLAS_CORETYPE") or "(OpenBLAS's choice for this CPU)",
    )


def _ratio(row: dict, impl: str) -> str:
    o, other = row["ours"], row.get(impl)
    return "–" if not (o and other) else f"{other / o:.2f}×"


def markdown(res: dict) -> str:
    def t(s):
        return "–" if s is None else (f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s")

    pk = ", ".join(f"{dt} {g:.1f} GFLOP/s" for dt, g in res["peaks"].items())
    lines = [
        f"GEMM peak (numpy, median over rounds): {pk}. {res['threads']} threads, "
        f"{res['rounds']} interleaved rounds, {res['date']}, load {res['load'][0]:.1f}, "
        f"OPENBLAS_CORETYPE {res.get('openblas_coretype', 'Haswell')}.",
        "",
        "| d, H, d_k=d_v | n | dtype | ours | torch SDPA | numpy rows | torch / ours "
        "| numpy / ours | % of peak (ours) | agree |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["table"]:
        o = r["ours"]
        share = "–" if "share" not in r else f"{100 * r['share']:.0f}%"
        agree = "–" if r.get("agree") is None else f"{r['agree']:.0e}"
        lines.append(
            f"| {r['d']}, {r['H']}, {r['dk']} | {r['n']} | {r['dtype']} | {t(o)} "
            f"| {t(r.get('torch'))} | {t(r.get('numpy'))} | {_ratio(r, 'torch')} | {_ratio(r, 'numpy')} "
            f"| {share} | {agree} |"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 512, 1024; 2 rounds")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--dtype", choices=("float64", "float32", "both"), default="both")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--worker", choices=IMPLS, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.threads)
        return {}
    rounds = args.rounds or (2 if args.quick else 3)
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    ns = QUICK_NS if args.quick else NS
    res = run(args.quick, args.threads, rounds, SHAPES, ns, dtypes, 2048 if args.quick else 4096)
    out = args.json or (HERE / "quick" / "heads.json" if args.quick else HERE / "heads.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(markdown(res))
    return res


if __name__ == "__main__":
    main()
