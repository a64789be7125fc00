"""Benchmark suite of one field evaluation against the usual ways of writing it.

Every case runs in its own subprocess with the BLAS / numba / torch thread counts set beforehand,
so that its peak extra memory (VmHWM after resetting it, minus the resident size with the inputs
already built) is its own. Time is the median of repeats after a warm-up call; GFLOP/s count
4 n^2 d flops per evaluation (two n x n x d matrix products), whatever the implementation does.

Implementations, all computing the same velocity P_perp(x_i)[sum_j A_ij V x_j] (tangent projection
included, O(n d)):

- ``particles``: :func:`particles.velocity` (float64, or float32 with ``dtype``).
- ``numpy_naive``: the full n x n matrix, max-subtracted softmax (or exp / n for USA).
- ``numpy_blocked``: row blocks of 256 rows against all columns (GEMM, in-place exp, GEMM).
- ``torch``: ``torch.softmax(beta * q @ k.T, -1) @ v`` as most users write it (full n x n).
- ``torch_sdpa4d``: ``scaled_dot_product_attention`` with 4-D (1, 1, n, d) tensors (its flash
  CPU kernel; SA only, since SDPA always normalises).

``weights="general"`` uses random Q, K, V (d x d, scaled by 1/sqrt(d)), one head.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ParticlesError

IMPLS = ("particles", "numpy_naive", "numpy_blocked", "torch", "torch_sdpa4d")
BLOCK_ROWS = 256


@dataclass(frozen=True, kw_only=True)
class Case:
    """One cell of the benchmark grid."""

    impl: str
    n: int
    d: int
    beta: float = 1.0
    kind: str = "SA"
    weights: str = "identity"
    dtype: str = "float64"

    def __post_init__(self):
        if self.impl not in IMPLS:
            raise ParticlesError(f"unknown implementation {self.impl!r}; known: {', '.join(IMPLS)}")
        if self.kind not in ("SA", "USA"):
            raise ParticlesError(f"kind must be SA or USA, got {self.kind!r}")
        if self.weights not in ("identity", "general"):
            raise ParticlesError(f"weights must be identity or general, got {self.weights!r}")
        if self.dtype not in ("float64", "float32"):
            raise ParticlesError(f"dtype must be float64 or float32, got {self.dtype!r}")
        if self.impl == "torch_sdpa4d" and self.kind != "SA":
            raise ParticlesError("scaled_dot_product_attention always normalises: SA only")
        if self.n < 1 or self.d < 2:
            raise ParticlesError(f"need n >= 1 and d >= 2, got n={self.n}, d={self.d}")

    @property
    def flops(self) -> float:
        return 4.0 * self.n * self.n * self.d


# --- the implementations --------------------------------------------------------------------------
def _weights(case: Case, rng) -> tuple:
    if case.weights == "identity":
        return None, None, None
    s = 1.0 / np.sqrt(case.d)
    return tuple(rng.standard_normal((case.d, case.d)) * s for _ in range(3))


def _project(x, f):
    return f - np.sum(f * x, axis=1, keepdims=True) * x


def _numpy_fn(case: Case, x, Q, K, V, blocked: bool):
    beta, sa = case.beta, case.kind == "SA"

    def fn():
        q = x if Q is None else x @ Q.T
        k = x if K is None else x @ K.T
        v = x if V is None else x @ V.T
        n = x.shape[0]
        if not blocked:
            s = beta * (q @ k.T)
            if sa:
                s -= s.max(axis=1, keepdims=True)
                np.exp(s, out=s)
                f = (s @ v) / s.sum(axis=1, keepdims=True)
            else:
                f = (np.exp(s) / n) @ v
            return _project(x, f)
        f = np.empty_like(v)
        for r0 in range(0, n, BLOCK_ROWS):
            s = q[r0 : r0 + BLOCK_ROWS] @ k.T
            s *= beta
            if sa:
                s -= s.max(axis=1, keepdims=True)
                np.exp(s, out=s)
                f[r0 : r0 + BLOCK_ROWS] = (s @ v) / s.sum(axis=1, keepdims=True)
            else:
                np.exp(s, out=s)
                f[r0 : r0 + BLOCK_ROWS] = (s @ v) / n
        return _project(x, f)

    return fn


def _torch_fn(case: Case, x, Q, K, V, sdpa: bool):
    import torch
    import torch.nn.functional as F

    xt = torch.from_numpy(x)
    Qt, Kt, Vt = (None if a is None else torch.from_numpy(a.astype(x.dtype)) for a in (Q, K, V))
    beta, n = case.beta, x.shape[0]

    def fn():
        with torch.no_grad():
            q = xt if Qt is None else xt @ Qt.T
            k = xt if Kt is None else xt @ Kt.T
            v = xt if Vt is None else xt @ Vt.T
            if sdpa:
                f = F.scaled_dot_product_attention(
                    q[None, None], k[None, None], v[None, None], scale=beta
                )[0, 0]
            elif case.kind == "SA":
                f = torch.softmax(beta * (q @ k.T), dim=-1) @ v
            else:
                f = (torch.exp(beta * (q @ k.T)) / n) @ v
            return (f - (f * xt).sum(dim=1, keepdim=True) * xt).numpy()

    return fn


def make_case(case: Case, seed: int = 0):
    """(inputs x, callable computing the velocity) for ``case``; x is uniform on S^{d-1}."""
    from . import Dynamics, random_points, velocity

    rng = np.random.default_rng(seed)
    x = random_points(case.n, case.d, rng)
    Q, K, V = _weights(case, rng)
    dt = np.dtype(case.dtype).type
    if case.impl == "particles":
        dyn = Dynamics(beta=case.beta, kind=case.kind, Q=Q, K=K, V=V)
        return x, (lambda: velocity(x, dyn, dtype=dt))
    x = x.astype(dt)
    Q, K, V = (None if a is None else a.astype(dt) for a in (Q, K, V))
    if case.impl.startswith("numpy"):
        return x, _numpy_fn(case, x, Q, K, V, blocked=case.impl == "numpy_blocked")
    return x, _torch_fn(case, x, Q, K, V, sdpa=case.impl == "torch_sdpa4d")


# --- measuring ---------------------------------------------------------------------------------------
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _repeats_for(first: float) -> int:
    if first < 2.0:
        return int(np.clip(2.0 / max(first, 1e-6), 3, 15))
    return 2 if first < 10.0 else 1


def measure_case(case: Case, threads: int) -> dict:
    """Run ``case`` in this process: warm-up, one call for memory, then timed repeats."""
    if case.impl.startswith("torch"):
        import torch

        torch.set_num_threads(threads)
    small = Case(**{**asdict(case), "n": min(case.n, 64)})
    make_case(small)[1]()  # compile / initialise outside the measurement
    x, fn = make_case(case)
    fn()  # warm-up at full size (first-touch, caches)
    rss0 = _status_kb("VmRSS")
    have_peak = _reset_peak()
    t = time.perf_counter()
    y = fn()
    first = time.perf_counter() - t
    extra_mb = (_status_kb("VmHWM") - rss0) / 1024 if have_peak else float("nan")
    times = [first]
    for _ in range(_repeats_for(first)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    rep = times[1:] if len(times) > 2 else times
    sec = float(np.median(rep))
    return dict(
        **asdict(case),
        path="expansion" if _uses_expansion(case, x) else "exact",
        seconds=sec,
        seconds_min=float(np.min(times)),
        repeats=len(rep),
        gflops=case.flops / sec / 1e9,
        extra_mb=float(extra_mb),
        finite=bool(np.all(np.isfinite(y))),
        threads=threads,
        load=os.getloadavg()[0],
    )


def _uses_expansion(case: Case, x: np.ndarray) -> bool:
    """Whether :func:`particles.velocity` evaluated ``case`` by the O(n) expansion (Q = K = I on
    S^1 or S^2, large n): then it does not do the 4 n^2 d flops, and no share of the GEMM peak
    applies."""
    if case.impl != "particles" or case.weights != "identity":
        return False
    from . import Dynamics
    from .field.expansion import choose

    return (
        choose(Dynamics(beta=case.beta, kind=case.kind), np.asarray(x, np.float64), 1e-10)
        is not None
    )


def share_of_peak(r: dict, peak: float) -> str:
    """The "% of GEMM peak" cell of a result: its GFLOP/s over the peak, never above 100 % (a
    higher rate means the peak was measured under more load than the case: shown as "100%*"), and
    "O(n)" for an evaluation by the expansion (no n^2 d flops to count)."""
    if r.get("path") == "expansion":
        return "O(n)"
    if not np.isfinite(peak) or peak <= 0:
        return ""
    share = 100.0 * r["gflops"] / peak
    return "100%*" if share > 100.0 else f"{share:.0f}%"


def measure_gemm(dtype: str, threads: int, size: int = 4096, repeats: int = 5) -> dict:
    """The machine's GEMM rate: numpy ``a @ b`` on size x size matrices (median of repeats)."""
    a = np.random.default_rng(0).random((size, size)).astype(dtype)
    b = a.T.copy()
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    sec = float(np.median(times))
    return dict(
        impl="gemm",
        dtype=dtype,
        n=size,
        threads=threads,
        seconds=sec,
        gflops=2.0 * size**3 / sec / 1e9,
        gflops_best=2.0 * size**3 / min(times) / 1e9,
        load=os.getloadavg()[0],
    )


