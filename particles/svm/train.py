"""Gradient descent on the attention weights: W-param or (K, Q)-param (arXiv 2308.16898).

The loop runs on a whole batch of independent problems at once (numpy, analytic gradients), so
the 100-seed experiments cost one vectorised run. Normalised GD divides each parameter's gradient
by (its Frobenius norm + machine eps), as the authors' code does; K and Q are normalised separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..errors import ParticlesError, count, finite, real_array
from ..resources import check_count, check_memory
from .model import LOSSES, AttentionData, _check_data, _kq_grad, _loss_grad, as_rng

__all__ = [
    "INIT_STREAM",
    "TRAIN_FORMAT",
    "TrainConfig",
    "TrainResult",
    "default_init",
    "init_rng",
    "seeding",
    "train",
    "train_random",
    "train_record",
]

_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Settings of a GD run.

    param: "W" (W in R^{dxd}) or "KQ" (W = K Q^T, K, Q in R^{dxm}); iters: number of steps;
    lr: step size eta; normalized: normalised GD (default, as the paper's experiments);
    step: "fixed" (every normalised step has length lr) or "proportional" (length lr times the
    norm of the parameter it moves: a constant angular step lr, so the norm grows geometrically;
    for normalised GD this follows the same path as "fixed", far faster once the norm is large);
    max_norm: a problem stops moving once |W|_F >= max_norm (the run ends when all have);
    loss: one of LOSSES; record_every: save W, softmax, norm every k steps (plus the last);
    record_at: explicit steps to record instead (0..iters);
    m: inner width of K, Q (default d);
    normalize: for (K, Q) normalised GD, "separate" (the authors': K and Q each take a step of
    length lr) or "joint" (the pair (K, Q) takes one step of length lr: a reparametrised gradient
    flow, which keeps K^T K - Q^T Q fixed up to O(lr^2) per step, as gradient flow does);
    exact_direction: for normalised GD, compute the gradient's direction exactly even after the
    gradient underflows (saturated softmax), so every step has length lr. False reproduces the
    authors' G / (|G|_F + eps), which stalls once |G|_F << eps (W-param near |W| ~ 130, (K,Q)
    near |W| ~ 170 for E2), freezing the direction before it has converged.
    """

    param: str = "W"
    iters: int = 2000
    lr: float = 0.1
    normalized: bool = True
    loss: str = "logistic"
    record_every: int = 10
    record_at: tuple[int, ...] | None = None
    m: int | None = None
    normalize: str = "separate"
    step: str = "fixed"
    max_norm: float | None = None
    exact_direction: bool = True

    def __post_init__(self):
        if self.param not in ("W", "KQ"):
            raise ParticlesError(f"param must be 'W' or 'KQ', got {self.param!r}")
        check_count(count(self.iters, "iters", 0), "iters")
        finite(self.lr, "lr", "> 0")
        if not isinstance(self.loss, str) or self.loss not in LOSSES:
            raise ParticlesError(f"unknown loss {self.loss!r}; choose from {sorted(LOSSES)}")
        count(self.record_every, "record_every")
        for flag in ("normalized", "exact_direction"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise ParticlesError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.record_at is not None:
            if isinstance(self.record_at, (str, bytes)) or not hasattr(self.record_at, "__iter__"):
                raise ParticlesError(
                    f"record_at must be a sequence of steps, got {self.record_at!r}"
                )
            ra = tuple(count(k, "record_at step", 0) for k in self.record_at)
            if not ra or min(ra) < 0 or max(ra) > self.iters:
                raise ParticlesError(f"record_at must list steps in 0..{self.iters}")
            object.__setattr__(self, "record_at", tuple(sorted(set(ra))))
        if self.normalize not in ("separate", "joint"):
            raise ParticlesError(f"normalize must be 'separate' or 'joint', got {self.normalize!r}")
        if self.step not in ("fixed", "proportional"):
            raise ParticlesError(f"step must be 'fixed' or 'proportional', got {self.step!r}")
        if self.step == "proportional" and not self.normalized:
            raise ParticlesError("step='proportional' needs normalised GD")
        if self.max_norm is not None:
            finite(self.max_norm, "max_norm", "> 0")
        if self.m is not None:
            count(self.m, "m")


@dataclass(frozen=True, kw_only=True, eq=False)
class TrainResult:
    """Output of :func:`train`. Leading S axis only for batched data; k = number of records.

    iters (k,); Ws (k, [S,] d, d) the iterates W(k) (= K Q^T for KQ); probs (k, [S,] n, T);
    norms (k, [S]) = |W(k)|_F; losses (k, [S]); W, K, Q the final parameters (K, Q None for W).
    """

    config: TrainConfig
    iters: np.ndarray
    Ws: np.ndarray
    probs: np.ndarray
    norms: np.ndarray
    losses: np.ndarray
    W: np.ndarray
    K: np.ndarray | None = None
    Q: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def selected(self) -> np.ndarray:
        """alpha_i = argmax_t of the final softmax (the token GD selected)."""
        return np.argmax(self.probs[-1], axis=-1)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "W": self.W,
            "iters": self.iters,
            "Ws": self.Ws,
            "probs": self.probs,
            "norms": self.norms,
            "losses": self.losses,
            "alpha": self.selected,
        }
        if self.K is not None:
            out["K"] = self.K
            out["Q"] = self.Q
        return out


