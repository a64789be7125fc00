"""The long-sequence (T → ∞) gradient flow (derived here from arXiv 2305.16380), solved by scipy.

With uniform class prior π_n = 1/K, c_n the class attention, f_n = c_n / ||c_n||,
α_n = softmax(Y^T f_n) and g_n = (I - f_n f_n^T) Y (e_n - α_n) / ||c_n||::

    Ẏ   = η_Y Σ_n π_n f_n (e_n - α_n)^T
    ż_m = η_Z Σ_{n: ψ(n)=m} π_n (diag c_n - c_n c_n^T) g_n

This is minus the gradient (scaled by η) of the reduced loss J = -Σ_n π_n log α_{n, n}.
SGD with momentum μ moves, once the momentum buffer has built up, like plain SGD with step
η / (1 - μ); :func:`integrate_reduced` takes those effective rates, so its time is in SGD steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ..errors import ParticlesError, finite, real_array
from .data import SyntheticTask
from .model import class_attention, scatter_rows

__all__ = ["ReducedSolution", "integrate_reduced", "reduced_field", "reduced_loss"]


#: the largest rate times horizon of :func:`integrate_reduced` (a bound on the solver's work)
MAX_RATE_TIME = 1e6


def _check(Y, Z, task):
    if not isinstance(task, SyntheticTask):
        raise ParticlesError("the reduced dynamics needs a SyntheticTask")
    m = task.vocab_size
    Y = real_array(Y, "Y", finite=True)
    Z = real_array(Z, "Z", finite=True)
    if Y.shape != (m, m) or Z.shape != (m, m):
        raise ParticlesError(f"need Y and Z of shape ({m}, {m}), got {Y.shape} and {Z.shape}")
    return Y, Z


def _parts(Y, Z, task):
    c = class_attention(Z, task)
    nrm = np.linalg.norm(c, axis=1, keepdims=True)
    f = c / nrm
    logits = f @ Y
    alpha = np.exp(logits - logits.max(axis=1, keepdims=True))
    alpha /= alpha.sum(axis=1, keepdims=True)
    return c, nrm, f, logits, alpha


def reduced_loss(Y, Z, task: SyntheticTask) -> float:
    """J = -Σ_n π_n log α_{n, n}, the T → ∞ expected loss (π uniform)."""
    Y, Z = _check(Y, Z, task)
    _, _, _, logits, _ = _parts(Y, Z, task)
    mx = logits.max(axis=1)
    lse = mx + np.log(np.exp(logits - mx[:, None]).sum(axis=1))
    k = np.arange(task.num_classes)
    return float(np.mean(lse - logits[k, task.next_tokens]))


def reduced_field(Y, Z, task: SyntheticTask, eta_y: float, eta_z: float):
    """``(Ẏ [M, M], Ż [M, M])`` of the reduced flow (only the query rows of Ż are non-zero)."""
    Y, Z = _check(Y, Z, task)
    eta_y, eta_z = finite(eta_y, "eta_y", ">= 0"), finite(eta_z, "eta_z", ">= 0")
    c, nrm, f, _, alpha = _parts(Y, Z, task)
    kk = task.num_classes
    r = -alpha
    r[np.arange(kk), task.next_tokens] += 1.0  # e_n - α_n
    dY = (eta_y / kk) * (f.T @ r)
    g = r @ Y.T
    g = (g - f * np.sum(f * g, axis=1, keepdims=True)) / nrm
    dz = c * (g - np.sum(c * g, axis=1, keepdims=True))
    dZ = scatter_rows(task.query_tokens, (eta_z / kk) * dz, Z.shape[0])
    return dY, dZ


@dataclass(frozen=True, kw_only=True)
class ReducedSolution:
    """ts ``[T]``; c ``[T, K, M]``; loss ``[T]`` (J); Y, Z ``[T, M, M]``; nfev."""

    ts: np.ndarray
    c: np.ndarray
    loss: np.ndarray
    Y: np.ndarray
    Z: np.ndarray
    nfev: int


def integrate_reduced(
    task: SyntheticTask,
    *,
    eta_y: float,
    eta_z: float,
    ts,
    Y0=None,
    Z0=None,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    method: str = "RK45",
) -> ReducedSolution:
    """Integrate the reduced flow from (Y0, Z0) (zeros by default), saving at times ``ts``.

    Pass the effective rates η/(1 - μ) to compare with SGD with momentum μ in steps.
    """
    if not isinstance(task, SyntheticTask):
        raise ParticlesError("the reduced dynamics needs a SyntheticTask")
    ts = real_array(ts, "ts", finite=True)
    if ts.ndim != 1 or ts.size < 1 or ts[0] < 0 or np.any(np.diff(ts) <= 0):
        raise ParticlesError("ts must be a non-empty increasing array of times >= 0")
    for name, v in (("eta_y", eta_y), ("eta_z", eta_z)):
        if finite(v, name, ">= 0") * ts[-1] > MAX_RATE_TIME:
            raise ParticlesError(
                f"{name} * t = {v * ts[-1]:.3g} is beyond {MAX_RATE_TIME:g}: the flow would take "
                "too many steps; lower the rate or the time"
            )
    rtol, atol = finite(rtol, "rtol", "(0, 1)"), finite(atol, "atol", "> 0")
    if method not in ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"):
        raise ParticlesError(f"method must be a scipy solve_ivp method name, got {method!r}")
    m = task.vocab_size
    Y0 = np.zeros((m, m)) if Y0 is None else Y0
    Z0 = np.zeros((m, m)) if Z0 is None else Z0
    Y0, Z0 = _check(Y0, Z0, task)
    qrows = np.unique(task.query_tokens)
    nq = len(qrows)

    def unpack(y):
        Y = y[: m * m].reshape(m, m)
        Z = Z0.copy()
        Z[qrows] = y[m * m :].reshape(nq, m)
        return Y, Z

    def rhs(t, y):
        Y, Z = unpack(y)
        dY, dZ = reduced_field(Y, Z, task, eta_y, eta_z)
        return np.concatenate([dY.ravel(), dZ[qrows].ravel()])

    y0 = np.concatenate([Y0.ravel(), Z0[qrows].ravel()])
    t_span = (0.0, float(ts[-1])) if ts[0] > 0 else (float(ts[0]), float(ts[-1]))
    if t_span[1] == t_span[0]:
        ys = y0[:, None]
        nfev = 0
    else:
        sol = solve_ivp(rhs, t_span, y0, method=method, t_eval=ts, rtol=rtol, atol=atol)
        if not sol.success:
            raise ParticlesError(f"reduced ODE integration failed: {sol.message}")
        ys, nfev = sol.y, int(sol.nfev)
    Ys, Zs = zip(*(unpack(ys[:, i]) for i in range(ys.shape[1])), strict=True)
    Ys, Zs = np.array(Ys), np.array(Zs)
    loss = np.array([reduced_loss(Ys[i], Zs[i], task) for i in range(len(ts))])
    return ReducedSolution(ts=ts, c=class_attention(Zs, task), loss=loss, Y=Ys, Z=Zs, nfev=nfev)
