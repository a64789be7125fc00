"""Batched ensemble kernels against plain-numpy references, the Gram path against coordinates, and the
core integrators."""

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

import particles as pt
from particles.errors import ParticlesError
from particles.solvers import ensemble as E

# ---------------------------------------------------------------- plain-numpy references (naive)


def naive_field(X, beta, kind="SA", B=None, V=None, tangent=True):
    """[P_perp] sum_j A_ij V x_j, A = softmax / n of beta x_i^T B x_j, written out directly."""
    n, d = X.shape
    Bm = np.eye(d) if B is None else B
    Vm = np.eye(d) if V is None else V
    L = beta * X @ Bm @ X.T
    W = np.exp(L)
    A = W / W.sum(axis=1, keepdims=True) if kind == "SA" else W / n
    F = A @ X @ Vm.T
    if tangent:
        F = F - np.sum(F * X, axis=1, keepdims=True) * X
    return F


def naive_step(X, beta, dt, method, kind="SA", B=None, V=None):
    f = lambda Y, tan=True: naive_field(Y, beta, kind, B, V, tan)
    if method == "euler":
        Y = X + dt * f(X, False)
    elif method == "euler-tangent":
        Y = X + dt * f(X)
    else:
        k1 = f(X)
        k2 = f(X + 0.5 * dt * k1)
        k3 = f(X + 0.5 * dt * k2)
        k4 = f(X + dt * k3)
        Y = X + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return Y / np.linalg.norm(Y, axis=1, keepdims=True)


def naive_stats(X, delta, cluster_delta):
    G = X @ X.T
    n = len(G)
    off = ~np.eye(n, dtype=bool)
    frac = np.mean(G[off] > 1 - delta)
    ncl, _ = connected_components(G > 1 - cluster_delta, directed=False)
    return frac, ncl


def naive_run(X0, beta, t_end, dt, method, kind="SA", B=None, V=None, delta=1e-3, cl=None):
    cl = delta if cl is None else cl
    X = X0.copy()
    nsteps = int(round(t_end / dt))
    fr, nc = [naive_stats(X, delta, cl)[0]], [naive_stats(X, delta, cl)[1]]
    for _ in range(nsteps):
        X = naive_step(X, beta, dt, method, kind, B, V)
        f, c = naive_stats(X, delta, cl)
        fr.append(f)
        nc.append(c)
    return X, np.array(fr), np.array(nc)


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("method", ["euler", "euler-tangent", "rk4"])
@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("n,d,weights", [(7, 3, False), (5, 16, True), (9, 2, True)])
def test_coords_match_naive(method, kind, n, d, weights):
    rng = np.random.default_rng(n * 100 + d)
    S = 3
    X0 = E.random_points_batch(n, d, S, rng)
    # USA's field grows like e^beta: keep dt e^beta small so that the runs stay finite
    betas = np.array([0.0, 1.3, 4.0]) if kind == "SA" else np.array([0.0, 0.5, 1.0])
    B = V = None
    if weights:
        B = rng.standard_normal((S, d, d)) / np.sqrt(d)
        V = rng.standard_normal((d, d)) / np.sqrt(d)  # shared by all systems
    r = E.ensemble_coords(
        X0, betas, 1.0, B=B, V=V, dt=0.1, method=method, kind=kind, delta=0.3, cluster_delta=0.05
    )
    for s in range(S):
        Xr, fr, nc = naive_run(
            X0[s], betas[s], 1.0, 0.1, method, kind, None if B is None else B[s], V, 0.3, 0.05
        )
        assert np.all(np.isfinite(Xr))
        np.testing.assert_allclose(r.final[s], Xr, rtol=0, atol=1e-10)
        np.testing.assert_allclose(r.pair_fraction[s], fr, atol=1e-15)
        np.testing.assert_array_equal(r.n_clusters[s], nc)


@pytest.mark.parametrize("method", ["euler", "euler-tangent", "rk4"])
@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("n,d", [(6, 3), (12, 40)])
def test_gram_path_equals_coordinate_path(method, kind, n, d):
    rng = np.random.default_rng(7)
    X0 = E.random_points_batch(n, d, 4, rng)
    G0 = X0 @ np.swapaxes(X0, 1, 2)
    betas = np.array([0.0, 0.7, 3.0, 9.0]) if kind == "SA" else np.array([0.0, 0.4, 0.8, 1.5])
    kw = dict(dt=0.1, method=method, kind=kind, delta=0.2, cluster_delta=0.02, early_stop=False)
    rg = E.ensemble_gram(G0, betas, 2.0, **kw)
    rc = E.ensemble_coords(X0, betas, 2.0, **kw)
    Xf = rc.final
    np.testing.assert_allclose(rg.final, Xf @ np.swapaxes(Xf, 1, 2), atol=1e-12)
    np.testing.assert_allclose(rg.pair_fraction, rc.pair_fraction)
    np.testing.assert_array_equal(rg.n_clusters, rc.n_clusters)
    np.testing.assert_array_equal(rg.t, np.arange(21) * 0.1)


