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


def _rot(a: float, b: float, c: float) -> np.ndarray:
    """V with the complex pair a ± ib acting on the (e1, e2) plane as a I + b J (J the rotation by
    pi/2) and the real eigenvalue c on e3."""
    return np.array([[a, -b, 0.0], [b, a, 0.0], [0.0, 0.0, c]])


CASES = (
    ("lambda_max > 0, mult d: x_1(0)", np.diag([1.0, 1.0, 1.0])),
    ("lambda_max > 0, mult 2: a point in L", np.diag([1.0, 1.0, -1.0])),
    ("lambda_max > 0, mult 1: ±xi", np.diag([1.0, 0.5, 0.5])),
    ("lambda_max < 0, mult 2: cloud around L", np.diag([-1.0, -1.0, -2.0])),
    ("lambda_max < 0, mult 1: clouds around ±xi", np.diag([-1.0, -2.0, -2.0])),
    # complex eigenvalues (derived here, not rows of Table 1): L is the top eigenspace by real part
    ("Re > 0, complex top pair: one point in L, rotating", _rot(1.0, 1.0, 0.5)),
    ("Re < 0, complex top pair: cloud around L, rotating", _rot(-1.0, 1.0, -2.0)),
    ("real top 1 > Re 0.5 ± i: ±xi, reached on spirals", _rot(0.5, 1.0, 1.0)),
    ("Re = 0, rotation ±i > -1: one point in L, rotating", _rot(0.0, 1.0, -1.0)),
)
T_LONG, DT_LONG = 5e4, 0.5  # rows with lambda_max > 0 are continued to T_LONG
W_LEN, W_STEP = 20.0, 0.2  # complex rows: x(T) continued by W_LEN, saved every W_STEP
SPIRAL_T = 20.0  # row 8: turns of the paths about xi counted over t <= SPIRAL_T
LINK = 1e-4  # distinct final points: clusters of <x_i, x_j> > 1 - LINK


def compute(quick: bool = False) -> tuple[dict, dict]:
    t_end = 50.0 if quick else 5000.0
    ts = np.unique(np.r_[0.0, np.geomspace(0.1, t_end, 120)])
    x0 = pt.random_points(n=N, d=D, rng=0)
    t_long = 4 * t_end if quick else T_LONG
    data: dict = {"t": ts, "x0": x0, "V": np.array([c[1] for c in CASES]),
                  "t_long": np.geomspace(t_end, t_long, 12),
                  "t_win": np.arange(0.0, W_LEN + 1e-9, W_STEP)}  # fmt: skip
    for i, (_, V) in enumerate(CASES):
        dyn = pt.Dynamics(beta=BETA, causal=True, V=V)
        traj = pt.simulate(x0, dyn, t_end=t_end, method="euler", dt=DT, save_at=ts)
        data[f"x_{i}"] = np.asarray(traj.x)
        if (
            _spectrum(V)[0].real.max() > 0
        ):  # Re lambda_max > 0: continue the (slow) meta-stable stage with larger steps
            long = pt.simulate(data[f"x_{i}"][-1], dyn, t_end=t_long - t_end, method="euler",
                               dt=DT_LONG, save_at=data["t_long"] - t_end)  # fmt: skip
            data[f"xl_{i}"] = np.asarray(long.x)
        if np.abs(_spectrum(V)[2].imag).max() > 0:  # complex top pair: a window to time rotation
            win = pt.simulate(data[f"x_{i}"][-1], dyn, t_end=W_LEN, method="euler", dt=DT,
                              save_at=data["t_win"])  # fmt: skip
            data[f"w_{i}"] = np.asarray(win.x)
    meta = {"beta": BETA, "n": N, "d": D, "dt": DT, "dt_long": DT_LONG, "method": "euler", "t_end": t_end,
            "labels": [c[0] for c in CASES], "link": LINK, "spiral_t": SPIRAL_T}  # fmt: skip
    return data, meta


def _geo(a, b) -> np.ndarray:
    return 2 * np.arcsin(np.minimum(1.0, np.linalg.norm(a - b, axis=-1) / 2))


