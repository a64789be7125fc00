"""
Turning the sphere: the interactive viewer
==========================================

A saved run becomes an interactive figure: the particles on the sphere, which the mouse turns, a
time slider and a play button, each particle coloured by its cluster at the shown time (the
components of ⟨x_i, x_j⟩ > 1 − δ) and named on hover. ``Trajectory.show()`` returns it as a plotly
figure (the ``view`` extra, ``pip install -e ".[view]"``), which Jupyter displays inline;
``particles view run.npz --out run.html`` writes it as one page that opens offline.
"""

import matplotlib.pyplot as plt

import particles as pt
from particles.plotting import plot_sphere
from particles.plotting.viewer import embedded

x0 = pt.random_points(n=64, d=3, rng=0)
traj = pt.simulate(x0, pt.Dynamics(beta=4.0), 20.0, method="rk4", dt=0.05, saves=41)

# %%
# A still picture first (matplotlib): the clusters at t = 0, 5 and 20.
fig = plt.figure(figsize=(9, 3.2))
for k, t in enumerate((0.0, 5.0, 20.0)):
    plot_sphere(fig.add_subplot(1, 3, k + 1, projection="3d"), traj.at(t), title=f"t = {t:g}")
fig.tight_layout()

# %%
# The same run to turn and scrub through: drag the sphere, move the slider, press play, hover a
# particle. ``embedded`` keeps plotly's JavaScript inside the page (plotly's own notebook and
# sphinx-gallery renderers fetch it from a CDN), so this page works offline too.
view = traj.show(delta=1e-3)
print(f"{len(view.frames)} frames; clusters at the first and last: ", end="")
print(view.layout.meta["clusters"][0], "and", view.layout.meta["clusters"][-1])
embedded(view)
