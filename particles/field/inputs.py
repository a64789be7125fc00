"""What every backend of the field shares: the checks of points and dtypes, the heads' inputs, the
feed-forward term, and the exact evaluation of the attention (arXiv 2312.10794, eqs. 2.3–2.8), tile
by tile (:func:`attention`, :func:`raw_field`). :mod:`particles.field` chooses a backend.

For each head, ``sum_j A_ij V x_j`` is computed tile by tile, never forming the n x n matrix
(memory O(n d + tile)): a BLAS GEMM writes a tile of logits <Q x_i, K x_j> into a reused buffer,
a numba kernel exponentiates it in place (a vectorised polynomial exp, since numba has no SIMD exp
here), and a second GEMM multiplies it by the values: by [w_j V x_j, w_j] on the Gram path, whose
last column yields the row sums, by V x_j on the online path, whose row sums the exp kernel adds.

Two paths (see :func:`attention`):

- **Gram path** when Q_h = K_h (identity weights included): the shifted weights
  W_ij = exp(beta <q_i, q_j> - c_i - c_j) with c_i = beta |q_i|^2 / 2 equal exp(-beta |q_i - q_j|^2 / 2)
  <= 1, are symmetric and need no row maximum, so each off-diagonal tile serves both of its row
  blocks: half the logits GEMM and half the exponentials.
- **Online path** otherwise: row tiles sweep column tiles with a running row maximum (online softmax,
  FlashAttention style); a single column tile when m <= ``config.TILE_COLS``.

- **Factored value maps** O_h V_h (``Dynamics(V=..., O=...)``, or a dense V of low rank):
  :func:`factored_field` attends in d_v dimensions, every head in one pass: the projections of all
  heads as one GEMM, one task per row tile computing every online head and then the output maps
  of all heads as one GEMM (n^2 (d_k + d_v) per head instead of n^2 (d_k + d)).

Tiles are tasks run on ``config.THREADS`` Python threads with single-threaded BLAS and GIL-free
serial kernels (measured 4-5x faster than two-threaded BLAS calls on the loaded 2-core machine this
was tuned on: no barrier per GEMM); the Gram path's row blocks add their products in a fixed order,
so a field evaluation is reproducible. The tiles, their order and the threads:
:mod:`particles.field.tiles` (shared with the Dask row blocks, :mod:`particles.field.rows`); inside
:func:`fixed_order` the bits do not depend on the number of threads either. float32 inputs give a
float32 computation.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np
from scipy.special import erf

from .. import config
from ..errors import Overflow, ParticlesError, real_array
from ..model.params import Dynamics, FeedForward
from . import hardmax, sinkhorn, tiles

_gelu_c = 1.0 / np.sqrt(2.0)


def check_points(x, name: str = "x") -> np.ndarray:
    """Validate particle positions: a finite (n, d) array with n >= 1 and d >= 2, as C float64."""
    x = real_array(x, name, "(n, d)")
    if x.ndim != 2:
        raise ParticlesError(f"{name} must have shape (n, d), got shape {x.shape}")
    n, d = x.shape
    if n < 1:
        raise ParticlesError(f"{name} has no particles (n = 0)")
    if d < 2:
        raise ParticlesError(
            f"particles must live on S^(d-1) with d >= 2, got d = {d} (the columns of {name})"
        )
    if not np.all(np.isfinite(x)):
        raise ParticlesError(f"{name} has non-finite entries")
    # aligned too: numpy's matmul copies an unaligned operand into another layout, which changes
    # OpenBLAS's GEMM variant and, on some kernels (SkylakeX), the last bits
    return np.require(x, requirements=["C", "A"])


#: the Gram path shifts row i by c_i = beta |q_i|^2 / 2; it needs every weight exp(c_j - max c) to
#: stay far from underflow, so it is used only while beta * spread of |q_i|^2 / 2 is below this.
GRAM_SPREAD_MAX = 600.0

#: the bounded path shifts row i by c_i = |beta| |q_i| max_j |k_j| >= beta <q_i, k_j> (Cauchy-Schwarz),
#: so every exponent lies in [-2 c_i, 0]; it is used while 2 max c_i stays above the exp's underflow
#: (float64 -708, float32 -87) with a margin, and the online softmax otherwise.
BOUND_SPAN_MAX = {np.float64: 600.0, np.float32: 60.0}


def _float_type(*arrays) -> type:
    """float32 when every array is float32, else float64 (the default and the reference)."""
    return np.float32 if all(a.dtype == np.float32 for a in arrays) else np.float64


def attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    beta: float,
    *,
    normalize: bool = True,
    causal: bool = False,
    out: np.ndarray | None = None,
    tile_rows: int | None = None,
    tile_cols: int | None = None,
    norms: tuple | None = None,
) -> np.ndarray:
    """sum_j a_ij v_j with a_ij = exp(beta <q_i, k_j>) / Z_i, added into ``out``.

    Shapes: q (n, d_k), k (m, d_k), v (m, d_v); returns (n, d_v). ``normalize=True`` uses the softmax
    Z_i = sum_j exp(beta <q_i, k_j>) (SA); ``False`` uses Z_i = m (USA). ``causal`` keeps j <= i only.
    Stable for any beta: exponents are shifted so that none is positive; an unnormalised result is
    only infinite when its true value exceeds the floating-point range.

    Computed in float32 when q, k and v are all float32, else in float64. When ``k is q`` (self
    attention with Q = K, e.g. identity weights) the symmetric Gram path is used: each off-diagonal
    tile exp(beta q_I q_J^T - c_I - c_J) serves both row blocks I and J, which halves the logits
    GEMM and the exponentials. Otherwise row tiles sweep column tiles with an online softmax.
    Memory: O((n + m) (d_k + d_v) + tile_rows * tile_cols). ``norms``: :func:`head_norms` of these
    q, k if already computed (e.g. by :func:`check_logits`); used only when q, k need no conversion.
    """
    q0, k0 = q, k
    q, k, v, same = attention_inputs(q, k, v)
    if q is not q0 or k is not k0:
        norms = None
    n, m = q.shape[0], k.shape[0]
    if out is None:
        out = np.zeros((n, v.shape[1]), dtype=q.dtype)
    if n == 0 or m == 0:
        return out
    beta = float(beta)
    tiling = tiles.Tiling.here(tile_rows, tile_cols)
    c, shift = attention_path(q, k, v, beta, same, norms)
    if c is not None:
        return _attention_gram(q, v, beta, c, normalize, causal, out, tiling)
    return _attention_online(q, k, v, beta, normalize, causal, out, shift=shift, tiling=tiling)


def attention_inputs(q, k, v):
    """``(q, k, v, same)``: C-contiguous, all float32 if all are, else float64; ``same`` = k is q
    (then the returned k is the returned q)."""
    same = k is q
    dt = _float_type(q, k, v)
    q = np.ascontiguousarray(q, dtype=dt)
    k = q if same else np.ascontiguousarray(k, dtype=dt)
    return q, k, np.ascontiguousarray(v, dtype=dt), same


def head_norms(q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|q_i|^2, |k_j|^2) row by row, in float64 (the second is the first when ``k is q``): what
    the logit bound (:func:`check_logits`) and the shifts (:func:`attention_path`) are made of,
    computed once per head and passed on."""
    with np.errstate(over="ignore", invalid="ignore"):
        qq = np.einsum("ij,ij->i", q, q, dtype=np.float64)
        kk = qq if k is q else np.einsum("ij,ij->i", k, k, dtype=np.float64)
    return qq, kk


