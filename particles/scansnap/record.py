"""One training run turned into a result record (arrays + metadata) for ``particles.storage.npz``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import ParticlesError, count, real_array
from .data import SyntheticTask, TextTask, load_text
from .measure import common_mass, distinct_entropy, distinct_order, max_weight, snap_time
from .model import TrainConfig, attention_weights, train

__all__ = [
    "TRAIN_FORMAT",
    "default_record_every",
    "make_task",
    "position_entropy",
    "probe_attention",
    "probe_positions",
    "train_record",
    "train_run",
]

TRAIN_FORMAT = "scansnap_train"


def probe_positions(task: TextTask, num: int) -> np.ndarray:
    """``num`` query positions spread evenly over the text (fixed, for attention maps)."""
    num = count(num, "num")
    lo, hi = task.context_len, len(task.ids) - 2
    return np.unique(np.linspace(lo, hi, num).round().astype(np.int64))


def probe_attention(task: TextTask, Zs, positions) -> np.ndarray:
    """Attention over context positions ``[R, P, T]`` of the probe samples at each snapshot Z."""
    ctx, q, _ = task.sequences_at(positions)
    Zs = np.asarray(Zs, dtype=np.float64)
    if Zs.ndim == 2:
        Zs = Zs[None]
    return np.array([attention_weights(Z, ctx, q) for Z in Zs])


def position_entropy(weights) -> np.ndarray:
    """Entropy (nats) of attention rows over positions, averaged over the last-but-one axis."""
    w = real_array(weights, "weights", finite=True)
    if w.ndim < 2 or w.size == 0 or np.any(w < 0) or np.any(w > 1):
        raise ParticlesError("weights must be attention rows [..., B, T] with entries in [0, 1]")
    h = -np.sum(np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0), axis=-1)
    return h.mean(axis=-1)


def train_record(
    task: SyntheticTask | TextTask,
    config: TrainConfig,
    seed: int,
    *,
    progress: bool = False,
    num_probes: int = 12,
) -> tuple[dict[str, np.ndarray], dict]:
    """Train one run and return ``(arrays, meta)`` ready for :func:`particles.storage.npz.save_npz`.

    Synthetic arrays: ``loss [iters]``, ``steps [R]``, ``c [R, K, M]``, ``Z``, ``Y`` ``[R, M, M]``,
    ``probs [K, M]`` (P(l|n)), ``kinds [M]`` ('common'/'distinct'/'query'/'next'),
    ``common [R, K]``, ``entropy [R]`` (distinct-token entropy). Text arrays: ``loss``, ``steps``,
    ``Z``, ``Y``, ``vocab [V]``, ``probe_positions [P]``, ``probe_contexts [P, T]``,
    ``probe_attention [R, P, T]``, ``position_entropy [R]``. ``meta["numbers"]`` holds the
    summary numbers.
    """
    res = train(task, config, seed, progress=progress)
    arrays = res.arrays()
    meta = {"format": TRAIN_FORMAT, "seed": seed, "task": task.meta(), "train": config.meta()}
    loss0 = float(res.loss[0]) if res.loss.size else float("nan")
    numbers = {"initial_loss": loss0, "log_vocab": float(np.log(task.vocab_size))}
    if res.loss.size:
        numbers["final_loss"] = float(np.mean(res.loss[-10:]))
    if isinstance(task, SyntheticTask):
        cm = common_mass(res.c, task)
        arrays.update(
            probs=np.asarray(task.probs),
            kinds=task.kinds,
            common=cm,
            entropy=distinct_entropy(res.c, task),
        )
        numbers.update(
            common_initial=float(cm[0].mean()),
            common_final=float(cm[-1].mean()),
            max_weight=float(max_weight(res.c[-1], task).max()),
            tau=distinct_order(res.Z[-1], task),
            snap_time=snap_time(res.c, res.steps),
            entropy_final=float(arrays["entropy"][-1]),
        )
    else:
        pos = probe_positions(task, num_probes)
        ctx, _, _ = task.sequences_at(pos)
        att = probe_attention(task, res.Z, pos)
        arrays.update(
            vocab=np.array(task.vocab),
            probe_positions=pos,
            probe_contexts=ctx,
            probe_attention=att,
            position_entropy=position_entropy(att),
        )
        numbers.update(
            position_entropy_initial=float(arrays["position_entropy"][0]),
            position_entropy_final=float(arrays["position_entropy"][-1]),
        )
    meta["numbers"] = numbers
    return arrays, meta


_SYNTHETIC_ONLY = ("num_classes", "classes_per_query", "num_common", "num_distinct")


def make_task(text=None, **options) -> SyntheticTask | TextTask:
    """The training task: with ``text`` (a shipped passage name or a file, read by
    :func:`load_text`) a :class:`TextTask` (options ``vocab_size``, ``context_len``), else a
    :class:`SyntheticTask` (options ``num_classes``, ``classes_per_query``, ``num_common``,
    ``num_distinct``, ``context_len``). Options that are None take the task's defaults; an
    option of the other mode is an error."""
    options = {k: v for k, v in options.items() if v is not None}
    if text is not None:
        wrong = [k for k in options if k in _SYNTHETIC_ONLY]
        if wrong:
            raise ParticlesError(f"{', '.join(wrong)}: options of the synthetic task, not of text")
        return TextTask(text=load_text(text), **options)
    if "vocab_size" in options:
        raise ParticlesError("vocab_size is an option of the text mode (give a text)")
    return SyntheticTask(**options)


def default_record_every(task: SyntheticTask | TextTask, iters: int) -> int:
    """Snapshot period when none is given: every step for the synthetic task (the snap is fast),
    a tenth of the run for a text (its Z and Y are vocab_size x vocab_size)."""
    return max(1, iters // 10) if isinstance(task, TextTask) else 1


def train_run(
    seed: int,
    *,
    text=None,
    task_options: dict | None = None,
    config_options: dict | None = None,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict]:
    """One run from options as the command line gives them (None: the library's default):
    the task :func:`make_task` ``(text, **task_options)``, the SGD settings
    ``TrainConfig(**config_options)`` (``record_every`` by :func:`default_record_every`), trained
    by :func:`train_record`; ``meta["text"]`` names the text's source in text mode."""
    task = make_task(text, **(task_options or {}))
    opts = {k: v for k, v in (config_options or {}).items() if v is not None}
    config = TrainConfig(**opts)
    if "record_every" not in opts:
        config = replace(config, record_every=default_record_every(task, config.iters))
    arrays, meta = train_record(task, config, seed, progress=progress)
    if text is not None:
        meta["text"] = str(text)
    return arrays, meta
