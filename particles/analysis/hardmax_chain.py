"""The self-attention Markov chain (SA_P) of Alcalde, Geshkovski, Ruiz-Balet, *Attention's forward
pass and Frank-Wolfe*, arXiv 2508.09628, §5, and the two times its metastability theorems bound.

Labels marked † come from a public transcription of the paper's arXiv source (v1), not from the
paper itself; ``docs/papers.md`` says what could be read.

**The chain** (§5, (SA_P)†; tokens x_i in R^d, B = I_d, a step gamma in (0, 1)): at every step
each token i draws an index j with probability

    P_ij(x^t) = softmax_j(beta <x_i^t, x_j^t>) = exp(beta <x_i^t, x_j^t>) / sum_l exp(beta <x_i^t, x_l^t>)

and jumps to x_i^{t+1} = (1 - gamma) x_i^t + gamma x_j^t. Every token draws from the same x^t:
the update is synchronous. The paper constrains each token's law separately and says nothing
of the joint law of one step; here the n draws are independent given x^t (our choice). The mean
of one step over the draws is (1 - gamma) x_i + gamma sum_j P_ij x_j, the deterministic
finite-beta map (SA_beta)† that :func:`particles.analysis.hardmax.layer` computes with
alpha = gamma / (1 - gamma) (:func:`mean_step`). At beta = inf the draw is uniform over the
maximisers of <x_i, x_j> (ties within the tolerance of :mod:`particles.field.hardmax`), so
without ties the chain is the hardmax layer map. An optional matrix ``A`` replaces the scores by
<A x_i, x_j> (the theorems have A = I).

**The times** (:func:`chain_times`). Each token i is assigned the vertex sigma(i) that the
hardmax map takes it to (the leaders of the initial configuration,
:func:`particles.analysis.hardmax.equilibrium`).

- *entry* (Theorem 5.2†, "clustering"): the first step at which every token is within
  ``radius`` of its vertex. The theorem: for beta above a threshold, with probability at least
  1 - beta^(-1/8), this holds at T_1 = floor(log(tau / m) / log(1 - gamma)) steps (m the
  smallest initial distance of an interior token to its vertex, tau a radius fixed by the
  vertices, and the radius C tau with C a universal constant): a number of steps independent of
  beta.
- *exit* (Theorem 5.4†, "metastability"): T_2, the first step at which some token is farther
  than ``eps`` from the convex hull of the initial positions of its group {x_j^0 : sigma(j) =
  sigma(i)}. The theorem, for vertices of equal norm with <v_a, v_a> >= <v_a, v_b> + c_0 for
  a != b (eq. bound.max†: so c_0 is at most the leader gap min_{a != b} <v_a, v_a - v_b>,
  :func:`particles.analysis.hardmax.leader_gap`), tokens starting near their vertices,
  eps / gamma >= 2 diam(K) and t > 1:

      P(T_2 >= t) >= 1 - exp((1 + eps/gamma) log(gamma t / eps) + (1 + eps/gamma) log n
                             - beta c_0 eps / (2 gamma)),

  so the stay grows at least like exp(beta c_0 eps / (2 gamma (1 + eps/gamma))) in beta
  (:func:`theorem_exponent` gives c_0 eps / (2 gamma) and that rate).

The distance to a group's hull is the distance to its nearest initial point when that is within
``eps`` (the hull contains the point), and otherwise the non-negative least-squares distance to
the hull (:func:`hull_distance`). Many independent runs are advanced together (``runs``), each
stopping at its exit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from ..errors import ParticlesError, count, finite, number, real_array
from ..field.hardmax import TIE_RTOL
from . import hardmax as _hm
from .hardmax import Z_MAX, _matrix, _tokens  # noqa: F401  (Z_MAX: the same bound here)

__all__ = [
    "ChainTimes",
    "chain",
    "chain_step",
    "chain_times",
    "hull_distance",
    "mean_step",
    "theorem_exponent",
    "transition_probabilities",
]

#: the most floats a batch of scores (runs x n x n) may take
_SCORE_CAP = 5 * 10**7


def _beta(beta) -> float:
    b = number(beta, "beta")
    if not b >= 0.0:
        raise ParticlesError(f"beta must be >= 0 (inf: hardmax), got {b}")
    if b != np.inf and b > 1e12:
        raise ParticlesError(f"beta = {b:g} is above 1e12: use beta = inf for the hardmax")
    return b


def _gamma(gamma) -> float:
    return finite(gamma, "gamma (the step)", "(0, 1)")


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ParticlesError(
        f"rng must be a numpy.random.Generator or a seed (an integer >= 0), got {rng!r}"
    )


def _checked(z: np.ndarray, A: np.ndarray | None) -> np.ndarray | None:
    """``A`` after checking that the scores <A x_i, x_j> of ``z`` are finite; the chain keeps the
    tokens in their convex hull, so the scores of every later state are bounded by these."""
    q = z if A is None else z @ A.T
    bound = np.sqrt(np.einsum("ij,ij->i", q, q)).max() * np.sqrt(np.einsum("ij,ij->i", z, z)).max()
    if not np.isfinite(bound) or bound > 1e300:
        raise ParticlesError("the scores <A x_i, x_j> overflow: scale the tokens or A down")
    return A


def _probabilities(z: np.ndarray, A: np.ndarray | None, beta: float) -> np.ndarray:
    """P[..., i, j] for a configuration (n, d) or a batch (R, n, d)."""
    q = z if A is None else z @ A.T
    s = q @ np.swapaxes(z, -1, -2)
    mx = s.max(axis=-1, keepdims=True)
    if beta == np.inf:
        tau = (
            TIE_RTOL
            * np.sqrt(np.einsum("...ij,...ij->...i", q, q))[..., None]
            * np.sqrt(np.einsum("...ij,...ij->...i", z, z)).max(axis=-1)[..., None, None]
        )
        w = (s >= mx - tau).astype(np.float64)
    else:
        w = np.exp(beta * (s - mx))
    return w / w.sum(axis=-1, keepdims=True)


def transition_probabilities(z, beta: float, *, A=None) -> np.ndarray:
    """The chain's transition matrix P (n, n): P_ij = softmax_j(beta <A x_i, x_j>) (A = None: the
    identity, the paper's B = I_d), rows summing to 1; at ``beta = inf`` uniform over the row's
    maximisers (module docstring)."""
    z = _tokens(z)
    return _probabilities(z, _checked(z, _matrix(A, z.shape[1])), _beta(beta))


def mean_step(z, beta: float, *, gamma: float, A=None) -> np.ndarray:
    """The mean of one chain step over its draws, in closed form: sum_j P_ij ((1 - gamma) x_i +
    gamma x_j) = (1 - gamma) x_i + gamma (P x)_i, 2508.09628's deterministic map (SA_beta)†."""
    z = _tokens(z)
    P = _probabilities(z, _checked(z, _matrix(A, z.shape[1])), _beta(beta))
    g = _gamma(gamma)
    return (1.0 - g) * z + g * (P @ z)


