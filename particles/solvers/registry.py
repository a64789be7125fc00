"""The one registry of time-stepping methods, used by :func:`particles.simulate`, the batched
ensembles (:mod:`particles.solvers.ensemble`), the transformer bridge, the command line's choices
and the tests.

A method is either

- **fixed-step**: an explicit Runge–Kutta :class:`Tableau` (then :func:`particles.simulate` steps it
  with the generic :func:`~particles.solvers.steps.explicit_rk` and the ensembles run it in their
  numba kernels), or a custom ``step(x, h, f) -> (y, nfev)`` function (simulate only), with an
  optional ``free_step`` for the residual-stream state of Pre-/Peri-LN; every fixed step of a
  scheme whose state is on the sphere (Post-LN, nGPT) is followed by normalisation, the
  residual-stream schemes (Pre-LN, Peri-LN) are not normalised (:mod:`particles.field.norms`); or
- **adaptive**: one of scipy's ``solve_ivp`` methods, stepped by :mod:`particles.solvers.adaptive`;
  or
- **stochastic** (``stochastic=True``): a fixed-step integrator of the noisy dynamics
  ``dx_i = f(x)_i dt + sqrt(2/kappa) dB_i`` (B_i Brownian motion on the sphere, ``Dynamics.kappa``), a
  ``step(x, h, f, dW, kappa) -> (y, nfev)`` driven by ambient Brownian increments ``dW`` (n, d) that the
  driver draws from a numpy Generator (:func:`particles.simulate`'s ``rng``). ``order`` is its weak
  order, ``strong_order`` its strong order. With ``kappa=None`` it integrates the ODE. ``kernel``
  names the step of the ensembles' numba coordinate loop that computes the same scheme
  (``particles.solvers.kernels.STEP_CODES``; the noisy ensembles run the stochastic methods that have one).

``projected`` says which field the stages see: the tangent field P⊥(x)[Σ_j A_ij V x_j + ffn(x_i)]
of arXiv 2312.10794, eq. (2.3)–(2.8) (``True``), or the attention output itself, before the
projection (``False``: the residual update of a Transformer layer, normalised afterwards).

Adding a fixed-step method is one entry here::

    from fractions import Fraction as F
    from particles.solvers import registry
    registry.register(registry.Method(name="heun", order=2, description="Heun's method",
        tableau=registry.Tableau(a=((), (F(1),)), b=(F(1, 2), F(1, 2)))))

after which ``simulate(..., method="heun")``, the ensembles, ``particles simulate --method heun``
and ``particles phase --method heun`` accept it. A stochastic method reaches the noisy ensembles
(``ensemble_noisy``, ``particles transition --method``) by naming the numba step that computes it
(``kernel=``, one of ``particles.solvers.kernels.STEP_CODES``); a new kind of step is one branch of the one
coordinate loop ``particles.solvers.kernels._coord_system`` and its twin in ``tests/naive.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import ParticlesError


def _integers(coeffs) -> tuple[tuple[int, ...], int]:
    """Coefficients c_j as integers n_j over one denominator D (c_j = n_j / D, D the lcm)."""
    fr = [Fraction(c) for c in coeffs]
    den = math.lcm(*(f.denominator for f in fr)) if fr else 1
    return tuple(int(f * den) for f in fr), den


@dataclass(frozen=True)
class Tableau:
    """An explicit Runge–Kutta tableau: stage s uses y_s = x + h Σ_{j<s} a[s][j] k_j, and the step
    is x + h Σ_j b[j] k_j (then normalised).

    Coefficients are exact fractions (``Fraction``, int, or a float that is a short binary fraction)
    and are applied as integers over a common denominator, ``x + (h/D) (n_1 k_1 + n_2 k_2 + ...)``,
    so RK4 computes exactly ``x + (h/6)(k1 + 2 k2 + 2 k3 + k4)``.
    """

    a: tuple[tuple, ...]
    b: tuple

    def __post_init__(self):
        s = len(self.b)
        if s < 1 or len(self.a) != s:
            raise ParticlesError(f"tableau: need one row of a per stage ({s}), got {len(self.a)}")
        for i, row in enumerate(self.a):
            if len(row) != i:
                raise ParticlesError(f"tableau: row {i} of a must have {i} entries (explicit RK)")
        if sum(Fraction(c) for c in self.b) != 1:
            raise ParticlesError("tableau: the weights b must sum to 1 (consistency)")

    @property
    def stages(self) -> int:
        return len(self.b)

    def stage_integers(self) -> list[tuple[tuple[int, ...], int]]:
        """[(numerators, denominator)] of each stage row of a."""
        return [_integers(row) for row in self.a]

    def weight_integers(self) -> tuple[tuple[int, ...], int]:
        return _integers(self.b)


@dataclass(frozen=True, kw_only=True)
class Method:
    """One time-stepping method. See the module docstring."""

    name: str
    order: int
    description: str
    tableau: Tableau | None = None
    step: Callable | None = None
    #: the step for a residual-stream state h in R^d (Pre-LN, Peri-LN), ``(h, dt, F) -> (h', nfev)``
    #: with F the drift; needed only by custom-step methods (tableaux and scipy run any state)
    free_step: Callable | None = None
    projected: bool = True
    adaptive: bool = False
    #: scipy's class name, for adaptive methods
    scipy_name: str | None = None
    aliases: tuple[str, ...] = field(default=())
    #: an SDE integrator: ``step(x, h, f, dW, kappa)``; ``order`` is then the weak order
    stochastic: bool = False
    #: strong order of a stochastic method (None for deterministic ones)
    strong_order: float | None = None
    #: the step of the ensembles' numba coordinate loop that runs this stochastic method
    #: (a key of ``particles.solvers.kernels.STEP_CODES``); None: :func:`particles.simulate` only
    kernel: str | None = None

    def __post_init__(self):
        kinds = (self.tableau is not None) + (self.step is not None) + bool(self.adaptive)
        if kinds != 1:
            raise ParticlesError(
                f"method {self.name!r}: give exactly one of tableau, step or adaptive=True"
            )
        if self.free_step is not None and self.step is None:
            raise ParticlesError(f"method {self.name!r}: free_step goes with a custom step")
        if not self.projected and self.tableau is None:
            raise ParticlesError(f"method {self.name!r}: only tableau methods may be unprojected")
        if self.stochastic and self.step is None:
            raise ParticlesError(f"method {self.name!r}: a stochastic method needs a step function")
        if self.kernel is not None and not self.stochastic:
            raise ParticlesError(f"method {self.name!r}: kernel goes with a stochastic method")

    @property
    def fixed(self) -> bool:
        return not self.adaptive

    @property
    def batched(self) -> bool:
        """Whether the ensembles' numba kernels can run it: an explicit RK tableau (the deterministic
        ensembles) or a stochastic method with a ``kernel`` (the noisy ensembles)."""
        return self.tableau is not None or self.kernel is not None


_RK4 = Tableau(
    a=((), (Fraction(1, 2),), (0, Fraction(1, 2)), (0, 0, 1)),
    b=(Fraction(1, 6), Fraction(1, 3), Fraction(1, 3), Fraction(1, 6)),
)
_EULER = Tableau(a=((),), b=(1,))

_REGISTRY: dict[str, Method] = {}


def register(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` to the registry (``replace=True`` to overwrite one of the same name)."""
    if not isinstance(method, Method):
        raise ParticlesError(f"register() takes a registry.Method, got {type(method).__name__}")
    key = method.name.lower()
    if key in _REGISTRY and not replace:
        raise ParticlesError(f"a method named {method.name!r} is already registered")
    _REGISTRY[key] = method
    return method


