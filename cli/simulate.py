"""``particles simulate`` and ``particles info``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ._common import MethodChoice, clean_errors


def _check_writable(path: Path, what: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise click.ClickException(f"cannot write {what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise click.ClickException(
            f"cannot write {what} {path}: directory {parent} is not writable"
        )


@click.command()
@click.option(
    "--n", "n", type=int, default=64, show_default=True, help="Number of particles (tokens)."
)
@click.option(
    "--d", "d", type=int, default=3, show_default=True, help="Dimension: particles live on S^(d-1)."
)
@click.option(
    "--beta", type=float, default=1.0, show_default=True, help="Inverse temperature beta >= 0."
)
@click.option(
    "--kind",
    type=click.Choice(["SA", "USA"], case_sensitive=False),
    default="SA",
    show_default=True,
    help="SA (softmax) or USA (normalised by n).",
)
@click.option("--t-end", type=float, default=20.0, show_default=True, help="Final time.")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the uniform random initial condition.",
)
@click.option(
    "--method",
    type=MethodChoice(),
    default=None,
    help="Integrator (default rk4; with --kappa/--noise the stochastic euler-maruyama).",
)
@click.option(
    "--kappa",
    type=float,
    default=None,
    help="Inverse noise strength: dx = [field] dt + sqrt(2/kappa) dB, B Brownian motion on the "
    "sphere (default: no noise).",
)
@click.option(
    "--noise",
    type=float,
    default=None,
    help="Noise strength 1/kappa (an alternative to --kappa; 0 means no noise).",
)
@click.option(
    "--noise-seed",
    type=int,
    default=None,
    help="Seed of the noise (default: --seed + 1; recorded in the file).",
)
@click.option("--dt", type=float, default=None, help="Step of fixed-step methods (default 0.05).")
@click.option(
    "--rtol",
    type=float,
    default=1e-8,
    show_default=True,
    help="Relative tolerance (scipy methods).",
)
@click.option(
    "--atol",
    type=float,
    default=1e-10,
    show_default=True,
    help="Absolute tolerance (scipy methods).",
)
@click.option(
    "--saves",
    type=int,
    default=101,
    show_default=True,
    help="Number of equally spaced saved times in [0, t_end].",
)
@click.option("--causal", is_flag=True, help="Causal mask: token i attends to tokens j <= i.")
@click.option("--repulsive", is_flag=True, help="V = -I (repulsive case, arXiv 2312.10794 §9.1).")
@click.option(
    "--x0",
    "x0_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Initial positions: a .npy file of shape (n, d) (overrides --n, --d, --seed).",
)
@click.option("--normalize", is_flag=True, help="Project --x0 onto the sphere if it is not on it.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    required=True,
    help="Trajectory file to write (.npz); also the checkpoint of a long run.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also draw the final state to this PNG.",
)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted run from the checkpoint in --out."
)
@click.option(
    "--float32",
    "single",
    is_flag=True,
    help="Evaluate the field in single precision (faster for large n).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@clean_errors
def simulate(
    n,
    d,
    beta,
    kind,
    t_end,
    seed,
    method,
    kappa,
    noise,
    noise_seed,
    dt,
    rtol,
    atol,
    saves,
    causal,
    repulsive,
    x0_path,
    normalize,
    out,
    plot,
    resume,
    single,
    quiet,
):
    """Simulate tokens as particles on the sphere and save the trajectory.

    \b
    Examples:
      particles simulate --n 64 --d 3 --beta 1 --kind SA --t-end 20 --seed 0 \\
          --method rk4 --dt 0.05 --out run.npz --plot run.png
      particles simulate --n 32 --d 2 --beta 4 --t-end 30 --method euler --dt 0.1 --out c.npz --plot c.png
      particles simulate --n 12 --d 3 --kind USA --repulsive --t-end 200 --out rep.npz
      particles simulate --n 256 --d 2 --kind USA --beta 4 --kappa 2 --method strang \\
          --dt 0.02 --t-end 20 --seed 0 --out noisy.npz --plot noisy.png
    """
    import numpy as np

    import particles as pt

    out = Path(out)
    _check_writable(out, "output")
    if out.suffix != ".npz":
        raise click.ClickException(f"--out {out}: trajectory files end in .npz")
    if plot is not None:
        plot = Path(plot)
        _check_writable(plot, "plot")
    if saves < 2:
        raise click.ClickException(f"--saves must be >= 2, got {saves}")
    if x0_path is not None:
        p = Path(x0_path)
        if not p.exists():
            raise click.ClickException(f"--x0 {p}: no such file")
        try:
            x0 = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise click.ClickException(f"--x0 {p}: not a readable .npy file ({e})") from None
        seed = None
    else:
        if n < 1:
            raise click.ClickException(f"--n must be >= 1, got {n}")
        if d < 2:
            raise click.ClickException(f"--d must be >= 2 (particles live on S^(d-1)), got {d}")
        x0 = pt.random_points(n, d, seed)
    if kappa is not None and noise is not None:
        raise click.ClickException("give --kappa or --noise (= 1/kappa), not both")
    if noise is not None:
        if not (noise >= 0):
            raise click.ClickException(f"--noise must be >= 0, got {noise}")
        kappa = None if noise == 0 else 1.0 / noise
    dyn = pt.Dynamics(
        beta=beta, kind=kind, V=-1.0 if repulsive else None, causal=causal, kappa=kappa
    )
    from particles.solvers import registry

    if method is None:
        method = "euler-maruyama" if dyn.noisy else "rk4"
    kw = {"dt": dt} if registry.get(method).fixed else {"rtol": rtol, "atol": atol}
    if dyn.noisy:
        kw["rng"] = noise_seed if noise_seed is not None else (0 if seed is None else seed + 1)
    if dt is not None and "dt" not in kw:
        raise click.ClickException(
            f"--dt is for fixed-step methods; {method} is adaptive (use --rtol/--atol)"
        )
    if not (t_end > 0):
        raise click.ClickException(f"--t-end must be > 0, got {t_end}")
    try:
        traj = pt.simulate(
            x0,
            dyn,
            t_end,
            method=method,
            save_at=np.linspace(0.0, t_end, saves),
            progress=not quiet,
            normalize=normalize,
            checkpoint=out,
            resume=resume,
            meta={"seed": seed, "x0_file": None if x0_path is None else str(x0_path)},
            dtype=np.float32 if single else np.float64,
            **kw,
        )
    except KeyboardInterrupt as e:
        from particles.solvers.checkpoint import Interrupted

        if isinstance(e, Interrupted):
            msg = e.describe().replace("resume (CLI: --resume)", "--resume")
        else:  # Ctrl-C before the run started or outside its checkpointing
            msg = f"interrupted: {out} is unchanged"
        click.echo(msg, err=True)
        raise SystemExit(130) from None
    click.echo(
        f"wrote {out}: {traj.x.shape[0]} saved times, n = {traj.n}, d = {traj.d}, method {traj.method}, {traj.stats['nfev']} field evaluations in {traj.stats['wall_time']:.2f} s"
    )
    if plot is not None:
        from particles.plotting import plot_run

        plot_run(traj, plot)
        click.echo(f"wrote {plot}")


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--delta",
    type=float,
    default=1e-3,
    show_default=True,
    help="Cluster threshold: <x_i, x_j> > 1 - delta.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON record instead of text.")
@clean_errors
def info(path, delta, as_json):
    """Print a trajectory's parameters and its final cluster state.

    \b
    Example:
      particles info run.npz
    """
    import particles as pt

    traj = pt.Trajectory.load(path)
    from particles.analysis.clusters import count_clusters

    x = traj.final
    rec = {
        "file": str(path),
        "n": traj.n,
        "d": traj.d,
        "method": traj.method,
        "complete": traj.complete,
        "t_saved": [float(traj.t[0]), float(traj.t[-1])],
        "saved_times": int(traj.t.size),
        "dynamics": _dyn_summary(traj.dynamics),
        "seed": traj.meta.get("seed"),
        "noise_seed": traj.meta.get("noise_seed"),
        "dt": traj.meta.get("dt"),
        "rtol": traj.meta.get("rtol"),
        "atol": traj.meta.get("atol"),
        "version": traj.meta.get("version"),
        "stats": traj.stats,
        "final": {
            "delta": delta,
            "n_clusters": int(count_clusters(x, delta)),
            "min_inner_product": pt.min_inner_product(x),
            "mean_inner_product": pt.mean_inner_product(x),
        },
    }
    if as_json:
        click.echo(json.dumps(rec, indent=2))
        return
    click.echo(
        f"{path}: {'complete' if traj.complete else 'PARTIAL (interrupted; rerun with --resume)'} trajectory"
    )
    click.echo(f"  particles   n = {traj.n}, d = {traj.d}")
    click.echo(f"  dynamics    {rec['dynamics']}")
    click.echo(
        f"  integrator  {traj.method}"
        + (f", dt = {rec['dt']}" if rec["dt"] else f", rtol = {rec['rtol']}, atol = {rec['atol']}")
    )
    click.echo(f"  seed        {rec['seed']}")
    if rec["noise_seed"] is not None:
        click.echo(f"  noise seed  {rec['noise_seed']}")
    click.echo(
        f"  saved       {rec['saved_times']} times in [{rec['t_saved'][0]:g}, {rec['t_saved'][1]:g}]"
    )
    click.echo(
        f"  cost        {traj.stats.get('nfev')} field evaluations, {traj.stats.get('wall_time', 0):.2f} s"
    )
    f = rec["final"]
    click.echo(
        f"  final state {f['n_clusters']} cluster(s) at delta = {delta:g}; min <x_i,x_j> = {f['min_inner_product']:.6f}, mean = {f['mean_inner_product']:.6f}"
    )


def _dyn_summary(dyn) -> str:
    from particles.params import Piecewise

    if isinstance(dyn, Piecewise):
        return f"piecewise, {len(dyn.segments)} segments: " + "; ".join(
            f"[{_dyn_summary(d)}] for {dur:g}" for d, dur in dyn.segments
        )

    def mat(name, a):
        if a is None:
            return f"{name}=I"
        if isinstance(a, float):
            return f"{name}={a:g}I"
        return f"{name}{tuple(a.shape)}"

    parts = [dyn.kind, f"beta={dyn.beta:g}", mat("Q", dyn.Q), mat("K", dyn.K), mat("V", dyn.V)]
    if dyn.kappa is not None:
        parts.append(f"kappa={dyn.kappa:g}")
    if dyn.heads > 1:
        parts.append(f"heads={dyn.heads}")
    if dyn.causal:
        parts.append("causal")
    if dyn.ffn is not None:
        parts.append(f"ffn({dyn.ffn.activation})")
    return ", ".join(parts)