def _draw(P: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of P (..., n, n), by inverse transform of the row's cumulative sum."""
    c = np.cumsum(P, axis=-1)
    u = rng.random(P.shape[:-1] + (1,)) * c[..., -1:]
    j = (c <= u).sum(axis=-1)
    return np.minimum(j, P.shape[-1] - 1)


def _step(z, A, beta, g, rng):
    j = _draw(_probabilities(z, A, beta), rng)
    zj = np.take_along_axis(z, j[..., None], axis=-2)
    return (1.0 - g) * z + g * zj


def chain_step(z, beta: float, *, gamma: float, rng, A=None) -> np.ndarray:
    """One synchronous step of (SA_P)† from ``z`` (n, d): every token draws j from its row of
    :func:`transition_probabilities` independently and jumps to (1 - gamma) x_i + gamma x_j.
    ``rng``: a ``numpy.random.Generator`` or a seed."""
    z = _tokens(z)
    return _step(z, _checked(z, _matrix(A, z.shape[1])), _beta(beta), _gamma(gamma), _rng(rng))


def chain(z0, n_steps: int, beta: float, *, gamma: float, rng, A=None) -> np.ndarray:
    """The chain's states after 0, 1, ..., ``n_steps`` steps: shape (n_steps + 1, n, d)."""
    z = _tokens(z0, "z0")
    A = _checked(z, _matrix(A, z.shape[1]))
    b, g, r = _beta(beta), _gamma(gamma), _rng(rng)
    L = count(n_steps, "n_steps", 0, 10**6)
    if (L + 1) * z.size > 2 * 10**8:
        raise ParticlesError(f"{L + 1} states of shape {z.shape} exceed 1.6 GB: fewer steps")
    out = np.empty((L + 1,) + z.shape)
    out[0] = z
    for k in range(L):
        z = _step(z, A, b, g, r)
        out[k + 1] = z
    return out


def hull_distance(x, points) -> float:
    """The Euclidean distance from ``x`` (d,) to the convex hull of ``points`` (m, d): the
    least-squares distance over convex weights, found by non-negative least squares with the
    constraint sum = 1 as a heavily weighted row (accurate to about 1e-9 of the points' scale)."""
    x = real_array(x, "x", "(d,)", finite=True).ravel()
    p = real_array(points, "points", "(m, d)", finite=True)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] != x.size:
        raise ParticlesError(f"points must have shape (m, {x.size}), got {p.shape}")
    if p.shape[0] == 1:
        return float(np.linalg.norm(x - p[0]))
    c = p.mean(axis=0)
    scale = max(float(np.abs(p - c).max()), float(np.abs(x - c).max()), 1e-300)
    w = 1e6
    M = np.vstack([(p - c).T / scale, np.full((1, p.shape[0]), w)])
    rhs = np.concatenate([(x - c) / scale, [w]])
    lam, _ = nnls(M, rhs, maxiter=50 * p.shape[0])
    lam = lam / lam.sum()
    return float(np.linalg.norm(lam @ p - x))


