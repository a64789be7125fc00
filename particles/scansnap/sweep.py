"""Resumable learning-rate sweeps (the authors' Fig. 6 grid and the snap-time study).

Every run (K, η_Z, η_Y/η_Z, seed) writes one small file ``<outdir>/<name>.npz`` through
:func:`particles.storage.npz.save_npz` (atomic); a rerun loads the finished files and trains only the
missing (or unreadable) ones. :func:`run_sweep` returns the grid of summary numbers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import ParticlesError, count
from ..storage.npz import check_writable, load_npz, results_dir, save_npz
from .data import SyntheticTask
from .measure import common_mass, distinct_entropy, distinct_order, max_weight, snap_time
from .model import TrainConfig, train

__all__ = [
    "SWEEP_FIELDS",
    "SweepGrid",
    "entropy_report",
    "fig6_grid",
    "figure_sweep",
    "run_one",
    "run_sweep",
    "save_summary",
    "summary_path",
    "sweep_arrays",
]

RUN_FORMAT = "scansnap_run"
SWEEP_FORMAT = "scansnap_sweep"
#: per-run summary numbers collected into the sweep's arrays
SWEEP_FIELDS = ("entropy", "common", "max_weight", "tau", "snap_time", "final_loss")


def _tuple(name, values, kind):
    try:
        vals = tuple(kind(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        raise ParticlesError(f"{name} must be a list of numbers, got {values!r}") from None
    if not vals:
        raise ParticlesError(f"{name} must not be empty")
    if len(set(vals)) != len(vals):
        raise ParticlesError(f"{name} has repeated values: {vals}")
    return vals


@dataclass(frozen=True, kw_only=True)
class SweepGrid:
    """The grid of a sweep: classes × eta_z × ratio × seeds, other settings fixed.

    Defaults are the authors' Fig. 6: K ∈ {2, 6, 10, 20} with 2 classes per query,
    η_Z ∈ {0.5, 1, 2, 3}, η_Y/η_Z ∈ {1, 2, 5, 10}, seeds 1..10, random init, 100 steps.
    """

    classes: tuple = (2, 6, 10, 20)
    eta_z: tuple = (0.5, 1.0, 2.0, 3.0)
    ratio: tuple = (1.0, 2.0, 5.0, 10.0)
    seeds: tuple = tuple(range(1, 11))
    classes_per_query: int = 2
    context_len: int = 127
    config: TrainConfig = TrainConfig(init="random", iters=100)

    def __post_init__(self):
        object.__setattr__(self, "classes", _tuple("classes", self.classes, int))
        object.__setattr__(self, "eta_z", _tuple("eta_z", self.eta_z, float))
        object.__setattr__(self, "ratio", _tuple("ratio", self.ratio, float))
        object.__setattr__(self, "seeds", _tuple("seeds", self.seeds, int))
        if not isinstance(self.config, TrainConfig):
            raise ParticlesError("config must be a TrainConfig")
        for s in self.seeds:
            count(s, "seeds", 0)
        for k in self.classes:  # validates K, classes_per_query, context_len
            self.task(k)
        for ez, r in itertools.product(self.eta_z, self.ratio):  # validates the rates
            replace(self.config, eta_z=ez, ratio=r)

    @classmethod
    def from_options(cls, **options) -> SweepGrid:
        """A grid from flat options (None: the default): the grid's own fields and the
        :class:`TrainConfig` fields of its ``config`` (replacing those of the default config)."""
        options = {k: v for k, v in options.items() if v is not None}
        own = {f.name for f in fields(cls)}
        grid = {k: v for k, v in options.items() if k in own}
        train = {k: v for k, v in options.items() if k not in own}
        config = grid.pop("config", cls.__dataclass_fields__["config"].default)
        try:
            config = replace(config, **train)
        except TypeError as e:
            raise ParticlesError(f"not an option of a sweep: {e}") from None
        return cls(**grid, config=config)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.classes), len(self.eta_z), len(self.ratio), len(self.seeds))

    def task(self, k: int) -> SyntheticTask:
        return SyntheticTask(
            num_classes=k, classes_per_query=self.classes_per_query, context_len=self.context_len
        )

    def runs(self):
        """Yield ``(index, K, eta_z, ratio, seed)`` over the whole grid."""
        for idx in np.ndindex(*self.shape):
            i, j, k, s = idx
            yield idx, self.classes[i], self.eta_z[j], self.ratio[k], self.seeds[s]

    def meta(self) -> dict:
        return {
            "classes": list(self.classes),
            "eta_z": list(self.eta_z),
            "ratio": list(self.ratio),
            "seeds": list(self.seeds),
            "classes_per_query": self.classes_per_query,
            "context_len": self.context_len,
            **{
                f"train_{k}": v
                for k, v in self.config.meta().items()
                if k not in ("eta_z", "eta_y", "ratio")
            },
        }


def _run_name(k: int, eta_z: float, ratio: float, seed: int) -> str:
    return f"K{k}_ez{eta_z:g}_r{ratio:g}_s{seed}.npz"


def run_one(task: SyntheticTask, config: TrainConfig, seed: int) -> tuple[dict, dict]:
    """Train one run and return ``(arrays, numbers)``: small trajectories and summary numbers."""
    res = train(task, config, seed, keep_weights=False)
    cm = common_mass(res.c, task)
    arrays = {
        "loss": res.loss,
        "steps": res.steps,
        "common": cm,
        "entropy": distinct_entropy(res.c, task),
        "c_final": res.c[-1],
    }
    numbers = {
        "entropy": float(arrays["entropy"][-1]),
        "common": float(cm[-1].mean()),
        "max_weight": float(max_weight(res.c[-1], task).max()),
        "tau": distinct_order(res.Z[-1], task),
        "snap_time": snap_time(res.c, res.steps),
        "final_loss": float(np.mean(res.loss[-10:])) if res.loss.size else float("nan"),
    }
    return arrays, numbers


def _load_done(path: Path, expect: dict) -> dict | None:
    if not path.exists():
        return None
    try:
        _, meta = load_npz(path, RUN_FORMAT)
    except ParticlesError:
        return None  # unreadable (e.g. killed mid-write by an older tool): run again
    if any(meta.get(k) != v for k, v in expect.items()):
        raise ParticlesError(
            f"{path} was made with other settings; use another --outdir or delete it"
        )
    return meta["numbers"]


def run_sweep(grid: SweepGrid, outdir: str | Path, *, progress: bool = True) -> dict:
    """Run (or resume) the sweep into ``outdir``; returns arrays of shape ``grid.shape``.

    The result dict holds one array per name in :data:`SWEEP_FIELDS`, the grid axes
    (``classes``, ``eta_z``, ``ratio``, ``seeds``) and ``n_run``/``n_skipped``.
    """
    if not isinstance(grid, SweepGrid):
        raise ParticlesError("grid must be a SweepGrid")
    with results_dir(outdir, "run directory") as outdir:
        return _run_grid(grid, outdir, progress)


def _run_grid(grid: SweepGrid, outdir: Path, progress: bool) -> dict:
    out = {f: np.full(grid.shape, np.nan) for f in SWEEP_FIELDS}
    n_run = n_skip = 0
    runs = list(grid.runs())
    for idx, k, ez, r, seed in tqdm(runs, disable=not progress, desc="scansnap sweep"):
        task = grid.task(k)
        config = replace(grid.config, eta_z=ez, ratio=r)
        expect = {"task": task.meta(), "train": config.meta(), "seed": seed}
        path = outdir / _run_name(k, ez, r, seed)
        numbers = _load_done(path, expect)
        if numbers is None:
            arrays, numbers = run_one(task, config, seed)
            save_npz(path, arrays, {"format": RUN_FORMAT, **expect, "numbers": numbers})
            n_run += 1
        else:
            n_skip += 1
        for f in SWEEP_FIELDS:
            out[f][idx] = numbers[f]
    out.update(
        classes=np.array(grid.classes),
        eta_z=np.array(grid.eta_z),
        ratio=np.array(grid.ratio),
        seeds=np.array(grid.seeds),
        n_run=n_run,
        n_skipped=n_skip,
    )
    return out


def sweep_arrays(result: dict, fields: tuple[str, ...] = SWEEP_FIELDS) -> dict:
    """The arrays of :func:`run_sweep`'s ``result``: the summary numbers ``fields`` and the grid
    axes (the run counts left out)."""
    return {k: result[k] for k in (*fields, "classes", "eta_z", "ratio", "seeds")}


def fig6_grid(quick: bool = False) -> SweepGrid:
    """The authors' Fig. 6 grid (:class:`SweepGrid`'s defaults); ``quick``: K = 2, two η_Z, two
    η_Y/η_Z, two seeds, 30 steps (seconds)."""
    if not quick:
        return SweepGrid()
    return SweepGrid(
        classes=(2,),
        eta_z=(0.5, 3.0),
        ratio=(1.0, 10.0),
        seeds=(1, 2),
        config=TrainConfig(init="random", iters=30),
    )


def figure_sweep(grid: SweepGrid, outdir, stem: str, quick: bool) -> dict:
    """:func:`run_sweep` for the figure ``stem``: the runs go to
    ``<outdir>/scansnap_runs/<stem>[_quick]`` (a rerun skips them); a progress bar unless
    ``quick``."""
    runs = Path(outdir) / "scansnap_runs" / (stem + ("_quick" if quick else ""))
    return run_sweep(grid, runs, progress=not quick)


def summary_path(outdir, path=None) -> Path:
    """Where :func:`save_summary` writes (``path``, default ``<outdir>/summary.npz``), checked: a
    ``.npz`` name in an existing directory (``outdir`` itself may not exist yet). Call it before
    a long sweep."""
    if path is None:
        return Path(outdir) / "summary.npz"
    return check_writable(path, "summary", ".npz")


def save_summary(result: dict, grid: SweepGrid, outdir, path=None) -> Path:
    """Save the arrays of :func:`run_sweep`'s ``result`` (its run counts left out) with the grid's
    settings to ``path`` (default ``<outdir>/summary.npz``); returns the path."""
    path = summary_path(outdir, path)
    return save_npz(path, sweep_arrays(result), {"format": SWEEP_FORMAT, **grid.meta()})


def entropy_report(result: dict, grid: SweepGrid) -> str:
    """One line per (K, eta_z): the final distinct-token entropy, mean over seeds, for each
    eta_y/eta_z."""
    ent = np.asarray(result["entropy"]).mean(axis=-1)
    lines = []
    for i, k in enumerate(grid.classes):
        for j, ez in enumerate(grid.eta_z):
            vals = " ".join(f"{v:.3f}" for v in ent[i, j])
            lines.append(f"K={k} eta_z={ez:g}: entropy vs ratio {list(grid.ratio)}: {vals}")
    return "\n".join(lines)