def _rngs(rng, S: int) -> list[np.random.Generator]:
    if isinstance(rng, Sequence) and not isinstance(rng, (str, bytes)):
        if len(rng) != S:
            raise ParticlesError(f"got {len(rng)} rngs for a batch of {S} problems")
        return [as_rng(r) for r in rng]
    if S == 1:
        return [as_rng(rng)]
    g = as_rng(rng)
    return list(g.spawn(S))


def default_init(d: int, param: str = "W", rng=None, *, S: int | None = None, m: int | None = None):
    """torch's default ``nn.Linear`` init: entries uniform(-1/sqrt(d), 1/sqrt(d)).

    Returns W (d, d) or (K, Q) each (d, m); with ``S`` a batch (S, ...) drawn from one generator
    per problem (``rng`` may then be a list of S generators/seeds).
    """
    d = count(d, "d")
    m = d if m is None else count(m, "m")
    if S is not None:
        S = count(S, "S")
    check_memory(8.0 * 2 * (S or 1) * d * max(d, m), f"an initialisation of size {d}")
    b = 1.0 / np.sqrt(d)
    gens = _rngs(rng, 1 if S is None else S)
    if param == "W":
        out = np.stack([g.uniform(-b, b, (d, d)) for g in gens])
        return out[0] if S is None else out
    KQ = [(g.uniform(-b, b, (d, m)), g.uniform(-b, b, (d, m))) for g in gens]
    K = np.stack([k for k, _ in KQ])
    Q = np.stack([q for _, q in KQ])
    return (K[0], Q[0]) if S is None else (K, Q)


def _norm(A):
    return np.sqrt(np.einsum("sij,sij->s", A, A))