def _env(threads: int) -> dict:
    env = dict(os.environ)
    for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[key] = str(threads)
    return env


def _subprocess(job: dict, threads: int, timeout: float) -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = _env(threads)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "particles.bench", json.dumps(job)]
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**job.get("case", job), "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        err = (res.stderr.strip().splitlines() or ["no output"])[-1]
        return {**job.get("case", job), "error": err}
    return json.loads(lines[-1])


def run_case(case: Case, threads: int = 2, timeout: float = 600.0) -> dict:
    """Measure ``case`` in a fresh subprocess (see :func:`measure_case`)."""
    return _subprocess({"case": asdict(case)}, threads, timeout)


def run_batch(cases: list[Case], threads: int = 2, timeout: float = 1800.0) -> list[dict]:
    """Measure several cases one after another in one fresh subprocess (saves the start-up).

    Peak memory stays per case: the peak is reset before each call, and glibc is told to serve
    every allocation above 64 KiB by mmap (``MALLOC_MMAP_THRESHOLD_``), so freed blocks go back
    to the system instead of hiding the next case's growth.
    """
    if not cases:
        return []
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = _env(threads)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    job = {"cases": [asdict(c) for c in cases]}
    cmd = [sys.executable, "-m", "particles.bench", json.dumps(job)]
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        out, err = res.stdout, res.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = f"timed out after {timeout:.0f} s"
    done = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    if len(done) < len(cases):
        msg = (err.strip().splitlines() or ["no output"])[-1]
        done += [{**asdict(c), "error": msg} for c in cases[len(done) :]]
    return done


