"""matplotlib helpers for trajectories and cluster measurements (Agg; every function takes an ``ax``).

- :func:`plot_sphere` particles on S^2 with a faint sphere (a 3-D axes);
- :func:`plot_circle` particles on S^1 (d = 2, or angles);
- :func:`plot_histograms` histograms of <x_i, x_j> at several times (arXiv 2312.10794, Figs. 1, 4);
- :func:`plot_cluster_counts` the metastability staircase; :func:`plot_energy` E_beta(t);
- :func:`animate` a GIF (pillow) or MP4 (ffmpeg, when installed) of a trajectory;
- :func:`plot_run` the picture ``particles simulate --plot`` writes;
- :func:`plural` "1 cluster" / "3 clusters" for titles and labels;
- :mod:`particles.plotting.figures` the one runner of the figure scripts in ``figures/``;
- :mod:`particles.plotting.viewer` interactive plotly views (``particles view``,
  ``Trajectory.show()``; the ``view`` extra).

Nothing here uses pyplot or calls ``show()``: figures that this module writes itself are plain
``matplotlib.figure.Figure`` objects on an Agg canvas, so they work under any backend and need no
closing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..analysis import clusters
from ..errors import ParticlesError, count
from ..storage.npz import check_writable

_CMAP = "viridis"


def plural(count, noun: str, nouns: str | None = None) -> str:
    """``"1 cluster"``, ``"3 clusters"``: a count with its noun in the right number."""
    k = int(count)
    return f"{k} {noun if k == 1 else (nouns or noun + 's')}"


def _require_3d(ax):
    if getattr(ax, "name", "") != "3d":
        raise ParticlesError("plot_sphere needs a 3-D axes: fig.add_subplot(projection='3d')")


def _colors(x, color, delta):
    if color is not None:
        return color
    if x.shape[0] <= 4096:
        lab = clusters.cluster_labels(x, delta)
        return matplotlib.colormaps["tab10"](lab % 10)
    return "C0"


def plot_sphere(
    ax,
    x,
    *,
    color=None,
    size: float = 18.0,
    sphere_alpha: float = 0.08,
    delta: float = 1e-3,
    title: str | None = None,
):
    """Particles x (n, 3) on the unit sphere in a 3-D ``ax``, over a faint wireframe sphere.

    Points are coloured by cluster (``delta``) unless ``color`` is given. Returns the scatter.
    """
    _require_3d(ax)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ParticlesError(f"plot_sphere needs points of shape (n, 3), got {x.shape}")
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 40), np.linspace(0, np.pi, 20))
    mesh = (np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v))
    ax.plot_surface(*mesh, color="0.7", alpha=sphere_alpha, linewidth=0, shade=False)
    ax.plot_wireframe(
        *mesh,
        color="0.6",
        alpha=sphere_alpha,
        linewidth=0.3,
        rstride=2,
        cstride=2,
    )
    sc = ax.scatter(x[:, 0], x[:, 1], x[:, 2], c=_colors(x, color, delta), s=size, depthshade=False)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_zlim(-1, 1)
    ax.set_box_aspect((1, 1, 1))
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return sc


def plot_circle(
    ax, x, *, color=None, size: float = 30.0, delta: float = 1e-3, title: str | None = None
):
    """Particles on the unit circle: x (n, 2) points or (n,) angles. Returns the scatter."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = np.stack([np.cos(x), np.sin(x)], axis=-1)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ParticlesError(f"plot_circle needs points (n, 2) or angles (n,), got {x.shape}")
    s = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(s), np.sin(s), color="0.75", lw=1.0, zorder=0)
    sc = ax.scatter(
        x[:, 0], x[:, 1], c=_colors(x, color, delta), s=size, zorder=2, edgecolors="none"
    )
    ax.set_aspect("equal")
    ax.set_xlim(-1.15, 1.15)
    ax.set_ylim(-1.15, 1.15)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return sc


