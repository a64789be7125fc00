"""Hardmax transformers (beta = inf) and their leaders: the layer map of Alcalde, Fantuzzi, Zuazua,
*Clustering in pure-attention hardmax transformers and its role in sentiment analysis*, arXiv
2407.01602 (SIMODS 2025), and its finite-beta counterpart, after Alcalde, Geshkovski, Ruiz-Balet,
*Attention's forward pass and Frank-Wolfe*, arXiv 2508.09628.

What could be read of the papers, and which statements below are theirs and which are ours, is in
``docs/papers.md``: 2407.01602 only through its abstract and the start of its §1; labels of
2508.09628 marked † come from a public transcription of its arXiv source (July 2026), not from
the paper itself.

**The model** (tokens z_i in R^d, not on the sphere; a d x d matrix A = Q^T K, values the tokens
themselves). One layer is a hardmax self-attention sublayer z_i + alpha H_i(Z) followed by a
normalisation sublayer, division by 1 + alpha:

    z_i <- (z_i + alpha H_i(Z)) / (1 + alpha) = z_i + gamma (H_i(Z) - z_i),   gamma = alpha / (1 + alpha),
    H_i(Z) = mean of z_j over C_i(Z) = { j : <A z_i, z_j> = max_l <A z_i, z_l> }

(ties averaged, within the tolerance of :mod:`particles.field.hardmax`: our tie rule). This is
2508.09628's (SA_inf)†, x_i <- x_i + gamma (argmax over conv(Z) of <B x_i, y> - x_i), with B = A
and a constant step gamma = h / (1 + h), h = alpha: a Frank-Wolfe step towards a maximiser of the
linear function y -> <A z_i, y> over the convex hull of the tokens (a token is always one). We
compute the right-hand form, so that a token attending only to itself stays put to the last bit.
With ``beta`` finite, H_i is the softmax average sum_j softmax_j(beta <A z_i, z_j>) z_j instead:
2508.09628's deterministic finite-temperature map (SA_beta)† (there with A = I).

**Leaders** (:func:`leaders`; our definition, 2407.01602's could not be read): the tokens that
attend to themselves only, C_i(Z) = {i}; by hyperplane separation, z_i is a leader when every other
token lies strictly on the near side of the hyperplane { y : <A z_i, y> = <A z_i, z_i> }. Every
layer maps the tokens into the convex hull of the previous ones, so a leader keeps that property
and never moves (:func:`layers`, checked in ``tests/test_hardmax.py``); the token of largest A-norm
is always a leader when A is symmetric positive definite (<A z_i, z_j> <= |z_i|_A |z_j|_A). The
papers' results: in the words of 2407.01602's abstract, the tokens "asymptotically converge to a
clustered equilibrium determined by special points called leaders"; 2508.09628 §4, Theorem 4.2†
(B constant and positive definite, vertices owning their cells, interior points off the cell
boundaries): each token moves along the segment to its cell's vertex, and for a constant step its
distance to the vertex is multiplied by exactly 1 - gamma = 1 / (1 + alpha) per layer. So a token
at distance D from its leader is within eps of it after ceil(log(D / eps) / log(1 + alpha)) layers
(:func:`predicted_layers`; the count is ours); :func:`equilibrium` runs the map to the equilibrium
and counts the layers.

**Finite beta** (:func:`exit_layers`): 2508.09628 (abstract; §5, Theorems 5.2† and 5.4†) proves
"dynamic metastability": tokens reach near-vertex configurations in a constant number of steps and
stay there for times growing exponentially in beta before collapsing. Its theorems are about a
random chain (SA_P)† with B = I: token i jumps to (1 - gamma) x_i + gamma x_j with probability
softmax_j(beta <x_i, x_j>); Theorem 5.4† bounds the escape probability with the exponent
beta c_0 eps / (2 gamma). Our measure is of the deterministic map (the chain's mean step), for any
A: the layers it spends within delta of the hardmax equilibrium. The rate expected of it is ours,
not the paper's: with the tokens gathered at the leaders v_a, cluster a leaks towards cluster b
with softmax weight ~ (m_b / m_a) exp(-beta Delta_ab), Delta_ab = <A v_a, v_a> - <A v_a, v_b> > 0,
so its drift is ~ gamma exp(-beta Delta) and the exit time grows like exp(beta Delta),
Delta = min Delta_ab (:func:`leader_gap`).

The map is computed with the tiled kernels of :mod:`particles.field` (O(n d) memory): the hardmax
with :func:`particles.field.hardmax.attention`, the softmax with :func:`particles.field.attention`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParticlesError, count, finite, number, real_array
from ..field import attention as _softmax_attention
from ..field import hardmax as _hm

__all__ = [
    "Equilibrium",
    "equilibrium",
    "exit_layers",
    "layer",
    "layers",
    "leader_gap",
    "leaders",
    "predicted_layers",
]

#: the largest |z_ij| accepted: scores <A z_i, z_j> stay far from overflow
Z_MAX = 1e100


def _tokens(z, name: str = "z") -> np.ndarray:
    z = real_array(z, name, "(n, d)")
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise ParticlesError(f"{name} must have shape (n, d) with n, d >= 1, got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ParticlesError(f"{name} has non-finite entries")
    if np.max(np.abs(z)) > Z_MAX:
        raise ParticlesError(f"{name} has entries beyond {Z_MAX:g}: the scores would overflow")
    return np.ascontiguousarray(z, dtype=np.float64)


def _matrix(A, d: int) -> np.ndarray | None:
    if A is None:
        return None
    A = real_array(A, "A", "(d, d)")
    if A.shape != (d, d):
        raise ParticlesError(
            f"A must be a ({d}, {d}) matrix for tokens of dimension {d}, got {A.shape}"
        )
    if not np.all(np.isfinite(A)) or np.max(np.abs(A), initial=0.0) > Z_MAX:
        raise ParticlesError(f"A must have finite entries of size at most {Z_MAX:g}")
    return np.ascontiguousarray(A, dtype=np.float64)


def _alpha(alpha) -> float:
    return finite(alpha, "alpha (the attention sublayer's weight)", "> 0")


def _beta(beta) -> float:
    b = number(beta, "beta")
    if not b >= 0.0:
        raise ParticlesError(f"beta must be >= 0 (inf: hardmax), got {b}")
    if b != np.inf and b > 1e12:
        raise ParticlesError(f"beta = {b:g} is above 1e12: use beta = inf for the hardmax")
    return b


def _attend(z: np.ndarray, A: np.ndarray | None, beta: float) -> np.ndarray:
    q = z if A is None else z @ A.T
    if beta == np.inf:
        return _hm.attention(q, z, z)
    return _softmax_attention(q, z, z, beta)


def _step(z, A, gamma, beta):
    return z + gamma * (_attend(z, A, beta) - z)


def layer(z, *, A=None, alpha: float = 1.0, beta: float = np.inf) -> np.ndarray:
    """One layer z_i <- z_i + (alpha / (1 + alpha)) (H_i(Z) - z_i) (module docstring), ``beta =
    inf`` the hardmax, finite the softmax. ``A``: None (identity) or a (d, d) matrix, scores
    <A z_i, z_j>. Shape (n, d)."""
    z = _tokens(z)
    A = _matrix(A, z.shape[1])
    a = _alpha(alpha)
    return _step(z, A, a / (1.0 + a), _beta(beta))


def layers(z0, n_layers: int, *, A=None, alpha: float = 1.0, beta: float = np.inf) -> np.ndarray:
    """The states after 0, 1, ..., ``n_layers`` layers of :func:`layer`: shape (n_layers + 1, n, d)."""
    z = _tokens(z0, "z0")
    A = _matrix(A, z.shape[1])
    a = _alpha(alpha)
    b = _beta(beta)
    L = count(n_layers, "n_layers", 0, 10**6)
    if (L + 1) * z.size > 2 * 10**8:
        raise ParticlesError(f"{L + 1} states of shape {z.shape} exceed 1.6 GB: fewer layers")
    out = np.empty((L + 1,) + z.shape)
    out[0] = z
    g = a / (1.0 + a)
    for k in range(L):
        z = _step(z, A, g, b)
        out[k + 1] = z
    return out


def leaders(z, A=None) -> np.ndarray:
    """The leaders of the configuration ``z`` (n, d): the indices i with C_i(Z) = {i}, the tokens that
    attend to themselves only (module docstring), sorted. Ties within the tolerance of
    :mod:`particles.field.hardmax` count as ties: a token level with another is no leader."""
    z = _tokens(z)
    A = _matrix(A, z.shape[1])
    q = z if A is None else z @ A.T
    _, cnt, mx, tau = _hm.attention(q, z, z, details=True)
    self_score = np.einsum("ij,ij->i", q, z)
    return np.flatnonzero((cnt == 1) & (self_score >= mx - tau))


def leader_gap(v, A=None) -> float:
    """Delta = min over a != b of <A v_a, v_a> - <A v_a, v_b> for the leaders ``v`` (m, d): how much
    each leader prefers itself to the nearest competitor (module docstring; inf for one leader)."""
    v = _tokens(v, "v")
    A = _matrix(A, v.shape[1])
    if v.shape[0] < 2:
        return math.inf
    s = (v if A is None else v @ A.T) @ v.T
    gap = np.diag(s)[:, None] - s
    np.fill_diagonal(gap, np.inf)
    return float(gap.min())


def predicted_layers(distance: float, alpha: float, eps: float) -> int:
    """ceil(log(distance / eps) / log(1 + alpha)): the layers a token moving straight to its leader
    from ``distance`` needs to come within ``eps`` of it (each layer multiplies the distance by
    1 / (1 + alpha): arXiv 2508.09628, Theorem 4.2†, module docstring); 0 when it is already
    there."""
    D = finite(distance, "distance", ">= 0")
    e = finite(eps, "eps", "> 0")
    a = _alpha(alpha)
    if D <= e:
        return 0
    r = (math.log(D) - math.log(e)) / math.log1p(a)
    if not r < 1e15:
        raise ParticlesError(f"alpha = {a:g} is too small: more than 1e15 layers")
    return int(math.ceil(r))


@dataclass(frozen=True)
class Equilibrium:
    """What :func:`equilibrium` found.

    - ``final``: the tokens after ``layers`` layers (n, d);
    - ``leaders``: the leaders of the initial configuration (indices);
    - ``assignment``: for each token, the leader it ends nearest to (an index into ``leaders``);
    - ``layers``: the first layer k at which every token is within ``eps`` of a leader
      (max_i min_a |z_i - z_{leaders[a]}| <= eps), or None if ``max_layers`` did not suffice;
    - ``distance``: that largest distance to the leader set after each layer (``layers`` + 1 values).
    """

    final: np.ndarray
    leaders: np.ndarray
    assignment: np.ndarray
    layers: int | None
    distance: np.ndarray


def _to_leaders(z: np.ndarray, lead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nearest leader, distance to it) per token, from differences (no cancellation)."""
    a = np.zeros(z.shape[0], dtype=np.intp)
    dist = np.full(z.shape[0], np.inf)
    for j in range(lead.shape[0]):
        r = z - lead[j]
        dj = np.sqrt(np.einsum("ij,ij->i", r, r))
        closer = dj < dist
        a[closer] = j
        dist[closer] = dj[closer]
    return a, dist


