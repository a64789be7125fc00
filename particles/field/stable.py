"""The attention field in the log domain, row by row: for the rows where the tiled evaluation of
:mod:`particles.field` overflows or loses its digits, and for a clear error where the field itself
is beyond the floating-point range.

Where the tiled evaluation fails. USA (Z_i = n) at large beta: the self term
e^{beta <Q x_i, K x_i>} V x_i / n dominates row i (for Q = K = V = I it is e^beta x_i / n) and
is normal to the sphere, so the tangent projection P_perp(x_i) cancels it; computed in float64 at
the scale e^beta, the cancellation leaves rounding errors of eps e^beta, which can exceed the field
itself (n = 8 on S^2, beta = 500: relative errors of order 1), and beyond beta ~ 709 the scale
overflows (inf - inf = NaN).

How it is done here, for each row i and head h:

- the logits l_ij = beta <q_i, k_j> of the other columns j != i (j <= i if causal) are shifted by
  their maximum m_i, so that sum_j e^{l_ij - m_i} [V x_j, 1] is O(1) and exact to rounding;
- the self term is kept apart, with its own logit s_i = beta <q_i, k_i>: it never swamps the
  other columns (its weight e^{s_i - m_i} is applied after the projection);
- projections are taken onto the tangent space at x_i / |x_i| (the point on the sphere that x_i
  rounds), with error-free transformations (Dekker products, compensated dot products), so the
  self term of V = v I projects to exactly 0, as it does on the sphere, and other terms to
  their tangent parts exact to rounding;
- row i's field is e^{L_i} g_i with max |g_i| = 1 and L_i in float64: heads and the feed-forward
  term are combined in this form, and e^{L_i} g_i is formed at the end; where it exceeds the float
  range a :class:`particles.errors.Overflow` says so (never inf or NaN).

The result agrees with an 80-digit evaluation (``decimal``) at x_i / |x_i| to ~1e-13 at beta =
400, 500, 750 (``tests/test_field_stable.py``). Cost O(rows n d) with numpy's exp, two GEMMs of logits per
tile; memory O(n d + tile).
"""

from __future__ import annotations

import numpy as np

from .. import config
from ..errors import Overflow
from ..model.params import Dynamics
from . import sinkhorn
from .inputs import check_logits, feedforward, head_inputs

#: row tile (rows x columns) of the log-domain evaluation
_TILE_ROWS, _TILE_COLS = 256, 2048

#: log of the largest finite float64 and float32
LOG_MAX = {np.float64: float(np.log(np.finfo(np.float64).max)), np.float32: 88.72}

_SPLIT = 134217729.0  # 2^27 + 1 (Veltkamp)


