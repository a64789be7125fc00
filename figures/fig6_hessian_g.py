"""arXiv 2312.10794 (v4), Fig. 6 (p. 40): the Hessian pair term g on the circle.

Panel (a) is the paper's figure: g(tau) = (cos tau - beta sin^2 tau) e^{beta cos tau} on
tau in [-pi, pi] for beta = 2 and beta = 6, y clipped to [-3, 7], with vertical lines at +-tau*_beta,
the root of beta sin^2 tau = cos tau in (0, pi/2) (tau* = 0.6749 for beta = 2, 0.4024 for beta = 6).
g < 0 outside [-tau*, tau*]: a cluster spread wider than tau* has a direction of instability.

Panel (b) is a check of Problem 3, derived here: at n equally spaced angles (a critical point of
E_beta) the Hessian of App. B (entries g(theta_i - theta_j) / n^2, rows summing to 0) has a positive
eigenvalue, i.e. the point is a strict saddle, for n in {8, 32} and beta on a grid in [0.1, 50].
Plotted: lambda_max * n^2 e^{-beta} (the natural scale of the entries).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles.analysis import circle
from particles.plotting import new_figure
from particles.plotting.figures import plot_figure, run_script

HERE = Path(__file__).resolve().parent
BETAS = (2.0, 6.0)


def compute(quick: bool = False) -> dict:
    tau = np.linspace(-np.pi, np.pi, 401 if quick else 2001)
    g = np.array([circle.g(tau, b) for b in BETAS])
    ts = np.array([circle.tau_star(b) for b in BETAS])
    ns = (8, 32)
    betas = np.geomspace(0.1, 50.0, 12 if quick else 80)
    lam = np.array(
        [[circle.strict_saddle(circle.equally_spaced(n), b)[1] for b in betas] for n in ns]
    )
    return {
        "tau": tau,
        "g": g,
        "betas_g": np.array(BETAS),
        "tau_star": ts,
        "n_saddle": np.array(ns),
        "betas_saddle": betas,
        "lambda_max": lam,
    }


def plot(data: dict, path: Path) -> Path:
    fig = new_figure((10, 4))
    ax = fig.add_subplot(1, 2, 1)
    for k, (b, ts) in enumerate(zip(data["betas_g"], data["tau_star"], strict=True)):
        ax.plot(data["tau"], data["g"][k], color=f"C{k}", label=rf"$\beta = {b:g}$")
        for s in (-ts, ts):
            ax.axvline(s, color=f"C{k}", ls="--", lw=0.8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylim(-3, 7)
    ax.set_xlim(-np.pi, np.pi)
    ax.set_xlabel(r"$\tau$")
    ax.set_ylabel(r"$g(\tau) = (\cos\tau - \beta\sin^2\tau)\,e^{\beta\cos\tau}$")
    ax.set_title(r"(a) Fig. 6: $g$ and $\pm\tau^*_\beta$")
    ax.legend(frameon=False)
    ax = fig.add_subplot(1, 2, 2)
    b = data["betas_saddle"]
    for k, n in enumerate(data["n_saddle"]):
        ax.loglog(b, data["lambda_max"][k] * n**2 * np.exp(-b), "o-", ms=3, label=f"n = {n}")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$\lambda_{\max}(\nabla^2 E_\beta)\; n^2 e^{-\beta}$")
    ax.set_title("(b) equally spaced angles: a positive eigenvalue")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    return path


def main(outdir: Path = HERE, quick: bool = False, redraw: bool = False) -> Path:
    """Compute (or, with ``redraw``, load from ``<outdir>/<stem>.npz``) and draw the figure."""
    return plot_figure(outdir, __file__, quick, redraw, compute, plot, {"betas": list(BETAS)})


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    tau, g, bg, ts = a["tau"], a["g"], a["betas_g"], a["tau_star"]
    c: dict = {}
    for k, b in enumerate(bg):
        c[f"tau_star_b{b:g}"] = float(ts[k])
    res = np.abs(bg * np.sin(ts) ** 2 - np.cos(ts))
    c["tau_star_residual_below_1e-15"] = bool(res.max() < 1e-15)
    i6 = list(bg).index(6.0)
    c["six_sin2"] = float(6 * np.sin(ts[i6]) ** 2)
    c["cos_tau6"] = float(np.cos(ts[i6]))
    c["g_sign"] = bool(
        all(
            np.all(g[k][np.abs(tau) < ts[k]] > 0) and np.all(g[k][np.abs(tau) > ts[k]] < 0)
            for k in range(len(bg))
        )
    )
    lam, ns, bs = a["lambda_max"], a["n_saddle"], a["betas_saddle"]
    c["all_positive"] = bool(np.all(lam > 0))
    for k, n in enumerate(ns):
        c[f"lambda_min_n{n}"] = float(lam[k].min())
    c["n_betas"], c["beta_min"], c["beta_max"] = len(bs), float(bs.min()), float(bs.max())
    scaled = lam * ns[:, None] ** 2 * np.exp(-bs)
    k8 = list(ns).index(8)
    i10 = int(np.argmin(np.abs(bs - 10)))
    c["scaled_n8_b10_beta"] = float(bs[i10])
    c["scaled_n8_b10"] = float(scaled[k8, i10])
    c["scaled_n8_b50"] = float(scaled[k8, -1])
    c["weight_pi4_b10"] = float(np.exp(bs[i10] * (np.cos(np.pi / 4) - 1)))
    c["weight_pi4_b50"] = float(np.exp(bs[-1] * (np.cos(np.pi / 4) - 1)))
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