def attention_path(q, k, v, beta: float, same: bool, norms: tuple | None = None):
    """Which path :func:`attention` takes: ``(c, None)`` for the Gram path (c_i = beta |q_i|^2 / 2),
    ``(None, shift)`` for the one-pass bounded path, ``(None, None)`` for the online softmax.
    ``norms``: :func:`head_norms` of q, k if already computed."""
    qq, kk = head_norms(q, k) if norms is None else norms
    if same and v.shape[0] == q.shape[0] and beta >= 0.0:
        c = 0.5 * beta * qq
        if c.max() - c.min() <= GRAM_SPREAD_MAX:
            return c, None
    kmax = float(np.sqrt(kk.max()))
    c = abs(beta) * kmax * np.sqrt(qq)
    if 2.0 * float(c.max()) <= BOUND_SPAN_MAX[q.dtype.type]:
        return None, c
    return None, None


def _attention_gram(q, v, beta, c, normalize, causal, out, tiling: tiles.Tiling):
    """Self-attention with k = q on square tiles, using exp(beta q_i.q_j) = W_ij e^{c_i} e^{c_j}.

    W_ij = exp(beta <q_i, q_j> - c_i - c_j) = exp(-beta |q_i - q_j|^2 / 2) <= 1 with
    c_i = beta |q_i|^2 / 2 is symmetric, so tile (I, J) is computed once for J >= I and used as W and
    W^T. Values are weighted by w_j = e^{c_j - max c} (in [e^-600, 1]) and carry a column of w, so
    acc_i = sum_j W_ij w_j [v_j, 1] holds numerator and softmax denominator. Causal: J <= I only.
    The tiles and their order: :mod:`particles.field.tiles`.
    """
    n, dv = v.shape
    threads, side = tiling.gram(n, q.shape[1], dv)
    g, log_scale = tiles.gram_setup(q, v, beta, c, causal, side)
    acc = tiles.gram_run(g, dv, threads)
    tiles.finish(acc, out, normalize, None if normalize else tiles.usa_scale(log_scale, q.dtype))
    return out


