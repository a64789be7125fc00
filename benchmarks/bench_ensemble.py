"""Ensemble throughput on the full workload of arXiv 2312.10794, Fig. 3 (target: < 15 min, 2 cores).

Workload: 6 panels d in {2, 8, 32, 128, 512, 1024}, n = 32, 1024 seeds, 90 betas (linspace(0.1, 9, 90)),
t in [0, 30] with the authors' scheme (Euler + renormalise, dt = 0.1: 300 steps), the pair statistic at
every step: 6 * 90 * 1024 * 300 = 165.9 M system-steps.

Compared, on the same machine and run:

- ``particles``: :func:`particles.analysis.phase.phase_diagrams` (numba, prange over systems; Gram formulation for
  d >= n, coordinates below; a system stops once every pair is above 1 - delta, which is exact for this
  scheme, see ``particles.solvers.kernels._collapsed``);
- ``naive batched numpy``: the authors' scheme re-implemented in numpy as in phase-diagrams.py
  (borjanG/2023-transformers-rotf): X (B, n, d), per step S = beta X X^T (batched matmul), row softmax,
  X += dt A X, renormalise rows; the pair fraction of the Gram matrix at every step; all 300 steps for
  every system (no early stop);
- ``naive per-system loop``: the same maths one system at a time (a Python loop over systems and steps).

By default the script times a sample (every ``--beta-stride``-th beta of every panel for particles; a few
betas and steps for the numpy baselines, whose cost per system-step does not depend on beta) and
extrapolates to the full workload; ``--full`` runs the whole particles workload. Accuracy: the particles
and naive pair fractions are compared on a common sub-ensemble (they are the same scheme, so they agree to
rounding). The machine is shared: every timing is the median of ``--reps`` repeats, wall and CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from particles.analysis.phase import PhaseParams, phase_diagrams  # noqa: E402
from particles.solvers import ensemble  # noqa: E402

DS = (2, 8, 32, 128, 512, 1024)
BETAS = tuple(np.round(np.linspace(0.1, 9, 90), 10))
SEEDS, N, T_END, DT, DELTA = 1024, 32, 30.0, 0.1, 1e-3
STEPS = int(round(T_END / DT))
FULL_SYSTEM_STEPS = len(DS) * len(BETAS) * SEEDS * STEPS


def machine() -> dict:
    import numba
    import scipy

    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "threading_layer": numba.config.THREADING_LAYER,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "load_avg_at_start": os.getloadavg(),
    }


def naive_batched(X, beta, steps, dt=DT, delta=DELTA):
    """The authors' batched scheme in numpy. X (B, n, d) is advanced in place; returns P (steps + 1,)."""
    B, n, _ = X.shape
    off = ~np.eye(n, dtype=bool)
    out = np.empty(steps + 1)

    def stat():
        G = X @ np.swapaxes(X, 1, 2)
        return np.mean(G[:, off] > 1 - delta)

    out[0] = stat()
    for k in range(steps):
        S = beta * (X @ np.swapaxes(X, 1, 2))
        S -= S.max(axis=2, keepdims=True)
        A = np.exp(S)
        A /= A.sum(axis=2, keepdims=True)
        X += dt * (A @ X)
        X /= np.linalg.norm(X, axis=2, keepdims=True)
        out[k + 1] = stat()
    return out


def naive_per_system(X, beta, steps, dt=DT, delta=DELTA):
    """The same scheme, one system at a time."""
    n = X.shape[1]
    off = ~np.eye(n, dtype=bool)
    acc = np.zeros(steps + 1)
    for s in range(X.shape[0]):
        x = X[s].copy()
        G = x @ x.T
        acc[0] += np.mean(G[off] > 1 - delta)
        for k in range(steps):
            S = beta * (x @ x.T)
            S -= S.max(axis=1, keepdims=True)
            A = np.exp(S)
            A /= A.sum(axis=1, keepdims=True)
            x = x + dt * (A @ x)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            G = x @ x.T
            acc[k + 1] += np.mean(G[off] > 1 - delta)
    return acc / X.shape[0]


def timed(fn, reps):
    walls, cpus, out = [], [], None
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def bench_particles(stride: int, reps: int, full: bool) -> dict:
    t0 = time.perf_counter()
    compile_s = ensemble.compile_kernels()
    compile_wall = time.perf_counter() - t0
    betas = BETAS if full else BETAS[::stride]
    plist = [PhaseParams(n=N, d=d, betas=betas, t_end=T_END, dt=DT, seeds=SEEDS) for d in DS]
    per_d = {}
    total_wall = total_cpu = 0.0
    for p in plist:

        def run(p=p):
            with tempfile.TemporaryDirectory() as st:
                return phase_diagrams(p, store=st, progress=False)[0]

        wall, cpu, dg = timed(run, reps)
        steps = len(p.betas) * SEEDS * STEPS
        per_d[p.d] = {
            "betas": len(p.betas),
            "wall_s": wall,
            "cpu_s": cpu,
            "kernel_s": dg.run_s,
            "system_steps_per_s": steps / wall,
            "formulation": "gram" if p.gram else "coordinates",
        }
        total_wall += wall
        total_cpu += cpu
    scale = 1.0 if full else len(BETAS) / len(betas)
    return {
        "compile_s": compile_s,
        "compile_wall_s": compile_wall,
        "sampled_betas": len(betas),
        "per_d": per_d,
        "full_wall_s_est": total_wall * scale,
        "full_cpu_s_est": total_cpu * scale,
        "system_steps_per_s": FULL_SYSTEM_STEPS / (total_wall * scale),
    }


