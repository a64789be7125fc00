"""Repulsive dynamics (V = -I) and shape identification (arXiv 2312.10794 §9.1, Thm 9.2)."""

import numpy as np
import pytest

import particles as pt
from particles.analysis import repulsive as R
from particles.errors import ParticlesError


def icosahedron():
    p = (1 + np.sqrt(5)) / 2
    v = []
    for a in (-1, 1):
        for b in (-p, p):
            v += [(0, a, b), (a, b, 0), (b, 0, a)]
    return pt.normalize(np.array(v, float))


def random_rotation(d, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def test_hand_built_shapes():
    rot = random_rotation(3, 0)
    tet = pt.normalize(np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float))
    assert R.identify_shape(tet @ rot.T) == "tetrahedron"
    octa = np.concatenate([np.eye(3), -np.eye(3)])
    assert R.identify_shape(octa @ rot.T) == "octahedron"
    ico = icosahedron() @ rot.T
    assert R.identify_shape(ico) == "icosahedron"
    vals, mult = R.inner_product_spectrum(ico)
    assert np.allclose(vals, [-1, -1 / np.sqrt(5), 1 / np.sqrt(5)]) and mult.tolist() == [6, 30, 30]
    cross4 = np.concatenate([np.eye(4), -np.eye(4)]) @ random_rotation(4, 1).T
    assert R.identify_shape(cross4) == "cross-polytope"
    # regular simplex in R^5 (n = 5 <= d + 1 = 5... embedded in d = 4 via centring)
    e = np.eye(5) - 1 / 5
    simplex = pt.normalize(e @ np.linalg.svd(e)[2][:4].T)
    assert R.identify_shape(simplex) == "simplex"
    # a perturbed or random configuration is not recognised
    assert (
        R.identify_shape(
            pt.normalize(ico + 1e-2 * np.random.default_rng(2).standard_normal(ico.shape))
        )
        == "unknown"
    )
    assert R.identify_shape(pt.random_points(6, 3, 3)) == "unknown"


def test_expected_spectra_are_consistent():
    for shape, n, d in [("octahedron", 6, 3), ("icosahedron", 12, 3), ("simplex", 7, 6)]:
        assert sum(m for _, m in R.expected_spectrum(shape, n, d)) == n * (n - 1) // 2
    # sum_{i,j} <x_i, x_j> = |sum x_i|^2 = 0 for these balanced configurations
    for shape, n, d in [("octahedron", 6, 3), ("icosahedron", 12, 3), ("simplex", 7, 6)]:
        assert n + 2 * sum(v * m for v, m in R.expected_spectrum(shape, n, d)) == pytest.approx(
            0, abs=1e-12
        )


@pytest.mark.parametrize("n, d, shape", [(4, 3, "tetrahedron"), (6, 3, "octahedron")])
def test_relax_finds_shape_fast(n, d, shape):
    r = R.relax(n=n, d=d, beta=1.0, rng=0)
    assert r.converged and r.max_speed < 1e-9
    assert R.identify_shape(r.x) == shape
    # V = -I decreases the energy: the final energy is below the random start's
    assert r.energy < pt.energy(pt.random_points(n, d, 0), 1.0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "n, d, shape",
    [
        (4, 3, "tetrahedron"),
        (6, 3, "octahedron"),
        (12, 3, "icosahedron"),
        (5, 4, "simplex"),
        (8, 4, "cross-polytope"),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_relax_spec_table(n, d, shape, seed):
    r = R.relax(n=n, d=d, beta=1.0, rng=seed, dt=0.2)
    assert r.converged
    assert R.identify_shape(r.x) == shape


def test_bad_input():
    with pytest.raises(ParticlesError):
        R.relax()
    with pytest.raises(ParticlesError):
        R.inner_product_spectrum(np.ones((1, 3)))
    with pytest.raises(ParticlesError):
        R.expected_spectrum("dodecahedron", 20, 3)
    with pytest.raises(ParticlesError):
        R.relax(n=4, d=3, dt=0.0)