def _attention_online(
    q, k, v, beta, normalize, causal, out, tr=None, tc=None, shift=None, tiling=None
):
    """Row tiles x column tiles with a running row maximum (online softmax); row tiles are tasks.

    With ``shift`` (n,), a fixed upper bound of each row's exponents, rows are exponentiated as
    exp(beta s_ij - shift_i) in one pass: no running maximum, no rescaling of partial sums.
    ``tiling``: a :class:`particles.field.tiles.Tiling`; by default this process's, with row
    height at most ``tr`` and column width ``tc`` if given.
    """
    tiling = tiling or tiles.Tiling.here(tr, tc)
    threads, tr, tc = tiling.online(q.shape[0], k.shape[0], q.shape[1], v.shape[1])
    o = tiles.online_setup(q, k, v, beta, causal, normalize, tr, tc, shift)
    tiles.online_run(o, out, threads)
    return out


def feedforward(x: np.ndarray, ffn: FeedForward) -> np.ndarray:
    """ffn(x_i) = W2 s(W1 x_i + b1) + b2 for every row. Shape (n, d)."""
    h = x @ ffn.W1.T + ffn.b1
    if ffn.activation == "relu":
        h = np.maximum(h, 0.0)
    elif ffn.activation == "gelu":
        h = 0.5 * h * (1.0 + erf(h * _gelu_c))
    else:
        h = np.tanh(h)
    y = h @ ffn.W2.T
    if ffn.b2 is not None:
        y += ffn.b2
    return y


def head_inputs(x: np.ndarray, dyn: Dynamics, h: int, rows: np.ndarray | None = None):
    """Head ``h``'s queries, keys and values at ``x`` (n, d): ``(q, k, vals, scale)``.

    q = x Q_h^T (of the rows ``rows`` only, if given), k = x K_h^T, vals = x V_h^T (V_h a matrix)
    or x; ``k is q`` when Q_h = K_h (the symmetric Gram path) and ``rows`` is None. ``scale`` is the
    scalar V_h (as x's dtype) to multiply the head's output by, or None when nothing is to be scaled;
    for factored value maps (``dyn.factored``) vals = x V_h^T is (n, d_v) and ``scale`` is the
    output map O_h (d, d_v): the head's output is attention(q, k, vals) O_h^T (:func:`add_head`).
    The projections run on one BLAS thread: they are O(n d^2) against the field's O(n^2 d), and
    OpenBLAS threads woken here would spin-wait against the field's tile threads afterwards (measured
    at n = 4096, d = 64, general weights: 0.09 s per field evaluation instead of 0.048 s).
    """
    dt = x.dtype
    factors = dyn.head_factors(h)
    # (the dense product O_h V_h of dyn.head is not needed with the factors)
    Q, K, V = (*_qk(dyn, h), None) if factors is not None else dyn.head(h)
    xq = x if rows is None else np.ascontiguousarray(x[rows])
    with config.blas_threads(1):
        q = xq if Q is None else xq @ Q.T.astype(dt)
        same = (Q is None and K is None) or (
            Q is not None and K is not None and Q.shape == K.shape and np.array_equal(Q, K)
        )
        if same and rows is None:
            k = q
        else:
            k = x if K is None else x @ K.T.astype(dt)
        if factors is not None:
            Vf, Of = factors
            return q, k, np.ascontiguousarray(x @ Vf.T.astype(dt)), Of.astype(dt)
        if isinstance(V, np.ndarray):
            return q, k, np.ascontiguousarray(x @ V.T.astype(dt)), None
    if V is None or V == 1.0:
        return q, k, x, None
    return q, k, x, dt.type(V)