def equilibrium(
    z0, *, A=None, alpha: float = 1.0, eps: float = 1e-9, max_layers: int = 10_000
) -> Equilibrium:
    """Run the hardmax map from ``z0`` until every token is within ``eps`` of a leader of ``z0``.

    The leaders never move (module docstring), so the clustered equilibrium of arXiv 2407.01602
    (abstract) is taken as reached when the distance of every token to the leader set is below
    ``eps``; the number of layers
    that took is ``result.layers`` (None if more than ``max_layers`` were needed: tokens held on a
    tie between leaders, or converging to something else).
    """
    z = _tokens(z0, "z0")
    A = _matrix(A, z.shape[1])
    a = _alpha(alpha)
    e = finite(eps, "eps", "> 0")
    L = count(max_layers, "max_layers", 0, 10**7)
    lead = leaders(z, A)
    if lead.size == 0:
        raise ParticlesError(
            "z0 has no leader (every token ties with another, e.g. coincident tokens): no "
            "equilibrium of leaders to reach"
        )
    v = z[lead]
    g = a / (1.0 + a)
    dist = [float(_to_leaders(z, v)[1].max())]
    k = 0
    while dist[-1] > e and k < L:
        z = _step(z, A, g, np.inf)
        dist.append(float(_to_leaders(z, v)[1].max()))
        k += 1
    done = dist[-1] <= e
    return Equilibrium(
        final=z,
        leaders=lead,
        assignment=_to_leaders(z, v)[0],
        layers=k if done else None,
        distance=np.array(dist),
    )


