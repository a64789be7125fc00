"""The result of a simulation and its ``.npz`` file format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import io
from .errors import ParticlesError
from .params import Dynamics, Piecewise

FORMAT = "trajectory"


def dynamics_to_record(dyn: Dynamics | Piecewise) -> tuple[dict, dict]:
    """(metadata, arrays) for a Dynamics or a Piecewise schedule."""
    if isinstance(dyn, Piecewise):
        segs, arrays = [], {}
        for k, (d, dur) in enumerate(dyn.segments):
            meta, arr = d.to_record(prefix=f"seg{k}_")
            segs.append({"duration": dur, **meta})
            arrays.update(arr)
        return {"piecewise": segs}, arrays
    return dyn.to_record(prefix="dyn_")


def dynamics_from_record(meta: dict, arrays: dict) -> Dynamics | Piecewise:
    if "piecewise" in meta:
        segs = [
            (Dynamics.from_record(m, arrays, prefix=f"seg{k}_"), m["duration"])
            for k, m in enumerate(meta["piecewise"])
        ]
        return Piecewise(segments=segs)
    return Dynamics.from_record(meta, arrays, prefix="dyn_")


def _is_store(path) -> bool:
    """A zarr trajectory store: a ``*.zarr`` path, or an existing directory that is one."""
    p = Path(path)
    return p.suffix == ".zarr" or (p.is_dir() and (p / "zarr.json").exists())


@dataclass
class Trajectory:
    """Saved states of a simulation.

    - ``t`` (T,): save times; ``x`` (T, n, d): the states at those times: positions on the sphere,
      or for the residual-stream schemes (``norm="pre"``, ``"peri"``, ``"mix"`` after its switch)
      the stream h in R^d, whose directions are :attr:`theta` and norms :meth:`radii`; for a
      trajectory read from a zarr store, a :class:`particles.store.Frames` read on demand;
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
        from .sphere import normalize

        return normalize(self.x)

    def radii(self) -> np.ndarray:
        """|x_i| at every saved time, (T, n): 1 on the sphere, the growing radius of Pre-LN."""
        if getattr(self.x, "lazy", False):  # a store: one saved state at a time
            return np.array([np.linalg.norm(x, axis=-1) for x in self.x]).reshape(len(self.x), -1)
        return np.linalg.norm(self.x, axis=-1)

    @property
    def complete(self) -> bool:
        """False for a partial trajectory (a checkpoint of an interrupted run)."""
        return bool(self.meta.get("complete", True))

    def beta(self) -> float:
        dyn = self.dynamics
        return dyn.segments[0][0].beta if isinstance(dyn, Piecewise) else dyn.beta

    def energy(self) -> np.ndarray:
        """E_beta at every saved time, shape (T,)."""
        from .analysis.energy import energy

        dyn = self.dynamics
        return np.array(
            [
                energy(x, (dyn.at(t) if isinstance(dyn, Piecewise) else dyn).beta)
                for t, x in zip(self.t, self.theta, strict=True)
            ]
        )

    def to_xarray(self):
        """An ``xarray.Dataset``: ``x`` over (t, particle, coordinate), the parameters as attributes.

        Lazy (dask) for a trajectory read from a zarr store. Needs xarray (the ``zarr`` extra).
        """
        from .store import to_xarray

        return to_xarray(self)

    def summary(self, delta: float | None = None) -> dict:
        """A JSON-able record of the run: size, dynamics (:meth:`Dynamics.describe`), integrator,
        seed, saved times, cost, and the final cluster state at threshold ``delta`` (clusters are
        the connected components of <x_i, x_j> > 1 - delta; default
        :data:`particles.analysis.clusters.DEFAULT_DELTA`)."""
        from .analysis.clusters import DEFAULT_DELTA, _check_delta, count_clusters
        from .analysis.energy import mean_inner_product, min_inner_product

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
        return self.x[int(np.argmin(np.abs(self.t - time)))]

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` file, or a zarr trajectory store for a ``*.zarr`` path (frame by frame)."""
        if _is_store(path):
            from . import store

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
        a :class:`particles.store.Frames` that reads the saved states on demand."""
        if _is_store(path):
            from . import store

            return store.load(path)
        arrays, meta = io.load_npz(path, FORMAT)
        try:
            t, x = arrays["t"], arrays["x"]
            if t.ndim != 1 or x.ndim != 3 or x.shape[0] != t.shape[0]:
                raise ValueError(f"inconsistent shapes t {t.shape}, x {x.shape}")
            dyn = dynamics_from_record(meta["dynamics"], arrays)
            method = meta["method"]
        except (KeyError, ValueError, TypeError) as e:
            raise ParticlesError(f"{path}: corrupted trajectory file ({e})") from None
        extra = {k: v for k, v in meta.items() if k not in ("dynamics", "stats", "method")}
        return cls(t=t, x=x, dynamics=dyn, method=method, stats=meta.get("stats", {}), meta=extra)
