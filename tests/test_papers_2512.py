"""Closed forms that Rigollet, *The Mean-Field Dynamics of Transformers* (arXiv 2512.01868), states
itself, checked against our functions. Section, equation and theorem numbers are counted from the
paper's LaTeX source (amsart: equations numbered through the paper, (SA) and (USA) tagged; one
counter for theorems, the corollary and the remark), not read off a PDF. Its time, β and 1/n
conventions are ours: (USA) divides by n, (SA) by Z_{β,i}, the energy (3) carries 1/(2β), and no time
is rescaled, so the formulas are compared as printed."""

import math

import numpy as np
import pytest

import particles as pt
import particles.analysis.equiangular as eq
import particles.meanfield as mf
from particles.analysis import circle
from particles.analysis import long_context as lc
from particles.analysis.energy import energy
from particles.field import norms


@pytest.mark.parametrize("kind", ["SA", "USA"])
@pytest.mark.parametrize("beta", [0.0, 1.0, 4.0])
def test_equiangular_linearisation_at_consensus_section_6_1(kind, beta):
    """§6.1: with ε = 1 - ρ, ε̇ ≃ -2 ε (SA) and ε̇ ≃ -2 e^β ε (USA), so λ_β = 2 and 2 e^β. The
    right-hand side of the equiangular ODE divided by ε tends to λ_β (error O(n β ε): 1e-6 at
    ε = 1e-9), and :func:`late_time` returns the same λ_β for Post-LN."""
    n = 32
    lam = 2.0 if kind == "SA" else 2.0 * math.exp(beta)
    rho = 1.0 - np.array([1e-3, 1e-6, 1e-9])
    eps = 1.0 - rho  # exact in floating point (Sterbenz)
    ratio = eq.rhs(rho, beta, n, kind) / eps
    assert ratio[-1] == pytest.approx(lam, rel=1e-6)
    assert np.all(np.diff(np.abs(ratio - lam)) < 0)
    law = eq.late_time("post", beta, kind=kind)
    assert law == {"law": "exponential", "rate": pytest.approx(lam, rel=1e-15)}


def test_post_ln_exponential_and_pre_ln_inverse_square_section_6_2():
    """§6.2: 1 - ρ(t) ~ e^{-2t} for Post-LN (SA) and ~ 1/t^2 for Pre-LN (SA and USA), equiangular
    model: from the ODE, e^{2t} (1 - ρ) and t^2 (1 - ρ) settle to constants (relative drift < 1e-3
    over the last step of t; the Pre-LN correction is O(1/t))."""
    beta, n = 1.0, 8
    tp = np.array([6.0, 9.0, 12.0])
    eps, _ = eq.solve(tp, beta, n, norm="post", complement=True)
    c = eps * np.exp(2 * tp)
    assert abs(c[-1] / c[-2] - 1) < 1e-3
    tl = np.array([1e3, 1e4, 1e5])
    for kind in ("SA", "USA"):
        eps, _ = eq.solve(tl, beta, n, kind=kind, norm="pre", complement=True)
        c = eps * tl**2
        assert abs(c[-1] / c[-2] - 1) < 1e-3 and abs(c[-1] / c[0] - 1) < 2e-2
    assert eq.late_time("pre") == {"law": "power", "exponent": 2.0}


def test_pre_ln_usa_flow_and_speed_factors_eq_7():
    """§6.2: the Pre-LN USA flow is printed as ẋ_i = (1/n) Σ_j e^{β<θ_i, θ_j>} θ_j (x_i in R^d,
    θ_i = x_i/|x_i|); the directions obey eq. (7), θ̇_i = P⊥(θ_i) A_i(Θ) / s_i, with A_i the SA
    softmax average of the θ_j, s_i = 1 for Post-LN (which is then (SA)) and s_i = r_i for
    Pre-LN. Tolerance 1e-13 (rounding)."""
    rng = np.random.default_rng(7)
    n, d, beta = 7, 5, 1.3
    h = pt.random_points(n, d, rng) * rng.uniform(0.5, 3.0, size=(n, 1))
    theta = h / np.linalg.norm(h, axis=1, keepdims=True)
    w = np.exp(beta * theta @ theta.T)
    printed = w @ theta / n
    got = pt.drift(h, pt.Dynamics(beta=beta, kind="USA", norm="pre"))
    np.testing.assert_allclose(got, printed, atol=1e-13)
    # eq. (7) with the SA attention vector A_i(Θ)
    A = (w @ theta) / w.sum(axis=1, keepdims=True)
    tang = A - np.sum(theta * A, axis=1, keepdims=True) * theta
    r = np.linalg.norm(h, axis=1)
    pre = pt.Dynamics(beta=beta, kind="SA", norm="pre")
    np.testing.assert_allclose(norms.speed_factor(h, pre), r, rtol=1e-15)
    np.testing.assert_allclose(norms.direction_velocity(h, pre), tang / r[:, None], atol=1e-13)
    # Post-LN, s_i = 1: eq. (7) is (SA) on the sphere
    post = pt.Dynamics(beta=beta, kind="SA")
    np.testing.assert_allclose(pt.drift(theta, post), tang, atol=1e-13)


