"""Rényi centres and strong Rényi centres of a token sequence on the sphere (Karagodin, Polyanskiy,
Rigollet, *Clustering in causal attention masking*, arXiv 2411.04990, §5.1 and App. C).

Under a causal mask token k only sees tokens j <= k (the causal dynamics, (CSA) of §2), so the token
order is an arrival order and the sphere fills like a street in Rényi's parking problem. With the
geodesic distance ``dist(x, y) = arccos <x, y>`` on S^{d-1} and a separation ``delta > 0`` (§5.1),
in token order:

- **Rényi centres**: the subsequence ``x_{s_1}, x_{s_2}, ...`` (s_1 = 1) built greedily, a token
  joining it when ``dist(x_{s_j}, x_{s_i}) > delta`` for every earlier centre ``i < j``;
- **strong Rényi centres**: the tokens ``x_s`` with ``dist(x_s, x_i) > delta`` for *every* earlier
  token ``i < s``. Every strong centre is a Rényi centre.

The paper takes ``delta = c beta^{-1/2}`` (the range beyond which one token's pull on another decays
like exp(-beta dist^2 / 2), §5.1 and App. A.2) and uses ``delta = 4 beta^{-1/2}`` in Figs. 2–3.
The definitions are those of §5.1 (v2 of the paper). Lemma 5.1 says that strong centres stay
almost fixed for a time exponential in c^2 (:func:`strong_centre_time_bound`); Rényi centres
capture more of the meta-stable clusters but move and merge (the caption of Fig. 2). Fig. 3 plots
the share of tokens the centres have "consumed" over time (:func:`captured_fraction`; mean and
10–90 % band over 5000 simulations at n = 200, d = 2, beta = 64). Theorem 5.2 (d = 2,
Q = K = V = I) is the frozen version: tokens held fixed and separated by more than c beta^{-1/2}
attract every other token to their vicinity; that the real, moving centres capture Omega(n) tokens
in O(1) time is left open (§6). Both kinds of centres number Theta(beta^{(d-1)/2}) (§5.1); for
general V the paper conjectures beta^{(d_1-1)/2}, d_1 the dimension of the subspace the tokens
collapse onto (§5, unproved).

Counts for i.i.d. uniform tokens: :func:`expected_strong_centres` (Lemma C.1: the mean number of
strong centres of an infinite sequence is 1 / sigma(B_delta), the inverse normalised area of a
geodesic cap; the finite-n sum is derived here) and :func:`parking_count` (App. C.4: for d = 2 the
number of Rényi centres of an infinite sequence tends to c_R 2 pi / delta as delta -> 0, with Rényi's
parking constant c_R, Dvoretzky and Robbins 1964).

Indices are 0-based here (token 1 of the paper is index 0). Rows of ``x`` are normalised first; a
zero row is refused. Distances are computed from chords, ``dist > delta`` iff
``|x_i - x_j| > 2 sin(delta / 2)``, which keeps small separations exact to rounding.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc

from ..errors import ParticlesError, finite, whole
from .states import _states, bounded_points

__all__ = [
    "RENYI_PARKING_CONSTANT",
    "cap_measure",
    "captured_fraction",
    "displacements",
    "expected_strong_centres",
    "parking_count",
    "renyi_centres",
    "strong_centre_time_bound",
    "strong_renyi_centres",
]

#: Rényi's parking constant: the jamming density of random sequential parking of unit cars on a
#: long street (Rényi 1958; value from Finch, *Mathematical Constants*, 2003, §5.3)
RENYI_PARKING_CONSTANT = 0.7475979202534114

_BLOCK_ENTRIES = 1 << 22  # differences held at once by strong_renyi_centres (4M floats, 32 MB)


def _unit_rows(x, name: str = "x") -> np.ndarray:
    x = bounded_points(x, name)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    if np.any(norms == 0.0):
        raise ParticlesError(
            f"{name} has a zero row (token {int(np.argmin(norms))}): it is no point of the sphere"
        )
    return x / norms[:, None]


def _separation(delta) -> float:
    delta = finite(delta, "delta", "(0, 3.141592653589793]")
    return delta


def _chord2(delta: float) -> float:
    """The squared chord of a geodesic distance delta: dist > delta iff |x - y|^2 > this."""
    return (2.0 * np.sin(delta / 2.0)) ** 2


def renyi_centres(x, delta: float) -> np.ndarray:
    """Indices (0-based, increasing) of the Rényi centres of the token sequence ``x`` (n, d).

    Definition (arXiv 2411.04990, §5.1): token 0 is a centre; token k joins the centres when its
    geodesic distance to every centre found before it is > ``delta`` (only earlier *centres*
    count, not every earlier token). Greedy, in token order: each centre found marks the later
    tokens within ``delta`` of it, and the first unmarked token is the next centre; O(n m d) for m
    centres, vectorised over the tokens.

    **Arguments:** ``x``: token positions (rows normalised first); ``delta``: the separation, a
    geodesic distance in (0, pi].

    **Raises:** :class:`particles.ParticlesError` on a bad ``x`` or ``delta``.
    """
    x = _unit_rows(x)
    thr = _chord2(_separation(delta))
    n = x.shape[0]
    free = np.ones(n, dtype=bool)  # not within delta of a centre found so far
    idx, k = [], 0
    while k < n:
        idx.append(k)  # the first free token is the next centre
        diff = x[k + 1 :] - x[k]
        free[k + 1 :] &= np.einsum("ij,ij->i", diff, diff) > thr
        rest = np.flatnonzero(free[k + 1 :])
        if rest.size == 0:
            break
        k += 1 + int(rest[0])
    return np.asarray(idx, dtype=np.int64)


def strong_renyi_centres(x, delta: float) -> np.ndarray:
    """Indices (0-based, increasing) of the strong Rényi centres of the token sequence ``x`` (n, d).

    Definition (arXiv 2411.04990, §5.1): token k is a strong centre when its geodesic distance to
    *every* earlier token j < k is > ``delta`` (token 0 always is). A subset of
    :func:`renyi_centres`. Computed by row blocks against the earlier tokens, O(n^2 d) time and
    O(n d) memory beyond a bounded block.

    **Arguments:** as :func:`renyi_centres`.
    """
    x = _unit_rows(x)
    thr = _chord2(_separation(delta))
    n, d = x.shape
    rows = max(1, _BLOCK_ENTRIES // max(1, n * d))
    strong = np.zeros(n, dtype=bool)
    strong[0] = True
    for r0 in range(1, n, rows):
        r1 = min(n, r0 + rows)
        diff = x[r0:r1, None, :] - x[None, :r1, :]  # (B, r1, d)
        c2 = np.einsum("ijk,ijk->ij", diff, diff)
        c2[np.arange(r1)[None, :] >= np.arange(r0, r1)[:, None]] = np.inf  # only j < k counts
        strong[r0:r1] = c2.min(axis=1) > thr
    return np.flatnonzero(strong).astype(np.int64)


def cap_measure(delta: float, d: int) -> float:
    """sigma(B_delta): the normalised surface measure of a geodesic cap of radius ``delta`` on
    S^{d-1} (the probability that a uniform point lies within ``delta`` of a given one).

    ``delta / pi`` on the circle (d = 2), ``sin^2(delta / 2)`` on S^2 (d = 3); in general
    ``I_{sin^2 delta}((d-1)/2, 1/2) / 2`` for delta <= pi/2 (regularised incomplete beta) and
    one minus the cap of pi - delta beyond.
    """
    delta = _separation(delta)
    d = whole(d, "d", 2)
    if d == 2:
        return delta / np.pi
    if delta <= np.pi / 2:
        return float(0.5 * betainc((d - 1) / 2, 0.5, np.sin(delta) ** 2))
    return float(1.0 - 0.5 * betainc((d - 1) / 2, 0.5, np.sin(np.pi - delta) ** 2))


def expected_strong_centres(n: int | None, delta: float, d: int) -> float:
    """Mean number of strong Rényi centres among n i.i.d. uniform tokens on S^{d-1}.

    Token k (1-based) is a strong centre when none of the k - 1 tokens before it falls in the cap
    of radius ``delta`` around it, probability (1 - p)^{k-1} with p = :func:`cap_measure`, so the
    mean is ``sum_{k=1}^{n} (1 - p)^{k-1} = (1 - (1 - p)^n) / p`` (derived here). ``n=None``: the
    infinite sequence, ``1 / p``, which is Lemma C.1 of arXiv 2411.04990 (pi / delta for d = 2).
    """
    p = cap_measure(delta, d)
    if n is None:
        return 1.0 / p
    n = whole(n, "n", 1)
    if p >= 1.0:
        return 1.0
    return float(-np.expm1(n * np.log1p(-p)) / p)


def parking_count(delta: float) -> float:
    """``RENYI_PARKING_CONSTANT * 2 pi / delta``: the number of Rényi centres of an infinite i.i.d.
    uniform sequence on the circle as delta -> 0 (arXiv 2411.04990, App. C.4, from Dvoretzky and
    Robbins 1964: centres more than delta apart are cars of length delta parked on a street of
    length 2 pi; the paper states the approach is superexponentially fast). An asymptotic statement
    in delta, for the jammed street: n tokens give fewer (the street is not yet jammed). On the
    circle the first centre leaves a street of length 2 pi / delta - 1 car lengths, so the jammed
    count is 1 + M(2 pi / delta - 1) with M(x) = c_R x - (1 - c_R) + o(1) Rényi's mean for a
    street of length x: c_R 2 pi / delta again, up to the o(1) (derived here)."""
    return RENYI_PARKING_CONSTANT * 2.0 * np.pi / _separation(delta)


def displacements(xs, idx=None) -> np.ndarray:
    """Geodesic distance of each chosen token from its first saved position: (T, m).

    ``xs``: saved states (T, n, d) or a :class:`particles.Trajectory`; ``idx``: token indices
    (default: all). For Lemma 5.1 of arXiv 2411.04990 (strong Rényi centres stay almost fixed):
    ``displacements(traj, strong_renyi_centres(traj.x[0], delta))``.
    """
    _, arr = _states(xs)
    arr = np.asarray(arr, dtype=np.float64)
    n = arr.shape[1]
    if idx is None:
        idx = np.arange(n)
    idx = np.asarray(idx)
    if (
        idx.ndim != 1
        or idx.dtype.kind not in "iu"
        or (idx.size and not (0 <= idx.min() and idx.max() < n))
    ):
        raise ParticlesError(f"idx must be a 1-D array of token indices in 0..{n - 1}")
    sel = arr[:, idx, :]
    norms = np.linalg.norm(sel, axis=2, keepdims=True)
    if np.any(norms == 0.0):
        raise ParticlesError("xs has a zero row: it is no point of the sphere")
    u = sel / norms
    chord = np.linalg.norm(u - u[:1], axis=2)
    return 2.0 * np.arcsin(np.minimum(1.0, chord / 2.0))


def captured_fraction(x, centres, radius: float) -> float:
    """Fraction of the tokens of ``x`` (n, d) within geodesic distance ``radius`` of one of the
    tokens ``centres`` (indices), the centres counting themselves: the share of particles
    "consumed" by a set of centres (Fig. 3 of arXiv 2411.04990 plots it over time, for the Rényi
    and the strong centres of x(0); the paper does not state its radius: ``radius`` is the
    caller's choice, ``figures/causal_renyi.py`` takes beta^{-1/2})."""
    x = _unit_rows(x)
    radius = _separation(radius)
    c = np.asarray(centres)
    n = x.shape[0]
    if c.ndim != 1 or c.size == 0 or c.dtype.kind not in "iu" or not (0 <= c.min() and c.max() < n):
        raise ParticlesError(
            f"centres must be a non-empty 1-D array of token indices in 0..{n - 1}"
        )
    near = np.zeros(n, dtype=bool)
    thr = _chord2(radius)
    for j in c:
        diff = x - x[j]
        near |= np.einsum("ij,ij->i", diff, diff) <= thr
    return float(near.mean())


def strong_centre_time_bound(s, c: float, eps: float, beta: float):
    """The time for which Lemma 5.1 of arXiv 2411.04990 keeps a strong Rényi centre fixed.

    Lemma 5.1 (d = 2, Q = K = V = I): if the strong centre of (1-based) index ``s`` is separated
    from every earlier token by ``c (1 + 2 eps) beta^{-1/2}``, with condition (2) of the lemma
    holding (for beta > 1, c > 1 suffices), it moves less than ``eps c beta^{-1/2}`` up to any time
    T with ``T s < eps exp(c^2 / 2 - c^4 / (24 beta))`` (the lemma's sufficient condition); this
    returns that T. ``s`` may be an array.
    """
    c = finite(c, "c", "> 0")
    eps = finite(eps, "eps", "> 0")
    beta = finite(beta, "beta", "> 0")
    s = np.asarray(s, dtype=np.float64)
    if not np.all(np.isfinite(s)) or np.any(s < 1):
        raise ParticlesError("s must be 1-based token indices (>= 1)")
    expo = c * c / 2.0 - c**4 / (24.0 * beta)
    if expo > 700:
        raise ParticlesError(f"c = {c:g} makes exp(c^2/2) overflow float64")
    return eps * np.exp(expo) / s
