"""Bifurcation diagram of the noisy USA model: the stationary order parameter r = |mean x_i| against the
inverse noise kappa, for d = 2 and d = 3, at a beta below and a beta above beta_* (continuous and
discontinuous transitions; Mun–Rosenzweig, arXiv 2606.05140, and arXiv 2604.16288 for d = 2; the
noisy transformer of Rigollet, arXiv 2512.01868; conventions in particles.meanfield).

Theory (lines): the uniform state r = 0, stable below kappa_c = beta / a_1(beta) (solid) and unstable
above (dashed), and the branch of one-cluster stationary states computed by the library
(particles.meanfield.stationary_branch; solid where stable, dashed where unstable); kappa_c dotted.
Measured (points): kappa swept up (from uniform data) and down (from one cluster), each kappa relaxed
and then time-averaged, the final state handed to the next kappa (particles.analysis.transition):

- particles: the noisy ensembles (projected Euler–Maruyama), n = 250 (d = 2) and 200 (d = 3) per
  system, 4 systems per sweep (error bars: standard error over the systems), dt = 0.01 kappa_c,
  relaxation 40 kappa_c and average over 20 kappa_c at each kappa (kappa_c is the natural time unit:
  drift and diffusion both scale with a_1 / beta = 1 / kappa_c);
- d = 2 also the Fokker–Planck equation (particles.meanfield.solve_circle, N = 256, ETDRK4,
  dt = 0.02 kappa_c), relaxation 150 kappa_c, a relative perturbation 1e-3 added at each kappa: an
  unstable uniform state grows out of it in a time ~ ln(1e3) / lambda_1, which limits how close to
  kappa_c the up-sweep of the PDE can jump (lambda_1 = (1/kappa_c - 1/kappa), so within ~5 %).

Panels: d = 2 at beta = 1.5 and 6 (beta_* = 2.447), d = 3 at beta = 1.5 and 4 (beta_* = 1.816).
Numbers (``meta["numbers"]`` of the npz, figures/README.md): kappa_c, the fold, kappa_1 (equal free
energies), and where each sweep jumps. ``--quick``: n = 30, 2 systems, 5 kappas, short runs.
Full size: about 10 minutes on 2 busy cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles import meanfield as mf
from particles.analysis.transition import TransitionParams, transition
from particles.plotting import new_figure
from particles.plotting.figures import (
    read_figure,
    result_store,
    run_script,
    write_figure,
    write_png,
)
from particles.plotting.meanfield import plot_branch, plot_sweep

HERE = Path(__file__).resolve().parent
PANELS = ((2, 1.5), (2, 6.0), (3, 1.5), (3, 4.0))
#: kappa / kappa_c ranges: wide for the continuous transitions, around [fold, kappa_c] otherwise
RANGES = {(2, 1.5): (0.5, 1.6), (2, 6.0): (0.78, 1.22), (3, 1.5): (0.5, 1.6), (3, 4.0): (0.7, 1.3)}


def panel_params(
    d: int, beta: float, quick: bool
) -> tuple[TransitionParams, TransitionParams | None]:
    kc = mf.critical_kappa(beta, d)
    lo, hi = RANGES[(d, beta)]
    K = 5 if quick else 16
    kappas = tuple(np.round(kc * np.linspace(lo, hi, K), 8))
    unit = kc  # time unit
    dt = round(0.01 * unit, 10)
    rec = 10
    avg = (6 if quick else 20) * unit
    avg = round(avg / (dt * rec)) * dt * rec
    relax = round((6 if quick else 40) * unit / dt) * dt
    part = TransitionParams(
        d=d,
        n=30 if quick else (250 if d == 2 else 200),
        betas=(beta,),
        kappas=kappas,
        seeds=2 if quick else 4,
        seed=0,
        kind="USA",
        dt=dt,
        t_relax=relax,
        t_avg=avg,
        record_every=rec,
        engine="particles",
    )
    pde = None
    if d == 2:
        dtp = round(0.02 * unit, 10)
        relax_p = round((20 if quick else 150) * unit / dtp) * dtp
        pde = TransitionParams(
            d=2,
            betas=(beta,),
            kappas=kappas,
            kind="USA",
            dt=dtp,
            t_relax=relax_p,
            t_avg=round(avg / (dtp * 5)) * dtp * 5,
            record_every=5,
            engine="pde",
            N=128 if quick else 256,
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
        for j, (d, beta) in enumerate(PANELS):
            part, pde = panel_params(d, beta, quick)
            res = transition(part, store=st, progress=progress)
            k = res.kappas
            mu, eu = res.mean_and_error("up")
            md, ed = res.mean_and_error("down")
            data.update(
                {
                    f"kappa_{j}": k,
                    f"r_up_{j}": mu[0],
                    f"err_up_{j}": eu[0],
                    f"r_down_{j}": md[0],
                    f"err_down_{j}": ed[0],
                }
            )
            br = mf.stationary_branch(beta, d, "USA", points=60 if quick else 300, r_max=0.985)
            data.update(
                {
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
                "kappa_c": kc,
                "fold_kappa": kf,
                "fold_r": rf,
                "kappa_1": mf.first_order_kappa(br),
                "transition": "continuous" if beta <= mf.beta_star(d) else "discontinuous",
                "particles_jump_up": _jump_up(k, mu[0], thr),
                "particles_drop_down": _drop_down(k, md[0], thr),
                "particles_n": part.n,
                "particles_systems": part.seeds,
            }
            stable = br.stable
            hi = k > kc * 1.15
            if np.any(hi):
                rb = br.r_of_kappa(k[hi])
                num["particles_max_dev_from_branch_above_1.15kc"] = float(
                    np.nanmax(np.abs(mu[0][hi] - rb))
                )
            if pde is not None:
                rp = transition(pde, store=st, progress=progress)
                pu, _ = rp.mean_and_error("up")
                pdn, _ = rp.mean_and_error("down")
                data.update({f"pde_up_{j}": pu[0], f"pde_down_{j}": pdn[0]})
                num["pde_jump_up"] = _jump_up(k, pu[0], thr)
                num["pde_drop_down"] = _drop_down(k, pdn[0], thr)
                on = pdn[0] > 0.05
                if np.any(on):
                    num["pde_max_dev_from_branch"] = float(
                        np.nanmax(np.abs(pdn[0][on] - br.r_of_kappa(k[on], stable_only=True)))
                    )
            del stable
            numbers[f"d{d}_beta{beta:g}"] = num
    return data, numbers


def plot(data: dict, numbers: dict):
    fig = new_figure((11, 8.2))
    for j, (d, beta) in enumerate(PANELS):
        ax = fig.add_subplot(2, 2, j + 1)
        k = data[f"kappa_{j}"]
        ax.set_xlim(k.min() - 0.03 * np.ptp(k), k.max() + 0.03 * np.ptp(k))
        br = mf.Branch(
            beta=beta,
            d=d,
            kind="USA",
            r=data[f"branch_r_{j}"],
            kappa=data[f"branch_kappa_{j}"],
            coeffs=np.zeros((1, 1)),
            free_energy=np.zeros(1),
            stable=data[f"branch_stable_{j}"],
            meta={"kappa_c": numbers[f"d{d}_beta{beta:g}"]["kappa_c"]},
        )
        plot_branch(ax, br)
        plot_sweep(
            ax,
            k,
            data[f"r_up_{j}"],
            data[f"r_down_{j}"],
            data[f"err_up_{j}"],
            data[f"err_down_{j}"],
        )
        if f"pde_up_{j}" in data:
            ax.plot(k, data[f"pde_up_{j}"], "s", ms=7, mfc="none", mec="C2", label="PDE up")
            ax.plot(k, data[f"pde_down_{j}"], "x", ms=6, color="C1", label="PDE down")
        num = numbers[f"d{d}_beta{beta:g}"]
        side = "<" if num["transition"] == "continuous" else ">"
        ax.set_title(
            f"d = {d}, beta = {beta:g} {side} beta_* ({num['transition']}); "
            f"n = {num['particles_n']}, {num['particles_systems']} systems",
            fontsize=9,
        )
        ax.set_xlabel("kappa (inverse noise)")
        ax.set_ylabel("stationary r = |mean x|")
        ax.set_ylim(-0.03, 1.02)
        ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    return fig


def main(
    outdir: Path = HERE,
    quick: bool = False,
    redraw: bool = False,
    store=None,
    progress: bool = True,
) -> Path:
    """Compute and draw (``redraw``: draw from the saved ``<outdir>/noise_bifurcation.npz`` alone)."""
    stem = Path(__file__).stem
    if redraw:
        data, meta = read_figure(outdir, stem, "figure")
        fig = plot(data, meta["numbers"])
        return write_png(outdir, stem, fig)
    data, numbers = compute(quick, store, progress)
    meta = {"format": "figure", "figure": stem, "quick": quick, "kind": "USA", "numbers": numbers}
    return write_figure(outdir, stem, plot(data, numbers), data, meta)


if __name__ == "__main__":
    run_script(main, __doc__, HERE, ("--store", {"default": None}))
