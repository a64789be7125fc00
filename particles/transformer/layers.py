"""Transformer encoder building blocks in numpy (float64 by default).

Shapes: ``x`` is ``(n, d)`` (tokens × width) for one sequence. Weights follow the PyTorch
``nn.Linear`` convention, ``W`` of shape ``(out, in)`` and ``y = x W^T + b``.

- multi-head attention (Vaswani et al. 2017, arXiv 1706.03762, §3.2):
  ``head_h = softmax(Q_h K_h^T / sqrt(d_k) + mask) V_h`` with ``Q_h = x W^Q_h{}^T + b^Q_h`` etc.,
  ``MHA(x) = concat_h(head_h) W^O{}^T + b^O``;
- masks: padding (``valid`` boolean of shape ``(n,)``) and causal (token i sees j <= i only);
- LayerNorm ``g * (x - mean) / sqrt(var + eps) + b`` and RMSNorm ``g * x / sqrt(mean(x^2) + eps)``;
- feed-forward ``W_2 s(W_1 x + b_1) + b_2`` with s = GELU (erf or tanh form), ReLU, SiLU;
- sinusoidal positional encoding ``PE(p, 2k) = sin(p / M^{2k/d})``, ``PE(p, 2k+1) = cos(...)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from ..errors import ParticlesError


def layer_norm(x, weight=None, bias=None, eps: float = 1e-12):
    """LayerNorm over the last axis: ``weight * (x - mean) / sqrt(var + eps) + bias``."""
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    y = xc / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(x, weight=None, eps: float = 1e-6):
    """RMSNorm over the last axis: ``weight * x / sqrt(mean(x^2) + eps)``."""
    y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return y if weight is None else y * weight


def gelu(x):
    """Exact GELU, ``x Φ(x) = x (1 + erf(x/√2)) / 2``."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def gelu_tanh(x):
    """GELU, tanh approximation (``gelu_new``/``gelu_pytorch_tanh``)."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def relu(x):
    return np.maximum(x, 0.0)


def silu(x):
    return x / (1.0 + np.exp(-x))


ACTIVATIONS = {
    "gelu": gelu,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "gelu_tanh": gelu_tanh,
    "relu": relu,
    "silu": silu,
    "swish": silu,
}


def activation(name: str):
    """The activation function called ``name`` (Hugging Face ``hidden_act`` names)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ParticlesError(
            f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}"
        ) from None


def sinusoidal_encoding(n: int, d: int, base: float = 1e4) -> np.ndarray:
    """``(n, d)`` positional encoding ``PE(p, 2k) = sin(p/base^{2k/d})``, ``PE(p, 2k+1) = cos(...)``."""
    if n < 0 or d < 1:
        raise ParticlesError(f"sinusoidal_encoding needs n >= 0 and d >= 1, got n={n}, d={d}")
    pos = np.arange(n, dtype=np.float64)[:, None]
    k = np.arange(0, d, 2, dtype=np.float64)
    ang = pos / base ** (k / d)
    pe = np.zeros((n, d))
    pe[:, 0::2] = np.sin(ang)
    pe[:, 1::2] = np.cos(ang[:, : d // 2])
    return pe


def attention_mask(n: int, *, valid=None, causal: bool = False) -> np.ndarray | None:
    """Boolean ``(n, n)`` matrix, True where token i may attend to token j (None: all allowed).

    ``valid`` (``(n,)`` bool) marks real tokens (False = padding); ``causal`` allows j <= i only.
    """
    if valid is None and not causal:
        return None
    m = np.ones((n, n), dtype=bool)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != (n,):
            raise ParticlesError(f"padding mask must have shape ({n},), got {valid.shape}")
        m &= valid[None, :]
    if causal:
        m &= np.tri(n, dtype=bool)
    return m


def softmax(logits, mask=None, axis: int = -1):
    """Row softmax with max-subtraction; masked entries get probability 0 (mask True = keep).

    A row with every entry masked gets all zeros."""
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    m = np.max(logits, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(logits - m)
    s = e.sum(axis=axis, keepdims=True)
    return e / np.where(s > 0, s, 1.0)


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def multi_head_attention(
    x,
    wq,
    bq,
    wk,
    bk,
    wv,
    bv,
    wo,
    bo,
    n_heads: int,
    *,
    mask=None,
    scale: float | None = None,
    return_attention: bool = False,
):
    """Multi-head self-attention of ``x`` ``(n, d)``.

    ``wq, wk, wv``: ``(H d_k, d)``; ``wo``: ``(d, H d_k)``; biases may be None. ``scale``
    defaults to ``1/sqrt(d_k)``. Returns ``out (n, d)`` and, if asked, ``A (H, n, n)``.
    """
    n = x.shape[0]
    hdk = wq.shape[0]
    if hdk % n_heads:
        raise ParticlesError(f"projection width {hdk} is not divisible by {n_heads} heads")
    dk = hdk // n_heads
    scale = 1.0 / np.sqrt(dk) if scale is None else scale
    # contiguous (H, n, d_k) stacks, so that the batched products go to BLAS
    heads = lambda y: np.ascontiguousarray(y.reshape(n, n_heads, -1).transpose(1, 0, 2))
    q = heads(linear(x, wq, bq))
    kt = np.ascontiguousarray(heads(linear(x, wk, bk)).transpose(0, 2, 1))
    v = heads(linear(x, wv, bv))
    a = softmax(scale * (q @ kt), None if mask is None else mask[None])
    ctx = (a @ v).transpose(1, 0, 2).reshape(n, -1)
    out = linear(ctx, wo, bo)
    return (out, a) if return_attention else out
