"""
A small phase diagram
=====================

The probability that n = 8 tokens on the circle have gathered into one cluster by time t, against
β, over 32 seeds per β (arXiv 2312.10794, Fig. 3, at a reduced size; the full figure is
``figures/fig3_phase_diagrams.py``). The black curve is the equiangular model's Γ_{∞,δ}.
"""

import matplotlib.pyplot as plt
import numpy as np

from particles.analysis.phase import PhaseParams, phase_diagram, plot_phase

params = PhaseParams(n=8, d=2, betas=tuple(np.arange(0.0, 6.01, 1.0)), t_end=10.0, seeds=32)
diagram = phase_diagram(params, progress=False)
fig, ax = plt.subplots(figsize=(5, 4))
plot_phase(ax, diagram, colorbar=True, title="n = 8, d = 2, 32 seeds per β")
fig.tight_layout()
