"""Rényi centres and strong Rényi centres (arXiv 2411.04990, §5.1, Lemma C.1, App. C.4):
hand-made sequences, the definitions written out naively, the counts for uniform tokens, and
hostile input."""

import numpy as np
import pytest
from scipy.integrate import quad

from particles.analysis import renyi
from particles.errors import ParticlesError


def _circle(angles):
    a = np.asarray(angles, dtype=float)
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def _naive(x, delta, strong):
    """The definitions of §5.1 word for word, with dist = arccos <x, y>."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    out = [0]
    for k in range(1, len(x)):
        ref = x[:k] if strong else x[out]
        dist = np.arccos(np.clip(ref @ x[k], -1.0, 1.0))
        if np.all(dist > delta):
            out.append(k)
    return np.array(out)


HAND = [
    # angles on the circle, delta, Rényi centres, strong Rényi centres
    ([0.0, 0.4, 0.8], 0.5, [0, 2], [0]),  # 0.8 is far from the centre 0, not from the token 0.4
    ([0.0, 0.1, 1.0, 0.95, 2.0, 1.05, -1.0], 0.5, [0, 2, 4, 6], [0, 2, 4, 6]),
    ([0.0, 0.6, 0.3, 1.2], 0.5, [0, 1, 3], [0, 1, 3]),  # 0.3 is within 0.5 of both centres
    ([0.0, 0.3, 0.6, 0.9, 1.2], 0.5, [0, 2, 4], [0]),  # a chain: every token near its predecessor
    ([1.0, 1.0, 1.0], 0.1, [0], [0]),  # repeated token
    ([0.0, np.pi], np.pi, [0], [0]),  # nothing is farther than pi
    ([0.0, np.pi], 3.0, [0, 1], [0, 1]),
]


@pytest.mark.parametrize("angles, delta, expect, expect_strong", HAND)
def test_hand_made_sequences(angles, delta, expect, expect_strong):
    x = _circle(angles)
    assert renyi.renyi_centres(x, delta).tolist() == expect
    assert renyi.strong_renyi_centres(x, delta).tolist() == expect_strong


def test_a_single_token_is_its_own_centre():
    x = np.array([[0.0, 0.0, 2.0]])  # rows are normalised
    assert (
        renyi.renyi_centres(x, 0.3).tolist() == [0] == renyi.strong_renyi_centres(x, 0.3).tolist()
    )


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_the_naive_definitions_and_strong_is_a_subset(d, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((300, d)) * rng.uniform(0.5, 2.0, (300, 1))  # not unit rows
    delta = 4 / np.sqrt(64.0) if d == 2 else 0.9
    r, s = renyi.renyi_centres(x, delta), renyi.strong_renyi_centres(x, delta)
    np.testing.assert_array_equal(r, _naive(x, delta, False))
    np.testing.assert_array_equal(s, _naive(x, delta, True))
    assert set(s) <= set(r) and r[0] == s[0] == 0


def test_strong_centres_blocks_agree(monkeypatch):
    x = np.random.default_rng(3).standard_normal((400, 3))
    full = renyi.strong_renyi_centres(x, 0.5)
    monkeypatch.setattr(renyi, "_BLOCK_ENTRIES", 3 * 400 * 7)  # 7 rows a block
    np.testing.assert_array_equal(renyi.strong_renyi_centres(x, 0.5), full)


@pytest.mark.parametrize("d", [2, 3, 4, 7])
@pytest.mark.parametrize("delta", [0.05, 0.7, 1.5, 2.6, np.pi])
def test_cap_measure_is_the_normalised_cap_area(d, delta):
    area = (
        quad(lambda t: np.sin(t) ** (d - 2), 0, delta)[0]
        / quad(lambda t: np.sin(t) ** (d - 2), 0, np.pi)[0]
    )
    assert renyi.cap_measure(delta, d) == pytest.approx(area, rel=1e-10, abs=1e-14)
    if d == 2:
        assert renyi.cap_measure(delta, d) == pytest.approx(delta / np.pi, rel=1e-15)
    if d == 3:
        assert renyi.cap_measure(delta, d) == pytest.approx(np.sin(delta / 2) ** 2, rel=1e-12)


def test_lemma_c1_limit_and_the_finite_n_count():
    delta = 0.5
    assert renyi.expected_strong_centres(None, delta, 2) == pytest.approx(np.pi / delta)
    assert renyi.expected_strong_centres(None, delta, 3) == pytest.approx(
        1 / np.sin(delta / 2) ** 2
    )
    assert renyi.expected_strong_centres(1, delta, 3) == 1.0
    big = renyi.expected_strong_centres(10**6, delta, 2)
    assert big == pytest.approx(np.pi / delta, rel=1e-12)
    assert renyi.expected_strong_centres(200, np.pi, 2) == 1.0


@pytest.mark.parametrize("d, n, delta", [(2, 60, 0.5), (3, 60, 0.6)])
def test_expected_strong_centres_against_sampling(d, n, delta):
    rng = np.random.default_rng(7)
    counts = [
        renyi.strong_renyi_centres(rng.standard_normal((n, d)), delta).size for _ in range(600)
    ]
    se = np.std(counts) / np.sqrt(len(counts))
    assert abs(np.mean(counts) - renyi.expected_strong_centres(n, delta, d)) < 4 * se


def test_renyi_centres_on_the_circle_fill_at_the_parking_constant():
    """App. C.4: c_R 2 pi / delta Rényi centres once the circle is jammed (long sequences)."""
    rng = np.random.default_rng(11)
    delta = 0.5
    counts = [
        renyi.renyi_centres(_circle(rng.uniform(0, 2 * np.pi, 1000)), delta).size for _ in range(60)
    ]
    se = np.std(counts) / np.sqrt(len(counts))
    assert abs(np.mean(counts) - renyi.parking_count(delta)) < 4 * se + 0.05
    assert renyi.parking_count(delta) == pytest.approx(0.7475979202534114 * 4 * np.pi)


def test_displacements_and_captured_fraction():
    a = np.array([[0.0, 1.0, 2.0], [0.0, 1.1, 2.0], [0.5, 1.1, 2.0]])  # angles at three times
    xs = np.stack([_circle(r) for r in a])
    dist = renyi.displacements(xs, [0, 1, 2])
    np.testing.assert_allclose(dist, [[0, 0, 0], [0, 0.1, 0], [0.5, 0.1, 0]], atol=1e-14)
    np.testing.assert_allclose(renyi.displacements(xs, np.array([1])), dist[:, [1]])
    x = _circle([0.0, 0.05, 0.3, 1.0, 1.02, 3.0])
    assert renyi.captured_fraction(x, [0, 3], 0.06) == pytest.approx(4 / 6)
    assert renyi.captured_fraction(x, [5], 0.1) == pytest.approx(1 / 6)


def test_lemma_5_1_time_bound():
    t = renyi.strong_centre_time_bound(np.array([1, 2, 4]), c=3.0, eps=0.1, beta=64.0)
    np.testing.assert_allclose(t, 0.1 * np.exp(4.5 - 81 / (24 * 64)) / np.array([1, 2, 4]))


GOOD = np.array([[1.0, 0.0], [0.0, 1.0]])
CALLS = {
    "renyi": lambda x, d: renyi.renyi_centres(x, d),
    "strong": lambda x, d: renyi.strong_renyi_centres(x, d),
    "captured": lambda x, d: renyi.captured_fraction(x, [0], d),
}
HOSTILE = [
    # (x, delta, words of the message)
    ("tokens", 0.5, "x must be"),
    (None, 0.5, "x must be"),
    ([[1.0, np.nan]], 0.5, "non-finite"),
    ([[1.0, np.inf], [0.0, 1.0]], 0.5, "non-finite"),
    ([[0.0, 0.0], [1.0, 0.0]], 0.5, "zero row"),
    ([1.0, 0.0], 0.5, "shape (n, d)"),
    ([[1.0], [0.5]], 0.5, "d >= 2"),
    (np.zeros((0, 2)), 0.5, "no particles"),
    ([[1 + 1j, 0.0]], 0.5, "complex"),
    ([[1e200, 0.0]], 0.5, "beyond"),
    (GOOD, 0.0, "delta must lie in"),
    (GOOD, -1.0, "delta must lie in"),
    (GOOD, np.nan, "delta must lie in"),
    (GOOD, np.inf, "delta must lie in"),
    (GOOD, 3.5, "delta must lie in"),
    (GOOD, "0.5", "delta must be a number"),
    (GOOD, True, "delta must be a number"),
]


@pytest.mark.parametrize("which", sorted(CALLS))
@pytest.mark.parametrize("x, delta, words", HOSTILE)
def test_hostile_input_is_one_clear_line(which, x, delta, words):
    with pytest.raises(ParticlesError) as e:
        CALLS[which](x, delta)
    msg = str(e.value)
    assert "\n" not in msg and words in msg.replace("radius", "delta")


HOSTILE_OTHER = [
    (lambda: renyi.cap_measure(0.5, 1), "d must be an integer"),
    (lambda: renyi.cap_measure(0.5, 2.5), "d must be an integer"),
    (lambda: renyi.expected_strong_centres(0, 0.5, 2), "n must be an integer"),
    (lambda: renyi.expected_strong_centres(-3, 0.5, 2), "n must be an integer"),
    (lambda: renyi.expected_strong_centres(10, 0.0, 2), "delta must lie in"),
    (lambda: renyi.parking_count(-0.1), "delta must lie in"),
    (lambda: renyi.displacements(np.ones((2, 3, 2)), [3]), "idx must be"),
    (lambda: renyi.displacements(np.ones((2, 3, 2)), [0.5]), "idx must be"),
    (lambda: renyi.displacements(np.ones((2, 3)), [0]), "shape (T, n, d)"),
    (lambda: renyi.displacements(np.zeros((2, 3, 2)), [0]), "zero row"),
    (lambda: renyi.displacements(np.full((2, 3, 2), np.nan), [0]), "non-finite"),
    (lambda: renyi.captured_fraction(GOOD, [], 0.5), "centres must be"),
    (lambda: renyi.captured_fraction(GOOD, [2], 0.5), "centres must be"),
    (lambda: renyi.strong_centre_time_bound(0, 3.0, 0.1, 64.0), "s must be"),
    (lambda: renyi.strong_centre_time_bound(1, -3.0, 0.1, 64.0), "c must be"),
    (lambda: renyi.strong_centre_time_bound(1, 3.0, 0.0, 64.0), "eps must be"),
    (lambda: renyi.strong_centre_time_bound(1, 3.0, 0.1, np.nan), "beta must be"),
    (lambda: renyi.strong_centre_time_bound(1, 1e3, 0.1, 1e12), "overflow"),
]


@pytest.mark.parametrize("call, words", HOSTILE_OTHER)
def test_hostile_parameters_are_one_clear_line(call, words):
    with pytest.raises(ParticlesError) as e:
        call()
    assert "\n" not in str(e.value) and words in str(e.value)