@dataclass(frozen=True)
class ChainTimes:
    """What :func:`chain_times` measured, over ``runs`` independent runs.

    - ``entry``: per run, the first step at which every token is within ``radius`` of its vertex
      (Theorem 5.2†'s event), -1 if not reached;
    - ``exit``: per run, T_2 of Theorem 5.4†, the first step at which some token is farther than
      ``eps`` from the hull of its group's initial positions, -1 if not reached (censored at
      ``max_steps``, or not looked for when ``stop="entry"``);
    - ``leaders``: the indices of the vertices (the leaders of the initial configuration);
    - ``assignment``: each token's vertex, an index into ``leaders``.
    """

    entry: np.ndarray
    exit: np.ndarray
    leaders: np.ndarray
    assignment: np.ndarray


def chain_times(
    z0,
    beta: float,
    *,
    gamma: float,
    runs: int = 1,
    rng=0,
    radius: float = 0.05,
    eps: float = 0.1,
    max_steps: int = 100_000,
    stop: str = "exit",
    A=None,
) -> ChainTimes:
    """Entry and exit times (module docstring) of ``runs`` independent chains from ``z0``.

    All runs advance together (one array of shape (runs, n, d)); a run stops at its exit
    (``stop="exit"``) or at its entry (``stop="entry"``, exits not measured), or after
    ``max_steps`` steps. ``rng``: a ``numpy.random.Generator`` or a seed.
    """
    z = _tokens(z0, "z0")
    A = _checked(z, _matrix(A, z.shape[1]))
    b, g, r = _beta(beta), _gamma(gamma), _rng(rng)
    R = count(runs, "runs", 1, 10**6)
    rad = finite(radius, "radius", "> 0")
    e = finite(eps, "eps", "> 0")
    L = count(max_steps, "max_steps", 1, 10**8)
    if stop not in ("exit", "entry"):
        raise ParticlesError(f"stop must be 'exit' or 'entry', got {stop!r}")
    n, d = z.shape
    if R * n * n > _SCORE_CAP:
        raise ParticlesError(f"runs x n^2 = {R * n * n} exceeds {_SCORE_CAP}: fewer runs")
    eq = _hm.equilibrium(z, A=A, alpha=g / (1.0 - g), eps=1e-9, max_layers=10_000)
    lead, sigma = eq.leaders, eq.assignment
    v = z[lead]
    groups = [z[sigma == a] for a in range(lead.size)]
    same = sigma[:, None] == sigma[None, :]
    entry = np.full(R, -1, dtype=np.int64)
    exit_ = np.full(R, -1, dtype=np.int64)
    active = np.arange(R)
    Z = np.broadcast_to(z, (R, n, d)).copy()
    vs = v[sigma]  # (n, d): each token's vertex
    for k in range(1, L + 1):
        Z = _step(Z, A, b, g, r)
        dv = np.sqrt(np.einsum("rij,rij->ri", Z - vs, Z - vs))
        hit = (entry[active] < 0) & (dv.max(axis=1) <= rad)
        entry[active[hit]] = k
        done = np.zeros(active.size, dtype=bool)
        if stop == "exit":
            # distance to the nearest initial point of the token's group: an upper bound of the
            # distance to the group's hull, exact when the group is one point
            diff = Z[:, :, None, :] - z[None, None, :, :]
            dp = np.sqrt(np.einsum("rijk,rijk->rij", diff, diff))
            dp = np.where(same, dp, np.inf).min(axis=2)
            for ri, i in zip(*np.nonzero(dp > e), strict=True):
                if done[ri]:
                    continue
                if hull_distance(Z[ri, i], groups[sigma[i]]) > e:
                    done[ri] = True
            exit_[active[done]] = k
        else:
            done = entry[active] >= 0
        if done.any():
            keep = ~done
            active, Z = active[keep], Z[keep]
            if active.size == 0:
                break
    return ChainTimes(entry=entry, exit=exit_, leaders=lead, assignment=sigma)


def theorem_exponent(v, *, gamma: float, eps: float) -> tuple[float, float]:
    """Theorem 5.4†'s exponent for the vertices ``v`` (m, d): (c_0 eps / (2 gamma), the same
    divided by 1 + eps / gamma), with c_0 the largest constant of eq. bound.max†,
    min_{a != b} <v_a, v_a> - <v_a, v_b> (module docstring). The first is the coefficient of beta
    in the bound; the second is the rate at which the time t where the bound reaches a fixed
    probability grows with beta: log t ~ beta c_0 eps / (2 gamma (1 + eps / gamma))."""
    c0 = _hm.leader_gap(v)
    g = _gamma(gamma)
    e = finite(eps, "eps", "> 0")
    if not math.isfinite(c0) or c0 <= 0:
        raise ParticlesError(f"the vertices need a positive separation c_0, got {c0}")
    a = c0 * e / (2.0 * g)
    return a, a / (1.0 + e / g)
