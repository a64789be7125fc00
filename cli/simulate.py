"""``particles simulate`` and ``particles info``."""

from __future__ import annotations

import json

import click

from ._common import (
    Choice,
    LibraryOption,
    MethodChoice,
    PathArg,
    clean_errors,
    cluster_options,
    given,
    norm_options,
    refuse_given,
    scheme_kwargs,
)


@click.command()
@click.option(
    "--n", "n", type=int, default=64, show_default=True, help="Number of particles (tokens)."
)
@click.option(
    "--d", "d", type=int, default=3, show_default=True, help="Dimension: particles live on S^(d-1)."
)
@click.option(
    "--beta",
    type=float,
    cls=LibraryOption,
    library="particles.model.params:Dynamics.beta",
    help="Inverse temperature beta >= 0; inf: hardmax attention (methods euler, euler-tangent, "
    "and with --kappa euler-maruyama).",
)
@click.option(
    "--kind",
    type=Choice(["SA", "USA", "SK"]),
    cls=LibraryOption,
    library="particles.model.params:Dynamics.kind",
    help="SA (softmax), USA (normalised by n) or SK (Sinkhorn: doubly stochastic, arXiv 2110.11773).",
)
@click.option(
    "--sinkhorn-tol",
    type=float,
    cls=LibraryOption,
    library="particles.model.params:Dynamics.sinkhorn_tol",
    help="Tolerance of --kind SK's Sinkhorn iteration on the marginals, in [1e-13, 1e-2].",
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
    help="Integrator (default: rk4; euler-maruyama with --kappa/--noise).",
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
@click.option(
    "--dt",
    type=float,
    cls=LibraryOption,
    library="particles.solvers.integrate:DEFAULT_DT",
    help="Step of fixed-step methods.",
)
@click.option(
    "--rtol",
    type=float,
    cls=LibraryOption,
    library="particles.solvers.integrate:DEFAULT_RTOL",
    help="Relative tolerance of the adaptive (scipy) methods.",
)
@click.option(
    "--atol",
    type=float,
    cls=LibraryOption,
    library="particles.solvers.integrate:DEFAULT_ATOL",
    help="Absolute tolerance of the adaptive (scipy) methods.",
)
@click.option(
    "--saves",
    type=int,
    cls=LibraryOption,
    library="particles.solvers.integrate:DEFAULT_SAVES",
    help="Number of equally spaced saved times in [0, t_end].",
)
@norm_options()[0]
@norm_options()[1]
@norm_options()[2]
@norm_options()[3]
@click.option("--causal", is_flag=True, help="Causal mask: token i attends to tokens j <= i.")
@click.option("--repulsive", is_flag=True, help="V = -I (repulsive case, arXiv 2312.10794 §9.1).")
@click.option(
    "--x0",
    "x0_path",
    type=PathArg(dir_okay=False),
    default=None,
    help="Initial positions: a .npy file of shape (n, d) (overrides --n, --d, --seed).",
)
@click.option("--normalize", is_flag=True, help="Project --x0 onto the sphere if it is not on it.")
@click.option(
    "--out",
    type=PathArg(),
    required=True,
    help="Trajectory to write: an .npz file, or a .zarr store (saved states appended as they are "
    "computed, memory O(n d) however many are saved); also the checkpoint of a long run.",
)
@click.option(
    "--plot",
    type=PathArg(dir_okay=False),
    default=None,
    help="Also draw the final state to this PNG.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run from its checkpoint (--out, or its side file "
    "<name>.partial.npz when --out holds an earlier result).",
)
@click.option(
    "--checkpoint-every",
    type=float,
    cls=LibraryOption,
    library="particles.solvers.integrate:DEFAULT_CHECKPOINT_EVERY",
    metavar="SECONDS",
    help="Seconds between checkpoint writes (0: at every saved time); Ctrl-C and SIGTERM also "
    "write one.",
)
@click.option(
    "--float32",
    "single",
    is_flag=True,
    help="Evaluate the field in single precision (faster for large n).",
)
@click.option(
    "--scheduler",
    default=None,
    help="Evaluate the field on Dask in row blocks: 'local' (a LocalCluster) or a scheduler ADDRESS.",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 4096),
    help="Workers of the local Dask cluster of --scheduler local (default: one per core); "
    "refused without it.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@clean_errors
def simulate(
    n,
    d,
    beta,
    kind,
    sinkhorn_tol,
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
    norm,
    alpha,
    t_switch,
    t_offset,
    causal,
    repulsive,
    x0_path,
    normalize,
    out,
    plot,
    resume,
    checkpoint_every,
    single,
    scheduler,
    workers,
    quiet,
):
    """Simulate tokens as particles on the sphere and save the trajectory.

    With --norm pre/peri (and mix after its switch) the tokens are a residual stream in R^d whose
    directions move on the sphere; the file holds the stream, the analyses read its directions.

    Ctrl-C or SIGTERM writes the states computed so far and exits with status 130 (Ctrl-C) or
    143 (SIGTERM); --resume continues. An --out that holds an earlier result is replaced only by
    this run's complete result: until then the checkpoints go to <name>.partial.npz (.zarr).

    \b
    Examples:
      particles simulate --n 64 --d 3 --beta 1 --kind SA --t-end 20 --seed 0 \\
          --method rk4 --dt 0.05 --out run.npz --plot run.png
      particles simulate --n 32 --d 2 --beta 4 --t-end 30 --method euler --dt 0.1 --out c.npz --plot c.png
      particles simulate --n 12 --d 3 --kind USA --repulsive --t-end 200 --out rep.npz
      particles simulate --n 64 --d 3 --beta 4 --kind SK --t-end 20 --out sk.npz
      particles simulate --n 256 --d 2 --kind USA --beta 4 --kappa 2 --method strang \\
          --dt 0.02 --t-end 20 --seed 0 --out noisy.npz --plot noisy.png
      particles simulate --n 32 --d 32 --beta 4 --norm pre --t-end 100 --out pre.npz
      particles simulate --n 32 --d 32 --norm mix --t-switch 5 --t-end 50 --out mix.npz
      particles simulate --n 32 --d 32 --norm lns --t-offset 4 --t-end 50 --out lns.npz
      particles simulate --n 20000 --d 16 --t-end 10 --saves 1001 --out big.zarr
      particles simulate --n 20000 --d 16 --t-end 10 --out big.zarr --scheduler local --workers 2
    """
    import particles as pt
    from particles.storage.npz import load_array

    ctx = click.get_current_context()
    if scheduler != "local":
        refuse_given(
            ctx, ["workers"], "without --scheduler local (the workers of a local Dask cluster)"
        )
    if x0_path is None:
        refuse_given(ctx, ["normalize"], "without --x0 (random points are on the sphere)")
    else:
        refuse_given(ctx, ["n", "d", "seed"], "with --x0 (its shape gives n and d)")
    if plot is not None:  # the trajectory file is checked by simulate, before the run
        from particles.plotting import check_image_path

        check_image_path(plot)
    if x0_path is not None:
        x0, seed = load_array(x0_path), None
    else:
        x0 = pt.random_points(n, d, seed)
    if kappa is not None and noise is not None:
        raise click.ClickException("give --kappa or --noise (= 1/kappa), not both")
    if noise is not None:
        if not (noise >= 0):
            raise click.ClickException(f"--noise must be >= 0, got {noise}")
        kappa = None if noise == 0 else 1.0 / noise
    dyn = pt.Dynamics(
        **given(beta=beta, kind=kind, sinkhorn_tol=sinkhorn_tol),
        **scheme_kwargs(norm, alpha, t_switch, t_offset),
        V=-1.0 if repulsive else None,
        causal=causal,
        kappa=kappa,
    )
    rng = None
    if not dyn.noisy:
        refuse_given(ctx, ["noise_seed"], "without noise (--kappa or --noise)")
    else:
        rng = noise_seed if noise_seed is not None else (0 if seed is None else seed + 1)
    try:
        traj = pt.simulate(
            x0,
            dyn,
            t_end,
            progress=not quiet,
            normalize=normalize,
            checkpoint=out,
            resume=resume,
            meta={"seed": seed, "x0_file": None if x0_path is None else str(x0_path)},
            dtype="float32" if single else "float64",
            **given(method=method, dt=dt, rtol=rtol, atol=atol, saves=saves, rng=rng),
            **given(checkpoint_every=checkpoint_every),
            scheduler=scheduler,
            workers=workers,
        )
    except KeyboardInterrupt as e:
        from particles.interrupts import exit_code, ignore_further
        from particles.solvers.checkpoint import Interrupted

        ignore_further()  # the program is exiting: a second Ctrl-C changes nothing
        if isinstance(e, Interrupted):
            msg = e.describe().replace("resume (CLI: --resume)", "--resume")
        else:  # Ctrl-C before the run started or outside its checkpointing
            msg = f"interrupted: {out} is unchanged"
        click.echo(msg, err=True)
        raise SystemExit(exit_code(e)) from None
    click.echo(
        f"wrote {out}: {traj.x.shape[0]} saved times, n = {traj.n}, d = {traj.d}, method {traj.method}, {traj.stats['nfev']} field evaluations in {traj.stats['wall_time']:.2f} s"
    )
    if plot is not None:
        from particles.plotting import plot_run

        plot_run(traj, plot)
        click.echo(f"wrote {plot}")


@click.command()
@click.argument("path", type=PathArg())
@cluster_options("Print a JSON record instead of text.")
@clean_errors
def info(path, delta, as_json):
    """Describe a result file: a trajectory's parameters and final cluster state, or for any
    other file the package writes (phase diagrams, sweeps, transition sweeps, mean-field
    solutions, svm, scansnap and transformer runs, figure data) what it holds, its parameters and
    its arrays. A trajectory's every saved state is read and checked once: a corrupted file is
    refused.

    \b
    Examples:
      particles info run.npz
      particles info run.zarr
      particles info t.npz --json
    """
    import particles as pt
    from particles.storage import results

    if results.format_of(path) != "trajectory":
        rec = results.describe(path)
        text = json.dumps(rec, indent=2, allow_nan=False) if as_json else results.describe_text(rec)
        click.echo(text)
        return
    traj = pt.Trajectory.load(path).check_all()  # every state of a store is read once
    rec = {"file": str(path), **traj.summary(delta)}
    if as_json:
        click.echo(json.dumps(rec, indent=2, allow_nan=False))  # NaN is not JSON
        return
    click.echo(
        f"{path}: {'complete' if rec['complete'] else 'PARTIAL (interrupted; rerun with --resume)'} trajectory"
    )
    click.echo(f"  particles   n = {rec['n']}, d = {rec['d']}")
    click.echo(f"  dynamics    {rec['dynamics']}")
    click.echo(
        f"  integrator  {rec['method']}"
        + (f", dt = {rec['dt']}" if rec["dt"] else f", rtol = {rec['rtol']}, atol = {rec['atol']}")
    )
    click.echo(f"  seed        {rec['seed']}")
    if rec.get("noise_seed") is not None:
        click.echo(f"  noise seed  {rec['noise_seed']}")
    if rec["t_saved"] is None:
        click.echo("  saved       no state yet (the run stopped before its first save time)")
    else:
        click.echo(
            f"  saved       {rec['saved_times']} times in [{rec['t_saved'][0]:g}, {rec['t_saved'][1]:g}]"
        )
    click.echo(
        f"  cost        {rec['stats'].get('nfev')} field evaluations, {rec['stats'].get('wall_time', 0):.2f} s"
    )
    f = rec["final"]
    if f is None:
        return
    click.echo(
        f"  final state {f['n_clusters']} cluster(s) at delta = {f['delta']:g}; min <x_i,x_j> = {f['min_inner_product']:.6f}, mean = {f['mean_inner_product']:.6f}"
    )