def run_gemm(dtype: str, threads: int = 2, size: int = 4096) -> dict:
    """Measure the GEMM rate in a fresh subprocess (see :func:`measure_gemm`)."""
    return _subprocess({"gemm": dict(dtype=dtype, size=size)}, threads, 600.0)


# --- the grid ----------------------------------------------------------------------------------------
def have_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def grid(quick: bool = False, torch: bool | None = None) -> list[Case]:
    """The benchmark cases. The slow peers are trimmed at large n (see the module docstring of
    ``benchmarks/bench_field.py`` and RESULTS.md): the n x n forms stop at n = 4096."""
    torch = have_torch() if torch is None else torch
    cases: list[Case] = []
    add = lambda impl, n, d, **kw: cases.append(Case(impl=impl, n=n, d=d, **kw))  # noqa: E731
    if quick:
        for n in (256, 1024, 4096):
            for d in (3, 64):
                for w in ("identity", "general"):
                    add("particles", n, d, weights=w)
                    add("numpy_naive", n, d, weights=w) if n <= 1024 else None
                    add("numpy_blocked", n, d, weights=w)
                    if torch:
                        add("torch_sdpa4d", n, d, weights=w)
        add("particles", 4096, 64, dtype="float32")
        return cases
    for n in (256, 1024, 4096):
        for d in (3, 16, 64, 128):
            for w in ("identity", "general"):
                for beta in (1.0, 9.0):
                    for kind in ("SA", "USA"):
                        add("particles", n, d, beta=beta, kind=kind, weights=w)
                add("numpy_naive", n, d, weights=w)
                add("numpy_blocked", n, d, weights=w)
                if torch:
                    add("torch", n, d, weights=w)
                    add("torch_sdpa4d", n, d, weights=w)
    for impl in ("numpy_naive", "numpy_blocked") + (("torch",) if torch else ()):
        add(impl, 4096, 64, kind="USA")
        add(impl, 4096, 64, beta=9.0)
    if torch:
        add("torch_sdpa4d", 4096, 64, beta=9.0)
    for d in (3, 16, 64, 128):
        for w in ("identity", "general"):
            for kind in ("SA", "USA"):
                add("particles", 16384, d, kind=kind, weights=w)
        add("numpy_blocked", 16384, d)
        if torch:
            add("torch_sdpa4d", 16384, d)
    for d in (3, 16, 64):
        add("particles", 65536, d)
    add("particles", 65536, 64, weights="general")
    for n in (1024, 4096, 16384):
        for w in ("identity", "general"):
            add("particles", n, 64, weights=w, dtype="float32")
        add("numpy_blocked", n, 64, dtype="float32")
        if torch:
            add("torch_sdpa4d", n, 64, dtype="float32")
    add("particles", 65536, 64, dtype="float32")
    return cases


