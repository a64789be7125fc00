"""Interactive views of saved results (plotly): the particles on the sphere with a time slider,
and the interactive versions of the phase-diagram and transition figures.

- :func:`states_figure` saved states ``xs`` (T, n, d) at times ``t``: d = 3 on a sphere the mouse
  turns (over a faint wireframe), d = 2 on the circle, d > 3 projected onto three principal axes of
  one saved state (:func:`projection`) or onto three chosen coordinates; a time slider and a play
  button; particles coloured by their cluster at the shown time (the components of
  ``<x_i, x_j> > 1 - delta``, :func:`particles.analysis.clusters.cluster_labels`, computed in the
  full dimension); hovering shows the token index (and its text when ``tokens`` are given). At most
  ``max_frames`` saved states and ``max_particles`` particles are drawn (evenly spaced,
  :func:`subsample`), and the figure says so;
- :func:`trajectory_figure` the same for a :class:`particles.Trajectory` (what
  :meth:`particles.Trajectory.show` returns), :func:`transformer_figure` for the layers of a real
  Transformer (``particles transformer``: the layers are the time, the tokens' text is hovered);
- :func:`phase_figure` P(t, beta) heat maps (``particles phase --data``), :func:`transition_figure`
  the order parameter r against kappa, up and down (``particles transition``), values on hover;
- :func:`particles.plotting.view_file.figure_for_file` the view of any of those files (what
  ``particles view`` shows), :func:`write_html` one self-contained
  HTML page (plotly's JavaScript embedded: it works offline, nothing is fetched), :func:`embedded`
  the same as a fragment that notebooks and sphinx-gallery display.

plotly is an optional dependency (the ``view`` extra); without it every function here raises a
one-line :class:`~particles.errors.ParticlesError` saying how to install it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, count, finite, real_array, text

#: the default budgets: saved states and particles drawn (evenly spaced among those saved)
DEFAULT_MAX_FRAMES = 150
DEFAULT_MAX_PARTICLES = 1000
#: the cluster colours, in order of the clusters' first particle (matplotlib's tab10, as the
#: static plots of :mod:`particles.plotting`); the 11th cluster takes the first colour again
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_INSTALL = 'the interactive viewer needs plotly: pip install -e ".[view]"'


def require_plotly():
    """``plotly.graph_objects``, or a one-line :class:`ParticlesError` saying how to install it."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise ParticlesError(_INSTALL) from None
    return go


def subsample(size, budget) -> np.ndarray:
    """At most ``budget`` indices of ``range(size)``, evenly spaced, the first and the last
    included (all of them when ``size <= budget``)."""
    size, budget = count(size, "size"), count(budget, "budget")
    if size <= budget:
        return np.arange(size)
    return np.unique(np.linspace(0, size - 1, budget).round().astype(np.int64))


def _coords(coords, d: int) -> tuple[int, int, int]:
    """Three distinct coordinate indices in 0..d-1, from a sequence or a text ``"0,1,2"``."""
    if isinstance(coords, str):
        parts = [p.strip() for p in coords.split(",")]
        try:
            coords = [int(p) for p in parts]
        except ValueError:
            raise ParticlesError(
                f"coords must be three coordinate indices such as 0,1,2, got {coords!r}"
            ) from None
    if isinstance(coords, (bytes, dict, set)) or not hasattr(coords, "__len__"):
        raise ParticlesError(f"coords must be three coordinate indices, got {coords!r}")
    coords = list(coords)
    if len(coords) != 3:
        raise ParticlesError(f"coords must be three coordinate indices, got {len(coords)}")
    out = tuple(count(c, "coords", 0, d - 1) for c in coords)
    if len(set(out)) != 3:
        raise ParticlesError(f"coords must be three different coordinates, got {out}")
    return out


