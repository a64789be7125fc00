"""Scan and Snap (Tian, Wang, Chen, Du, arXiv 2305.16380): SGD dynamics of a 1-layer Transformer.

The inner roles every paper package shares:

============  ===============================================================================
model         :mod:`.data` (the paper's synthetic sequence classes, a real-text mode),
              :mod:`.model` (the paper's model and its analytic gradients)
train/solve   :mod:`.model` (SGD with momentum, separate η_Y, η_Z), :mod:`.reduced` (the
              long-sequence gradient flow, derived here; scipy ``solve_ivp``)
measure       :mod:`.measure`: common-token mass, distinct-token order and entropy, snap time
experiments   :mod:`.sweep` (resumable learning-rate sweeps), :mod:`.record` (a run as a result
              record for ``particles.storage.npz``)
plotting      :mod:`.plotting`: matplotlib helpers that draw on a given ``ax``
============  ===============================================================================
"""

from .data import (
    SyntheticTask,
    TextTask,
    builtin_texts,
    counts_from_sequences,
    load_text,
    tokenize,
)
from .measure import (
    common_mass,
    distinct_entropy,
    distinct_order,
    kendall_tau,
    max_weight,
    snap_time,
)
from .model import (
    TrainConfig,
    TrainResult,
    attention_weights,
    class_attention,
    forward,
    init_params,
    loss_and_grad,
    train,
)
from .record import (
    TRAIN_FORMAT,
    default_record_every,
    make_task,
    position_entropy,
    probe_attention,
    probe_positions,
    train_record,
    train_run,
)
from .reduced import ReducedSolution, integrate_reduced, reduced_field, reduced_loss
from .sweep import (
    SWEEP_FIELDS,
    SweepGrid,
    entropy_report,
    fig6_grid,
    figure_sweep,
    run_one,
    run_sweep,
    save_summary,
    summary_path,
    sweep_arrays,
)

__all__ = [
    "SWEEP_FIELDS",
    "TRAIN_FORMAT",
    "ReducedSolution",
    "SweepGrid",
    "position_entropy",
    "probe_attention",
    "probe_positions",
    "run_one",
    "run_sweep",
    "train_record",
    "train_run",
    "default_record_every",
    "make_task",
    "entropy_report",
    "save_summary",
    "summary_path",
    "sweep_arrays",
    "fig6_grid",
    "figure_sweep",
    "SyntheticTask",
    "TextTask",
    "TrainConfig",
    "TrainResult",
    "attention_weights",
    "builtin_texts",
    "class_attention",
    "common_mass",
    "counts_from_sequences",
    "distinct_entropy",
    "distinct_order",
    "forward",
    "init_params",
    "integrate_reduced",
    "kendall_tau",
    "load_text",
    "loss_and_grad",
    "max_weight",
    "reduced_field",
    "reduced_loss",
    "snap_time",
    "tokenize",
    "train",
]
