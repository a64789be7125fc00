"""The attention vector field on the sphere (arXiv 2312.10794, eqs. 2.3–2.8), tile by tile.

For each head, ``sum_j A_ij V x_j`` is computed tile by tile, never forming the n x n matrix
(memory O(n d + tile)): a BLAS GEMM writes a tile of logits <Q x_i, K x_j> into a reused buffer,
a numba kernel exponentiates it in place (a vectorised polynomial exp, since numba has no SIMD exp
here), and a second GEMM multiplies it by [V x_j, 1], whose last column yields the row sums.

Two paths (see :func:`attention`):

- **Gram path** when Q_h = K_h (identity weights included): the shifted weights
  W_ij = exp(beta <q_i, q_j> - c_i - c_j) with c_i = beta |q_i|^2 / 2 equal exp(-beta |q_i - q_j|^2 / 2)
  <= 1, are symmetric and need no row maximum, so each off-diagonal tile serves both of its row
  blocks: half the logits GEMM and half the exponentials.
- **Online path** otherwise: row tiles sweep column tiles with a running row maximum (online softmax,
  FlashAttention style); a single column tile when m <= ``config.TILE_COLS``.

Tiles are tasks run on ``config.THREADS`` Python threads with single-threaded BLAS and GIL-free
serial kernels (measured 4-5x faster than two-threaded BLAS calls on the loaded 2-core machine this
was tuned on: no barrier per GEMM); the Gram path's row blocks add their products in a fixed order,
so a field evaluation is reproducible. The tiles, their order and the threads:
:mod:`particles.field.tiles` (shared with the Dask row blocks, :mod:`particles.field.rows`); inside
:func:`fixed_order` the bits do not depend on the number of threads either. float32 inputs give a
float32 computation.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from .. import config, kernels
from ..errors import Overflow, ParticlesError, finite, flag, number, real_array
from ..model.params import Dynamics, FeedForward
from . import stable as field_stable
from . import tiles
from .tiles import fixed_order  # noqa: F401 (public: the noisy runs of simulate)

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
    Memory: O((n + m) (d_k + d_v) + tile_rows * tile_cols).
    """
    q, k, v, same = attention_inputs(q, k, v)
    n, m = q.shape[0], k.shape[0]
    if out is None:
        out = np.zeros((n, v.shape[1]), dtype=q.dtype)
    if n == 0 or m == 0:
        return out
    beta = float(beta)
    tiling = tiles.Tiling.here(tile_rows, tile_cols)
    c, shift = attention_path(q, k, v, beta, same)
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


