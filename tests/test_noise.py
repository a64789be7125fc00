"""The noisy dynamics dx_i = f dt + sqrt(2/kappa) dB_i on the sphere (issue 13, §1): Dynamics.kappa,
the stochastic methods of the registry, simulate(rng=...), the noisy ensembles, and the exact results
they must reproduce.

Exact results used (conventions of particles.meanfield):

- Brownian motion with generator (1/kappa) Lap on S^{d-1}: E <x_t, x_0> = exp(-(d-1) t / kappa).
  For the schemes the one-step mean is exactly c x with a scalar c (by symmetry), so after N steps
  E <x_N, x_0> = c^N: c = E (1 + s^2 R)^{-1/2} for projected Euler–Maruyama (s^2 = 2h/kappa,
  R ~ chi^2_{d-1}) and c = E cos(tau sqrt R) for the geodesic Brownian step of "strang": their weak
  errors are known in closed form, orders exactly 1 and 2.
- One particle in the fixed field P_perp(x) b: the stationary law is von Mises–Fisher, density
  proportional to exp(kappa <b, x>).
- On the circle, E cos(theta_T) for that particle is exp(T L) applied to cos in the Fourier basis
  (L = v d/dtheta + (1/kappa) d^2/dtheta^2, a matrix exponential): the reference of the weak orders
  with a drift, where the schemes' own expectations are computed without sampling.
- The uniform measure is invariant; at finite n its order parameter fluctuates with
  E r^2 = (1/n) / (1 - kappa / kappa_c) below kappa_c (linear fluctuations of the mean-field equation).
"""

import math

import numba
import numpy as np
import pytest
from click.testing import CliRunner
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate, stats
from scipy.linalg import expm

import particles as pt
from particles import config
from particles.cli.main import main
from particles.errors import ParticlesError
from particles.meanfield import critical_kappa
from particles.model.sphere import normalize_rows
from particles.solvers import ensemble, kernels, registry, steps
from particles.solvers import integrate as integ
from tests import naive

SDE = ("euler-maruyama", "lie-euler-maruyama", "strang")


# --- parameters -----------------------------------------------------------------------------------


def test_kappa_is_validated_and_additive():
    assert pt.Dynamics(beta=1.0).kappa is None
    assert pt.Dynamics(beta=1.0, kappa=np.inf).kappa is None  # inf is the ODE
    assert pt.Dynamics(beta=1.0, kappa=2).kappa == 2.0
    for bad in (0, -1, float("nan"), "x"):
        with pytest.raises(ParticlesError, match="kappa"):
            pt.Dynamics(beta=1.0, kappa=bad)
    meta, _ = pt.Dynamics(beta=1.0).to_record()
    assert "kappa" not in meta  # ODE records (and run fingerprints) are unchanged
    dyn = pt.Dynamics(beta=1.5, kind="USA", kappa=3.0)
    meta, arr = dyn.to_record()
    assert pt.Dynamics.from_record(meta, arr) == dyn


# --- the registry and simulate ----------------------------------------------------------------------


def test_stochastic_methods_are_registered():
    assert registry.names(stochastic=True) == SDE
    for name in SDE:
        m = registry.get(name)
        assert m.stochastic and m.fixed and m.batched and m.strong_order == 0.5 and m.kernel
    assert registry.get("strang").order == 2 and registry.get("euler-maruyama").order == 1
    with pytest.raises(ParticlesError, match="step function"):
        registry.Method(name="x", order=1, description="", adaptive=True, stochastic=True)


def test_cli_offers_the_stochastic_methods():
    out = CliRunner().invoke(main, ["simulate", "--help"]).output
    assert "euler-maruyama" in out and "strang" in out and "--kappa" in out


def test_noise_needs_a_stochastic_method():
    x0 = pt.random_points(5, 3, rng=0)
    dyn = pt.Dynamics(beta=1.0, kappa=2.0)
    for m in ("rk4", "euler", "DOP853"):
        with pytest.raises(ParticlesError, match="stochastic method"):
            pt.simulate(x0, dyn, 1.0, method=m)
    assert pt.simulate(x0, dyn, 0.1, dt=0.05, rng=0).method == "euler-maruyama"  # the default
    assert pt.simulate(x0, pt.Dynamics(beta=1.0), 0.1, dt=0.05).method == "rk4"
    with pytest.raises(ParticlesError, match="Brownian increments"):
        integ.step("strang", x0, 0.1, dyn)
    with pytest.raises(ParticlesError, match="rng"):
        pt.simulate(x0, dyn, 0.1, rng="seed")


