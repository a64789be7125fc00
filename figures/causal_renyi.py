"""Fig. 2 (and the statistics of Fig. 3) of Karagodin, Polyanskiy, Rigollet, *Clustering in causal
attention masking*, arXiv 2411.04990: causal attention on the circle (d = 2, Q = K = V = I,
beta = 64, n = 200), its Rényi centres and strong Rényi centres (§5.1) with delta = 4 beta^{-1/2},
and the meta-stable clusters they seed (the Rényi parking connection, App. C).

Tokens: i.i.d. uniform on the circle (``pt.random_points(n=200, d=2, rng=seed)``), integrated by
``pt.simulate(method="euler", dt=0.05)`` (one residual causal-attention layer with post-LayerNorm
per step) to t = 300. Centres are those of x(0) (:mod:`particles.analysis.renyi`), followed in
time. Meta-stable clusters at time t: the arcs of the circle separated by gaps wider than
beta^{-1/2} (the connected components of dist(x_i, x_j) < beta^{-1/2}). A token is captured by a
set of centres when it lies within beta^{-1/2} of one of them (the "consumed" share of Fig. 3).

(a)–(d) one run (seed 0): the tokens at t = 0, 75, 150, 300 with the strong centres (red) and
the other Rényi centres (black); (e) its angles over time; (f) over all seeds: meta-stable
clusters over time against the Rényi and strong centres of x(0), the Lemma C.1 count of strong
centres and the parking count c_R 2 pi / delta (App. C.4); (g) the share captured by each kind of
centre (Fig. 3 of the paper); (h) the displacement of the centres (Lemma 5.1: strong centres stay
almost fixed).

Seeds: 1500 (the paper's Fig. 3 averages 5000 simulations), at about 0.9 s of one core each
(``simulate`` per seed: the ensemble kernels have no causal mask); each seed's statistics are
computed from its angles at the saved times, rounded to float32, and saved (``st_*``); the angles
themselves are kept for the first 60 seeds, and ``claims`` checks that they give the saved
statistics. The Rényi counts of 5000 i.i.d. sequences of 10^4 tokens (no dynamics; their first 200
tokens are the x(0) of the runs) measure the parking limit of App. C.4. The seeds run in chunks
of 25 cached in ``$PARTICLES_STORE`` (default: a folder in the temporary directory); several
processes can fill it at once with :func:`work` before the script assembles it. ``--quick``: n = 60,
4 seeds, t = 40, 50 sequences of 2000 tokens.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
from matplotlib.patches import Circle

import particles as pt
from particles.analysis import renyi
from particles.plotting import new_figure
from particles.plotting.figures import result_store, run_script, save_drawn, script_main

HERE = Path(__file__).resolve().parent
BETA, DT = 64.0, 0.05
DELTA = 4.0 / np.sqrt(BETA)
R_CL = 1.0 / np.sqrt(BETA)  # cluster gap and capture radius
EPS = 0.05  # Lemma 5.1: c (1 + 2 eps) beta^{-1/2} = delta
SNAPS = (0.0, 75.0, 150.0, 300.0)


def _times(t_end: float) -> np.ndarray:
    t = np.array([0, 1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300], dtype=float)
    return t[t <= t_end]


def _angles(x) -> np.ndarray:
    return np.arctan2(x[..., 1], x[..., 0])


def _circle(th) -> np.ndarray:
    th = np.asarray(th, dtype=np.float64)
    return np.stack([np.cos(th), np.sin(th)], axis=-1)


SEEDS, RAW_SEEDS = 1500, 60  # seeds run; the first RAW_SEEDS keep their angles in the npz
PARK_SEEDS, PARK_N = 5000, 10_000  # i.i.d. sequences for the Rényi counts alone (no dynamics)
PARK_PREFIXES = (200, 1000, 10_000)


CHUNK = 25  # seeds per cached chunk of the store (resumable runs)


def compute(quick: bool = False) -> tuple[dict, dict]:
    n, seeds, t_end = (60, 4, 40.0) if quick else (200, SEEDS, 300.0)
    raw = min(seeds, 4 if quick else RAW_SEEDS)
    park_seeds, park_n = (50, 2000) if quick else (PARK_SEEDS, PARK_N)
    ts = _times(t_end)
    dense = np.arange(0.0, t_end + 1e-9, 1.0)
    meta = {"beta": BETA, "delta": DELTA, "n": n, "seeds": seeds, "raw_seeds": raw, "dt": DT,
            "method": "euler", "r_cluster": R_CL, "eps": EPS, "t_end": t_end}  # fmt: skip
    default = Path(tempfile.gettempdir()) / "particles-causal-renyi"
    with result_store(None, quick, default) as store:
        Path(store).mkdir(parents=True, exist_ok=True)
        chunks = [_chunk(Path(store), s0, min(seeds, s0 + CHUNK), ts, dense, meta)
                  for s0 in range(0, seeds, CHUNK)]  # fmt: skip
    per_seed = [p for c in chunks for p in c["stats"]]
    th = np.concatenate([c["theta"] for c in chunks])[:raw]
    data = {"t": ts, "theta": th, "t_dense": dense, "theta_dense": chunks[0]["show"],
            "cpu_s": np.concatenate([c["cpu"] for c in chunks]), **_pack(per_seed, n)}  # fmt: skip
    # Rényi counts of long i.i.d. sequences (the parking limit of App. C.4), prefixes of n tokens
    pref = np.array(sorted({p for p in PARK_PREFIXES if p < park_n} | {park_n, n}))
    counts = np.zeros((park_seeds, pref.size), dtype=np.int16)
    for s in range(park_seeds):
        r = renyi.renyi_centres(pt.random_points(n=park_n, d=2, rng=s), DELTA)
        counts[s] = (r[None, :] < pref[:, None]).sum(axis=1)
    data["park_n"], data["park_counts"] = pref, counts
    return data, meta


def work(store: str | Path, seeds: int = SEEDS) -> int:
    """Fill ``store`` with the chunks of the full run, taking each chunk no other worker has taken
    (a lock file per chunk), so that several processes can share the run; returns the chunks
    this one computed. ``compute`` then loads them (``PARTICLES_STORE=store``)."""
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    meta = {"beta": BETA, "n": 200, "t_end": 300.0, "dt": DT, "delta": DELTA, "r_cluster": R_CL,
            "eps": EPS}  # fmt: skip
    ts, dense, done = _times(300.0), np.arange(0.0, 300.0 + 1e-9, 1.0), 0
    for s0 in range(0, seeds, CHUNK):
        try:
            os.close(os.open(store / f"lock_{s0:05d}", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            continue
        _chunk(store, s0, min(seeds, s0 + CHUNK), ts, dense, meta)
        done += 1
    return done


def _chunk(store: Path, s0: int, s1: int, ts, dense, meta: dict) -> dict:
    """Seeds s0 .. s1 - 1: their statistics, angles (float32, at the saved times), CPU seconds,
    and for seed 0 the dense angles of the run shown; cached in ``store`` (a rerun resumes)."""
    key = f"n{meta['n']}_t{meta['t_end']:g}_dt{meta['dt']:g}_b{meta['beta']:g}_{s0:05d}_{s1:05d}"
    path = store / f"chunk_{key}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    dyn = pt.Dynamics(beta=meta["beta"], causal=True)
    out: dict = {"stats": [], "theta": [], "cpu": np.zeros(s1 - s0), "show": None}
    for s in range(s0, s1):
        c0 = time.process_time()
        x0 = pt.random_points(n=meta["n"], d=2, rng=s)
        save = np.union1d(ts, dense) if s == 0 else ts
        traj = pt.simulate(x0, dyn, t_end=meta["t_end"], method="euler", dt=meta["dt"],
                           save_at=save)  # fmt: skip
        ang = _angles(np.asarray(traj.x))
        ang_t = ang[np.isin(save, ts)].astype(np.float32)  # the stats see what the npz keeps
        out["stats"].append(_seed_stats(ang_t, meta))
        out["theta"].append(ang_t)
        if s == 0:
            out["show"] = ang[np.isin(save, dense)].astype(np.float32)
        out["cpu"][s - s0] = time.process_time() - c0
    out["theta"] = np.array(out["theta"])
    with open(path.with_suffix(".tmp"), "wb") as f:
        pickle.dump(out, f)
    path.with_suffix(".tmp").replace(path)
    return out


_PER_T = ("clusters", "cap_r", "cap_s")


def _seed_stats(th: np.ndarray, meta: dict) -> dict:
    """One seed's statistics from its angles (T, n) at the saved times: clusters, captured
    shares, its centres and their displacements, and Lemma 5.1's times T_j."""
    th = np.asarray(th, dtype=np.float64)
    x0 = _circle(th[0])
    r = renyi.renyi_centres(x0, meta["delta"])
    st = renyi.strong_renyi_centres(x0, meta["delta"])
    xs = _circle(th)
    out = {"n_r": r.size, "n_s": st.size}
    out["clusters"] = np.array([_clusters(t, meta["r_cluster"]) for t in th])
    out["cap_r"] = np.array([renyi.captured_fraction(x, r, meta["r_cluster"]) for x in xs])
    out["cap_s"] = np.array([renyi.captured_fraction(x, st, meta["r_cluster"]) for x in xs])
    d_r = renyi.displacements(xs, r)
    strong = np.isin(r, st)
    out["disp_s"] = d_r[:, strong & (r > 0)]
    out["disp_r"] = d_r[:, ~strong]
    c = meta["delta"] * np.sqrt(meta["beta"]) / (1 + 2 * meta["eps"])
    out["t_j"] = renyi.strong_centre_time_bound(st[1:] + 1, c, meta["eps"], meta["beta"])
    return out