def plot_histograms(
    ax,
    t,
    xs,
    times,
    *,
    bins: int = 60,
    range: tuple[float, float] = (-1.0, 1.0),
    cmap: str = _CMAP,
):
    """Step histograms (density) of <x_i, x_j>, i < j, at the saved states nearest ``times``.

    ``t`` (T,), ``xs`` (T, n, d). One curve per time, coloured from early (dark) to late (light).
    Returns the picked times.
    """
    picked, vals, edges = clusters.histograms_at(t, xs, times, bins, range=range)
    colors = matplotlib.colormaps[cmap](np.linspace(0.0, 0.9, len(picked)))
    for tk, v, c in zip(picked, vals, colors, strict=True):
        ax.stairs(v, edges, color=c, lw=1.5, label=f"t = {tk:g}")
    ax.set_xlabel(r"$\langle x_i, x_j\rangle$")
    ax.set_ylabel("density")
    ax.set_xlim(*range)
    ax.legend(frameon=False, fontsize="small")
    return picked


def plot_cluster_counts(ax, t, counts, *, logx: bool = False, label: str | None = None, **kw):
    """The cluster-count staircase: counts (T,) against t (T,), as a step plot."""
    t = np.asarray(t, dtype=np.float64)
    counts = np.asarray(counts)
    if t.shape != counts.shape:
        raise ParticlesError(f"t {t.shape} and counts {counts.shape} must have the same shape")
    (line,) = ax.step(t, counts, where="post", label=label, **kw)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("number of clusters")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return line