def test_without_noise_euler_maruyama_is_euler_on_the_tangent_field():
    x0 = pt.random_points(9, 4, rng=1)
    dyn = pt.Dynamics(beta=2.0, kind="USA")
    a = pt.simulate(x0, dyn, 1.0, method="euler-maruyama", dt=0.1)
    b = pt.simulate(x0, dyn, 1.0, method="euler-tangent", dt=0.1)
    assert np.array_equal(a.x, b.x)
    c = pt.simulate(x0, dyn, 1.0, method="strang", dt=0.1, save_at=[1.0])
    d = pt.simulate(x0, dyn, 1.0, method="geometric", dt=0.05, save_at=[1.0])
    np.testing.assert_allclose(c.final, d.final, atol=1e-14)  # two Lie-midpoint half steps


@pytest.mark.parametrize("method", SDE)
def test_same_seed_same_path_on_any_number_of_threads(method, monkeypatch):
    x0 = pt.random_points(1600, 3, rng=2)  # above the field's threading threshold
    dyn = pt.Dynamics(beta=2.0, kind="USA", kappa=3.0)
    run = lambda rng: pt.simulate(x0, dyn, 0.1, method=method, dt=0.05, rng=rng, save_at=[0.1])  # noqa: E731
    a = run(7)
    assert a.meta["noise_seed"] == 7 and a.stats["max_norm_drift"] < 1e-15
    monkeypatch.setattr(config, "THREADS", 1)
    numba.set_num_threads(1)
    try:
        b = run(np.random.default_rng(7))
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert np.array_equal(a.final, b.final)
    assert b.meta["noise_seed"] is None  # a Generator has no seed to record
    assert not np.array_equal(run(8).final, a.final)


def test_fresh_seed_is_recorded_and_replays():
    x0 = pt.random_points(6, 3, rng=3)
    dyn = pt.Dynamics(beta=1.0, kappa=1.0)
    a = pt.simulate(x0, dyn, 0.5, dt=0.05)
    b = pt.simulate(x0, dyn, 0.5, dt=0.05, rng=a.meta["noise_seed"])
    assert np.array_equal(a.x, b.x)


def test_noise_increments_come_in_step_order():
    """One (n, d) block of standard normals per step, scaled by sqrt(h): replayed by hand."""
    x0 = pt.random_points(5, 3, rng=4)
    dyn = pt.Dynamics(beta=1.0, kind="SA", kappa=2.0)
    tr = pt.simulate(x0, dyn, 0.3, method="euler-maruyama", dt=0.1, rng=11, save_at=[0.3])
    g = np.random.default_rng(11)
    x = x0
    for _ in range(3):
        dW = g.standard_normal((5, 3)) * math.sqrt(0.1)
        v = pt.velocity(x, dyn)
        y = x + 0.1 * v + 1.0 * (dW - np.sum(dW * x, axis=1, keepdims=True) * x)
        x = y / np.linalg.norm(y, axis=1, keepdims=True)
    np.testing.assert_allclose(tr.final, x, atol=1e-14)


def test_interrupted_noisy_run_resumes_on_the_same_path(tmp_path, monkeypatch):
    x0 = pt.random_points(8, 3, rng=5)
    dyn = pt.Dynamics(beta=1.0, kind="USA", kappa=2.0)
    kw = dict(method="strang", dt=0.05, rng=21, save_at=np.linspace(0, 2, 21))
    full = pt.simulate(x0, dyn, 2.0, **kw)
    real, calls = integ._step, {"k": 0}

    def flaky(*a, **k):
        calls["k"] += 1
        if calls["k"] == 17:
            raise KeyboardInterrupt
        return real(*a, **k)

    path = tmp_path / "run.npz"
    monkeypatch.setattr(integ, "_step", flaky)
    with pytest.raises(KeyboardInterrupt):
        pt.simulate(x0, dyn, 2.0, checkpoint=path, **kw)
    monkeypatch.setattr(integ, "_step", real)
    part = pt.Trajectory.load(path)
    assert not part.complete and "rng_state" in part.meta
    kw.pop("rng")  # the seed comes from the checkpoint
    done = pt.simulate(x0, dyn, 2.0, checkpoint=path, resume=True, **kw)
    assert np.array_equal(done.x, full.x)


# --- exact results --------------------------------------------------------------------------------


def _chi2_mean(fun, m):
    """E fun(R) for R ~ chi^2_m."""
    return integrate.quad(lambda r: fun(r) * stats.chi2.pdf(r, m), 0, np.inf, limit=200)[0]