KEY_CELLS = (
    dict(n=4096, d=64, dtype="float64"),
    dict(n=16384, d=64, dtype="float32"),
)


def run_suite(
    quick: bool = False,
    threads: int = 2,
    progress: bool = True,
    key_repeats: int = 3,
    cases: list[Case] | None = None,
    sizes=None,
) -> dict:
    """Run the grid (each case in a subprocess) plus GEMM peaks before and after, and repeat the
    key cells (:data:`KEY_CELLS`, SA identity: ours, row-blocked numpy, SDPA 4-D, GEMM) interleaved.
    ``cases`` replaces the grid; ``sizes`` keeps only the cases whose n is one of them.

    Returns ``{"results": [...], "gemm": [...], "key": [...], "info": {...}}``.
    """
    from tqdm.auto import tqdm

    cases = grid(quick) if cases is None else cases
    if sizes is not None:
        keep = {int(n) for n in sizes}
        cases = [c for c in cases if c.n in keep]
        if not cases:
            raise ParticlesError(f"no case of the grid has n in {sorted(keep)}")
    info = machine_info()
    info.update(threads=threads, quick=quick, load_start=os.getloadavg())
    size = 2048 if quick else 4096
    gemm = [run_gemm(dt, threads, size) for dt in ("float64", "float32")]
    results = []
    batches: dict = {}
    for case in cases:  # one subprocess per (impl, dtype, n), in grid order
        batches.setdefault((case.impl, case.dtype, case.n), []).append(case)
    with tqdm(total=len(cases), desc="bench", unit="case", disable=not progress) as bar:
        for batch in batches.values():
            results += run_batch(batch, threads)
            bar.update(len(batch))
    gemm += [run_gemm(dt, threads, size) for dt in ("float64", "float32")]
    key = []
    torch = have_torch()
    for _ in range(key_repeats if not quick else 0):
        for cell in KEY_CELLS:
            impls = ("particles", "numpy_blocked") + (("torch_sdpa4d",) if torch else ())
            for impl in impls:
                key.append(run_case(Case(impl=impl, **cell), threads))
            key.append(run_gemm(cell["dtype"], threads, size))
    info["load_end"] = os.getloadavg()
    return dict(results=results, gemm=gemm, key=key, info=info)