def attention_path(q, k, v, beta: float, same: bool):
    """Which path :func:`attention` takes: ``(c, None)`` for the Gram path (c_i = beta |q_i|^2 / 2),
    ``(None, shift)`` for the one-pass bounded path, ``(None, None)`` for the online softmax."""
    if same and v.shape[0] == q.shape[0] and beta >= 0.0:
        c = 0.5 * beta * np.einsum("ij,ij->i", q, q, dtype=np.float64)
        if c.max() - c.min() <= GRAM_SPREAD_MAX:
            return c, None
    kmax = float(np.sqrt(np.einsum("ij,ij->i", k, k, dtype=np.float64).max()))
    c = abs(beta) * kmax * np.sqrt(np.einsum("ij,ij->i", q, q, dtype=np.float64))
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
    scalar V_h (as x's dtype) to multiply the head's output by, or None when nothing is to be scaled.
    The projections run on one BLAS thread: they are O(n d^2) against the field's O(n^2 d), and
    OpenBLAS threads woken here would spin-wait against the field's tile threads afterwards (measured
    at n = 4096, d = 64, general weights: 0.09 s per field evaluation instead of 0.048 s).
    """
    dt = x.dtype
    Q, K, V = dyn.head(h)
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
        if isinstance(V, np.ndarray):
            return q, k, np.ascontiguousarray(x @ V.T.astype(dt)), None
    if V is None or V == 1.0:
        return q, k, x, None
    return q, k, x, dt.type(V)


def raw_field(x: np.ndarray, dyn: Dynamics) -> np.ndarray:
    """The field before the tangent projection: sum_h sum_j A^h_ij V_h x_j + ffn(x_i). Shape (n, d).

    ``x`` must already be validated (C-contiguous (n, d), float64 or float32; the result has the
    same dtype). Heads with Q_h = K_h (identity weights included) take the symmetric Gram path.
    """
    n, d = x.shape
    dt = x.dtype
    acc = np.zeros((n, d), dtype=dt)
    kw = dict(normalize=dyn.kind == "SA", causal=dyn.causal)
    for h in range(dyn.heads):
        q, k, vals, scale = head_inputs(x, dyn, h)
        field_stable.check_logits(q, k, dyn.beta)
        if scale is None:
            attention(q, k, vals, dyn.beta, out=acc, **kw)
        else:
            acc += scale * attention(q, k, vals, dyn.beta, **kw)
    if dyn.ffn is not None:
        acc += feedforward(x, dyn.ffn).astype(dt)
    return acc


#: the field evaluations :func:`velocity` offers
METHODS = ("auto", "exact", "expansion")


def velocity(
    x,
    dyn: Dynamics,
    *,
    dtype=np.float64,
    project: bool = True,
    method: str = "auto",
    tol: float = 1e-10,
    scheduler=None,
) -> np.ndarray:
    """The attention dynamics' velocity xdot = P_perp(x_i)[...] at ``x`` (n, d). Shape (n, d).

    ``x`` should lie on the unit sphere (this is not checked here; see :func:`particles.simulate`).
    ``dtype``: ``np.float64`` (default, the reference) or ``np.float32`` (about twice as fast for
    large n; relative accuracy ~1e-6 times the largest beta * |logit| scale). The result has this dtype.
    ``project=False`` returns the attention (+ feed-forward) output before the tangent projection:
    what a residual layer adds to x_i before LayerNorm.

    ``method``:

    - ``"exact"``: the tiled O(n^2 d) evaluation (module docstring), exact to rounding.
    - ``"expansion"``: for Q = K = I, V = v I (one head, no ffn, not causal) on S^1 or S^2 only: the
      O(n p) harmonic expansion of :mod:`particles.field.expansion` (Jacobi–Anger on the circle,
      Funk–Hecke with ducc0's spherical-harmonic transforms on S^2), with the field error at most
      ``tol`` relative to each row's total attention weight times |v| (for SA: an absolute error
      <= tol |v|). Computed in float64. In the plane (d = 2) the points may be off the circle
      (below). A clear error where it does not apply.
    - ``"auto"`` (default): the expansion where it applies, meets ``tol`` a priori for this beta,
      and is predicted faster (about n >= 300 on the circle and n >= 1000 on S^2, from the cost
      model ``expansion.predicted_seconds``); otherwise exactly the ``"exact"`` evaluation, bit
      for bit. Points on the sphere to the tolerance of ``expansion.unit_deviation_ok`` are
      evaluated at x_i / |x_i| (the same bits as on it). Points further off the sphere: on the
      circle (d = 2) the radial expansion (Bessel multiplication theorem; ``particles.field.expansion``,
      :func:`particles.field.expansion.circle_plan`) evaluates the field at the points themselves, with
      M radial terms chosen from beta, the radii's spread and ``tol``, where it is predicted faster;
      among them the intermediate stages of ``"rk4"`` and the other explicit Runge–Kutta methods of
      :func:`particles.simulate` (x + c h k is off by (c h)^2 |k|^2), so every evaluation of an
      RK4 step is O(n p M): at n = 10^6, beta <= 20, one step takes ~0.5 s instead of ~1 h
      (``benchmarks/bench_rk4_circle.py``). A spread too large for M <= ``MAX_RADIAL`` (e.g. radii
      in [0.5, 1.5] at beta = 20) gets the exact evaluation. On S^2 points off the sphere get the
      exact evaluation: Funk–Hecke's degree-dependent factors r^l cannot be carried by the
      per-point weights of ducc0's transforms; there, with large n, use a method whose every
      evaluation is on the sphere: ``"geometric"`` (Lie midpoint, order 2), ``"lie-euler"`` or
      ``"euler"`` (``tests/test_expansion.py::test_auto_at_runge_kutta_stages``).
    Large beta: the self term e^{beta <Q x_i, K x_i>} V x_i dominates row i and is (for V = v I)
    normal to the sphere, so the projection cancels it; rows where that cancellation (or USA's
    scale e^{max logit}) would cost digits or overflow are evaluated again in the log domain
    (:mod:`particles.field.stable`), so the field is accurate to ~1e-13 for every beta at which
    it is representable (n = 8 on S^2, USA, beta = 750: |velocity| ~ 1e298), and an
    :class:`particles.errors.Overflow` (a :class:`ParticlesError`) names beta where it is not.
    Inputs whose logits overflow (points far off the sphere, huge Q, K) are refused the same way.
    ``scheduler``: evaluate the exact field on a Dask cluster, in row blocks
    (:mod:`particles.field.dask`): ``"local"``, a scheduler address, a ``distributed.Client`` or a
    ``DaskField``; the result is the local one (bit for bit where that is reproducible and the
    workers run this process's OpenBLAS kernel, see :mod:`particles.field.dask`). With
    ``method="auto"`` an expansion, where it is chosen, still runs here (O(n p)).
    """
    if not isinstance(dyn, Dynamics):
        raise ParticlesError(f"dyn must be a particles.Dynamics, got {type(dyn).__name__}")
    project = flag(project, "project")
    dt = check_dtype(dtype)
    if not isinstance(method, str) or method not in METHODS:
        raise ParticlesError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    tol = number(tol, "tol")
    if not (0.0 < tol < 1.0):
        raise ParticlesError(f"tol must be in (0, 1), got {tol}")
    x = check_points(x)
    dyn.check_dimension(x.shape[1])
    if method != "exact":
        from . import expansion

        plan = None
        if method == "auto":
            plan = expansion.choose(dyn, x, tol)
        elif not expansion.allowed(dyn, x.shape[1]):
            raise ParticlesError(
                "method='expansion' needs d = 2 or 3 (d = 3: the ducc0 package), Q = K = I, V None "
                "or a scalar, one head, no ffn and causal=False; use method='exact'"
            )
        if method == "expansion" or plan is not None:
            order, radial = plan if plan is not None else (None, None)
            f, _ = expansion.expansion_raw(
                x, dyn.beta, dyn.kind, dyn.V, tol, order, checked=plan is not None, radial=radial
            )
            out = None
            with np.errstate(over="ignore", invalid="ignore"):  # such rows are repaired below
                if project:
                    out = np.empty_like(f)
                    kernels.pick(kernels._project_tangent, f.size)(x, f, out)
            res = repaired(x, dyn, f, out).astype(dt, copy=False)
            if not np.all(np.isfinite(res)):
                raise Overflow(
                    f"the attention field overflows {np.dtype(dt).name} at beta = {dyn.beta:g}"
                )
            return res
    x64 = x
    if dt is np.float32:
        x = x.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # such rows are repaired below
        if scheduler is not None:
            from .dask import raw_field as _distributed_raw_field

            f = _distributed_raw_field(x, dyn, scheduler)
        else:
            f = raw_field(x, dyn)
        if not project:
            return repaired(x64, dyn, f, None)
        out = np.empty_like(f)
        kernels.pick(kernels._project_tangent, f.size)(x, f, out)
    return repaired(x64, dyn, f, out)


#: a row of the tiled field is evaluated again in the log domain (:mod:`particles.field.stable`)
#: when its tangent part is below this fraction of the attention output: the projection's
#: cancellation (of the self term e^{beta <Q x_i, K x_i>} V x_i, dominant at large beta: for SA
#: and USA alike) costs eps / ratio of relative accuracy
CANCEL_RATIO = {np.float64: 1e-6, np.float32: 1e-3}


def repaired(
    x64: np.ndarray, dyn: Dynamics, f: np.ndarray, out: np.ndarray | None, rows=None
) -> np.ndarray:
    """``out`` (the projected field; ``f``, the attention output, when None) with the rows that the
    tiled evaluation got wrong evaluated again in the log domain: non-finite rows (overflow of
    USA's scale e^{max logit}) and the rows whose projection cancelled (ratio below
    :data:`CANCEL_RATIO`). Other rows keep their bits. A :class:`ParticlesError` where the field
    is beyond the floating-point range: never inf or NaN out of finite input. ``rows``: the rows
    of ``x64`` that those of ``f`` are (default: all, in order)."""
    res = f if out is None else out
    dt = res.dtype.type
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.all(np.isfinite(res), axis=1)
        if out is not None:
            bad |= np.max(np.abs(out), axis=1) < CANCEL_RATIO[dt] * np.max(np.abs(f), axis=1)
    if bad.any():
        idx = np.flatnonzero(bad)
        at = idx if rows is None else rows[idx]
        g, L = field_stable.field_rows(x64, dyn, at, project=out is not None)
        res[idx] = field_stable.exp_rows(g, L, dt, dyn.beta)
    if not np.all(np.isfinite(res)):
        raise Overflow(
            f"the attention field is not finite at these points (beta = {dyn.beta:g}, max |x_i| = "
            f"{float(np.max(np.abs(x64))):.3g}): the points should lie on the unit sphere"
        )
    return res


def velocity_rows(x, dyn: Dynamics, rows, *, project: bool = True) -> np.ndarray:
    """The exact field (float64) at the particles ``rows`` only, each against all n particles.

    Shape (len(rows), d); equal to ``velocity(x, dyn, method="exact")[rows]`` up to rounding, at
    O(len(rows) n d) cost: for checking fast evaluations on a subsample of rows. Not causal.
    """
    if not isinstance(dyn, Dynamics):
        raise ParticlesError(f"dyn must be a particles.Dynamics, got {type(dyn).__name__}")
    if dyn.causal:
        raise ParticlesError("velocity_rows does not support causal dynamics")
    project = flag(project, "project")
    x = check_points(x)
    dyn.check_dimension(x.shape[1])
    try:
        rows = np.asarray(rows).ravel()
    except ValueError:  # ragged
        raise ParticlesError("rows must be a list of particle indices") from None
    if rows.size and rows.dtype.kind not in "iu":
        raise ParticlesError(f"rows must be integer indices, got dtype {rows.dtype}")
    rows = rows.astype(np.intp)
    if rows.size and (rows.min() < -x.shape[0] or rows.max() >= x.shape[0]):
        raise ParticlesError(f"rows must be indices in 0..{x.shape[0] - 1}")
    rows = rows % x.shape[0]
    xr = np.ascontiguousarray(x[rows])
    acc = np.zeros((rows.size, x.shape[1]))
    sa = dyn.kind == "SA"
    with np.errstate(over="ignore", invalid="ignore"):  # such rows are repaired below
        for h in range(dyn.heads):
            q, k, vals, scale = head_inputs(x, dyn, h, rows)
            field_stable.check_logits(q, k, dyn.beta)
            if scale is None:
                attention(q, k, vals, dyn.beta, out=acc, normalize=sa)
            else:
                acc += scale * attention(q, k, vals, dyn.beta, normalize=sa)
        if dyn.ffn is not None:
            acc += feedforward(xr, dyn.ffn)
        out = None
        if project:
            out = np.empty_like(acc)
            kernels.pick(kernels._project_tangent, acc.size)(xr, acc, out)
    return repaired(x, dyn, acc, out, rows)


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
    if np.any(np.einsum("ij,ij->i", h, h) == 0.0):
        raise ParticlesError(f"{name} has a zero row: its direction h_i / |h_i| is undefined")
    return h


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


def drift(
    h, dyn: Dynamics, *, t: float = 0.0, dtype=np.float64, project: bool = True, scheduler=None
):
    """The vector field of the state ``h`` (n, d) under the normalisation scheme ``dyn.norm``.

    With θ_i = h_i / |h_i| and A_i = Σ_h Σ_j A^h_ij V_h θ_j + ffn(θ_i) (the attention output read on
    normalised tokens, :func:`raw_field`), the schemes of arXiv 2510.22026, Table 1 (see
    :mod:`particles.field.norms`) are

    - ``post``: ḣ_i = P⊥(h_i) A_i with h on the sphere: exactly :func:`velocity` (same code path);
    - ``pre``:  ḣ_i = A_i, h in R^d (``project`` is ignored: nothing is projected);
    - ``peri``: ḣ_i = A_i / |A_i|;
    - ``ngpt``: ḣ_i = α P⊥(h_i)(A_i / |A_i|) with h on the sphere; ``project=False`` gives nGPT's
      own update α (A_i / |A_i| − h_i), whose tangent part is the same;
    - ``mix``: ``post`` for ``t`` < ``dyn.t_switch``, ``pre`` from then on;
    - ``lns`` (LN-Scaling): ``post`` divided by the speed factor s(t) = sqrt(t + ``dyn.t_offset``)
      (arXiv 2510.22026, Table 2), h on the sphere: the one time-dependent field.

    ``project=False`` for ``post`` returns the attention output before the projection (what one
    residual layer adds before the LayerNorm), as :func:`velocity` does.
    ``scheduler``: the attention output is evaluated on a Dask cluster (see :func:`velocity`).
    """
    if not isinstance(dyn, Dynamics):
        raise ParticlesError(f"dyn must be a particles.Dynamics, got {type(dyn).__name__}")
    t = finite(t, "t (time)", ">= 0")
    project = flag(project, "project")
    norm = dyn.norm
    if norm == "mix":
        norm = "post" if t < dyn.t_switch else "pre"
    if norm == "post":
        return velocity(h, dyn, dtype=dtype, project=project, scheduler=scheduler)
    if norm == "lns":
        v = velocity(h, dyn, dtype=dtype, project=project, scheduler=scheduler)
        return v / v.dtype.type(np.sqrt(t + dyn.t_offset))
    dt = check_dtype(dtype)
    h = check_points(h, "h")
    dyn.check_dimension(h.shape[1])
    nrm = _row_norms(h)
    if np.any(nrm == 0.0):
        raise ParticlesError("a token has zero norm: its direction h_i / |h_i| is undefined")
    theta = np.ascontiguousarray(h / nrm[:, None])
    theta64 = theta
    if dt is np.float32:
        theta = theta.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # such rows are repaired below
        if scheduler is not None:
            from .dask import raw_field as _distributed_raw_field

            a = _distributed_raw_field(theta, dyn, scheduler)
        else:
            a = raw_field(theta, dyn)
    if norm == "pre":
        return repaired(theta64, dyn, a, None)
    bad = ~np.all(np.isfinite(a), axis=1)
    if bad.any():  # overflow of USA's scale: the direction of A_i from the log domain
        g, _ = field_stable.field_rows(theta64, dyn, np.flatnonzero(bad), project=False)
        a[bad] = g
    u = _unit_rows(a)
    if norm == "peri":
        return u
    # ngpt
    if not project:
        return dt(dyn.alpha) * (u - theta)
    out = np.empty_like(u)
    kernels.pick(kernels._project_tangent, u.size)(theta, u, out)
    # where the tangent part of u_i ~ theta_i cancels (see repaired): the log domain
    bad = np.max(np.abs(out), axis=1) < CANCEL_RATIO[dt]
    if bad.any():
        rows = np.flatnonzero(bad)
        gp, lp = field_stable.field_rows(theta64, dyn, rows, project=True)
        ga, la = field_stable.field_rows(theta64, dyn, rows, project=False)
        size = np.linalg.norm(ga, axis=1)
        with np.errstate(under="ignore", invalid="ignore"):
            scale = np.where(size > 0, np.exp(lp - la) / np.where(size > 0, size, 1.0), 0.0)
        out[rows] = (gp * scale[:, None]).astype(dt)
    return dt(dyn.alpha) * out
