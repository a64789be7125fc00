"""The result of a simulation, :class:`Trajectory`: its ``.npz`` file format, and its zarr store
(:mod:`particles.storage.zarr`) read and written through the store's arrays and records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ParticlesError
from ..model.params import Dynamics, Piecewise
from . import npz as io
from . import zarr as store
from .records import (
    _as_array,
    _is_store,
    check_meta,
    check_states,
    check_times,
    dynamics_from_record,
    dynamics_to_record,
)

FORMAT = "trajectory"


def check_run_times(t: np.ndarray, meta: dict, where: str) -> None:
    """Save times that agree with the run's record: a run marked complete holds at least one
    state, and with ``t_end`` recorded (> 0) every save time lies in [0, t_end]."""
    if meta.get("complete") is True and t.size == 0:
        raise ParticlesError(f"{where}: marked complete but holds no saved state")
    t_end = meta.get("t_end")
    if t_end is None:
        return
    if not t_end > 0:
        raise ParticlesError(f"{where}: t_end must be > 0, got {t_end!r}")
    if t.size and (t[0] < 0 or t[-1] > t_end * (1 + 1e-12)):
        raise ParticlesError(
            f"{where}: save times [{t[0]:g}, {t[-1]:g}] lie outside the run's [0, t_end = {t_end:g}]"
        )


@dataclass
class Trajectory:
    """Saved states of a simulation.

    - ``t`` (T,): save times; ``x`` (T, n, d): the states at those times: positions on the sphere,
      or for the residual-stream schemes (``norm="pre"``, ``"peri"``, ``"mix"`` after its switch)
      the stream h in R^d, whose directions are :attr:`theta` and norms :meth:`radii`; for a
      trajectory read from a zarr store, a :class:`particles.storage.zarr.Frames` read on demand;
    - ``dynamics``: the :class:`Dynamics` (or :class:`Piecewise`) that produced them;
    - ``method``: integrator name; ``stats``: step statistics (nfev, nsteps, wall time, drift);
    - ``meta``: everything else needed to reproduce the run (seed, dt, rtol, atol, t_end, ...).
    """

    t: np.ndarray
    x: np.ndarray
    dynamics: Dynamics | Piecewise
    method: str
    stats: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.validate("Trajectory")

    @property
    def n(self) -> int:
        return self.x.shape[1]

    @property
    def d(self) -> int:
        return self.x.shape[2]

    @property
    def final(self) -> np.ndarray:
        """The last saved state, shape (n, d)."""
        return self.require_states().x[-1]

    def require_states(self) -> Trajectory:
        """``self`` if it holds a saved state, else a clear error: a checkpoint written before
        the run's first save time holds none."""
        if self.t.size == 0:
            raise ParticlesError(
                "the trajectory holds no saved state yet (its run stopped before the first save "
                "time); continue it with simulate(..., resume=True) (CLI: simulate --resume)"
            )
        return self

    @property
    def on_sphere(self) -> bool:
        """Whether every saved state is on the unit sphere (no scheme with a residual stream)."""
        dyn = self.dynamics
        segs = [d for d, _ in dyn.segments] if isinstance(dyn, Piecewise) else [dyn]
        return all(d.on_sphere for d in segs)

    @property
    def theta(self) -> np.ndarray:
        """The token directions θ_i = x_i / |x_i| at every saved time, (T, n, d): ``x`` itself
        when the states are on the sphere; what every clustering analysis reads."""
        if self.on_sphere:
            return self.x
        if getattr(self.x, "lazy", False):  # a store: normalised as the states are read
            return self.x.normalized()
        from ..model.sphere import normalize

        return normalize(self.x)

    def radii(self) -> np.ndarray:
        """|x_i| at every saved time, (T, n): 1 on the sphere, the growing radius of Pre-LN."""
        if getattr(self.x, "lazy", False):  # a store: one saved state at a time
            return np.array([np.linalg.norm(x, axis=-1) for x in self.x]).reshape(len(self.x), -1)
        return np.linalg.norm(self.x, axis=-1)

    @property
    def complete(self) -> bool:
        """False for a partial trajectory (a checkpoint of an interrupted run)."""
        c = self.meta.get("complete", True)
        if not isinstance(c, (bool, np.bool_)):
            raise ParticlesError(f"complete must be True or False, got {c!r}")
        return bool(c)

    def beta(self) -> float:
        dyn = self.dynamics
        return dyn.segments[0][0].beta if isinstance(dyn, Piecewise) else dyn.beta

    def energy(self) -> np.ndarray:
        """E_beta at every saved time, shape (T,)."""
        from ..analysis.energy import energy

        dyn = self.dynamics
        return np.array(
            [
                energy(x, (dyn.at(t) if isinstance(dyn, Piecewise) else dyn).beta)
                for t, x in zip(self.t, self.theta, strict=True)
            ]
        )

    def show(self, **options):
        """The interactive view of the run (plotly; the ``view`` extra): the particles on the sphere
        (d = 3, turned by the mouse), the circle (d = 2) or a projection (d > 3), coloured by
        cluster, with a time slider and a play button. Jupyter displays the returned
        ``plotly.graph_objects.Figure`` inline; ``options`` are those of
        :func:`particles.plotting.viewer.states_figure` (``delta``, ``max_frames``,
        ``max_particles``, ``coords``, ``pca_time``, ``tokens``, ``title``)."""
        from ..plotting.viewer import trajectory_figure

        return trajectory_figure(self, **options)

    def to_xarray(self):
        """An ``xarray.Dataset``: ``x`` over (t, particle, coordinate), the parameters as attributes.

        Lazy (dask) for a trajectory read from a zarr store. Needs xarray (the ``zarr`` extra).
        """
        return store.to_xarray(self)

    def summary(self, delta: float | None = None) -> dict:
        """A JSON-able record of the run: size, dynamics (:meth:`Dynamics.describe`), integrator,
        seed, saved times, cost, and the final cluster state at threshold ``delta`` (clusters are
        the connected components of <x_i, x_j> > 1 - delta; default
        :data:`particles.analysis.clusters.DEFAULT_DELTA`)."""
        from ..analysis.clusters import DEFAULT_DELTA, _check_delta, count_clusters
        from ..analysis.energy import mean_inner_product, min_inner_product

        delta = _check_delta(DEFAULT_DELTA if delta is None else delta)
        # the directions (the stream itself is off the sphere for Pre-LN); none in a checkpoint
        # written before the first save time
        x = self.theta[-1] if self.t.size else None
        return {
            "n": self.n,
            "d": self.d,
            "method": self.method,
            "complete": self.complete,
            "t_saved": [float(self.t[0]), float(self.t[-1])] if self.t.size else None,
            "saved_times": int(self.t.size),
            "dynamics": self.dynamics.describe(),
            "seed": self.meta.get("seed"),
            **({"noise_seed": self.meta["noise_seed"]} if "noise_seed" in self.meta else {}),
            "dt": self.meta.get("dt"),
            "rtol": self.meta.get("rtol"),
            "atol": self.meta.get("atol"),
            "version": self.meta.get("version"),
            "stats": self.stats,
            "final": None  # no saved state yet (a checkpoint written before the first save)
            if x is None
            else {
                "delta": delta,
                "n_clusters": int(count_clusters(x, delta)),
                "min_inner_product": min_inner_product(x),
                "mean_inner_product": mean_inner_product(x),
            },
        }

    def at(self, time: float) -> np.ndarray:
        """The saved state closest to ``time`` (h itself for a residual stream)."""
        from ..errors import finite

        time = finite(time, "time")
        return self.require_states().x[int(np.argmin(np.abs(self.t - time)))]

    def validate(self, where: str = "trajectory") -> Trajectory:
        """``self`` if it is consistent, else a :class:`ParticlesError` naming ``where``: t (T,)
        finite and strictly increasing, x (T, n, d) real and finite with n >= 1, d >= 2 (on the
        unit sphere within :data:`SPHERE_TOL` for the schemes that keep it there), dynamics that
        act on dimension d, ``method`` a string, typed ``meta`` and ``stats``
        (:func:`check_meta`). A store's states are checked as they are read."""
        if not isinstance(self.dynamics, (Dynamics, Piecewise)):
            raise ParticlesError(f"{where}: dynamics must be a Dynamics or a Piecewise")
        if not isinstance(self.method, str):
            raise ParticlesError(f"{where}: method must be a string, got {self.method!r}")
        check_meta(self.meta, self.stats, where)
        t = check_times(self.t, where)
        check_run_times(t, self.meta, where)
        lazy = getattr(self.x, "lazy", False)
        if not lazy:
            self.x = _as_array(self.x, where, "the states x")
        shape = tuple(self.x.shape)
        if len(shape) != 3 or shape[0] != t.shape[0] or shape[1] < 1 or shape[2] < 2:
            raise ParticlesError(
                f"{where}: inconsistent shapes: t {t.shape}, x {shape} (x must be (T, n, d) with "
                "T = len(t), n >= 1, d >= 2)"
            )
        for k in ("n", "d"):
            v = self.meta.get(k)
            if v is not None and v != shape[1 if k == "n" else 2]:
                raise ParticlesError(f"{where}: meta {k} = {v} but x has shape {shape}")
        try:
            self.dynamics.check_dimension(shape[2])
        except ParticlesError as e:
            raise ParticlesError(f"{where}: {e}") from None
        if not lazy:
            x = check_states(self.x, where, self.on_sphere)
            if x is not self.x:
                self.x = x
        if t is not self.t:
            self.t = t
        return self

    def check_all(self) -> Trajectory:
        """``self`` after reading every saved state once (a store's states are checked as they are
        read, :meth:`validate`), in blocks of bounded memory: a corrupted or missing chunk
        anywhere in a store is found here. An in-memory trajectory was checked when loaded."""
        if getattr(self.x, "lazy", False):
            for _ in self.x.blocks():
                pass
        return self

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` file, or a zarr trajectory store for a ``*.zarr`` path (frame by frame).
        An inconsistent trajectory is refused (:meth:`validate`): what is written can be loaded."""
        self.validate(f"cannot save {path}")
        if _is_store(path):
            return store.save(self, path)
        dmeta, darrays = dynamics_to_record(self.dynamics)
        meta = {
            "format": FORMAT,
            "method": self.method,
            "n": self.n,
            "d": self.d,
            "dynamics": dmeta,
            "stats": self.stats,
            **{k: v for k, v in self.meta.items() if k not in ("format", "dynamics", "stats")},
        }
        return io.save_npz(path, {"t": self.t, "x": self.x, **darrays}, meta)

    @classmethod
    def load(cls, path: str | Path) -> Trajectory:
        """Read an ``.npz`` file, or open a zarr trajectory store (``*.zarr``) lazily: ``x`` is then
        a :class:`particles.storage.zarr.Frames` that reads the saved states on demand.

        The file is validated as strictly as an argument (:meth:`validate`; the arrays' sizes from
        their headers before anything is read): a file that is inconsistent, holds NaN, states
        off the sphere for a scheme on it, or mistyped metadata is refused with one
        :class:`ParticlesError` line. A store's states are checked as they are read
        (:meth:`check_all` reads them all)."""
        if _is_store(path):
            st = store.TrajectoryStore.open(path)
            return cls(**st.fields()).validate(f"{st.path}: corrupted trajectory store")
        arrays, meta = io.load_npz(path, FORMAT)
        for k in ("t", "x", "dynamics", "method"):
            if k not in (arrays if k in ("t", "x") else meta):
                raise ParticlesError(f"{path}: corrupted trajectory file (no {k!r})")
        try:
            dyn = dynamics_from_record(meta["dynamics"], arrays)
        except ParticlesError as e:
            raise ParticlesError(f"{path}: corrupted trajectory file: {e}") from None
        extra = {k: v for k, v in meta.items() if k not in ("dynamics", "stats", "method")}
        traj = cls(
            t=arrays["t"],
            x=arrays["x"],
            dynamics=dyn,
            method=meta["method"],
            stats=meta.get("stats", {}),
            meta=extra,
        )
        return traj.validate(f"{path}: corrupted trajectory file")
