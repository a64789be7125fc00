"""Peak memory of runs saving many states: a zarr store (``--out run.zarr``) against ``.npz``.

    python benchmarks/bench_store.py [--n 2048] [--d 128] [--saves 50,1500] [--npz-saves 50,400]
                                     [--limit-gib 2] [--dir DIR]

Each run is a fresh ``particles simulate`` process (Euler, dt = 0.01, one step per saved state,
SA, beta = 1) measured with ``/usr/bin/time -v`` (maximum resident set size). Then:

- the largest store run again under an address-space limit (``RLIMIT_AS``, ``--limit-gib``) far
  below the size of its saved states, and the same run written to ``.npz`` under the same limit;
- the analyses of the CLI on the largest store (``clusters``, ``histogram``, ``info``), with their
  peak RSS: they read one saved state at a time.

Prints markdown. Needs the ``zarr`` extra and GNU time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable


def _run(args, limit_gib=None):
    """(exit code, peak RSS MiB, wall s, last stderr line) of ``particles ARGS`` in a fresh process."""
    pre = ""
    if limit_gib:
        lim = int(limit_gib * 2**30)
        pre = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({lim}, {lim})); "
    code = pre + "import sys; from particles.cli.main import main; sys.exit(main())"
    cmd = ["/usr/bin/time", "-v", PY, "-c", code, *args]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
    rss = int(m.group(1)) / 1024 if m else float("nan")
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("\t")]
    code_line = re.search(r"Exit status: (\d+)", res.stderr)
    rc = int(code_line.group(1)) if code_line else res.returncode
    return rc, rss, wall, (lines[-1] if lines else "")


def _du(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main(n=2048, d=128, saves=(50, 1500), npz_saves=(50, 400), limit_gib=2.0, workdir=None):
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="bench_store."))
    work.mkdir(parents=True, exist_ok=True)
    frame_mib = n * d * 8 / 2**20
    load0 = os.getloadavg()

    def sim(k, out):
        t_end = f"{0.01 * (k - 1):.10g}"
        return ["simulate", "--n", str(n), "--d", str(d), "--beta", "1", "--t-end", t_end,
                "--method", "euler", "--dt", "0.01", "--saves", str(k), "--seed", "0",
                "--quiet", "--out", str(out)]  # fmt: skip

    rows = [
        "| run | saved states | their size | peak RSS | wall | on disk | exit |",
        "|---|---|---|---|---|---|---|",
    ]
    for suffix, ks in ((".zarr", saves), (".npz", npz_saves)):
        for k in ks:
            out = work / f"run{k}{suffix}"
            rc, rss, wall, _ = _run(sim(k, out))
            size = _du(out) if out.exists() else float("nan")
            rows.append(
                f"| `--out run{k}{suffix}` | {k} | {k * frame_mib:.0f} MiB | {rss:.0f} MiB "
                f"| {wall:.0f} s | {size:.0f} MiB | {rc} |"
            )
            if suffix == ".npz" and out.exists():
                out.unlink()
    big = max(saves)
    limited = [
        f"Under an address-space limit of {limit_gib:g} GiB (`RLIMIT_AS`; the {big} saved states "
        f"are {big * frame_mib / 1024:.2f} GiB):",
        "",
        "| run | exit | peak RSS | last line on stderr |",
        "|---|---|---|---|",
    ]
    for suffix in (".zarr", ".npz"):
        out = work / f"limited{big}{suffix}"
        rc, rss, wall, last = _run(sim(big, out), limit_gib=limit_gib)
        limited.append(
            f"| `--out limited{big}{suffix}` | {rc} | {rss:.0f} MiB | {last[-90:] or '(none)'} |"
        )
        if suffix == ".npz" and out.exists():
            out.unlink()
    store = work / f"run{big}.zarr"
    analyses = ["| analysis of the store | peak RSS | wall | exit |", "|---|---|---|---|"]
    for args in (
        ["info", str(store)],
        ["clusters", str(store), "--json"],
        ["histogram", str(store), "--times", "0,5,10", "--out", str(work / "h.png")],
    ):
        rc, rss, wall, _ = _run(args)
        analyses.append(f"| `particles {' '.join(a.replace(str(work) + '/', '') for a in args)}` "
                        f"| {rss:.0f} MiB | {wall:.0f} s | {rc} |")  # fmt: skip
    load1 = os.getloadavg()
    head = (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; n = {n}, d = {d} "
        f"({frame_mib:.2f} MiB per saved state); load average at start "
        f"{', '.join(f'{v:.2f}' for v in load0)}, at end {', '.join(f'{v:.2f}' for v in load1)}"
    )
    if own:
        shutil.rmtree(work, ignore_errors=True)
    return "\n".join([head, "", *rows, "", *limited, "", *analyses])


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--saves", default="50,1500")
    p.add_argument("--npz-saves", default="50,400")
    p.add_argument("--limit-gib", type=float, default=2.0)
    p.add_argument(
        "--dir", default=None, help="keep the runs here (default: a temporary directory)"
    )
    a = p.parse_args()
    ints = lambda s: tuple(int(v) for v in s.split(","))  # noqa: E731
    print(main(a.n, a.d, ints(a.saves), ints(a.npz_saves), a.limit_gib, a.dir))
