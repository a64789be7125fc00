"""The attention vector field on the sphere (arXiv 2312.10794, eqs. 2.3–2.8): :func:`velocity`,
:func:`velocity_rows` and :func:`drift` choose a backend.

The backends sit below this module and never import it:

- :mod:`.inputs`: what every backend shares (checks, the heads' inputs, the feed-forward term) and
  the exact tiled evaluation (:func:`~particles.field.inputs.attention`, ``raw_field``);
- :mod:`.tiles`: the exact evaluation's tiles, their order and threads (``fixed_order``);
- :mod:`.rows`: row blocks of the exact field (the unit of work of :mod:`.dask`);
- :mod:`.dask`: one field evaluation on a Dask cluster;
- :mod:`.expansion`: the O(n p) harmonic expansions for Q = K = I on S^1 and S^2;
- :mod:`.stable`: the log-domain repair of rows that overflow or lose their digits;
- :mod:`.norms`: the normalisation schemes' conventions and speed factors;
- :mod:`.kernels`: the field's numba kernels.
"""

from __future__ import annotations

import numpy as np

from ..errors import Overflow, ParticlesError, finite, flag, number
from ..model.params import Dynamics
from . import expansion, hardmax, kernels, sinkhorn
from .dask import raw_field as _distributed_raw_field
from .inputs import (
    _row_norms,
    _unit_rows,
    add_head,
    attention,
    check_dtype,
    check_logits,
    check_points,
    check_stream,
    feedforward,
    head_inputs,
    raw_field,
)
from .stable import CANCEL_RATIO, field_rows, repaired
from .tiles import fixed_order

__all__ = [
    "METHODS",
    "attention",
    "check_dtype",
    "check_points",
    "check_stream",
    "drift",
    "feedforward",
    "fixed_order",
    "head_inputs",
    "raw_field",
    "repaired",
    "velocity",
    "velocity_rows",
]


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
    if dyn.hardmax:
        return _hardmax_velocity(x, dyn, dt, project, method, scheduler)
    if method != "exact":
        plan = None
        if method == "auto":
            plan = expansion.choose(dyn, x, tol)
        elif not expansion.allowed(dyn, x.shape[1]):
            raise ParticlesError(
                "method='expansion' needs d = 2 or 3 (d = 3: the ducc0 package), Q = K = I, V None "
                "or a scalar, one head, no ffn, causal=False and kind SA or USA; use method='exact'"
            )
        if method == "expansion" or plan is not None:
            order, radial = plan if plan is not None else (None, None)
            f, _ = expansion.expansion_raw(
                x, dyn.beta, dyn.kind, dyn.V, tol, order, checked=plan is not None, radial=radial
            )
            out, bad = _projected(x, f) if project else (None, None)
            res = repaired(x, dyn, f, out, bad=bad).astype(dt, copy=False)
            if not np.all(np.isfinite(res)):
                raise Overflow(
                    f"the attention field overflows {np.dtype(dt).name} at beta = {dyn.beta:g}"
                )
            return res
    x64 = x
    x, f = _raw_as(x64, dyn, dt, scheduler)
    if not project:
        return repaired(x64, dyn, f, None)
    out, bad = _projected(x, f)
    return repaired(x64, dyn, f, out, bad=bad)


def _projected(x: np.ndarray, f: np.ndarray):
    """(P_perp(x_i) f_i row by row, the rows that :func:`repaired` must evaluate again): the tangent
    projection and the repair scan in one pass over the rows (``kernels._project_scan``)."""
    out = np.empty_like(f)
    bad = np.empty(f.shape[0], dtype=np.bool_)
    ratio = f.dtype.type(CANCEL_RATIO[f.dtype.type])
    kernels.pick(kernels._project_scan, f.size)(x, f, out, ratio, bad)
    return out, bad


def _hardmax_velocity(x, dyn: Dynamics, dt, project: bool, method: str, scheduler) -> np.ndarray:
    """:func:`velocity` for beta = inf: the tiled hardmax field (:mod:`.hardmax`), projected. No row
    needs the log-domain repair: the hardmax output is an average of values, finite and O(|V|)."""
    if method == "expansion":
        raise ParticlesError("method='expansion' has no beta = inf (hardmax) version; use 'exact'")
    x, f = _raw_as(x, dyn, dt, scheduler)
    if not project:
        return f
    out = np.empty_like(f)
    kernels.pick(kernels._project_tangent, f.size)(x, f, out)
    return out


def _raw_as(x64: np.ndarray, dyn: Dynamics, dt, scheduler):
    """(x as ``dt``, the unprojected tiled field there): on this machine or, with ``scheduler``,
    on a Dask cluster. Overflowing rows are left for :func:`repaired` (no warning)."""
    x = x64.astype(np.float32) if dt is np.float32 else x64
    with np.errstate(over="ignore", invalid="ignore"):
        if scheduler is not None:
            return x, _distributed_raw_field(x, dyn, scheduler)
        return x, raw_field(x, dyn)


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
            if dyn.kind == "SK":  # the potentials need every row; the output pass only these
                q, k, vals, scale = head_inputs(x, dyn, h)
                check_logits(q, k, dyn.beta)
                sym = sinkhorn.symmetric(dyn, h)
                tol = dyn.sinkhorn_tol
                part = sinkhorn.attention(q, k, vals, dyn.beta, tol, symmetric=sym, rows=rows)
                add_head(acc, part, scale)
                continue
            q, k, vals, scale = head_inputs(x, dyn, h, rows)
            if dyn.hardmax:
                a = hardmax.attention(q, k, vals)
                acc += a if scale is None else scale * a
                continue
            norms = check_logits(q, k, dyn.beta)
            if scale is None:
                attention(q, k, vals, dyn.beta, out=acc, normalize=sa, norms=norms)
            else:
                add_head(acc, attention(q, k, vals, dyn.beta, normalize=sa, norms=norms), scale)
        if dyn.ffn is not None:
            acc += feedforward(xr, dyn.ffn)
        out, bad = _projected(xr, acc) if project else (None, None)
    if dyn.hardmax:
        return acc if out is None else out
    return repaired(x, dyn, acc, out, rows, bad=bad)


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
    theta, a = _raw_as(theta64, dyn, dt, scheduler)
    if norm == "pre":
        return a if dyn.hardmax else repaired(theta64, dyn, a, None)
    bad = ~np.all(np.isfinite(a), axis=1)
    if bad.any():  # overflow of USA's scale: the direction of A_i from the log domain
        g, _ = field_rows(theta64, dyn, np.flatnonzero(bad), project=False)
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
    if bad.any() and not dyn.hardmax:  # hardmax: a token attending to itself has 0, exactly
        rows = np.flatnonzero(bad)
        gp, lp = field_rows(theta64, dyn, rows, project=True)
        ga, la = field_rows(theta64, dyn, rows, project=False)
        size = np.linalg.norm(ga, axis=1)
        with np.errstate(under="ignore", invalid="ignore"):
            scale = np.where(size > 0, np.exp(lp - la) / np.where(size > 0, size, 1.0), 0.0)
        out[rows] = (gp * scale[:, None]).astype(dt)
    return dt(dyn.alpha) * out
