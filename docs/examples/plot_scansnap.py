"""
Scan and Snap
=============

The class attention c_n over SGD iterations (arXiv 2305.16380, Fig. 4): common tokens fade, distinct tokens rise in the order of their frequency, and the pattern snaps. Drawn by ``figures/scansnap_fig4.py`` at its quick size.
"""

import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.plotting.figures import run_figure

outdir = tempfile.mkdtemp()
run_figure("scansnap_fig4", outdir, quick=True)  # also: particles figure scansnap_fig4 --quick

fig, ax = plt.subplots(figsize=(9, 5))
ax.imshow(mpimg.imread(f"{outdir}/scansnap_fig4.png"))
ax.set_axis_off()
fig.tight_layout()
