"""(t, beta) phase diagrams of clustering (arXiv 2312.10794, Figs. 3–5).

For each beta, ``seeds`` independent systems of n tokens, i.i.d. uniform on S^{d-1}, are run with a
fixed-step scheme (:mod:`particles.solvers.ensemble`), and at every checkpoint the fraction of ordered pairs
i != j with <x_i(t), x_j(t)> > 1 - delta is pooled over the seeds: an estimate of
P(<x_1(t), x_2(t)> >= 1 - delta) (the pairs are exchangeable). The heat map is drawn with the curve
Gamma_{inf,delta} of :mod:`particles.analysis.equiangular` on the same axes.

Each (d, beta) is one task of :mod:`particles.sweeps.sweep`: its result is saved to the store as soon as it
finishes, so a rerun skips what is done. Identity weights use the Gram formulation when d >= n (cost
independent of d) and coordinates when d < n (cheaper); random weights (``weights=`` one of
:data:`particles.solvers.ensemble.WEIGHT_ENSEMBLES`) use coordinates with one (Q^T K, V) draw per seed.

The initial points (and weights) of seed s are the same for every beta (common random numbers), drawn
from ``numpy.random.default_rng([seed, n, d])``; every task file records its parameters and seed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, count, finite, real_array
from ..model.params import check_beta
from ..resources import check_count, check_memory
from ..solvers import ensemble, hardmax_ensemble
from ..storage.npz import atomic_write_bytes, check_writable, load_npz, save_npz
from ..sweeps.sweep import Task, fingerprint, load_result, run_sweep
from . import equiangular

FORMAT = "phase_diagram"


@dataclass(frozen=True, kw_only=True)
class PhaseParams:
    """Parameters of one phase diagram (one d).

    ``betas``: the beta grid (``inf``: a hardmax column, :mod:`particles.solvers.hardmax_ensemble`,
    with method ``"euler"`` or ``"euler-tangent"`` and kind ``"SA"``); ``t_end``/``dt``: time span and fixed step (``t_end`` a multiple of
    ``dt * save_every``); ``seeds``: systems per beta; ``seed``: base seed; ``method``: ``"euler"`` (the
    authors' scheme), ``"euler-tangent"`` or ``"rk4"``; ``kind``: ``"SA"``/``"USA"``; ``weights``: None
    (Q = K = V = I) or a random ensemble name; ``chunk``: systems per kernel call (memory bound);
    ``norm``, ``alpha``, ``t_switch``, ``t_offset``: the normalisation scheme
    (:mod:`particles.field.norms`; the statistics are those of the directions).
    """

    n: int = 32
    d: int = 2
    betas: tuple = tuple(np.round(np.arange(0.0, 9.0 + 1e-9, 0.1), 10))
    t_end: float = 30.0
    dt: float = 0.1
    save_every: int = 1
    seeds: int = 1024
    seed: int = 0
    delta: float = 1e-3
    cluster_delta: float | None = None
    method: str = "euler"
    kind: str = "SA"
    weights: str | None = None
    chunk: int = 1024
    norm: str = "post"
    alpha: float = 1.0
    t_switch: float | None = None
    t_offset: float = 1.0

    def __post_init__(self):
        for name, low in (("n", 2), ("d", 2), ("seeds", 1)):
            check_count(count(getattr(self, name), name, low), name, 1e8)
        count(self.seed, "seed", 0)
        finite(self.t_end, "t_end", "> 0")
        b = real_array(self.betas, "betas").ravel()
        fin = b[b != np.inf]  # beta = inf: the hardmax column (particles.solvers.hardmax_ensemble)
        if b.size == 0 or not np.all(np.isfinite(fin)) or np.any(b < 0):
            raise ParticlesError("betas must be a non-empty list of finite numbers >= 0 (or inf)")
        if fin.size:
            check_beta(float(fin.max()), "beta")
        if len(set(b.tolist())) != b.size:
            raise ParticlesError("betas must not repeat")
        object.__setattr__(self, "betas", tuple(float(x) for x in b))
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "d", int(self.d))
        object.__setattr__(self, "seeds", int(self.seeds))
        nsteps, _, every = ensemble._steps(self.t_end, self.dt, self.save_every)
        T = nsteps // every + 1
        check_memory(
            8.0 * b.size * (int(self.seeds) + 4 * T),
            f"a phase diagram of {b.size} betas x {int(self.seeds)} seeds x {T} times",
        )
        count(self.chunk, "chunk")
        n, d, c = int(self.n), int(self.d), min(int(self.chunk), int(self.seeds))
        width = n if self.weights is None and d >= n else d  # the Gram or the coordinates
        check_memory(
            8.0 * c * (n * width + 12 * n * n + 2 * d * d),
            f"a chunk of {c} systems of {n} particles in dimension {d}",
        )
        ensemble._method(self.method)
        ensemble._kind(self.kind)
        object.__setattr__(self, "kind", str(self.kind).upper())
        if fin.size < b.size:  # the hardmax column: its methods and kind, refused here at once
            hardmax_ensemble.check_method(self.method)
            hardmax_ensemble.check_kind(ensemble._kind(self.kind))
        ensemble._thresholds(self.delta, self.cluster_delta)
        if self.weights is not None and (
            not isinstance(self.weights, str) or self.weights not in ensemble.WEIGHT_ENSEMBLES
        ):
            raise ParticlesError(
                f"unknown weights {self.weights!r}; choose one of {', '.join(ensemble.WEIGHT_ENSEMBLES)}"
            )
        count(self.chunk, "chunk")
        from ..model.params import Dynamics

        dyn = Dynamics(
            norm=self.norm, alpha=self.alpha, t_switch=self.t_switch, t_offset=self.t_offset
        )
        for k in ("norm", "alpha", "t_switch", "t_offset"):
            object.__setattr__(self, k, getattr(dyn, k))

    @property
    def gram(self) -> bool:
        """Whether the Gram formulation is used (identity weights, d >= n, Post-LN)."""
        return self.weights is None and self.d >= self.n and self.norm == "post"

    @property
    def scheme(self) -> dict:
        """The scheme's keywords for :mod:`particles.analysis.equiangular` and the ensembles."""
        return {
            "norm": self.norm,
            "alpha": self.alpha,
            "t_switch": self.t_switch,
            "t_offset": self.t_offset,
        }

    def record(self) -> dict:
        r = asdict(self)
        r["betas"] = list(self.betas)
        if self.t_offset == 1.0:  # the default: the keys of stores from before the option
            del r["t_offset"]
            if self.norm == "post" and self.alpha == 1.0 and self.t_switch is None:
                for k in ("norm", "alpha", "t_switch"):  # the keys of earlier Post-LN stores
                    del r[k]
        return r


def initial_conditions(p: PhaseParams, lo: int = 0, hi: int | None = None):
    """Seeds lo..hi of the ensemble: (Gram (k, n, n) or points (k, n, d), B or None, V or None).

    Seed s's state comes from ``default_rng([p.seed, p.n, p.d, s])``, so it does not depend on the
    beta, on the chunking, or on how many seeds there are.
    """
    _check_params(p)
    hi = p.seeds if hi is None else count(hi, "hi", 1, p.seeds)
    lo = count(lo, "lo", 0, hi - 1)
    xs, bs, vs = [], [], []
    for s in range(lo, hi):
        rng = np.random.default_rng([p.seed, p.n, p.d, s])
        x = ensemble.random_points_batch(p.n, p.d, 1, rng)[0]
        xs.append(x)
        if p.weights is not None:
            B, V = ensemble.random_weights(p.weights, p.d, 1, rng)
            bs.append(B[0])
            vs.append(V[0])
    X = np.stack(xs)
    if p.gram:
        G = X @ np.swapaxes(X, 1, 2)
        idx = np.arange(p.n)
        G[:, idx, idx] = 1.0
        return G, None, None
    if p.weights is None:
        return X, None, None
    return X, np.stack(bs), np.stack(vs)


def run_beta(params: dict, beta: float) -> tuple[dict, dict]:
    """One task: all seeds at one beta. Returns (arrays, meta) for the store.

    Arrays: ``t`` (T,), ``p`` (T,) pooled pair fraction, ``p_se`` (T,) its standard error over seeds,
    ``mean_clusters`` (T,), ``final_clusters`` (seeds,) cluster counts at t_end.
    """
    p = PhaseParams(**params)
    T = int(round(p.t_end / p.dt)) // p.save_every + 1
    frac_sum = np.zeros(T)
    frac_sq = np.zeros(T)
    cl_sum = np.zeros(T)
    final_cl = np.empty(p.seeds, np.int64)
    compile_s = run_s = 0.0
    t = None
    for lo in range(0, p.seeds, p.chunk):
        hi = min(p.seeds, lo + p.chunk)
        state, B, V = initial_conditions(p, lo, hi)
        kw = dict(
            dt=p.dt,
            method=p.method,
            kind=p.kind,
            save_every=p.save_every,
            delta=p.delta,
            cluster_delta=p.cluster_delta,
        )
        if p.gram:
            r = ensemble.ensemble_gram(state, beta, p.t_end, **kw)
        elif p.norm == "post":
            r = ensemble.ensemble_coords(state, beta, p.t_end, B=B, V=V, **kw)
        else:
            r = ensemble.ensemble_coords(state, beta, p.t_end, B=B, V=V, **kw, **p.scheme)
        frac_sum += r.pair_fraction.sum(axis=0)
        frac_sq += (r.pair_fraction**2).sum(axis=0)
        cl_sum += r.n_clusters.sum(axis=0)
        final_cl[lo:hi] = r.n_clusters[:, -1]
        compile_s += r.compile_s
        run_s += r.run_s
        t = r.t
    S = p.seeds
    mean = frac_sum / S
    var = np.maximum(frac_sq / S - mean**2, 0.0)
    se = np.sqrt(var / max(S - 1, 1))
    arrays = {
        "t": t,
        "p": mean,
        "p_se": se,
        "mean_clusters": cl_sum / S,
        "final_clusters": final_cl,
    }
    meta = {
        "params": p.record(),
        "beta": float(beta),
        "seed": p.seed,
        "compile_s": compile_s,
        "run_s": run_s,
        "system_steps": S * int(round(p.t_end / p.dt)),
        "formulation": "gram" if p.gram else "coordinates",
    }
    return arrays, meta


def _beta_key(p: PhaseParams, beta: float) -> str:
    w = "I" if p.weights is None else p.weights
    base = {k: v for k, v in p.record().items() if k != "betas"}
    nm = "" if p.norm == "post" else f"_{p.norm}"
    return f"phase_n{p.n}_d{p.d}_{p.kind}{nm}_{p.method}_dt{p.dt:g}_w{w}_beta{beta:.6g}_{fingerprint(base)}"


def phase_tasks(p: PhaseParams) -> list[Task]:
    """One sweep task per beta."""
    _check_params(p)
    rec = {k: v for k, v in p.record().items() if k != "betas"}
    rec["betas"] = [0.0]  # a task does not depend on the other betas of the grid
    return [
        Task(key=_beta_key(p, b), fn=run_beta, kwargs={"params": rec, "beta": b}) for b in p.betas
    ]


@dataclass(frozen=True, kw_only=True)
class PhaseDiagram:
    """A computed phase diagram: ``P`` (n_beta, T) over ``t`` (T,) x ``betas`` (n_beta,).

    ``P_se`` its standard error, ``mean_clusters`` (n_beta, T), ``final_clusters`` (n_beta, seeds),
    ``run_s``/``compile_s`` summed over tasks.
    """

    params: PhaseParams
    t: np.ndarray
    betas: np.ndarray
    P: np.ndarray
    P_se: np.ndarray
    mean_clusters: np.ndarray
    final_clusters: np.ndarray
    run_s: float = 0.0
    compile_s: float = 0.0
    system_steps: int = 0

    def save(self, path) -> Path:
        arrays = {
            "t": self.t,
            "betas": self.betas,
            "P": self.P,
            "P_se": self.P_se,
            "mean_clusters": self.mean_clusters,
            "final_clusters": self.final_clusters,
        }
        meta = {
            "format": FORMAT,
            "params": self.params.record(),
            "seed": self.params.seed,
            "run_s": self.run_s,
            "compile_s": self.compile_s,
            "system_steps": self.system_steps,
        }
        return save_npz(path, arrays, meta)

    @classmethod
    def load(cls, path) -> PhaseDiagram:
        a, meta = load_npz(path, FORMAT)
        return cls(
            params=PhaseParams(**meta["params"]),
            t=a["t"],
            betas=a["betas"],
            P=a["P"],
            P_se=a["P_se"],
            mean_clusters=a["mean_clusters"],
            final_clusters=a["final_clusters"],
            run_s=meta.get("run_s", 0.0),
            compile_s=meta.get("compile_s", 0.0),
            system_steps=meta.get("system_steps", 0),
        )

    @classmethod
    def from_saved(cls, record: dict, t, P, mean_clusters=None) -> PhaseDiagram:
        """A diagram rebuilt from a figure's saved data (for a redraw): the parameters' record
        (:meth:`PhaseParams.record`), ``t`` and ``P``; the statistics not saved are empty."""
        empty = np.zeros(0)
        return cls(
            params=PhaseParams(**record),
            t=t,
            betas=np.asarray(record["betas"]),
            P=P,
            P_se=empty,
            mean_clusters=empty if mean_clusters is None else mean_clusters,
            final_clusters=empty,
        )


def assemble(p: PhaseParams, store) -> PhaseDiagram:
    """Read the finished tasks of ``p`` from ``store`` into a :class:`PhaseDiagram`."""
    rows = [load_result(store, t.key) for t in phase_tasks(p)]
    arrays = [a for a, _ in rows]
    return PhaseDiagram(
        params=p,
        t=arrays[0]["t"],
        betas=np.asarray(p.betas),
        P=np.stack([a["p"] for a in arrays]),
        P_se=np.stack([a["p_se"] for a in arrays]),
        mean_clusters=np.stack([a["mean_clusters"] for a in arrays]),
        final_clusters=np.stack([a["final_clusters"] for a in arrays]),
        run_s=float(sum(m.get("run_s", 0.0) for _, m in rows)),
        compile_s=float(sum(m.get("compile_s", 0.0) for _, m in rows)),
        system_steps=int(sum(m.get("system_steps", 0) for _, m in rows)),
    )


def phase_diagrams(
    params: PhaseParams | list[PhaseParams],
    *,
    store: str | os.PathLike | None = None,
    backend: str = "serial",
    scheduler: str | None = None,
    workers: int = 2,
    threads: int | None = None,
    progress: bool = True,
) -> list[PhaseDiagram]:
    """Compute one or several phase diagrams (e.g. one per d) as one resumable sweep.

    ``store``: the directory of per-beta results (a temporary one, deleted afterwards, if None).
    ``backend``/``scheduler``/``workers``/``threads``: see :func:`particles.sweeps.sweep.run_sweep`.
    """
    if isinstance(params, PhaseParams):
        plist = [params]
    elif isinstance(params, (list, tuple)):
        plist = list(params)
        for p in plist:
            _check_params(p)
    else:
        raise ParticlesError(
            f"params must be a PhaseParams or a list of them, got {type(params).__name__}"
        )
    if not plist:
        raise ParticlesError("no phase diagram to compute")
    tasks = [t for p in plist for t in phase_tasks(p)]
    tmp = None
    if store is None:
        tmp = tempfile.TemporaryDirectory(prefix="particles-phase-")
        store = tmp.name
    try:
        run_sweep(
            tasks,
            store,
            backend=backend,
            scheduler=scheduler,
            workers=workers,
            threads=threads,
            progress=progress,
            desc="phase (d, beta) tasks",
        )
        return [assemble(p, store) for p in plist]
    finally:
        if tmp is not None:
            tmp.cleanup()


def phase_diagram(params: PhaseParams, **kw) -> PhaseDiagram:
    """A single phase diagram; keywords as :func:`phase_diagrams`."""
    return phase_diagrams(params, **kw)[0]


def with_d(p: PhaseParams, d: int) -> PhaseParams:
    _check_params(p)
    return replace(p, d=count(d, "d", 2))


def _check_params(p) -> None:
    if not isinstance(p, PhaseParams):
        raise ParticlesError(f"expected a PhaseParams, got {type(p).__name__}")


# --------------------------------------------------------------------------------------------------
# plotting (matplotlib; functions take an ``ax``)


def plot_phase(
    ax,
    diagram: PhaseDiagram,
    *,
    curve: bool = True,
    euler_curve: bool = False,
    colorbar: bool = False,
    title: str | None = None,
):
    """Heat map of P(t, beta) (RdBu_r on [0, 1]) with Gamma_{inf,delta} in black on the same axes.

    ``euler_curve`` adds, dashed, the hitting curve of the authors' dt-Euler scheme in the equiangular
    model (:func:`particles.analysis.equiangular.euler_hitting_time`). Returns the QuadMesh.
    """
    p = diagram.params
    ys, fin = _plot_rows(diagram.betas)
    mesh = ax.pcolormesh(
        diagram.t,
        ys,
        diagram.P,
        cmap="RdBu_r",
        vmin=0.0,
        vmax=1.0,
        shading="nearest",
        rasterized=True,
    )
    bmax = float(np.max(fin))
    tmax = float(diagram.t[-1])
    if curve and p.kind == "SA":
        bs = np.linspace(0.0, bmax, 200)
        ts, bs = equiangular.gamma_curve(p.n, p.delta, betas=bs, **p.scheme)
        keep = ts <= tmax
        ax.plot(
            ts[keep], bs[keep], color="black", lw=1.6, label=r"$\Gamma_{\infty,\delta}$ (exact)"
        )
    if euler_curve and p.kind == "SA" and p.norm == "post":
        bs = np.linspace(0.0, bmax, 91)
        te = np.array([equiangular.euler_hitting_time(b, p.n, p.delta, p.dt) for b in bs])
        keep = te <= tmax
        ax.plot(
            te[keep],
            bs[keep],
            color="black",
            lw=1.2,
            ls="--",
            label=f"Euler dt={p.dt:g} (equiangular)",
        )
    ax.set_xlim(float(diagram.t[0]), tmax)
    if float(np.max(ys)) > float(np.min(ys)):  # one beta: matplotlib picks a band around it
        ax.set_ylim(float(np.min(ys)), float(np.max(ys)))
    if ys.size > fin.size:  # the hardmax row, drawn one grid step above the largest finite beta
        top = float(np.max(ys))
        ticks = [v for v in ax.get_yticks() if float(np.min(ys)) <= v <= bmax]
        ax.set_yticks([*ticks, top], [*(f"{v:g}" for v in ticks), "∞"])
        ax.set_ylim(float(np.min(ys)), top + 0.5 * (top - bmax))
    ax.set_xlabel("t")
    ax.set_ylabel(r"$\beta$")
    ax.set_title(title if title is not None else f"d = {p.d}")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=r"P($\langle x_1, x_2\rangle \geq 1-\delta$)")
    return mesh


