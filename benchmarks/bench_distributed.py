"""Strong scaling of one field evaluation on a Dask LocalCluster, and what a larger cluster would give.

    python benchmarks/bench_distributed.py [--n 8192,16384,32768] [--d 16] [--rounds 3]

One exact SA field evaluation (Q = K = V = I, beta = 1, float64) at each n, measured interleaved in
rounds: the local evaluation on 1 core and on 2, and the distributed one (``velocity(x, dyn,
scheduler=...)``) on LocalClusters of 1 and 2 single-threaded worker processes: wall time, and CPU
time (the local process time; the thread time of every block, logged in the workers), which is what
a shared, loaded machine can still measure. Then the inputs of the extrapolation: the blocks' rate
per CPU second, the time to broadcast x and to bring a block back on this machine, and the model
T(W) = n^2 / (W R) + (1 + ceil(log2 W)) 8 n d / B + 8 n d / B for W workers and bandwidth B (x goes
to one worker, then Dask's replicate copies it along a tree: each round doubles the holders; the
blocks come back once). Prints markdown; ``--json PATH`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time

import numpy as np


def _now():
    return time.perf_counter()


def _install_timer():
    """In a worker: log (pid, thread CPU seconds) of every block (CPU time is robust to the load)."""
    import particles.field.dask as D

    real = getattr(D, "_bench_real", D._block)
    D._bench_real, D._bench_log = real, []

    def block(*a, **k):
        c0 = time.thread_time()
        out = real(*a, **k)
        D._bench_log.append((os.getpid(), time.thread_time() - c0))
        return out

    block.__module__, block.__qualname__ = real.__module__, real.__qualname__
    D._block = block


def _take_log():
    import particles.field.dask as D

    log, D._bench_log = list(D._bench_log), []
    return log


def main(ns=(8192, 16384, 32768), d=16, rounds=3, json_path=None) -> str:
    import dask
    import distributed
    import numba

    import particles as pt
    from particles import config
    from particles.field.dask import DaskField

    dyn = pt.Dynamics(beta=1.0)
    load0 = os.getloadavg()
    clusters = {}
    for w in (1, 2):
        cl = distributed.LocalCluster(
            n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None
        )
        c = distributed.Client(cl)
        c.run(_install_timer)
        clusters[w] = (cl, c)
    fields = {w: DaskField(c) for w, (_, c) in clusters.items()}
    cores = numba.get_num_threads()

    def local(x, threads):
        old = config.THREADS
        config.THREADS = threads
        numba.set_num_threads(threads)
        try:
            if threads == 1:
                with config.blas_threads(1):
                    return pt.velocity(x, dyn)
            return pt.velocity(x, dyn)
        finally:
            config.THREADS = old
            numba.set_num_threads(cores)

    cases = {
        "local, 1 core": lambda x: local(x, 1),
        "local, 2 cores": lambda x: local(x, 2),
        "Dask, 1 worker": lambda x: fields[1].velocity(x, dyn),
        "Dask, 2 workers": lambda x: fields[2].velocity(x, dyn),
    }
    results = {}
    for n in ns:
        x = pt.random_points(n, d, rng=0)
        for fn in cases.values():  # warm-up (compilation, worker imports)
            fn(x)
        same = bool(np.array_equal(cases["Dask, 2 workers"](x), cases["local, 1 core"](x)))
        for _, c in clusters.values():
            c.run(_take_log)
        times = {k: [] for k in cases}
        cpu = {k: [] for k in cases}
        crit = {k: [] for k in cases}
        for _ in range(rounds):
            for k, fn in cases.items():
                c0, t0 = time.process_time(), _now()
                fn(x)
                times[k].append(_now() - t0)
                if k.startswith("local"):
                    cpu[k].append(time.process_time() - c0)
                    continue
                w = 1 if "1 worker" in k else 2
                per = {}
                for log in clusters[w][1].run(_take_log).values():
                    for pid, sec in log:
                        per[pid] = per.get(pid, 0.0) + sec
                cpu[k].append(sum(per.values()))
                crit[k].append(max(per.values()))
        results[n] = {"wall": times, "cpu": cpu, "critical": crit, "bit_identical_to_1_core": same}

    # moving x: scatter (broadcast) and a block's way back, n = 10^6, d = 16 here (loopback)
    big = pt.random_points(1_000_000, 16, rng=0)
    client = clusters[2][1]
    scat, back_t = [], []
    for _ in range(rounds):
        t0 = _now()
        f = client.scatter(big, broadcast=True, hash=False)
        distributed.wait(f)
        scat.append(_now() - t0)
        back = client.submit(np.copy, f, pure=False)
        distributed.wait(back)
        t0 = _now()
        back.result()
        back_t.append(_now() - t0)
        del f, back
    scatter, gather = min(scat), min(back_t)

    for _, (cl, c) in clusters.items():
        c.close()
        cl.close()
    load1 = os.getloadavg()

    n = max(ns)
    r_block = n * n / min(results[n]["cpu"]["Dask, 2 workers"])  # pairs / CPU second in blocks
    r_local = n * n / min(results[n]["cpu"]["local, 1 core"])
    out = [
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average (1, 5, 15 min) at start "
        f"{', '.join(f'{v:.2f}' for v in load0)}, at end {', '.join(f'{v:.2f}' for v in load1)}; "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}, numpy {np.__version__}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}; {rounds} interleaved rounds",
        "",
        f"Wall time of one evaluation, SA, Q = K = V = I, beta = 1, d = {d}, float64 (best / median "
        "of the rounds; speed-up against the local 1-core best):",
        "",
        "| n | " + " | ".join(cases) + " | bits vs 1 core |",
        "|---|" + "---|" * (len(cases) + 1),
    ]
    for n in ns:
        t = results[n]["wall"]
        base = min(t["local, 1 core"])
        cells = [
            f"{min(t[k]):.3f} / {statistics.median(t[k]):.3f} ({base / min(t[k]):.2f}x)"
            for k in cases
        ]
        bits = "identical" if results[n]["bit_identical_to_1_core"] else "differ"
        out.append(f"| {n} | " + " | ".join(cells) + f" | {bits} |")
    out += [
        "",
        "CPU seconds of one evaluation (best of the rounds; robust to the load): the local 1-core "
        "process time, the sum of the blocks' thread times, and the critical path (the busiest "
        "worker's blocks); ideal speed-up = local 1-core CPU / (critical path + broadcast of x):",
        "",
        "| n | local 1 core | blocks, 1 worker | blocks, 2 workers | critical path, 2 workers "
        "| work ratio blocks / local | ideal speed-up, 2 workers |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in ns:
        c, cr = results[n]["cpu"], results[n]["critical"]
        loc, b1, b2 = min(c["local, 1 core"]), min(c["Dask, 1 worker"]), min(c["Dask, 2 workers"])
        cp = min(cr["Dask, 2 workers"])
        sc = scatter * n / 1e6  # the broadcast scales with n d
        out.append(
            f"| {n} | {loc:.3f} | {b1:.3f} | {b2:.3f} | {cp:.3f} | {b2 / loc:.2f} "
            f"| {loc / (cp + sc):.2f}x |"
        )
    out += [
        "",
        f"Rates at n = {n}: blocks {r_block:.3g} (row, column) pairs per CPU second, local 1 core "
        f"{r_local:.3g} (the local Gram path exponentiates each off-diagonal tile once; a block "
        f"exponentiates both halves it needs).",
        f"Broadcast of x (n = 10^6, d = 16, 128 MB) to 2 local workers: {scatter:.2f} s; one "
        f"128 MB result back: {gather:.2f} s (loopback: serialisation and copies, no network).",
        "",
        "Model for W single-core workers (R = the block rate above, B = network bandwidth):",
        "",
        "| n | W | B | compute n^2/(W R) | x out (1 + log2 W hops) + back | total | efficiency |",
        "|---|---|---|---|---|---|---|",
    ]
    model = []
    for nn in (10**6, 10**7):
        for w in (1, 64):
            for bw, bname in ((1.25e9, "10 Gb/s"), (3.1e9, "25 Gb/s")):
                comp = nn * nn / (w * r_block)
                hops = 1 + (math.ceil(math.log2(w)) if w > 1 else 0)
                comm = (hops + 1) * 8 * nn * 16 / bw
                tot = comp + comm
                model.append(dict(n=nn, workers=w, bandwidth=bname, compute=comp, comm=comm))
                out.append(
                    f"| 10^{round(math.log10(nn))} | {w} | {bname} | {_dur(comp)} | {_dur(comm)} "
                    f"| {_dur(tot)} | {comp / tot:.1%} |"
                )
    text = "\n".join(out)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(
                {
                    "results": {str(k): v for k, v in results.items()},
                    "block_pairs_per_cpu_s": r_block,
                    "local1_pairs_per_cpu_s": r_local,
                    "scatter_s": scatter,
                    "gather_s": gather,
                    "load": [load0, load1],
                    "model": model,
                },
                f,
                indent=1,
            )
    return text


def _dur(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.2f} s"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", default="8192,16384,32768")
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    print(main(tuple(int(v) for v in a.n.split(",")), a.d, a.rounds, a.json))
