"""The interactive view of a result file (``particles view``): :func:`figure_for_file` reads a
trajectory, a Transformer run, a phase diagram or a transition sweep, validated as its loader does,
and builds its figure with :mod:`particles.plotting.viewer`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, real_array
from .viewer import (
    phase_figure,
    require_plotly,
    trajectory_figure,
    transformer_figure,
    transition_figure,
)

#: the options of the particle views (:func:`states_figure`), refused for the other kinds of file
STATE_OPTIONS = ("delta", "max_frames", "max_particles", "coords", "pca_time")


def figure_for_file(path, **options):
    """The interactive figure of the result file ``path``: a trajectory (``.npz`` or a ``.zarr``
    store, :func:`trajectory_figure`), a Transformer run (``particles transformer``, and the
    network's states of ``particles transformer compare-ode``: :func:`transformer_figure`), a phase
    diagram (``particles phase --data``, or one diagram of a sweep store: :func:`phase_figure`) or a
    transition sweep (:func:`transition_figure`). ``options``: :data:`STATE_OPTIONS`, for the
    particle views only. The file is validated as its loader does; any other file is one
    :class:`ParticlesError` line."""
    from ..storage.results import format_of, kind_of

    require_plotly()
    bad = set(options) - set(STATE_OPTIONS)
    if bad:
        raise ParticlesError(f"unknown options {sorted(bad)}; the options are {STATE_OPTIONS}")
    options = {k: v for k, v in options.items() if v is not None}
    path = Path(os.fspath(path))
    if not path.exists():
        raise ParticlesError(f"{path}: no such file")
    fmt = format_of(path)
    if fmt == "trajectory":
        from ..storage.trajectory import Trajectory

        traj = Trajectory.load(path)
        if traj.t.size == 0:
            raise ParticlesError(
                f"{path}: holds no saved state yet (a checkpoint written before the first save "
                "time); continue the run with particles simulate --resume"
            )
        return trajectory_figure(traj, **options)
    if fmt in ("transformer_depth", "transformer_ode"):
        return _transformer_file(path, fmt, options)
    if fmt in ("phase_diagram", "phase_diagrams", "transition"):
        if options:
            verb = "applies" if len(options) == 1 else "apply"
            raise ParticlesError(
                f"{', '.join(sorted(options))} {verb} to trajectories and transformer runs only, "
                f"not to {kind_of(fmt)[0]}"
            )
        return _phase_file(path, fmt) if fmt != "transition" else _transition_file(path)
    raise ParticlesError(
        f"{path}: {kind_of(fmt)[0]} (format {fmt!r}) has no interactive view; particles view shows "
        "trajectories, transformer runs, phase diagrams and transition sweeps"
    )


def _load(path, fmt):
    from ..storage.npz import load_npz

    return load_npz(path, fmt)


def _need(arrays: dict, keys, path, fmt) -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ParticlesError(f"{path}: corrupted {fmt} file (no {', '.join(map(repr, missing))})")


def _transformer_file(path, fmt, options):
    a, meta = _load(path, fmt)
    _need(a, ("hidden", "layers", "tokens"), path, fmt)
    h, layers, tokens = a["hidden"], a["layers"], a["tokens"]
    if h.ndim != 3 or layers.shape != (h.shape[0],) or tokens.shape != (h.shape[1],):
        raise ParticlesError(
            f"{path}: corrupted {fmt} file: hidden {h.shape}, layers {layers.shape}, tokens "
            f"{tokens.shape} (hidden must be (layers, tokens, width))"
        )
    if tokens.dtype.kind != "U":
        raise ParticlesError(f"{path}: corrupted {fmt} file: tokens must be strings")
    if layers.dtype.kind not in "iu" or np.any(np.diff(layers) <= 0) or np.any(layers < 0):
        raise ParticlesError(f"{path}: corrupted {fmt} file: layers must be increasing integers")
    model = meta.get("model")
    try:
        return transformer_figure(
            h,
            layers,
            tokens,
            model=model if isinstance(model, str) else None,
            **options,
        )
    except ParticlesError as e:
        if str(e).startswith("xs "):  # the states themselves: name the file
            raise ParticlesError(f"{path}: corrupted {fmt} file: hidden {str(e)[3:]}") from None
        raise


def _phase_file(path, fmt):
    from ..analysis.phase import PhaseParams, _figure_titles

    a, meta = _load(path, fmt)
    _need(a, ("t", "betas", "P"), path, fmt)
    records = meta.get("params")
    records = [records] if fmt == "phase_diagram" else records
    try:
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise TypeError("params")
        params = [PhaseParams(**r) for r in records]
    except (TypeError, ParticlesError) as e:
        raise ParticlesError(f"{path}: corrupted {fmt} file (its parameters: {e})") from None
    P = a["P"] if a["P"].ndim == 3 else a["P"][None]
    if len(params) != P.shape[0]:
        raise ParticlesError(
            f"{path}: corrupted {fmt} file: {len(params)} parameter records for {P.shape[0]} panels"
        )
    try:
        fig_args = dict(P_se=a.get("P_se"), mean_clusters=a.get("mean_clusters"))
        head, titles = _figure_titles([_Diagram(p) for p in params])  # the static figure's
        curves = [_gamma(p, a["betas"], a["t"]) for p in params]
        return phase_figure(
            a["t"],
            a["betas"],
            P,
            titles=titles,
            curves=curves,
            title=head.replace(r"$\langle x_1,x_2\rangle \geq 1-\delta$", "⟨x₁,x₂⟩ ≥ 1−δ"),
            **fig_args,
        )
    except ParticlesError as e:
        raise ParticlesError(f"{path}: corrupted {fmt} file: {e}") from None


class _Diagram:
    """What :func:`particles.analysis.phase._figure_titles` reads of a diagram: its parameters."""

    def __init__(self, params):
        self.params = params


def _gamma(p, betas, t):
    """The exact Gamma_{inf,delta} of the static figure (SA only), within the drawn times."""
    if p.kind != "SA":
        return None
    from ..analysis import equiangular

    b = real_array(betas, "betas", finite=True)
    bs = np.linspace(0.0, float(np.max(b)), 200)
    ts, bs = equiangular.gamma_curve(p.n, p.delta, betas=bs, **p.scheme)
    keep = np.isfinite(ts) & (ts <= float(np.max(t)))
    return (ts[keep], bs[keep]) if np.any(keep) else None


def _transition_file(path):
    from ..analysis.transition import TransitionResult

    try:
        res = TransitionResult.load(path)
    except ParticlesError as e:
        if str(path) in str(e):
            raise
        raise ParticlesError(f"{path}: corrupted transition file: {e}") from None
    p = res.params
    size = {"pde": f"N = {p.N}", "pde-sphere": f"L = {p.N}"}.get(
        p.engine, f"n = {p.n}, {p.seeds} systems"
    )
    try:
        return transition_figure(
            res.kappas,
            res.betas,
            res.r_up,
            res.r_down,
            title=f"stationary r against κ: d = {p.d}, {p.kind} ({p.engine}, {size})",
        )
    except ParticlesError as e:
        raise ParticlesError(f"{path}: corrupted transition file: {e}") from None