def _plot_rows(betas) -> tuple[np.ndarray, np.ndarray]:
    """(the heat map's row positions, the finite betas): a beta = inf row (hardmax, the last of a
    sorted grid) is drawn one grid step above the largest finite beta and labelled ∞."""
    b = np.asarray(betas, dtype=np.float64)
    fin = b[np.isfinite(b)]
    if fin.size == b.size:
        return b, fin
    if fin.size == 0:
        return np.zeros(b.size), np.zeros(1)
    step = float(np.median(np.diff(np.sort(fin)))) if fin.size > 1 else 1.0
    return np.where(np.isfinite(b), b, float(fin.max()) + (step if step > 0 else 1.0)), fin


def boundary_t(diagram: PhaseDiagram, level: float = 0.5) -> np.ndarray:
    """For each beta the first checkpoint time with P >= level (NaN if never): the empirical boundary."""
    out = np.full(diagram.betas.shape, np.nan)
    for i, row in enumerate(diagram.P):
        hit = np.nonzero(row >= level)[0]
        if hit.size:
            out[i] = diagram.t[hit[0]]
    return out


def band_width(diagram: PhaseDiagram, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
    """For each beta the time between P first reaching ``lo`` and first reaching ``hi`` (NaN if not)."""
    return boundary_t(diagram, hi) - boundary_t(diagram, lo)


def _figure_titles(diagrams: list[PhaseDiagram]) -> tuple[str, list[str]]:
    """The title of a figure of several diagrams (the parameters they share: n, seeds, delta, the
    model and the integrator) and one title per panel (d, and whatever differs between panels)."""
    ps = [dg.params for dg in diagrams]
    fields = {
        "n": lambda p: f"n = {p.n}",
        "seeds": lambda p: f"{p.seeds} seeds per β",
        "delta": lambda p: f"δ = {p.delta:g}",
        "kind": lambda p: p.kind + ("" if p.weights is None else f", {p.weights} weights"),
        "norm": lambda p: "" if p.norm == "post" else f"norm = {p.norm}",
        "method": lambda p: f"{p.method}, dt = {p.dt:g}",
    }
    shared, own = [], [[f"d = {p.d}"] for p in ps]
    for f in fields.values():
        texts = [f(p) for p in ps]
        if len(set(texts)) == 1:
            shared.append(texts[0])
        else:
            for o, t in zip(own, texts, strict=True):
                o.append(t)
    head = r"P($\langle x_1,x_2\rangle \geq 1-\delta$): " + ", ".join(t for t in shared if t)
    return head, [", ".join(t for t in o if t) for o in own]


def plot_phase_figure(diagrams: list[PhaseDiagram], path, *, euler_curve=False, ncols=3) -> Path:
    """Several diagrams side by side with one colour bar, saved as a PNG (used by the CLI); the
    title names n, the seeds and delta (the panels' titles what differs between them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(diagrams)
    ncols = min(ncols, k)
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(4.2 * ncols + 0.8, 3.4 * nrows + 0.5),
        squeeze=False,
        layout="constrained",
    )
    head, titles = _figure_titles(diagrams)
    mesh = None
    for ax, dg, title in zip(axes.flat, diagrams, titles, strict=False):
        mesh = plot_phase(ax, dg, euler_curve=euler_curve, title=title)
    for ax in list(axes.flat)[k:]:
        ax.set_visible(False)
    if axes.flat[0].get_legend_handles_labels()[0]:  # the curves are drawn for SA only
        axes.flat[0].legend(loc="upper left", fontsize=7)
    fig.colorbar(mesh, ax=axes.ravel().tolist(), label=r"P($\langle x_1,x_2\rangle \geq 1-\delta$)")
    fig.suptitle(head)
    path = Path(path)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


def phase_figure(
    plist: list[PhaseParams],
    out,
    *,
    store=None,
    data=None,
    euler_curve: bool = True,
    **sweep_kw,
) -> list[PhaseDiagram]:
    """Compute the diagrams of ``plist`` (resumable in ``store``, default ``<out>.store/``), draw them
    side by side into the PNG ``out`` and, if ``data`` is given, save them to that ``.npz``."""
    out = check_writable(out, "figure", ".png")
    if data is not None:
        check_writable(data, "data", ".npz")
    store = out.with_suffix(".store") if store is None else Path(store)
    diagrams = phase_diagrams(plist, store=store, **sweep_kw)
    plot_phase_figure(diagrams, out, euler_curve=euler_curve)
    if data is not None:
        save_npz(
            data,
            {
                "t": diagrams[0].t,
                "betas": diagrams[0].betas,
                "d": np.array([dg.params.d for dg in diagrams]),
                "n": np.array([dg.params.n for dg in diagrams]),
                "P": np.stack([dg.P for dg in diagrams]),
                "P_se": np.stack([dg.P_se for dg in diagrams]),
                "mean_clusters": np.stack([dg.mean_clusters for dg in diagrams]),
            },
            {
                "format": FORMAT + "s",
                "params": [dg.params.record() for dg in diagrams],
                "seed": plist[0].seed,
            },
        )
    return diagrams


#: the file formats of a :class:`ScanTable`, by suffix
TABLE_SUFFIXES = (".npz", ".json", ".csv")
TABLE_FORMAT = "sweep_table"


def check_table_path(path) -> Path:
    """``path`` as a Path if a :class:`ScanTable` can be saved there (by its suffix, and its
    directory exists), else a clear error; call it before a long scan."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ParticlesError(f"{path}: the table must be .npz, .json or .csv")
    return check_writable(path, "table")


@dataclass(frozen=True)
class ScanTable(Mapping):
    """The result of :func:`scan`: one row per (params, beta), as a read-only mapping from column
    name to a 1-D array (columns ``n, d, beta, P_end, P_end_se, clusters_end, t_half``).

    :meth:`save` writes it as ``.npz`` (with the parameters and seed in its metadata), ``.json``
    (columns as lists, NaN as null) or ``.csv``; :meth:`text` formats it for a terminal.
    """

    columns: dict
    params: tuple = ()

    def __getitem__(self, key):
        return self.columns[key]

    def __iter__(self):
        return iter(self.columns)

    def __len__(self):
        return len(self.columns)

    def rows(self) -> list[tuple]:
        """The table row by row, as tuples of Python numbers in column order."""
        return list(zip(*(v.tolist() for v in self.columns.values()), strict=True))

    def text(self) -> str:
        """Right-aligned columns (6 significant digits), a header line first."""
        lines = ["  ".join(f"{c:>12}" for c in self.columns)]
        lines += ["  ".join(f"{v:>12.6g}" for v in r) for r in self.rows()]
        return "\n".join(lines)

    def save(self, path) -> Path:
        """Write the table atomically to ``path``; the format is chosen by its suffix
        (:data:`TABLE_SUFFIXES`)."""
        path = check_table_path(path)
        suffix = path.suffix.lower()
        if suffix == ".npz":
            meta = {
                "format": TABLE_FORMAT,
                "params": [p.record() for p in self.params],
                "seed": self.params[0].seed if self.params else None,
            }
            return save_npz(path, dict(self.columns), meta)
        if suffix == ".json":
            clean = {c: [None if v != v else v for v in a.tolist()] for c, a in self.items()}
            return atomic_write_bytes(path, json.dumps(clean).encode())
        lines = [",".join(self.columns)]
        lines += [",".join(f"{v:.10g}" for v in r) for r in self.rows()]
        return atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def scan(plist: list[PhaseParams], *, store=None, **sweep_kw) -> ScanTable:
    """A table over every (params, beta): final pair fraction, final mean cluster count, and the first
    time with P >= 1/2 (NaN if never). Columns: n, d, beta, P_end, P_end_se, clusters_end, t_half.
    ``store`` and the other keywords: as :func:`phase_diagrams` (resumable in ``store``)."""
    diagrams = phase_diagrams(plist, store=store, **sweep_kw)
    cols: dict[str, list] = {k: [] for k in ("n", "d", "beta", "P_end", "P_end_se", "clusters_end")}
    t_half = []
    for dg in diagrams:
        th = boundary_t(dg, 0.5)
        for i, b in enumerate(dg.betas):
            cols["n"].append(dg.params.n)
            cols["d"].append(dg.params.d)
            cols["beta"].append(float(b))
            cols["P_end"].append(float(dg.P[i, -1]))
            cols["P_end_se"].append(float(dg.P_se[i, -1]))
            cols["clusters_end"].append(float(dg.mean_clusters[i, -1]))
            t_half.append(float(th[i]))
    table = {k: np.asarray(v) for k, v in cols.items()}
    table["t_half"] = np.asarray(t_half)
    return ScanTable(table, tuple(plist))
