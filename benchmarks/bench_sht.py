"""Spherical-harmonic transform libraries for the S^2 mean-field solver: ducc0, shtns, pyshtools.

    python benchmarks/bench_sht.py

For L in {32, 64, 128, 256}: each library's Gauss–Legendre grid for degree L, the smooth test
function f(x) = exp(3 <x, e>) (e a fixed unit vector; its coefficients beyond degree 32 are below
1e-30), analysis (grid -> coefficients) then synthesis (coefficients -> grid): the time of each
(best of 5, 2 threads where the library has threads) and max |f - synthesis(analysis(f))| on the grid.
A library that is not installed is reported as such (shtns needs FFTW: ``apt-get install
libfftw3-dev`` before ``pip install shtns``).
"""

from __future__ import annotations

import os
import time

import numpy as np

E = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])


def _f(cos_t, phi):
    st = np.sqrt(1 - cos_t**2)
    x = st[:, None] * np.cos(phi)[None, :]
    y = st[:, None] * np.sin(phi)[None, :]
    z = np.broadcast_to(cos_t[:, None], x.shape)
    return np.exp(3.0 * (E[0] * x + E[1] * y + E[2] * z))


def _best(fn, r=5):
    out = fn()
    ts = []
    for _ in range(r):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return min(ts), out


def bench_ducc0(L):
    import ducc0

    nlat, nphi = L + 1, 2 * L + 2
    ct = np.polynomial.legendre.leggauss(nlat)[0][::-1]
    phi = 2 * np.pi * np.arange(nphi) / nphi
    f = _f(ct, phi)
    kw = dict(spin=0, lmax=L, geometry="GL", nthreads=2)
    ta, alm = _best(lambda: ducc0.sht.analysis_2d(map=f[None], **kw))
    ts, g = _best(lambda: ducc0.sht.synthesis_2d(alm=alm, ntheta=nlat, nphi=nphi, **kw))
    return ta, ts, float(np.abs(g[0] - f).max()), ducc0.__version__


def bench_shtns(L):
    import shtns

    sh = shtns.sht(L, L, 1, shtns.sht_orthonormal)
    sh.set_grid(L + 1, 2 * L + 2, shtns.sht_gauss | shtns.SHT_PHI_CONTIGUOUS, 1e-10)
    ct = np.asarray(sh.cos_theta)
    phi = 2 * np.pi * np.arange(sh.nphi) / sh.nphi
    f = np.ascontiguousarray(_f(ct, phi))
    ta, alm = _best(lambda: sh.analys(f))
    ts, g = _best(lambda: sh.synth(alm))
    return ta, ts, float(np.abs(g - f).max()), getattr(shtns, "__version__", "?")


def bench_pyshtools(L):
    import pyshtools as pysh

    zero, w = pysh.expand.SHGLQ(L)
    lat, lon = pysh.expand.GLQGridCoord(L)
    f = _f(np.sin(np.radians(lat)), np.radians(lon))
    ta, cilm = _best(lambda: pysh.expand.SHExpandGLQ(f, w, zero))
    ts, g = _best(lambda: pysh.expand.MakeGridGLQ(cilm, zero))
    return ta, ts, float(np.abs(g - f).max()), pysh.__version__


def main() -> str:
    lines = [
        "Command: `python benchmarks/bench_sht.py`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}",
        "",
        "| library | L | analysis | synthesis | max round-trip error |",
        "|---|---|---|---|---|",
    ]
    for name, fn in (
        ("ducc0", bench_ducc0),
        ("shtns", bench_shtns),
        ("pyshtools", bench_pyshtools),
    ):
        for L in (32, 64, 128, 256):
            try:
                ta, ts, err, ver = fn(L)
            except Exception as e:  # a missing library or a failed build
                lines.append(f"| {name} | {L} | unavailable: {type(e).__name__}: {e} | | |")
                break
            lines.append(
                f"| {name} {ver} | {L} | {ta * 1e3:.3f} ms | {ts * 1e3:.3f} ms | {err:.1e} |"
            )
            print(lines[-1], flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
