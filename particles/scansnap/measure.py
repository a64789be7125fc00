"""Measurements of arXiv 2305.16380's claims on class attentions c (``[..., K, M]``) and logits Z.

- :func:`common_mass`: Σ_{l common} c_{l|n} (discriminative bias: it falls);
- :func:`distinct_order`: Kendall's τ between z_{ψ(n) l} and P(l|n) over n's distinct tokens
  (frequency bias: τ → 1);
- :func:`distinct_entropy`: entropy (nats) of c_n restricted to n's distinct tokens and
  renormalised, averaged over classes (the quantity of the authors' Fig. 6);
- :func:`snap_time`: the step after which c stays within ``frac`` of its total change.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParticlesError, finite, real_array
from .data import SyntheticTask
from .model import _check_task

__all__ = [
    "common_mass",
    "distinct_entropy",
    "distinct_order",
    "kendall_tau",
    "max_weight",
    "snap_time",
]


def _c(c, task):
    _check_task(task)
    c = real_array(c, "c", finite=True)
    if c.ndim < 2 or c.shape[-2:] != (task.num_classes, task.vocab_size):
        raise ParticlesError(
            f"c must have shape [..., {task.num_classes}, {task.vocab_size}], got {c.shape}"
        )
    if np.any(c < 0) or np.any(c > 1):
        raise ParticlesError("c holds attention weights: its entries must lie in [0, 1]")
    return c


def common_mass(c, task: SyntheticTask) -> np.ndarray:
    """Attention on common tokens per class, ``[..., K]``."""
    c = _c(c, task)
    return c[..., task.common_tokens].sum(axis=-1)


def max_weight(c, task: SyntheticTask) -> np.ndarray:
    """Largest single-token weight per class, ``[..., K]`` (1 = winner takes all)."""
    return _c(c, task).max(axis=-1)


def distinct_entropy(c, task: SyntheticTask) -> np.ndarray:
    """Mean over classes of the entropy (nats) of c_n on n's distinct tokens, renormalised."""
    c = _c(c, task)
    ent = []
    for k in range(task.num_classes):
        d = c[..., k, task.distinct_tokens(k)]
        d = d / d.sum(axis=-1, keepdims=True)
        ent.append(-np.sum(np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0), axis=-1))
    return np.mean(ent, axis=0)


def kendall_tau(a, b) -> float:
    """Kendall's τ-a of two 1-D arrays (0 when either is constant: no order yet)."""
    a, b = real_array(a, "a", finite=True), real_array(b, "b", finite=True)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ParticlesError("kendall_tau needs two 1-D arrays of the same length >= 2")
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    n = a.size
    return float(np.sum(np.triu(sa * sb, 1)) / (n * (n - 1) / 2))


def distinct_order(Z, task: SyntheticTask, *, atol: float = 1e-12) -> float:
    """Mean over classes of Kendall's τ between z_{ψ(n) l} and P(l|n) on n's distinct tokens.

    Logits closer than ``atol`` count as ties, so a zero-initialised Z scores 0.
    """
    _check_task(task)
    atol = finite(atol, "atol", ">= 0")
    Z = real_array(Z, "Z", finite=True)
    m = task.vocab_size
    if Z.shape != (m, m):
        raise ParticlesError(f"Z must have shape ({m}, {m}), got {Z.shape}")
    taus = []
    for k in range(task.num_classes):
        toks = task.distinct_tokens(k)
        z = Z[task.query_tokens[k], toks]
        if np.ptp(z) < atol:
            z = np.zeros_like(z)
        taus.append(kendall_tau(z, task.probs[k, toks]))
    return float(np.mean(taus))


def snap_time(c, steps, *, frac: float = 0.1) -> float:
    """First step s after which ||c(s') - c(end)||_1 <= frac ||c(0) - c(end)||_1 for all s' >= s.

    ``c`` is ``[R, ...]`` at increasing ``steps [R]``; the norm sums over everything but the
    first axis. Returns steps[0] if c never changes.
    """
    c = real_array(c, "c", finite=True)
    steps = real_array(steps, "steps", finite=True)
    frac = finite(frac, "frac", "(0, 1)")
    if c.ndim < 1 or steps.shape != (c.shape[0],) or c.shape[0] < 1:
        raise ParticlesError("snap_time needs c [R, ...] and steps [R] with R >= 1")
    finite(frac, "frac", "(0, 1)")
    d = np.abs(c - c[-1]).reshape(c.shape[0], -1).sum(axis=1)
    total = d[0]
    if total == 0:
        return float(steps[0])
    above = np.nonzero(d > frac * total)[0]
    return float(steps[above[-1] + 1]) if above.size else float(steps[0])