def _pack(per_seed: list[dict], n: int) -> dict:
    """The per-seed statistics as arrays: (S, T) per time, (S,) counts, and the centres of all
    seeds side by side ((T, m) displacements, (m,) T_j), with the seed of each centre; the
    captured shares as counts of the ``n`` tokens."""
    out = {f"st_{k}": np.array([p[k] for p in per_seed]) for k in (*_PER_T, "n_r", "n_s")}
    for k in ("cap_r", "cap_s"):  # saved as token counts (exact: fractions of n tokens)
        out[f"st_{k}"] = np.rint(out[f"st_{k}"] * n).astype(np.int16)
    out["st_clusters"] = out["st_clusters"].astype(np.int16)
    for k in ("disp_s", "disp_r"):
        out[f"st_{k}"] = np.concatenate([p[k] for p in per_seed], axis=1).astype(np.float32)
        out[f"st_{k}_seed"] = np.concatenate(
            [np.full(p[k].shape[1], i) for i, p in enumerate(per_seed)]
        ).astype(np.int32)
    out["st_t_j"] = np.concatenate([p["t_j"] for p in per_seed])
    return out


def _clusters(th: np.ndarray, gap: float) -> int:
    """Arcs separated by gaps > ``gap``: the components of dist < gap on the circle."""
    a = np.sort(np.mod(th, 2 * np.pi))
    g = np.diff(np.r_[a, a[0] + 2 * np.pi])
    return max(1, int((g > gap).sum()))


