"""
Noise and the mean-field equation
=================================

With noise (κ finite) the particles follow the Fokker–Planck equation on the circle as n grows:
the order parameter r(t) of 10 000 particles drawn from the initial density against the PDE's, up to t = 2 (USA, β = 4,
κ = 1), and the exact Wasserstein-1 distance between them.
"""

import matplotlib.pyplot as plt
import numpy as np

import particles.meanfield as mf

beta, kappa, t_end = 4.0, 1.0, 2.0
sol = mf.solve_circle(mf.initial_density("perturbed", N=256), beta, kappa, t_end)
p = mf.circle_particles(mf.sample_density(sol, 10_000, rng=0), beta, kappa, t_end, rng=1)
i = len(sol.t) - 1
print(
    "kappa_c(beta) =",
    mf.critical_kappa(beta, d=2),
    " W1 at the end:",
    mf.w1_circle(p.theta[i], sol, i=i),
)

r_particles = np.abs(np.exp(1j * np.asarray(p.theta)).mean(axis=1))
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(sol.t, sol.r, "k", label="Fokker–Planck")
ax.plot(sol.t, r_particles, "o", ms=3, label="10 000 particles")
ax.set_xlabel("t")
ax.set_ylabel("order parameter r = |mean e^{iθ}|")
ax.legend()
fig.tight_layout()