def add_head(acc: np.ndarray, y: np.ndarray, scale) -> np.ndarray:
    """acc += the head's output from its attention ``y`` and the ``scale`` of :func:`head_inputs`:
    y itself (None), scale * y (a scalar V) or y O_h^T (factored value maps, ``scale`` = O_h)."""
    if scale is None:
        acc += y
    elif isinstance(scale, np.ndarray) and scale.ndim == 2:
        with config.blas_threads(1):
            acc += y @ scale.T
    else:
        acc += scale * y
    return acc


def raw_field(x: np.ndarray, dyn: Dynamics) -> np.ndarray:
    """The field before the tangent projection: sum_h sum_j A^h_ij V_h x_j + ffn(x_i). Shape (n, d).

    ``x`` must already be validated (C-contiguous (n, d), float64 or float32; the result has the
    same dtype). Heads with Q_h = K_h (identity weights included) take the symmetric Gram path.
    Factored value maps (``dyn.factored``) take :func:`factored_field`: every head in one pass.
    With ``dyn.hardmax`` (beta = inf) each head is :func:`particles.field.hardmax.attention`.
    """
    n, d = x.shape
    dt = x.dtype
    if dyn.factored and not dyn.hardmax and dyn.kind != "SK":
        acc = factored_field(x, dyn, None)  # (written once, not added into zeros)
    else:
        acc = np.zeros((n, d), dtype=dt)
        kw = dict(normalize=dyn.kind == "SA", causal=dyn.causal)
        for h in range(dyn.heads):
            q, k, vals, scale = head_inputs(x, dyn, h)
            if dyn.hardmax:  # beta = inf: the maximisers' average (particles.field.hardmax)
                add_head(acc, hardmax.attention(q, k, vals, causal=dyn.causal), scale)
                continue
            norms = check_logits(q, k, dyn.beta)
            if dyn.kind == "SK":  # Sinkhorn attention, in float64 (particles.field.sinkhorn)
                sym = sinkhorn.symmetric(dyn, h)
                part = sinkhorn.attention(q, k, vals, dyn.beta, dyn.sinkhorn_tol, symmetric=sym)
                add_head(acc, part.astype(dt), scale)
                continue
            if scale is None:
                attention(q, k, vals, dyn.beta, out=acc, norms=norms, **kw)
            else:
                add_head(acc, attention(q, k, vals, dyn.beta, norms=norms, **kw), scale)
    if dyn.ffn is not None:
        acc += feedforward(x, dyn.ffn).astype(dt)
    return acc


# --- factored value maps: every head in one pass ----------------------------------------------------