def _bm_one_step_mean(method, h, kappa, d):
    s2 = 2 * h / kappa
    if method == "euler-maruyama":
        return _chi2_mean(lambda r: 1 / math.sqrt(1 + s2 * r), d - 1)
    if method == "lie-euler-maruyama":
        return _chi2_mean(lambda r: math.cos(math.sqrt(s2 * r)), d - 1)
    tau2 = steps.bm_step_variance(h, kappa, d)
    return _chi2_mean(lambda r: math.cos(math.sqrt(tau2 * r)), d - 1)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_spherical_brownian_motion_weak_orders_exactly(d):
    """E <x_N, x_0> = c(h)^N exactly; against exp(-(d-1) T / kappa) the error has slope 1
    (Euler–Maruyama, geodesic Euler–Maruyama) and 2 (strang); on the circle the geodesic step and
    strang's Brownian step are exact rotations. Tolerance on the slopes: 0.05."""
    kappa, T = 1.5, 1.0
    exact = math.exp(-(d - 1) * T / kappa)
    for method, order, hs in (
        ("euler-maruyama", 1, (0.01, 0.005, 0.0025, 0.00125)),
        ("lie-euler-maruyama", 1, (0.01, 0.005, 0.0025, 0.00125)),
        ("strang", 2, (0.1, 0.05, 0.025, 0.0125)),
    ):
        hs = np.array(hs)
        err = np.array(
            [abs(_bm_one_step_mean(method, h, kappa, d) ** round(T / h) - exact) for h in hs]
        )
        if method != "euler-maruyama" and d == 2:
            assert err.max() < 1e-8, (method, err)
            continue
        slopes = np.diff(np.log(err)) / np.diff(np.log(hs))
        assert np.all(np.abs(slopes - order) < 0.05), (method, d, slopes)


@pytest.mark.parametrize("method", ["euler-maruyama", "strang"])
def test_brownian_steps_match_their_exact_one_step_law(method):
    """The implemented steps (no drift) reproduce c(h)^N within 5 standard errors, N = 4e5 particles."""
    d, kappa, h, T = 3, 1.5, 0.2, 1.0
    rng = np.random.default_rng(0)
    x0 = normalize_rows(rng.standard_normal((400000, d)))
    x = x0.copy()
    zero = lambda y: np.zeros_like(y)  # noqa: E731
    for _ in range(round(T / h)):
        dW = rng.standard_normal(x.shape) * math.sqrt(h)
        x = normalize_rows(registry.get(method).step(x, h, zero, dW, kappa)[0])
    ip = np.sum(x * x0, axis=1)
    want = _bm_one_step_mean(method, h, kappa, d) ** round(T / h)
    assert abs(ip.mean() - want) < 5 * ip.std() / math.sqrt(ip.size)


def test_brownian_decay_rate_through_simulate():
    """Without interaction (V = 0) E <x_t, x_0> = exp(-(d-1) t / kappa); strang, dt = 0.05,
    n = 1000: within 5 standard errors + the scheme's O(h^2) bias (< 1e-3 here)."""
    d, kappa = 3, 2.0
    x0 = pt.random_points(1000, d, rng=6)
    dyn = pt.Dynamics(beta=1.0, V=0.0, kappa=kappa)
    tr = pt.simulate(x0, dyn, 1.0, method="strang", dt=0.05, rng=1, save_at=[0.5, 1.0])
    for t, x in zip(tr.t, tr.x, strict=True):
        ip = np.sum(x * x0, axis=1)
        want = math.exp(-(d - 1) * t / kappa)
        assert abs(ip.mean() - want) < 5 * ip.std() / math.sqrt(ip.size) + 1e-3


