"""Wendel's theorem (arXiv 2312.10794, Thm 6.7): exact values and the LP Monte-Carlo estimate."""

from fractions import Fraction

import numpy as np
import pytest

import particles as pt
from particles.analysis import wendel as W
from particles.errors import ParticlesError


@pytest.mark.parametrize(
    "n, d, exact", [(8, 3, Fraction(29, 128)), (6, 2, Fraction(3, 16)), (10, 4, Fraction(65, 256))]
)
def test_exact_values(n, d, exact):
    assert W.wendel_fraction(n, d) == exact
    assert W.wendel_probability(n, d) == pytest.approx(float(exact))


def test_exact_limits():
    for n in range(1, 12):
        for d in range(n, n + 3):
            assert W.wendel_probability(n, d) == 1.0
    # d = 2: n points on a circle lie in a half-circle with probability n / 2^{n-1}
    for n in range(2, 12):
        assert W.wendel_fraction(n, 2) == Fraction(n, 2 ** (n - 1))
    # monotone in d
    assert all(W.wendel_probability(10, d) < W.wendel_probability(10, d + 1) for d in range(1, 10))


def test_lp_membership():
    assert W.in_open_hemisphere(np.array([[1.0, 0.1], [1.0, -0.3], [0.5, 1.0]]) / 1.2)
    assert not W.in_open_hemisphere(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]) * 1.0)
    # a simplex's vertices surround the origin: never in a hemisphere; without one vertex they are
    tet = pt.normalize(np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float))
    assert not W.in_open_hemisphere(tet)
    assert W.in_open_hemisphere(tet[:3])
    # n <= d random points always are
    assert all(W.in_open_hemisphere(pt.random_points(5, 5, s)) for s in range(5))


def test_monte_carlo_fast():
    p, se = W.hemisphere_probability_mc(6, 2, 400, rng=1)
    assert abs(p - 0.1875) < 4 * se
    assert W.hemisphere_probability_mc(4, 4, 20, rng=0) == (1.0, 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("n, d", [(8, 3), (6, 2), (10, 4)])
def test_monte_carlo_spec_values(n, d):
    p, se = W.hemisphere_probability_mc(n, d, 4000, rng=2)
    assert abs(p - W.wendel_probability(n, d)) < 4 * se


def test_bad_input():
    with pytest.raises(ParticlesError):
        W.wendel_fraction(0, 3)
    with pytest.raises(ParticlesError):
        W.hemisphere_probability_mc(5, 1, 10)
    with pytest.raises(ParticlesError):
        W.hemisphere_probability_mc(5, 3, 0)
    with pytest.raises(ParticlesError):
        W.in_open_hemisphere(np.ones(3))