def train(
    data: AttentionData,
    config: TrainConfig | None = None,
    *,
    init=None,
    rng=None,
    progress: bool = False,
) -> TrainResult:
    """Run (normalised) gradient descent on the logistic (or other) loss of arXiv 2308.16898.

    Parameters
    ----------
    data : AttentionData, single or batched (S problems trained in one vectorised loop).
    config : TrainConfig (defaults: W-param, 2000 normalised steps, lr 0.1, logistic loss).
    init : W0 ((d, d) or (S, d, d)) for "W", (K0, Q0) for "KQ"; default :func:`default_init`.
    rng : Generator | int | None, or a list of S of them (one per problem) for the default init.
    progress : show a tqdm bar.
    """
    _check_data(data)
    cfg = TrainConfig() if config is None else config
    if not isinstance(cfg, TrainConfig):
        raise ParticlesError(f"config must be a svm.TrainConfig, got {type(cfg).__name__}")
    b = data.as_batch()
    S, d = b.S, b.d
    if init is None:
        init = default_init(d, cfg.param, rng, S=S, m=cfg.m)
        squeeze_init = False
    else:
        squeeze_init = not data.batched
    if cfg.param == "W":
        W = real_array(init, "init", copy=True)
        if squeeze_init:
            W = W[None]
        if W.shape != (S, d, d) or not np.all(np.isfinite(W)):
            raise ParticlesError(f"init W must be finite with shape {(d, d)} per problem")
        K = Q = None
    else:
        try:
            K, Q = (np.array(a, dtype=float) for a in init)
        except (TypeError, ValueError):
            raise ParticlesError("init for param 'KQ' must be a pair (K0, Q0)") from None
        if squeeze_init:
            K, Q = K[None], Q[None]
        if K.ndim != 3 or K.shape[:2] != (S, d) or Q.shape != K.shape:
            raise ParticlesError(f"init K, Q must both have shape (d, m) = ({d}, m) per problem")
        if not (np.all(np.isfinite(K)) and np.all(np.isfinite(Q))):
            raise ParticlesError("init K, Q contain NaN or infinite values")
        W = K @ Q.transpose(0, 2, 1)

    nrec = (
        len(cfg.record_at)
        if cfg.record_at is not None
        else cfg.iters // cfg.record_every + 1 + (cfg.iters % cfg.record_every > 0)
    )
    check_memory(
        8.0 * nrec * S * (d * d + b.n * b.T + 1),
        f"recording {nrec} iterates of {S} problem(s) with d = {d}",
    )
    if cfg.record_at is not None:
        rec = list(cfg.record_at)
    else:
        rec = list(range(0, cfg.iters + 1, cfg.record_every))
        if rec[-1] != cfg.iters:
            rec.append(cfg.iters)
    assert len(rec) == nrec
    Ws = np.empty((nrec, S, d, d))
    probs = np.empty((nrec, S, b.n, b.T))
    losses = np.empty((nrec, S))
    j = 0
    prop = cfg.step == "proportional"
    active = np.ones(S)  # 1 while a problem moves, 0 once |W| >= max_norm
    scaled = cfg.normalized and cfg.exact_direction
    for k in tqdm(range(cfg.iters + 1), disable=not progress, desc=f"GD {cfg.param}", leave=False):
        L, G, s = _loss_grad(b.X, b.Y, b.z, b.v, b.V, W, cfg.loss, scaled=scaled)
        if cfg.max_norm is not None:
            active = active * (_norm(W) < cfg.max_norm)
            if not active.any():  # everyone has arrived: the remaining records repeat the end
                while j < nrec:
                    Ws[j], probs[j], losses[j] = W, s, L
                    j += 1
                break
        if j < nrec and k == rec[j]:
            Ws[j], probs[j], losses[j] = W, s, L
            j += 1
        if k == cfg.iters:
            break
        eta = cfg.lr * active[:, None, None]
        if cfg.param == "W":
            if cfg.normalized:
                G = G / (_norm(G) + _EPS)[:, None, None]
            W = W - (eta * _norm(W)[:, None, None] if prop else eta) * G
        else:
            gK, gQ = _kq_grad(G, K, Q)
            if cfg.normalized and cfg.normalize == "joint":
                nj = (np.sqrt(_norm(gK) ** 2 + _norm(gQ) ** 2) + _EPS)[:, None, None]
                gK, gQ = gK / nj, gQ / nj
                eK = eQ = (
                    eta * np.sqrt(_norm(K) ** 2 + _norm(Q) ** 2)[:, None, None] if prop else eta
                )
            else:
                if cfg.normalized:
                    gK = gK / (_norm(gK) + _EPS)[:, None, None]
                    gQ = gQ / (_norm(gQ) + _EPS)[:, None, None]
                eK = eta * _norm(K)[:, None, None] if prop else eta
                eQ = eta * _norm(Q)[:, None, None] if prop else eta
            K, Q = K - eK * gK, Q - eQ * gQ
            W = K @ Q.transpose(0, 2, 1)
        with np.errstate(over="ignore"):
            finite = np.all(np.isfinite(W)) and np.all(np.isfinite(_norm(W)))
        if not finite:
            raise ParticlesError(
                f"GD diverged at step {k + 1}: W (or its norm) is no longer finite with "
                f"lr = {cfg.lr:g}; lower lr"
            )
    norms = np.linalg.norm(Ws, axis=(-2, -1))

    def sq(a, axis=1):
        return a if data.batched else np.take(a, 0, axis=axis)

    return TrainResult(
        config=cfg,
        iters=np.asarray(rec),
        Ws=sq(Ws),
        probs=sq(probs),
        norms=sq(norms),
        losses=sq(losses),
        W=sq(W, 0),
        K=None if K is None else sq(K, 0),
        Q=None if Q is None else sq(Q, 0),
    )


