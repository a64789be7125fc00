"""``particles meanfield`` (the mean-field equation: PDE runs on the circle, linear theory) and
``particles transition`` (resumable sweeps of the stationary order parameter over kappa and beta)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._common import (
    Choice,
    LazyChoice,
    LibraryOption,
    MethodChoice,
    PathArg,
    clean_errors,
    parse_floats,
    parse_ints,
    refuse_given,
)


def _engines():
    from particles.analysis.transition import ENGINES

    return ENGINES


def _out(path: str, suffix: str) -> Path:
    from particles.storage.npz import check_writable

    if Path(path).suffix != suffix:
        raise click.ClickException(f"{path}: must end in {suffix}")
    return check_writable(path, "output")


@click.group("meanfield")
def meanfield():
    """The mean-field (Fokker–Planck) equation of the noisy model
    d_t rho + div(rho X[rho]) = (1/kappa) Lap rho: solve it on the circle, or print its linear theory.

    \b
    Examples:
      particles meanfield solve --beta 4 --kappa 0.5 --t-end 20 --out mf.npz --plot mf.png
      particles meanfield theory --beta 1,4 --d 2,3
    """


#: ``--kind`` of the mean-field commands (the noisy model of arXiv 2512.01868 §7 is USA)
KIND = click.option(
    "--kind",
    type=Choice(["SA", "USA", "SK"]),
    default="USA",
    show_default=True,
    help="SA (softmax), USA (normalised by n) or SK (Sinkhorn: doubly stochastic, arXiv 2110.11773).",
)


@meanfield.command("solve")
@click.option("--beta", type=float, required=True, help="Inverse temperature beta >= 0.")
@click.option("--kappa", type=float, default=None, help="Inverse noise kappa (default: no noise).")
@KIND
@click.option(
    "--init",
    "init",
    type=Choice(["perturbed", "von-mises", "uniform"]),
    default="perturbed",
    show_default=True,
    help="Initial density.",
)
@click.option(
    "--eps",
    type=float,
    default=1e-3,
    show_default=True,
    help="Size of the random perturbation (--init perturbed).",
)
@click.option(
    "--concentration",
    type=float,
    default=1.0,
    show_default=True,
    help="von Mises concentration (--init von-mises).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the perturbation.")
@click.option("--N", "N", type=int, default=256, show_default=True, help="Grid points (even).")
@click.option("--dt", type=float, default=0.01, show_default=True, help="ETDRK4 step.")
@click.option("--t-end", type=float, required=True, help="Final time.")
@click.option("--saves", type=int, default=101, show_default=True, help="Saved times.")
@click.option("--out", required=True, type=PathArg(dir_okay=False), help="Result file (.npz).")
@click.option("--plot", default=None, type=PathArg(dir_okay=False), help="Also draw a PNG.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@clean_errors
def solve(beta, kappa, kind, init, eps, concentration, seed, N, dt, t_end, saves, out, plot, quiet):
    """Solve the Fokker–Planck equation on the circle (d = 2) by Fourier ETDRK4.

    \b
    Examples:
      particles meanfield solve --beta 4 --kappa 0.5 --t-end 20 --out mf.npz --plot mf.png
      particles meanfield solve --beta 5 --t-end 0.8 --eps 1e-6 --out growth.npz
      particles meanfield solve --beta 2 --kappa 3 --kind SA --init von-mises --t-end 10 --out sa.npz
    """
    from particles.meanfield import initial_density, solve_circle

    ctx = click.get_current_context()
    if init != "perturbed":
        refuse_given(ctx, ["eps", "seed"], f"with --init {init} (they set the perturbation)")
    if init != "von-mises":
        refuse_given(ctx, ["concentration"], f"with --init {init}")
    out = _out(out, ".npz")
    if plot is not None:
        plot = _out(plot, ".png")
    rho0 = initial_density(init, N=N, eps=eps, concentration=concentration, rng=seed)
    sol = solve_circle(
        rho0,
        beta,
        kappa,
        t_end,
        kind=kind,
        dt=dt,
        saves=saves,
        progress=not quiet,
    )
    sol.meta.update({"seed": seed, "init": init, "eps": eps, "concentration": concentration})
    sol.save(out)
    st = sol.stats
    click.echo(
        f"wrote {out}: {sol.t.size} saved times, N = {N}, r(t_end) = {sol.r[-1]:.6g}, "
        f"mass error {st['max_mass_error']:.1e}, min density {sol.min_density.min():.3g}"
        + ("" if st["positive"] else " (NEGATIVE: raise N or lower dt)")
        + f", {st['wall_time']:.2f} s"
    )
    if plot is not None:
        from particles.plotting.meanfield import meanfield_png

        meanfield_png(sol, plot)
        click.echo(f"wrote {plot}")


@meanfield.command("theory")
@click.option("--beta", default="1,4", show_default=True, help="Betas: a list or start:stop:step.")
@click.option(
    "--d", "d", default="2,3", show_default=True, help="Dimensions: a list or start:stop:step."
)
@KIND
@click.option("--kappa", type=float, default=None, help="Growth rates at this kappa (default inf).")
@click.option("--modes", type=int, default=6, show_default=True, help="Growth rates printed.")
@click.option("--branch", is_flag=True, help="Also compute the stationary branch (fold, kappa_1).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON record instead of text.")
@clean_errors
def theory(beta, d, kind, kappa, modes, branch, as_json):
    """Linear stability of the uniform state: kappa_c, beta_*, the fastest mode and the growth rates;
    with --branch the fold of the stationary branch and (USA) the first-order transition kappa_1.

    \b
    Examples:
      particles meanfield theory --beta 1,4 --d 2,3
      particles meanfield theory --beta 6 --d 2 --branch --json
      particles meanfield theory --beta 1:10:1 --d 2 --kind SA --kappa 5
    """
    import math

    from particles import meanfield as mf

    sk = kind.upper() == "SK"
    if sk and branch:
        raise click.UsageError(
            "--branch with --kind SK: SK's stationary branches (and its Landau coefficient, "
            "beta_*) are not derived here: they solve a nonlinear integral equation in the "
            "density and its Sinkhorn potential"
        )
    rows = []
    for dd in parse_ints(d, "--d"):
        bs = None if sk else mf.beta_star(dd, kind)
        for b in parse_floats(beta, "--beta"):
            lk, lam = mf.fastest_mode(b, dd, kind=kind)
            row = {
                "d": dd,
                "beta": b,
                "kind": kind.upper(),
                "kappa_c": mf.critical_kappa(b, dd, kind),
                "beta_star": bs,
                "transition": None if sk else "continuous" if b <= bs else "discontinuous",
                "fastest_mode": lk,
                "fastest_rate": lam,
                "growth_rates": mf.growth_rates(
                    b, dd, math.inf if kappa is None else kappa, kind, modes
                ).tolist(),
            }
            if branch:
                br = mf.stationary_branch(b, dd, kind, points=150)
                row["fold_kappa"], row["fold_r"] = br.fold
                row["kappa_1"] = mf.first_order_kappa(br)
            rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(
            f"d = {r['d']}, beta = {r['beta']:g} ({r['kind']}): kappa_c = {r['kappa_c']:.6g}, "
            + (
                "beta_* not derived for SK, "
                if r["beta_star"] is None
                else f"beta_* = {r['beta_star']:.6g} ({r['transition']}), "
            )
            + "fastest mode l = "
            f"{r['fastest_mode']} (rate {r['fastest_rate']:.4g} at kappa = inf)"
        )
        if branch:
            click.echo(
                f"    fold at kappa = {r['fold_kappa']:.6g} (r = {r['fold_r']:.3f}), "
                f"kappa_1 = {r['kappa_1']:.6g}"
            )
        rates = ", ".join(f"{v:.4g}" for v in r["growth_rates"])
        click.echo(f"    growth rates l = 1..{len(r['growth_rates'])}: {rates}")


@click.command("transition")
@click.option("--d", "d", type=int, default=2, show_default=True, help="Dimension.")
@click.option(
    "--beta", default="1.5,6", show_default=True, help="Betas: a list or start:stop:step."
)
@click.option("--kappa", required=True, help="kappa grid: a list or start:stop:step.")
@click.option(
    "--engine",
    type=LazyChoice(_engines),
    cls=LibraryOption,
    library="particles.analysis.transition:TransitionParams.engine",
    help="particles (any d), circle (d = 2, large n), pde (d = 2, the Fokker-Planck equation on "
    "the circle), pde-sphere (d = 3, the same on S^2 in spherical harmonics, ducc0).",
)
@click.option(
    "--method",
    type=MethodChoice(batched=True, stochastic=True),
    default=None,
    help="Integrator of the particles engine (a stochastic method of the registry; default "
    "euler-maruyama).",
)
@click.option("--n", "n", type=int, default=256, show_default=True, help="Particles per system.")
@click.option(
    "--seeds", type=int, default=4, show_default=True, help="Systems per (beta, direction)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed.")
@KIND
@click.option(
    "--dt", type=float, default=0.01, show_default=True, help="Step of the particles or the PDE."
)
@click.option(
    "--t-relax", type=float, default=10.0, show_default=True, help="Relaxation per kappa."
)
@click.option("--t-avg", type=float, default=10.0, show_default=True, help="Averaging per kappa.")
@click.option(
    "--N",
    "N",
    type=int,
    default=256,
    show_default=True,
    help="PDE resolution: grid points (pde), largest spherical-harmonic degree L (pde-sphere).",
)
@click.option(
    "--store",
    default=None,
    type=PathArg(file_okay=False),
    help="Directory of per-task results (default OUT.store/); a rerun skips them.",
)
@click.option(
    "--backend",
    type=Choice(["serial", "processes", "dask"]),
    default="serial",
    show_default=True,
)
@click.option(
    "--scheduler",
    default=None,
    help="Run the tasks on Dask: 'local' (a LocalCluster) or a scheduler ADDRESS.",
)
@click.option(
    "--workers",
    type=int,
    default=2,
    show_default=True,
    help="Processes (--backend processes) or local Dask workers (--scheduler local); refused "
    "otherwise.",
)
@click.option("--out", required=True, type=PathArg(dir_okay=False), help="Result file (.npz).")
@click.option(
    "--plot",
    default=None,
    type=PathArg(dir_okay=False),
    help="Also draw r(kappa) with the stationary branches (PNG).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@clean_errors
def transition(
    d,
    beta,
    kappa,
    engine,
    method,
    n,
    seeds,
    seed,
    kind,
    dt,
    t_relax,
    t_avg,
    N,
    store,
    backend,
    scheduler,
    workers,
    out,
    plot,
    quiet,
):
    """Sweep kappa up and down at each beta and record the stationary order parameter r = |mean x|
    (hysteresis where the transition is discontinuous). One resumable task per (beta, direction).

    \b
    Examples:
      particles transition --d 2 --beta 6 --kappa 0.08:0.12:0.005 --engine pde --dt 0.002 \\
          --t-relax 10 --t-avg 2 --out t.npz --plot t.png
      particles transition --d 3 --beta 4 --kappa 0.5:1:0.05 --n 200 --seeds 8 --out t3.npz
      particles transition --d 3 --beta 4 --kappa 0.5:1:0.1 --method strang --dt 0.05 --out s.npz
      particles transition --d 2 --beta 6 --kappa 0.07:0.11:0.005 --engine circle --n 4000 \\
          --backend processes --workers 2 --out c.npz
      particles transition --d 3 --beta 4 --kappa 0.5:1:0.05 --engine pde-sphere --N 24 \\
          --dt 0.02 --out s2.npz --plot s2.png
    """
    from particles.analysis.transition import PDE_ENGINES, TransitionParams
    from particles.analysis.transition import transition as run

    ctx = click.get_current_context()
    if scheduler is not None:
        if backend != "dask":
            refuse_given(ctx, ["backend"], "with --scheduler (a Dask scheduler)")
        backend = "dask"
    if backend == "serial":
        refuse_given(ctx, ["workers"], "with --backend serial")
    elif scheduler not in (None, "local"):
        refuse_given(ctx, ["workers"], "with a remote --scheduler (it has its own workers)")
    engine = TransitionParams.engine if engine is None else engine
    if engine != "particles":
        refuse_given(ctx, ["method"], f"with --engine {engine} (it has its own integrator)")
    if engine in PDE_ENGINES:
        refuse_given(ctx, ["n", "seeds"], f"with --engine {engine} (it evolves one density)")
    else:
        refuse_given(ctx, ["N"], f"with --engine {engine} (it is the PDE's grid)")
    out = _out(out, ".npz")
    if plot is not None:
        plot = _out(plot, ".png")
    p = TransitionParams(
        d=d,
        n=n,
        betas=tuple(parse_floats(beta, "--beta", allow_inf=True)),  # inf: refused with its why
        kappas=tuple(parse_floats(kappa, "--kappa")),
        seeds=seeds,
        seed=seed,
        kind=kind,
        dt=dt,
        t_relax=t_relax,
        t_avg=t_avg,
        engine=engine,
        N=N,
        **({} if method is None else {"method": method}),
    )
    store = store or str(out) + ".store"
    res = run(
        p,
        store=store,
        backend=backend,
        scheduler=scheduler,
        workers=workers,
        threads=None if backend == "serial" else 1,
        progress=not quiet,
    )
    res.save(out)
    click.echo(
        f"wrote {out} ({len(p.betas)} betas x {len(p.kappas)} kappas x 2 directions; "
        f"per-task results in {store})"
    )
    if plot is not None:
        from particles.meanfield import stationary_branch
        from particles.plotting.meanfield import transition_png

        branches = (
            None  # no stationary branches are derived for SK
            if p.kind == "SK"
            else [stationary_branch(b, d, kind, points=150, r_max=0.98) for b in p.betas]
        )
        transition_png(res, plot, branches)
        click.echo(f"wrote {plot}")
