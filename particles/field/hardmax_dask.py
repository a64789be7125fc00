"""Hardmax attention (beta = inf) in row blocks: the unit of work of the distributed field.

Hardmax is row-local once every column is known: row i of head h is the mean of V_h x_j over the
maximisers j of <Q_h x_i, K_h x_j> (:mod:`particles.field.hardmax`), whose tie tolerance
tau_i = TIE_RTOL |q_i| max_l |k_l| needs the largest key of all n columns and nothing else. A block
of rows r0:r1 therefore needs the whole state x (which :mod:`particles.field.dask` sends to every
worker once per evaluation) and no reduction across workers.

:func:`block` computes rows r0:r1 of the hardmax part of :func:`particles.field.raw_field` (every
head, no feed-forward term, no projection) with the local evaluation's own row tiles, column tiles,
GEMM slices and kernel calls (``hardmax.attention(..., rows=(r0, r1))``), so the blocks put together
are the local result to the last bit when the workers run the requesting process's OpenBLAS kernel
(as for the softmax blocks, :mod:`particles.field.rows`). Blocks are aligned with the local row
tiles (:func:`alignment`). The maximisers and their tie sets are therefore exactly the local ones.

:mod:`particles.field.dask` only dispatches here (``dyn.hardmax``); the projection and the
feed-forward term are added by the requester, as for every other field.
"""

from __future__ import annotations

import numpy as np

from .. import config
from ..model.params import Dynamics
from . import hardmax, inputs


def alignment(n: int) -> int:
    """Row blocks start at multiples of the local hardmax row tile (and end there or at n)."""
    return max(1, min(int(n), hardmax.TILE_ROWS))


def block(x: np.ndarray, dyn: Dynamics, r0: int, r1: int) -> np.ndarray:
    """Rows r0:r1 (aligned, :func:`alignment`) of the hardmax attention at the validated x (n, d):
    sum over heads of the maximisers' mean of the values, as :func:`particles.field.raw_field`
    computes them without the feed-forward term. Shape (r1 - r0, d), x's dtype."""
    # an array unpickled on a worker may be unaligned; numpy would then copy it into another
    # layout for its GEMMs (particles.field.rows): take the aligned copy the local path has
    x = np.require(x, requirements=["C", "A"])
    acc = np.zeros((r1 - r0, x.shape[1]), dtype=x.dtype)
    with config.blas_threads(1):
        for h in range(dyn.heads):
            q, k, vals, scale = inputs.head_inputs(x, dyn, h)
            part = hardmax.attention(q, k, vals, causal=dyn.causal, rows=(r0, r1))
            inputs.add_head(acc, part, scale)
    return acc
