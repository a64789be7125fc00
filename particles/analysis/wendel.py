"""Wendel's theorem (arXiv 2312.10794, Thm 6.7): probability that random points lie in a hemisphere.

For n i.i.d. uniform points on S^{d-1},

    P(all in some open hemisphere) = 2^{-(n-1)} sum_{k=0}^{d-1} C(n-1, k)   (= 1 when d >= n).

This matters for the dynamics because points in an open hemisphere collapse to one cluster
(Lemma 6.4). Membership is decided by a linear program: the points lie in an open hemisphere iff
some w has <x_i, w> >= 1 for every i (scale any w with all <x_i, w> > 0).
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
from scipy.optimize import linprog

from ..errors import ParticlesError, count, whole
from ..field import check_points
from ..model.sphere import as_rng, random_points


def _nd(n, d) -> tuple[int, int]:
    return whole(n, "n", 1, 10**4), whole(d, "d", 1, 10**4)


def wendel_fraction(n: int, d: int) -> Fraction:
    """The exact probability of Thm 6.7 as a fraction: 2^{-(n-1)} sum_{k<d} C(n-1, k)."""
    n, d = _nd(n, d)
    return Fraction(sum(comb(n - 1, k) for k in range(min(d, n))), 2 ** (n - 1))


def wendel_probability(n: int, d: int) -> float:
    """P(n uniform points on S^{d-1} lie in an open hemisphere), Thm 6.7; 1 when d >= n."""
    return float(wendel_fraction(n, d))


def in_open_hemisphere(x) -> bool:
    """True when the points x (n, d) all lie in one open hemisphere (LP feasibility, scipy HiGHS).

    Solves: find w with <x_i, w> >= 1 for all i. Points in general position (probability 1 for
    random points) never sit on the boundary, so the open and closed questions agree.
    """
    x = check_points(x)
    n, d = x.shape
    res = linprog(
        c=np.zeros(d),
        A_ub=-x,
        b_ub=-np.ones(n),
        bounds=[(None, None)] * d,
        method="highs",
    )
    if res.status == 0:
        return True
    if res.status == 2:  # infeasible
        return False
    raise ParticlesError(f"hemisphere LP did not finish: {res.message}")


def hemisphere_probability_mc(
    n: int, d: int, samples: int = 1000, rng: np.random.Generator | int | None = None
) -> tuple[float, float]:
    """Monte-Carlo estimate of Thm 6.7's probability: (p_hat, standard error), one LP per sample."""
    n, d = _nd(n, d)
    if d < 2:
        raise ParticlesError(f"the sphere S^(d-1) needs d >= 2, got d = {d}")
    samples = count(samples, "samples", 1, 10**6)
    gen = as_rng(rng)
    hits = sum(in_open_hemisphere(random_points(n, d, gen)) for _ in range(samples))
    p = hits / samples
    return p, float(np.sqrt(p * (1.0 - p) / samples))