def exit_layers(
    z0,
    beta: float,
    *,
    A=None,
    alpha: float = 1.0,
    delta: float = 0.05,
    max_layers: int = 100_000,
) -> tuple[int | None, int | None]:
    """(entry, exit) of the finite-``beta`` map from ``z0`` around the hardmax equilibrium.

    Under hardmax every token of ``z0`` ends at a leader v_a of ``z0``, and the leaders never move
    (:func:`equilibrium`). ``entry``: the first layer at which every token of the finite-beta run is
    within ``delta`` of some leader (max_i min_a |z_i - v_a| <= delta: the "near-vertex
    configurations" of arXiv 2508.09628's abstract; a token near a switching surface may join
    another leader than under hardmax). ``exit``: the first layer at which a leader token has moved
    more than ``delta`` from where it started (max_a |z_a(k) - v_a| > delta): the end of the
    metastable stay, which 2508.09628 (abstract; Theorem 5.4†, for its random chain with A = I,
    not for this deterministic map) proves lasts a time exponential in beta; with the tokens
    gathered at the leaders, leader a leaks with weight ~ exp(-beta Delta) (module docstring,
    :func:`leader_gap`; our rate). Either is None when it does not happen within ``max_layers``.
    """
    z = _tokens(z0, "z0")
    A = _matrix(A, z.shape[1])
    b = _beta(beta)
    a = _alpha(alpha)
    dl = finite(delta, "delta", "> 0")
    L = count(max_layers, "max_layers", 1, 10**8)
    lead = leaders(z, A)
    if lead.size == 0:
        raise ParticlesError("z0 has no leader (every token ties with another): nothing to leave")
    v = z[lead]
    g = a / (1.0 + a)
    entry = None
    for k in range(1, L + 1):
        z = _step(z, A, g, b)
        if entry is None and float(_to_leaders(z, v)[1].max()) <= dl:
            entry = k
        r = z[lead] - v
        if float(np.sqrt(np.max(np.einsum("ij,ij->i", r, r)))) > dl:
            return entry, k
    return entry, None
