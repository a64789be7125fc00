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
almost fixed). ``--quick``: n = 60, 4 seeds, t = 40.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.patches import Circle

import particles as pt
from particles.analysis import renyi
from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main

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


def compute(quick: bool = False) -> tuple[dict, dict]:
    n, seeds, t_end = (60, 4, 40.0) if quick else (200, 120, 300.0)
    ts = _times(t_end)
    dense = np.arange(0.0, t_end + 1e-9, 1.0)
    dyn = pt.Dynamics(beta=BETA, causal=True)
    th = np.zeros((seeds, ts.size, n), dtype=np.float32)
    for s in range(seeds):
        x0 = pt.random_points(n=n, d=2, rng=s)
        save = np.union1d(ts, dense) if s == 0 else ts
        traj = pt.simulate(x0, dyn, t_end=t_end, method="euler", dt=DT, save_at=save)
        ang = _angles(np.asarray(traj.x))
        th[s] = ang[np.isin(save, ts)]
        if s == 0:
            show = ang[np.isin(save, dense)].astype(np.float32)
    data = {"t": ts, "theta": th, "t_dense": dense, "theta_dense": show}
    meta = {"beta": BETA, "delta": DELTA, "n": n, "seeds": seeds, "dt": DT, "method": "euler",
            "r_cluster": R_CL, "eps": EPS, "t_end": t_end}  # fmt: skip
    return data, meta


def _clusters(th: np.ndarray, gap: float) -> int:
    """Arcs separated by gaps > ``gap``: the components of dist < gap on the circle."""
    a = np.sort(np.mod(th, 2 * np.pi))
    g = np.diff(np.r_[a, a[0] + 2 * np.pi])
    return max(1, int((g > gap).sum()))


def _stats(a: dict, meta: dict) -> dict:
    """Per seed and time: clusters, centres, captured shares, centre displacements."""
    th = np.asarray(a["theta"], dtype=np.float64)
    S, T, _ = th.shape
    out = {k: np.zeros((S, T)) for k in ("clusters", "cap_r", "cap_s")}
    out["n_r"], out["n_s"] = np.zeros(S, int), np.zeros(S, int)
    disp_s, disp_r, tj = [], [], []
    c = meta["delta"] * np.sqrt(meta["beta"]) / (1 + 2 * meta["eps"])
    for s in range(S):
        x0 = _circle(th[s, 0])
        r, st = (
            renyi.renyi_centres(x0, meta["delta"]),
            renyi.strong_renyi_centres(x0, meta["delta"]),
        )
        out["n_r"][s], out["n_s"][s] = r.size, st.size
        xs = _circle(th[s])
        for k in range(T):
            out["clusters"][s, k] = _clusters(th[s, k], meta["r_cluster"])
            out["cap_r"][s, k] = renyi.captured_fraction(xs[k], r, meta["r_cluster"])
            out["cap_s"][s, k] = renyi.captured_fraction(xs[k], st, meta["r_cluster"])
        d_r = renyi.displacements(xs, r)
        strong = np.isin(r, st)
        disp_s.append(d_r[:, strong & (r > 0)])
        disp_r.append(d_r[:, ~strong])
        tj.append(renyi.strong_centre_time_bound(st[1:] + 1, c, meta["eps"], meta["beta"]))
    out["disp_s"] = np.concatenate(disp_s, axis=1)  # (T, strong centres but token 1, all seeds)
    out["disp_r"] = np.concatenate(disp_r, axis=1)  # (T, Rényi centres that are not strong)
    out["t_j"] = np.concatenate(tj)
    return out


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
    axf.axhline(renyi.parking_count(meta["delta"]), color="k", ls="--",
                label="parking c_R 2π/δ (n = ∞)")  # fmt: skip
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
    axg.set_title("(g) share captured (mean, 10–90 %)", fontsize=10)
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
        f"δ = 4β^(-1/2) = {meta['delta']:g} (arXiv 2411.04990, Fig. 2 and Fig. 3)",
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
