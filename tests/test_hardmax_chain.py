"""The self-attention Markov chain (SA_P)† of arXiv 2508.09628 §5 (particles.analysis.hardmax_chain):
its mean step, its law, reproducibility, the convex hull, and the two metastability theorems
(Theorem 5.2†: entry after a number of steps independent of beta; Theorem 5.4†: a stay growing
exponentially in beta) on small cases with fixed seeds."""

import numpy as np
import pytest

from particles.analysis import hardmax as hm
from particles.analysis import hardmax_chain as hc
from particles.errors import ParticlesError


def triangle(m: int = 3, r: float = 0.1, seed: int = 0):
    """Three vertices of norm 1 at 120 degrees, and m interior tokens per vertex within r of it."""
    rng = np.random.default_rng(seed)
    th = 2 * np.pi * np.arange(3) / 3 + 0.3
    v = np.c_[np.cos(th), np.sin(th)]
    pts = [v]
    for a in range(3):
        ang = np.pi + th[a] + rng.uniform(-0.4, 0.4, m)
        rr = rng.uniform(0.3, 1.0, m) * r
        pts.append(v[a] + rr[:, None] * np.c_[np.cos(ang), np.sin(ang)])
    return np.vstack(pts), v


def plain_probabilities(z, beta, A=None):
    s = np.array(
        [[(z[i] if A is None else A @ z[i]) @ z[j] for j in range(len(z))] for i in range(len(z))]
    )
    w = np.exp(beta * (s - s.max(axis=1, keepdims=True)))
    return w / w.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("beta", [0.0, 0.5, 3.0, 40.0])
@pytest.mark.parametrize("with_A", [False, True])
def test_mean_step_is_the_deterministic_map(beta, with_A):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((7, 3))
    A = rng.standard_normal((3, 3)) if with_A else None
    g = 0.3
    P = plain_probabilities(z, beta, A)
    assert np.allclose(hc.transition_probabilities(z, beta, A=A), P, rtol=1e-13, atol=1e-15)
    # the average over the n jumps (1 - g) x_i + g x_j, weighted by P_ij, in closed form
    jumps = (1 - g) * z[:, None, :] + g * z[None, :, :]
    mean = np.einsum("ij,ijk->ik", P, jumps)
    det = hm.layer(z, A=A, alpha=g / (1 - g), beta=beta)
    assert np.allclose(mean, det, rtol=0, atol=1e-13)
    assert np.allclose(hc.mean_step(z, beta, gamma=g, A=A), det, rtol=0, atol=1e-13)


def test_beta_inf_chain_is_the_hardmax_layer_map():
    z, _ = triangle()
    g = 0.25
    out = hc.chain(z, 12, np.inf, gamma=g, rng=0)
    ref = hm.layers(z, 12, alpha=g / (1 - g))
    assert np.allclose(out, ref, rtol=0, atol=1e-14)


def test_jumps_follow_the_transition_probabilities():
    """One step from a fixed configuration, many times: the frequency of each jump target is P_ij
    within 5 standard deviations (seed fixed)."""
    rng = np.random.default_rng(2)
    z = rng.standard_normal((5, 2))
    P = hc.transition_probabilities(z, 1.5)
    g, N = 0.5, 20000
    Z = np.broadcast_to(z, (N, 5, 2)).copy()
    nxt = hc._step(Z, None, 1.5, g, np.random.default_rng(3))
    target = (nxt - (1 - g) * z) / g  # x_j for the j drawn
    j = np.argmin(((target[:, :, None, :] - z[None, None, :, :]) ** 2).sum(-1), axis=-1)
    freq = np.stack([(j == k).mean(axis=0) for k in range(5)], axis=1)
    sd = np.sqrt(P * (1 - P) / N) + 1e-12
    assert np.all(np.abs(freq - P) <= 5 * sd)


