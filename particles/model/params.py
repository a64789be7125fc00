"""Frozen, validated parameter objects for the attention dynamics (arXiv 2312.10794, eqs. 2.3–2.8).

The dynamics of n tokens x_i on the unit sphere S^{d-1} is

    xdot_i = P_perp(x_i) [ sum_h sum_j A^h_ij V_h x_j  +  ffn(x_i) ],
    A^h_ij = exp(beta <Q_h x_i, K_h x_j>) / Z^h_i,

with Z^h_i = sum_k exp(beta <Q_h x_i, K_h x_k>) for SA (softmax attention) and Z^h_i = n for USA
(the unnormalised surrogate). For SK (Sinkhorn attention, arXiv 2110.11773) A^h is instead the
doubly stochastic matrix diag(e^f) exp(beta <Q_h x_i, K_h x_j>) diag(e^g) that Sinkhorn's algorithm
reaches (:mod:`particles.field.sinkhorn`). With ``causal=True`` token i only attends to j <= i.
P_perp(x) y = y - <x, y> x is the tangent projection (LayerNorm as projection onto the sphere).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

import numpy as np

from ..errors import ParticlesError, finite, flag, number, real_array, text

Kind = Literal["SA", "USA", "SK"]
#: the attention normalisations: softmax rows (SA), the constant n (USA), Sinkhorn's doubly
#: stochastic scaling (SK)
KINDS = ("SA", "USA", "SK")
#: the range of ``Dynamics.sinkhorn_tol``: below 1e-13 the marginals' own rounding (~ eps log n
#: per log-sum-exp) may keep Sinkhorn's iteration from ever meeting it; above 1e-2 the matrix is
#: not doubly stochastic in any useful sense
SINKHORN_TOL_RANGE = (1e-13, 1e-2)
Norm = Literal["post", "pre", "peri", "ngpt", "mix", "lns"]

#: the largest inverse temperature: beyond it the attention exponents beta <Qx, Ky> (shifted by
#: terms of the same size) lose all float64 precision, and softmax rows become 0/0
MAX_BETA = 1e12


def check_beta(beta: float, name: str = "beta") -> float:
    """``beta`` if it is at most :data:`MAX_BETA`, else a clear error."""
    if beta > MAX_BETA:
        raise ParticlesError(
            f"{name} = {beta:g} is above {MAX_BETA:g}: the attention exponents would lose all "
            "float64 precision (the hardmax limit itself is Dynamics(beta=float('inf')))"
        )
    return beta


def check_sinkhorn_tol(tol) -> float:
    """``tol`` if it is a number in :data:`SINKHORN_TOL_RANGE`, else a clear error."""
    lo, hi = SINKHORN_TOL_RANGE
    t = number(tol, "sinkhorn_tol")
    if not (lo <= t <= hi):
        raise ParticlesError(
            f"sinkhorn_tol must lie in [{lo:g}, {hi:g}], got {t:g} (below {lo:g} rounding of the "
            "marginals may stop Sinkhorn's iteration from meeting it)"
        )
    return t


def _hardmax_beta(dyn) -> float:
    """beta validated: finite in [0, MAX_BETA], or +inf (hardmax attention, ``Dynamics.hardmax``)
    with the settings that have a beta -> inf limit."""
    b = number(dyn.beta, "beta")
    if b != np.inf:
        return check_beta(finite(b, "beta", ">= 0"))
    kind = text(dyn.kind, "kind").upper()
    if kind in ("SK", "SINKHORN"):
        raise ParticlesError(
            "beta = inf (hardmax) needs kind='SA': SK's beta -> inf limit is an optimal assignment, "
            "not hardmax attention, and is not implemented"
        )
    if kind != "SA":
        raise ParticlesError(
            "beta = inf (hardmax) needs kind='SA': USA's weights e^(beta <Qx, Ky>) / n have no "
            "beta -> inf limit; the hardmax layer of arXiv 2508.09628 is the limit of the "
            "normalised (SA) attention"
        )
    return b


ACTIVATIONS = ("relu", "gelu", "tanh")
#: the normalisation schemes (where the LayerNorm sits); see :mod:`particles.field.norms`
NORMS = ("post", "pre", "peri", "ngpt", "mix", "lns")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True, order="C")
    a.setflags(write=False)
    return a


def _matrix(name: str, a, ndim_ok: tuple[int, ...]) -> np.ndarray | float | None:
    if a is None:
        return None
    if np.isscalar(a) or (isinstance(a, np.ndarray) and a.ndim == 0):
        if name != "V":
            raise ParticlesError(f"{name} must be a matrix or None (identity), got a scalar")
        return finite(a, "V")
    arr = real_array(a, name)
    if arr.ndim not in ndim_ok:
        raise ParticlesError(
            f"{name} must be a matrix (2-D) or a stack of per-head matrices (3-D), got shape {arr.shape}"
        )
    if arr.size == 0:
        raise ParticlesError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ParticlesError(f"{name} has non-finite entries")
    return _readonly(arr)


def _pick(a, h: int):
    """Head h's matrix of a (H, ., .) stack; a 2-D matrix, scalar or None is shared by all heads."""
    return a[h] if isinstance(a, np.ndarray) and a.ndim == 3 else a


