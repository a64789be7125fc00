"""
Metastable clusters on the circle
=================================

On the circle (d = 2) at large β the tokens first gather into a few clusters that persist for a
long time before they merge: the cluster count falls in a staircase (Problem 1 of arXiv
2312.10794). Clusters are the components of the graph ⟨x_i, x_j⟩ > 1 − δ.
"""

import matplotlib.pyplot as plt
import numpy as np

import particles as pt
from particles.analysis import clusters
from particles.plotting import plot_circle, plot_cluster_counts

x0 = pt.random_points(n=48, d=2, rng=3)
ts = np.geomspace(0.1, 300.0, 120)
traj = pt.simulate(x0, pt.Dynamics(beta=9.0), 300.0, method="rk4", dt=0.1, save_at=np.r_[0.0, ts])
counts = clusters.cluster_counts_over_time(traj.x, delta=1e-3)

fig = plt.figure(figsize=(9, 3.5))
plot_cluster_counts(fig.add_subplot(1, 2, 1), traj.t[1:], counts[1:], logx=True)
plot_circle(fig.add_subplot(1, 2, 2), traj.x[int(np.searchsorted(traj.t, 20.0))], title="t = 20")
fig.tight_layout()
print(clusters.summary(traj))