def projection(x, *, coords=None) -> tuple[np.ndarray, str, list[str]]:
    """The linear map onto three dimensions used to draw points of dimension d >= 3:
    ``(P (d, 3), what it is, axis names)``; the drawn points are ``x @ P``.

    ``coords`` (three coordinate indices): those coordinates. Otherwise, for d = 3, the identity;
    for d > 3, the three leading principal axes of the points ``x`` (N, d) (centred; each axis
    signed so that its largest entry is positive). An orthogonal projection maps the sphere into
    the unit ball: points near the drawn sphere lie near the span of the axes."""
    x = _points(x, "x")
    d = x.shape[1]
    if d < 3:
        raise ParticlesError(f"a projection onto three dimensions needs d >= 3, got d = {d}")
    if coords is not None:
        c = _coords(coords, d)
        P = np.zeros((d, 3))
        P[list(c), [0, 1, 2]] = 1.0
        return P, f"coordinates {c[0]}, {c[1]}, {c[2]} of {d}", [f"x{c[0]}", f"x{c[1]}", f"x{c[2]}"]
    if d == 3:
        return np.eye(3), "the sphere S²", ["x0", "x1", "x2"]
    P, kept = _pca_axes(x)
    return P, f"PCA: 3 leading axes ({100 * kept:.0f}% of the variance)", ["PC1", "PC2", "PC3"]


def _pca_axes(x: np.ndarray) -> tuple[np.ndarray, float]:
    """The three leading principal axes (d, 3) of the points ``x`` (N, d) and the fraction of the
    variance they carry (1 for points with no spread)."""
    c = x - x.mean(axis=0)
    if c.shape[0] >= c.shape[1]:  # the d x d scatter matrix: at most the size of the points
        return _axes_from_scatter(c.T @ c)
    _, s, vt = np.linalg.svd(c, full_matrices=True)  # fewer points than dimensions: all d axes
    return _signed(vt[:3].T.copy()), _kept(s**2)


def _axes_from_scatter(S: np.ndarray) -> tuple[np.ndarray, float]:
    w, v = np.linalg.eigh(S)
    order = np.argsort(w)[::-1]
    return _signed(v[:, order[:3]]), _kept(np.clip(w[order], 0, None))


def _signed(P: np.ndarray) -> np.ndarray:
    """Each axis signed so that its largest entry is positive (a reproducible orientation)."""
    for k in range(P.shape[1]):
        if P[np.argmax(np.abs(P[:, k])), k] < 0:
            P[:, k] = -P[:, k]
    return P


def _kept(w: np.ndarray) -> float:
    total = float(np.sum(w))
    return float(np.sum(w[:3])) / total if total > 0 else 1.0


def _points(x, name: str) -> np.ndarray:
    from ..analysis.states import bounded_points

    return bounded_points(x, name)


def _directions(x, name: str) -> np.ndarray:
    """The rows of ``x`` (n, d) as unit vectors (checked: finite, no zero row)."""
    from ..model.sphere import normalize

    x = _points(x, name)
    if np.any(np.max(np.abs(x), axis=1) == 0):
        raise ParticlesError(f"{name} has a zero row: it has no direction on the sphere")
    return normalize(x)


def _tokens(tokens, n: int) -> list[str] | None:
    if tokens is None:
        return None
    if isinstance(tokens, (str, bytes, dict, set)) or not hasattr(tokens, "__len__"):
        raise ParticlesError(
            f"tokens must be a sequence of {n} strings, got {type(tokens).__name__}"
        )
    tokens = list(np.asarray(tokens, dtype=object).ravel()) if np.ndim(tokens) else []
    if len(tokens) != n or not all(isinstance(s, (str, np.str_)) for s in tokens):
        raise ParticlesError(f"tokens must be {n} strings (one per particle)")
    return [str(s) for s in tokens]


def _times(t, T: int) -> np.ndarray:
    if t is None:
        return np.arange(T, dtype=np.float64)
    t = real_array(t, "t", "(T,)", finite=True).ravel()
    if t.size != T:
        raise ParticlesError(f"t has {t.size} times for {T} saved states")
    if np.any(np.diff(t) <= 0):
        raise ParticlesError("t must be strictly increasing")
    return t


def _check_states(xs):
    """(xs, T, n, d): an array (checked) or a store's lazy frames (checked as they are read)."""
    from ..analysis.states import _lazy, _states

    if _lazy(xs):
        T, n, d = (int(s) for s in xs.shape)
        if T == 0 or n == 0:
            raise ParticlesError(f"xs is empty (shape {xs.shape})")
        return xs, T, n, d
    _, xs = _states(xs, "xs")
    T, n, d = xs.shape
    if d < 2:
        raise ParticlesError(f"xs must have d >= 2 coordinates per particle, got {d}")
    return xs, T, n, d