def test_gram_is_spd_normalised_and_d_independent():
    """Only the initial Gram matrix depends on d: the same Gram gives the same run, any d."""
    rng = np.random.default_rng(1)
    G0 = E.random_gram(8, 300, 2, rng)
    r = E.ensemble_gram(G0, 2.0, 3.0)
    np.testing.assert_allclose(np.diagonal(r.final, axis1=1, axis2=2), 1.0)
    np.testing.assert_allclose(r.final, np.swapaxes(r.final, 1, 2))
    assert np.all(np.linalg.eigvalsh(r.final) > -1e-10)


@pytest.mark.parametrize("method", ["euler", "euler-tangent", "rk4"])
def test_matches_core_simulate(method):
    """Every batched scheme is the same method of pt.simulate, step for step."""
    core = method
    x0 = pt.random_points(10, 4, 3)
    dyn = pt.Dynamics(beta=2.5, kind="SA")
    tr = pt.simulate(x0, dyn, 2.0, method=core, dt=0.1, save_at=[2.0])
    r = E.ensemble_coords(x0[None], 2.5, 2.0, dt=0.1, method=method)
    np.testing.assert_allclose(r.final[0], tr.x[-1], atol=1e-12)
    rg = E.ensemble_gram((x0 @ x0.T)[None], 2.5, 2.0, dt=0.1, method=method, early_stop=False)
    np.testing.assert_allclose(rg.final[0], tr.x[-1] @ tr.x[-1].T, atol=1e-12)


def test_equiangular_initial_condition_follows_the_ode():
    """Orthonormal tokens (d = n): RK4 keeps all pairs equal and tracks gamma_beta(t) of (6.9)."""
    from particles.analysis import equiangular

    n = 8
    G0 = np.eye(n)[None]
    r = E.ensemble_gram(G0, 3.0, 4.0, dt=0.02, method="rk4", early_stop=False)
    off = r.final[0][~np.eye(n, dtype=bool)]
    assert np.ptp(off) < 1e-12
    assert off[0] == pytest.approx(equiangular.gamma(4.0, 3.0, n)[()], abs=1e-8)
    # the authors' Euler scheme equals the scalar map of equiangular.euler_gamma
    r = E.ensemble_gram(G0, 3.0, 4.0, dt=0.1, method="euler", early_stop=False)
    ge = equiangular.euler_gamma(40, 3.0, n, 0.1)
    assert r.final[0][0, 1] == pytest.approx(ge[-1], abs=1e-13)


@pytest.mark.parametrize("d", [3, 40])
def test_early_stop_changes_nothing(d):
    rng = np.random.default_rng(3)
    X0 = E.random_points_batch(10, d, 6, rng)
    betas = np.linspace(0, 3, 6)
    kw = dict(dt=0.1, delta=1e-3, cluster_delta=1e-2)
    for early in (True, False):
        r = E.ensemble_coords(X0, betas, 12.0, early_stop=early, **kw)
        g = E.ensemble_gram(X0 @ np.swapaxes(X0, 1, 2), betas, 12.0, early_stop=early, **kw)
        if early:
            ref_c, ref_g = r, g
    np.testing.assert_array_equal(ref_c.pair_fraction, r.pair_fraction)
    np.testing.assert_array_equal(ref_c.n_clusters, r.n_clusters)
    np.testing.assert_array_equal(ref_g.pair_fraction, g.pair_fraction)
    assert ref_c.pair_fraction[0, -1] == 1.0  # beta = 0 collapses: the early stop was exercised


def test_save_every_subsamples():
    X0 = E.random_points_batch(6, 3, 2, 0)
    a = E.ensemble_coords(X0, 1.0, 2.0, save_every=1)
    b = E.ensemble_coords(X0, 1.0, 2.0, save_every=5)
    np.testing.assert_array_equal(b.pair_fraction, a.pair_fraction[:, ::5])
    np.testing.assert_allclose(b.t, [0, 0.5, 1.0, 1.5, 2.0])