def _stats(a: dict, meta: dict) -> dict:
    """Per seed and time: clusters, centres, captured shares, centre displacements (as saved by
    ``compute``, one row per seed; the centres of all seeds side by side)."""
    out = {k: np.asarray(a[f"st_{k}"]) for k in (*_PER_T, "n_r", "n_s", "t_j")}
    for k in ("cap_r", "cap_s"):
        out[k] = out[k] / meta["n"]
    for k in ("disp_s", "disp_r"):
        out[k] = np.asarray(a[f"st_{k}"], dtype=np.float64)
    return out


def _raw_stats(a: dict, meta: dict, seeds: int) -> dict:
    """The same statistics recomputed from the saved angles of the first ``seeds`` seeds."""
    th = np.asarray(a["theta"], dtype=np.float32)
    return _pack([_seed_stats(th[s], meta) for s in range(seeds)], meta["n"])


def _lemma_ok(a: dict, st: dict, meta: dict) -> float:
    """Share of strong centres (token 1 aside) within eps c beta^{-1/2} at every saved t <= T_j."""
    c = meta["delta"] * np.sqrt(meta["beta"]) / (1 + 2 * meta["eps"])
    radius = meta["eps"] * c / np.sqrt(meta["beta"])
    t = np.asarray(a["t"])
    ok = [np.all(st["disp_s"][t <= tj, j] < radius) for j, tj in enumerate(st["t_j"])]
    return float(np.mean(ok)) if ok else 1.0