def _hover_names(pidx: np.ndarray, tokens) -> list[str]:
    if tokens is None:
        return [f"particle {i}" for i in pidx]
    return [f"token {i}: {html.escape(tokens[i])!s}" for i in pidx]


def _sphere_wireframe(go):
    """A faint wireframe of the unit sphere: 7 parallels and 12 meridians, one line trace."""
    xs, ys, zs = [], [], []
    phi = np.linspace(0, 2 * np.pi, 73)
    for lat in np.linspace(-np.pi / 2, np.pi / 2, 9)[1:-1]:
        xs += [*(np.cos(lat) * np.cos(phi)), None]
        ys += [*(np.cos(lat) * np.sin(phi)), None]
        zs += [*(np.sin(lat) * np.ones_like(phi)), None]
    th = np.linspace(0, np.pi, 37)
    for lon in np.linspace(0, np.pi, 7)[:-1]:
        for s in (1, -1):
            xs += [*(s * np.sin(th) * np.cos(lon)), None]
            ys += [*(s * np.sin(th) * np.sin(lon)), None]
            zs += [*np.cos(th), None]
    return go.Scatter3d(
        x=xs,
        y=ys,
        z=zs,
        mode="lines",
        line=dict(color="#c8c8c8", width=1.5),  # opaque: WebGL lines drop alpha
        hoverinfo="skip",
        showlegend=False,
        name="sphere",
    )


def _circle(go):
    a = np.linspace(0, 2 * np.pi, 241)
    return go.Scatter(
        x=np.cos(a),
        y=np.sin(a),
        mode="lines",
        line=dict(color="rgba(120,120,120,0.45)", width=1),
        hoverinfo="skip",
        showlegend=False,
        name="circle",
    )


def _colorscale():
    k = len(PALETTE)
    out = []
    for i, c in enumerate(PALETTE):
        out += [[i / k, c], [(i + 1) / k, c]]
    return out


def _frame_data(go, y: np.ndarray, labels: np.ndarray, three: bool):
    """One drawn state: positions, cluster colours and (label, size) for the hover; the names,
    marker size and hover template stay in the first frame's trace (frames update it)."""
    sizes = np.bincount(labels)[labels]
    data = dict(
        marker=dict(color=(labels % len(PALETTE)).astype(np.int8)),
        customdata=np.stack([labels, sizes], axis=1).astype(np.int32),
    )
    y = y.astype(np.float32)
    if three:
        return go.Scatter3d(x=y[:, 0], y=y[:, 1], z=y[:, 2], **data)
    return go.Scatter(x=y[:, 0], y=y[:, 1], **data)


def _first_trace(trace, names, size: float):
    """The particles' trace as first drawn: frame 0 with the names and the marker style."""
    trace.update(
        mode="markers",
        marker=dict(
            colorscale=_colorscale(), cmin=0, cmax=len(PALETTE) - 1, size=size, line=dict(width=0)
        ),
        text=names,
        hovertemplate="%{text}<br>cluster %{customdata[0]} (%{customdata[1]} particles)"
        "<extra></extra>",
        showlegend=False,
        name="particles",
    )
    return trace