def test_reproducible_by_seed_and_synchronous():
    z, _ = triangle()
    a = hc.chain(z, 30, 4.0, gamma=0.2, rng=7)
    b = hc.chain(z, 30, 4.0, gamma=0.2, rng=np.random.default_rng(7))
    c = hc.chain(z, 30, 4.0, gamma=0.2, rng=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # synchronous: every token of step k + 1 is (1 - g) x_i^k + g x_j^k for a token j of step k
    for k in range(30):
        t = (a[k + 1] - 0.8 * a[k]) / 0.2
        dist = np.sqrt(((t[:, None, :] - a[k][None, :, :]) ** 2).sum(-1)).min(axis=1)
        assert dist.max() < 1e-12
    t1 = hc.chain_times(z, 5.0, gamma=0.1, runs=20, rng=3, eps=0.35, max_steps=5000)
    t2 = hc.chain_times(z, 5.0, gamma=0.1, runs=20, rng=3, eps=0.35, max_steps=5000)
    assert np.array_equal(t1.exit, t2.exit) and np.array_equal(t1.entry, t2.entry)


def test_tokens_stay_in_the_convex_hull():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((8, 3))
    traj = hc.chain(z, 60, 2.0, gamma=0.4, rng=5)
    for k in (1, 10, 60):
        assert max(hc.hull_distance(x, z) for x in traj[k]) < 1e-9
        assert max(hc.hull_distance(x, traj[k - 1]) for x in traj[k]) < 1e-9


def test_hull_distance():
    sq = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert hc.hull_distance([0.3, 0.6], sq) < 1e-9
    assert hc.hull_distance([2.0, 0.5], sq) == pytest.approx(1.0, rel=1e-9)
    assert hc.hull_distance([2.0, 2.0], sq) == pytest.approx(np.sqrt(2), rel=1e-9)
    assert hc.hull_distance([3.0, 4.0], sq[:1]) == pytest.approx(5.0)


def test_theorem_5_2_entry_after_steps_independent_of_beta():
    """Theorem 5.2†: for beta large the interior tokens come within radius of their vertices after
    a number of steps that does not depend on beta, with probability >= 1 - beta^(-1/8). The
    hardmax count here is 7 (0.1 (1 - gamma)^k <= 0.05); the chain's median entry is the same at
    every beta, and the fraction entered by then is at least the theorem's probability."""
    z, _ = triangle()
    g, rad = 0.1, 0.05
    eq = hm.equilibrium(z, alpha=g / (1 - g), eps=rad)
    meds = []
    for beta in (200.0, 800.0, 3200.0):
        t = hc.chain_times(
            z, beta, gamma=g, runs=200, rng=11, radius=rad, stop="entry", max_steps=200
        )
        assert np.all(t.entry > 0)
        meds.append(np.median(t.entry))
        assert np.mean(t.entry <= eq.layers + 2) >= 1 - beta ** (-1 / 8)
    assert max(meds) - min(meds) <= 1
    assert abs(meds[-1] - eq.layers) <= 1


def test_theorem_5_4_exit_grows_exponentially_in_beta():
    """Theorem 5.4†: T_2 (first step some token is eps from its group's initial hull) grows at
    least like exp(beta c_0 eps / (2 gamma (1 + eps / gamma))) (the rate at which the bound's
    time grows); the mean exit over 100 runs grows between that rate and 1.2 Delta (Delta = c_0
    the leader gap, the deterministic map's rate) per unit beta. Measured: slope 1.26."""
    z, v = triangle()
    g = 0.1
    eps = 2 * g * np.sqrt(3)  # eps / gamma = 2 diam(K), the theorem's smallest
    _, rate = hc.theorem_exponent(v, gamma=g, eps=eps)
    betas = np.array([3.0, 4.0, 5.0])
    means = []
    for beta in betas:
        t = hc.chain_times(z, beta, gamma=g, runs=100, rng=21, eps=eps, max_steps=20000)
        assert np.all(t.exit > 0)
        means.append(t.exit.mean())
    slope = np.polyfit(betas, np.log(means), 1)[0]
    assert rate < slope < 1.2 * hm.leader_gap(v)


BAD = [
    (dict(z0=np.zeros((0, 2))), "shape"),
    (dict(z0=[[np.nan, 0.0]]), "non-finite"),
    (dict(z0="ab"), "string"),
    (dict(beta=-1.0), "beta"),
    (dict(beta=1e13), "beta"),
    (dict(beta="2"), "beta"),
    (dict(gamma=0.0), "gamma"),
    (dict(gamma=1.0), "gamma"),
    (dict(gamma=np.nan), "gamma"),
    (dict(rng=-3), "rng"),
    (dict(rng="seed"), "rng"),
    (dict(rng=1.5), "rng"),
    (dict(runs=0), "runs"),
    (dict(runs=10**7), "runs"),
    (dict(radius=0.0), "radius"),
    (dict(eps=-1.0), "eps"),
    (dict(max_steps=0), "max_steps"),
    (dict(stop="never"), "stop"),
    (dict(A=np.eye(3)), "A must be"),
    (dict(A=[[np.inf, 0], [0, 1]]), "A must"),
    (dict(A=np.eye(2) * 1e100, z0=np.full((3, 2), 1e90)), "overflow"),
    (dict(z0=np.full((3, 2), 1e160)), "beyond|overflow"),
]


@pytest.mark.parametrize("bad,word", BAD)
def test_hostile_input_is_one_clear_line(bad, word):
    kw = dict(z0=triangle()[0], beta=2.0, gamma=0.1, rng=0, max_steps=5)
    kw.update(bad)
    z0, beta = kw.pop("z0"), kw.pop("beta")
    with pytest.raises(ParticlesError, match=word) as e:
        hc.chain_times(z0, beta, **kw)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: hc.chain(np.ones((2, 2)), -1, 1.0, gamma=0.5, rng=0),
        lambda: hc.chain(np.ones((2, 2)), 10**7, 1.0, gamma=0.5, rng=0),
        lambda: hc.chain_step(np.ones((2, 2)), 1.0, gamma=1.5, rng=0),
        lambda: hc.mean_step(np.ones((2, 2)), np.nan, gamma=0.5),
        lambda: hc.transition_probabilities([[1e200, 0.0]], 1.0),
        lambda: hc.hull_distance([0.0, 0.0], np.ones((3, 3))),
        lambda: hc.theorem_exponent(np.ones((1, 2)), gamma=0.5, eps=1.0),
    ],
)
def test_hostile_input_other_functions(call):
    with pytest.raises(ParticlesError) as e:
        call()
    assert "\n" not in str(e.value)