def _snapshot(ax, th, r, st, t, tag):
    ax.plot(np.cos(th), np.sin(th), "o", color="0.6", ms=3, alpha=0.5)
    nr = r[~np.isin(r, st)]
    ax.plot(np.cos(th[nr]), np.sin(th[nr]), "o", mfc="none", mec="k", ms=8, mew=1.3)
    ax.plot(np.cos(th[st]), np.sin(th[st]), "o", mfc="none", mec="r", ms=11, mew=1.5)
    ax.add_patch(Circle((0, 0), 1, fill=False, lw=0.5))
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"({tag}) seed 0, t = {t:g}", fontsize=10)


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((15, 8.5))
    gs = fig.add_gridspec(2, 4, height_ratios=[1, 1.15])
    dense, thd = np.asarray(data["t_dense"]), np.asarray(data["theta_dense"], dtype=np.float64)
    x0 = _circle(thd[0])
    r = renyi.renyi_centres(x0, meta["delta"])
    st = renyi.strong_renyi_centres(x0, meta["delta"])
    for i, t in enumerate([t for t in SNAPS if t <= dense[-1]] or [dense[-1]]):
        k = int(np.argmin(np.abs(dense - t)))
        _snapshot(fig.add_subplot(gs[0, i]), thd[k], r, st, dense[k], "abcd"[i])
    axe = fig.add_subplot(gs[1, 0])
    unw = np.unwrap(thd, axis=0)
    axe.plot(dense, unw, color="0.7", lw=0.4)
    nr = r[~np.isin(r, st)]
    axe.plot(dense, unw[:, nr], color="k", lw=1.2)
    axe.plot(dense, unw[:, st], color="r", lw=1.4)
    axe.set_xlabel("t")
    axe.set_ylabel("θ_k(t) (unwrapped)")
    axe.set_title("(e) seed 0: strong centres (red), Rényi (black)", fontsize=10)
    stats = _stats(data, meta)
    t = np.asarray(data["t"])
    axf = fig.add_subplot(gs[1, 1])
    cl = stats["clusters"]
    axf.plot(t, cl.mean(0), "C0o-", label="meta-stable clusters (mean)")
    axf.fill_between(t, *np.percentile(cl, [10, 90], axis=0), color="C0", alpha=0.2, lw=0)
    axf.axhline(stats["n_r"].mean(), color="k", lw=1.2, label="Rényi centres of x(0)")
    axf.axhline(stats["n_s"].mean(), color="r", lw=1.2, label="strong centres of x(0)")
    n = meta["n"]
    axf.axhline(renyi.expected_strong_centres(n, meta["delta"], 2), color="r", ls=":",
                label=f"strong, Lemma C.1 sum (n = {n})")  # fmt: skip
    park = f"parking c_R 2π/δ = {renyi.parking_count(meta['delta']):.2f} (n = ∞)"
    if "park_counts" in data:
        pc = np.asarray(data["park_counts"])
        park += f";\n  measured, {int(data['park_n'][-1])} tokens: {pc[:, -1].mean():.2f}"
    axf.axhline(renyi.parking_count(meta["delta"]), color="k", ls="--", label=park)
    axf.set_xscale("symlog", linthresh=10)
    axf.set_xlim(left=0)
    axf.set_ylim(0, np.percentile(cl, 90, axis=0).max() + 4)
    axf.set_xlabel("t")
    axf.set_ylabel("count")
    axf.set_title(f"(f) {meta['seeds']} seeds: clusters and centres", fontsize=10)
    axf.legend(fontsize=7.5, loc="upper right")
    axg = fig.add_subplot(gs[1, 2])
    for key, col, lab in (("cap_r", "k", "Rényi centres"), ("cap_s", "r", "strong centres")):
        v = 100 * stats[key]
        axg.plot(t, v.mean(0), "o-", color=col, ms=3, label=lab)
        axg.fill_between(t, *np.percentile(v, [10, 90], axis=0), color=col, alpha=0.15, lw=0)
    axg.set_xscale("symlog", linthresh=10)
    axg.set_xlim(left=0)
    axg.set_ylim(0, 100)
    axg.set_xlabel("t")
    axg.set_ylabel("% of tokens within β^{-1/2} of a centre")
    axg.set_title(f"(g) share captured (mean, 10–90 %, {meta['seeds']} seeds)", fontsize=10)
    axg.legend(fontsize=8, loc="lower right")
    axh = fig.add_subplot(gs[1, 3])
    sq = np.sqrt(meta["beta"])
    for key, col, lab in (
        ("disp_s", "r", "strong (token 1 aside)"),
        ("disp_r", "k", "Rényi, not strong"),
    ):
        v = np.maximum(stats[key][1:] * sq, 1e-4)  # drawn at 1e-4 when the centre never moved
        if v.size:
            axh.plot(t[1:], np.median(v, axis=1), "o-", color=col, ms=3, label=f"{lab}: median")
            axh.plot(
                t[1:], np.percentile(v, 90, axis=1), "--", color=col, lw=1, label=f"{lab}: 90 %"
            )
    axh.axhline(1.0, color="0.5", lw=0.8, ls=":")
    axh.set_xscale("log")
    axh.set_yscale("log")
    axh.set_xlabel("t")
    axh.set_ylabel("displacement from x(0), units of β^{-1/2} (floor 1e-4)")
    axh.set_title("(h) centres' displacement (Lemma 5.1)", fontsize=10)
    axh.legend(fontsize=7.5, loc="center right")
    fig.suptitle(
        f"Causal attention on the circle, Q = K = V = I, β = {meta['beta']:g}, n = {n}, "
        f"δ = 4β^(-1/2) = {meta['delta']:g}, {meta['seeds']} seeds "
        "(arXiv 2411.04990, Fig. 2 and Fig. 3)",
        fontsize=11,
    )
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