def states_figure(
    xs,
    t=None,
    *,
    tokens=None,
    delta: float | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
    max_particles: int = DEFAULT_MAX_PARTICLES,
    coords=None,
    pca_time: float | None = None,
    time_name: str = "t",
    title: str | None = None,
):
    """The interactive view of saved states ``xs`` (T, n, d) at times ``t`` (T,) (default 0..T-1)
    as a ``plotly.graph_objects.Figure`` (see the module docstring).

    **Arguments:**

    - ``xs``: the states; each row is drawn as its direction x_i / |x_i| (a store's lazy frames are
      read one drawn state at a time);
    - ``tokens``: n strings, shown on hover with the token index;
    - ``delta``: the cluster threshold (default
      :data:`particles.analysis.clusters.DEFAULT_DELTA`); clusters are those of the drawn
      particles;
    - ``max_frames``, ``max_particles``: the budgets (:func:`subsample`);
    - ``coords``: d >= 3: draw these three coordinates; otherwise d > 3 is drawn on its three
      leading principal axes, of all drawn states together or, with ``pca_time``, of the saved
      state closest to that time (within the saved times);
    - ``time_name``: what the slider shows (``"t"``, ``"layer"``); ``title``: the figure's title.

    **Returns:** the figure: one frame per drawn state (``fig.frames``), a slider and a play button.
    """
    go = require_plotly()
    from ..analysis.clusters import DEFAULT_DELTA, _check_delta, cluster_labels

    xs, T, n, d = _check_states(xs)
    t = _times(t, T)
    tokens = _tokens(tokens, n)
    delta = _check_delta(DEFAULT_DELTA if delta is None else delta)
    max_frames = count(max_frames, "max_frames")
    max_particles = count(max_particles, "max_particles")
    if not isinstance(time_name, str) or not time_name.strip():
        raise ParticlesError(f"time_name must be a non-empty string, got {time_name!r}")
    if title is not None and not isinstance(title, str):
        raise ParticlesError(f"title must be a string, got {title!r}")
    if d == 2 and coords is not None:
        raise ParticlesError("coords choose three of d >= 3 coordinates; d = 2 is drawn whole")
    if pca_time is not None:
        if d <= 3 or coords is not None:
            raise ParticlesError(
                "pca_time applies to a PCA projection (d > 3 without coords), "
                + (f"not to d = {d}" if d <= 3 else "not with coords")
            )
        pca_time = finite(pca_time, "pca_time")
        if not t[0] <= pca_time <= t[-1]:
            raise ParticlesError(
                f"pca_time = {pca_time:g} lies outside the saved {time_name} [{t[0]:g}, {t[-1]:g}]"
            )
    fidx = subsample(T, max_frames)
    pidx = subsample(n, max_particles)
    three = d >= 3

    def state(k):
        return _directions(np.asarray(xs[int(k)])[pidx], "xs")

    what, axes, P = "the circle S¹", ["x0", "x1"], None
    if three:
        P, what, axes = _drawn_projection(state, d, fidx, len(pidx), coords, pca_time, t, time_name)
    names = _hover_names(pidx, tokens)
    size = (4.5 if len(pidx) <= 300 else 3.0) if three else (8.0 if len(pidx) <= 300 else 5.0)
    frames, counts = [], []
    for j, k in enumerate(fidx):
        x = state(k)
        labels = cluster_labels(x, delta)
        counts.append(int(labels.max()) + 1)
        y = x @ P if three else x
        frames.append(go.Frame(name=str(j), data=[_frame_data(go, y, labels, three)], traces=[1]))
    first = _first_trace(type(frames[0].data[0])(frames[0].data[0]), names, size)
    fig = go.Figure(data=[_sphere_wireframe(go) if three else _circle(go), first], frames=frames)
    shown = (
        f"showing {len(pidx)} of {n} particles and {len(fidx)} of {T} saved states "
        f"(evenly spaced; budgets {max_particles} particles, {max_frames} states)"
        if len(pidx) < n or len(fidx) < T
        else f"all {n} particles, all {T} saved states"
    )
    note = (
        f"{f'd = {d}, ' if d > 3 else ''}{what}<br>colours: clusters "
        f"⟨x_i, x_j⟩ > 1 − δ, δ = {delta:g} (of the particles shown)<br>{shown}"
    )
    _animate(go, fig, t[fidx], time_name)
    fig.update_layout(
        title=dict(
            text=html.escape(title or f"n = {n} particles in d = {d}"),
            subtitle=dict(text=html.escape(note).replace("&lt;br&gt;", "<br>"), font=dict(size=12)),
            x=0.02,
            y=0.97,
            yanchor="top",
        ),
        margin=dict(l=10, r=10, t=110, b=10),
        height=720,
        template="plotly_white",
        meta=dict(clusters=counts, projection=what, shown=shown, delta=delta),
    )
    _scene(fig, three, axes)
    return fig


