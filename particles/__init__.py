"""particles: Transformer tokens as interacting particles on the unit sphere.

Public API::

    Dynamics, FeedForward, Piecewise   parameters (frozen, validated)
    velocity(x, dyn)                   the vector field, shape (n, d)
    drift(h, dyn)                      the field of any normalisation scheme (Dynamics(norm=...))
    simulate(x0, dyn, t_end, ...)      integrate; returns a Trajectory
    Trajectory                         .t, .x, .save(path), Trajectory.load(path)
    energy(x, beta)                    interaction energy E_beta
    random_points(n, d, rng)           uniform points on S^{d-1}
"""

from . import (
    _startup,  # noqa: F401  (first: the console script's Ctrl-C during the imports)
    config,  # noqa: F401  (selects numba's threading layer before any kernel runs)
)
from .analysis.energy import energy, mean_inner_product, min_inner_product
from .errors import ParticlesError
from .field import drift, velocity
from .model.params import NORMS, Dynamics, FeedForward, Piecewise
from .model.sphere import normalize, random_points
from .solvers.checkpoint import Interrupted
from .solvers.integrate import METHODS, simulate
from .storage.trajectory import Trajectory

__all__ = [
    "METHODS",
    "NORMS",
    "Dynamics",
    "FeedForward",
    "Interrupted",
    "ParticlesError",
    "Piecewise",
    "Trajectory",
    "drift",
    "energy",
    "mean_inner_product",
    "min_inner_product",
    "normalize",
    "random_points",
    "simulate",
    "velocity",
]
