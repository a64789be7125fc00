"""Where the LayerNorm sits: the normalisation schemes as dynamics (``Dynamics(norm=...)``).

Sources: Karagodin, Ge, Polyanskiy, Rigollet, *Normalization in Attention Dynamics* (arXiv
2510.22026, v2): Table 1 (the schemes, one layer and its continuous-time limit), Table 2 (the speed
factors s and radial rates), eq. (NA) (the common direction dynamics), §3 Theorem 3.1 (with
Q = K = V = I and d >= 2, Post-LN, nGPT and LN-Scaling synchronise almost surely from a uniform
start; Pre-, Mix- and Peri-LN synchronise or their radial velocity stalls), §4.1 Theorem 4.1 (the
symmetric start: initial and terminal velocities per scheme, :mod:`particles.analysis.equiangular`),
§4.2 Theorem 4.2 (at a uniform start |A_j(0)| <= C (sqrt(log n / n) + log n / d)), §4.3 Theorem 4.3
(from a local cone, (i) Pre-LN's r_k(t) >= (1 - δ) t; (ii) d Var/dt = -Θ(Var / scale), scale 1,
t, t, t, sqrt(t), 1/α for Post-, Pre-, Mix-, Peri-LN, LN-Scaling, nGPT). Its full text was not
reachable here: the arXiv page is stored only to the introduction; the numbering and statements
above come from a public Lean formalisation of v2 (its modules Basic, Symmetric, Clustering and
ClusterSpeed) and a paper summary, so they are second-hand (2512.01868 §6.2 confirms one of them: it
cites "[Theorem 4.3]" of 2510.22026 for the linearisation beyond the equiangular setup). Rigollet,
*The Mean-Field Dynamics of Transformers* (arXiv 2512.01868, read in full from its LaTeX source):
§6 "Equiangular model", with §6.1 the exact rates, §6.2 "The impact of normalization" (Post-LN vs
Pre-LN, the speed-regulation factors s_i of its eq. (7), and 1 - ρ ~ e^{-2t} for Post-LN, ~ 1/t^2
for Pre-LN) and §6.3 long context (Theorem 7); equation and theorem numbers are counted from the
source's order (amsart: equations numbered through the paper, one counter for theorems, corollaries
and remarks), not read off a PDF. Chen, Lin, Polyanskiy, Rigollet, *Critical attention scaling in
long-context transformers* (arXiv 2510.05554; abstract only; :mod:`particles.analysis.long_context`).

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
    lns   h <- N(h + Δτ A(h))                 ḣ_i = P⊥(h_i) A_i / sqrt(t + c), h on the sphere

with N(h) = h/|h| (RMSNorm without its gain: the sphere). Writing the directions' motion as

    θ̇_i = P⊥(θ_i) A_i(Θ) / s_i          (eq. (NA) of arXiv 2510.22026; eq. (7) of arXiv 2512.01868
                                           §6.2, labelled eq:NA in its source),

each scheme is a *speed factor* s_i and a radial equation (arXiv 2510.22026, Table 2; derived here
from the right column above by θ̇ = P⊥(θ) ḣ / r and ṙ = <θ, ḣ>):

    post  s = 1               ṙ = 0
    pre   s = r               ṙ = <θ, A>
    peri  s = r |A|           ṙ = <θ, A> / |A|
    ngpt  s = |A| / α         ṙ = 0
    mix   s = 1 (t < t_switch), r (after); ṙ = 0, then <θ, A>
    lns   s = sqrt(t + c)     ṙ = 0            (c = ``t_offset``; the paper's "CoD" row, c = 1)

These are the package's conventions, and they agree with the papers
wherever the papers are explicit. arXiv 2512.01868 §6.2 states three of them itself, with
Q = K = V = I and one head: its A_i(Θ) is the SA softmax average of the directions (our ``kind="SA"``),
Post-LN has s_i = 1 (eq. (7) is then its (SA)), Pre-LN has s_i = r_i, its Pre-LN USA flow is printed
as ẋ_i = (1/n) Σ_j e^{β<θ_i, θ_j>} θ_j (our ``norm="pre", kind="USA"``; tests/test_papers_2512.py),
and Peri-LN moves x_i in R^d at unit speed. Its list of further variants names "sqrt-scaling" after
Noci et al. (NeurIPS 2022) without a formula; we do not identify that with ``"lns"`` below. Two choices are ours and stated here: (i) nGPT's ``euler`` step
is nGPT's own update h <- N(h + α Δt (A/|A| - h)) (arXiv 2410.01131), whose tangent part is the
field above (``drift(..., project=False)``), with α constant (the paper's α_t may vary with the
layer); (ii) Mix-LN's switch is a time t_switch (layers
-> time), and the stream enters its Pre-LN part on the sphere (r = 1 at the switch if it started
there).

**LN-Scaling** (``"lns"``). The v1 abstract of arXiv 2510.22026 lists "LN-Scaling" (LayerNorm
Scaling of Sun et al., *The Curse of Depth in Large Language Models*, arXiv 2502.05795, which
scales the LayerNorm output of layer ℓ by 1/sqrt(ℓ)); its Table 2 models it as s = sqrt(t + 1),
ṙ = 0: Post-LN slowed by the depth. We take that row as written, with the offset c = ``t_offset``
a parameter (default 1). Sun et al. apply the scaling inside Pre-LN, where the stream also grows;
that composite is not a row of the table and is not modelled. Since dτ = dt / sqrt(t + c), the
scheme is Post-LN in the clock τ(t) = 2 sqrt(t + c) (derived here): every integrator steps it
exactly so (:func:`particles.solvers.integrate.step`), its ``euler`` layer is N(h + Δτ A(h)) with
Δτ = τ(t + dt) - τ(t) ≈ dt / sqrt(t + c + dt/2), and its equiangular ρ(t) is Post-LN's ρ(τ(t)),
whence the stretched-exponential 1 - ρ ~ C e^{-4 sqrt(t)} (SA) of the paper's §4.1 table.
Noise (``kappa``) is refused for it: the time change would rescale the noise too.

**State.** ``post``, ``ngpt`` and ``lns`` (and ``mix`` before its switch) evolve points of the sphere and every
integrator renormalises after each step exactly as before; ``pre`` and ``peri`` (and ``mix`` after the
switch) evolve the residual stream h itself, never renormalised: :func:`particles.simulate` accepts
any x0 with nonzero rows for them and saves h; :attr:`particles.Trajectory.theta` gives θ = h/|h|,
which every clustering analysis reads, and :meth:`particles.Trajectory.radii` gives r.

The equiangular reduction of every scheme (ODEs for the common inner product and the radius, their
late-time laws) is in :mod:`particles.analysis.equiangular`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParticlesError, finite, real_array
from ..model.params import NORMS, Dynamics
from .inputs import _row_norms, check_points, raw_field
from .stable import repaired

__all__ = [
    "NORMS",
    "SCHEMES",
    "clock",
    "clock_inverse",
    "direction_velocity",
    "directions",
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


def clock(t, t_offset: float = 1.0):
    """LN-Scaling's clock τ(t) = 2 (sqrt(t + c) - sqrt(c)), c = ``t_offset``: with s = sqrt(t + c)
    (arXiv 2510.22026, Table 2), dτ/dt = 1/s and LN-Scaling is Post-LN in τ (derived here)."""
    t = _times(t, "t")
    t_offset = finite(t_offset, "t_offset", "> 0")
    return 2.0 * (np.sqrt(t + t_offset) - np.sqrt(t_offset))


def _times(t, name: str) -> np.ndarray:
    t = real_array(t, name, finite=True)
    if np.any(t < 0) or np.any(t > 1e300):
        raise ParticlesError(f"{name} must lie in [0, 1e300]")
    return t


def clock_inverse(tau, t_offset: float = 1.0):
    """t(τ), the inverse of :func:`clock`: (τ/2 + sqrt(c))^2 - c."""
    tau = _times(tau, "tau")
    t_offset = finite(t_offset, "t_offset", "> 0")
    return (0.5 * tau + np.sqrt(t_offset)) ** 2 - t_offset


def directions(h) -> tuple[np.ndarray, np.ndarray]:
    """(θ, r): the directions h_i/|h_i| (n, d) and norms |h_i| (n,) of a state; zero rows are an
    error."""
    h = check_points(h, "h")
    r = _row_norms(h)  # overflow-safe for |h_i| > 1e154
    if np.any(r == 0.0):
        raise ParticlesError("a token has zero norm: its direction is undefined")
    return h / r[:, None], r


def _attention(theta: np.ndarray, dyn: Dynamics) -> np.ndarray:
    """A_i at the directions θ (:func:`particles.field.raw_field`), rows that overflowed evaluated
    in the log domain (an error where A itself is beyond the float range)."""
    theta = np.ascontiguousarray(theta)
    with np.errstate(over="ignore", invalid="ignore"):
        a = raw_field(theta, dyn)
    return repaired(theta, dyn, a, None)


def _resolve(dyn: Dynamics, t: float) -> str:
    if not isinstance(dyn, Dynamics):
        raise ParticlesError(f"dyn must be a particles.Dynamics, got {type(dyn).__name__}")
    finite(t, "t (time)", ">= 0")
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
    a = _row_norms(_attention(theta, dyn))
    return r * a if norm == "peri" else a / dyn.alpha


def direction_velocity(h, dyn: Dynamics, *, t: float = 0.0) -> np.ndarray:
    """θ̇_i = P⊥(θ_i) A_i(Θ) / s_i (eq. (NA) of arXiv 2510.22026, eq. (7) of arXiv 2512.01868), shape
    (n, d), computed from the table of speed factors (independently of :func:`drift`, so the two can
    be checked against each other)."""
    theta, _ = directions(h)
    _resolve(dyn, t)
    a = _attention(theta, dyn)
    tang = a - np.einsum("ij,ij->i", theta, a)[:, None] * theta
    return tang / speed_factor(h, dyn, t=t)[:, None]


def radial_velocity(h, dyn: Dynamics, *, t: float = 0.0) -> np.ndarray:
    """ṙ_i (n,) of the scheme (arXiv 2510.22026, Table 2): 0 on the sphere, <θ, A> for Pre-LN,
    <θ, A>/|A| for Peri-LN."""
    theta, r = directions(h)
    norm = _resolve(dyn, t)
    if norm in ("post", "ngpt", "lns"):
        return np.zeros_like(r)
    a = _attention(theta, dyn)
    c = np.einsum("ij,ij->i", theta, a)
    return c if norm == "pre" else c / _row_norms(a)


assert set(NORMS) == set(SCHEMES)
