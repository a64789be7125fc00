"""Where the LayerNorm sits: the normalisation schemes as dynamics (``Dynamics(norm=...)``).

Sources: Karagodin, Ge, Polyanskiy, Rigollet, *Normalization in Attention Dynamics* (arXiv
2510.22026; its Table 1 lists the schemes in discrete and continuous time, Table 2 their speed
factors, eq. (NA) the common direction dynamics); Rigollet, *The Mean-Field Dynamics of
Transformers* (arXiv 2512.01868, §6.2 "The impact of normalization", eq. (NA), and §6.3 "Long
context Transformers", Theorem 7); Chen, Lin, Polyanskiy, Rigollet, *Critical attention scaling
in long-context transformers* (arXiv 2510.05554; :mod:`particles.analysis.long_context`).

**Conventions.** Token i is a vector h_i in R^d written h_i = r_i θ_i with r_i = |h_i| > 0 and
θ_i on S^{d-1}. Every scheme reads the attention on the *directions*:

    A_i(Θ) = Σ_h Σ_j softmax_j(β <Q_h θ_i, K_h θ_j>) V_h θ_j  (+ ffn(θ_i)),

with the USA variant Z_i = n of arXiv 2312.10794 (2.5). The schemes (one residual layer on the left,
its continuous-time limit on the right, layer k <-> time k Δt):

    post  h <- N(h + Δt A(h))                  ḣ_i = P⊥(h_i) A_i,        h on the sphere
    pre   h <- h + Δt A(N(h))                  ḣ_i = A_i(Θ)              h in R^d, r grows
    peri  h <- h + Δt N(A(N(h)))               ḣ_i = A_i / |A_i|         h in R^d, unit speed
    ngpt  h <- N(h + α Δt (N(A(h)) - h))       ḣ_i = α P⊥(h_i)(A_i/|A_i|), h on the sphere
    mix   post for t < t_switch, pre after     (Post-LN in the first layers, Pre-LN in the rest)

with N(h) = h/|h| (RMSNorm without its gain: the sphere). Writing the directions' motion as

    θ̇_i = P⊥(θ_i) A_i(Θ) / s_i          (eq. (NA) of arXiv 2512.01868 §6.2 and 2510.22026),

each scheme is a *speed factor* s_i and a radial equation (arXiv 2510.22026, Table 2; derived here
from the right column above by θ̇ = P⊥(θ) ḣ / r and ṙ = <θ, ḣ>):

    post  s = 1               ṙ = 0
    pre   s = r               ṙ = <θ, A>
    peri  s = r |A|           ṙ = <θ, A> / |A|
    ngpt  s = |A| / α         ṙ = 0
    mix   s = 1 (t < t_switch), r (after); ṙ = 0, then <θ, A>

These are the conventions of the issue that asked for the schemes, and they agree with the papers
wherever the papers are explicit. Two choices are ours and stated here: (i) nGPT's ``euler`` step
is nGPT's own update h <- N(h + α Δt (A/|A| - h)) (arXiv 2410.01131), whose tangent part is the
field above (``drift(..., project=False)``); (ii) Mix-LN's switch is a time t_switch (layers
-> time), and the stream enters its Pre-LN part on the sphere (r = 1 at the switch if it started
there).

**State.** ``post`` and ``ngpt`` (and ``mix`` before its switch) evolve points of the sphere and every
integrator renormalises after each step exactly as before; ``pre`` and ``peri`` (and ``mix`` after the
switch) evolve the residual stream h itself, never renormalised: :func:`particles.simulate` accepts
any x0 with nonzero rows for them and saves h; :attr:`particles.Trajectory.theta` gives θ = h/|h|,
which every clustering analysis reads, and :meth:`particles.Trajectory.radii` gives r.

The equiangular reduction of every scheme (ODEs for the common inner product and the radius, their
late-time laws) is in :mod:`particles.analysis.equiangular`.
"""

from __future__ import annotations

import numpy as np

from .errors import ParticlesError
from .field import check_points, drift, raw_field
from .params import NORMS, Dynamics

__all__ = [
    "NORMS",
    "SCHEMES",
    "direction_velocity",
    "directions",
    "drift",
    "radial_velocity",
    "speed_factor",
]

#: one line per scheme, for help texts
SCHEMES = {
    "post": "Post-LN: h <- N(h + A(h)); tokens on the sphere (arXiv 2312.10794)",
    "pre": "Pre-LN: h <- h + A(N(h)); the stream h grows in R^d (GPT-2, LLaMA)",
    "peri": "Peri-LN: h <- h + N(A(N(h))); unit-speed stream (Gemma-3)",
    "ngpt": "nGPT: h <- N(h + alpha (N(A(h)) - h)); on the sphere, step size alpha",
    "mix": "Mix-LN: Post-LN for t < t_switch, Pre-LN after",
    "lns": "LN-Scaling: Post-LN slowed by sqrt(t + t_offset) (curse of depth, arXiv 2502.05795)",
}


def directions(h) -> tuple[np.ndarray, np.ndarray]:
    """(θ, r): the directions h_i/|h_i| (n, d) and norms |h_i| (n,) of a state; zero rows are an
    error."""
    h = check_points(h, "h")
    r = np.sqrt(np.einsum("ij,ij->i", h, h))
    if np.any(r == 0.0):
        raise ParticlesError("a token has zero norm: its direction is undefined")
    return h / r[:, None], r


def _resolve(dyn: Dynamics, t: float) -> str:
    if not isinstance(dyn, Dynamics):
        raise ParticlesError(f"dyn must be a particles.Dynamics, got {type(dyn).__name__}")
    if dyn.norm == "mix":
        return "post" if t < dyn.t_switch else "pre"
    return dyn.norm


def speed_factor(h, dyn: Dynamics, *, t: float = 0.0) -> np.ndarray:
    """The speed factors s_i (n,) of arXiv 2510.22026, Table 2, at the state ``h`` (time ``t``
    for Mix-LN)."""
    theta, r = directions(h)
    norm = _resolve(dyn, t)
    if norm == "post":
        return np.ones_like(r)
    if norm == "lns":
        return np.full_like(r, np.sqrt(t + dyn.t_offset))
    if norm == "pre":
        return r
    a = np.linalg.norm(raw_field(np.ascontiguousarray(theta), dyn), axis=1)
    return r * a if norm == "peri" else a / dyn.alpha


def direction_velocity(h, dyn: Dynamics, *, t: float = 0.0) -> np.ndarray:
    """θ̇_i = P⊥(θ_i) A_i(Θ) / s_i (eq. (NA)), shape (n, d), computed from the table of speed
    factors (independently of :func:`drift`, so the two can be checked against each other)."""
    theta, _ = directions(h)
    a = raw_field(np.ascontiguousarray(theta), dyn)
    tang = a - np.einsum("ij,ij->i", theta, a)[:, None] * theta
    return tang / speed_factor(h, dyn, t=t)[:, None]


def radial_velocity(h, dyn: Dynamics, *, t: float = 0.0) -> np.ndarray:
    """ṙ_i (n,) of the scheme (arXiv 2510.22026, Table 2): 0 on the sphere, <θ, A> for Pre-LN,
    <θ, A>/|A| for Peri-LN."""
    theta, r = directions(h)
    norm = _resolve(dyn, t)
    if norm in ("post", "ngpt", "lns"):
        return np.zeros_like(r)
    a = raw_field(np.ascontiguousarray(theta), dyn)
    c = np.einsum("ij,ij->i", theta, a)
    return c if norm == "pre" else c / np.linalg.norm(a, axis=1)


assert set(NORMS) == set(SCHEMES)
