"""Properties of the field and the fixed-step integrators, by hypothesis (STYLE §5).

Every example draws n in [1, 12] points on S^{d-1}, d in [2, 6], beta in [0, 8], SA or USA, and a
seed for the points, the weights and the rotation or permutation. Few examples (25) and no deadline
(the first call compiles numba kernels); ``derandomize`` and no example database, so every run sees
the same examples and no failing examples are stored between runs.

Tolerances are 1e-12 relative to the size of the unprojected field, whose bound is
``|V|_2 max_j A_ij Z_i``: |V|_2 for SA (the weights sum to 1), |V|_2 max_j exp(beta <Q x_i, K x_j>) for
USA (Z_i = n), which reaches e^8 |V|_2 for identity weights at beta = 8.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import special_ortho_group

import particles as pt
from particles.solvers import registry

TOL = 1e-12
#: every fixed-step method of the registry (a method registered later is covered automatically)
FIXED_STEP = list(registry.names(fixed=True))

few = settings(max_examples=25, deadline=None, derandomize=True, database=None)
ns = st.integers(1, 12)
ds = st.integers(2, 6)
betas = st.floats(0.0, 8.0, allow_nan=False, allow_infinity=False)
kinds = st.sampled_from(["SA", "USA"])
seeds = st.integers(0, 2**32 - 1)


def points(rng, n, d):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def random_dynamics(rng, d, beta, kind, weights):
    """Dynamics with Q, K (d_k, d) and V (d, d) Gaussian / sqrt(d), d_k random; or identities."""
    if not weights:
        return pt.Dynamics(beta=beta, kind=kind)
    dk = int(rng.integers(1, d + 1))
    Q, K = rng.standard_normal((2, dk, d)) / np.sqrt(d)
    V = rng.standard_normal((d, d)) / np.sqrt(d)
    return pt.Dynamics(beta=beta, kind=kind, Q=Q, K=K, V=V)


def field_scale(x, dyn):
    """(n, 1): a bound of |sum_j A_ij V x_j|, the size of the field before projection."""
    n, d = x.shape
    eye = np.eye(d)
    Q = eye if dyn.Q is None else dyn.Q
    K = eye if dyn.K is None else dyn.K
    V = eye if dyn.V is None else dyn.V
    v_norm = np.linalg.norm(V, 2)
    if dyn.kind == "SA":
        return np.full((n, 1), v_norm)
    logits = dyn.beta * (x @ Q.T) @ (x @ K.T).T
    return v_norm * np.exp(logits.max(axis=1, keepdims=True))


@few
@given(n=ns, d=ds, beta=betas, kind=kinds, weights=st.booleans(), seed=seeds)
def test_field_is_tangent(n, d, beta, kind, weights, seed):
    rng = np.random.default_rng(seed)
    x = points(rng, n, d)
    dyn = random_dynamics(rng, d, beta, kind, weights)
    v = pt.velocity(x, dyn)
    assert v.shape == (n, d) and np.all(np.isfinite(v))
    radial = np.abs(np.sum(x * v, axis=1, keepdims=True))
    assert np.all(radial <= TOL * field_scale(x, dyn)), radial.max()


@few
@given(n=ns, d=ds, beta=betas, kind=kinds, seed=seeds)
def test_field_is_rotation_equivariant_for_identity_weights(n, d, beta, kind, seed):
    """Q = K = V = I: f(x R^T) = f(x) R^T for every rotation R."""
    rng = np.random.default_rng(seed)
    x = points(rng, n, d)
    R = special_ortho_group.rvs(d, random_state=rng)
    dyn = pt.Dynamics(beta=beta, kind=kind)
    got = pt.velocity(x @ R.T, dyn)
    want = pt.velocity(x, dyn) @ R.T
    assert np.all(np.abs(got - want) <= TOL * field_scale(x, dyn)), np.abs(got - want).max()


@few
@given(n=ns, d=ds, beta=betas, kind=kinds, weights=st.booleans(), seed=seeds)
def test_field_is_permutation_equivariant(n, d, beta, kind, weights, seed):
    """Non-causal attention does not depend on the order of the tokens: f(x[p]) = f(x)[p]."""
    rng = np.random.default_rng(seed)
    x = points(rng, n, d)
    dyn = random_dynamics(rng, d, beta, kind, weights)
    p = rng.permutation(n)
    got = pt.velocity(x[p], dyn)
    want = pt.velocity(x, dyn)[p]
    scale = field_scale(x, dyn)[p]
    assert np.all(np.abs(got - want) <= TOL * scale), np.abs(got - want).max()


@pytest.mark.parametrize("method", FIXED_STEP)
@few
@given(n=ns, d=ds, beta=betas, kind=kinds, weights=st.booleans(), seed=seeds)
def test_fixed_step_methods_stay_on_the_sphere(method, n, d, beta, kind, weights, seed):
    rng = np.random.default_rng(seed)
    x0 = points(rng, n, d)
    dyn = random_dynamics(rng, d, beta, kind, weights)
    traj = pt.simulate(x0, dyn, 0.5, method=method, dt=0.1, save_at=np.linspace(0.0, 0.5, 6))
    assert traj.x.shape == (6, n, d) and np.all(np.isfinite(traj.x))
    drift = np.abs(np.linalg.norm(traj.x, axis=2) - 1.0)
    assert drift.max() <= TOL, drift.max()


def test_fixed_step_methods_include_the_four_known():
    assert {"euler", "rk4", "lie-euler", "geometric"} <= set(FIXED_STEP)