def _spectrum(V) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues of V, the orthonormal basis (d, m) of L (the real span of the eigenvectors
    whose eigenvalues have the largest real part; real eigenvalues first), and those eigenvalues."""
    w, U = np.linalg.eig(np.asarray(V, dtype=np.float64))
    top = np.isclose(w.real, w.real.max(), rtol=0.0, atol=1e-12)
    u, sv, _ = np.linalg.svd(np.concatenate([U[:, top].real, U[:, top].imag], axis=1))
    basis = u[:, : int((sv > 1e-10 * sv.max()).sum())]
    basis = basis * np.sign(basis[np.argmax(np.abs(basis), axis=0), np.arange(basis.shape[1])])
    return w, basis, w[top]


def _azimuth(x, basis) -> np.ndarray:
    """Angle of the projection of x (..., d) on the first two basis vectors."""
    return np.arctan2(x @ basis[:, 1], x @ basis[:, 0])


def _euler_omega(V, dt: float) -> float:
    """Angular speed about e3 of a point of the (e1, e2) plane under the Euler layer
    x <- normalise(x + dt V x), where V acts on that plane as a I + b J:
    atan(b dt / (1 + a dt)) / dt (the ODE's is b; derived here)."""
    a, b = float(V[0, 0]), float(V[1, 0])
    return float(np.arctan2(b * dt, 1.0 + a * dt) / dt)


def _row(a: dict, i: int, link: float, key: str = "x") -> dict:
    """What row i's final state (at T, or at T_LONG with ``key="xl"``) is, against Table 1 (and,
    for the complex rows, against the predictions derived here)."""
    _, basis, lam = _spectrum(a["V"][i])
    xT = np.asarray(a[f"{key}_{i}"][-1])
    x1 = np.asarray(a["x0"])[0]
    m, d = basis.shape[1], xT.shape[1]
    out = {
        "points": int(clusters.count_clusters(xT, link)),
        "off_L": float(np.linalg.norm(xT - (xT @ basis) @ basis.T, axis=1).max(initial=0.0)),
    }
    complex_top = bool(np.abs(lam.imag).max() > 0)
    if complex_top and lam.real.max() >= 0:  # one point of L, rotating: token 1's position now
        g = _geo(xT, xT[0])
        out["dist"], out["at_point"] = float(g.max()), int((g < 0.01).sum())
    elif not complex_top and (m == d or (m >= 2 and lam.real.max() > 0)):  # token 1's limit
        xi = basis @ (basis.T @ x1)
        g = _geo(xT, xi / np.linalg.norm(xi))
        out["dist"], out["at_point"] = float(g.max()), int((g < 0.01).sum())
    elif m == 1:
        xi = basis[:, 0]
        d_pm = np.minimum(_geo(xT, xi), _geo(xT, -xi))
        out["dist"] = float(d_pm.max())
        out["plus"] = int((xT @ xi > 0).sum())
    return out


def _resolved(t: np.ndarray, omega: float, turn: float = 0.3) -> int:
    """Index of the last saved time up to which the saves are close enough to draw a rotation
    at angular speed ``omega`` (at most ``turn`` radians between saves); all of them if none."""
    if omega == 0:
        return t.size - 1
    coarse = np.flatnonzero(np.diff(t) * omega > turn)
    return int(coarse[0]) if coarse.size else t.size - 1


def _label_V(V) -> str:
    V = np.asarray(V)
    if np.allclose(V, np.diag(np.diag(V))):
        return "V = diag(" + ", ".join(f"{e:g}" for e in np.diag(V)) + ")"
    a, b, c = V[0, 0], V[1, 0], V[2, 2]
    return f"V: {a:g} ± {b:g}i on (e1, e2), {c:g} on e3"


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((18.0, 8.4))
    u, v = np.mgrid[0 : 2 * np.pi : 40j, 0 : np.pi : 20j]
    for i, label in enumerate(meta["labels"]):
        ax = fig.add_subplot(2, 5, i + 1, projection="3d")
        ax.plot_wireframe(
            np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.3
        )
        x = np.asarray(data[f"x_{i}"])
        om = float(np.abs(np.linalg.eigvals(data["V"][i]).imag).max())
        kmax = _resolved(np.asarray(data["t"]), om)
        for k in range(x.shape[1]):
            ax.plot(*x[: kmax + 1, k].T, color="0.45", lw=0.6)
        if f"w_{i}" in data:  # the rotation after T, finely saved
            w = np.asarray(data[f"w_{i}"])
            for k in range(w.shape[1]):
                ax.plot(*w[:, k].T, color="tab:orange", lw=0.7)
        ax.scatter(*x[0].T, color="k", s=6)
        ax.scatter(*x[-1].T, color="r", s=28, depthshade=False)
        r = _row(data, i, meta["link"])
        title = f"({i + 1}) {_label_V(data['V'][i])}\n{label}\n{r['points']} point(s) at T"
        if f"xl_{i}" in data:
            xl = np.asarray(data[f"xl_{i}"])
            ax.scatter(*xl[-1].T, color="b", marker="*", s=120, depthshade=False)
            n_long = _row(data, i, meta["link"], "xl")["points"]
            title += f", {n_long} at t = {data['t_long'][-1]:g} (blue)"
        ax.set_title(title, fontsize=8)
        ax.set_box_aspect((1, 1, 1), zoom=1.25)
        ax.set_axis_off()
    ax = fig.add_subplot(2, 5, 10)
    ax.set_axis_off()
    table = "\n".join(f"({i + 1}) {lab}" for i, lab in enumerate(meta["labels"][:5]))
    ax.text(
        0.0, 0.5,
        "Table 1 (λ_max, multiplicity\n → final state), rows 1–5:\n\n" + table
        + "\n\nRows 6–9: complex eigenvalues\n(L: top eigenspace by real\npart; derived here, not\nin Table 1). Rows 6, 9: the\npoint and row 7's cloud turn\nabout e3 for ever (orange:\nt = T to T + 20). Rows 6–9:\npaths drawn while the saves\nresolve the rotation.",
        fontsize=7.5, va="center", family="monospace",
    )  # fmt: skip
    fig.suptitle(
        f"Causal attention, d = 3, n = {meta['n']}, Q = K = I, β = {meta['beta']:g}, T = "
        f"{meta['t_end']:g}: final configurations by the spectrum of V "
        "(arXiv 2411.04990, Table 1 and Fig. 1; rows 6–9 complex eigenvalues)\ngrey paths, "
        "red x(T), blue stars x(t) at the end of the continuation (rows with Re λ_max > 0), "
        "orange x(t) for T ≤ t ≤ T + 20 (rows 6, 7, 9)",
        fontsize=10,
        y=0.995,
    )
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=0.88, wspace=0.0, hspace=0.15)
    fig.savefig(path, dpi=110)  # no tight layout: it does not place 3-D axes
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
    if len(meta["labels"]) > 5:
        c.update(_complex_claims(a, meta, rows))
    return c