def _two_prod(a, b):
    """(p, e) with p = fl(a b) and a b = p + e exactly (Dekker; |a|, |b| < 1e290)."""
    p = a * b
    t = _SPLIT * a
    ah = t - (t - a)
    al = a - ah
    t = _SPLIT * b
    bh = t - (t - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def _two_sum(a, b):
    s = a + b
    z = s - a
    return s, (a - (s - z)) + (b - z)


def _dot2(x, y):
    """Row-wise <x_i, y_i> as an unevaluated pair (s, c), s + c exact to ~eps^2 (compensated)."""
    s, c = _two_prod(x[:, 0], y[:, 0])
    for k in range(1, x.shape[1]):
        p, e = _two_prod(x[:, k], y[:, k])
        s, q = _two_sum(s, p)
        c = c + (q + e)
    return _two_sum(s, c)


def project_accurate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P_perp(x_i / |x_i|) y_i = y_i - (<x_i, y_i> / |x_i|^2) x_i row by row (x float64 of norm
    ~1, moderate y), with the dot products and the products r x_ik carried in twice the working
    precision: exact to ~eps |result| + eps^2 |y|. So y_i = x_i (the self term of V = v I)
    projects to exactly 0, as on the sphere, instead of to eps-sized noise (or to
    (1 - |x_i|^2) x_i, a radial artefact of x_i's rounding, which the tiled evaluation meets at
    the scale e^{beta} of the self term)."""
    s1, c1 = _dot2(x, y)
    s2, c2 = _dot2(x, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = s1 / s2
        p, e = _two_prod(r, s2)
        r_lo = (((s1 - p) - e) + (c1 - r * c2)) / s2  # (s1 + c1) / (s2 + c2) = r + r_lo
    p, e = _two_prod(r[:, None], x)
    return ((y - p) - e) - r_lo[:, None] * x


def _normalised(g: np.ndarray, L: np.ndarray):
    """(g / max|g_i|, L + log max|g_i|) row by row; zero rows keep g = 0 and get L = -inf. An
    :class:`particles.errors.Overflow` where g is not finite (the inputs are beyond the range)."""
    if not np.all(np.isfinite(g)) or np.any(np.isnan(L)):
        raise Overflow(
            "the attention field cannot be evaluated in float64 at these points: an intermediate "
            "overflows (the points should lie on the unit sphere; Q, K, V and ffn be of moderate size)"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.max(np.abs(g), axis=1) if g.shape[1] else np.zeros(g.shape[0])
        ok = a > 0
        g = np.where(ok[:, None], g / np.where(ok, a, 1.0)[:, None], 0.0)
        L = np.where(ok, L + np.log(np.where(ok, a, 1.0)), -np.inf)
    return g, L


def _head_rows(x, rows, q, k, vals, beta, usa, causal, project, omap=None, bias=None):
    """One head at ``rows``: (g, L) with the head's output e^{L_i} g_i, before V's scalar.
    ``omap``: the head's output map O_h (d, d_v) of factored value maps, applied to the sums
    (in d_v dimensions) before the projection. ``bias`` (n,): added to column j's logits (SK:
    Sinkhorn's column potential g_j, so that the row-normalised weights are those of the doubly
    stochastic matrix)."""
    n = k.shape[0]
    nr = q.shape[0]
    dv = vals.shape[1] if omap is None else omap.shape[0]
    g = np.zeros((nr, dv))
    L = np.zeros(nr)
    for r0 in range(0, nr, _TILE_ROWS):
        r1 = min(nr, r0 + _TILE_ROWS)
        idx = rows[r0:r1]
        qb = q[r0:r1]

        def logits(c0, c1, qb=qb, idx=idx):
            s = qb @ k[c0:c1].T
            s *= beta
            if bias is not None:
                s += bias[c0:c1]
            own = np.flatnonzero((idx >= c0) & (idx < c1))
            s[own, idx[own] - c0] = -np.inf  # the self term is added apart
            if causal and c1 - 1 > idx.min():
                s[np.arange(c0, c1)[None, :] > idx[:, None]] = -np.inf
            return s

        m = np.full(r1 - r0, -np.inf)
        for c0 in range(0, n, _TILE_COLS):
            m = np.maximum(m, logits(c0, min(n, c0 + _TILE_COLS)).max(axis=1))
        shift = np.where(np.isfinite(m), m, 0.0)
        acc = np.zeros((r1 - r0, vals.shape[1]))
        z = np.zeros(r1 - r0)
        for c0 in range(0, n, _TILE_COLS):
            c1 = min(n, c0 + _TILE_COLS)
            e = logits(c0, c1)
            e -= shift[:, None]
            np.exp(e, out=e)
            acc += e @ vals[c0:c1]
            z += e.sum(axis=1)
        sig = beta * np.einsum("ij,ij->i", qb, k[idx])
        if bias is not None:
            sig = sig + bias[idx]
        own = vals[idx]
        if omap is not None:
            acc = acc @ omap.T
            own = own @ omap.T
        if project:
            xb = x[idx]
            acc = project_accurate(xb, acc)
            own = project_accurate(xb, own)
        # the other columns and the self term, each as e^{L} g with max |g| = 1 *after* the
        # projection: a self term that projects to ~0 must not set the scale at which the other
        # columns are added (at beta = 1e4, e^{m - sig} underflows while e^m acc is the field)
        ga, La = _normalised(acc, m)  # no other column (m = -inf): La = -inf
        gs, Ls = _normalised(own, sig)
        top = np.maximum(La, Ls)
        top = np.where(np.isfinite(top), top, 0.0)
        g[r0:r1] = ga * np.exp(La - top)[:, None] + gs * np.exp(Ls - top)[:, None]
        if usa:
            L[r0:r1] = top - np.log(n)
        else:  # the normaliser Z_i = e^m z + e^sig, in the log domain (z >= 1 where m is finite)
            with np.errstate(divide="ignore"):
                L[r0:r1] = top - np.logaddexp(m + np.log(z), sig)
    return _normalised(g, L)


def field_rows(x: np.ndarray, dyn, rows, *, project: bool = True):
    """The field at ``rows`` of x (float64 (n, d)) in the log domain: ``(g, L)`` with the field
    e^{L_i} g_i, max |g_i| = 1 (zero rows: g_i = 0, L_i = -inf). ``project``: P_perp(x_i) applied
    (accurately, before any rescaling), else the attention (+ feed-forward) output."""
    # BLAS on one thread: these GEMMs are small (a tile of logits), and OpenBLAS's threads would
    # spin against each other (measured 5-10x slower on 2 cores)
    with np.errstate(over="ignore", invalid="ignore"), config.blas_threads(1):
        return _field_rows(x, dyn, rows, project)


def _field_rows(x, dyn, rows, project):
    x = np.ascontiguousarray(x, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.intp)
    parts = []
    for h in range(dyn.heads):
        q, k, vals, scale = head_inputs(x, dyn, h, rows)
        check_logits(q, k, dyn.beta)
        if not np.all(np.isfinite(vals)):
            raise Overflow("the values V x_j overflow float64: the points or V are too large")
        bias = None
        if dyn.kind == "SK":  # Sinkhorn's column potentials need every row
            qf, kf, _, _ = head_inputs(x, dyn, h)
            sym = sinkhorn.symmetric(dyn, h)
            bias = sinkhorn.solve(qf, kf, dyn.beta, dyn.sinkhorn_tol, symmetric=sym).g
        omap = scale if isinstance(scale, np.ndarray) else None
        g, L = _head_rows(
            x, rows, q, k, vals, dyn.beta, dyn.kind == "USA", dyn.causal, project, omap, bias
        )
        if scale is not None and omap is None:
            g = g * float(scale)
        parts.append((g, L))
    if dyn.ffn is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            f = feedforward(x[rows], dyn.ffn)
        if not np.all(np.isfinite(f)):
            raise Overflow("the feed-forward term overflows float64 at these points")
        parts.append(
            _normalised(project_accurate(x[rows], f) if project else f, np.zeros(len(rows)))
        )
    top = np.max([L for _, L in parts], axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    total = sum(g * np.exp(L - safe)[:, None] for g, L in parts)
    return _normalised(total, safe)


def exp_rows(g: np.ndarray, L: np.ndarray, dtype, beta: float) -> np.ndarray:
    """e^{L_i} g_i as ``dtype``, or a :class:`particles.errors.Overflow` where it exceeds the float range."""
    dt = np.dtype(dtype).type
    big = L > LOG_MAX[dt] - 1e-9
    if np.any(big):
        i = int(np.argmax(L))
        raise Overflow(
            f"the attention field overflows {np.dtype(dt).name} at beta = {beta:g}: row {i} has "
            f"|velocity| ~ e^{L[i]:.1f} (the largest {np.dtype(dt).name} is ~e^{LOG_MAX[dt]:.1f}); "
            "a smaller beta (or kind='SA', which normalises the weights) keeps it representable"
        )
    with np.errstate(under="ignore"):
        return (np.exp(L)[:, None] * g).astype(dt)


#: a row of the tiled field is evaluated again in the log domain (:mod:`particles.field.stable`)
#: when its tangent part is below this fraction of the attention output: the projection's
#: cancellation (of the self term e^{beta <Q x_i, K x_i>} V x_i, dominant at large beta: for SA
#: and USA alike) costs eps / ratio of relative accuracy
CANCEL_RATIO = {np.float64: 1e-6, np.float32: 1e-3}


def repair_scan(f: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """The rows :func:`repaired` evaluates again: those of ``out`` (``f`` when None) that are not
    finite, and with ``out`` (the projection of ``f``) those whose projection cancelled."""
    res = f if out is None else out
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.all(np.isfinite(res), axis=1)
        if out is not None:
            dt = res.dtype.type
            bad |= np.max(np.abs(out), axis=1) < CANCEL_RATIO[dt] * np.max(np.abs(f), axis=1)
    return bad


def repaired(
    x64: np.ndarray, dyn: Dynamics, f: np.ndarray, out: np.ndarray | None, rows=None, bad=None
) -> np.ndarray:
    """``out`` (the projected field; ``f``, the attention output, when None) with the rows that the
    tiled evaluation got wrong evaluated again in the log domain: non-finite rows (overflow of
    USA's scale e^{max logit}) and the rows whose projection cancelled (ratio below
    :data:`CANCEL_RATIO`). Other rows keep their bits. A :class:`ParticlesError` where the field
    is beyond the floating-point range: never inf or NaN out of finite input. ``rows``: the rows
    of ``x64`` that those of ``f`` are (default: all, in order). ``bad``: the rows to repair if
    already found (:func:`repair_scan`, or the tangent projection's own scan,
    ``particles.field.kernels._project_scan``)."""
    res = f if out is None else out
    dt = res.dtype.type
    if bad is None:
        bad = repair_scan(f, out)
    if not bad.any():  # (every row is finite: a row that is not is bad)
        return res
    idx = np.flatnonzero(bad)
    at = idx if rows is None else rows[idx]
    g, L = field_rows(x64, dyn, at, project=out is not None)
    res[idx] = exp_rows(g, L, dt, dyn.beta)
    if not np.all(np.isfinite(res[idx])):
        raise Overflow(
            f"the attention field is not finite at these points (beta = {dyn.beta:g}, max |x_i| = "
            f"{float(np.max(np.abs(x64))):.3g}): the points should lie on the unit sphere"
        )
    return res
