"""Time integration: one registry of methods (:mod:`.registry`), their step functions
(:mod:`.steps`), the scipy adapter (:mod:`.scipy`), :func:`simulate` (:mod:`.integrate`) with its
checkpoints (:mod:`.checkpoint`), and the batched ensembles of many small systems (:mod:`.ensemble`).
"""

from .integrate import simulate

__all__ = ["simulate"]
