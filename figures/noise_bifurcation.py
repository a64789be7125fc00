"""Bifurcation diagram of the noisy model: the stationary order parameter r = |mean x_i| against the
inverse noise kappa, for d = 2 (top row) and d = 3 (bottom row); USA at a beta below and a beta above
beta_* (continuous and discontinuous transitions: Mun–Rosenzweig, arXiv 2606.05140, abstract, and
arXiv 2604.16288 for d = 2), and SA at the same betas (always continuous: its Landau coefficient never
changes sign, particles.meanfield.linear). The noisy transformer of Rigollet, arXiv 2512.01868 §7;
conventions in particles.meanfield.

Theory (lines): the uniform state r = 0, stable below kappa_c (solid) and unstable above (dashed),
and the branch of one-cluster stationary states computed by the library
(particles.meanfield.stationary_branch; solid where stable, dashed where unstable); kappa_c dotted.
Measured (points): kappa swept up (from uniform data) and down (from one cluster), each kappa relaxed
and then time-averaged, the final state handed to the next kappa (particles.analysis.transition):

- particles: the noisy ensembles (projected Euler–Maruyama), n = 250 (d = 2) and 200 (d = 3) per
  system, 4 systems per sweep (error bars: standard error over the systems), dt = 0.01 kappa_c,
  relaxation 40 kappa_c (SA: 20) and average over 20 kappa_c (SA: 10) at each kappa (kappa_c is the
  natural time unit: drift and diffusion both scale with 1 / kappa_c);
- the Fokker–Planck equation: d = 2 on the circle (particles.meanfield.solve_circle, N = 256, ETDRK4,
  dt = 0.02 kappa_c, relaxation 150 kappa_c), d = 3 on S^2 (particles.meanfield.sphere.solve_sphere,
  spherical harmonics through ducc0, degree L = 32 (USA, beta = 1.5), 48 (USA, beta = 4), 24 (SA),
  ETDRK4, dt = 0.04 kappa_c, relaxation 40 kappa_c, r averaged over 2 kappa_c); a relative
  perturbation 1e-3 is added at each kappa: an unstable uniform state grows out of it in a time
  ~ ln(1e3) / lambda_1, which limits how close to kappa_c the up-sweep of the PDE can jump (lambda_1 = l (l + d - 2) (1/kappa_c - 1/kappa) with
  l = 1, so within ~5 % on the circle and ~10 % on S^2 with these times).

Panels: USA and SA at beta = 1.5 and 6 for d = 2 (beta_* = 2.447), 1.5 and 4 for d = 3 (beta_* =
1.816); USA on the kappa axis, SA on kappa / kappa_c (its kappa_c grows like beta).
The script also prints a summary per panel (kept in the npz's meta for the drawing); the numbers
figures/README.md quotes (kappa_c, the fold, kappa_1 (equal free energies, USA), where each sweep
jumps, the distances to the branch) are recomputed from the saved sweeps and branches by
:func:`claims`. ``--quick``: n = 30, 2 systems, 5 kappas (SA: 3), short
runs, coarse PDEs. Full size: about 15 minutes on 2 busy cores (resumable: per-task results in
``--store``, default figures/.store or $PARTICLES_STORE).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles import meanfield as mf
from particles.analysis.transition import TransitionParams, transition
from particles.plotting import new_figure
from particles.plotting.figures import numbers_figure, result_store, run_script
from particles.plotting.meanfield import plot_branch, plot_sweep

HERE = Path(__file__).resolve().parent
#: (d, beta, kind) of each panel, in data order: the four USA panels first (their keys j = 0..3 are
#: those of the figure's first version), then the four SA panels
PANELS = (
    (2, 1.5, "USA"),
    (2, 6.0, "USA"),
    (3, 1.5, "USA"),
    (3, 4.0, "USA"),
    (2, 1.5, "SA"),
    (2, 6.0, "SA"),
    (3, 1.5, "SA"),
    (3, 4.0, "SA"),
)
#: kappa / kappa_c ranges: wide for the continuous transitions, around [fold, kappa_c] otherwise
RANGES = {
    (2, 1.5, "USA"): (0.5, 1.6),
    (2, 6.0, "USA"): (0.78, 1.22),
    (3, 1.5, "USA"): (0.5, 1.6),
    (3, 4.0, "USA"): (0.7, 1.3),
}
SA_RANGE = (0.6, 1.8)
#: the S^2 PDE's degree L and step (in units of kappa_c) per (beta, kind): the USA cluster at the
#: top of the kappa range (r = 0.89 at beta = 1.5, 0.97 at beta = 4) needs L = 32 resp. 48 for a
#: spectral tail below 1e-5 resp. 1e-3; the wider SA clusters (r <= 0.82) L = 24
SPHERE = {
    (1.5, "USA"): (32, 0.04),
    (4.0, "USA"): (48, 0.04),
    (1.5, "SA"): (24, 0.04),
    (4.0, "SA"): (24, 0.04),
}


def _name(d: int, beta: float, kind: str) -> str:
    """The key of a panel in the printed summary (USA: as in the figure's first version)."""
    return f"{'sa_' if kind == 'SA' else ''}d{d}_beta{beta:g}"


def _steps(total: float, dt: float, every: int = 1) -> float:
    """``total`` rounded to a whole number of ``every`` steps of ``dt``."""
    return round(total / (dt * every)) * dt * every


def panel_params(
    d: int, beta: float, quick: bool, kind: str = "USA"
) -> tuple[TransitionParams, TransitionParams]:
    """The particle and the PDE sweep of one panel."""
    kc = mf.critical_kappa(beta, d, kind)
    sa = kind == "SA"
    lo, hi = SA_RANGE if sa else RANGES[(d, beta, kind)]
    K = (3 if sa else 5) if quick else (12 if sa else 16)
    kappas = tuple(np.round(kc * np.linspace(lo, hi, K), 8))
    unit = kc  # time unit
    dt = round(0.01 * unit, 10)
    rec = 10
    avg = _steps((6 if quick else (10 if sa else 20)) * unit, dt, rec)
    relax = _steps((6 if quick else (20 if sa else 40)) * unit, dt)
    part = TransitionParams(
        d=d,
        n=30 if quick else (250 if d == 2 else 200),
        betas=(beta,),
        kappas=kappas,
        seeds=2 if quick else 4,
        seed=0,
        kind=kind,
        dt=dt,
        t_relax=relax,
        t_avg=avg,
        record_every=rec,
        engine="particles",
    )
    if d == 2:
        dtp = round(0.02 * unit, 10)
        relax_p = _steps((20 if quick and not sa else 6 if quick else 150) * unit, dtp)
        engine, N = "pde", (128 if quick else 256)
    else:
        L, f = SPHERE[(beta, kind)]
        dtp = round((0.1 if quick else f) * unit, 10)
        relax_p = _steps((6 if quick else 40) * unit, dtp)
        engine, N = "pde-sphere", (16 if quick else L)
        avg = 2 * unit  # the PDE is deterministic: r is stationary once relaxed
    pde = TransitionParams(
        d=d,
        betas=(beta,),
        kappas=kappas,
        kind=kind,
        dt=dtp,
        t_relax=relax_p,
        t_avg=_steps(avg, dtp, 5),
        record_every=5,
        engine=engine,
        N=N,
        pde_eps=1e-3,
    )
    return part, pde


def _jump_up(k, r, thr):
    """The first kappa of an upward sweep with r above thr."""
    i = np.nonzero(r > thr)[0]
    return float(k[i[0]]) if i.size else float("nan")


def _drop_down(k, r, thr):
    """The largest kappa of a downward sweep with r below thr (scanning down)."""
    i = np.nonzero(r < thr)[0]
    return float(k[i[-1]]) if i.size else float("nan")


def compute(quick: bool = False, store=None, progress: bool = True) -> tuple[dict, dict]:
    data, numbers = {}, {}
    with result_store(store, quick, HERE / ".store") as st:
        for j, (d, beta, kind) in enumerate(PANELS):
            part, pde = panel_params(d, beta, quick, kind)
            res = transition(part, store=st, progress=progress)
            k = res.kappas
            mu, eu = res.mean_and_error("up")
            md, ed = res.mean_and_error("down")
            rp = transition(pde, store=st, progress=progress)
            pu, _ = rp.mean_and_error("up")
            pdn, _ = rp.mean_and_error("down")
            br = mf.stationary_branch(beta, d, kind, points=60 if quick else 300, r_max=0.985)
            data.update(
                {
                    f"kappa_{j}": k,
                    f"r_up_{j}": mu[0],
                    f"err_up_{j}": eu[0],
                    f"r_down_{j}": md[0],
                    f"err_down_{j}": ed[0],
                    f"pde_up_{j}": pu[0],
                    f"pde_down_{j}": pdn[0],
                    f"branch_kappa_{j}": br.kappa,
                    f"branch_r_{j}": br.r,
                    f"branch_stable_{j}": br.stable,
                }
            )
            kc = br.meta["kappa_c"]
            kf, rf = br.fold
            thr = 0.5 * (1 if kf >= kc else rf)
            num = {
                "d": d,
                "beta": beta,
                "kind": kind,
                "kappa_c": kc,
                "fold_kappa": kf,
                "fold_r": rf,
                "transition": "continuous"
                if kind == "SA" or beta <= mf.beta_star(d)
                else "discontinuous",
                "particles_jump_up": _jump_up(k, mu[0], thr),
                "particles_drop_down": _drop_down(k, md[0], thr),
                "particles_n": part.n,
                "particles_systems": part.seeds,
                "pde_engine": pde.engine,
                "pde_resolution": pde.N,
                "pde_jump_up": _jump_up(k, pu[0], thr),
                "pde_drop_down": _drop_down(k, pdn[0], thr),
            }
            if kind == "USA":
                num["kappa_1"] = mf.first_order_kappa(br)
            hi = k > kc * 1.15
            if np.any(hi):
                num["particles_max_dev_from_branch_above_1.15kc"] = float(
                    np.nanmax(np.abs(mu[0][hi] - br.r_of_kappa(k[hi])))
                )
            on = pdn[0] > 0.05
            if np.any(on):
                num["pde_max_dev_from_branch"] = float(
                    np.nanmax(np.abs(pdn[0][on] - br.r_of_kappa(k[on], stable_only=True)))
                )
            numbers[_name(d, beta, kind)] = num
    return data, numbers


def _branch(a: dict, j: int, d: int, beta: float, kind: str) -> mf.Branch:
    """The saved branch of panel j (r, kappa, stability; no coefficients or free energy)."""
    return mf.Branch(
        beta=beta,
        d=d,
        kind=kind,
        r=a[f"branch_r_{j}"],
        kappa=a[f"branch_kappa_{j}"],
        coeffs=np.zeros((1, 1)),
        free_energy=np.zeros(1),
        stable=a[f"branch_stable_{j}"],
        meta={"kappa_c": float(mf.critical_kappa(beta, d, kind))},
    )


def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays (the theory: kappa_c from its
    formula, the fold from the saved branch, kappa_1 from the branch recomputed with its free energy).
    Keys ``<panel>_<name>``, panel ``d2_b1p5``, ``sa_d3_b4``, ..."""
    c: dict = {"beta_star_d2": mf.beta_star(2), "beta_star_d3": mf.beta_star(3)}
    sa_up, sa_ratio = [], []
    for j, (d, beta, kind) in enumerate(PANELS):
        key = _name(d, beta, kind).replace("_beta", "_b").replace(".", "p")
        br = _branch(a, j, d, beta, kind)
        kc = br.meta["kappa_c"]
        kf, rf = br.fold
        k, rb = a[f"kappa_{j}"], br.r_of_kappa(a[f"kappa_{j}"])
        cont = kind == "SA" or beta <= mf.beta_star(d)
        v = {"kappa_c": kc, "fold_kappa": kf, "fold_r": rf, "continuous": cont}
        v["window_pct"] = 100 * (kc - kf) / kc
        if kind == "USA" and not cont:
            full = mf.stationary_branch(beta, d, kind, points=br.r.size, r_max=0.985)
            v["kappa_1"] = mf.first_order_kappa(full)
        thr = 0.5 * (1 if kf >= kc else rf)
        mu, md, pu, pdn = (a[f"{s}_{j}"] for s in ("r_up", "r_down", "pde_up", "pde_down"))
        v["particles_jump_up"], v["particles_drop_down"] = (
            _jump_up(k, mu, thr),
            _drop_down(k, md, thr),
        )
        v["pde_jump_up"], v["pde_drop_down"] = _jump_up(k, pu, thr), _drop_down(k, pdn, thr)
        if not cont:
            v["particles_hysteresis"] = bool(v["particles_jump_up"] > v["particles_drop_down"])
            v["pde_hysteresis"] = bool(v["pde_jump_up"] > v["pde_drop_down"])
        hi = k > 1.15 * kc
        v["particles_dev_above"] = float(np.nanmax(np.abs(mu[hi] - rb[hi])))
        on = pdn > 0.05  # the down sweep where it is ordered
        v["pde_max_dev_from_branch"] = float(np.nanmax(np.abs(pdn[on] - rb[on])))
        # the up sweep: at the first grid kappa above kappa_c, and from the second on
        above = np.nonzero(k > kc)[0]
        i1 = above[0]
        v["up_first_kappa_ratio"] = float(k[i1] / kc)
        v["pde_up_first"], v["branch_first"] = float(pu[i1]), float(rb[i1])
        v["pde_up_dev_from_second"] = float(np.max(np.abs(pu[above[1:]] - rb[above[1:]])))
        i2 = above[1]
        v["up_second_kappa_ratio"] = float(k[i2] / kc)
        # the linear escape time ln(1 / pde_eps) / lambda_1 from the uniform state against the
        # PDE's relaxation time at each kappa
        pde = panel_params(d, beta, False, kind)[1]
        lam = float(mf.growth_rates(beta, d, k[i1], kind, modes=1)[0])
        v["escape_over_relax_first"] = float(np.log(1 / pde.pde_eps) / lam / pde.t_relax)
        for name, val in v.items():
            c[f"{key}_{name}"] = val
        if kind == "SA":
            sa_up.append(v["pde_up_dev_from_second"])
            sa_ratio.append(v["escape_over_relax_first"])
    sa = [k for k in c if k.startswith("sa_") and k.endswith("_continuous")]
    c["sa_all_continuous"] = all(c[k] for k in sa) and all(
        c[k.replace("_continuous", "_fold_kappa")] == c[k.replace("_continuous", "_kappa_c")]
        for k in sa
    )
    c["sa_pde_max_dev"] = max(c[k.replace("_continuous", "_pde_max_dev_from_branch")] for k in sa)
    c["sa_pde_up_dev_from_second"] = max(sa_up)
    c["sa_particles_max_dev_above"] = max(
        c[k.replace("_continuous", "_particles_dev_above")] for k in sa
    )
    r = [c[k] for k in c if k.endswith("_escape_over_relax_first")]
    c["escape_over_relax_min"], c["escape_over_relax_max"] = min(r), max(r)
    c["up_first_all_below_branch"] = all(
        c[k] < 0.5 * c[k.replace("pde_up_first", "branch_first")]
        for k in c
        if k.endswith("_pde_up_first")
    )
    return c


def plot(data: dict, numbers: dict):
    """Rows d = 2, 3; columns USA (beta below, above beta_*), SA (the same betas)."""
    fig = new_figure((16, 8.6))
    first = first_num = None
    for j, (d, beta, kind) in enumerate(PANELS):
        if f"kappa_{j}" not in data:  # a file of the first version (USA only)
            continue
        num = numbers[_name(d, beta, kind)]
        sa = kind == "SA"
        row, col = (0 if d == 2 else 1), (2 if sa else 0) + (0 if beta == 1.5 else 1)
        ax = fig.add_subplot(2, 4, 4 * row + col + 1)
        s = 1.0 / num["kappa_c"] if sa else 1.0  # SA: kappa / kappa_c on the axis
        k = data[f"kappa_{j}"] * s
        ax.set_xlim(k.min() - 0.03 * np.ptp(k), k.max() + 0.03 * np.ptp(k))
        br = mf.Branch(
            beta=beta,
            d=d,
            kind=kind,
            r=data[f"branch_r_{j}"],
            kappa=data[f"branch_kappa_{j}"] * s,
            coeffs=np.zeros((1, 1)),
            free_energy=np.zeros(1),
            stable=data[f"branch_stable_{j}"],
            meta={"kappa_c": num["kappa_c"] * s},
        )
        plot_branch(ax, br)
        plot_sweep(
            ax,
            k,
            data[f"r_up_{j}"],
            data[f"r_down_{j}"],
            data[f"err_up_{j}"],
            data[f"err_down_{j}"],
            labels=("particles up", "particles down"),
        )
        if num.get("kappa_1", num["kappa_c"]) < num["kappa_c"]:  # the discontinuous panels
            ax.axvline(num["kappa_1"] * s, color="C4", lw=1, ls="-.", label="kappa_1")
        if f"pde_up_{j}" in data:
            ax.plot(k, data[f"pde_up_{j}"], "s", ms=7, mfc="none", mec="C2", label="PDE up")
            ax.plot(k, data[f"pde_down_{j}"], "x", ms=6, color="C1", label="PDE down")
        if sa:
            title = f"SA, d = {d}, beta = {beta:g} (continuous)"
        else:
            side = "<" if num["transition"] == "continuous" else ">"
            title = f"USA, d = {d}, beta = {beta:g} {side} beta_* ({num['transition']})"
        ax.set_title(
            f"{title}\nn = {num['particles_n']}, {num['particles_systems']} systems; PDE "
            + (
                f"N = {num.get('pde_resolution', 256)}"
                if d == 2
                else f"L = {num.get('pde_resolution')}"
            ),
            fontsize=8.5,
        )
        ax.set_xlabel("kappa / kappa_c" if sa else "kappa (inverse noise)")
        if col == 0:
            ax.set_ylabel(f"d = {d}: stationary r = |mean x|")
        ax.set_ylim(-0.03, 1.02)
        first = first or ax
        first_num = first_num or num
    handles, labels = first.get_legend_handles_labels()
    labels[0] = (
        "stationary branch and uniform state r = 0: stable (solid), unstable (dashed); kappa_c dotted"
    )
    ax1 = fig.axes[1]  # a discontinuous panel: it has the kappa_1 line
    h1, l1 = ax1.get_legend_handles_labels()
    if "kappa_1" in l1:
        handles.append(h1[l1.index("kappa_1")])
        labels.append("kappa_1 (equal free energies, USA above beta_*)")
    fig.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.022),
        ncol=len(labels),
        fontsize=8,
        frameon=False,
    )
    fig.text(
        0.5,
        0.004,
        "particles: mean r over the systems, error bars: its standard error over the "
        f"{first_num['particles_systems']} systems; PDE: one deterministic run per kappa",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.065, 1, 1))
    return fig


def main(
    outdir: Path = HERE,
    quick: bool = False,
    redraw: bool = False,
    store=None,
    progress: bool = True,
) -> Path:
    """Compute and draw (``redraw``: draw from the saved ``<outdir>/noise_bifurcation.npz`` alone)."""
    return numbers_figure(
        outdir,
        Path(__file__).stem,
        quick=quick,
        redraw=redraw,
        compute=lambda q: compute(q, store, progress),
        plot=plot,
        kind="USA and SA",
    )


if __name__ == "__main__":
    run_script(main, __doc__, HERE, ("--store", {"default": None}))
