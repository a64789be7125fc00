"""Cluster measurements on hand-built configurations with known answers."""

import numpy as np
import pytest

import particles as pt
from particles.analysis import clusters as C
from particles.errors import ParticlesError


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def blobs(centres, sizes, spread, rng):
    """Points scattered within ``spread`` (radians, roughly) of each centre."""
    pts, labels = [], []
    for k, (c, m) in enumerate(zip(centres, sizes)):
        pts.append(pt.normalize(c + spread * rng.standard_normal((m, c.size)) / np.sqrt(c.size)))
        labels += [k] * m
    return np.concatenate(pts), np.array(labels)


def same_partition(a, b):
    # labels equal up to renaming: the pair (a_i, b_i) determines a bijection
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_known_clusters(rng):
    e = np.eye(4)
    x, truth = blobs(e, [5, 1, 7, 3], 1e-3, rng)  # orthogonal centres: far apart
    lab = C.cluster_labels(x, 1e-3)
    assert C.count_clusters(x, 1e-3) == 4
    assert same_partition(lab, truth)
    assert lab[0] == 0 and lab.dtype == np.int64
    cl = C.find_clusters(x, 1e-3)
    assert sorted(cl.sizes.tolist()) == [1, 3, 5, 7]
    # centres are close to the true directions
    for k in range(4):
        c = cl.centres[lab[truth == k][0]]
        assert np.isclose(np.linalg.norm(c), 1.0)
        assert c @ e[k] > 1 - 1e-5


def test_threshold_is_strict_and_chains_connect():
    # points on the circle at angle steps a: linked iff cos(a) > 1 - delta
    a = 0.05
    th = a * np.arange(10)
    x = np.c_[np.cos(th), np.sin(th)]
    just_above = 1 - np.cos(a) + 1e-9  # links neighbours only -> one chain, one cluster
    just_below = 1 - np.cos(a) - 1e-9  # no links at all
    assert C.count_clusters(x, just_above) == 1
    assert C.count_clusters(x, just_below) == 10
    # the chain reaches across: the ends are far apart but in the same component
    assert x[0] @ x[-1] < 1 - just_above


def test_tiled_matches_single_tile(rng):
    x, truth = blobs(pt.random_points(6, 3, rng), [40, 30, 50, 20, 60, 10], 1e-3, rng)
    # a chain component too, spanning several tiles
    th = 0.02 * np.arange(100)
    chain = np.c_[np.cos(th), np.sin(th), np.zeros(100)]
    x = np.concatenate([x, chain])
    delta = 1 - np.cos(0.021)
    ref = C.cluster_labels(x, delta)  # n = 310 > 128: the tiled path
    # independent reference: scipy on the full adjacency matrix
    from scipy.sparse.csgraph import connected_components

    k, naive = connected_components(x @ x.T > 1 - delta, directed=False)
    assert same_partition(ref, naive) and ref.max() + 1 == k
    for rows in (7, 64, 500):
        assert np.array_equal(C.cluster_labels(x, delta, tile_rows=rows), ref)
    for seed in range(3):  # random graphs with many small components, dense and tiled paths
        y = pt.random_points(400, 3, seed)
        k, naive = connected_components(y @ y.T > 0.99, directed=False)
        for yy, nv in ((y, naive), (y[:100], None)):
            lab = C.cluster_labels(yy, 1e-2)
            if nv is None:
                nv = connected_components(yy @ yy.T > 0.99, directed=False)[1]
            assert same_partition(lab, nv)
    small = x[:100]
    assert np.array_equal(C._dense_components(small @ small.T > 1 - delta) >= 0, np.ones(100, bool))
    assert C.count_clusters(small, delta) == len(
        np.unique(C.cluster_labels(small, delta, tile_rows=9))
    )


def test_pair_fraction_known():
    # 3 particles at one point, 1 elsewhere: ordered pairs above = 3*2 = 6 of 4*3 = 12
    x = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    assert C.pair_fraction(x, 1e-3) == pytest.approx(0.5)
    assert C.pair_fraction(x[:1], 1e-3) == 1.0
    assert C.pair_fraction(np.eye(3), 1e-3) == 0.0
    # matches a naive count on random data with a loose threshold
    y = pt.random_points(300, 3, 1)
    g = y @ y.T
    naive = (np.count_nonzero(g > 0.5) - 300) / (300 * 299)
    assert C.pair_fraction(y, 0.5) == pytest.approx(naive)


def test_min_inner_and_diameter():
    x = np.array([[1, 0], [0, 1], [-1, 0]], float)
    assert C.min_inner_product(x) == pytest.approx(-1.0)
    assert C.diameter(x) == pytest.approx(2.0)
    assert C.diameter(x[:1]) == 0.0