def plot_energy(
    ax, t, energy, *, logx: bool = False, reference: dict | None = None, label=None, **kw
):
    """E_beta(t) against t. ``reference`` maps labels to horizontal lines (e.g. the Dirac value)."""
    t = np.asarray(t, dtype=np.float64)
    energy = np.asarray(energy, dtype=np.float64)
    if t.shape != energy.shape:
        raise ParticlesError(f"t {t.shape} and energy {energy.shape} must have the same shape")
    (line,) = ax.plot(t, energy, label=label, **kw)
    for k, (name, val) in enumerate((reference or {}).items()):
        ax.axhline(val, color=f"C{k + 1}", ls="--", lw=0.8, label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel(r"$E_\beta$")
    return line


def plot_state(ax, x, **kw):
    """One state x (n, d) in the natural picture: sphere (d = 3), circle (d = 2), histogram otherwise."""
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[1]
    if d == 3:
        return plot_sphere(ax, x, **kw)
    if d == 2:
        return plot_circle(ax, x, **kw)
    vals, edges = clusters.inner_product_histogram(x, 60)
    return ax.stairs(vals, edges, color="C0")


def new_figure(figsize=(6, 4), *, layout=None) -> Figure:
    """A pyplot-free Figure on an Agg canvas (safe in scripts, servers and notebooks alike);
    ``layout``: matplotlib's layout engine ("constrained", "tight" or None)."""
    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _new_axes(d: int, figsize=(5, 5)):
    fig = new_figure(figsize)
    ax = fig.add_subplot(projection="3d" if d == 3 else None)
    return fig, ax


def _title(traj, t: float) -> str:
    try:
        dyn = traj.dynamics
        beta = traj.beta()
        kind = getattr(dyn, "kind", "piecewise")
        return f"{kind}, n = {traj.n}, d = {traj.d}, beta = {beta:g}, t = {t:g}"
    except Exception:  # a partial or foreign trajectory: just the time
        return f"t = {t:g}"


def _states(traj):
    """A trajectory's token directions (``traj.theta``): lazy frames for a zarr store, of which
    only the drawn ones are read."""
    th = traj.theta if hasattr(traj, "theta") else traj.x
    return th if getattr(th, "lazy", False) else np.asarray(th)


def check_image_path(path, what: str = "plot") -> Path:
    """``path`` as a Path if matplotlib can write an image there (its suffix names a format
    matplotlib writes, its directory exists and is writable), else a clear error; call it before a
    long computation whose picture goes there."""
    path = check_writable(path, what)
    formats = FigureCanvasAgg.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in formats:
        raise ParticlesError(
            f"cannot write {what} {path}: its suffix must name an image format "
            f"({', '.join('.' + f for f in sorted(formats))})"
        )
    return path


def plot_run(traj, path, *, times=None, dpi: int = 120) -> Path:
    """The picture of a finished run, written to ``path`` (PNG or anything matplotlib writes).

    d = 3: particles on the sphere at the start and the end; d = 2: the same on the circle;
    otherwise: histograms of pairwise inner products at 5 times from start to end.
    """
    path = check_image_path(path)
    traj.require_states()
    t, xs = np.asarray(traj.t), _states(traj)
    d = xs.shape[2]
    if d in (2, 3):
        fig = new_figure((9, 4.6))
        for k, idx in enumerate((0, len(t) - 1)):
            ax = fig.add_subplot(1, 2, k + 1, projection="3d" if d == 3 else None)
            plot_state(ax, xs[idx], title=_title(traj, t[idx]) if k else f"t = {t[idx]:g}")
        fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.9, wspace=0.05)
    else:
        fig = new_figure((6, 4))
        ax = fig.add_subplot()
        if times is None:
            times = np.linspace(t[0], t[-1], 5)
        plot_histograms(ax, t, xs, times)
        ax.set_title(_title(traj, t[-1]))
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def save_histograms(traj, times=None, path=None, *, bins: int = 60, dpi: int = 120) -> Path:
    """Histograms of pairwise inner products at ``times`` of a trajectory (default: 5 equally
    spaced times over the saved range), written to ``path``."""
    if path is None:
        raise ParticlesError("save_histograms needs a path to write")
    path = check_image_path(path, "histogram")
    traj.require_states()
    if times is None:
        times = np.linspace(traj.t[0], traj.t[-1], 5)
    fig = new_figure((6, 4))
    ax = fig.add_subplot()
    plot_histograms(ax, traj.t, traj.theta, times, bins=bins)
    ax.set_title(_title(traj, float(np.max(times))).rsplit(", t =", 1)[0])
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def animate(
    traj, path, *, fps: int = 15, max_frames: int = 200, dpi: int = 80, rotate: bool = True
) -> Path:
    """Animate a trajectory into ``path``: ``.gif`` (pillow) or ``.mp4`` (needs ffmpeg).

    d = 3 shows the sphere (slowly rotating view when ``rotate``), d = 2 the circle, larger d the
    inner-product histogram. At most ``max_frames`` saved states are used (evenly subsampled).
    """
    from matplotlib import animation

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ParticlesError(f"{path}: animations are written as .gif or .mp4")
    if suffix == ".mp4" and not ffmpeg_available():
        raise ParticlesError("writing .mp4 needs ffmpeg on the PATH; write a .gif instead")
    check_writable(path, "animation")
    fps, max_frames = count(fps, "fps"), count(max_frames, "max_frames")
    traj.require_states()
    t, xs = np.asarray(traj.t), _states(traj)
    d = xs.shape[2]
    idx = np.unique(np.linspace(0, len(t) - 1, min(len(t), max_frames)).round().astype(int))
    fig, ax = _new_axes(d)
    hist_ylim = None
    if d not in (2, 3):
        hist_ylim = 1.05 * max(clusters.inner_product_histogram(xs[k], 60)[0].max() for k in idx)

    def frame(k):
        ax.clear()
        i = idx[k]
        if d == 3:
            plot_sphere(ax, xs[i], title=_title(traj, t[i]))
            if rotate:
                ax.view_init(elev=20, azim=30 + 120 * k / max(1, len(idx)))
        elif d == 2:
            plot_circle(ax, xs[i], title=_title(traj, t[i]))
        else:
            vals, edges = clusters.inner_product_histogram(xs[i], 60)
            ax.stairs(vals, edges, color="C0")
            ax.set_xlim(-1, 1)
            ax.set_ylim(0, hist_ylim)
            ax.set_xlabel(r"$\langle x_i, x_j\rangle$")
            ax.set_title(_title(traj, t[i]))
        return []

    anim = animation.FuncAnimation(fig, frame, frames=len(idx), blit=False)
    writer = (
        animation.PillowWriter(fps=fps) if suffix == ".gif" else animation.FFMpegWriter(fps=fps)
    )
    tmp = path.with_name(f".{path.stem}.tmp{suffix}")
    try:
        anim.save(tmp, writer=writer, dpi=dpi)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
