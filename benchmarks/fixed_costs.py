"""The serial passes of one ``velocity`` evaluation with factored heads, timed pass by pass.

Each pass of the library's own evaluation is timed in place: the functions that make it up are
wrapped with timers (exclusive time, main thread only), the evaluation is repeated, and the
median per pass over the calls is printed, with the whole call's median ("total") and what no
pass accounts for ("rest": argument checks, dtype conversion, allocations, Python glue).
Passes whose functions a version does not have are left out.

Usage::

    taskset -c 1 env NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/fixed_costs.py
    python benchmarks/fixed_costs.py --calls 40 --json out.json   # 2 threads

Shapes (d, H, d_k = d_v) and inputs as ``benchmarks/bench_heads.py``; "64,0,0": one general head
with dense 64 x 64 maps (the path of ``benchmarks/qk_cell.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_heads import _inputs  # noqa: E402

import particles as pt  # noqa: E402
from particles import field  # noqa: E402
from particles.field import inputs, kernels, stable, tiles  # noqa: E402

#: pass name -> (module, function name) wrapped; a name a version lacks is skipped
PASSES = {
    "checks": [(field, "check_points"), (field.expansion, "choose")],
    "stacked maps": [(inputs, "_stacked_maps"), (inputs, "stacked_maps")],
    "projections": [(inputs, "projected_rows"), (inputs, "head_inputs")],
    "logit bound": [
        (inputs, "check_logits"),
        (inputs, "attention_path"),
        (inputs, "head_norms"),
    ],
    "tiles": [(tiles, "run_tasks")],
    "head inputs (copies, output maps)": [(inputs, "factored_inputs")],
    "field glue (buffers, sums)": [(inputs, "factored_field"), (inputs, "raw_field")],
    "tangent projection": [(kernels, "_project_tangent"), (kernels, "_project_scan")],
    "repair scan": [(field, "repaired"), (stable, "repaired")],
}

_main = threading.main_thread()
_stack: list = []
_inside: list = []
_acc: dict = {}


def _timed(name, fn):
    def wrapper(*a, **kw):
        if threading.current_thread() is not _main or (name == "tiles" and any(_inside)):
            return fn(*a, **kw)  # (the projections' tasks: the projections' time)
        _stack.append(0)
        _inside.append(name == "projections")
        t = time.perf_counter_ns()
        try:
            return fn(*a, **kw)
        finally:
            dt = time.perf_counter_ns() - t
            child = _stack.pop()
            _inside.pop()
            _acc[name] = _acc.get(name, 0) + dt - child
            if _stack:
                _stack[-1] += dt

    return wrapper


class _Kernel:
    """A numba kernel and its serial twin, both timed (``kernels.pick`` picks one)."""

    def __init__(self, name, kern):
        self._par = _timed(name, kern)
        self.serial = _timed(name, kern.serial)

    def __call__(self, *a):
        return self._par(*a)


def install():
    for name, where in PASSES.items():
        for mod, attr in where:
            fn = getattr(mod, attr, None)
            if fn is None:
                continue
            if hasattr(fn, "serial"):
                setattr(mod, attr, _Kernel(name, fn))
            else:
                setattr(mod, attr, _timed(name, fn))


def profile(shape, n, dtype, calls):
    """Medians over ``calls`` evaluations, per pass, in ms. ``shape``: (d, H, d_k) factored heads,
    or (d, 0, 0): one general head with dense d x d maps Q, K, V (not factored)."""
    d, H, dk = shape
    if H == 0:
        x, Q, K, V, O, _ = _inputs(d, 1, d, n, dtype)
        dyn = pt.Dynamics(beta=1.0, Q=Q[0] / np.sqrt(d), K=K[0] / np.sqrt(d), V=O[0] @ V[0])
    else:
        x, Q, K, V, O, beta = _inputs(d, H, dk, n, dtype)
        dyn = pt.Dynamics(beta=beta, Q=Q, K=K, V=V, O=O)
    dt = np.dtype(dtype).type
    for _ in range(2):
        pt.velocity(x, dyn, dtype=dt)
    rows = []
    for _ in range(calls):
        _acc.clear()
        t = time.perf_counter_ns()
        pt.velocity(x, dyn, dtype=dt)
        total = time.perf_counter_ns() - t
        row = dict(_acc)
        row["total"] = total
        row["rest"] = total - sum(_acc.values())
        rows.append(row)
    names = [k for k in [*PASSES, "rest", "total"] if any(k in r for r in rows)]
    return {k: float(np.median([r.get(k, 0) for r in rows])) / 1e6 for k in names}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--n", type=int, nargs="*", default=[512, 1024, 2048])
    ap.add_argument("--dtype", nargs="*", default=["float64", "float32"])
    ap.add_argument("--shapes", default="64,1,64;384,12,32;512,8,64")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    install()
    shapes = [tuple(int(v) for v in s.split(",")) for s in a.shapes.split(";")]
    out = []
    for dtype in a.dtype:
        for shape in shapes:
            for n in a.n:
                res = profile(shape, n, dtype, a.calls)
                out.append(dict(shape=list(shape), n=n, dtype=dtype, ms=res))
                cells = "  ".join(f"{k} {v:.3f}" for k, v in res.items())
                print(f"{dtype} {shape} n={n}: {cells}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
