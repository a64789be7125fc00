"""
Integrators and their orders
============================

The methods of the registry with their stated orders, and the error of the fixed-step ones at
t = 1 against a DOP853 reference at tight tolerance, as the step size halves.
"""

import matplotlib.pyplot as plt
import numpy as np

import particles as pt
from particles.solvers import registry

for name in pt.METHODS:
    m = registry.get(name)
    kind = "adaptive (scipy)" if m.adaptive else ("stochastic" if m.stochastic else "fixed step")
    strong = f", strong order {m.strong_order}" if m.stochastic else ""
    print(f"{name:20s} order {m.order}{strong}  {kind}")

x0 = pt.random_points(n=16, d=3, rng=1)
dyn = pt.Dynamics(beta=2.0)
ref = pt.simulate(x0, dyn, 1.0, method="DOP853", rtol=1e-12, atol=1e-12, saves=2).final
dts = 0.2 / 2.0 ** np.arange(5)
fig, ax = plt.subplots(figsize=(5, 4))
for name in ("euler", "lie-euler", "geometric", "rk4"):
    err = [
        np.abs(pt.simulate(x0, dyn, 1.0, method=name, dt=h, saves=2).final - ref).max() for h in dts
    ]
    slope = np.polyfit(np.log(dts), np.log(err), 1)[0]
    ax.loglog(dts, err, "o-", label=f"{name} (slope {slope:.2f}, order {registry.get(name).order})")
ax.set_xticks(dts, [f"{h:.3g}" for h in dts], minor=False)
ax.minorticks_off()
ax.set_xlabel("dt")
ax.set_ylabel("max error at t = 1")
ax.legend(fontsize=8)
fig.tight_layout()
