"""The 1-layer model of *Scan and Snap* (arXiv 2305.16380) and its SGD training (as the
authors' code, facebookresearch/luckmatters).

Shapes: ``Y [M, M_out]`` decoder (logits = Y^T f), ``Z [M, M]`` attention logits (row = query
m, column = key l), ``counts [B, M]`` context histograms, ``queries``/``targets`` ``[B]``.

Forward, for one sample with query m and histogram h (no positional encoding, so the
attention over positions, b_t ∝ exp(z_{m, x_t}), only depends on the histogram)::

    f~_l = h_l e^{z_ml} / sum_l' h_l' e^{z_ml'}     (attended bag of tokens, in the simplex)
    f    = f~ / ||f~||_2                             (the l2 "LayerNorm")
    loss = -log softmax(Y^T f)_n                     (cross-entropy on the next token n)

Gradients (delta = softmax - e_n, per sample, averaged over the batch)::

    dL/dY   = f delta^T
    dL/dz_m = (diag f~ - f~ f~^T) (I - f f^T) Y delta / ||f~||
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..errors import ParticlesError, count, finite, real_array
from ..resources import check_count, check_memory
from .data import SyntheticTask, TextTask, _ids, as_rng

__all__ = [
    "TrainConfig",
    "TrainResult",
    "attention_weights",
    "class_attention",
    "forward",
    "init_params",
    "loss_and_grad",
    "train",
]


def _softmax_rows(a: np.ndarray) -> np.ndarray:
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def _check_task(task) -> None:
    if not isinstance(task, (SyntheticTask, TextTask)):
        raise ParticlesError(f"task must be a SyntheticTask or TextTask, got {type(task).__name__}")


def _check_batch(Y, Z, counts, queries, targets=None):
    Y = real_array(Y, "Y", finite=True)
    Z = real_array(Z, "Z", finite=True)
    counts = real_array(counts, "counts", finite=True)
    queries = _ids(queries, "queries")
    m = Z.shape[0] if Z.ndim == 2 else -1
    if Z.ndim != 2 or Z.shape[1] != m or Y.ndim != 2 or Y.shape[0] != m:
        raise ParticlesError(f"need Z [M, M] and Y [M, M_out], got {Z.shape} and {Y.shape}")
    if counts.ndim != 2 or counts.shape[1] != m or queries.shape != (counts.shape[0],):
        raise ParticlesError(
            f"need counts [B, {m}] and queries [B], got {counts.shape} and {queries.shape}"
        )
    for name, a in (("Y", Y), ("Z", Z), ("counts", counts)):
        if np.max(np.abs(a), initial=0.0) > 1e150:
            raise ParticlesError(f"{name} has entries beyond 1e150: the logits overflow float64")
    if np.any(counts < 0) or np.any(counts.sum(axis=1) <= 0):
        raise ParticlesError("every context histogram must be non-negative and non-empty")
    if queries.size and (queries.min() < 0 or queries.max() >= m):
        raise ParticlesError(f"query ids must lie in [0, {m})")
    if targets is not None:
        targets = _ids(targets, "targets")
        if targets.shape != queries.shape or (
            targets.size and (targets.min() < 0 or targets.max() >= Y.shape[1])
        ):
            raise ParticlesError(f"targets must have shape [B] with ids in [0, {Y.shape[1]})")
    return Y, Z, counts, queries, targets


def _attend(Z, counts, queries):
    zq = Z[queries]
    a = np.where(counts > 0, zq, -np.inf)
    a = a - a.max(axis=1, keepdims=True)
    w = counts * np.exp(a)
    return w / w.sum(axis=1, keepdims=True)


def scatter_rows(index: np.ndarray, rows: np.ndarray, m: int) -> np.ndarray:
    """``out [m, M]`` with ``out[i] = sum of rows[b] over b with index[b] == i``.

    A one-hot matrix product: much faster than ``np.add.at`` for a few distinct indices.
    """
    uq, inv = np.unique(index, return_inverse=True)
    onehot = np.zeros((uq.size, index.size))
    onehot[inv, np.arange(index.size)] = 1.0
    out = np.zeros((m, rows.shape[1]))
    out[uq] = onehot @ rows
    return out


def forward(Y, Z, counts, queries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(f_tilde [B, M], f [B, M], logits [B, M_out])`` of the model on a batch."""
    Y, Z, counts, queries, _ = _check_batch(Y, Z, counts, queries)
    ft = _attend(Z, counts, queries)
    f = ft / np.linalg.norm(ft, axis=1, keepdims=True)
    return ft, f, f @ Y