def peaks(suite: dict) -> dict[str, float]:
    """GEMM peak per dtype: the best single GEMM rate seen in the run (conservative: on a shared
    machine the median drops with the load, which would flatter every "% of peak")."""
    out = {}
    for dt in ("float64", "float32"):
        vals = [
            g.get("gflops_best", g["gflops"])
            for g in suite["gemm"] + suite.get("key", [])
            if g.get("impl") == "gemm" and g["dtype"] == dt and "gflops" in g
        ]
        out[dt] = float(np.max(vals)) if vals else float("nan")
    return out


# --- reporting ---------------------------------------------------------------------------------------
def machine_info() -> dict:
    """CPU model, core count, SIMD flags, caches, and library versions."""
    info: dict = dict(python=platform.python_version(), platform=platform.platform())
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        keep = (
            "Model name",
            "CPU(s)",
            "Thread(s) per core",
            "Core(s) per socket",
            "L1d cache",
            "L2 cache",
            "L3 cache",
            "CPU family",
            "Model:",
            "Hypervisor vendor",
        )
        lines = [ln.strip() for ln in out.splitlines() if ln.strip().startswith(keep)]
        flags = next((ln for ln in out.splitlines() if ln.strip().startswith("Flags")), "")
        simd = [f for f in ("avx2", "fma", "avx512f") if f" {f} " in f" {flags} "]
        info["lscpu"] = lines + [f"SIMD: {' '.join(simd)}"]
    except (OSError, subprocess.SubprocessError):
        info["lscpu"] = []
    import numba
    import scipy

    info["versions"] = dict(numpy=np.__version__, scipy=scipy.__version__, numba=numba.__version__)
    try:
        import threadpoolctl

        blas = [
            f"{p['internal_api']} {p['version']} ({p.get('architecture')})"
            for p in threadpoolctl.threadpool_info()
            if p["user_api"] == "blas"
        ]
        info["versions"]["blas"] = "; ".join(blas)
    except ImportError:
        pass
    if have_torch():
        import torch

        info["versions"]["torch"] = torch.__version__
    info["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return info


def _match(results, case: dict, impl: str, dtype: str | None = None):
    keys = ("n", "d", "beta", "kind", "weights")
    for r in results:
        if r.get("impl") == impl and "seconds" in r and all(r[k] == case[k] for k in keys):
            if r["dtype"] == (dtype or case["dtype"]):
                return r
    return None


def table(suite: dict) -> str:
    """A markdown table: one row per case, with % of GEMM peak and time ratios to the peers."""
    pk = peaks(suite)
    res = suite["results"]
    ran = {r.get("impl") for r in res}
    peers = tuple(
        p
        for p in ("numpy_naive", "numpy_blocked", "torch", "torch_sdpa4d")
        if not p.startswith("torch") or p in ran
    )
    head = (
        "| impl | dtype | n | d | β | kind | weights | time | GFLOP/s | % peak | extra MiB | "
        + " | ".join(f"× {p}" for p in peers)
        + " |"
    )
    rows = [head, "|" + "---|" * (11 + len(peers))]
    for r in res:
        if "error" in r:
            rows.append(
                f"| {r.get('impl')} | {r.get('dtype')} | {r.get('n')} | {r.get('d')} | {r.get('beta')} | {r.get('kind')} | {r.get('weights')} | error: {r['error'][:60]} |"
            )
            continue
        ratios = []
        for p in peers:
            other = _match(res, r, p) if r["impl"] == "particles" else None
            ratios.append(f"{other['seconds'] / r['seconds']:.2f}" if other else "")
        rows.append(
            f"| {r['impl']} | {r['dtype']} | {r['n']} | {r['d']} | {r['beta']:g} | {r['kind']} | {r['weights']} "
            f"| {_fmt_time(r['seconds'])} | {r['gflops']:.1f} | {share_of_peak(r, pk[r['dtype']])} "
            f"| {r['extra_mb']:.1f} | " + " | ".join(ratios) + " |"
        )
    return "\n".join(rows)


def _fmt_time(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def plot_scaling(suite: dict, ax_time, ax_mem, d: int = 64) -> None:
    """Time vs n (log-log, with a slope-2 guide) and peak extra memory vs n, SA, identity, beta 1."""
    res = [
        r
        for r in suite["results"]
        if "seconds" in r and r["kind"] == "SA" and r["weights"] == "identity" and r["beta"] == 1.0
    ]
    styles = {
        "particles": "o-",
        "numpy_naive": "s--",
        "numpy_blocked": "^--",
        "torch": "v:",
        "torch_sdpa4d": "D:",
    }
    for impl, style in styles.items():
        for dd, dt in ((d, "float64"), (16, "float64"), (d, "float32")):
            pts = sorted(
                (r["n"], r["seconds"], r["extra_mb"])
                for r in res
                if r["impl"] == impl and r["d"] == dd and r["dtype"] == dt
            )
            if len(pts) < 2 or (impl != "particles" and dd != d):
                continue
            n, t, m = map(np.array, zip(*pts, strict=True))
            label = f"{impl} d={dd}" + (" f32" if dt == "float32" else "")
            ax_time.loglog(n, t, style, label=label, ms=4)
            ax_mem.loglog(n, np.maximum(m, 0.1), style, label=label, ms=4)
    n = np.array([256, 65536], float)
    ours = [
        r
        for r in res
        if r["impl"] == "particles" and r["d"] == d and r["dtype"] == "float64" and r["n"] == 4096
    ]
    t0 = ours[0]["seconds"] if ours else 0.1
    ax_time.loglog(n, t0 * (n / 4096) ** 2, "k-", lw=0.8, alpha=0.5, label="slope 2")
    ax_mem.loglog(
        n, 8 * n * d / 2**20 * 4, "k-", lw=0.8, alpha=0.5, label="4 n d float64 (slope 1)"
    )
    ax_time.set(
        xlabel="n (particles)",
        ylabel="seconds per evaluation",
        title="field evaluation, SA, Q=K=V=I, β=1",
    )
    ax_mem.set(xlabel="n (particles)", ylabel="peak extra memory (MiB)", title="memory")
    for ax in (ax_time, ax_mem):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)


def key_summary(suite: dict) -> str:
    """The target cells: medians over every measurement of them in the run."""
    pk = peaks(suite)
    lines = []
    for cell in KEY_CELLS:
        dt = cell["dtype"]
        got = {}
        for r in suite["results"] + suite["key"]:
            if "seconds" not in r or r.get("impl") == "gemm":
                continue
            if (
                r["n"] == cell["n"]
                and r["d"] == cell["d"]
                and r["dtype"] == dt
                and r["kind"] == "SA"
                and r["weights"] == "identity"
                and r["beta"] == 1.0
            ):
                got.setdefault(r["impl"], []).append(r["seconds"])
        if not got:
            continue
        gemms = [
            g["gflops"]
            for g in suite["gemm"] + suite["key"]
            if g.get("impl") == "gemm" and g["dtype"] == dt
        ]
        lines.append(
            f"**n = {cell['n']}, d = {cell['d']}, SA, Q=K=V=I, β = 1, {dt}, {suite['info']['threads']} threads** "
            f"(GEMM peak {dt}: best {pk[dt]:.1f} GFLOP/s; medians of the {len(gemms)} GEMM measurements: "
            + ", ".join(f"{g:.1f}" for g in gemms)
            + ")\n"
        )
        lines.append("| impl | runs (s) | median | GFLOP/s | % of GEMM peak | ours faster by |")
        lines.append("|---|---|---|---|---|---|")
        flops = 4.0 * cell["n"] ** 2 * cell["d"]
        ours = np.median(got.get("particles", [np.nan]))
        for impl, ts in got.items():
            med = float(np.median(ts))
            lines.append(
                f"| {impl} | {', '.join(f'{t:.3f}' for t in ts)} | {med:.3f} s | {flops / med / 1e9:.1f} | "
                f"{share_of_peak(dict(gflops=flops / med / 1e9), pk[dt])} | {med / ours:.2f}× |"
            )
        lines.append("")
    return "\n".join(lines)


def results_md(suite: dict, command: str) -> str:
    info = suite["info"]
    pk = peaks(suite)
    out = [
        "# Field-evaluation benchmark",
        "",
        f"Command: `{command}`  ",
        f"Date: {info['date']}  ",
        f"Load average (1, 5, 15 min) at start: {', '.join(f'{v:.2f}' for v in info['load_start'])}; "
        f"at end: {', '.join(f'{v:.2f}' for v in info['load_end'])}  ",
        f"Threads: {info['threads']} (BLAS, numba and torch)",
        "",
        "## Machine",
        "",
        *[f"- {ln}" for ln in info.get("lscpu", [])],
        f"- Python {info['python']}, {info['platform']}",
        "- " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        "",
        "## GEMM peak measured in this run",
        "",
        "| dtype | GFLOP/s (median of each measurement) | peak (best single GEMM) |",
        "|---|---|---|",
    ]
    for dt in ("float64", "float32"):
        vals = [
            g["gflops"]
            for g in suite["gemm"] + suite["key"]
            if g.get("impl") == "gemm" and g["dtype"] == dt
        ]
        out.append(f"| {dt} | {', '.join(f'{v:.1f}' for v in vals)} | {pk[dt]:.1f} |")
    out += [
        "",
        "## Key cells (repeated, interleaved)",
        "",
        key_summary(suite),
        "## All cases",
        "",
        "Time: median of repeats after a warm-up call. GFLOP/s counts 4 n² d per evaluation. "
        "% peak is against the best GEMM rate of the same dtype above. Extra MiB: peak RSS growth "
        "during one call (inputs already built). `× peer` = peer's time / our time for the same "
        "cell (> 1: we are faster).",
        "",
        table(suite),
        "",
        *[f"{line}  " for line in notes(suite)],
        "",
    ]
    return "\n".join(out)


#: what the table's marks mean (printed under it when they occur)
NOTES = {
    "O(n)": "O(n): evaluated by the expansion (particles.field.expansion), not the 4 n² d flops counted "
    "in GFLOP/s, so no share of the GEMM peak",
    "100%*": "100%*: measured above the GEMM peak (the machine's load changed between the GEMM "
    "runs and this case)",
}


def notes(suite: dict) -> list[str]:
    """One line per mark the table uses, and one when PyTorch is missing (no torch columns)."""
    text = table(suite)
    out = [v for k, v in NOTES.items() if f"| {k} |" in text]
    if not have_torch():
        out.append(
            "PyTorch is not installed: no torch columns (pip install torch, or pip install -e '.[bench]' in the repository)"
        )
    return out


def report(suite: dict) -> str:
    """The full table, what its marks mean, then the key cells (what ``particles bench`` prints)."""
    extra = notes(suite)
    return table(suite) + ("\n\n" + "\n".join(extra) if extra else "") + "\n\n" + key_summary(suite)


def _worker(arg: str) -> None:
    job = json.loads(arg)
    threads = int(os.environ.get("NUMBA_NUM_THREADS", "1"))
    if "gemm" in job:
        print(json.dumps(measure_gemm(job["gemm"]["dtype"], threads, job["gemm"]["size"])))
    elif "cases" in job:
        for c in job["cases"]:
            print(json.dumps(measure_case(Case(**c), threads)), flush=True)
    else:
        print(json.dumps(measure_case(Case(**job["case"]), threads)))


if __name__ == "__main__":
    _worker(sys.argv[1])