def _merges(thd: np.ndarray, dense: np.ndarray, meta: dict) -> list[float]:
    """Seed 0: the first time each Rényi centre that is not strong comes within beta^{-1/2} / 10
    of a strong centre (those that do, in order)."""
    x = _circle(thd)
    r = renyi.renyi_centres(x[0], meta["delta"])
    st = renyi.strong_renyi_centres(x[0], meta["delta"])
    out = []
    for j in r[~np.isin(r, st)]:
        near = (x[:, j, None, :] * x[:, st, :]).sum(-1).max(axis=1) > np.cos(meta["r_cluster"] / 10)
        if near.any():
            out.append(float(dense[np.argmax(near)]))
    return sorted(out)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved angles."""
    st = _stats(a, meta)
    t = np.asarray(a["t"])
    at = {int(v): int(np.flatnonzero(t == v)[0]) for v in (10, 75, 150, 300) if v in t}
    cl, nr, ns = st["clusters"], st["n_r"], st["n_s"]
    sq = np.sqrt(meta["beta"])
    c: dict = {
        "seeds": int(meta["seeds"]), "n": int(meta["n"]),
        "renyi_mean": float(nr.mean()), "strong_mean": float(ns.mean()),
        "strong_expected": renyi.expected_strong_centres(meta["n"], meta["delta"], 2),
        "strong_limit": renyi.expected_strong_centres(None, meta["delta"], 2),
        "parking": renyi.parking_count(meta["delta"]),
        "lemma_ok_pct": 100 * _lemma_ok(a, st, meta),
        "t_j_max": float(st["t_j"].max()) if st["t_j"].size else 0.0,
    }  # fmt: skip
    for v, k in at.items():
        c[f"clusters_t{v}"] = float(cl[:, k].mean())
        c[f"cap_r_t{v}"] = float(100 * st["cap_r"][:, k].mean())
        c[f"cap_s_t{v}"] = float(100 * st["cap_s"][:, k].mean())
        c[f"between_t{v}"] = float(100 * np.mean((cl[:, k] >= ns) & (cl[:, k] <= nr)))
        c[f"corr_t{v}"] = float(np.corrcoef(cl[:, k], nr)[0, 1])
        c[f"ratio_t{v}"] = float(np.mean(cl[:, k] / nr))
        if st["disp_s"].size:
            c[f"disp_s_med_t{v}"] = float(np.median(st["disp_s"][k]) * sq)
            c[f"disp_s_within_t{v}"] = float(100 * np.mean(st["disp_s"][k] * sq < 1.0))
        if st["disp_r"].size:
            c[f"disp_r_med_t{v}"] = float(np.median(st["disp_r"][k]) * sq)
            c[f"disp_r_within_t{v}"] = float(100 * np.mean(st["disp_r"][k] * sq < 1.0))
    c["strong_subset"] = bool(np.all(ns <= nr))
    c["renyi_sem"] = float(nr.std(ddof=1) / np.sqrt(nr.size)) if nr.size > 1 else 0.0
    c["strong_sem"] = float(ns.std(ddof=1) / np.sqrt(ns.size)) if ns.size > 1 else 0.0
    if 300 in at:
        k = at[300]
        c["clusters_sem_t300"] = float(cl[:, k].std(ddof=1) / np.sqrt(cl.shape[0]))
    # the saved statistics are those of the saved angles (checked on the seeds that keep them)
    raw = _raw_stats(a, meta, int(meta["raw_seeds"]))
    c["raw_seeds"] = int(meta["raw_seeds"])
    c["stats_match_raw"] = bool(
        all(np.array_equal(raw[f"st_{k}"], a[f"st_{k}"][: meta["raw_seeds"]])
            for k in (*_PER_T, "n_r", "n_s"))
        and all(np.array_equal(raw[f"st_{k}"], a[f"st_{k}"][:, a[f"st_{k}_seed"] < meta["raw_seeds"]])
                for k in ("disp_s", "disp_r"))
    )  # fmt: skip
    cpu = np.asarray(a["cpu_s"])
    c["cpu_per_seed"] = float(np.median(cpu))
    c["cpu_total_min"] = float(cpu.sum() / 60)
    # the parking limit (App. C.4): Rényi counts of long i.i.d. sequences, by prefix length
    pn, pc = np.asarray(a["park_n"]), np.asarray(a["park_counts"], dtype=np.float64)
    c["park_seeds"], c["park_n"] = int(pc.shape[0]), [int(v) for v in pn]
    c["park_mean"] = [float(v) for v in pc.mean(axis=0)]
    c["park_sem"] = [float(v) for v in pc.std(axis=0, ddof=1) / np.sqrt(pc.shape[0])]
    c["park_constant"] = float(pc[:, -1].mean() * meta["delta"] / (2 * np.pi))  # c_R estimate
    c["park_constant_sem"] = float(c["park_sem"][-1] * meta["delta"] / (2 * np.pi))
    c["park_constant_z"] = float(
        (c["park_constant"] - renyi.RENYI_PARKING_CONSTANT) / max(c["park_constant_sem"], 1e-300)
    )
    k200 = np.flatnonzero(pn == meta["n"])
    if k200.size:  # the first tokens of the long sequences are the dynamics' x(0)
        m = min(pc.shape[0], nr.size)
        c["park_prefix_is_x0"] = bool(np.array_equal(pc[:m, k200[0]], nr[:m]))
    thd = np.asarray(a["theta_dense"], dtype=np.float64)
    dense = np.asarray(a["t_dense"])
    x0 = _circle(thd[0])
    c["show_renyi"] = int(renyi.renyi_centres(x0, meta["delta"]).size)
    c["show_strong"] = int(renyi.strong_renyi_centres(x0, meta["delta"]).size)
    c["show_merges"] = _merges(thd, dense, meta)
    c["show_clusters"] = [_clusters(thd[int(np.argmin(np.abs(dense - s)))], meta["r_cluster"])
                          for s in SNAPS if s <= dense[-1]]  # fmt: skip
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
