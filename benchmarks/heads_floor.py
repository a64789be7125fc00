"""The floor under the multi-head field: how fast could any unfused OpenBLAS implementation be?

For each cell of the multi-head table (``bench_heads.py``: shapes (d, H, d_k = d_v), n, dtype),
measured in one run, on the same threads, in interleaved rounds:

- **ours**: one ``particles.velocity`` evaluation with factored value maps, and **torch**:
  ``scaled_dot_product_attention`` with the same projections (both exactly as ``bench_heads.py``
  times them: its ``_make`` and ``_time``);
- **the floor**: only the GEMMs our factored computation issues, at the shapes, tiles and threads
  it issues them (read from ``particles.field.tiles.Tiling`` and
  ``particles.field.inputs.factored_inputs`` at that cell: row tiles of ``tr`` rows, column tiles
  of ``tc``, tasks on ``threads`` Python threads with one-thread OpenBLAS each), done with numpy
  alone, plus the exponentials (our kernel ``_exp_shift_tile.serial``, i.e. ``_exp_shift_row`` on
  every row, on the same tiles and threads: H n^2 elements), plus nothing else. Parts, each timed
  on its own:

  - ``proj``: x[rows] (tr, d) @ W^T (d, 3 H d_k), every row tile (the stacked Q, K, V maps);
  - ``logits``: per row tile, head and column tile, q (tr, d_k) @ k^T (d_k, tc);
  - ``values``: per row tile, head and column tile, s (tr, tc) @ v (tc, d_v), written into the
    first d_v columns of a (tr, d_v + 1) buffer as our code does;
  - ``outmap``: per row tile, Y (tr, H d_v) @ [O_1 ... O_H]^T (H d_v, d);
  - ``exp``: exp(beta s_ij - c_i) in place on every (tr, tc) logits tile;

  floor = gemm + exp, gemm = proj + logits + values + outmap (medians over rounds of each part);
- **torch mm**: the same four GEMM parts with ``torch.mm`` (torch's BLAS, MKL in the pip wheels),
  same tasks on the same Python threads with ``torch.set_num_threads(1)``: is torch's BLAS faster
  than OpenBLAS at these shapes?

From these, per cell: target = torch / 1.2 (the goal: 1.2x faster than torch). If floor > target,
no implementation built from OpenBLAS GEMMs and our exponentials, unfused, reaches the goal (the
table says by how much); otherwise ours - floor is the overhead (everything but GEMMs and
exponentials: row sums, partial-sum additions, copies of the projections, checks, the tangent
projection, thread waits) and ours - target is how much of it must go.

Three subprocesses (``bench_heads.Worker``: thread variables = threads): ours, the floor, and
torch (SDPA and torch.mm). Every round times every cell by every worker in turn (n = 8192 in all rounds but the
last). Within a round each number is the median of at least 3 calls after a warm-up (n <= 2048:
calls for at least ``--min-time`` seconds, each floor part half of it).

Usage::

    python benchmarks/heads_floor.py --quick    # n = 1024, two shapes, 1 round (~1 min)
    python benchmarks/heads_floor.py            # the 32 cells n >= 1024; ~8-12 min quiet
    python benchmarks/heads_floor.py --markdown benchmarks/heads_floor.json   # the table only

``--coretypes Haswell,SkylakeX`` runs ours and the floor under both OpenBLAS kernels (their own
worker processes, interleaved; torch once): about 1.5 times as long. On a loaded machine wall
times mean little; ``--threads 1 --clock cpu`` gives the per-core table
in CPU seconds (each process's own), ``--stat best`` the best call instead of medians.

Markdown to stdout; JSON to ``--json`` (default ``benchmarks/heads_floor.json``, with
``--quick`` ``benchmarks/quick/heads_floor.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_heads as bh  # noqa: E402

SHAPES = bh.SHAPES
NS = [1024, 2048, 4096, 8192]
QUICK_SHAPES = [(384, 12, 32), (64, 1, 64)]
QUICK_NS = [1024]
GOAL = 1.2
#: the workers and what each times
KINDS = {"ours": ("ours",), "floor": ("floor",), "torch": ("torch", "torch_mm")}
GEMM_PARTS = ("proj", "logits", "values", "outmap")
FLOOR_PARTS = GEMM_PARTS + ("exp",)


# --- the GEMM plan of one cell -------------------------------------------------------------------
def cell_plan(d: int, H: int, dk: int, n: int, dtype: str) -> dict:
    """Our factored computation's tiles at this cell and its operands (real data, this dtype).

    Reads the tiles from the field code (``Tiling.here()``, ``factored_inputs``), so that the floor
    follows the tile sizes our code uses; checks that every head takes the one-pass bounded online
    path (the only one the floor models)."""
    import numpy as np

    import particles as pt
    from particles.field import inputs, tiles

    x, Q, K, V, O, beta = bh._inputs(d, H, dk, n, dtype)
    dyn = pt.Dynamics(beta=beta, Q=Q, K=K, V=V, O=O)
    xd = np.ascontiguousarray(x, dtype=dtype)
    plan = tiles.Tiling.here()
    hd = inputs.factored_inputs(xd, dyn, plan)
    if hd.gram or any(shift is None for _, shift in hd.online):
        raise RuntimeError("the floor models the bounded online path only (Q != K, shift bound)")
    W = np.concatenate([Q.reshape(H * dk, d), K.reshape(H * dk, d), V.reshape(H * dk, d)])
    W = W.astype(dtype)
    proj_threads = plan.threads_for(float(n) * d * W.shape[0])
    shifts = [shift.astype(dtype) for _, shift in hd.online]
    return dict(
        n=n,
        d=d,
        H=H,
        dk=dk,
        dv=hd.dv,
        beta=beta,
        x=xd,
        W=W,
        q=hd.q,
        k=hd.k,
        v=hd.v,
        OT=hd.OT,
        shifts=shifts,
        tr=hd.tr,
        tc=hd.tc,
        threads=hd.threads,
        proj_threads=proj_threads,
    )


def gemm_list(p: dict) -> dict:
    """The GEMMs of the plan per part: {part: [(m, k, n, count)]} (one GEMM: (m, k) @ (k, n))."""
    n, d, H, dk, dv, tr, tc = (p[a] for a in ("n", "d", "H", "dk", "dv", "tr", "tc"))
    out = {part: {} for part in GEMM_PARTS}

    def add(part, m, k, nn, count=1):
        out[part][(m, k, nn)] = out[part].get((m, k, nn), 0) + count

    for r0 in range(0, n, tr):
        B = min(n, r0 + tr) - r0
        add("proj", B, d, 3 * H * dk)
        for c0 in range(0, n, tc):
            C = min(n, c0 + tc) - c0
            add("logits", B, dk, C, H)
            add("values", B, C, dv, H)
        add("outmap", B, H * dv, d)
    return {part: [(*s, c) for s, c in g.items()] for part, g in out.items()}


def gemm_flops(p: dict) -> dict:
    return {
        part: sum(2.0 * m * k * nn * c for m, k, nn, c in g) for part, g in gemm_list(p).items()
    }


def exp_elements(p: dict) -> int:
    return p["H"] * p["n"] * p["n"]


# --- the floor's parts (numpy / OpenBLAS and our exp kernel) --------------------------------------
def floor_parts(p: dict) -> dict:
    """{part: callable} running that part of the floor once (same tasks, tiles, threads as ours)."""
    import numpy as np

    from particles.field import kernels, tiles

    n, H, dv, tr, tc, dt = p["n"], p["H"], p["dv"], p["tr"], p["tc"], p["x"].dtype
    x, WT, q, k, v, OT = p["x"], p["W"].T, p["q"], p["k"], p["v"], p["OT"]
    rows = list(range(0, n, tr))
    P = np.empty((n, WT.shape[1]), dt)
    Y = np.random.default_rng(1).random((n, H * dv)).astype(dt)
    out = np.empty((n, p["d"]), dt)
    empty = np.empty(0, dt)
    done = np.zeros((1, 1))  # what a part returns to bench_heads._time (which reads a few rows)

    def make_values():  # the weights in (0, 1], like the exponentials'
        return np.random.default_rng(2).random(tr * tc).astype(dt), np.empty((tr, dv + 1), dt)

    def make_logits():  # real logits of the first tile; the kernel keeps them in (0, 1] after
        B, C = min(n, tr), min(n, tc)
        s = np.empty(tr * tc, dt)
        with _blas1():  # (no OpenBLAS thread left spinning)
            np.matmul(q[0][:B], k[0][:C].T, out=s[: B * C].reshape(B, C))
        return s

    # the workspaces, made once per thread, outside the timed calls
    logits_ws = pooled(lambda: np.empty(tr * tc, dt), p["threads"])
    values_ws = pooled(make_values, p["threads"])
    exp_ws = pooled(make_logits, p["threads"])

    def run(work, make_ws, threads):
        with _blas1():
            tiles.run_tasks(rows, work, make_ws, threads)

    def proj():
        def work(r0, ws, threaded):
            np.matmul(x[r0 : r0 + tr], WT, out=P[r0 : r0 + tr])

        run(work, lambda: None, p["proj_threads"])
        return done

    def logits():
        def work(r0, sbuf, threaded):
            r1 = min(n, r0 + tr)
            for h in range(H):
                for c0 in range(0, n, tc):
                    c1 = min(n, c0 + tc)
                    s = sbuf[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
                    np.matmul(q[h][r0:r1], k[h][c0:c1].T, out=s)

        run(work, logits_ws, p["threads"])
        return done

    def values():
        def work(r0, ws, threaded):
            sbuf, dst = ws
            r1 = min(n, r0 + tr)
            for h in range(H):
                for c0 in range(0, n, tc):
                    c1 = min(n, c0 + tc)
                    s = sbuf[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
                    np.matmul(s, v[h][c0:c1], out=dst[: r1 - r0, :dv])

        run(work, values_ws, p["threads"])
        return done

    def outmap():
        def work(r0, ws, threaded):
            np.matmul(Y[r0 : r0 + tr], OT, out=out[r0 : r0 + tr])

        run(work, lambda: None, p["threads"])
        return done

    def exp():
        def work(r0, sbuf, threaded):
            r1 = min(n, r0 + tr)
            for h in range(H):
                cs = p["shifts"][h][r0:r1]
                for c0 in range(0, n, tc):
                    c1 = min(n, c0 + tc)
                    s = sbuf[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
                    kern = tiles.kernel(kernels._exp_shift_tile, s.size, threaded)
                    kern(s, p["beta"], cs, empty, 0, False)  # = _exp_shift_row on every row

        run(work, exp_ws, p["threads"])
        return done

    return dict(proj=proj, logits=logits, values=values, outmap=outmap, exp=exp)


def pooled(make, k: int):
    """A ``make_ws`` for ``run_tasks`` handing out k workspaces made once, now (not timed): one
    run asks for at most k (one per thread), and k consecutive draws of the cycle are distinct."""
    return itertools.cycle([make() for _ in range(max(1, k))]).__next__


def _blas1():
    from particles import config

    return config.blas_threads(1)


def torch_parts(p: dict, threads: int) -> dict:
    """The floor's four GEMM parts with ``torch.mm`` (torch's BLAS), one torch thread per task."""
    import numpy as np
    import torch

    from particles.field import tiles

    n, H, dv, tr, tc = p["n"], p["H"], p["dv"], p["tr"], p["tc"]
    T = torch.from_numpy
    x, WT, OT = T(p["x"]), T(p["W"]).t(), T(p["OT"])
    q, k, v = ([T(a) for a in p[name]] for name in ("q", "k", "v"))
    dt = x.dtype
    rows = list(range(0, n, tr))
    P = torch.empty((n, WT.shape[1]), dtype=dt)
    Y = T(np.random.default_rng(1).random((n, H * dv)).astype(p["x"].dtype))
    out = torch.empty((n, p["d"]), dtype=dt)
    done = np.zeros((1, 1))

    def make_values():
        s = T(np.random.default_rng(2).random(tr * tc).astype(p["x"].dtype))
        return s, torch.empty((tr, dv), dtype=dt)

    logits_ws = pooled(lambda: torch.empty(tr * tc, dtype=dt), p["threads"])
    values_ws = pooled(make_values, p["threads"])

    def run(work, make_ws, nthreads):
        torch.set_num_threads(1)
        try:
            tiles.run_tasks(rows, work, make_ws, nthreads)
        finally:
            torch.set_num_threads(threads)
        return done

    def proj():
        def work(r0, ws, threaded):
            torch.mm(x[r0 : r0 + tr], WT, out=P[r0 : r0 + tr])

        return run(work, lambda: None, p["proj_threads"])

    def logits():
        def work(r0, sbuf, threaded):
            r1 = min(n, r0 + tr)
            for h in range(H):
                for c0 in range(0, n, tc):
                    c1 = min(n, c0 + tc)
                    s = sbuf[: (r1 - r0) * (c1 - c0)].view(r1 - r0, c1 - c0)
                    torch.mm(q[h][r0:r1], k[h][c0:c1].t(), out=s)

        return run(work, logits_ws, p["threads"])

    def values():
        def work(r0, ws, threaded):
            sbuf, dst = ws
            r1 = min(n, r0 + tr)
            for h in range(H):
                for c0 in range(0, n, tc):
                    c1 = min(n, c0 + tc)
                    s = sbuf[: (r1 - r0) * (c1 - c0)].view(r1 - r0, c1 - c0)
                    torch.mm(s, v[h][c0:c1], out=dst[: r1 - r0])

        return run(work, values_ws, p["threads"])

    def outmap():
        def work(r0, ws, threaded):
            torch.mm(Y[r0 : r0 + tr], OT, out=out[r0 : r0 + tr])

        return run(work, lambda: None, p["threads"])

    return dict(proj=proj, logits=logits, values=values, outmap=outmap)


# --- the worker ---------------------------------------------------------------------------------
@contextlib.contextmanager
def clock(name: str):
    """``bench_heads._time`` times with ``time.perf_counter`` (wall, the default) or, with "cpu",
    ``time.process_time``: the CPU seconds of all the process's threads (on a loaded machine, with
    ``--threads 1``, close to the quiet machine's wall time; with several threads their sum, and
    spin-waiting threads count)."""
    if name == "wall":
        yield
        return
    saved = bh.time
    bh.time = types.SimpleNamespace(perf_counter=time.process_time)
    try:
        yield
    finally:
        bh.time = saved


def handle(job: dict, threads: int) -> dict:
    """One job: {"kind": ours | torch | floor | torch_mm, d, H, dk, n, dtype, min_time, clock}."""
    with clock(job.get("clock", "wall")):
        return _handle(job, threads)


def _handle(job: dict, threads: int) -> dict:
    cell = (job["d"], job["H"], job["dk"], job["n"], job["dtype"])
    kind = job["kind"]
    if kind in ("ours", "torch"):
        sec, best, _ = bh._time(bh._make(kind, *cell), job["min_time"])
        return {"seconds": sec, "best": best}
    p = cell_plan(*cell)
    parts = floor_parts(p) if kind == "floor" else torch_parts(p, threads)
    res = {"parts": {}, "best": {}}
    for name, fn in parts.items():  # (half the time each: the parts add up to about one call)
        res["parts"][name], res["best"][name], _ = bh._time(fn, job["min_time"] / 2)
    if kind == "floor":
        res["plan"] = {a: p[a] for a in ("tr", "tc", "threads", "proj_threads")}
    return res


def worker(kind: str, threads: int) -> None:
    """Answer JSON jobs from stdin, one per line, with one JSON line each."""
    if kind == "torch":
        import torch

        torch.set_num_threads(threads)
    for line in sys.stdin:
        try:
            res = handle(json.loads(line), threads)
        except Exception as e:  # report, keep serving
            res = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res), flush=True)


class InProcess:
    """A worker in this process (for tests: no subprocess, the caller's threads)."""

    def __init__(self, kind: str, threads: int):
        self.threads = threads

    def ask(self, job: dict) -> dict:
        try:
            return handle(job, self.threads)
        except Exception as e:
            return {"error": f"{type(e).__name__}: {e}"}

    def close(self):
        pass


# --- the driver ---------------------------------------------------------------------------------
def _median(xs):
    import numpy as np

    return float(np.median(xs)) if xs else None


@contextlib.contextmanager
def _coretype(name):
    """OPENBLAS_CORETYPE = name inside (for the worker processes started there); None: as is."""
    saved = os.environ.get("OPENBLAS_CORETYPE")
    if name is not None:
        os.environ["OPENBLAS_CORETYPE"] = name
    try:
        yield
    finally:
        if name is not None:
            if saved is None:
                del os.environ["OPENBLAS_CORETYPE"]
            else:
                os.environ["OPENBLAS_CORETYPE"] = saved


def _tag(kind: str, ct, multi: bool) -> str:
    """The raw answers' name of ``kind`` (ours, floor) run under OpenBLAS kernel ``ct``."""
    return f"{kind}@{ct}" if multi else kind


def _sub(got: dict, ct, multi: bool) -> dict:
    """A cell's raw answers for kernel ``ct``: its ours and floor, the (shared) torch ones."""
    sub = {k: got.get(k, []) for k in ("torch", "torch_mm")}
    sub.update({k: got.get(_tag(k, ct, multi), []) for k in ("ours", "floor")})
    return sub


def run(
    shapes,
    ns,
    dtypes,
    threads: int,
    rounds: int,
    min_time: float,
    torch: bool,
    inline: bool,
    clock: str = "wall",
    coretypes=None,
) -> dict:
    """``coretypes``: None (the environment's OpenBLAS kernel), or a list of OPENBLAS_CORETYPE
    names: ours and the floor run under each (their own worker processes), torch once."""
    multi = coretypes is not None
    if multi and inline:
        raise SystemExit("--coretypes needs worker processes (not --inline)")
    cts = list(coretypes) if multi else [None]
    make = InProcess if inline else (lambda w, t: bh.Worker(w, t, Path(__file__)))
    jobs = []  # (worker id, kind, name of its answers)
    for w, ks in KINDS.items():
        if w == "torch" and not torch:
            continue
        for ct in [None] if w == "torch" else cts:
            jobs += [
                ((w, ct), kind, kind if w == "torch" else _tag(kind, ct, multi)) for kind in ks
            ]
    workers = {}
    for wid, _, _ in jobs:
        if wid not in workers:
            with _coretype(wid[1]):
                workers[wid] = make(wid[0], threads)
    cells = [(s, n, dt) for dt in dtypes for s in shapes for n in ns]
    raw = {}
    t0 = time.time()
    try:
        for r in range(rounds):
            for (d, H, dk), n, dt in cells:
                if n >= 8192 and r == rounds - 1 and rounds > 1:
                    continue  # the largest cells: one round fewer
                key = f"{d},{H},{dk},{n},{dt}"
                mt = min_time if n <= 2048 else 0.0
                for wid, kind, name in jobs:
                    job = dict(kind=kind, d=d, H=H, dk=dk, n=n, dtype=dt, min_time=mt, clock=clock)
                    t = time.time()
                    got = workers[wid].ask(job)
                    got["wall"] = time.time() - t  # the job's seconds, warm-up included
                    raw.setdefault(key, {}).setdefault(name, []).append(got)
                print(
                    f"round {r + 1}/{rounds}: {key} done ({time.time() - t0:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        for w in workers.values():
            w.close()
    env_ct = os.environ.get("OPENBLAS_CORETYPE")
    table = []
    for (d, H, dk), n, dt in cells:
        for ct in cts:
            got = _sub(raw[f"{d},{H},{dk},{n},{dt}"], ct, multi)
            row = summarise(got, d, H, dk, n, dt, clock=clock)
            row["coretype"] = ct if multi else env_ct
            table.append(row)
    import numpy as np

    return dict(
        command=" ".join(["python benchmarks/heads_floor.py"] + sys.argv[1:]),
        threads=threads,
        clock=clock,
        rounds=rounds,
        min_time=min_time,
        goal=GOAL,
        coretypes=coretypes,
        table=table,
        raw=raw,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        seconds=time.time() - t0,
        load=os.getloadavg(),
        openblas_coretype=env_ct,
        numpy=np.__version__,
        torch=_torch_version() if torch else None,
    )


def _torch_version():
    try:
        import torch

        return torch.__version__
    except ImportError:
        return None


def summarise(got: dict, d, H, dk, n, dt, stat: str = "median", clock: str = "wall") -> dict:
    """One table row from a cell's raw answers: over rounds, the median of each round's median
    (``stat="median"``) or the best call of any round (``"best"``, for a loaded machine); the floor
    and the verdict."""
    import numpy as np

    row = dict(d=d, H=H, dk=dk, n=n, dtype=dt, rounds=len(got.get("ours", [])))
    errors = [f"{k}: {x['error']}" for k, xs in got.items() for x in xs if "error" in x]
    if errors:
        row["errors"] = errors
    if stat == "median":
        pick, key = _median, ("seconds", "parts")
    else:
        pick, key = (lambda xs: float(np.min(xs)) if xs else None), ("best", "best")
    for kind in ("ours", "torch"):
        row[kind] = pick([x[key[0]] for x in got.get(kind, []) if key[0] in x])
    for kind, parts, pre in (("floor", FLOOR_PARTS, ""), ("torch_mm", GEMM_PARTS, "torch_mm_")):
        ok = [x for x in got.get(kind, []) if "parts" in x]
        if not ok:
            continue
        for part in parts:
            row[pre + part] = pick([x[key[1]][part] for x in ok])
        if kind == "floor":
            row["plan"] = ok[0]["plan"]
    if "proj" in row:
        row["gemm"] = sum(row[p] for p in GEMM_PARTS)
        row["floor"] = row["gemm"] + row["exp"]
        p = dict(n=n, d=d, H=H, dk=dk, dv=dk, **{a: row["plan"][a] for a in ("tr", "tc")})
        row["gemm_flops"] = sum(gemm_flops(p).values())
        row["exp_elements"] = exp_elements(p)
        # per core: the exponentials' seconds on all threads (CPU seconds: summed) per element
        cores = 1 if clock == "cpu" else row["plan"]["threads"]
        row["exp_ns"] = row["exp"] * cores / row["exp_elements"] * 1e9
        row["gemm_gflops"] = row["gemm_flops"] / row["gemm"] / 1e9
    if "torch_mm_proj" in row:
        row["torch_mm"] = sum(row["torch_mm_" + p] for p in GEMM_PARTS)
        row["floor_torch_mm"] = row["torch_mm"] + row["exp"]
    verdict(row)
    return row


def table(res: dict, stat: str = "median") -> list:
    """The rows of a run (its JSON) by ``stat``: "median" (the stored table) or "best"."""
    if stat == "median":
        return res["table"]
    multi = res.get("coretypes") is not None
    rows = []
    for r in res["table"]:
        got = res["raw"][f"{r['d']},{r['H']},{r['dk']},{r['n']},{r['dtype']}"]
        row = summarise(
            _sub(got, r.get("coretype"), multi),
            *(r[a] for a in ("d", "H", "dk", "n", "dtype")),
            stat=stat,
            clock=res.get("clock", "wall"),
        )
        row["coretype"] = r.get("coretype")
        rows.append(row)
    return rows


def verdict(row: dict) -> None:
    """target = torch / GOAL; whether the floor is above it, else how much overhead must go."""
    ours, torch, floor = row.get("ours"), row.get("torch"), row.get("floor")
    if not (ours and floor):
        return
    row["overhead"] = ours - floor
    if not torch:
        return
    row["target"] = target = torch / GOAL
    row["met"] = ours <= target
    row["floor_above_target"] = floor > target  # (a met cell with this: noise in the parts)
    if row["met"]:
        return
    if floor > target:
        row["short_by"] = floor / target - 1.0  # the floor is this much above the target
    else:
        row["cut"] = ours - target  # seconds of overhead that must go
        row["cut_share"] = row["cut"] / row["overhead"]


# --- markdown ---------------------------------------------------------------------------------------
def _t(s):
    if s is None:
        return "–"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _verdict_text(r: dict) -> str:
    if "target" not in r:
        return "–"
    if r["met"]:
        return "met" + (" (floor above target: noisy parts)" if r["floor_above_target"] else "")
    if r["floor_above_target"]:
        return f"**out of reach**: floor {100 * r['short_by']:.0f}% above target"
    return f"cut {_t(r['cut'])} of {_t(r['overhead'])} overhead ({100 * r['cut_share']:.0f}%)"


def markdown(res: dict, stat: str = "median") -> str:
    """The table of a run (from its JSON) with its command, for benchmarks/RESULTS.md; ``stat``:
    "median" over rounds of each round's median, or "best" call (a loaded machine)."""
    rows = table(res, stat)
    multi = res.get("coretypes") is not None

    def dtype(r):  # with the OpenBLAS kernel when the run compares several
        return f"{r['dtype']}, {r['coretype']}" if multi else r["dtype"]

    lines = [
        f"Command: `{res['command']}` (raw numbers: `{res.get('json', 'benchmarks/heads_floor.json')}`). "
        f"{res['threads']} thread(s), "
        + ("wall-clock times, " if res.get("clock", "wall") == "wall" else "**CPU seconds**, ")
        + f"{res['rounds']} interleaved round(s)"
        + (" (n = 8192: one fewer), " if res["rounds"] > 1 else ", ")
        + f"{res['date']}, load {res['load'][0]:.1f} at the end, {res['seconds'] / 60:.1f} min; "
        f"numpy {res['numpy']}, torch {res.get('torch') or '–'}, "
        f"OPENBLAS_CORETYPE={res.get('openblas_coretype') or 'unset'}.",
        "",
        f"Times: {'medians over rounds' if stat == 'median' else 'the best call of any round'}. "
        "target = torch / 1.2. floor = GEMMs (proj + logits + values + outmap, OpenBLAS, our tiles "
        "and threads) + exp (our kernel, H n² elements). overhead = ours − floor. torch mm = the "
        "same GEMMs with torch.mm.",
        "",
        f"| d, H, d_k | n | dtype{', OpenBLAS kernel' if multi else ''} | ours | torch | target | floor | GEMMs: proj / logits / values "
        "/ out | exp (ns/elem/core) | GEMM GFLOP/s | torch mm GEMMs | floor with torch mm "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "floor" not in r:
            lines.append(
                f"| {r['d']}, {r['H']}, {r['dk']} | {r['n']} | {dtype(r)} | {_t(r.get('ours'))} "
                f"| {_t(r.get('torch'))} | – | – | – | – | – | – | – | {r.get('errors', '–')} |"
            )
            continue
        parts = " / ".join(_t(r[p]) for p in GEMM_PARTS)
        lines.append(
            f"| {r['d']}, {r['H']}, {r['dk']} | {r['n']} | {dtype(r)} | {_t(r['ours'])} "
            f"| {_t(r.get('torch'))} | {_t(r.get('target'))} | {_t(r['floor'])} "
            f"| {_t(r['gemm'])}: {parts} | {_t(r['exp'])} ({r['exp_ns']:.2f}) "
            f"| {r['gemm_gflops']:.0f} | {_t(r.get('torch_mm'))} | {_t(r.get('floor_torch_mm'))} "
            f"| {_verdict_text(r)} |"
        )
    if multi:
        for ct in res["coretypes"]:
            lines += ["", f"{ct}: " + summary([r for r in rows if r["coretype"] == ct])]
    else:
        lines += ["", summary(rows)]
    return "\n".join(lines)


def summary(rows: list) -> str:
    """Counts from the table: cells met, out of reach, reachable by cutting overhead."""
    rows = [r for r in rows if "target" in r and "floor" in r]
    met = sum(r["met"] for r in rows)
    out = [r for r in rows if not r["met"] and r["floor_above_target"]]
    cut = [r for r in rows if not r["met"] and not r["floor_above_target"]]
    faster = sum(r["torch_mm"] < r["gemm"] for r in rows if "torch_mm" in r)
    fsum = sum(r["gemm"] for r in rows if "torch_mm" in r)
    tsum = sum(r["torch_mm"] for r in rows if "torch_mm" in r)
    over = sum(r["floor_torch_mm"] > r["target"] for r in out if "floor_torch_mm" in r)
    return (
        f"Of {len(rows)} cells: {met} meet the goal; {len(out)} have a floor above the target "
        f"(out of reach unfused with OpenBLAS; {over} of them stay above it with torch's GEMMs); "
        f"{len(cut)} are within reach by cutting overhead. torch.mm is faster than OpenBLAS on the "
        f"floor's GEMMs in {faster} of {len(rows)} cells"
        + (f" (all cells: {tsum:.2f} s against {fsum:.2f} s)." if tsum else ".")
    )


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 1024, two shapes, 1 round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="cpu: process CPU seconds"
    )
    ap.add_argument("--rounds", type=int, default=None, help="default 3 (--quick: 1)")
    ap.add_argument("--dtype", choices=("float64", "float32", "both"), default="both")
    ap.add_argument("--n", type=int, action="append", help="these n (repeatable)")
    ap.add_argument("--shape", action="append", help="d,H,dk (repeatable)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds per cell, n <= 2048")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument(
        "--coretypes",
        default=None,
        help="e.g. Haswell,SkylakeX: ours and the floor under each OpenBLAS kernel, interleaved",
    )
    ap.add_argument("--inline", action="store_true", help="no worker subprocesses (tests)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--markdown", type=Path, default=None, help="print the table of this JSON")
    ap.add_argument("--stat", choices=("median", "best"), default="median", help="for the table")
    ap.add_argument("--worker", choices=tuple(KINDS), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.threads)
        return {}
    if args.markdown:
        res = json.loads(args.markdown.read_text())
        print(markdown(res, args.stat))
        return res
    shapes = (
        [tuple(int(a) for a in s.split(",")) for s in args.shape]
        if args.shape
        else (QUICK_SHAPES if args.quick else SHAPES)
    )
    ns = args.n or (QUICK_NS if args.quick else NS)
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    rounds = args.rounds or (1 if args.quick else 3)
    min_time = args.min_time if args.min_time is not None else (0.2 if args.quick else 0.3)
    torch = not args.no_torch and bh.have_torch()
    cts = args.coretypes.split(",") if args.coretypes else None
    res = run(
        shapes, ns, dtypes, args.threads, rounds, min_time, torch, args.inline, args.clock, cts
    )
    out = args.json or (
        HERE / "quick" / "heads_floor.json" if args.quick else HERE / "heads_floor.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    res["json"] = (
        os.path.relpath(out.resolve(), HERE.parent)
        if out.resolve().is_relative_to(HERE.parent)
        else str(out)
    )
    out.write_text(json.dumps(res, indent=1))
    print(markdown(res, args.stat))
    return res


if __name__ == "__main__":
    main()
