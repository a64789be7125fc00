"""The one-layer attention model of *Transformers as SVMs* (arXiv 2308.16898), its data and loss.

Convention (the paper's, arXiv 2308.16898): the attention logits of sequence i are

    a_it = x_it^T W z_i        i.e.  a_i = X_i W z_i,   s_i = softmax(a_i),

and the output is f(X_i, z_i) = h(X_i^T s_i) with the linear head h(u) = v^T u (so
f = v^T X^T softmax(X W z)) or the nonlinear head h(u) = 1^T ReLU(V^T u) (the paper's
nonlinear-head SVM equivalence; experiment E4).
The authors' ``nn.Linear`` layers store the *transpose* of this W; here W is always the paper's.

Every array may carry one leading batch axis S (independent problems trained together):
X (S, n, T, d), Y (S, n), z (S, n, d), v (S, d), V (S, d, m), W (S, d, d). The functions below
work on the batched form; :class:`AttentionData` adds the axis for a single problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_softmax, softmax

from ..errors import ParticlesError, count, real_array
from ..model.sphere import as_rng
from ..resources import check_count, check_memory

__all__ = [
    "LOSSES",
    "AttentionData",
    "make_data",
    "make_data_batch",
    "as_rng",
    "softmax_probs",
    "forward",
    "loss_and_grad",
    "loss_and_grad_kq",
    "logits",
    "token_scores",
    "optimal_tokens",
    "correlation",
    "w_from_torch",
]


# Losses of Assumption A: name -> (l(u), l'(u)); all strictly decreasing.
LOSSES = {
    "logistic": (lambda u: np.logaddexp(0.0, -u), lambda u: -expit(-u)),
    "exp": (lambda u: np.exp(-u), lambda u: -np.exp(-u)),
    "linear": (lambda u: -u, lambda u: -np.ones_like(u)),
}


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, order="C", copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, kw_only=True, eq=False)
class AttentionData:
    """Samples (Y_i, X_i, z_i) and the fixed head of the attention model (arXiv 2308.16898).

    Parameters
    ----------
    X : (n, T, d) or (S, n, T, d) tokens x_it (rows).
    Y : (n,) or (S, n) labels in {-1, +1}.
    z : (n, d) or (S, n, d) query tokens z_i.
    v : (d,) or (S, d) linear head (also defines the token scores gamma_it = Y_i v^T x_it).
    V : optional (d, m) or (S, d, m); if given the head is h(u) = 1^T ReLU(V^T u).
    """

    X: np.ndarray
    Y: np.ndarray
    z: np.ndarray
    v: np.ndarray
    V: np.ndarray | None = None

    def __post_init__(self):
        X = real_array(self.X, "X")
        if X.ndim not in (3, 4):
            raise ParticlesError(f"X must have shape (n, T, d) or (S, n, T, d), got {X.shape}")
        batched = X.ndim == 4
        lead = X.shape[:-2]  # (n,) or (S, n)
        d = X.shape[-1]
        T = X.shape[-2]
        if T < 2 or d < 1 or lead[-1] < 1:
            raise ParticlesError(f"need n >= 1, T >= 2, d >= 1; X has shape {X.shape}")
        want = {
            "Y": lead,
            "z": (*lead, d),
            "v": (*lead[:-1], d),
        }
        for name, shape in want.items():
            a = real_array(getattr(self, name), name)
            if a.shape != shape:
                raise ParticlesError(
                    f"{name} has shape {a.shape} but X {X.shape} needs {name} of shape {shape}"
                )
        if self.V is not None:
            V = real_array(self.V, "V")
            if V.ndim != (3 if batched else 2) or V.shape[:-1] != (*lead[:-1], d):
                raise ParticlesError(
                    f"V has shape {V.shape} but X {X.shape} needs V of shape {(*lead[:-1], d)}+(m,)"
                )
        for name in ("X", "Y", "z", "v", "V"):
            a = getattr(self, name)
            if a is None:
                continue
            a = np.asarray(a, dtype=np.float64)
            if not np.all(np.isfinite(a)):
                raise ParticlesError(f"{name} contains NaN or infinite values")
            object.__setattr__(self, name, _readonly(a))
        if not np.all(np.abs(self.Y) == 1):
            raise ParticlesError("labels Y must be -1 or +1")

    # shapes -----------------------------------------------------------------------------
    @property
    def batched(self) -> bool:
        return self.X.ndim == 4

    @property
    def n(self) -> int:
        return self.X.shape[-3]

    @property
    def T(self) -> int:
        return self.X.shape[-2]

    @property
    def d(self) -> int:
        return self.X.shape[-1]

    @property
    def S(self) -> int:
        return self.X.shape[0] if self.batched else 1

    def as_batch(self) -> AttentionData:
        """The same data with a leading batch axis of length 1 (no-op if already batched)."""
        if self.batched:
            return self
        return AttentionData(
            X=self.X[None],
            Y=self.Y[None],
            z=self.z[None],
            v=self.v[None],
            V=None if self.V is None else self.V[None],
        )

    def __getitem__(self, b: int) -> AttentionData:
        """Problem ``b`` of a batch, unbatched."""
        if not self.batched:
            raise ParticlesError("indexing needs batched data")
        return AttentionData(
            X=self.X[b],
            Y=self.Y[b],
            z=self.z[b],
            v=self.v[b],
            V=None if self.V is None else self.V[b],
        )

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"X": self.X, "Y": self.Y, "z": self.z, "v": self.v}
        if self.V is not None:
            out["V"] = self.V
        return out


def make_data(
    n: int,
    T: int,
    d: int,
    rng=None,
    *,
    self_attention: bool = False,
    attn_idx: int = 0,
    head: str = "linear",
    m: int | None = None,
    labels: np.ndarray | None = None,
) -> AttentionData:
    """Random data of the arXiv 2308.16898 experiments: unit tokens, unit z_i, labels +-1
    (prob 1/2), unit head v.

    Draws, in this order from one generator, v ~ N(0, I_d)/|.|, Y, X (rows N(0, I)/|.|),
    z ~ N(0, I)/|.|, and for ``head="relu"`` V ~ N(0, I)/|V|_F of shape (d, m) (m = d by default).
    ``self_attention=True`` replaces z_i by the token x_{i, attn_idx} (the authors' ``attn_idx``).
    ``labels`` fixes Y instead of drawing it (still consumes the draw, for reproducibility).
    """
    for name, val, lo in (("n", n, 1), ("T", T, 2), ("d", d, 1)):
        check_count(count(val, name, lo), name)
    # the tokens X, their logits and gradients, and a d x d parameter and its gradient
    check_memory(8.0 * (4 * n * T * d + 4 * d * d), f"data of n = {n}, T = {T}, d = {d}")
    if head not in ("linear", "relu"):
        raise ParticlesError(f"head must be 'linear' or 'relu', got {head!r}")
    attn_idx = count(attn_idx, "attn_idx", 0)
    if not 0 <= attn_idx < T:
        raise ParticlesError(f"attn_idx={attn_idx} out of range for T={T}")
    g = as_rng(rng)
    v = g.standard_normal(d)
    v /= np.linalg.norm(v)
    Y = g.choice(np.array([-1.0, 1.0]), size=n)
    if labels is not None:
        Y = real_array(labels, "labels")
    X = g.standard_normal((n, T, d))
    X /= np.linalg.norm(X, axis=-1, keepdims=True)
    z = g.standard_normal((n, d))
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    if self_attention:
        z = X[:, attn_idx].copy()
    V = None
    if head == "relu":
        V = g.standard_normal((d, d if m is None else m))
        V /= np.linalg.norm(V)
    return AttentionData(X=X, Y=Y, z=z, v=v, V=V)


def make_data_batch(n: int, T: int, d: int, seeds: Sequence[int], **kw) -> AttentionData:
    """Stack :func:`make_data` for each seed (problem b is exactly ``make_data(..., seeds[b])``)."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ParticlesError(f"seeds must be a sequence of integer seeds, got {seeds!r}")
    parts = [make_data(n, T, d, count(s, "seed", 0), **kw) for s in seeds]
    if not parts:
        raise ParticlesError("need at least one seed")
    return AttentionData(
        X=np.stack([p.X for p in parts]),
        Y=np.stack([p.Y for p in parts]),
        z=np.stack([p.z for p in parts]),
        v=np.stack([p.v for p in parts]),
        V=None if parts[0].V is None else np.stack([p.V for p in parts]),
    )


def _check_data(data) -> None:
    """A one-line error unless ``data`` is an :class:`AttentionData`."""
    if not isinstance(data, AttentionData):
        raise ParticlesError(
            f"data must be an AttentionData (make_data, make_data_batch), got {type(data).__name__}"
        )


def _batch_W(data: AttentionData, W: np.ndarray) -> np.ndarray:
    W = real_array(W, "W")
    d = data.d
    want = (data.S, d, d) if data.batched else (d, d)
    if W.shape != want:
        raise ParticlesError(f"W has shape {W.shape}, expected {want} for this data")
    if not np.all(np.isfinite(W)):
        raise ParticlesError("W contains NaN or infinite values")
    if np.max(np.abs(W), initial=0.0) > 1e150:
        raise ParticlesError("W has entries beyond 1e150: the logits overflow float64")
    return W if data.batched else W[None]


def logits(data: AttentionData, W: np.ndarray) -> np.ndarray:
    """a_it = x_it^T W z_i: shape (n, T) or (S, n, T)."""
    _check_data(data)
    b = data.as_batch()
    Wb = _batch_W(data, W)
    a = _logits(b.X, b.z, Wb)
    return a if data.batched else a[0]


def _logits(X, z, W):
    Wz = np.einsum("sde,sne->snd", W, z)
    return np.einsum("sntd,snd->snt", X, Wz)


def softmax_probs(data: AttentionData, W: np.ndarray) -> np.ndarray:
    """s_i = softmax(X_i W z_i): shape (n, T) or (S, n, T)."""
    _check_data(data)
    return softmax(logits(data, W), axis=-1)


def _forward(X, z, v, V, W):
    """Batched forward pass: returns (log s, s, f, r) with r_it = x_it^T grad h(u_i)."""
    ls = log_softmax(_logits(X, z, W), axis=-1)
    s = np.exp(ls)
    if V is None:
        r = np.einsum("sntd,sd->snt", X, v)
        f = np.einsum("snt,snt->sn", s, r)
    else:
        u = np.einsum("snt,sntd->snd", s, X)
        pre = np.einsum("snd,sdm->snm", u, V)
        f = np.maximum(pre, 0.0).sum(-1)
        gradh = np.einsum("sdm,snm->snd", V, (pre > 0).astype(float))
        r = np.einsum("sntd,snd->snt", X, gradh)
    return ls, s, f, r


def forward(data: AttentionData, W: np.ndarray) -> np.ndarray:
    """Model outputs f(X_i, z_i): shape (n,) or (S, n)."""
    _check_data(data)
    b = data.as_batch()
    _, _, f, _ = _forward(b.X, b.z, b.v, b.V, _batch_W(data, W))
    return f if data.batched else f[0]


def _loss_grad(X, Y, z, v, V, W, loss, scaled=False):
    """Batched loss (S,), gradient dL/dW (S, d, d), softmax (S, n, T).

    dL/da_it = g_i s_it (r_it - f_i) = g_i sum_u s_it s_iu (r_it - r_iu), with g_i = dL/df_i,
    is evaluated in that pairwise form from log-probabilities: once the softmax saturates,
    r_it - f_i ~ 1e-15 for the selected token and the naive difference is rounding noise. With
    ``scaled=True`` the gradient is returned multiplied by exp(-M), M = max_{i, t != u} log(s_it
    s_iu) (per problem), so its *direction* stays exact after the gradient itself underflows.
    """
    ell, dell = LOSSES[loss]
    ls, s, f, r = _forward(X, z, v, V, W)
    n, T = X.shape[1], X.shape[2]
    margin = Y * f
    L = ell(margin).mean(-1)
    g = dell(margin) * Y / n  # dL/df_i
    P = ls[..., :, None] + ls[..., None, :]  # log(s_it s_iu), (S, n, T, T)
    P[..., np.arange(T), np.arange(T)] = -np.inf  # u = t terms vanish
    if scaled:
        P = P - P.max(axis=(1, 2, 3))[:, None, None, None]
    c = g[..., None] * np.einsum("sntu,sntu->snt", np.exp(P), r[..., :, None] - r[..., None, :])
    G = np.einsum("snt,sntd,sne->sde", c, X, z)
    return L, G, s


def loss_and_grad(data: AttentionData, W: np.ndarray, loss: str = "logistic"):
    """Empirical risk L(W) = (1/n) sum_i l(Y_i f(X_i, z_i)) and its gradient dL/dW.

    dL/dW = sum_i (1/n) l'(Y_i f_i) Y_i X_i^T diag(s_i)(r_i - f_i 1) z_i^T with r_i = X_i grad h.
    Returns (L, G): scalars/(d, d) or (S,)/(S, d, d) for batched data.
    """
    _check_data(data)
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ParticlesError(f"unknown loss {loss!r}; choose from {sorted(LOSSES)}")
    b = data.as_batch()
    L, G, _ = _loss_grad(b.X, b.Y, b.z, b.v, b.V, _batch_W(data, W), loss)
    return (L, G) if data.batched else (L[0], G[0])


def _kq_grad(G, K, Q):
    """dL/dK = G Q and dL/dQ = G^T K for W = K Q^T (batched)."""
    return G @ Q, np.swapaxes(G, -1, -2) @ K


def loss_and_grad_kq(data: AttentionData, K: np.ndarray, Q: np.ndarray, loss: str = "logistic"):
    """L(K Q^T) and its gradients (dL/dK, dL/dQ) = (G Q, G^T K), G = dL/dW at W = K Q^T."""
    _check_data(data)
    K = real_array(K, "K", finite=True)
    Q = real_array(Q, "Q", finite=True)
    if K.ndim < 2:
        raise ParticlesError(f"K and Q must be matrices (d, m), got shape {K.shape}")
    if K.shape != Q.shape or K.shape[-2] != data.d:
        raise ParticlesError(
            f"K and Q must both have shape ({data.d}, m), got {K.shape}, {Q.shape}"
        )
    L, G = loss_and_grad(data, K @ np.swapaxes(Q, -1, -2), loss)
    gK, gQ = _kq_grad(G, K, Q)
    return L, gK, gQ


def w_from_torch(weight=None, *, key=None, query=None) -> np.ndarray:
    """The paper's W (logits = X W z) from the authors' ``nn.Linear`` weights (they store W^T).

    ``weight``: the single d x d layer, which stores W^T, so W = weight^T. ``key``, ``query``:
    the two layers of the (K,Q) model (keys X key^T, query query z), so W = key^T query.
    """
    if weight is not None and key is None and query is None:
        w = np.asarray(weight, dtype=float)
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise ParticlesError(f"weight must be a square matrix, got shape {w.shape}")
        return w.T.copy()
    if weight is None and key is not None and query is not None:
        k = np.asarray(key, dtype=float)
        q = np.asarray(query, dtype=float)
        if k.ndim != 2 or k.shape != q.shape:
            raise ParticlesError(
                f"key and query must have equal 2-D shapes, got {k.shape}, {q.shape}"
            )
        return k.T @ q
    raise ParticlesError("give either weight, or both key and query")


def token_scores(data: AttentionData) -> np.ndarray:
    """gamma_it = Y_i v^T x_it: shape (n, T) or (S, n, T)."""
    _check_data(data)
    return data.Y[..., None] * np.einsum("...ntd,...d->...nt", data.X, data.v)


def optimal_tokens(data: AttentionData) -> np.ndarray:
    """opt_i = argmax_t gamma_it (int array (n,) or (S, n))."""
    _check_data(data)
    return np.argmax(token_scores(data), axis=-1)


def correlation(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """<A, B> / (|A|_F |B|_F) over the last two axes (the papers' 'correlation coefficient')."""
    A = real_array(A, "A", finite=True)
    B = real_array(B, "B", finite=True)
    try:
        np.broadcast_shapes(A.shape, B.shape)
    except ValueError:
        raise ParticlesError(
            f"A and B have shapes {A.shape} and {B.shape} that do not match"
        ) from None
    if A.ndim < 2 or B.ndim < 2 or A.size == 0 or B.size == 0:
        raise ParticlesError(f"A and B must be matrices, got shapes {A.shape} and {B.shape}")
    if np.max(np.abs(A)) > 1e150 or np.max(np.abs(B)) > 1e150:
        raise ParticlesError("A and B have entries beyond 1e150: their products overflow float64")
    num = np.sum(A * B, axis=(-2, -1))
    den = np.linalg.norm(A, axis=(-2, -1)) * np.linalg.norm(B, axis=(-2, -1))
    return num / np.where(den == 0, 1.0, den)
