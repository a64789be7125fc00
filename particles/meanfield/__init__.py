"""The noisy attention dynamics and its mean-field equation: conventions, linear stability, stationary
branches, and the Fokker–Planck solver on the circle.

**The particle system** (``Dynamics(kappa=...)``, :func:`particles.simulate`, the noisy ensembles):

    dx_i = P_perp(x_i) [ sum_j A_ij V x_j ] dt + sqrt(2/kappa) dB_i,    i = 1..n,

with A_ij the SA or USA attention of arXiv 2312.10794, (2.3)–(2.5), and B_i independent Brownian
motions *on the sphere* S^{d-1}: the generator of the noise is (1/kappa) Lap_S, kappa the inverse noise
strength (kappa = inf: the ODE). This is the noisy transformer of Rigollet, arXiv 2512.01868, §7 (the
SDE that opens the section, unnumbered, written for USA only, with sqrt(2 kappa^{-1}) dW_i; SA with the
same noise is our extension; the noise of Problem 7 and §9.4 of arXiv 2312.10794). In Itô form in R^d,
dx = [P_perp f - ((d-1)/kappa) x] dt + sqrt(2/kappa) P_perp(x) dW with W ambient: one particle without
interaction has E <x_t, x_0> = exp(-(d-1) t / kappa) (<x, x_0> is a degree-1 harmonic, eigenvalue
-(d-1) of Lap_S); with a fixed field P_perp b its stationary law is von Mises–Fisher, density
proportional to exp(kappa <b, x>) (the generator is the Langevin one for the potential -<b, x> at
temperature 1/kappa); the uniform measure is invariant for the identity-weight SA and USA systems.

**The mean-field equation.** As n -> inf the empirical measure tends to rho(t) sigma (sigma the
normalised uniform measure) with

    d_t rho + div(rho X[rho]) = (1/kappa) Lap rho,
    X[rho](x) = P_perp_x int e^{beta <x,y>} y rho(y) dsigma(y) / Z,   Z = 1 (USA) or int e^{beta <x,y>} rho (SA),

the continuity equation (3.1)–(3.4) / (3.8) of arXiv 2312.10794 plus diffusion. For USA,
X[rho] = grad (G_beta * rho) with G_beta(t) = e^{beta t} / beta (Lemma 3.6, (3.10)), so the equation is
the Wasserstein gradient flow of F = (1/kappa) int rho log rho - (1/2) int int G_beta rho rho, a
McKean–Vlasov equation (Mun–Rosenzweig, arXiv 2606.05140 and 2604.16288, write its free energy with a
coupling K; their K_#^{(d)} is our kappa_c / 2, see :func:`mun_rosenzweig_threshold`). For SA,
X[rho] = grad log(K rho) / beta with K rho = int e^{beta <., y>} rho.

*Sign, and a sign typo in arXiv 2512.01868.* The transport term enters as + div(rho X) on the left
(- div on the right): particles move along +X, up the gradient of G_beta * rho, which makes them
cluster. Rigollet's survey (arXiv 2512.01868, §7 "Noisy Transformers") writes the particle SDE as
above and its McKean–Vlasov SDE (the equation labelled eq:McKV, numbered (8) in the LaTeX source we
read) correctly, but prints the Fokker–Planck equation that follows (eq:Fokker, (9) there) as

    d_t mu + kappa^{-1} Lap mu = div( mu int e^{beta <., y>} y dmu(y) ):

both terms have the wrong sign (it is the time reversal of the correct equation: backward heat flow
and transport along -X), which contradicts the same section's remark that it "reduces to (2)" (the
continuity equation d_t mu + div(mu v[mu]) = 0 of its §3.2) as kappa -> inf; the projection P_x
inside the divergence is also left implicit. Writing
d_t rho = (1/kappa) Lap rho + div(rho grad(G_beta * rho)) (only the drift sign flipped) is the
repulsive model (V = -I). We follow the SDE; our PDE and particle solvers agree in W1 as n grows
(``tests/test_meanfield.py``, ``figures/noise_pde_particles.py``), which fixes the sign independently
of any printed version.

*Other conventions checked against the papers.* The same §7 recalls the noisy Kuramoto case beta = 0
(d = 2; Bertini, Giacomin, Pakdaman 2010): the uniform state is the only stationary state for
kappa <= 2, a pitchfork at kappa = 2, a unique non-trivial branch beyond; in our normalisation
kappa_c(0) = d and the branch is the von Mises–Fisher family r = A_d(kappa r)
(``test_branch_at_beta_zero_is_the_noisy_kuramoto_pitchfork``). Mun–Rosenzweig (arXiv 2604.16288,
abstract) write the d = 2 interaction as W_beta(theta) = (e^{beta cos 2 pi theta} - 1) / beta on the
unit-period circle; their thresholds K_# = beta / (2 I_1(beta)) (noisy transformer, from the d = 2
case of arXiv 2606.05140's abstract) and K_# = 3 pi / 4 (Doi–Onsager, W = -|sin 2 pi theta|) are both
1 / (the largest Fourier cosine coefficient of W), i.e. a free energy int rho log rho -
K int int W rho rho; ours times kappa is int rho log rho - (kappa/2) int int (e^{beta <x,y>} / beta)
rho rho, so K = kappa / 2 and K_# = kappa_c / 2 (derived; :func:`mun_rosenzweig_threshold`).
Sources: arXiv 2512.01868 was read in full (its LaTeX source); of 2606.05140, 2604.16288 and
2410.23228 only the abstracts and first pages were reachable, so their equation numbers are not
cited.

**What is here.**

- :mod:`.linear`: Funk–Hecke coefficients a_l(beta), growth rates of every mode of the uniform state
  (SA and USA, any d), kappa_c, the fastest mode, the Landau coefficient and beta_* (continuous vs
  discontinuous transition);
- :mod:`.stationary`: the branch of one-cluster stationary states (any d, SA and USA), the USA free
  energy along it and the first-order transition kappa_1;
- :mod:`.circle`: d = 2: the pseudo-spectral ETDRK4 Fokker–Planck solver, the O(n) particle system,
  sampling and the exact W1 distance on the circle;
- :mod:`.sphere`: d = 3: the same equation in spherical harmonics (ducc0), ETDRK4 with the diffusion
  exact, mass / positivity / resolution checks (imported on demand: ``particles.meanfield.sphere``);
- :mod:`.sinkhorn`: Sinkhorn attention (SK, arXiv 2110.11773): the density's potential, its
  velocity (``kind="SK"`` in both solvers), its functional and linear theory (derived there).
"""

from .circle import (
    CircleParticles,
    CircleSolution,
    circle_field,
    circle_particles,
    initial_density,
    sample_density,
    solve_circle,
    w1_circle,
)
from .linear import (
    beta_star,
    critical_kappa,
    critical_kappas,
    fastest_mode,
    funk_hecke,
    growth_rates,
    landau_coefficient,
    mun_rosenzweig_threshold,
)
from .stationary import Branch, first_order_kappa, stationary_branch

__all__ = [
    "Branch",
    "CircleParticles",
    "CircleSolution",
    "beta_star",
    "circle_field",
    "circle_particles",
    "critical_kappa",
    "critical_kappas",
    "fastest_mode",
    "first_order_kappa",
    "funk_hecke",
    "growth_rates",
    "initial_density",
    "landau_coefficient",
    "mun_rosenzweig_threshold",
    "sample_density",
    "solve_circle",
    "stationary_branch",
    "w1_circle",
]