def test_random_weights_scalings():
    d = 64
    B, V = E.random_weights("ginibre", d, 4, 0)
    assert B.shape == V.shape == (4, d, d)
    assert np.std(B) == pytest.approx(1.0, rel=0.1)  # G1 G2 / sqrt(d): unit-variance entries
    np.testing.assert_allclose(V, np.swapaxes(V, 1, 2))  # Wishart: symmetric PSD, mean eigenvalue 1
    ev = np.linalg.eigvalsh(V)
    assert ev.min() > -1e-9 and ev.mean() == pytest.approx(1.0, rel=0.05) and ev.max() < 4.5
    B, V = E.random_weights("goe", d, 2, 1)
    np.testing.assert_allclose(B, np.swapaxes(B, 1, 2))
    off = B[0][~np.eye(d, dtype=bool)]
    assert np.std(off) == pytest.approx(1.0, rel=0.1)
    B, V = E.random_weights("ginibre-v=b", d, 1, 2)
    np.testing.assert_allclose(V, B / np.sqrt(d))
    Bg, Vg = E.random_weights("ginibre-v=g", d, 1, 2)
    np.testing.assert_array_equal(Bg, B)  # same Q^T K draw, V a third Ginibre matrix
    lam = np.abs(np.linalg.eigvals(Vg[0]))  # circular law: eigenvalues fill the unit disk
    assert 0.9 < lam.max() < 1.2 and np.mean(lam**2) == pytest.approx(0.5, rel=0.15)
    assert not np.allclose(Vg, np.swapaxes(Vg, 1, 2))
    B, V = E.random_weights("goe-v=b", d, 1, 2)
    np.testing.assert_allclose(V, B / np.sqrt(d + 1))
    with pytest.raises(ParticlesError, match="unknown weight ensemble"):
        E.random_weights("cauchy", d)


def test_bad_input():
    X0 = E.random_points_batch(4, 3, 2, 0)
    with pytest.raises(ParticlesError, match="unknown method"):
        E.ensemble_coords(X0, 1.0, 1.0, method="leapfrog")
    with pytest.raises(ParticlesError, match="one beta per system"):
        E.ensemble_coords(X0, [1.0, 2.0, 3.0], 1.0)
    with pytest.raises(ParticlesError, match="unit sphere"):
        E.ensemble_coords(2 * X0, 1.0, 1.0)
    with pytest.raises(ParticlesError, match="whole number of steps"):
        E.ensemble_coords(X0, 1.0, 1.05)
    with pytest.raises(ParticlesError, match="B must have shape"):
        E.ensemble_coords(X0, 1.0, 1.0, B=np.eye(4))
    with pytest.raises(ParticlesError, match="diagonal = 1"):
        E.ensemble_gram(2 * np.eye(3)[None], 1.0, 1.0)
    with pytest.raises(ParticlesError, match="kind"):
        E.ensemble_gram(np.eye(3)[None], 1.0, 1.0, kind="XA")


def test_compile_time_reported_apart():
    r = E.ensemble_gram(np.eye(3)[None], 1.0, 0.2)
    assert r.compile_s >= 0.0 and r.run_s >= 0.0
    assert E.compile_kernels() == 0.0  # already compiled: nothing more to pay


def test_fig5a_transition_time_is_set_by_the_spectrum_of_v():
    """arXiv 2312.10794, Fig. 5(a): with Q, K, V Ginibre (V = G / sqrt(d), spectral radius 1) the
    pairs cluster at t ~ 7 whatever beta; the Wishart V of the authors' code flag (spectrum up to 4)
    clusters at t ~ 2.5. Half-clustering times measured at n = 16, d = 64, 16 systems, Euler
    dt = 0.1."""
    X0 = E.random_points_batch(16, 64, 16, 0)
    for beta in (1.0, 4.0):
        times = {}
        for ens in ("ginibre-v=g", "ginibre"):
            B, V = E.random_weights(ens, 64, 16, 1)
            r = E.ensemble_coords(X0, beta, 15.0, B=B, V=V, save_every=5)
            P = r.pair_fraction.mean(0)
            times[ens] = r.t[np.argmax(P >= 0.5)]
        assert 6.0 <= times["ginibre-v=g"] <= 8.5 and 1.5 <= times["ginibre"] <= 3.5, (beta, times)