def attention_weights(Z, contexts, queries) -> np.ndarray:
    """Attention over positions ``b [B, T]``, b_t ∝ exp(z_{m, x_t}), for explicit contexts."""
    Z = real_array(Z, "Z", finite=True)
    queries, contexts = _ids(queries, "queries"), _ids(contexts, "contexts")
    m = Z.shape[0] if Z.ndim == 2 else -1
    if Z.ndim != 2 or Z.shape[1] != m:
        raise ParticlesError(f"Z must have shape [M, M], got {Z.shape}")
    if queries.ndim != 1 or contexts.ndim != 2 or contexts.shape[0] != queries.shape[0]:
        raise ParticlesError(
            f"need contexts [B, T] and queries [B], got {contexts.shape} and {queries.shape}"
        )
    for name, ids in (("queries", queries), ("contexts", contexts)):
        if ids.size and (ids.min() < 0 or ids.max() >= m):
            raise ParticlesError(f"{name} ids must lie in [0, {m})")
    a = Z[queries[:, None], contexts]
    return _softmax_rows(a)


def loss_and_grad(Y, Z, counts, queries, targets) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean cross-entropy over the batch and its gradients ``(loss, dL/dY, dL/dZ)``."""
    if targets is None:
        raise ParticlesError("targets (the next-token ids [B]) are needed for the loss")
    Y, Z, counts, queries, targets = _check_batch(Y, Z, counts, queries, targets)
    b = counts.shape[0]
    ft = _attend(Z, counts, queries)
    nrm = np.linalg.norm(ft, axis=1, keepdims=True)
    f = ft / nrm
    logits = f @ Y
    mx = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - mx)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(b)
    loss = float(np.mean(np.log(s[:, 0]) + mx[:, 0] - logits[rows, targets]))
    delta = e / s
    delta[rows, targets] -= 1.0
    delta /= b
    gY = f.T @ delta
    gf = delta @ Y.T
    gft = (gf - f * np.sum(f * gf, axis=1, keepdims=True)) / nrm
    gz = ft * (gft - np.sum(ft * gft, axis=1, keepdims=True))
    return loss, gY, scatter_rows(queries, gz, Z.shape[0])


def class_attention(Z, task: SyntheticTask) -> np.ndarray:
    """The paper's c_n: c_{l|n} = P(l|n) e^{z_{ψ(n) l}} / Σ_l' P(l'|n) e^{z_{ψ(n) l'}}.

    ``Z`` may be ``[M, M]`` or stacked ``[..., M, M]``; returns ``[..., K, M]``.
    """
    _check_task(task)
    Z = real_array(Z, "Z", finite=True)
    if Z.ndim < 2 or Z.shape[-2:] != (task.vocab_size, task.vocab_size):
        raise ParticlesError(f"Z must have shape [..., {task.vocab_size}, {task.vocab_size}]")
    zq = Z[..., task.query_tokens, :]
    p = task.probs
    a = np.where(p > 0, zq, -np.inf)
    a = a - a.max(axis=-1, keepdims=True)
    w = p * np.exp(a)
    return w / w.sum(axis=-1, keepdims=True)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """SGD settings (defaults: the authors' Fig. 4 run).

    Parameters
    ----------
    eta_z : learning rate of the attention logits Z (>= 0).
    ratio : eta_y / eta_z (>= 0); the decoder's rate is eta_y = ratio * eta_z.
    momentum : SGD momentum in [0, 1) (torch convention: v <- mu v + g; p <- p - eta v).
    batch : sequences per step; a fresh batch is drawn each step.
    iters : number of SGD steps.
    init : "zero" (Fig. 4) or "random" (torch Linear default, U(±1/sqrt(M)); Fig. 6).
    record_every : snapshot Z and Y (and c_n) every this many steps (the last step always).
    """

    eta_z: float = 1.0
    ratio: float = 1.0
    momentum: float = 0.9
    batch: int = 128
    iters: int = 100
    init: str = "zero"
    record_every: int = 1

    def __post_init__(self):
        for name in ("eta_z", "ratio"):
            finite(getattr(self, name), name, ">= 0")
        finite(self.momentum, "momentum", "[0, 1)")
        for name, low in (("batch", 1), ("iters", 0), ("record_every", 1)):
            v = count(getattr(self, name), name, low)
            if name != "record_every":  # a period beyond iters records the start and the end
                check_count(v, name)
        if self.init not in ("zero", "random"):
            raise ParticlesError(f"init must be 'zero' or 'random', got {self.init!r}")

    @property
    def eta_y(self) -> float:
        return self.ratio * self.eta_z

    def meta(self) -> dict:
        return {
            "eta_z": self.eta_z,
            "eta_y": self.eta_y,
            "ratio": self.ratio,
            "momentum": self.momentum,
            "batch": self.batch,
            "iters": self.iters,
            "init": self.init,
            "record_every": self.record_every,
        }


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """What :func:`train` records.

    - loss : ``[iters]`` batch loss at each step, before its update (loss[0] is at the init).
    - steps : ``[R]`` step numbers of the snapshots (0 = init, iters = end).
    - Z, Y : ``[R, M, M]`` and ``[R, M, M_out]`` snapshots (``[2, ...]``: init and end, when
      trained with ``keep_weights=False``).
    - c : ``[R, K, M]`` class attention c_n at the snapshots (synthetic tasks; None for text).
    """

    loss: np.ndarray
    steps: np.ndarray
    Z: np.ndarray
    Y: np.ndarray
    c: np.ndarray | None
    seed: int | None

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"loss": self.loss, "steps": self.steps, "Z": self.Z, "Y": self.Y}
        if self.c is not None:
            out["c"] = self.c
        return out


#: weights beyond this size have a squared norm that overflows float64: SGD has diverged
_HUGE = float(np.sqrt(np.finfo(np.float64).max))


def _bounded(a: np.ndarray) -> bool:
    """Whether every entry of ``a`` is finite and below :data:`_HUGE` in size."""
    return bool(np.all(np.abs(a) < _HUGE))  # False for NaN and inf too


def init_params(m: int, init: str, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Initial ``(Y [M, M], Z [M, M])``: zeros, or torch's Linear default U(±1/√M)."""
    m = count(m, "m (the vocabulary size)")
    check_memory(8.0 * 2 * m * m, f"parameters of a vocabulary of {m}")
    if init == "zero":
        return np.zeros((m, m)), np.zeros((m, m))
    if init == "random":
        rng = as_rng(rng)
        bound = 1.0 / np.sqrt(m)
        return rng.uniform(-bound, bound, (m, m)), rng.uniform(-bound, bound, (m, m))
    raise ParticlesError(f"init must be 'zero' or 'random', got {init!r}")


def train(
    task: SyntheticTask | TextTask,
    config: TrainConfig = TrainConfig(),  # noqa: B008 (frozen, immutable)
    rng: np.random.Generator | int | None = None,
    *,
    progress: bool = False,
    keep_weights: bool = True,
) -> TrainResult:
    """Train Y and Z by SGD with momentum and separate rates (as the authors' code).

    One Generator (from ``rng``) draws the random init and then a fresh batch per step, so a
    run is determined by its seed. With ``keep_weights=False`` the snapshots of Z and Y are
    kept only at the init and the end (c_n is still recorded at every snapshot step).
    """
    if not isinstance(task, (SyntheticTask, TextTask)):
        raise ParticlesError(f"task must be a SyntheticTask or TextTask, got {type(task).__name__}")
    if not isinstance(config, TrainConfig):
        raise ParticlesError("config must be a TrainConfig")
    seed = int(rng) if isinstance(rng, (int, np.integer)) else None
    rng = as_rng(rng)
    m = task.vocab_size
    kept = config.iters // config.record_every + 2  # snapshots, the init and the end included
    classes = task.num_classes if isinstance(task, SyntheticTask) else 0
    check_memory(
        8.0 * (config.iters + kept * classes * m + (kept if keep_weights else 2) * 2 * m * m)
        + 8.0 * config.batch * (m + (task.context_len if isinstance(task, TextTask) else 0)) * 4,
        f"training {config.iters} steps of a vocabulary of {m} tokens, batches of {config.batch}",
    )
    Y, Z = init_params(m, config.init, rng)
    vY, vZ = np.zeros_like(Y), np.zeros_like(Z)
    mu, ey, ez = config.momentum, config.eta_y, config.eta_z
    losses = np.empty(config.iters)
    synthetic = isinstance(task, SyntheticTask)
    steps, Zs, Ys = [0], [Z.copy()], [Y.copy()]
    cs = [class_attention(Z, task)] if synthetic else None
    for it in tqdm(range(config.iters), disable=not progress, desc="scansnap train"):
        counts, q, y = task.sample(config.batch, rng)
        with np.errstate(over="ignore", invalid="ignore"):  # a divergence is reported below
            losses[it], gY, gZ = loss_and_grad(Y, Z, counts, q, y)
            vY *= mu
            vY += gY
            vZ *= mu
            vZ += gZ
            Y -= ey * vY
            Z -= ez * vZ
        if not (np.isfinite(losses[it]) and _bounded(Y) and _bounded(Z)):
            raise ParticlesError(
                f"SGD diverged at step {it + 1} (the loss or the weights overflowed) with "
                f"eta_z = {ez:g}, eta_y = {ey:g}; lower eta_z or the ratio eta_y/eta_z"
            )
        done = it + 1
        if done % config.record_every == 0 or done == config.iters:
            steps.append(done)
            if synthetic:
                cs.append(class_attention(Z, task))
            if keep_weights or done == config.iters:
                Zs.append(Z.copy())
                Ys.append(Y.copy())
    Zs, Ys = np.array(Zs), np.array(Ys)
    c = np.array(cs) if synthetic else None
    return TrainResult(loss=losses, steps=np.array(steps), Z=Zs, Y=Ys, c=c, seed=seed)