def _output_maps(O, V) -> np.ndarray | None:
    """``O`` validated against the value maps' first factor ``V`` (already validated)."""
    if O is None:
        return None
    if not isinstance(V, np.ndarray):
        raise ParticlesError(
            "O (the heads' output maps, (d, d_v) or (H, d, d_v)) needs V as the value maps' first "
            f"factor, (d_v, d) or (H, d_v, d); got V = {'None' if V is None else V}"
        )
    if np.isscalar(O) or (isinstance(O, np.ndarray) and O.ndim == 0):
        raise ParticlesError("O must be a (d, d_v) matrix or a (H, d, d_v) stack, got a scalar")
    O = _matrix("O", O, (2, 3))
    if O.shape[-1] != V.shape[-2]:
        raise ParticlesError(
            f"O {O.shape} and V {V.shape} disagree on d_v: O must be (d, d_v) or (H, d, d_v) with "
            f"d_v = {V.shape[-2]}, the rows of V"
        )
    if O.shape[-2] != V.shape[-1]:
        raise ParticlesError(
            f"O {O.shape} and V {V.shape} disagree on d: O must map back to d = {V.shape[-1]}, the "
            "columns of V"
        )
    return O


def _low_rank(V: np.ndarray) -> tuple | None:
    """(V_f, O_f) with V = O_f V_f to rounding when V (d, d) or (H, d, d) has numerical rank r
    with 2 r <= d (singular values s <= d eps s_max of each head dropped), else None."""
    d = V.shape[-1]
    if d < 2:
        return None
    try:
        with np.errstate(all="ignore"):
            U, s, Vt = np.linalg.svd(V)
    except np.linalg.LinAlgError:  # no convergence: keep the dense maps
        return None
    if not np.all(np.isfinite(s)):  # entries near the float range: keep the dense maps
        return None
    smax = s[..., :1]
    rank = int(np.max(np.sum(s > d * np.finfo(np.float64).eps * smax, axis=-1)))
    rank = max(rank, 1)
    if 2 * rank > d:
        return None
    Of = U[..., :rank] * s[..., None, :rank]
    return (_readonly(Vt[..., :rank, :]), _readonly(Of)) if np.all(np.isfinite(Of)) else None


def _kappa(kappa) -> float | None:
    """κ validated: None or +inf -> None (no noise), else a finite float > 0."""
    if kappa is None:
        return None
    k = number(kappa, "kappa")
    if k == np.inf:
        return None
    if not (np.isfinite(k) and k > 0):
        raise ParticlesError(f"kappa (inverse noise strength) must be > 0 or None/inf, got {k}")
    if k < np.finfo(np.float64).tiny:
        raise ParticlesError(
            f"kappa = {k:g} is below float64 resolution: the noise strength 1/kappa overflows"
        )
    return k


