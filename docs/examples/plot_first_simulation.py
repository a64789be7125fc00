"""
The first simulation
====================

64 tokens on the sphere S² under softmax self-attention (Q = K = V = I, β = 4): they gather into
clusters, and the interaction energy E_β grows along the way (arXiv 2312.10794, eq. (3.6)).
"""

import matplotlib.pyplot as plt

import particles as pt
from particles.plotting import plot_energy, plot_sphere

x0 = pt.random_points(n=64, d=3, rng=0)
traj = pt.simulate(x0, pt.Dynamics(beta=4.0, kind="SA"), t_end=20.0, method="rk4", dt=0.05)

fig = plt.figure(figsize=(10, 3.4))
for k, t in enumerate([0.0, 4.0, 20.0]):
    ax = fig.add_subplot(1, 4, k + 1, projection="3d")
    i = int(abs(traj.t - t).argmin())
    plot_sphere(ax, traj.x[i])
    ax.set_title(f"t = {traj.t[i]:g}")
plot_energy(fig.add_subplot(1, 4, 4), traj.t, traj.energy())
fig.tight_layout()
print("min <x_i, x_j> at the end:", pt.min_inner_product(traj.final))
