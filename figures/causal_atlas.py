"""The atlas of final configurations of causal attention by the top eigenvalue of V: Table 1 and
Fig. 1 of Karagodin, Polyanskiy, Rigollet, *Clustering in causal attention masking*, arXiv
2411.04990 (§4). Only the spectrum of V (not Q or K) decides the asymptotics; Table 1 reads, with
lambda_max the largest eigenvalue of V and L its eigenspace:

    lambda_max > 0, multiplicity d   ->  the first particle x_1(0)       (Theorem 4.1, V = I)
    lambda_max > 0, multiplicity >= 2 ->  one point in L                  (conjecture)
    lambda_max > 0, multiplicity 1   ->  two points xi, -xi (L = span xi) (conjecture)
    lambda_max < 0, multiplicity >= 2 ->  a point cloud around L          (conjecture)
    lambda_max < 0, multiplicity 1   ->  two point clouds around xi, -xi  (conjecture)

As in Fig. 1: d = 3, n = 32 tokens i.i.d. uniform on S^2, Q = K = I, beta = 9, final time
T = 5000; here one diagonal V per row, V = I, diag(1, 1, -1), diag(1, 0.5, 0.5), diag(-1, -1, -2),
diag(-1, -2, -2), integrated by ``pt.simulate(method="euler", dt=0.1)``; the rows with
lambda_max > 0 are then continued to t = 5e4 with dt = 0.5 (their last, meta-stable stage is slow
and smooth). Each panel: the tokens' paths on the sphere (grey), x(0) (small dots), x(T) (red),
x(5e4) (blue stars). Measured per row (claims): the distance
of x(T) to the predicted set, and the number of distinct final points (clusters of
<x_i, x_j> > 1 - 1e-4). Token 1 evolves alone (x_1' = P(x_1) V x_1, so x_1(t) is
e^{tV} x_1(0) normalised): for rows 2 and 3 the predicted point is the normalised projection of
x_1(0) on L. ``--quick``: T = 50, continued to 200.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import particles as pt
from particles.analysis import clusters
from particles.plotting import new_figure
from particles.plotting.figures import run_script, script_main

HERE = Path(__file__).resolve().parent
N, D, BETA, DT = 32, 3, 9.0, 0.1
CASES = (
    ("lambda_max > 0, mult d: x_1(0)", (1.0, 1.0, 1.0)),
    ("lambda_max > 0, mult 2: a point in L", (1.0, 1.0, -1.0)),
    ("lambda_max > 0, mult 1: ±xi", (1.0, 0.5, 0.5)),
    ("lambda_max < 0, mult 2: cloud around L", (-1.0, -1.0, -2.0)),
    ("lambda_max < 0, mult 1: clouds around ±xi", (-1.0, -2.0, -2.0)),
)
T_LONG, DT_LONG = 5e4, 0.5  # rows with lambda_max > 0 are continued to T_LONG
LINK = 1e-4  # distinct final points: clusters of <x_i, x_j> > 1 - LINK


def compute(quick: bool = False) -> tuple[dict, dict]:
    t_end = 50.0 if quick else 5000.0
    ts = np.unique(np.r_[0.0, np.geomspace(0.1, t_end, 120)])
    x0 = pt.random_points(n=N, d=D, rng=0)
    t_long = 4 * t_end if quick else T_LONG
    data: dict = {"t": ts, "x0": x0, "eig": np.array([c[1] for c in CASES]),
                  "t_long": np.geomspace(t_end, t_long, 12)}  # fmt: skip
    for i, (_, ev) in enumerate(CASES):
        dyn = pt.Dynamics(beta=BETA, causal=True, V=np.diag(ev))
        traj = pt.simulate(x0, dyn, t_end=t_end, method="euler", dt=DT, save_at=ts)
        data[f"x_{i}"] = np.asarray(traj.x)
        if ev[0] > 0:  # lambda_max > 0: continue the (slow) meta-stable stage with larger steps
            long = pt.simulate(data[f"x_{i}"][-1], dyn, t_end=t_long - t_end, method="euler",
                               dt=DT_LONG, save_at=data["t_long"] - t_end)  # fmt: skip
            data[f"xl_{i}"] = np.asarray(long.x)
    meta = {"beta": BETA, "n": N, "d": D, "dt": DT, "dt_long": DT_LONG, "method": "euler", "t_end": t_end,
            "labels": [c[0] for c in CASES], "link": LINK}  # fmt: skip
    return data, meta


def _geo(a, b) -> np.ndarray:
    return 2 * np.arcsin(np.minimum(1.0, np.linalg.norm(a - b, axis=-1) / 2))


def _row(a: dict, i: int, link: float, key: str = "x") -> dict:
    """What row i's final state (at T, or at T_LONG with ``key="xl"``) is, against Table 1."""
    ev = np.asarray(a["eig"][i])
    xT = np.asarray(a[f"{key}_{i}"][-1])
    x1 = np.asarray(a["x0"])[0]
    top = ev == ev.max()  # L: the coordinate axes of lambda_max (V is diagonal)
    out = {
        "points": int(clusters.count_clusters(xT, link)),
        "off_L": float(np.abs(xT[:, ~top]).max(initial=0.0)),
    }
    if top.all() or (top.sum() >= 2 and ev.max() > 0):  # the predicted point: token 1's limit
        xi = np.where(top, x1, 0.0)
        g = _geo(xT, xi / np.linalg.norm(xi))
        out["dist"], out["at_point"] = float(g.max()), int((g < 0.01).sum())
    elif top.sum() == 1:
        xi = top.astype(float)
        d_pm = np.minimum(_geo(xT, xi), _geo(xT, -xi))
        out["dist"] = float(d_pm.max())
        out["plus"] = int((xT @ xi > 0).sum())
    return out


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((13.0, 9.5))
    u, v = np.mgrid[0 : 2 * np.pi : 40j, 0 : np.pi : 20j]
    for i, label in enumerate(meta["labels"]):
        ax = fig.add_subplot(2, 3, i + 1, projection="3d")
        ax.plot_wireframe(
            np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.3
        )
        x = np.asarray(data[f"x_{i}"])
        for k in range(x.shape[1]):
            ax.plot(x[:, k, 0], x[:, k, 1], x[:, k, 2], color="0.45", lw=0.6)
        ax.scatter(*x[0].T, color="k", s=6)
        ax.scatter(*x[-1].T, color="r", s=28, depthshade=False)
        r = _row(data, i, meta["link"])
        ev = ", ".join(f"{e:g}" for e in data["eig"][i])
        title = f"V = diag({ev})\n{label}\n{r['points']} point(s) at T"
        if f"xl_{i}" in data:
            xl = np.asarray(data[f"xl_{i}"])
            ax.scatter(*xl[-1].T, color="b", marker="*", s=120, depthshade=False)
            n_long = _row(data, i, meta["link"], "xl")["points"]
            title += f", {n_long} at t = {data['t_long'][-1]:g} (blue)"
        ax.set_title(title, fontsize=9)
        ax.set_box_aspect((1, 1, 1), zoom=1.25)
        ax.set_axis_off()
    ax = fig.add_subplot(2, 3, 6)
    ax.set_axis_off()
    table = "\n".join(
        f"diag({', '.join(f'{e:g}' for e in data['eig'][i])}):\n  {lab}"
        for i, lab in enumerate(meta["labels"])
    )
    ax.text(0.0, 0.6, "Table 1 (λ_max, multiplicity → final state):\n\n" + table, fontsize=9,
            va="center", family="monospace")  # fmt: skip
    fig.suptitle(
        f"Causal attention, d = 3, n = {meta['n']}, Q = K = I, β = {meta['beta']:g}, T = "
        f"{meta['t_end']:g}: final configurations by the top eigenvalue of V "
        "(arXiv 2411.04990, Table 1 and Fig. 1)\ngrey paths, red x(T), blue stars x(t) at the end of "
        "the continuation (rows with λ_max > 0)",
        fontsize=10,
        y=0.99,
    )
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=0.88, wspace=0.0, hspace=0.12)
    fig.savefig(path, dpi=130)  # no tight layout: it does not place 3-D axes
    return Path(path)