@dataclass(frozen=True)
class FeedForward:
    """The feed-forward term of eq. (2.8): ``ffn(x) = W2 s(W1 x + b1) + b2``.

    Shapes: W1 (m, d), b1 (m,), W2 (d, m), b2 (d,) or None. ``activation`` is relu, gelu (erf form)
    or tanh. It is added inside the tangent projection, so particles stay on the sphere.
    """

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray | None = None
    activation: str = "relu"

    def __post_init__(self):
        W1 = _matrix("W1", self.W1, (2,))
        W2 = _matrix("W2", self.W2, (2,))
        if W1 is None or W2 is None:
            raise ParticlesError("W1 and W2 must be matrices, got None")
        m, d = W1.shape
        if W2.shape != (d, m):
            raise ParticlesError(f"W2 must have shape (d, m) = {(d, m)}, got {W2.shape}")
        b1 = real_array(self.b1, "b1", f"({m},)")
        if b1.shape != (m,) or not np.all(np.isfinite(b1)):
            raise ParticlesError(f"b1 must be a finite vector of shape ({m},), got {b1.shape}")
        object.__setattr__(self, "W1", W1)
        object.__setattr__(self, "W2", W2)
        object.__setattr__(self, "b1", _readonly(b1))
        if self.b2 is not None:
            b2 = real_array(self.b2, "b2", f"({d},)")
            if b2.shape != (d,) or not np.all(np.isfinite(b2)):
                raise ParticlesError(f"b2 must be a finite vector of shape ({d},), got {b2.shape}")
            object.__setattr__(self, "b2", _readonly(b2))
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ParticlesError(
                f"activation must be one of {ACTIVATIONS}, got {self.activation!r}"
            )

    @property
    def d(self) -> int:
        return self.W1.shape[1]