class Heads(NamedTuple):
    """The inputs of :func:`factored_field` at x (n, d), for H heads with value maps O_h V_h.

    ``q``, ``k``, ``v``: per head (n, d_k), (n, d_k), (n, d_v), from one GEMM of x with every head's
    stacked maps (``k[h] is q[h]`` when Q_h = K_h); ``gram``: [(h, c)] the heads on the Gram path
    (c_i = beta |q_i|^2 / 2); ``online``: [(h, shift)] the others (``attention_path``'s shift or
    None); ``OT`` (H d_v, d): the output maps side by side, transposed, so that
    sum_h y_h O_h^T = [y_1 ... y_H] OT is one GEMM; ``tr``, ``tc``: the online tiles (rows of the
    projections and the output GEMM too); ``threads``: for the whole pass."""

    q: list
    k: list
    v: list
    gram: list
    online: list
    OT: np.ndarray
    dk: int
    dv: int
    tr: int
    tc: int
    threads: int


def _stacked_maps(dyn: Dynamics, d: int, dt):
    """(W, slices): W stacks Q_h, K_h (skipped when Q_h = K_h), V_h of every head, rows of one
    (sum, d) matrix, and slices[h] = (q rows, k rows or None, v rows)."""
    blocks, slices, at = [], [], 0
    eye = None

    def add(a):
        nonlocal at, eye
        if a is None:
            eye = np.eye(d) if eye is None else eye
            a = eye
        blocks.append(a)
        at += a.shape[0]
        return slice(at - a.shape[0], at)

    for h in range(dyn.heads):
        Q, K = _qk(dyn, h)
        Vf, _ = dyn.head_factors(h)
        same = (Q is None and K is None) or (
            Q is not None and K is not None and Q.shape == K.shape and np.array_equal(Q, K)
        )
        sq = add(Q)
        sk = None if same else add(K)
        slices.append((sq, sk, add(Vf)))
    return np.concatenate(blocks, axis=0).astype(dt), slices


#: (id of a Dynamics, dtype) -> (weak reference to it, W, slices, OT) of :func:`stacked_maps`
_MAPS: dict = {}
_MAPS_KEPT = 8


def stacked_maps(dyn: Dynamics, d: int, dt):
    """(W, slices, OT) of ``dyn`` (factored) as ``dt``: :func:`_stacked_maps` and the output maps
    side by side, transposed (:class:`Heads`). Built once per Dynamics and dtype (its matrices are
    read-only) and kept for the last few: each evaluation would otherwise copy every head's maps
    (measured 0.3-1.2 ms per evaluation at d = 384-512, H = 8-12)."""
    key = (id(dyn), np.dtype(dt).char)
    hit = _MAPS.get(key)
    if hit is not None and hit[0]() is dyn:
        return hit[1:]
    W, slices = _stacked_maps(dyn, d, dt)
    Of = dyn.value_factors[1]
    Os = [Of[h] if Of.ndim == 3 else Of for h in range(dyn.heads)]
    OT = np.ascontiguousarray(np.concatenate(Os, axis=1).T, dtype=dt)
    for a in (W, OT):
        a.setflags(write=False)
    while len(_MAPS) >= _MAPS_KEPT:
        _MAPS.pop(next(iter(_MAPS)), None)
    _MAPS[key] = (weakref.ref(dyn), W, slices, OT)
    return W, slices, OT


def _qk(dyn: Dynamics, h: int):
    Q, K = dyn.Q, dyn.K
    pick = lambda a: a[h] if isinstance(a, np.ndarray) and a.ndim == 3 else a  # noqa: E731
    return pick(Q), pick(K)


def projected_rows(x: np.ndarray, WT: np.ndarray, rows: int, threads: int) -> np.ndarray:
    """x WT (n, m) as one GEMM per block of ``rows`` rows (one BLAS thread each, on ``threads``
    Python threads): the bits depend on ``rows`` only, not on the threads."""
    n = x.shape[0]
    out = np.empty((n, WT.shape[1]), dtype=x.dtype)

    def work(r0, ws, threaded):
        np.matmul(x[r0 : r0 + rows], WT, out=out[r0 : r0 + rows])

    with config.blas_threads(1):
        tiles.run_tasks(list(range(0, n, rows)), work, lambda: None, threads)
    return out