@pytest.mark.parametrize("method", SDE)
@pytest.mark.parametrize("d", [2, 3, 4])
def test_stationary_law_in_a_linear_potential_is_von_mises_fisher(method, d):
    """Independent particles in the fixed field P_perp b (the gradient of <b, x>): from uniform data,
    after t = 6 the angles phi to b of 20000 particles follow the von Mises–Fisher law, density
    ~ exp(c cos phi) sin^{d-2} phi, c = kappa |b| = 2.5: Kolmogorov–Smirnov p > 1e-3, and the mean of
    cos phi within 5 standard errors + 0.01 (the step's bias at dt = 0.02)."""
    kappa, h = 2.0, 0.02
    b = np.zeros(d)
    b[0] = 1.25
    c = kappa * b[0]
    rng = np.random.default_rng(d)
    x = normalize_rows(rng.standard_normal((20000, d)))
    f = lambda y: b - (y @ b)[:, None] * y  # noqa: E731
    step = registry.get(method).step
    for _ in range(round(6.0 / h)):
        x = normalize_rows(step(x, h, f, rng.standard_normal(x.shape) * math.sqrt(h), kappa)[0])
    phi = np.arccos(np.clip(x[:, 0], -1, 1))
    grid = np.linspace(0, np.pi, 20001)
    dens = np.exp(c * (np.cos(grid) - 1)) * np.sin(grid) ** (d - 2)
    cdf = integrate.cumulative_trapezoid(dens, grid, initial=0)
    mean = integrate.trapezoid(np.cos(grid) * dens, grid) / cdf[-1]
    assert stats.kstest(phi, lambda p: np.interp(p, grid, cdf / cdf[-1])).pvalue > 1e-3
    assert abs(x[:, 0].mean() - mean) < 5 * x[:, 0].std() / math.sqrt(x.shape[0]) + 0.01


def test_linear_potential_through_simulate():
    """The same law through simulate (V = 0, ffn = b, n = 600): the mean of <x, b/|b|> within
    5 standard errors + 0.01 of the von Mises–Fisher mean coth(c) - 1/c (d = 3)."""
    d, kappa = 3, 2.0
    b = np.array([1.25, 0.0, 0.0])
    ffn = pt.FeedForward(W1=np.zeros((1, d)), b1=np.zeros(1), W2=np.zeros((d, 1)), b2=b)
    dyn = pt.Dynamics(beta=0.0, V=0.0, ffn=ffn, kappa=kappa)
    tr = pt.simulate(
        pt.random_points(600, d, rng=7), dyn, 6.0, method="strang", dt=0.05, rng=2, save_at=[6.0]
    )
    cos, c = tr.final[:, 0], kappa * b[0]
    assert abs(cos.mean() - (1 / math.tanh(c) - 1 / c)) < 5 * cos.std() / math.sqrt(600) + 0.01


def _circle_reference(b1, kappa, T, theta0, K=40):
    """E cos(theta_T) for dtheta = -b1 sin(theta) dt + sqrt(2/kappa) dW, in the Fourier basis."""
    ks = np.arange(-K, K + 1)
    L = np.diag(-(ks**2) / kappa).astype(complex)
    for a, k in enumerate(
        ks
    ):  # -b1 sin(theta) d/dtheta e^{ik theta} = -(b1 k / 2)(e^{i(k+1)} - e^{i(k-1)})
        if a + 1 < len(ks):
            L[a + 1, a] += -b1 * k / 2
        if a >= 1:
            L[a - 1, a] += b1 * k / 2
    c = np.zeros(len(ks), complex)
    c[K + 1] = c[K - 1] = 0.5
    return float((expm(T * L) @ c * np.exp(1j * ks * theta0)).sum().real)


def _scheme_mean_on_the_circle(method, h, T, kappa, b1, th0, M=48, q=10):
    """E cos(theta_N) of the scheme itself, without Monte Carlo: one particle per row in the field
    P_perp b (b = (b1, 0)) is a Markov chain on the angle; its one-step expectation operator is applied
    N times to cos on M grid angles, the expectation over the ambient increment dW ~ N(0, h I_2) by a
    q x q Gauss–Hermite rule, the step itself by the registered step function (on all grid points and
    nodes at once), values between grid angles by trigonometric interpolation (exact to ~1e-12 here)."""
    step = registry.get(method).step
    th = 2 * np.pi * np.arange(M) / M
    e, w = hermegauss(q)
    w = w / w.sum()
    E1, E2 = np.meshgrid(e, e, indexing="ij")
    W = np.outer(w, w).ravel()
    X = np.repeat(np.stack([np.cos(th), np.sin(th)], axis=1), W.size, axis=0)
    dW = np.tile(np.stack([E1.ravel(), E2.ravel()], axis=1), (M, 1)) * math.sqrt(h)
    f = lambda y: np.array([b1, 0.0]) - (y[:, 0] * b1)[:, None] * y  # noqa: E731
    Y = normalize_rows(step(X, h, f, dW, kappa)[0])
    psi = np.arctan2(Y[:, 1], Y[:, 0]).reshape(M, W.size)
    k = np.fft.fftfreq(M, 1 / M)
    Ev = np.exp(1j * psi[:, :, None] * k)
    u = np.cos(th)
    for _ in range(round(T / h)):
        u = ((Ev @ (np.fft.fft(u) / M)).real * W).sum(axis=1)
    return float((np.exp(1j * th0 * k) @ (np.fft.fft(u) / M)).real)