main = script_main(__file__, compute, plot)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved trajectories."""
    c: dict = {"t_end": float(meta["t_end"])}
    rows = [_row(a, i, meta["link"]) for i in range(len(meta["labels"]))]
    c["points"] = [r["points"] for r in rows]
    for i in (0, 1, 2, 4):
        c[f"dist_{i}"] = rows[i]["dist"]
    for i in (
        0,
        1,
    ):  # tokens at the predicted point; the pull e^{beta (cos theta - 1)} on the farthest
        c[f"at_point_{i}"] = rows[i]["at_point"]
        c[f"pull_{i}"] = float(np.exp(meta["beta"] * (np.cos(rows[i]["dist"]) - 1.0)))
    for i in (1, 2, 3, 4):
        c[f"off_L_{i}"] = rows[i]["off_L"]
    c["plus_2"], c["plus_4"] = rows[2]["plus"], rows[4]["plus"]
    moved = [float(_geo(a[f"x_{i}"][-1], a[f"x_{i}"][-2]).max()) for i in (3, 4)]
    c["moved_last_3_4"] = moved  # over the last saved interval
    c["negative_rows_move"] = bool(min(moved) > 1e-3)
    c["t_long"] = float(a["t_long"][-1])
    long = [_row(a, i, meta["link"], "xl") for i in (0, 1, 2)]
    c["points_long"] = [r["points"] for r in long]
    c["dist_long"] = [r["dist"] for r in long]
    x3 = np.asarray(a["x_3"][-1])
    ang = np.sort(np.mod(np.arctan2(x3[:, 1], x3[:, 0]), 2 * np.pi))
    c["max_gap_3"] = float(np.diff(np.r_[ang, ang[0] + 2 * np.pi]).max())  # largest gap along L
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