# The seeding scheme of a run with seed s: the data from ``default_rng(s)`` (:func:`make_data`), the
# initial weights from the independent stream ``default_rng([s, INIT_STREAM])``; E2 uses the same
# scheme, so seed s of :func:`train_random` is run s of experiment E2 (E4 and E5 use streams 4, 5).
INIT_STREAM = 2
TRAIN_FORMAT = "svm_train"


def init_rng(seed: int, stream: int = INIT_STREAM) -> np.random.Generator:
    """The generator of run ``seed``'s initial weights: ``default_rng([seed, stream])``."""
    return np.random.default_rng([count(seed, "seed", 0), count(stream, "stream", 0)])


def seeding(seed: int, stream: int = INIT_STREAM) -> dict:
    """How a run with ``seed`` draws its numbers, as stored in result files."""
    return {"seed": seed, "init_rng": f"default_rng([{seed}, {stream}])"}


def train_random(
    n: int,
    T: int,
    d: int,
    seed: int,
    config: TrainConfig | None = None,
    *,
    self_attention: bool = False,
    head: str = "linear",
    progress: bool = False,
) -> tuple[AttentionData, TrainResult]:
    """Draw the experiments' random data with ``seed`` and train on it from the default init
    drawn from :func:`init_rng` (``default_rng([seed, 2])``, so seed s reproduces run s of
    experiment E2)."""
    from .model import make_data

    seed = count(seed, "seed", 0)
    data = make_data(n, T, d, seed, self_attention=self_attention, head=head)
    res = train(data, config, rng=init_rng(seed), progress=progress)
    return data, res


def train_record(
    n: int,
    T: int,
    d: int,
    seed: int,
    config: TrainConfig | None = None,
    *,
    self_attention: bool = False,
    head: str = "linear",
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict]:
    """:func:`train_random` as a result record ``(arrays, meta)`` for :func:`particles.storage.npz.save_npz`.

    Arrays: the data (X, Y, z, v[, V]) and :meth:`TrainResult.arrays`. ``meta`` holds the sizes,
    the settings, the seeding (:func:`seeding`) and ``numbers``: the final |W|_F (``norm``) and
    the mean over sequences of the largest softmax probability (``max_softmax``).
    """
    cfg = TrainConfig() if config is None else config
    data, res = train_random(
        n, T, d, seed, cfg, self_attention=self_attention, head=head, progress=progress
    )
    meta = {
        "format": TRAIN_FORMAT,
        "n": n,
        "T": T,
        "d": d,
        "seed": seed,
        "self_attention": self_attention,
        "head": head,
        "param": cfg.param,
        "iters": cfg.iters,
        "lr": cfg.lr,
        "loss": cfg.loss,
        "normalized": cfg.normalized,
        "normalize": cfg.normalize,
        "step": cfg.step,
        "max_norm": cfg.max_norm,
        **seeding(seed),
        "numbers": {
            "norm": float(res.norms[-1]),
            "max_softmax": float(res.probs[-1].max(-1).mean()),
        },
    }
    return {**data.arrays(), **res.arrays()}, meta