def _scene(fig, three: bool, axes) -> None:
    """Fixed axes around the unit sphere (or circle), so that frames do not rescale the view."""
    lim = [-1.05, 1.05]
    if three:
        ax = dict(
            range=lim,
            autorange=False,
            showbackground=False,
            showgrid=False,
            zeroline=False,
            showticklabels=False,
            showspikes=False,
        )
        fig.update_layout(
            scene=dict(
                xaxis=dict(title=axes[0], **ax),
                yaxis=dict(title=axes[1], **ax),
                zaxis=dict(title=axes[2], **ax),
                aspectmode="cube",
                camera=dict(eye=dict(x=1.2, y=1.2, z=0.75)),
                domain=dict(y=[0.12, 1.0]),
                uirevision="keep",
            ),
        )
    else:
        fig.update_xaxes(range=lim, title=axes[0], zeroline=False, constrain="domain")
        fig.update_yaxes(
            range=lim,
            title=axes[1],
            scaleanchor="x",
            scaleratio=1,
            zeroline=False,
            domain=[0.16, 1],
        )


def _drawn_projection(state, d, fidx, m, coords, pca_time, t, time_name):
    """(P, what, axes) of :func:`states_figure` for d >= 3: ``state(k)`` reads drawn state k
    (``m`` particles); PCA of all drawn states accumulates their scatter matrix one at a time."""
    if d == 3 or coords is not None:
        return projection(np.eye(d), coords=coords)
    if pca_time is not None:
        k = int(np.argmin(np.abs(t - pca_time)))
        P, kept = _pca_axes(state(k))
        what = (
            f"PCA of the state at {time_name} = {t[k]:.4g}: 3 leading axes "
            f"({100 * kept:.0f}% of its variance)"
        )
        return P, what, ["PC1", "PC2", "PC3"]
    from ..resources import check_memory

    N = len(fidx) * m
    check_memory(8.0 * min(d * d, N * d), f"the principal axes of {len(fidx)} states in d = {d}")
    if N >= d:  # the scatter matrix, accumulated one state at a time
        xm, S = np.zeros(d), np.zeros((d, d))
        for k in fidx:
            x = state(k)
            xm += x.sum(axis=0)
            S += x.T @ x
        P, kept = _axes_from_scatter(S - np.outer(xm, xm) / N)
    else:
        P, kept = _pca_axes(np.concatenate([state(k) for k in fidx]))
    what = f"PCA of all drawn states: 3 leading axes ({100 * kept:.0f}% of the variance)"
    return P, what, ["PC1", "PC2", "PC3"]


def _animate(go, fig, times: np.ndarray, time_name: str) -> None:
    """A slider over the frames and play / pause buttons."""
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    steps = [
        dict(method="animate", label=f"{tm:.4g}", args=[[str(j)], still])
        for j, tm in enumerate(times)
    ]
    play = dict(
        frame=dict(duration=120, redraw=True), transition=dict(duration=0), fromcurrent=True
    )
    fig.update_layout(
        sliders=[
            dict(
                active=0,
                steps=steps,
                x=0.2,
                len=0.78,
                y=0.1,
                yanchor="top",
                currentvalue=dict(prefix=f"{time_name} = ", font=dict(size=14)),
                pad=dict(t=10, b=10),
            )
        ],
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=0.1,
                xanchor="left",
                yanchor="top",
                pad=dict(t=35, r=10),
                buttons=[
                    dict(label="▶ play", method="animate", args=[None, play]),
                    dict(label="❚❚ pause", method="animate", args=[[None], still]),
                ],
            )
        ],
    )


def trajectory_figure(traj, **options):
    """:func:`states_figure` of a :class:`particles.Trajectory` (its token directions; a zarr
    store's states are read one drawn state at a time), titled with its parameters; the meta
    entry ``tokens`` (n strings), when the run records one, is shown on hover. ``options``: those of
    :func:`states_figure` but ``t`` and ``time_name``."""
    if not all(hasattr(traj, a) for a in ("t", "theta", "meta", "require_states", "dynamics")):
        raise ParticlesError(f"traj must be a Trajectory, got {type(traj).__name__}")
    for k in ("t", "time_name"):
        if k in options:
            raise ParticlesError(f"{k} is the trajectory's own; it cannot be given")
    traj.require_states()
    options.setdefault("tokens", traj.meta.get("tokens"))
    options.setdefault("title", _trajectory_title(traj))
    return states_figure(traj.theta, traj.t, **options)


