"""arXiv 2510.22026 (Normalization in Attention Dynamics), its validation with random weights: the
normalisation schemes through a deep network whose layers have independent random (Kaiming)
weights, d = 512, one head, β = sqrt(d) (the setting the paper states for its random-weight check).

n = 128 tokens i.i.d. uniform on S^{d-1} pass through L = 200 layers; layer ℓ has its own
Q_ℓ, K_ℓ, V_ℓ with i.i.d. N(0, 1/d) entries (Kaiming normal, fan-in d), the same draws for every
scheme, and is one ``euler`` step (dt = 1, t = ℓ) of ``Dynamics(norm=...)``: the discrete layer of
arXiv 2510.22026 Table 1 (Post-LN N(h + A(h)), Pre-LN h + A(N(h)), Peri-LN h + N(A(N(h))), nGPT
N(h + α (N(A(h)) - h)) with α = 1, Mix-LN Post-LN for the first 8 layers then Pre-LN (with the
Mix-LN paper's first L/4 = 50 layers Post-LN has collapsed to rounding before the switch, and
Mix-LN would be Post-LN), LN-Scaling
N(h + Δτ_ℓ A(h)), Δτ_ℓ ≈ 1/sqrt(ℓ + 1.5)). 3 seeds (weights and tokens); lines are their mean.

(a) the mean cosine similarity <θ_i, θ_j> of the directions against depth (collapse);
(b) how much one layer changes the representation, the mean |Δ<θ_i, θ_j>| over pairs (invariant
under rotations: with random V_ℓ a collapsed cluster still turns as a whole, so the angle each
token moves, also saved, does not measure collapse); (c) the mean radius |h_i| of the residual-stream schemes, with
sqrt(ℓ) and ℓ guides (the paper reports sqrt-growth with random weights and linear growth for
the weight-tied dynamics).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import particles as pt
from particles.plotting import new_figure
from particles.plotting.claimtools import md_table
from particles.plotting.figures import run_script, save_drawn, script_main
from particles.plotting.schemes import COLORS, LINESTYLES, NAMES, SCHEMES
from particles.solvers.integrate import step

HERE = Path(__file__).resolve().parent
LABELS = NAMES | {"ngpt": "nGPT (α = 1)", "mix": "Mix-LN (Post for ℓ < 8)"}


def _layer_weights(seed: int, ell: int, d: int):
    """Q_ℓ, K_ℓ, V_ℓ (each (d, d)) with i.i.d. N(0, 1/d) entries (Kaiming normal), drawn from the
    stream (seed, ℓ): the same for every scheme, generated one layer at a time."""
    return np.random.default_rng([2510, 22026, seed, ell]).standard_normal((3, d, d)) / np.sqrt(d)


def _stats(h: np.ndarray, prev: tuple | None):
    """(mean pairwise cosine of the directions, mean angle each token moved since ``prev``, mean
    change |Δ<θ_i, θ_j>| of the cosines since ``prev``, mean radius; the new (directions, Gram))."""
    r = np.linalg.norm(h, axis=1)
    th = h / r[:, None]
    n = th.shape[0]
    G = th @ th.T
    rho = (float(G.sum()) - np.trace(G)) / (n * (n - 1))
    move = dgram = np.nan
    if prev is not None:
        move = float(np.mean(np.arccos(np.clip(np.einsum("ij,ij->i", th, prev[0]), -1.0, 1.0))))
        dgram = float(np.abs(G - prev[1]).sum() / (n * (n - 1)))
    return (rho, move, dgram, float(r.mean())), (th, G)


def run_networks(x0, layers, L: int, beta: float, alpha: float = 1.0, t_switch: float = 0.0):
    """{scheme: (4, L + 1) array of (ρ̄, movement, cosine change, radius) per layer (:func:`_stats`)}
    for every scheme through the same layers ``layers(ℓ) -> (Q, K, V)``; Mix-LN is Post-LN for
    ℓ < ``t_switch``, Pre-LN after."""
    h = {nm: np.array(x0, dtype=np.float64) for nm in SCHEMES}
    out = {nm: np.full((4, L + 1), np.nan) for nm in SCHEMES}
    prev = {}
    for nm in SCHEMES:
        out[nm][:, 0], prev[nm] = _stats(h[nm], None)
    for ell in range(L):
        Q, K, V = layers(ell)
        for nm in SCHEMES:
            sch = nm if nm != "mix" else ("post" if ell < t_switch else "pre")
            dyn = pt.Dynamics(beta=beta, Q=Q, K=K, V=V, norm=sch, alpha=alpha)
            h[nm], _ = step("euler", h[nm], 1.0, dyn, t=float(ell))
            out[nm][:, ell + 1], prev[nm] = _stats(h[nm], prev[nm])
    return out


def compute(quick: bool = False) -> tuple[dict, dict]:
    d, n, L, seeds = (64, 16, 24, 1) if quick else (512, 128, 200, 3)
    beta, alpha, t_switch = float(np.sqrt(d)), 1.0, (3 if quick else 8)
    data: dict = {"layer": np.arange(L + 1)}
    t0 = time.perf_counter()
    runs = {nm: [] for nm in SCHEMES}
    for seed in range(seeds):
        x0 = pt.random_points(n, d, np.random.default_rng([2510, 22026, seed]))
        out = run_networks(
            x0, lambda ell, s=seed: _layer_weights(s, ell, d), L, beta, alpha, t_switch
        )
        for nm in SCHEMES:
            runs[nm].append(out[nm])
    for nm in SCHEMES:
        a = np.stack(runs[nm])  # (seeds, 4, L + 1)
        for k, key in enumerate(("rho", "move", "dgram", "radius")):
            data[f"{nm}_{key}"] = a[:, k]
    meta = {"d": d, "n": n, "L": L, "seeds": seeds, "beta": beta, "alpha": alpha}
    meta["t_switch"] = t_switch
    meta["run_s"] = time.perf_counter() - t0
    return data, meta


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((13, 4.3))
    axa, axb, axc = (fig.add_subplot(1, 3, k) for k in (1, 2, 3))
    ell = data["layer"]
    for nm in SCHEMES:
        c = COLORS[nm]
        ls = LINESTYLES[nm]
        lw = 2.6 if nm == "pre" else 1.4  # Pre-LN wide under the Mix-LN and Peri-LN dashes
        axa.plot(ell, data[f"{nm}_rho"].mean(axis=0), ls=ls, color=c, lw=lw, label=LABELS[nm])
        axb.loglog(ell[1:], data[f"{nm}_dgram"][:, 1:].mean(axis=0), ls=ls, color=c, lw=lw)
        if nm in ("pre", "peri", "mix"):
            axc.loglog(
                ell[1:],
                data[f"{nm}_radius"].mean(axis=0)[1:],
                ls=ls,
                color=c,
                lw=lw,
                label=LABELS[nm],
            )
    g = ell[ell >= 4].astype(float)
    axc.loglog(g, np.sqrt(g), "k-.", lw=0.9, label=r"$\sqrt{\ell}$")
    axc.loglog(g, g, "k:", lw=1, label=r"$\ell$")
    axa.set_xlabel("layer ℓ")
    axa.set_ylabel(r"mean $\langle\theta_i,\theta_j\rangle$")
    axa.set_ylim(-0.05, 1.02)
    axa.set_title("(a) collapse of the directions")
    axa.legend(fontsize=7.5)
    axb.set_xlabel("layer ℓ")
    axb.set_ylabel(r"mean $|\Delta\langle\theta_i,\theta_j\rangle|$ in layer ℓ")
    axb.set_title("(b) change of the representation per layer")
    axc.set_xlabel("layer ℓ")
    axc.set_ylabel(r"mean $|h_i|$")
    axc.set_title("(c) radius of the residual stream")
    axc.legend(fontsize=7.5)
    fig.suptitle(
        f"Random Kaiming weights per layer (d = {meta['d']}, n = {meta['n']}, one head, "
        f"β = √d, {meta['seeds']} seeds)",
        fontsize=10,
    )
    return save_drawn(fig, path)


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays (means over the seeds)."""
    ell = a["layer"]
    L = int(meta["L"])
    c: dict = {"L": L, "d": int(meta["d"]), "n": int(meta["n"]), "seeds": int(meta["seeds"])}
    rows = []
    for nm in SCHEMES:
        rho, dg = a[f"{nm}_rho"].mean(axis=0), a[f"{nm}_dgram"].mean(axis=0)
        hit = np.nonzero(rho >= 0.9)[0]
        c[f"{nm}_layer_090"] = int(hit[0]) if hit.size else -1
        c[f"{nm}_rho_end"] = float(rho[-1])
        c[f"{nm}_dgram_early"] = float(dg[1:11].mean())
        c[f"{nm}_dgram_late"] = float(dg[-20:].mean())
        rows.append(
            [
                NAMES[nm],
                f"{rho[10]:.2f}",
                f"{rho[-1]:.3f}",
                str(int(hit[0])) if hit.size else f"> {L}",
                f"{c[f'{nm}_dgram_early']:.2g}",
                f"{c[f'{nm}_dgram_late']:.2g}",
            ]
        )
    header = ["scheme", "ρ̄ at ℓ = 10", f"ρ̄ at ℓ = {L}", "first ℓ with ρ̄ ≥ 0.9"]
    header += ["mean Δ, ℓ ≤ 10", "mean Δ, last 20"]
    c["table"] = md_table(header, rows)
    late = ell >= L // 4
    slow = ("pre", "peri", "mix")
    for nm in slow:
        r, dg = a[f"{nm}_radius"].mean(axis=0), a[f"{nm}_dgram"].mean(axis=0)
        c[f"{nm}_radius_exponent"] = float(np.polyfit(np.log(ell[late]), np.log(r[late]), 1)[0])
        c[f"{nm}_dgram_exponent"] = float(-np.polyfit(np.log(ell[late]), np.log(dg[late]), 1)[0])
    c["slow_dgram_late_min"] = min(c[f"{nm}_dgram_late"] for nm in slow)
    c["slow_dgram_late_max"] = max(c[f"{nm}_dgram_late"] for nm in slow)
    c["fast_dgram_late_max"] = max(c[f"{nm}_dgram_late"] for nm in ("post", "ngpt"))
    return c


main = script_main(__file__, compute, plot)

if __name__ == "__main__":
    run_script(main, __doc__, HERE)