@pytest.mark.parametrize("rho", [0.25, 0.5, 0.8])
def test_long_context_attention_weights_section_6_3(rho):
    """§6.3, β_n = γ log n on equiangular tokens: A_ij = n^{γρ} / (n^γ + (n-1) n^{γρ}), which is
    ~ n^{-1} for γ < 1/(1-ρ) and ~ n^{-γ(1-ρ)} for γ > 1/(1-ρ); at γ = 1/(1-ρ) the off-diagonal
    mass (n-1) A_ij tends to 1/2 (derived here). The ratios approach 1 monotonically down to
    rounding, and are within 1e-12 of it at n = 1e100 (the errors are n^{-0.2} and n^{-0.25} at γ = 0.8 γ_c and 1.25 γ_c)."""
    gc = lc.critical_gamma(rho)
    assert gc == 1.0 / (1.0 - rho)
    n = np.array([1e2, 1e4, 1e8, 1e20, 1e100])
    for g in (0.8 * gc, gc, 1.25 * gc):
        beta = lc.beta_n(n, g)
        a = np.array([eq.weights(rho, b, m, "SA") for b, m in zip(beta, n)])
        lg = np.log(n)
        printed = 1.0 / (np.exp(g * (1 - rho) * lg) + (n - 1))  # n^{γρ}/(n^γ + (n-1) n^{γρ})
        np.testing.assert_allclose(a[:, 1], printed, rtol=1e-12)
        np.testing.assert_allclose(a[:, 0], printed * np.exp(g * (1 - rho) * lg), rtol=1e-12)
        if g < gc:
            ratio = n * a[:, 1]
        elif g > gc:
            ratio = np.exp(g * (1 - rho) * lg) * a[:, 1]
        else:
            ratio = 2 * (n - 1) * a[:, 1]
        err = np.abs(ratio - 1)
        assert err[-1] < 1e-12 and np.all(np.diff(err[:4]) < 0)  # to rounding: n <= 1e20


@pytest.mark.parametrize("rho", [0.2, 0.5, 0.9])
def test_theorem_7_limits_and_critical_gamma(rho):
    """Theorem 7 (§6.3): lim <θ_i, θ_j> = 1, 4ρ/(1+3ρ), ρ for γ <, =, > 1/(1-ρ); just off γ_c the
    limit jumps (so the closed form is not continuous in γ), exactly as printed."""
    gc = 1.0 / (1.0 - rho)
    lim = lc.one_layer_limit(np.array([gc * (1 - 1e-9), gc, gc * (1 + 1e-9)]), rho)
    np.testing.assert_allclose(lim, [1.0, 4 * rho / (1 + 3 * rho), rho], rtol=1e-15)
    assert lc.one_layer_inner(1e100, gc, rho) == pytest.approx(4 * rho / (1 + 3 * rho), rel=1e-12)


@pytest.mark.parametrize("beta", [0.0, 2.5])
def test_circle_angle_ode_eq_4(beta):
    """§3.3, eq. (4): on S^1, (USA) is θ̇_i = -(1/n) Σ_j e^{β cos(θ_i - θ_j)} sin(θ_i - θ_j); at
    β = 0 the homogeneous Kuramoto model. Tolerance 1e-13."""
    th = np.random.default_rng(2).uniform(0, 2 * np.pi, 9)
    diff = th[:, None] - th[None, :]
    printed = -np.mean(np.exp(beta * np.cos(diff)) * np.sin(diff), axis=1)
    np.testing.assert_allclose(circle.angle_velocity(th, beta, "USA"), printed, atol=1e-13)
    if beta == 0.0:
        np.testing.assert_allclose(circle.kuramoto_velocity(th), printed, atol=1e-14)


def test_interaction_energy_eq_3():
    """Eq. (3): E_β(μ) = (1/(2β)) ∬ e^{β<x,y>} dμ(x) dμ(y), here on the empirical measure: the
    same normalisation as ours (rtol 1e-13)."""
    x = pt.random_points(11, 4, np.random.default_rng(5))
    beta = 1.7
    printed = np.exp(beta * x @ x.T).mean() / (2 * beta)
    assert energy(x, beta) == pytest.approx(printed, rel=1e-13)


def test_first_metastable_state_has_order_sqrt_beta_clusters_section_5_3():
    """§5.3: linearising (2) around the uniform measure points to Θ(√β) clusters (after Bruno,
    Pasqualotto, Agazzi). The fastest-growing mode l*(β) of the uniform state: l* / √β stays within
    [1, 1.6] for β from 40 to 640 (d = 2, 3), and quadrupling √β multiplies l* by 4 within 10 %.
    The paper states only the order; the constant, l* ≈ √(2β), is derived here."""
    for d in (2, 3):
        ls = np.array([mf.fastest_mode(b, d)[0] for b in (40.0, 640.0)])
        ratio = ls / np.sqrt([40.0, 640.0])
        assert np.all((ratio > 1.0) & (ratio < 1.6))
        assert ls[1] / ls[0] == pytest.approx(4.0, rel=0.1)


def test_corollary_4_d_at_least_n_puts_the_tokens_in_a_hemisphere():
    """Corollary 4 (§4.2): n i.i.d. uniform tokens with d >= n lie in an open hemisphere almost
    surely (so Theorem 3's exponential collapse applies): Wendel's probability is exactly 1 for
    d >= n and below 1 for d < n, and a sample with d = n is found in one by the LP test."""
    from particles.analysis.wendel import in_open_hemisphere, wendel_probability

    for n in (2, 5, 12):
        assert wendel_probability(n, n) == 1.0 and wendel_probability(n, n + 3) == 1.0
        assert wendel_probability(n + 1, n) < 1.0
    x = pt.random_points(9, 9, np.random.default_rng(11))
    assert in_open_hemisphere(x)