def unregister(name: str) -> None:
    """Remove a method (tests use this to clean up a toy method)."""
    _REGISTRY.pop(str(name).lower(), None)


def get(name) -> Method:
    """The method called ``name`` (case-insensitive), or a clear error listing the choices."""
    if isinstance(name, Method):
        return name
    m = _REGISTRY.get(str(name).lower())
    if m is None:
        raise ParticlesError(f"unknown method {name!r}; choose one of {', '.join(names())}")
    return m


def names(
    *, fixed: bool | None = None, batched: bool | None = None, stochastic: bool | None = None
) -> tuple[str, ...]:
    """Registered method names, in registration order, optionally only fixed-step / batched /
    stochastic ones."""
    return tuple(
        m.name
        for m in _REGISTRY.values()
        if (fixed is None or m.fixed == fixed)
        and (batched is None or m.batched == batched)
        and (stochastic is None or m.stochastic == stochastic)
    )


class _LiveNames(Sequence):
    """The registered names as a read-only sequence that follows later registrations."""

    def __init__(self, **filters):
        self._filters = filters

    def __getitem__(self, i):
        return names(**self._filters)[i]

    def __len__(self):
        return len(names(**self._filters))

    def __repr__(self):
        return repr(names(**self._filters))


#: every registered method name (live: includes methods registered later)
NAMES = _LiveNames()
#: the fixed-step ones
FIXED_NAMES = _LiveNames(fixed=True)
#: the integrators of the noisy dynamics (Dynamics.kappa finite)
STOCHASTIC_NAMES = _LiveNames(stochastic=True)
#: the methods of the deterministic ensembles (particles.solvers.ensemble.ensemble_gram / _coords)
ENSEMBLE_NAMES = _LiveNames(batched=True, stochastic=False)
#: the methods of the noisy ensembles (particles.solvers.ensemble.ensemble_noisy)
NOISY_ENSEMBLE_NAMES = _LiveNames(batched=True, stochastic=True)