def _complex_claims(a: dict, meta: dict, rows: list[dict]) -> dict:
    """Rows 6–9 (complex eigenvalues of V; 0-based 5–8): what x(T) is, and the rotation."""
    c: dict = {}
    for i in (5, 6, 7, 8):
        c[f"off_L_{i}"] = rows[i]["off_L"]
    for i in (5, 8):  # one point in L, rotating with token 1
        c[f"dist_{i}"], c[f"at_point_{i}"] = rows[i]["dist"], rows[i]["at_point"]
    c["dist_7"], c["plus_7"] = rows[7]["dist"], rows[7]["plus"]
    for i in (5, 6, 8):  # angular speed about e3 in the window after T: token 1 and the median
        _, basis, lam = _spectrum(a["V"][i])
        w = np.asarray(a[f"w_{i}"])
        phi = np.unwrap(_azimuth(w, basis), axis=0)
        speed = (phi[-1] - phi[0]) / (a["t_win"][-1] - a["t_win"][0])
        c[f"omega1_{i}"] = float(speed[0])
        c[f"omega_med_{i}"] = float(np.median(speed))
        c[f"omega_euler_{i}"] = _euler_omega(a["V"][i], meta["dt"])
        c[f"omega_ode_{i}"] = float(np.abs(lam.imag).max())
    c["layer_slower_pct_5"] = float(100 * (1 - c["omega_euler_5"] / c["omega_ode_5"]))
    # row 8: the spiral. Turns of token 1 (and the median token) about xi = e3 over t <= SPIRAL_T
    t = np.asarray(a["t"])
    keep = t <= meta.get("spiral_t", SPIRAL_T)
    plane = np.eye(3)[:, :2]
    phi = np.unwrap(_azimuth(np.asarray(a["x_7"])[keep], plane), axis=0)
    turns = np.abs(phi[-1] - phi[0]) / (2 * np.pi)
    c["turns1_7"], c["turns_med_7"] = float(turns[0]), float(np.median(turns))
    steps = np.ceil(t[keep][-1] / meta["dt"] - 1e-9)  # a save at t holds the first step >= t
    c["turns_pred_7"] = float(
        steps * meta["dt"] * _euler_omega(a["V"][7], meta["dt"]) / (2 * np.pi)
    )
    c["max_step_7"] = float(np.diff(t[keep]).max() * _euler_omega(a["V"][7], meta["dt"]))
    c["points_long_57"] = [_row(a, i, meta["link"], "xl")["points"] for i in (5, 7)]
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
