"""Repulsive dynamics and optimal sphere configurations (arXiv 2312.10794, §9.1, Thm 9.2).

With V = -I the USA dynamics descends the interaction energy E_beta, so particles spread out and
settle on a configuration minimising sum_{i,j} e^{-(beta/2)|x_i - x_j|^2} (a Cohn–Kumar energy).
Known minimisers: the regular simplex (n <= d + 1, all inner products -1/(n - 1)), the cross-polytope
(n = 2d, inner products {0, -1}; the octahedron for d = 3) and the icosahedron (n = 12, d = 3,
inner products {+-1/sqrt 5, -1}).

:func:`relax` runs the dynamics (Euler + normalise through :func:`particles.simulate`) in chunks
until the largest speed is below a tolerance; :func:`inner_product_spectrum` groups the final
pairwise inner products into distinct values with multiplicities; :func:`identify_shape` names the
configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParticlesError, finite, whole
from ..field import check_points, velocity
from ..model.params import Dynamics
from ..model.sphere import as_rng, random_points
from ..solvers.integrate import simulate
from .states import bounded_points

_SQ5 = 1.0 / np.sqrt(5.0)


def expected_spectrum(shape: str, n: int, d: int) -> list[tuple[float, int]]:
    """The (inner product, number of pairs i < j) list of a named configuration, sorted by value."""
    n, d = whole(n, "n", 2), whole(d, "d", 2)
    m = n * (n - 1) // 2
    if shape in ("simplex", "tetrahedron", "triangle", "antipodal"):
        return [(-1.0 / (n - 1), m)]
    if shape in ("cross-polytope", "octahedron", "square"):
        k = n // 2
        return [(-1.0, k), (0.0, m - k)]
    if shape == "icosahedron":
        return [(-1.0, 6), (-_SQ5, 30), (_SQ5, 30)]
    raise ParticlesError(f"unknown shape {shape!r}")


def candidate_shapes(n: int, d: int) -> list[str]:
    """Named optimal configurations that exist for n points in R^d."""
    n, d = whole(n, "n", 1), whole(d, "d", 1)
    out = []
    if 2 <= n <= d + 1:
        out.append({2: "antipodal", 3: "triangle", 4: "tetrahedron"}.get(n, "simplex"))
    if n == 2 * d and d >= 2:
        out.append({2: "square", 3: "octahedron"}.get(d, "cross-polytope"))
    if n == 12 and d == 3:
        out.append("icosahedron")
    return out


@dataclass(frozen=True, kw_only=True)
class Relaxed:
    """Result of :func:`relax`: final positions, time reached, final max speed, whether converged."""

    x: np.ndarray
    t: float
    max_speed: float
    converged: bool
    energy: float


def relax(
    x0=None,
    *,
    n: int | None = None,
    d: int | None = None,
    beta: float = 1.0,
    rng: np.random.Generator | int | None = None,
    dt: float = 0.2,
    chunk: float = 200.0,
    t_max: float = 20_000.0,
    tol: float = 1e-9,
) -> Relaxed:
    """Run USA with V = -I (Euler + normalise, step ``dt``) until max_i |xdot_i| < ``tol``.

    Give ``x0`` (n, d), or ``n``, ``d`` and ``rng`` for uniform random starts. Runs chunks of
    duration ``chunk`` up to ``t_max`` (the project's reference run used dt = 0.2 for 1e5 steps,
    t = 2e4).
    """
    if x0 is None:
        if n is None or d is None:
            raise ParticlesError("give x0, or n and d (and rng) for a random start")
        x0 = random_points(n, d, as_rng(rng))
    x = check_points(x0)
    dyn = Dynamics(beta=beta, kind="USA", V=-1.0)
    dt, chunk = finite(dt, "dt", "> 0"), finite(chunk, "chunk", "> 0")
    t = 0.0
    speed = float(np.max(np.linalg.norm(velocity(x, dyn), axis=1)))
    while speed >= tol and t < t_max:
        step = min(chunk, t_max - t)
        traj = simulate(x, dyn, step, method="euler-tangent", dt=dt, save_at=[step])
        x = traj.final
        t += step
        speed = float(np.max(np.linalg.norm(velocity(x, dyn), axis=1)))
    from .energy import energy

    return Relaxed(x=x, t=t, max_speed=speed, converged=speed < tol, energy=energy(x, beta))


def inner_product_spectrum(x, tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of <x_i, x_j> over pairs i < j (grouped within ``tol``) and their counts.

    Returns ``(values (m,), multiplicities (m,))`` sorted by value; each value is its group's mean.
    """
    x = bounded_points(x)
    tol = finite(tol, "tol", ">= 0")
    n = x.shape[0]
    if n < 2:
        raise ParticlesError("need at least two points for an inner-product spectrum")
    v = np.sort((x @ x.T)[np.triu_indices(n, k=1)])
    breaks = np.nonzero(np.diff(v) > tol)[0] + 1
    groups = np.split(v, breaks)
    return np.array([gr.mean() for gr in groups]), np.array([gr.size for gr in groups])


def identify_shape(x, tol: float = 1e-4) -> str:
    """Name the configuration x (n, d): one of :func:`candidate_shapes`, or ``"unknown"``.

    A shape matches when the inner-product spectrum has the same number of distinct values, with
    the same multiplicities, each within ``tol`` of the expected value.
    """
    x = bounded_points(x)
    tol = finite(tol, "tol", ">= 0")
    n, d = x.shape
    vals, mult = inner_product_spectrum(x, tol=max(tol, 1e-12))
    for shape in candidate_shapes(n, d):
        exp = expected_spectrum(shape, n, d)
        if len(exp) == vals.size and all(
            abs(v - ev) <= tol and m == em for (ev, em), v, m in zip(exp, vals, mult, strict=True)
        ):
            return shape
    return "unknown"
