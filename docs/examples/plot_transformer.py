"""
Real Transformers and the bridge
================================

A pre-LN Transformer layer is one Euler step (dt = 1) of the Pre-LN dynamics: the network's residual stream against the ODE (synthetic weights), drawn by ``figures/transformer_pre_ln.py`` at its quick size.
"""

import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.plotting.figures import run_figure

outdir = tempfile.mkdtemp()
run_figure(
    "transformer_pre_ln", outdir, quick=True
)  # also: particles figure transformer_pre_ln --quick

fig, ax = plt.subplots(figsize=(9, 5))
ax.imshow(mpimg.imread(f"{outdir}/transformer_pre_ln.png"))
ax.set_axis_off()
fig.tight_layout()