def _trajectory_title(traj) -> str:
    from ..model.params import Piecewise

    dyn = traj.dynamics
    first = dyn.segments[0][0] if isinstance(dyn, Piecewise) else dyn
    parts = [f"n = {traj.n}, d = {traj.d}", f"{first.kind}, β = {traj.beta():g}"]
    if isinstance(dyn, Piecewise):
        parts[-1] += f" (first of {len(dyn.segments)} segments)"
    if not traj.on_sphere:
        parts.append("token directions x/|x|")
    parts.append(traj.method + (f", seed {traj.meta['seed']}" if "seed" in traj.meta else ""))
    return "; ".join(parts)


def transformer_figure(hidden, layers, tokens, *, model: str | None = None, **options):
    """:func:`states_figure` of a Transformer's token representations ``hidden`` (L, n, width) at
    ``layers`` (L,), each token L2-normalised (the sphere of arXiv 2312.10794), its text
    ``tokens`` (n strings) on hover; the slider runs over the layers. ``options``: those of
    :func:`states_figure` but ``t``, ``tokens`` and ``time_name``."""
    for k in ("t", "time_name"):
        if k in options:
            raise ParticlesError(f"{k} is the run's own (its layers); it cannot be given")
    if model is not None and not isinstance(model, str):
        raise ParticlesError(f"model must be a name, got {model!r}")
    from ..analysis.states import _lazy

    h = hidden if _lazy(hidden) else real_array(hidden, "hidden", "(layers, tokens, width)")
    n = h.shape[1] if len(h.shape) == 3 else 0
    options.setdefault(
        "title", f"{model or 'Transformer'}: {n} tokens through the layers (L2-normalised)"
    )
    return states_figure(h, layers, tokens=tokens, time_name="layer", **options)


# ------------------------------------------------------------------------------------------------
# phase diagrams and transition sweeps


def _grid(a, name: str, ndim: int) -> np.ndarray:
    a = real_array(a, name, finite=True)
    if a.ndim != ndim or a.size == 0:
        raise ParticlesError(f"{name} must be a non-empty {ndim}-d array, got shape {a.shape}")
    return a


