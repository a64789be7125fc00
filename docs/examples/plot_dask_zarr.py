"""
Larger than memory: a zarr store
================================

``checkpoint="run.zarr"`` appends every saved state to a chunked zarr store as it is computed
(memory stays O(n d) however many states are saved); ``Trajectory.load`` reads it lazily and the
analyses read one state at a time. The same ``simulate`` takes ``scheduler=`` to evaluate the
field on a Dask cluster (see the user guide).
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import particles as pt
from particles.analysis import clusters
from particles.plotting import plot_cluster_counts

store = Path(tempfile.mkdtemp()) / "run.zarr"
x0 = pt.random_points(n=200, d=3, rng=0)
pt.simulate(x0, pt.Dynamics(beta=1.0), 15.0, saves=31, checkpoint=store)
traj = pt.Trajectory.load(store)  # lazy: traj.x[k] reads one saved state
print(traj.to_xarray())

fig, ax = plt.subplots(figsize=(5, 3.5))
plot_cluster_counts(ax, np.asarray(traj.t), clusters.summary(traj).n_clusters)
ax.set_title("cluster counts, read one state at a time")
fig.tight_layout()