def _register_builtins() -> None:
    from . import steps

    register(
        Method(
            name="euler",
            order=1,
            projected=False,
            tableau=_EULER,
            description="x <- normalise(x + h [attention output]): one residual attention layer "
            "with post-LayerNorm per step (arXiv 2312.10794, Sect. 2; the authors' scheme)",
        )
    )
    register(
        Method(
            name="euler-tangent",
            order=1,
            tableau=_EULER,
            description="x <- normalise(x + h P⊥(x)[attention output]): explicit Euler on the "
            "tangent field, then normalise",
        )
    )
    register(
        Method(
            name="rk4",
            order=4,
            tableau=_RK4,
            description="classical Runge–Kutta 4 on the tangent field, then normalise",
        )
    )
    register(
        Method(
            name="lie-euler",
            order=1,
            step=steps.lie_euler,
            free_step=steps.lie_euler_free,
            description="x <- exp_x(h f(x)), the sphere's exponential map",
        )
    )
    register(
        Method(
            name="geometric",
            order=2,
            step=steps.lie_midpoint,
            free_step=steps.lie_midpoint_free,
            description="Lie midpoint (RKMK of order 2): a rotation of each particle per step",
        )
    )
    register(
        Method(
            name="euler-maruyama",
            order=1,
            strong_order=0.5,
            stochastic=True,
            step=steps.euler_maruyama,
            free_step=steps.euler_free,
            kernel="additive",
            description="projected Euler–Maruyama for dx = f dt + sqrt(2/kappa) dB on the sphere: "
            "x <- normalise(x + h f(x) + sqrt(2/kappa) P⊥(x) dW) (weak order 1, strong 1/2)",
        )
    )
    register(
        Method(
            name="lie-euler-maruyama",
            order=1,
            strong_order=0.5,
            stochastic=True,
            step=steps.lie_euler_maruyama,
            free_step=steps.lie_euler_free,
            kernel="geodesic",
            description="geodesic Euler–Maruyama: x <- exp_x(h f(x) + sqrt(2/kappa) P⊥(x) dW) "
            "(weak order 1, strong 1/2)",
        )
    )
    register(
        Method(
            name="strang",
            order=2,
            strong_order=0.5,
            stochastic=True,
            step=steps.strang,
            free_step=steps.strang_free,
            kernel="strang",
            description="Strang splitting for the noisy dynamics: half a Lie-midpoint drift step, "
            "a weak-order-2 geodesic Brownian step, half a drift step (weak order 2, geometric)",
        )
    )
    for name, order in (
        ("RK45", 5),
        ("RK23", 3),
        ("DOP853", 8),
        ("LSODA", 1),
        ("BDF", 1),
        ("Radau", 5),
    ):
        register(
            Method(
                name=name,
                order=order,
                adaptive=True,
                scipy_name=name,
                description=f"scipy.integrate.{name} (adaptive, rtol/atol)",
            )
        )


_register_builtins()