def phase_figure(
    t,
    betas,
    P,
    *,
    P_se=None,
    mean_clusters=None,
    titles=None,
    curves=None,
    title: str | None = None,
):
    """The interactive phase diagram P(t, beta) (arXiv 2312.10794 Fig. 3): one heat map per panel
    (RdBu_r on [0, 1]), hover for t, beta, P (± its standard error ``P_se``) and the mean number of
    clusters ``mean_clusters``.

    ``P`` (k, B, T) for k panels (or (B, T) for one), ``t`` (T,), ``betas`` (B,); ``P_se`` and
    ``mean_clusters`` of P's shape (or None); ``titles``: k panel titles; ``curves``: per panel
    None or ``(ts, bs)``, a curve drawn over the map (the exact Gamma_{inf,delta})."""
    go = require_plotly()
    from plotly.subplots import make_subplots

    title = None if title is None else text(title, "title")
    t, betas = _grid(t, "t", 1), _grid(betas, "betas", 1)
    P = real_array(P, "P", "(k, B, T)", finite=True)
    if P.ndim == 2:
        P = P[None]
    if P.ndim != 3 or P.shape[1:] != (betas.size, t.size) or P.shape[0] == 0:
        raise ParticlesError(
            f"P must have shape (k, {betas.size}, {t.size}) for {betas.size} betas and "
            f"{t.size} times, got {P.shape}"
        )
    if np.any((P < 0) | (P > 1)):
        raise ParticlesError("P holds probabilities: entries must lie in [0, 1]")
    k = P.shape[0]
    extra = {}
    for name, a in (("P_se", P_se), ("mean_clusters", mean_clusters)):
        if a is None or np.size(a) == 0:  # saved empty when not computed (a figure's redraw)
            continue
        a = real_array(a, name, finite=True)
        a = a[None] if a.ndim == 2 else a
        if a.shape != P.shape:
            raise ParticlesError(f"{name} must have P's shape {P.shape}, got {a.shape}")
        extra[name] = a
    titles = _titles(titles, k, "titles")
    if curves is not None and (not isinstance(curves, (list, tuple)) or len(curves) != k):
        raise ParticlesError(f"curves must be a list of {k} entries (None or (ts, bs))")
    fig = make_subplots(rows=1, cols=k, subplot_titles=titles, shared_yaxes=True)
    for i in range(k):
        custom = np.stack(
            [extra.get("P_se", np.full(P.shape, np.nan))[i], extra.get("mean_clusters", P)[i]],
            axis=-1,
        )
        hover = "t = %{x:.4g}<br>β = %{y:.4g}<br>P = %{z:.3f}"
        if "P_se" in extra:
            hover += " ± %{customdata[0]:.3f}"
        if "mean_clusters" in extra:
            hover += "<br>mean clusters %{customdata[1]:.2f}"
        fig.add_trace(
            go.Heatmap(
                x=t,
                y=betas,
                z=P[i],
                customdata=custom if extra else None,
                colorscale="RdBu_r",
                zmin=0,
                zmax=1,
                showscale=i == k - 1,
                colorbar=dict(title="P(⟨x₁,x₂⟩ ≥ 1−δ)"),
                hovertemplate=hover + "<extra></extra>",
            ),
            row=1,
            col=i + 1,
        )
        cv = None if curves is None else curves[i]
        if cv is not None:
            ts, bs = (real_array(c, "curves", finite=True).ravel() for c in cv)
            if ts.shape != bs.shape:
                raise ParticlesError("each curve is (ts, bs) of equal lengths")
            fig.add_trace(
                go.Scatter(
                    x=ts,
                    y=bs,
                    mode="lines",
                    line=dict(color="black", width=2),
                    name="Γ∞,δ (exact)",
                    showlegend=i == 0,
                    hovertemplate="Γ∞,δ: t = %{x:.4g}, β = %{y:.4g}<extra></extra>",
                ),
                row=1,
                col=i + 1,
            )
        fig.update_xaxes(title_text="t", range=[float(t[0]), float(t[-1])], row=1, col=i + 1)
    fig.update_yaxes(title_text="β", row=1, col=1)
    if betas.size > 1:  # the betas' span, as the static figure (the curve starts at beta = 0)
        fig.update_yaxes(range=[float(np.min(betas)), float(np.max(betas))])
    fig.update_layout(
        title=dict(text=html.escape(title or "phase diagram"), x=0.02),
        template="plotly_white",
        height=480,
        width=max(520, 400 * k + 120),
        legend=dict(x=0.01, y=0.99, bgcolor="rgba(255,255,255,0.7)"),
    )
    return fig


def _titles(titles, k: int, name: str) -> list[str]:
    if titles is None:
        return [""] * k
    if isinstance(titles, str) or not isinstance(titles, (list, tuple)) or len(titles) != k:
        raise ParticlesError(f"{name} must be a list of {k} strings")
    if not all(isinstance(s, str) for s in titles):
        raise ParticlesError(f"{name} must be a list of {k} strings")
    return [html.escape(s) for s in titles]