def factored_inputs(x: np.ndarray, dyn: Dynamics, plan: tiles.Tiling, threads=None) -> Heads:
    """The :class:`Heads` of ``dyn`` (``dyn.factored``) at x (validated (n, d)), with the tiles of
    ``plan``; ``threads``: for the projections (default: by their work, ``plan.threads_for``)."""
    n, d = x.shape
    dt = x.dtype
    H, dv = dyn.heads, dyn.d_v
    Q0 = dyn.Q
    dk = d if Q0 is None else Q0.shape[-2]
    _, tr, tc = plan.online(n, n, dk, dv)
    work = float(H) * n * n * (dk + dv + 1)
    nthreads = plan.threads_for(work)
    W, slices, OT = stacked_maps(dyn, d, dt)
    if threads is None:  # threads for the projections' own work (the bits do not depend on it)
        threads = plan.threads_for(float(n) * d * W.shape[0])
    P = projected_rows(x, W.T, tr, threads)
    q, k, v, gram, online = [], [], [], [], []
    for h, (sq, sk, sv) in enumerate(slices):
        # (copies: views into P give the same bits, one core the same time, but on two threads
        # under load 3-9 % more CPU time at n = 1024, d_k = 64: each tile packs strided rows)
        qh = np.ascontiguousarray(P[:, sq])
        kh = qh if sk is None else np.ascontiguousarray(P[:, sk])
        vh = np.ascontiguousarray(P[:, sv])
        norms = check_logits(qh, kh, dyn.beta)  # (the row norms, once: the shifts need them too)
        c, shift = attention_path(qh, kh, vh, dyn.beta, sk is None, norms)
        (gram.append((h, c)) if c is not None else online.append((h, shift)))
        q.append(qh)
        k.append(kh)
        v.append(vh)
    return Heads(q, k, v, gram, online, OT, dk, dv, tr, tc, nthreads)


def factored_field(x: np.ndarray, dyn: Dynamics, acc: np.ndarray | None, plan=None) -> np.ndarray:
    """acc += sum_h sum_j A^h_ij O_h V_h x_j for factored value maps (``dyn.factored``): every head
    in one pass. ``acc`` None: returns the sum itself, a new array (the bits of acc = 0 plus it).

    The projections q, k, x V_h^T of all heads are one GEMM with the stacked maps (in row blocks
    of the online tile height); heads with Q_h = K_h take the Gram path one after the other; the
    others run as one set of tasks, one per row tile: each tile computes every head's attention in
    d_v dimensions (y_h, (tr, d_v), side by side in Y (n, H d_v)) and then its rows of Y OT, the
    output maps of all heads as one GEMM. Cost n^2 (d_k + d_v) per head plus O(n d H (d_k + d_v)).
    Same bits on any number of threads for given tiles; rows of it: :mod:`particles.field.rows`.
    """
    plan = plan or tiles.Tiling.here()
    n = x.shape[0]
    hd = factored_inputs(x, dyn, plan)
    dv = hd.dv
    Y = np.zeros((n, dyn.heads * dv), dtype=x.dtype)
    normalize = dyn.kind == "SA"
    for h, c in hd.gram:
        threads, side = plan.gram(n, hd.dk, dv)
        g, log_scale = tiles.gram_setup(hd.q[h], hd.v[h], dyn.beta, c, dyn.causal, side)
        sums = tiles.gram_run(g, dv, threads)
        scale = None if normalize else tiles.usa_scale(log_scale, x.dtype)
        tiles.finish(sums, Y[:, h * dv : (h + 1) * dv], normalize, scale)
    onl = [
        (
            h,
            tiles.online_setup(
                hd.q[h], hd.k[h], hd.v[h], dyn.beta, dyn.causal, normalize, hd.tr, hd.tc, shift
            ),
        )
        for h, shift in hd.online
    ]
    out = np.empty_like(x)

    def work(r0, ws, threaded):
        factored_tile(onl, Y, hd, r0, ws, out[r0 : r0 + hd.tr], threaded)

    tasks = list(range(0, n, hd.tr))
    if dyn.causal:  # the last row tiles have the most columns: start them first
        tasks.reverse()
    make_ws = (lambda: tiles.online_workspace(onl[0][1])) if onl else (lambda: None)
    with config.blas_threads(1):
        tiles.run_tasks(tasks, work, make_ws, hd.threads)
    if acc is None:
        return out
    acc += out
    return acc


