"""
Normalisation schemes
=====================

Where the LayerNorm sits changes how fast tokens cluster: in the equiangular model
(``particles.analysis.equiangular``) 1 − ρ decays like e^{−2t} for Post-LN, e^{−4√t} for
LN-Scaling and t^{−2} for Pre-LN and Peri-LN (arXiv 2510.22026 §4.1).
"""

import matplotlib.pyplot as plt
import numpy as np

import particles.analysis.equiangular as eq

t = np.linspace(0, 10, 201)
fig, ax = plt.subplots(figsize=(5, 4))
for norm in ("post", "pre", "peri", "lns"):
    rho, r = eq.solve(t, 4.0, 32, norm=norm)
    ax.semilogy(t, 1 - rho, label=norm)
ax.set_xlabel("t")
ax.set_ylabel("1 − ρ(t)")
ax.legend()
fig.tight_layout()
