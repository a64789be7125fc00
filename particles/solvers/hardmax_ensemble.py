"""beta = inf (hardmax attention) members of the batched ensembles (:mod:`.ensemble`).

The ensembles' numba kernels compute softmax attention, which has no beta = inf form. A system of an
ensemble with beta = inf is therefore routed, one system at a time, through the in-memory field of
:func:`particles.simulate` (:func:`particles.field.velocity` / :func:`particles.field.drift` with
``Dynamics(beta=inf)``, the tiled hardmax of :mod:`particles.field.hardmax`): every step is
:func:`particles.solvers.integrate.step`, the step a single run takes, so a member's states are those
of ``simulate`` with the same dynamics and step, to the last bit on the same machine
(``tests/test_hardmax_toolchain.py``). The finite-beta members of the same call still run in the
kernels, in parallel; the statistics of every member are recorded by the kernels' own checkpoint
function (``kernels._record``: pair fraction, cluster count, early stop; order parameter and modes).

**Coordinates** (:func:`coords`): the system with logits <x_i, B x_j> and values V x_j is
``Dynamics(beta=inf, K=B, V=V)`` (Q = I, so <Q x_i, K x_j> = x_i^T B x_j), under the ensemble's
normalisation scheme (its Mix-LN switch at the step the kernels switch). Methods: the layer maps of
:data:`particles.solvers.options.HARDMAX_METHODS` (deterministic ensembles) and projected
Euler–Maruyama (noisy ensembles, driven by the kernels' counter-based normals of the same
(seed, stream, step), so the noise is reproducible by seed and independent of the other systems).

**Gram** (:func:`gram`): with identity weights a layer maps X to C X with C = I + dt A (``"euler"``)
or C = I + dt (A - diag(<x_i, H_i>)) (``"euler-tangent"``), A the hardmax matrix of the scores
G_ij (ties within the tolerance of :mod:`particles.field.hardmax`, TIE_RTOL max_l |x_l| |x_i| = TIE_RTOL
on the sphere), so G <- D^-1 C G C^T D^-1 as in the softmax Gram formulation. It agrees with the
coordinate formulation to rounding, not bit for bit (another order of operations). On the sphere with
identity weights every token is its own unique maximiser, so nothing moves: this is the beta = inf
column of a phase diagram with Q = K = V = I.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParticlesError
from ..field import hardmax as hm
from ..model.params import Dynamics
from . import kernels, registry
from .options import HARDMAX_METHODS, needs_layer_map

#: kernel scheme codes -> normalisation scheme names (kernels.NORM_CODES inverted)
_NORMS = {v: k for k, v in kernels.NORM_CODES.items()}
#: the stochastic method the noisy ensembles run at beta = inf (the noisy layer map)
NOISY_METHODS = ("euler-maruyama",)


def check_method(method, noisy: bool = False) -> registry.Method:
    """The registered ``method``, which must be admitted at beta = inf (one clear line otherwise)."""
    m = registry.get(method)
    if noisy:
        if m.name not in NOISY_METHODS:
            raise ParticlesError(
                f"beta = inf (hardmax attention) is a discontinuous field: the noisy ensembles run "
                f"it with {', '.join(NOISY_METHODS)} only (the noisy layer map), not {m.name!r}"
            )
    elif m.name not in HARDMAX_METHODS:
        raise ParticlesError(needs_layer_map(m.name) + " in the ensembles")
    return m


def check_kind(usa: int) -> None:
    """beta = inf needs kind SA (the softmax's limit); USA and SK have none."""
    if usa != kernels.KIND_CODES["SA"]:
        Dynamics(beta=np.inf, kind={1: "USA", 2: "SK"}[int(usa)])  # raises its one line
        raise ParticlesError("beta = inf (hardmax) needs kind='SA'")  # pragma: no cover


def dynamics(B, V, code: int, alpha: float) -> Dynamics:
    """The Dynamics of one member: hardmax with logits x_i^T B x_j, values V x_j, scheme ``code``."""
    norm = _NORMS[int(code)]
    kw = {}
    if norm == "ngpt":
        kw["alpha"] = float(alpha)
    if norm == "lns":
        kw["t_offset"] = float(alpha)
    return Dynamics(beta=np.inf, K=B, V=V, norm=norm, **kw)


def _scratch(n: int, d: int):
    return np.empty((n, d)), np.empty((d, n)), np.empty((n, n)), np.empty(n, np.int64)


def coords(
    X,
    B,
    V,
    norm,
    method,
    dt,
    nsteps,
    save_every,
    stats,
    frac,
    ncl,
    r,
    modes,
    kappa=np.inf,
    key=None,
) -> int:
    """Advance one system X (n, d) in place by ``nsteps`` hardmax steps of ``method`` (a name),
    recording as the kernels do; ``norm`` = (codes, k_switch, alpha) as the kernels take it;
    ``kappa`` < inf: Euler–Maruyama noise from the counter-based stream ``key``. Returns the
    steps taken (fewer after an early stop)."""
    from .integrate import step as layer  # the single run's step (import here: no cycle)

    codes, k_switch, alpha = norm
    n, d = X.shape
    Th, YT, L, parent = _scratch(n, d)
    dyns = {int(c): dynamics(B, V, c, alpha) for c in set(np.asarray(codes).tolist())}
    noisy = kappa < np.inf
    z = np.empty(n * d)
    if noisy:
        dyns = {c: dn.replace(kappa=float(kappa)) for c, dn in dyns.items()}
    kernels._record(X, int(codes[0]), 0, Th, YT, L, stats, parent, frac, ncl, r, modes)
    k = 0
    for s in range(1, nsteps + 1):
        code = int(codes[0] if s <= k_switch else codes[1])
        dW = None
        if noisy:
            kernels._counter_normals(key, (s - 1) * n * d, z)
            dW = np.sqrt(dt) * z.reshape(n, d)
        y, _ = layer(method, X, dt, dyns[code], dW=dW, t=(s - 1) * dt)
        X[...] = y
        if s % save_every == 0:
            k += 1
            if kernels._record(X, code, k, Th, YT, L, stats, parent, frac, ncl, r, modes):
                return s
    return nsteps


def hardmax_matrix(G: np.ndarray) -> np.ndarray:
    """A (n, n): A_ij = 1/|C_i| for the maximisers j of row i of the scores G (ties as in
    :mod:`particles.field.hardmax`, with |q_i| = sqrt(G_ii) and max_l |k_l| = max_l sqrt(G_ll))."""
    nrm = np.sqrt(np.maximum(np.diagonal(G), 0.0))
    tau = hm.TIE_RTOL * nrm * nrm.max()
    ties = G >= (G.max(axis=1) - tau)[:, None]
    return ties / ties.sum(axis=1, keepdims=True)


def gram(G, method, dt, nsteps, save_every, stats, frac, ncl) -> int:
    """Advance one Gram matrix G (n, n) in place by ``nsteps`` hardmax layers (identity weights,
    Post-LN; module docstring), recording as the kernels do. Returns the steps taken."""
    m = registry.get(method).name
    n = G.shape[0]
    parent = np.empty(n, np.int64)
    if kernels._checkpoint(G, 0, frac, ncl, stats, parent):
        return 0  # pragma: no cover - the kernels never stop at checkpoint 0
    k = 0
    eye = np.eye(n)
    for s in range(1, nsteps + 1):
        A = hardmax_matrix(G)
        C = eye + dt * A
        if m == "euler-tangent":
            C -= dt * np.diag(np.einsum("ij,ij->i", A, G))
        H = C @ G @ C.T
        inv = 1.0 / np.sqrt(np.diagonal(H))
        G[...] = inv[:, None] * H * inv[None, :]
        np.fill_diagonal(G, 1.0)
        if s % save_every == 0:
            k += 1
            if kernels._checkpoint(G, k, frac, ncl, stats, parent):
                return s
    return nsteps


def split(betas, kernel, member, *per_system) -> None:
    """Run the finite-beta systems with ``kernel(sel, *subsets)`` (copies of ``per_system``'s rows
    ``sel``, written back afterwards) and each beta = inf system s with ``member(s, *rows)``
    (views of row s of ``per_system[1:]``, a length-1 slice for a 1-D array; ``per_system[0]``
    is the state, which ``member`` advances in place)."""
    hard = np.asarray(betas) == np.inf
    fin = np.flatnonzero(~hard)
    if fin.size:
        subs = [np.ascontiguousarray(a[fin]) for a in per_system]
        kernel(fin, *subs)
        for a, sub in zip(per_system, subs, strict=True):
            a[fin] = sub
    for s in np.flatnonzero(hard):
        member(int(s), *(a[s] if a.ndim > 1 else a[s : s + 1] for a in per_system[1:]))