def test_consensus_time_known_hitting_time():
    # two points at angle a(t) = exp(-t) (closing exponentially): all pairs above 1 - delta first
    # when cos(a(t)) > 1 - delta, i.e. t > -log(arccos(1 - delta))
    t = np.linspace(0, 10, 1001)
    a = np.exp(-t)
    xs = np.stack([np.c_[np.ones_like(t), np.zeros_like(t)], np.c_[np.cos(a), np.sin(a)]], axis=1)
    delta = 1e-3
    t_hit = -np.log(np.arccos(1 - delta))
    ct = C.consensus_time(t, xs, delta)
    assert t_hit <= ct < t_hit + 0.01 + 1e-12
    assert C.consensus_time(t[:100], xs[:100], delta) is None
    counts = C.cluster_counts_over_time(xs, delta)
    assert counts[0] == 2 and counts[-1] == 1
    assert np.all(np.diff(counts) <= 0)
    assert np.allclose(C.min_inner_products_over_time(xs), np.cos(a))
    assert np.allclose(C.diameters_over_time(xs), 2 * np.sin(a / 2))


def test_on_simulated_trajectory():
    # beta = 0: everything merges (Thm 4.1); the staircase ends at 1 and consensus is reached
    x0 = pt.random_points(16, 3, 0)
    traj = pt.simulate(x0, pt.Dynamics(beta=0.0), 15.0, method="rk4", dt=0.1)
    s = C.summary(traj, 1e-3)
    assert s.n_clusters[0] == 16 and s.n_clusters[-1] == 1
    assert s.consensus_time is not None and s.consensus_time == C.consensus_time(traj, delta=1e-3)
    assert s.min_inner[-1] > 1 - 1e-8 and s.diameter[-1] < 1e-4
    assert s.largest[0] == 1 and s.largest[-1] == 16
    assert s.pair_fraction[-1] == 1.0
    d = s.as_dict()
    assert d["n_clusters"] == s.n_clusters.tolist()


def test_histogram(rng):
    x = pt.random_points(200, 3, rng)
    vals, edges = C.inner_product_histogram(x, 20)
    assert edges[0] == -1 and edges[-1] == 1
    assert np.sum(vals * np.diff(edges)) == pytest.approx(1.0)
    raw, _ = C.inner_product_histogram(x, 20, density=False)
    assert raw.sum() == 200 * 199 / 2
    ref, _ = np.histogram(C.pairwise_inner_products(x), bins=edges)
    assert np.array_equal(raw, ref)
    # uniform on S^2: <x_i, x_j> is uniform on [-1, 1]
    assert np.all(np.abs(vals - 0.5) < 0.15)
    t = np.array([0.0, 1.0])
    tt, rows, _ = C.histograms_at(t, np.stack([x, x]), [0.9], bins=20)
    assert tt.tolist() == [1.0] and rows.shape == (1, 20)
    with pytest.raises(ParticlesError, match="outside"):
        C.histograms_at(t, np.stack([x, x]), [5.0])


@pytest.mark.parametrize(
    "call",
    [
        lambda: C.cluster_labels(np.ones((3, 3)), 0.0),
        lambda: C.cluster_labels(np.ones((3, 3)), "a"),
        lambda: C.count_clusters(np.ones(3)),
        lambda: C.pair_fraction([[np.nan, 1.0]]),
        lambda: C.cluster_counts_over_time(np.ones((3, 3))),
        lambda: C.consensus_time(np.ones((2, 3, 2))),
        lambda: C.consensus_time([0, 1, 2], np.ones((2, 3, 2))),
    ],
)
def test_bad_input(call):
    with pytest.raises(ParticlesError):
        call()


def test_gram_versions_match(rng):
    # a stack of small systems with several clusters each
    xs = []
    for b in range(20):
        k = 1 + b % 5
        x, _ = blobs(pt.random_points(k, 3, b), [12 // k + 1] * k, 1e-3 * (b % 3), rng)
        xs.append(x[:12])
    xs = np.stack(xs)
    g = xs @ np.swapaxes(xs, 1, 2)
    counts = C.count_clusters_gram(g, 1e-3)
    fr = C.pair_fraction_gram(g, 1e-3)
    assert counts.shape == (20,) and fr.shape == (20,)
    assert counts.tolist() == [C.count_clusters(x, 1e-3) for x in xs]
    assert np.allclose(fr, [C.pair_fraction(x, 1e-3) for x in xs])
    assert C.count_clusters_gram(g[0]) == C.count_clusters(xs[0])
    assert isinstance(C.pair_fraction_gram(g[0]), float)
    assert C.cluster_counts_over_time(xs).tolist() == counts.tolist()
    with pytest.raises(ParticlesError):
        C.count_clusters_gram(np.ones((3, 4)))