def transition_figure(kappas, betas, r_up, r_down, *, titles=None, title: str | None = None):
    """The interactive hysteresis figure of a transition sweep: per beta, the stationary order
    parameter r = |mean x| against kappa, swept up (from uniform data) and down (from one
    cluster), the mean over systems with its standard error; hover for the values.

    ``kappas`` (K,), ``betas`` (B,), ``r_up``, ``r_down`` (B, K, S): r per beta, kappa and system
    (:class:`particles.analysis.transition.TransitionResult`)."""
    go = require_plotly()
    from plotly.subplots import make_subplots

    title = None if title is None else text(title, "title")
    kappas, betas = _grid(kappas, "kappas", 1), _grid(betas, "betas", 1)
    B, K = betas.size, kappas.size
    rs = {}
    for name, r in (("up", r_up), ("down", r_down)):
        r = real_array(r, f"r_{name}", "(B, K, S)", finite=True)
        if r.ndim != 3 or r.shape[:2] != (B, K) or r.shape[2] == 0:
            raise ParticlesError(f"r_{name} must have shape ({B}, {K}, S), got {r.shape}")
        if np.any((r < 0) | (r > 1 + 1e-9)):
            raise ParticlesError(f"r_{name} holds order parameters |mean x|: entries in [0, 1]")
        S = r.shape[2]
        se = r.std(axis=2, ddof=1) / np.sqrt(S) if S > 1 else np.zeros((B, K))
        rs[name] = (r.mean(axis=2), se, S)
    titles = _titles(titles, B, "titles") if titles is not None else [f"β = {b:g}" for b in betas]
    fig = make_subplots(rows=1, cols=B, subplot_titles=titles, shared_yaxes=True)
    style = {"up": ("#1f77b4", "circle", "up (from uniform)"), "down": ("#d62728", "x", "down")}
    for i in range(B):
        for name, (m, se, S) in rs.items():
            color, symbol, label = style[name]
            fig.add_trace(
                go.Scatter(
                    x=kappas,
                    y=m[i],
                    error_y=dict(type="data", array=se[i], visible=True, thickness=1),
                    mode="lines+markers",
                    marker=dict(color=color, symbol=symbol, size=7),
                    line=dict(color=color, width=1.5),
                    name=f"{label} ({S} system{'s' if S > 1 else ''})",
                    showlegend=i == 0,
                    customdata=se[i],
                    hovertemplate=f"{name}: κ = %{{x:.4g}}<br>r = %{{y:.4f}} ± %{{customdata:.4f}}"
                    "<extra></extra>",
                ),
                row=1,
                col=i + 1,
            )
        fig.update_xaxes(title_text="κ (inverse noise)", row=1, col=i + 1)
    fig.update_yaxes(title_text="stationary r = |mean x|", range=[-0.03, 1.03], row=1, col=1)
    fig.update_layout(
        title=dict(text=html.escape(title or "order parameter against κ"), x=0.02),
        template="plotly_white",
        height=460,
        width=max(520, 420 * B + 80),
    )
    return fig


@dataclass(frozen=True)
class Embedded:
    """A figure as an HTML fragment with plotly's JavaScript inside (:func:`embedded`): notebooks
    and sphinx-gallery show an object's ``_repr_html_``, and this one fetches nothing."""

    html: str

    def _repr_html_(self) -> str:
        return self.html


def embedded(fig) -> Embedded:
    """``fig`` as an :class:`Embedded` HTML fragment that works offline: plotly.js embedded (about
    5 MB), no MathJax. plotly's own notebook and sphinx-gallery renderers load plotly.js (and
    MathJax) from a CDN; this is for pages that must open without a network, such as the gallery of
    the documentation site."""
    go = require_plotly()
    if not isinstance(fig, go.Figure):
        raise ParticlesError(f"fig must be a plotly Figure, got {type(fig).__name__}")
    return Embedded(
        fig.to_html(
            include_plotlyjs=True,
            include_mathjax=False,
            full_html=False,
            auto_play=False,
            default_width="100%",
            config=dict(displaylogo=False, responsive=True),
        )
    )


def write_html(fig, path) -> Path:
    """Write ``fig`` as one self-contained HTML page (plotly's JavaScript embedded, about 5 MB:
    it opens offline and fetches nothing), atomically; ``path`` must end in ``.html``."""
    go = require_plotly()
    from ..storage.npz import atomic_write_bytes, check_writable

    if not isinstance(fig, go.Figure):
        raise ParticlesError(f"fig must be a plotly Figure, got {type(fig).__name__}")
    path = check_writable(path, "page", ".html")
    page = fig.to_html(
        include_plotlyjs=True,
        include_mathjax=False,
        full_html=True,
        auto_play=False,
        config=dict(displaylogo=False, responsive=True),
    )
    title = fig.layout.title.text or "particles"
    page = page.replace("<head>", f"<head><title>{title}</title>", 1)
    return atomic_write_bytes(path, page.encode("utf-8"))