@dataclass(frozen=True)
class Dynamics:
    """Parameters of the SA / USA attention dynamics on the sphere.

    **Arguments:**
    - ``beta``: inverse temperature, finite, >= 0 and at most :data:`MAX_BETA`; or ``float("inf")``:
      hardmax attention, each token attending to the maximisers of <Q x_i, K x_j> with ties
      averaged (the beta -> inf limit of softmax; the layer of arXiv 2508.09628, (SA-inf);
      :mod:`particles.field.hardmax`). The field is then discontinuous
      and only the one-stage layer maps integrate it (``"euler"``, ``"euler-tangent"``, and with
      noise ``kappa`` the noisy layer map ``"euler-maruyama"``); it needs ``kind="SA"``.
    - ``kind``: ``"SA"`` (softmax, Z_i = sum_k e^{...}), ``"USA"`` (Z_i = n) or ``"SK"``
      (Sinkhorn attention, the Sinkformers of arXiv 2110.11773: the matrix exp(beta <Q x_i, K x_j>)
      scaled on both sides until every row and every column sums to 1; ``"sinkhorn"`` is read as
      ``"SK"``). Named like SA and USA by its normalisation: SA normalises rows (one SoftMax, the
      first step of Sinkhorn's algorithm), SK iterates Sinkhorn's row and column normalisations to
      their limit. Not causal (the only doubly stochastic lower-triangular matrix is I). Computed in
      the log domain, tile by tile, in O(n d) memory: :mod:`particles.field.sinkhorn`.
    - ``sinkhorn_tol``: SK's stopping tolerance, in [1e-13, 1e-2] (default 1e-9): Sinkhorn's
      iteration stops once the row sums, after a column normalisation, are within this of 1 (for
      symmetric logits: the row sums of the symmetric scaling, whose column sums are the same);
      the output rows are then divided by their sums, so every row sums to 1 to rounding and every
      column to within ~tol. Used only by SK (and validated always).
    - ``Q``, ``K``: None (identity), a (d_k, d) matrix, or a (H, d_k, d) stack for H heads.
    - ``V``: None (identity), a scalar v (meaning v I; ``V=-1`` is the repulsive case of
      arXiv 2312.10794 §9.1), a (d, d) matrix, or a (H, d, d) stack; with ``O``, the first factor
      of factored value maps: a (d_v, d) matrix or a (H, d_v, d) stack.
    - ``O``: None (dense value maps), or the heads' output maps, a (d, d_v) matrix or a
      (H, d, d_v) stack: head h's value map is then ``O_h V_h`` (d x d, rank <= d_v), as in a
      Transformer layer, ``W^O_h W^V_h``. The field then costs n^2 (d_k + d_v) per head instead
      of n^2 (d_k + d), plus O(n d d_v) for the projections (:mod:`particles.field.inputs`).
      A dense V (2-D or 3-D) of low numerical rank is factored once here (SVD, singular values
      ``s <= d * eps * s_max`` of each head dropped; r the largest rank over the heads) when
      that is cheaper, ``2 r <= d``: :attr:`value_factors` holds the factors, ``V`` and ``O``
      stay as given (records and :meth:`replace` keep the dense form, and factor it again to the
      same bits).
    - ``causal``: token i attends only to tokens j <= i.
    - ``ffn``: optional :class:`FeedForward` term.
    - ``kappa``: inverse noise strength κ > 0 of the noisy dynamics
      ``dx_i = [field] dt + sqrt(2/κ) dW_i`` with W_i independent Brownian motions on the sphere
      (generator (1/κ) Δ_S of the noise; Rigollet, arXiv 2512.01868, §7 "Noisy Transformers"; the noise
      of arXiv 2312.10794, §9.4, Problem 7). ``None`` (the default) or ``inf`` means no noise: the
      ODE, exactly as without this field (``inf`` is stored as ``None``). Conventions: :mod:`particles.meanfield`.
    - ``norm``: where the normalisation sits (arXiv 2510.22026, Table 1; :mod:`particles.field.norms`):
      ``"post"`` (default: tokens on the sphere, arXiv 2312.10794), ``"pre"`` (the residual stream
      h lives in R^d, attention reads h/|h|), ``"peri"`` (as pre, with the attention output
      normalised too), ``"ngpt"`` (on the sphere, step size ``alpha``), ``"mix"`` (Post-LN for
      t < ``t_switch``, Pre-LN after), ``"lns"`` (LN-Scaling: Post-LN slowed by the speed factor
      sqrt(t + ``t_offset``), arXiv 2510.22026 Table 2's "CoD" row).
    - ``alpha``: nGPT's step size (eigen learning rate), > 0; used only by ``norm="ngpt"``.
    - ``t_switch``: the time at which Mix-LN switches from Post-LN to Pre-LN (>= 0); required by
      ``norm="mix"`` and only used there.
    - ``t_offset``: LN-Scaling's clock offset c > 0, speed factor s(t) = sqrt(t + c) (default 1,
      the paper's s = sqrt(t + 1)); used only by ``norm="lns"``.

    The number of heads H is the leading size of the stacks (Q, K, V, O must agree); a 2-D matrix
    or None is shared by every head. Use :func:`dataclasses.replace` (or :meth:`replace`) for new settings.
    """

    beta: float = 1.0
    kind: Kind = "SA"
    Q: np.ndarray | None = None
    K: np.ndarray | None = None
    V: np.ndarray | float | None = None
    causal: bool = False
    ffn: FeedForward | None = None
    kappa: float | None = None
    norm: Norm = "post"
    alpha: float = 1.0
    t_switch: float | None = None
    t_offset: float = 1.0
    O: np.ndarray | None = None
    sinkhorn_tol: float = 1e-9
    heads: int = field(init=False, default=1)
    #: (V_f, O_f): the factored value maps ((H, d_v, d), (H, d, d_v), or 2-D shared by all heads),
    #: given (``O``) or found in a dense V of low rank; None for dense, scalar or identity V
    value_factors: tuple | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "beta", _hardmax_beta(self))
        kind = text(self.kind, "kind").upper()
        kind = "SK" if kind == "SINKHORN" else kind
        if kind not in KINDS:
            raise ParticlesError(f"kind must be 'SA', 'USA' or 'SK', got {self.kind!r}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "sinkhorn_tol", check_sinkhorn_tol(self.sinkhorn_tol))
        Q = _matrix("Q", self.Q, (2, 3))
        K = _matrix("K", self.K, (2, 3))
        V = _matrix("V", self.V, (2, 3))
        O = _output_maps(self.O, V)
        object.__setattr__(self, "Q", Q)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "V", V)
        object.__setattr__(self, "O", O)
        object.__setattr__(self, "causal", flag(self.causal, "causal"))
        if kind == "SK" and self.causal:
            raise ParticlesError(
                "kind='SK' cannot be causal: the only doubly stochastic lower-triangular matrix is "
                "the identity (row 1 has one entry, so column 1 has no other, and so on)"
            )
        object.__setattr__(self, "kappa", _kappa(self.kappa))
        if self.ffn is not None and not isinstance(self.ffn, FeedForward):
            raise ParticlesError("ffn must be a particles.FeedForward or None")
        self._check_norm()
        if self.kappa is not None and (not self.on_sphere or self.norm == "lns"):
            raise ParticlesError(
                f"kappa (Brownian motion on the sphere) needs a time-homogeneous state on the "
                f"sphere: norm 'post' or 'ngpt', not {self.norm!r}"
            )
        # heads: consistent leading sizes
        hs = {a.shape[0] for a in (Q, K, V, O) if isinstance(a, np.ndarray) and a.ndim == 3}
        if len(hs) > 1:
            raise ParticlesError(f"Q, K, V, O stacks disagree on the number of heads: {sorted(hs)}")
        object.__setattr__(self, "heads", hs.pop() if hs else 1)
        # Q and K must agree on d_k; Q, K, V on d
        dk = {a.shape[-2] for a in (Q, K) if isinstance(a, np.ndarray)}
        if (Q is None) != (K is None):  # an identity on one side forces d_k = d
            dk |= {d for d in self._dims() if d is not None}
        if len(dk) > 1:
            raise ParticlesError(f"Q and K must map to the same dimension d_k; got {sorted(dk)}")
        dims = set(self._dims())
        dims.discard(None)
        if len(dims) > 1:
            raise ParticlesError(f"Q, K, V, O, ffn disagree on the dimension d: {sorted(dims)}")
        if O is None and isinstance(V, np.ndarray) and V.shape[-2] != V.shape[-1]:
            raise ParticlesError(
                f"V must be square (d, d), got {V.shape[-2:]}; a factored value map V (d_v, d) "
                "needs its output map O (d, d_v)"
            )
        if O is not None:
            object.__setattr__(self, "value_factors", (V, O))
        elif isinstance(V, np.ndarray):
            object.__setattr__(self, "value_factors", _low_rank(V))

    def _check_norm(self) -> None:
        norm = text(self.norm, "norm").lower()
        if norm not in NORMS:
            raise ParticlesError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        object.__setattr__(self, "norm", norm)
        object.__setattr__(self, "alpha", finite(self.alpha, "alpha (nGPT step size)", "> 0"))
        ts = self.t_switch
        if ts is not None:
            ts = finite(ts, "t_switch", ">= 0")
            object.__setattr__(self, "t_switch", ts)
        if norm == "mix" and ts is None:
            raise ParticlesError(
                "norm='mix' needs t_switch (the time Post-LN hands over to Pre-LN)"
            )
        c = number(self.t_offset, "t_offset")
        if not np.isfinite(c) or c <= 0:
            raise ParticlesError(
                f"t_offset (LN-Scaling's clock offset) must be finite and > 0, got {c}"
            )
        object.__setattr__(self, "t_offset", c)

    @property
    def on_sphere(self) -> bool:
        """Whether the state is on the unit sphere (post, ngpt, lns; mix before its switch) rather
        than a residual stream h in R^d (pre, peri)."""
        return self.norm in ("post", "ngpt", "lns")

    def _dims(self):
        for a in (self.Q, self.K, self.V):
            yield a.shape[-1] if isinstance(a, np.ndarray) else None
        yield self.O.shape[-2] if self.O is not None else None
        yield self.ffn.d if self.ffn is not None else None

    @property
    def hardmax(self) -> bool:
        """True for beta = inf: hardmax attention (:mod:`particles.field.hardmax`)."""
        return self.beta == np.inf

    @property
    def noisy(self) -> bool:
        """True when the dynamics has Brownian noise (``kappa`` finite)."""
        return self.kappa is not None

    @property
    def d(self) -> int | None:
        """The dimension fixed by the matrices, or None when every matrix is an identity."""
        dims = [d for d in self._dims() if d is not None]
        return dims[0] if dims else None

    @property
    def identity_attention(self) -> bool:
        """True when Q = K = I and V is a multiple of I and there is no ffn (one head)."""
        return (
            self.Q is None
            and self.K is None
            and (self.V is None or isinstance(self.V, float))
            and self.ffn is None
        )

    def check_dimension(self, d: int) -> None:
        """Raise a clear error if particles of dimension ``d`` do not fit these matrices."""
        if d < 2:
            raise ParticlesError(f"particles must live on S^(d-1) with d >= 2, got d = {d}")
        own = self.d
        if own is not None and own != d:
            raise ParticlesError(
                f"the dynamics' matrices act on dimension {own}, particles have d = {d}"
            )

    def head(self, h: int) -> tuple:
        """(Q_h, K_h, V_h) with None for identities and a float for a scalar V; with output maps
        ``O``, V_h is the (d, d) product O_h V_h."""
        if self.O is not None:
            Vf, Of = self.head_factors(h)
            return _pick(self.Q, h), _pick(self.K, h), Of @ Vf
        return _pick(self.Q, h), _pick(self.K, h), _pick(self.V, h)

    @property
    def factored(self) -> bool:
        """Whether the field uses factored value maps O_h V_h (:attr:`value_factors`)."""
        return self.value_factors is not None

    @property
    def d_v(self) -> int | None:
        """The heads' value dimension d_v of the factored value maps (None when not factored)."""
        return None if self.value_factors is None else self.value_factors[0].shape[-2]

    def head_factors(self, h: int) -> tuple:
        """(V_h (d_v, d), O_h (d, d_v)) of the factored value maps, or None when not factored."""
        if self.value_factors is None:
            return None
        Vf, Of = self.value_factors
        return _pick(Vf, h), _pick(Of, h)

    def replace(self, **changes) -> Dynamics:
        return replace(self, **changes)

    def describe(self) -> str:
        """One line, e.g. ``"SA, beta=1, Q=I, K=I, V=-1I, causal"`` (matrices by their shape)."""

        def mat(name, a):
            if a is None:
                return f"{name}=I"
            if isinstance(a, float):
                return f"{name}={a:g}I"
            return f"{name}{tuple(a.shape)}"

        parts = [self.kind, f"beta={self.beta:g}"]
        parts += [mat(name, getattr(self, name)) for name in ("Q", "K", "V")]
        if self.O is not None:
            parts.append(mat("O", self.O))
        if self.kappa is not None:
            parts.append(f"kappa={self.kappa:g}")
        if self.kind == "SK":
            parts.append(f"sinkhorn_tol={self.sinkhorn_tol:g}")
        if self.heads > 1:
            parts.append(f"heads={self.heads}")
        if self.causal:
            parts.append("causal")
        if self.ffn is not None:
            parts.append(f"ffn({self.ffn.activation})")
        if self.norm != "post":
            parts.append(
                f"norm={self.norm}"
                + (f"(alpha={self.alpha:g})" if self.norm == "ngpt" else "")
                + (f"(t_switch={self.t_switch:g})" if self.norm == "mix" else "")
                + (f"(t_offset={self.t_offset:g})" if self.norm == "lns" else "")
            )
        return ", ".join(parts)

    # --- serialisation -------------------------------------------------------------------
    def to_record(self, prefix: str = "") -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able metadata, arrays) describing these dynamics; see :meth:`from_record`."""
        meta: dict = {
            "beta": self.beta,
            "kind": self.kind,
            "causal": self.causal,
            "heads": self.heads,
        }
        arrays: dict[str, np.ndarray] = {}
        for name in ("Q", "K", "V"):
            a = getattr(self, name)
            if a is None:
                meta[name] = "identity"
            elif isinstance(a, float):
                meta[name] = a
            else:
                meta[name] = "array"
                arrays[prefix + name] = np.asarray(a)
        if self.O is not None:  # absent for dense value maps: earlier records stay
            meta["O"] = "array"
            arrays[prefix + "O"] = np.asarray(self.O)
        if self.kappa is not None:  # absent for the ODE: its records (fingerprints) are unchanged
            meta["kappa"] = self.kappa
        if self.ffn is not None:
            meta["ffn"] = {"activation": self.ffn.activation, "b2": self.ffn.b2 is not None}
            for f in ("W1", "b1", "W2", "b2"):
                a = getattr(self.ffn, f)
                if a is not None:
                    arrays[prefix + "ffn_" + f] = np.asarray(a)
        if self.norm != "post" or self.alpha != 1.0 or self.t_switch is not None:
            # default Post-LN records stay exactly as before the schemes existed
            meta["norm"] = self.norm
            meta["alpha"] = self.alpha
            meta["t_switch"] = self.t_switch
        if self.norm == "lns" or self.t_offset != 1.0:  # absent elsewhere: earlier records stay
            meta["t_offset"] = self.t_offset
        if self.kind == "SK" or self.sinkhorn_tol != 1e-9:  # absent for SA/USA: records stay
            meta["sinkhorn_tol"] = self.sinkhorn_tol
        return meta, arrays

    @classmethod
    def from_record(cls, meta: dict, arrays: dict, prefix: str = "") -> Dynamics:
        kw = {"beta": meta["beta"], "kind": meta["kind"], "causal": meta.get("causal", False)}
        if meta.get("kappa") is not None:
            kw["kappa"] = meta["kappa"]
        kw["norm"] = meta.get("norm", "post")
        kw["alpha"] = meta.get("alpha", 1.0)
        kw["t_switch"] = meta.get("t_switch")
        kw["t_offset"] = meta.get("t_offset", 1.0)
        kw["sinkhorn_tol"] = meta.get("sinkhorn_tol", 1e-9)
        for name in ("Q", "K", "V"):
            v = meta.get(name, "identity")
            if v == "identity":
                kw[name] = None
            elif v == "array":
                kw[name] = arrays[prefix + name]
            else:
                kw[name] = float(v)
        if meta.get("O") is not None:
            if meta["O"] != "array":
                raise ParticlesError(f"O must be 'array' or absent, got {meta['O']!r}")
            kw["O"] = arrays[prefix + "O"]
        if meta.get("ffn"):
            kw["ffn"] = FeedForward(
                W1=arrays[prefix + "ffn_W1"],
                b1=arrays[prefix + "ffn_b1"],
                W2=arrays[prefix + "ffn_W2"],
                b2=arrays.get(prefix + "ffn_b2"),
                activation=meta["ffn"]["activation"],
            )
        return cls(**kw)


@dataclass(frozen=True)
class Piecewise:
    """Time-dependent weights: ``segments = ((dyn_1, duration_1), (dyn_2, duration_2), ...)``.

    Segment k is in force on [T_{k-1}, T_k) with T_k = duration_1 + ... + duration_k; the last
    segment continues past its end. This is how a network with different weights per layer maps to
    piecewise-constant Q(t), K(t), V(t).
    """

    segments: tuple

    def __post_init__(self):
        if isinstance(self.segments, (str, bytes, dict)):
            raise ParticlesError("segments must be a sequence of (Dynamics, duration) pairs")
        try:
            segs = tuple(self.segments)
        except TypeError:
            raise ParticlesError(
                f"segments must be a sequence of (Dynamics, duration) pairs, got {self.segments!r}"
            ) from None
        if not segs:
            raise ParticlesError("Piecewise needs at least one (Dynamics, duration) segment")
        out = []
        for k, s in enumerate(segs):
            try:
                if isinstance(s, (str, bytes, dict)):
                    raise TypeError
                dyn, dur = s
            except (TypeError, ValueError):
                raise ParticlesError(f"segment {k} must be a (Dynamics, duration) pair") from None
            if not isinstance(dyn, Dynamics):
                raise ParticlesError(f"segment {k}: expected a particles.Dynamics, got {type(dyn)}")
            out.append((dyn, finite(dur, f"segment {k}: duration", "> 0")))
        object.__setattr__(self, "segments", tuple(out))

    @property
    def boundaries(self) -> np.ndarray:
        """Segment end times T_1 < T_2 < ... (the last one is where the last segment nominally ends)."""
        return np.cumsum([dur for _, dur in self.segments])

    def at(self, t: float) -> Dynamics:
        """The dynamics in force at time t (right-continuous)."""
        t = finite(t, "t (time)")
        idx = int(np.searchsorted(self.boundaries, t, side="right"))
        return self.segments[min(idx, len(self.segments) - 1)][0]

    def check_dimension(self, d: int) -> None:
        for dyn, _ in self.segments:
            dyn.check_dimension(d)

    def describe(self) -> str:
        """One line: the number of segments, then each segment's :meth:`Dynamics.describe`."""
        return f"piecewise, {len(self.segments)} segments: " + "; ".join(
            f"[{dyn.describe()}] for {dur:g}" for dyn, dur in self.segments
        )


def dynamics_fields() -> list[str]:
    return [f.name for f in fields(Dynamics) if f.init]
