"""What the dynamics does: energy, clusters, the equiangular reduction, the circle (d = 2),
repulsive configurations, Wendel's probability, phase diagrams, the Rényi centres of causal
attention (:mod:`particles.analysis.renyi`).

Each module takes states (arrays or a :class:`particles.Trajectory`) and returns numbers; none of
them integrates the dynamics itself except through :mod:`particles.solvers`.
"""