def factored_tile(onl, Y, hd: Heads, r0: int, ws, out, threaded: bool, offset: int = 0) -> None:
    """Row tile r0 of :func:`factored_field`: each online head's attention into its columns of Y,
    then ``out`` (the tile's rows) = Y[rows] OT. ``offset``: the global row of Y's first row."""
    r1 = min(hd.q[0].shape[0], r0 + hd.tr)
    y = Y[r0 - offset : r1 - offset]
    dv = hd.dv
    for h, o in onl:
        tiles.online_tile(o, r0, ws, y[:, h * dv : (h + 1) * dv], threaded)
    np.matmul(y, hd.OT, out=out)


def check_dtype(dtype) -> type:
    """np.float64 or np.float32 from a dtype-like ("float32", np.float32, ...); else a clear error."""
    try:
        dt = np.dtype(dtype).type
    except TypeError:
        dt = None
    if dt not in (np.float64, np.float32):
        raise ParticlesError(f"dtype must be float64 or float32, got {dtype!r}")
    return dt


def check_stream(h, name: str = "h") -> np.ndarray:
    """Validate a residual stream (n, d) for the Pre-/Peri-LN schemes: finite, no zero row."""
    h = check_points(h, name)
    if h.size and float(np.max(np.abs(h))) > STREAM_MAX:
        raise ParticlesError(
            f"{name} has entries beyond {STREAM_MAX:g} (max |h_ij| = {float(np.max(np.abs(h))):.3g}): "
            "the squared norms |h_i|^2 the dynamics needs would overflow float64; rescale it"
        )
    if np.any(np.einsum("ij,ij->i", h, h) == 0.0):
        raise ParticlesError(f"{name} has a zero row: its direction h_i / |h_i| is undefined")
    return h


#: the largest entry of a residual stream: |h_i|^2 stays finite up to d ~ 1e8
STREAM_MAX = 1e150


def _row_norms(a: np.ndarray) -> np.ndarray:
    """|a_i| row by row; rows whose squared norm overflows (|a_i| > 1e154) are scaled first."""
    with np.errstate(over="ignore"):
        nrm = np.sqrt(np.einsum("ij,ij->i", a, a))
    big = ~np.isfinite(nrm)
    if big.any():
        top = np.max(np.abs(a[big]), axis=1)
        nrm[big] = top * np.linalg.norm(a[big] / top[:, None], axis=1)
    return nrm


def _unit_rows(a: np.ndarray) -> np.ndarray:
    """a_i / |a_i| row by row; a zero row (no attention signal) stays zero."""
    nrm = _row_norms(a)
    return a / np.where(nrm > 0, nrm, 1.0)[:, None]


def logit_bound(q: np.ndarray, k: np.ndarray, beta: float, norms: tuple | None = None) -> float:
    """|beta| max_i |q_i| max_j |k_j| (>= every |logit|), inf when it overflows. ``norms``:
    :func:`head_norms` of q, k if already computed."""
    qq, kk = head_norms(q, k) if norms is None else norms
    with np.errstate(over="ignore", invalid="ignore"):
        qn = float(np.sqrt(np.max(qq)))
        kn = float(np.sqrt(np.max(kk)))
        return abs(beta) * qn * kn if beta != 0.0 else 0.0


def check_logits(q: np.ndarray, k: np.ndarray, beta: float, what: str = "") -> tuple | None:
    """A :class:`particles.errors.Overflow` when the logits beta <q_i, k_j> may overflow float64.
    Returns the :func:`head_norms` of q, k (None when either is empty), for
    :func:`attention_path` and :func:`attention` to reuse."""
    if q.size == 0 or k.size == 0:
        return None
    norms = head_norms(q, k)
    b = logit_bound(q, k, beta, norms)
    if not b <= 1e300:
        raise Overflow(
            f"the attention logits beta <Q x_i, K x_j> overflow float64{what} (beta = {beta:g}, "
            "max |Q x_i| max |K x_j| beyond 1e300): the points (which should be on the unit sphere) "
            "or Q, K are too large"
        )
    return norms