def bench_naive(reps: int, batch: int, steps: int, per_system_batch: int) -> dict:
    res = {"batched": {}, "per_system": {}}
    total_b = total_s = 0.0
    for d in DS:
        X0 = ensemble.random_points_batch(N, d, batch, 0)

        def run_b(X0=X0):
            return naive_batched(X0.copy(), 5.0, steps)

        wall, cpu, _ = timed(run_b, reps)
        rate = batch * steps / wall
        res["batched"][d] = {"wall_s": wall, "cpu_s": cpu, "system_steps_per_s": rate}
        total_b += len(BETAS) * SEEDS * STEPS / rate
        Xs = X0[:per_system_batch]

        def run_s(Xs=Xs):
            return naive_per_system(Xs, 5.0, steps)

        wall, cpu, _ = timed(run_s, max(1, reps // 2))
        rate = per_system_batch * steps / wall
        res["per_system"][d] = {"wall_s": wall, "cpu_s": cpu, "system_steps_per_s": rate}
        total_s += len(BETAS) * SEEDS * STEPS / rate
    res["batched_full_wall_s_est"] = total_b
    res["per_system_full_wall_s_est"] = total_s
    return res


def accuracy(seeds: int = 64) -> dict:
    """Max |P_particles - P_naive| over t on a common sub-ensemble, d in {8, 128}, beta in {1, 5, 9}."""
    worst = 0.0
    for d in (8, 128):
        for beta in (1.0, 5.0, 9.0):
            p = PhaseParams(n=N, d=d, betas=(beta,), seeds=seeds)
            X = np.stack(
                [
                    ensemble.random_points_batch(N, d, 1, np.random.default_rng([0, N, d, s]))[0]
                    for s in range(seeds)
                ]
            )
            ref = naive_batched(X.copy(), beta, STEPS)
            with tempfile.TemporaryDirectory() as st:
                dg = phase_diagrams(p, store=st, progress=False)[0]
            worst = max(worst, float(np.max(np.abs(dg.P[0] - ref))))
    return {"max_abs_dP": worst, "one_pair_of_one_seed": 1.0 / (N * (N - 1) * seeds)}


def from_store(store) -> dict:
    """Kernel seconds of a finished full Fig. 3 run kept in ``store`` (figures/fig3_phase_diagrams.py)."""
    from particles.analysis.phase import phase_tasks
    from particles.sweeps.sweep import load_result

    per_d, total = {}, 0.0
    for d in DS:
        p = PhaseParams(n=N, d=d, betas=BETAS, t_end=T_END, dt=DT, seeds=SEEDS)
        run_s = sum(load_result(store, t.key)[1]["run_s"] for t in phase_tasks(p))
        per_d[d] = run_s
        total += run_s
    return {
        "kernel_s_per_d": per_d,
        "kernel_s_total": total,
        "system_steps_per_s": FULL_SYSTEM_STEPS / total,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="run the whole particles workload")
    ap.add_argument("--beta-stride", type=int, default=10, help="particles: time every k-th beta")
    ap.add_argument("--reps", type=int, default=3, help="repeats of the numpy timings (median)")
    ap.add_argument("--particles-reps", type=int, default=3, help="repeats of the particles timing")
    ap.add_argument("--naive-batch", type=int, default=256, help="systems per naive batched timing")
    ap.add_argument("--naive-steps", type=int, default=10)
    ap.add_argument("--per-system-batch", type=int, default=16)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--store", default=None, help="also report a finished full run kept here")
    ap.add_argument(
        "--no-sample",
        action="store_true",
        help="skip the particles sample (use --store's full run)",
    )
    a = ap.parse_args(argv)
    out = {"machine": machine(), "workload_system_steps": FULL_SYSTEM_STEPS}
    print(json.dumps(out["machine"]), flush=True)
    if a.store:
        out["full_run_store"] = from_store(a.store)
        print("full run (store)", json.dumps(out["full_run_store"]), flush=True)
    out["accuracy"] = accuracy()
    print("accuracy", json.dumps(out["accuracy"]), flush=True)
    if a.no_sample and not a.store:
        out["particles"] = None
    elif a.no_sample:
        if not a.store:
            ap.error("--no-sample needs --store")
        out["particles"] = {
            "full_wall_s_est": out["full_run_store"]["kernel_s_total"],
            "compile_s": ensemble.compile_kernels(),
            "source": "kernel seconds of the full run in --store",
        }
    else:
        out["particles"] = bench_particles(a.beta_stride, a.particles_reps, a.full)
    print("particles", json.dumps(out["particles"]), flush=True)
    out["naive"] = bench_naive(a.reps, a.naive_batch, a.naive_steps, a.per_system_batch)
    print("naive", json.dumps(out["naive"]), flush=True)
    if out["particles"] is None:
        if a.json:
            Path(a.json).write_text(json.dumps(out, indent=1))
        return out
    pw = out["particles"]["full_wall_s_est"]
    print(
        f"\nfull Fig. 3 workload ({FULL_SYSTEM_STEPS / 1e6:.1f} M system-steps):\n"
        f"  particles            {pw:8.0f} s  ({FULL_SYSTEM_STEPS / pw / 1e6:.2f} M system-steps/s)"
        f"  compile {out['particles']['compile_s']:.1f} s (apart)\n"
        f"  naive batched numpy  {out['naive']['batched_full_wall_s_est']:8.0f} s"
        f"  ({out['naive']['batched_full_wall_s_est'] / pw:.1f}x)\n"
        f"  naive per-system     {out['naive']['per_system_full_wall_s_est']:8.0f} s"
        f"  ({out['naive']['per_system_full_wall_s_est'] / pw:.1f}x)"
    )
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