@pytest.mark.parametrize(
    "method, order, hs",
    [
        ("euler-maruyama", 1, (0.02, 0.01, 0.005)),
        ("lie-euler-maruyama", 1, (0.02, 0.01, 0.005)),
        ("strang", 2, (0.2, 0.1, 0.05, 0.025)),
    ],
)
def test_weak_order_with_a_drift(method, order, hs):
    """d = 2, one particle in the field P_perp b, b = (1.5, 0), kappa = 1: the weak error
    E cos theta_T (T = 1) of the scheme (computed without sampling, see
    :func:`_scheme_mean_on_the_circle`) against the exact value (Fourier reference). Measured slopes:
    0.93, 0.96 (Euler–Maruyama), 0.99, 0.995 (geodesic), 1.99, 2.00, 2.00 (strang); tolerance 0.1."""
    kappa, b1, T, th0 = 1.0, 1.5, 1.0, 2.0
    exact = _circle_reference(b1, kappa, T, th0)
    err = [abs(_scheme_mean_on_the_circle(method, h, T, kappa, b1, th0) - exact) for h in hs]
    slopes = np.diff(np.log(err)) / np.diff(np.log(hs))
    assert np.all(np.abs(slopes - order) < 0.1), (method, err, slopes)


@pytest.mark.parametrize("method", SDE)
def test_strong_order_one_half(method):
    """Interacting USA particles (n = 4, d = 3, beta = 1, kappa = 2), 96 paths, reference dt = 2^-11
    on the same Brownian paths: E max_i |x_i(1) - x_i^ref(1)| has slope 0.5 +- 0.15 in dt
    (non-commuting noise fields P_perp e_j: no scheme using only increments does better)."""
    P, n, d, kappa, T = 96, 4, 3, 2.0, 1.0
    rng = np.random.default_rng(4)
    x0 = normalize_rows(rng.standard_normal((P * n, d)))

    def f(y):  # USA field of each of the P systems, beta = 1
        Y = y.reshape(P, n, d)
        A = np.exp(Y @ Y.transpose(0, 2, 1)) / n
        F = A @ Y
        F -= np.sum(F * Y, axis=2, keepdims=True) * Y
        return F.reshape(P * n, d)

    step = registry.get(method).step
    hf = 2.0**-11
    nf = round(T / hf)
    dWf = rng.standard_normal((nf, P * n, d)) * math.sqrt(hf)

    def run(h):
        r = round(h / hf)
        x = x0.copy()
        for w in dWf.reshape(nf // r, r, P * n, d).sum(axis=1):
            x = normalize_rows(step(x, h, f, w, kappa)[0])
        return x

    ref_x = run(hf)
    hs = 2.0 ** -np.arange(4, 8)
    errs = [np.abs(run(h) - ref_x).max(axis=1).reshape(P, n).max(axis=1).mean() for h in hs]
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(slope - 0.5) < 0.15, (method, errs, slope)


# --- the noisy ensembles ----------------------------------------------------------------------------


def test_counter_normals_match_their_twin_and_are_normal():
    key = ensemble.noise_keys([12345])[0]
    out = np.empty(64)
    kernels._counter_normals(key, 7, out)
    np.testing.assert_allclose(out, naive._counter_normals(key, 7, out), rtol=1e-12, atol=1e-12)
    big = np.empty(200000)
    kernels._counter_normals(key, 0, big)
    assert stats.kstest(big, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(big[:-1], big[1:])[0, 1]) < 0.01
    assert int(kernels._splitmix64(np.uint64(1))) == naive._splitmix64(1)
    k0, k1 = ensemble.noise_keys([0, 1])
    assert k0 != k1 and ensemble.noise_keys([0], stream=1)[0] != k0


@pytest.mark.parametrize("d", [2, 3, 6])
def test_harmonic_modes_match_their_twin(d):
    x = pt.random_points(30, d, rng=d)
    G = x @ x.T
    out = np.empty(6)
    kernels._harmonic_modes(G, d, out)
    np.testing.assert_allclose(out, naive._harmonic_modes(G, d, out), rtol=1e-10, atol=1e-13)
    assert abs(out[0] - kernels._order_parameter(x)) < 1e-13
    assert abs(kernels._order_parameter(x) - naive._order_parameter(x)) < 1e-14
    if d == 2:  # Fourier modes |mean exp(i l theta)|
        th = np.arctan2(x[:, 1], x[:, 0])
        want = np.abs(np.exp(1j * np.outer(np.arange(1, 7), th)).mean(axis=1))
        np.testing.assert_allclose(out, want, atol=1e-13)


@pytest.mark.parametrize("method", SDE)
@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("weights", [False, True])
def test_noisy_ensemble_matches_its_twin(method, kind, weights):
    """ensemble_noisy against the twin of the one coordinate loop (naive._coord_ensemble), whose
    geodesic and Strang steps are simulate's own step functions on the same counter normals."""
    S, n, d = 3, 7, 3
    X0 = ensemble.random_points_batch(n, d, S, rng=1)
    rng = np.random.default_rng(2)
    B = rng.standard_normal((S, d, d)) / 2 if weights else None
    V = rng.standard_normal((d, d)) / 2 if weights else None
    betas, kappas, seeds = np.array([0.5, 1.0, 2.0]), np.array([1.0, np.inf, 3.0]), [4, 5, 6]
    kw = dict(seeds=seeds, stream=3, B=B, V=V, dt=0.05, kind=kind, save_every=4, modes=3)
    res = ensemble.ensemble_noisy(X0, betas, kappas, 0.6, method=method, **kw)
    keys = ensemble.noise_keys(seeds, 3)
    Bw = np.zeros((0, d, d)) if B is None else B
    Vw = np.zeros((0, d, d)) if V is None else V[None]
    post = (np.zeros(2, np.int64), 0, 0.0)
    scheme = ensemble._scheme(registry.get(method))
    frac, ncl = np.empty((S, 0)), np.empty((S, 0), np.int64)
    args = (X0, Bw, Vw, betas, kind == "USA", scheme, post, kappas, keys, 0.05, 12, 4, None)
    X, _, _, r, m, done = naive._coord_ensemble(*args, frac, ncl, res.r, res.modes, None)
    np.testing.assert_allclose(res.final, X, atol=1e-11)
    np.testing.assert_allclose(res.r, r, atol=1e-11)
    np.testing.assert_allclose(res.modes, m, atol=1e-10)
    np.testing.assert_allclose(res.t, [0, 0.2, 0.4, 0.6])
    assert res.meta["method"] == method and np.all(done == 12)


class _CounterNormals(np.random.Generator):
    """A Generator whose standard_normal((n, d)) returns the ensemble's counter normals of one
    system, step after step: simulate then draws exactly the ensemble's Brownian increments."""

    def __init__(self, key):
        super().__init__(np.random.PCG64(0))
        self.key, self.start = key, 0

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        z = np.empty(int(np.prod(size)))
        kernels._counter_normals(self.key, self.start, z)
        self.start += z.size
        return z.reshape(size)


@pytest.mark.parametrize("method", SDE)
def test_noisy_ensemble_is_simulate_on_the_same_increments(method):
    """particles.simulate with the same method, fed the ensemble's normals (dW = sqrt(dt) z), gives
    the ensemble's states to rounding (1e-12): interacting SA particles with Q, K, V, d = 3."""
    S, n, d, dt, T = 2, 6, 3, 0.05, 0.5
    X0 = ensemble.random_points_batch(n, d, S, rng=8)
    rng = np.random.default_rng(9)
    Q, K, V = (rng.standard_normal((d, d)) / 2 for _ in range(3))
    kappas, seeds = [1.5, 4.0], [11, 12]
    res = ensemble.ensemble_noisy(
        X0, 2.0, kappas, T, seeds=seeds, B=Q.T @ K, V=V, dt=dt, kind="SA", method=method, modes=0
    )
    for s, key in enumerate(ensemble.noise_keys(seeds)):
        dyn = pt.Dynamics(beta=2.0, Q=Q, K=K, V=V, kappa=kappas[s])
        tr = pt.simulate(X0[s], dyn, T, method=method, dt=dt, save_at=[T], rng=_CounterNormals(key))
        np.testing.assert_allclose(res.final[s], tr.final, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", SDE)
def test_noisy_ensemble_is_reproducible_and_independent_of_threads_and_neighbours(method):
    """Same seeds, same paths, bit for bit, on 1 and 2 numba threads and whichever other systems
    run; another stream gives other paths."""
    X0 = ensemble.random_points_batch(20, 3, 4, rng=3)
    kw = dict(seeds=[1, 2, 3, 4], dt=0.05, save_every=5, modes=2, method=method)
    runs = []
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            runs.append(ensemble.ensemble_noisy(X0, 1.0, 2.0, 1.0, **kw))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    a, b = runs
    assert np.array_equal(a.final, b.final) and np.array_equal(a.modes, b.modes)
    assert np.array_equal(a.r, b.r)
    kw["seeds"] = [3]
    c = ensemble.ensemble_noisy(X0[2:3], 1.0, 2.0, 1.0, **kw)
    assert np.array_equal(c.final[0], a.final[2])
    kw["seeds"] = [1, 2, 3, 4]
    d = ensemble.ensemble_noisy(X0, 1.0, 2.0, 1.0, stream=1, **kw)
    assert not np.array_equal(d.final, a.final)


def test_noisy_ensemble_weak_orders():
    """The measured weak orders of the ensemble schemes, on spherical Brownian motion (V = 0: no
    drift, n = 10 independent particles per system, 8000 systems, d = 3, kappa = 0.5, T = 1):
    observable <x_T, x_0>, exact mean exp(-(d-1) T / kappa).

    The geodesic scheme's mean is known in closed form, c(h)^N (:func:`_bm_one_step_mean`): its
    ensemble mean must agree within 4 standard errors. It is then the control variate of the other
    two, run on the same counter normals (same seeds): E X = c_geo^N + E (X - X_geo), whose sample
    mean has a small variance. Measured (seeds fixed): Euler–Maruyama errors 9.0e-2, 4.6e-2 at
    h = 1/8, 1/16 (slope 0.96; tolerance 1 +- 0.2); strang 1.03e-2, 1.9e-3, 4.3e-4 at h = 1/2, 1/4,
    1/8 (fitted slope 2.3; tolerance 2 +- 0.5). Every estimate also agrees with the scheme's own
    closed-form mean within 4 standard errors."""
    d, kappa, T, n, S = 3, 0.5, 1.0, 10, 8000
    X0 = ensemble.random_points_batch(n, d, S, rng=1)
    exact = math.exp(-(d - 1) * T / kappa)
    zero = np.zeros((d, d))

    def inner(method, h):
        kw = dict(seeds=np.arange(S), dt=h, V=zero, method=method, modes=0, save_every=round(T / h))
        res = ensemble.ensemble_noisy(X0, 0.0, kappa, T, **kw)
        return np.sum(res.final * X0, axis=2).ravel()

    def law(method, h):
        return _bm_one_step_mean(method, h, kappa, d) ** round(T / h)

    geo = {h: inner("lie-euler-maruyama", h) for h in (0.5, 0.25, 0.125, 0.0625)}
    for h, x in geo.items():
        assert abs(x.mean() - law("lie-euler-maruyama", h)) < 4 * x.std() / math.sqrt(x.size)
    for method, hs, order, tol in (
        ("euler-maruyama", (0.125, 0.0625), 1, 0.2),
        ("strang", (0.5, 0.25, 0.125), 2, 0.5),
    ):
        err = []
        for h in hs:
            diff = inner(method, h) - geo[h]
            est, se = law("lie-euler-maruyama", h) + diff.mean(), diff.std() / math.sqrt(diff.size)
            assert abs(est - law(method, h)) < 4 * se, (method, h, est, law(method, h), se)
            err.append(abs(est - exact))
        slope = np.polyfit(np.log(hs), np.log(err), 1)[0]
        assert abs(slope - order) < tol, (method, err, slope)


def test_a_registered_stochastic_method_reaches_the_noisy_ensembles():
    """A stochastic method registered with a kernel step runs in ensemble_noisy and is offered by
    ``particles transition --method``; an unknown kernel step is a clear error."""
    from particles.cli._common import MethodChoice

    toy = registry.Method(
        name="toy-geodesic",
        order=1,
        strong_order=0.5,
        stochastic=True,
        step=steps.lie_euler_maruyama,
        kernel="geodesic",
        description="the geodesic scheme under another name",
    )
    bad = registry.Method(
        name="toy-bad",
        order=1,
        stochastic=True,
        step=steps.euler_maruyama,
        kernel="nonesuch",
        description="",
    )
    registry.register(toy)
    registry.register(bad)
    try:
        assert "toy-geodesic" in ensemble.NOISY_METHODS and "toy-geodesic" not in ensemble.METHODS
        assert "toy-geodesic" in MethodChoice(batched=True, stochastic=True).choices
        X0 = ensemble.random_points_batch(6, 3, 2, rng=4)
        kw = dict(seeds=[1, 2], dt=0.05, modes=1)
        a = ensemble.ensemble_noisy(X0, 1.0, 2.0, 0.5, method="toy-geodesic", **kw)
        b = ensemble.ensemble_noisy(X0, 1.0, 2.0, 0.5, method="lie-euler-maruyama", **kw)
        assert np.array_equal(a.final, b.final) and a.meta["method"] == "toy-geodesic"
        with pytest.raises(ParticlesError, match="kernel must be one of"):
            ensemble.ensemble_noisy(X0, 1.0, 2.0, 0.5, method="toy-bad", **kw)
    finally:
        registry.unregister("toy-geodesic")
        registry.unregister("toy-bad")
    with pytest.raises(ParticlesError, match="stochastic"):
        registry.Method(
            name="x", order=1, tableau=registry._EULER, kernel="geodesic", description=""
        )


def test_noiseless_ensemble_is_the_euler_tangent_ensemble():
    X0 = ensemble.random_points_batch(9, 4, 3, rng=4)
    a = ensemble.ensemble_noisy(X0, [0.5, 1, 3], None, 2.0, seeds=0, dt=0.1, kind="SA", modes=0)
    b = ensemble.ensemble_coords(
        X0, [0.5, 1, 3], 2.0, dt=0.1, method="euler-tangent", early_stop=False
    )
    assert np.array_equal(a.final, b.final)


def test_noisy_ensemble_errors():
    X0 = ensemble.random_points_batch(5, 3, 2, rng=5)
    for bad, why in (("rk4", "not stochastic"), ("RK45", "not stochastic"), ("nope", "unknown")):
        with pytest.raises(ParticlesError, match=why):
            ensemble.ensemble_noisy(X0, 1.0, 1.0, 1.0, seeds=[0, 1], method=bad)
    with pytest.raises(ParticlesError, match="is stochastic"):
        ensemble.ensemble_coords(X0, 1.0, 1.0, method="strang")
    with pytest.raises(ParticlesError, match="kappa"):
        ensemble.ensemble_noisy(X0, 1.0, [1.0, 0.0], 1.0, seeds=[0, 1])
    with pytest.raises(ParticlesError, match="seed"):
        ensemble.ensemble_noisy(X0, 1.0, 1.0, 1.0, seeds=[0, 1, 2])
    with pytest.raises(ParticlesError, match="seeds"):
        ensemble.ensemble_noisy(X0, 1.0, 1.0, 1.0, seeds=[-1, 2])


@pytest.mark.parametrize("d, beta, kappa", [(2, 1.0, 1.0), (3, 1.0, 1.5)])
def test_uniform_measure_is_invariant(d, beta, kappa):
    """Below kappa_c, from uniform data, r^2 fluctuates about its linear-theory mean
    (1/n) / (1 - kappa / kappa_c) (the uniform state is invariant and stable): time and ensemble mean
    within 15 %; and the harmonic modes l = 2, 3 keep their uniform-data size ~ n^{-1/2}."""
    S, n = 8, 150
    X0 = ensemble.random_points_batch(n, d, S, rng=6)
    res = ensemble.ensemble_noisy(
        X0, beta, kappa, 60.0, seeds=np.arange(S), dt=0.02, kind="USA", save_every=50, modes=3
    )
    r2 = (res.r[:, 10:] ** 2).mean()
    want = (1 / n) / (1 - kappa / critical_kappa(beta, d))
    assert abs(r2 / want - 1) < 0.15, (r2, want)
    m = res.modes[:, 10:, 1:] ** 2
    assert np.all(m.mean(axis=(0, 1)) < 3 / n)


def test_order_parameter_and_modes_of_trajectories():
    from particles.analysis.modes import harmonic_modes, order_parameter

    for d in (2, 3, 5):
        tr = pt.simulate(
            pt.random_points(40, d, rng=d),
            pt.Dynamics(beta=1.0, kappa=2.0),
            1.0,
            dt=0.05,
            rng=0,
            saves=5,
        )
        m = harmonic_modes(tr.x, 4)
        np.testing.assert_allclose(m[:, 0], order_parameter(tr.x), atol=1e-12)
        G = tr.x[-1] @ tr.x[-1].T
        np.testing.assert_allclose(m[-1], naive._harmonic_modes(G, d, np.empty(4)), atol=1e-10)
        assert harmonic_modes(tr.final, 4).shape == (4,) and isinstance(
            order_parameter(tr.final), float
        )
    with pytest.raises(ParticlesError):
        harmonic_modes(np.ones(3))
