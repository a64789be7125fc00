"""The bridge from a real network to the particle dynamics of arXiv 2312.10794 (§2: layers ↔ time).

A post-LN attention sub-layer maps ``x ↦ N(x + MHA(x))``. Write a token as ``x = r z`` with
``|z| = 1``, ``r`` the norm the preceding normalisation gives (read from its weights,
``r = sqrt(sum_k g_k^2 + b_k^2)``: the norm of ``g ⊙ u + b`` for a standardised ``u``). Head h
computes logits ``<W^Q_h x_i, W^K_h x_j>/sqrt(d_k) = beta <Q_h z_i, K_h z_j>`` and adds
``W^O_h W^V_h x_j`` averaged with those weights. So, in the units of ``z``, the layer is one
Euler step of length ``Δt = 1`` of

    zdot_i = P⊥(z_i) [ sum_h sum_j A^h_ij V_h z_j  (+ ffn(z_i)) ],
    Q_h = W^Q_h (d_k × d),  K_h = W^K_h,  V_h = W^O[:, h] W^V_h (d × d),  beta = r^2 / sqrt(d_k),

with the normalisation replaced by the projection onto the sphere. The value maps are kept
factored, ``Dynamics(V=W^V, O=W^O)`` (:func:`head_factors`), so the field costs
n^2 (d_k + d_v) per head rather than n^2 (d_k + d). The feed-forward sub-layer
becomes ``ffn(z) = (W_2 s(W_1 r z + b_1) + b_2) / r``; in that variant the attention's output
biases ``sum_h W^O_h b^V_h + b^O`` are folded into ``b_2`` too. The query/key biases are dropped
(the key bias cancels in the softmax; the query bias does not, a small error).

A network with different weights per layer is a :class:`particles.Piecewise` system with one
segment of duration Δt per layer; past the trained depth the last segment continues, which is
the ODE counterpart of repeating the last layer. Δt is fitted by matching the mean pair
similarity layer by layer.

**Pre-LN networks** (GPT-2, LLaMA; :func:`pre_layer_dynamics`). A pre-LN attention sub-layer is
``x ↦ x + MHA(N(x))`` with ``N(x) = g ⊙ sqrt(d) P x / |P x| (+ b)``, P = I for RMSNorm and the
centring I - 11^T/d for LayerNorm. On the stream h = P x with θ = h/|h|, head h's logits are
``beta <Q_h θ_i, K_h θ_j>`` with ``Q_h = W^Q_h G``, ``K_h = W^K_h G`` (G = diag(g)), ``beta = d/sqrt(d_k)``,
and the output adds ``Σ_j A_ij V_h θ_j`` with ``V_h = sqrt(d) P W^O_h W^V_h G``: the layer is *exactly*
one Euler step of length 1 of the Pre-LN dynamics ``ḣ_i = A_i(Θ)`` (``Dynamics(norm="pre")``,
arXiv 2510.22026 Table 1), the stream never renormalised, up to the dropped biases (b, the
query/key/value and output biases) and the norm's eps. The pre-LN feed-forward sub-layer
``y ↦ y + FFN(N2(y))`` becomes ``ffn(θ) = P (W_2 s(W_1 (sqrt(d) g_2 ⊙ θ + b_2') + b_1) + b_2)``, added to the
attention field (the network applies the two sub-layers one after the other: a Lie–Trotter
splitting of that sum).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from ..errors import ParticlesError, count, finite
from ..resources import check_count
from ..solvers import registry
from ..solvers.integrate import Diverged
from .depth import depth_stats, normalize_tokens
from .model import Encoder


def input_scale(enc: Encoder, layer: int) -> float:
    """``r``: the token norm set by the normalisation that feeds layer ``layer`` (0-based), from
    its weights: ``sqrt(sum g^2 + b^2)`` (embedding norm for layer 0, else the previous layer's
    output norm; for shared layers the layer's own output norm)."""
    if enc.config.shared_layers:  # the shared layer is fed by its own output norm (ALBERT)
        g, b = enc.layers[0].n2_w, enc.layers[0].n2_b
    elif layer == 0:
        g, b = enc.emb_norm_w, enc.emb_norm_b
    else:
        lw = enc.layer(layer - 1)
        g, b = lw.n2_w, lw.n2_b
    if enc.config.norm_position != "post" or g is None:
        raise ParticlesError("the ODE bridge needs a post-LN model with normalisation weights")
    b = np.zeros_like(g) if b is None else b
    return float(np.sqrt(np.sum(g * g + b * b)))


def _centring(enc: Encoder, d: int) -> np.ndarray | None:
    """P = I - 11^T/d for LayerNorm (None for RMSNorm, P = I)."""
    return None if enc.config.norm == "rmsnorm" else np.eye(d) - 1.0 / d


def stream(enc: Encoder, hidden) -> np.ndarray:
    """The Pre-LN state h = P x of hidden states ``x`` (``(..., d)``): centred for LayerNorm."""
    x = np.asarray(hidden, dtype=np.float64)
    return x if enc.config.norm == "rmsnorm" else x - x.mean(axis=-1, keepdims=True)


def pre_layer_dynamics(enc: Encoder, layer: int, *, dt: float = 1.0, ffn: bool = False):
    """The ``Dynamics(norm="pre")`` of a pre-LN layer (module docstring), time rescaled by ``dt``
    (V and the feed-forward output multiplied by ``dt``): one Euler step of length 1 with
    ``dt = 1`` is the layer's attention sub-layer on the stream :func:`stream`."""
    import particles as pt

    if enc.config.norm_position != "pre":
        raise ParticlesError("pre_layer_dynamics is for pre-LN models")
    finite(dt, "dt", "> 0")
    lw = enc.layer(layer)
    H, dk = enc.config.num_heads, enc.config.head_dim
    d = lw.wq.shape[1]
    g1 = np.ones(d) if lw.n1_w is None else lw.n1_w
    Q = lw.wq.reshape(H, dk, d) * g1
    K = lw.wk.reshape(H, dk, d) * g1
    V = lw.wv.reshape(H, -1, d) * g1  # (H, d_v, d)
    O = np.sqrt(d) * lw.wo.reshape(d, H, -1).transpose(1, 0, 2)  # (H, d, d_v)
    P = _centring(enc, d)
    if P is not None:
        O = P @ O
    ff = None
    if ffn:
        act = enc.config.activation
        if act not in ("gelu", "relu", "tanh"):
            raise ParticlesError(f"activation {act!r} has no counterpart in particles.FeedForward")
        g2 = np.ones(d) if lw.n2_w is None else lw.n2_w
        b1 = np.zeros(lw.w1.shape[0]) if lw.b1 is None else lw.b1
        if lw.n2_b is not None:
            b1 = b1 + lw.w1 @ lw.n2_b
        W2 = lw.w2 if P is None else P @ lw.w2
        b2 = None if lw.b2 is None else (lw.b2 if P is None else P @ lw.b2)
        ff = pt.FeedForward(
            W1=np.sqrt(d) * lw.w1 * g2,
            b1=b1,
            W2=dt * W2,
            b2=None if b2 is None else dt * b2,
            activation=act,
        )
    beta = d / np.sqrt(dk)
    return pt.Dynamics(
        beta=beta,
        kind="SA",
        Q=Q,
        K=K,
        V=V,
        O=dt * O,
        ffn=ff,
        causal=enc.config.causal,
        norm="pre",
    )


def head_matrices(enc: Encoder, layer: int):
    """``(Q, K, V)`` stacks of layer ``layer``'s heads: ``(H, d_k, d)``, ``(H, d_k, d)``,
    ``(H, d, d)`` with ``V_h = W^O[:, h] W^V_h`` (dense; the dynamics use the factors,
    :func:`head_factors`)."""
    Q, K, Wv, Wo = head_factors(enc, layer)
    return Q, K, Wo @ Wv


def head_factors(enc: Encoder, layer: int):
    """``(Q, K, W^V, W^O)`` of layer ``layer``'s heads: ``(H, d_k, d)``, ``(H, d_k, d)``,
    ``(H, d_v, d)`` and ``(H, d, d_v)`` (``W^O[:, h]``), the value map of head h being
    ``W^O_h W^V_h``: the factored form of :class:`particles.Dynamics` (``V``, ``O``)."""
    lw = enc.layer(layer)
    H, dk = enc.config.num_heads, enc.config.head_dim
    d = lw.wq.shape[1]
    Q = lw.wq.reshape(H, dk, d)
    K = lw.wk.reshape(H, dk, d)
    Wv = lw.wv.reshape(H, -1, d)
    Wo = lw.wo.reshape(d, H, -1).transpose(1, 0, 2)  # (H, d, d_v)
    return Q, K, Wv, Wo


def layer_beta(enc: Encoder, layer: int, scale: float | None = None) -> float:
    """``beta = r^2 / sqrt(d_k)`` with ``r`` = ``scale`` or :func:`input_scale`; for pre-LN models
    ``d / sqrt(d_k)`` (the norm's output has |N(x)| = sqrt(d) before its gain)."""
    if enc.config.norm_position == "pre":
        return enc.config.hidden_size / np.sqrt(enc.config.head_dim)
    r = input_scale(enc, layer) if scale is None else float(scale)
    return r * r / np.sqrt(enc.config.head_dim)


def effective_betas(enc: Encoder, layer: int, scale: float | None = None) -> np.ndarray:
    """Per-head effective inverse temperature ``beta |Q_h^T K_h|_2`` (the largest logit scale
    on the unit sphere), shape ``(H,)``."""
    if enc.config.norm_position == "pre":
        dyn = pre_layer_dynamics(enc, layer)
        Q, K, beta = dyn.Q, dyn.K, dyn.beta
    else:
        Q, K, _ = head_matrices(enc, layer)
        beta = layer_beta(enc, layer, scale)
    # |Q^T K|_2^2 = largest eigenvalue of (Q Q^T)(K K^T), a d_k x d_k product
    lam = [np.max(np.linalg.eigvals((q @ q.T) @ (k @ k.T)).real) for q, k in zip(Q, K, strict=True)]
    return beta * np.sqrt(np.maximum(lam, 0.0))


def layer_dynamics(
    enc: Encoder, layer: int, *, dt: float = 1.0, ffn: bool = False, scale: float | None = None
):
    """The :class:`particles.Dynamics` of layer ``layer`` in the units of ``z`` with the time
    rescaled so that duration 1 of the returned field = duration ``dt`` of the layer's field
    (``V`` and the feed-forward output multiplied by ``dt``)."""
    import particles as pt

    finite(dt, "dt", "> 0")
    if enc.config.norm_position == "pre":
        return pre_layer_dynamics(enc, layer, dt=dt, ffn=ffn)
    if enc.config.norm_position != "post":
        raise ParticlesError("the ODE bridge is written for post-LN and pre-LN models")
    r = input_scale(enc, layer) if scale is None else float(scale)
    Q, K, Wv, Wo = head_factors(enc, layer)
    beta = layer_beta(enc, layer, r)
    ff = None
    if ffn:
        lw = enc.layer(layer)
        act = enc.config.activation
        if act not in ("gelu", "relu", "tanh"):
            raise ParticlesError(f"activation {act!r} has no counterpart in particles.FeedForward")
        d = lw.wq.shape[1]
        H = enc.config.num_heads
        bias = np.zeros(d)
        if lw.bv is not None:
            bias += np.einsum(
                "hdv,hv->d", lw.wo.reshape(d, H, -1).transpose(1, 0, 2), lw.bv.reshape(H, -1)
            )
        if lw.bo is not None:
            bias += lw.bo
        if lw.b2 is not None:
            bias += lw.b2
        b1 = np.zeros(lw.w1.shape[0]) if lw.b1 is None else lw.b1
        ff = pt.FeedForward(
            W1=r * lw.w1, b1=b1, W2=dt * lw.w2 / r, b2=dt * bias / r, activation=act
        )
    return pt.Dynamics(
        beta=beta, kind="SA", Q=Q, K=K, V=Wv, O=dt * Wo, ffn=ff, causal=enc.config.causal
    )


def measured_scales(enc: Encoder, hidden) -> np.ndarray:
    """``r_ℓ`` = mean token norm of the input of each distinct layer, measured on ``hidden``
    ``(≥L, n, d)`` (layer k's input is ``hidden[k]``); shape ``(L,)`` (1 for shared layers)."""
    nl = 1 if enc.config.shared_layers else enc.num_layers
    hidden = np.asarray(hidden)
    if hidden.shape[0] < nl:
        raise ParticlesError(f"need hidden states for at least {nl} layers, got {hidden.shape[0]}")
    return np.linalg.norm(hidden[:nl], axis=-1).mean(axis=1)


def network_dynamics(
    enc: Encoder,
    depth: int,
    *,
    dt: float = 1.0,
    ffn: bool = False,
    repeat: int | None = None,
    scales=None,
):
    """``particles.Piecewise`` with one unit-duration segment per layer of the schedule
    (time τ = t/Δt, so the ODE's time ℓ is the network's layer ℓ); the last segment continues.
    ``scales``: per-layer ``r`` (default: from the norm weights, :func:`input_scale`)."""
    import particles as pt

    sched = enc.schedule(min(depth, enc.num_layers) if not enc.config.shared_layers else 1, repeat)
    cache: dict[int, object] = {}
    segs = []
    for li in sched:
        if li not in cache:
            r = None if scales is None else float(scales[li])
            cache[li] = layer_dynamics(enc, li, dt=dt, ffn=ffn, scale=r)
        segs.append((cache[li], 1.0))
    return pt.Piecewise(segments=tuple(segs))


def ode_states(
    enc: Encoder,
    hidden0,
    depth: int,
    *,
    dt: float = 1.0,
    ffn: bool = False,
    method: str = "rk4",
    steps_per_layer: int = 4,
    repeat: int | None = None,
    scales=None,
    progress: bool = False,
) -> np.ndarray:
    """Run the particle dynamics from the normalised layer-0 tokens ``hidden0`` ``(n, d)`` and
    return the states at times ``ℓ Δt``, ℓ = 0..depth: ``(depth+1, n, d)`` on the sphere.

    For a pre-LN model the dynamics start from the stream :func:`stream` of ``hidden0`` (not
    normalised) and the directions θ = h/|h| are returned (:func:`ode_stream` gives h itself)."""
    if enc.config.norm_position == "pre":
        return normalize_tokens(
            ode_stream(
                enc,
                hidden0,
                depth,
                dt=dt,
                ffn=ffn,
                method=method,
                steps_per_layer=steps_per_layer,
                repeat=repeat,
                progress=progress,
            )
        )
    x0 = normalize_tokens(hidden0)
    return _through_layers(
        enc, x0, depth, dt, ffn, method, steps_per_layer, repeat, scales, progress
    )


def ode_stream(
    enc: Encoder,
    hidden0,
    depth: int,
    *,
    dt: float = 1.0,
    ffn: bool = False,
    method: str = "euler",
    steps_per_layer: int = 1,
    repeat: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Pre-LN models: the stream h (``(depth+1, n, d)``) of the Pre-LN dynamics from
    :func:`stream` of ``hidden0`` at times ``ℓ Δt``. With ``method="euler"``,
    ``steps_per_layer=1``, ``dt=1`` and ``ffn=False`` each step is the layer's attention
    sub-layer itself."""
    if enc.config.norm_position != "pre":
        raise ParticlesError("ode_stream is for pre-LN models")
    h0 = stream(enc, hidden0)
    return _through_layers(enc, h0, depth, dt, ffn, method, steps_per_layer, repeat, None, progress)


def _through_layers(
    enc, x0, depth, dt, ffn, method, steps_per_layer, repeat, scales, progress
) -> np.ndarray:
    """The states ``(depth+1, n, d)`` of :func:`network_dynamics` from ``x0`` at t = 0..depth
    (one unit of time a layer, ``steps_per_layer`` steps of a fixed-step ``method`` each)."""
    import particles as pt

    count(depth, "depth")
    count(steps_per_layer, "steps_per_layer")
    dyn = network_dynamics(enc, depth, dt=dt, ffn=ffn, repeat=repeat, scales=scales)
    kw = {"dt": 1.0 / steps_per_layer} if registry.get(method).fixed else {}
    try:
        tr = pt.simulate(
            x0,
            dyn,
            float(depth),
            method=method,
            save_at=np.arange(depth + 1.0),
            progress=progress,
            **kw,
        )
    except Diverged:
        raise ParticlesError(
            f"the particle dynamics diverged with dt = {dt:g} per layer and {steps_per_layer} "
            f"{method} steps per layer; use a smaller dt or more steps per layer"
        ) from None
    return tr.x


def _loss(net_mean, ode_mean):
    return float(np.mean((net_mean[1:] - ode_mean[1:]) ** 2))


def fit_dt(
    enc: Encoder,
    hidden,
    *,
    ffn: bool = False,
    depth: int | None = None,
    bounds=(0.05, 4.0),
    steps_per_layer: int = 4,
    xatol: float = 0.03,
    scales=None,
):
    """Fit Δt so that the ODE's mean pair similarity at ``ℓΔt`` matches layer ℓ of ``hidden``
    ``(L+1, n, d)`` for ℓ = 1..depth (least squares over log Δt, bounded).

    **Returns:** ``(dt, loss)`` with loss the mean squared difference of the mean similarity."""
    hidden = np.asarray(hidden)
    depth = hidden.shape[0] - 1 if depth is None else int(depth)
    net = depth_stats(hidden[: depth + 1]).mean

    def f(logdt):
        ode = ode_states(
            enc,
            hidden[0],
            depth,
            dt=float(np.exp(logdt)),
            ffn=ffn,
            steps_per_layer=steps_per_layer,
            scales=scales,
        )
        return _loss(net, depth_stats(ode).mean)

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": xatol})
    return float(np.exp(res.x)), float(res.fun)


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Network vs ODE through depth.

    ``hidden`` ``(D+1, n, d)``: the network's normalised tokens; ``ode[v]`` ``(D+1, n, d)``: the
    ODE states at ``ℓ Δt_v`` for each variant ``v`` of ``variants`` ("attention",
    "attention+ffn"); ``dt[v]`` (fitted or given); ``loss[v]``: mean squared difference of the
    mean pair similarity over layers 1..``fit_depth``; ``scale`` ``(L,)`` the token norm r used
    per layer (``scale_kind``: "measured" or "weights"); ``beta`` ``(L,)`` = r²/√d_k;
    ``betas`` ``(L, H)`` per-head effective β = β |Q_h^T K_h|_2."""

    hidden: np.ndarray
    variants: tuple[str, ...]
    ode: dict
    dt: dict
    loss: dict
    beta: np.ndarray
    betas: np.ndarray
    scale: np.ndarray
    scale_kind: str
    fit_depth: int


VARIANTS = ("attention", "attention+ffn")


def compare_ode(
    enc: Encoder,
    ids,
    *,
    depth: int | None = None,
    variants=VARIANTS,
    fit_depth: int | None = None,
    steps_per_layer: int = 4,
    dt: float | None = None,
    scale: str = "measured",
    bounds=(0.05, 4.0),
    progress: bool = False,
) -> Comparison:
    """Network layers vs particle dynamics for the token ids ``ids``.

    ``depth``: layers compared (default: trained depth; more repeats the last layer, and the
    ODE's last segment continues). Δt is fitted per variant on layers 1..``fit_depth``
    (default: the trained depth) unless ``dt`` is given. ``scale``: the token norm r that sets
    β and the feed-forward's units, "measured" (mean norm of the layer's input on this text) or
    "weights" (from the norm weights alone, :func:`input_scale`).
    """
    L = enc.num_layers
    depth = L if depth is None else count(depth, "depth")
    fit_depth = min(L, depth) if fit_depth is None else count(fit_depth, "fit_depth", 1, depth)
    if dt is not None:
        finite(dt, "dt", "> 0")
    count(steps_per_layer, "steps_per_layer")
    check_count(
        depth * steps_per_layer, f"depth x steps_per_layer = {depth} x {steps_per_layer}", 1e7
    )
    variants = tuple(variants)
    for v in variants:
        if v not in VARIANTS:
            raise ParticlesError(f"unknown variant {v!r}; choose from {VARIANTS}")
    if not variants:
        raise ParticlesError("no variant to compare")
    hidden = enc.hidden_states(ids, depth=max(depth, L))[: depth + 1]
    nl = 1 if enc.config.shared_layers else L
    if enc.config.norm_position == "pre":
        scales = np.ones(nl)  # the pre-LN dynamics need no token norm (module docstring)
    elif scale == "measured":
        scales = measured_scales(enc, enc.hidden_states(ids, depth=nl))
    elif scale == "weights":
        scales = np.array([input_scale(enc, k) for k in range(nl)])
    else:
        raise ParticlesError(f"scale must be 'measured' or 'weights', got {scale!r}")
    net_mean = depth_stats(hidden[: fit_depth + 1]).mean
    ode, dts, losses = {}, {}, {}
    for v in variants:
        ffn = v == "attention+ffn"
        if dt is None:
            dts[v], _ = fit_dt(
                enc,
                hidden,
                ffn=ffn,
                depth=fit_depth,
                bounds=bounds,
                steps_per_layer=steps_per_layer,
                scales=scales,
            )
        else:
            dts[v] = float(dt)
        ode[v] = ode_states(
            enc,
            hidden[0],
            depth,
            dt=dts[v],
            ffn=ffn,
            scales=scales,
            steps_per_layer=steps_per_layer,
            progress=progress,
        )
        losses[v] = _loss(net_mean, depth_stats(ode[v][: fit_depth + 1]).mean)
    return Comparison(
        hidden=normalize_tokens(hidden),
        variants=variants,
        ode=ode,
        dt=dts,
        loss=losses,
        beta=np.array([layer_beta(enc, k, scales[k]) for k in range(nl)]),
        betas=np.stack([effective_betas(enc, k, scales[k]) for k in range(nl)]),
        scale=scales,
        scale_kind=scale,
        fit_depth=fit_depth,
    )
