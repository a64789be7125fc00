"""Time integration: one registry of methods (:mod:`.registry`), their step functions
(:mod:`.steps`), the scipy adapter (:mod:`.adaptive`), :func:`simulate` (:mod:`.integrate`) and its
parts: the checked run options (:mod:`.options`), the stepping loops (:mod:`.loop`), one saver per
destination (:mod:`.savers`: memory, ``.npz``, zarr store) and the driver (:mod:`.driver`), which
handles interrupts and checkpoints (:mod:`.checkpoint`) for all of them; and the batched ensembles
of many small systems (:mod:`.ensemble`).
"""

from .integrate import simulate

__all__ = ["simulate"]
