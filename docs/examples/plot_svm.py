"""
Att-SVM
=======

Gradient descent on the attention weights W converges in direction to the Att-SVM solution (arXiv 2308.16898, Fig. 1), drawn by the figure script ``figures/svm_e1_trajectories.py`` at its quick size.
"""

import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.plotting.figures import run_figure

outdir = tempfile.mkdtemp()
run_figure(
    "svm_e1_trajectories", outdir, quick=True
)  # also: particles figure svm_e1_trajectories --quick

fig, ax = plt.subplots(figsize=(9, 5))
ax.imshow(mpimg.imread(f"{outdir}/svm_e1_trajectories.png"))
ax.set_axis_off()
fig.tight_layout()
