"""Shared helpers for the click commands: one-line errors, parsing of number lists, choices and
defaults read from the library."""

from __future__ import annotations

import functools
import importlib
import inspect

import click

from particles.errors import ParticlesError


def clean_errors(fn):
    """Turn library errors (ParticlesError, bad values, missing files) into a one-line click error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except (ParticlesError, ValueError, FileNotFoundError, PermissionError) as e:
            raise click.ClickException(str(e)) from None

    return wrapper


def parse_floats(text: str) -> list[float]:
    """Parse ``"0,5,10"`` or a range ``"start:stop:step"`` (stop included when on the grid)."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise ValueError
            start, stop, step = parts
            k = int(round((stop - start) / step))
            vals = [start + i * step for i in range(k + 1)]
            return [round(v, 12) for v in vals if v <= stop + 1e-9 * max(1.0, abs(stop))]
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected numbers separated by commas or start:stop:step"
        ) from None


class LazyChoice(click.Choice):
    """A ``click.Choice`` whose choices come from ``load()`` (a library list), called only when the
    option is parsed or its help shown: the library stays the source, and ``particles --help``
    imports nothing heavy."""

    def __init__(self, load, case_sensitive: bool = False):
        self._load = load
        super().__init__((), case_sensitive=case_sensitive)

    @property
    def choices(self):
        return tuple(self._load())

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ assigns; load() is the source
        pass


class MethodChoice(LazyChoice):
    """A ``--method`` option's type: the methods of the registry (:mod:`particles.solvers.registry`),
    read when the option is parsed or its help shown, so a method registered later is offered too.
    ``batched=True`` offers only those the ensembles can run (with a Runge–Kutta tableau)."""

    def __init__(self, batched: bool | None = None):
        def load():
            from particles.solvers import registry

            return registry.names(batched=batched)

        super().__init__(load)


def library_default(spec: str):
    """The library's default named by ``spec``: ``"module:CONSTANT"``, or
    ``"module:callable_or_class.parameter"`` (a parameter of a function, or a dataclass field)."""
    mod, _, path = spec.partition(":")
    obj = importlib.import_module(mod)
    parts = path.split(".")
    for i, part in enumerate(parts):
        if callable(obj) and i == len(parts) - 1:
            return inspect.signature(obj).parameters[part].default
        obj = getattr(obj, part)
    return obj


class LibraryOption(click.Option):
    """An option whose default is the library's (``library="module:name"``, see
    :func:`library_default`): its value is None unless given, so the command passes it on only
    when given (:func:`given`), and ``--help`` shows the library's value, read when shown."""

    def __init__(self, *decls, library: str, **kw):
        self.library = library
        kw.setdefault("default", None)
        super().__init__(*decls, **kw)

    def get_help_record(self, ctx):
        rec = super().get_help_record(ctx)
        if rec is None:
            return rec
        value = library_default(self.library)
        if isinstance(value, (list, tuple)):
            value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        elif isinstance(value, float):
            value = f"{value:g}"
        return rec[0], f"{rec[1]}  [default: {value}]".strip()


def given(**options) -> dict:
    """The options that were given (not None): what a command passes on to the library, so the
    library's defaults apply to the rest."""
    return {k: v for k, v in options.items() if v is not None}


NORM_HELP = (
    "where the LayerNorm sits (arXiv 2510.22026): post (tokens on the sphere), pre (residual "
    "stream in R^d, attention on h/|h|), peri (pre + normalised attention output), ngpt (on the "
    "sphere, step --alpha), mix (post for t < --t-switch, pre after)"
)


def norm_options() -> list:
    """``--norm``, ``--alpha``, ``--t-switch``: the normalisation scheme (particles.norms)."""
    return [
        click.option(
            "--norm",
            type=LazyChoice(_norms, case_sensitive=False),
            cls=LibraryOption,
            library="particles.params:Dynamics.norm",
            help=NORM_HELP,
        ),
        click.option(
            "--alpha",
            type=float,
            cls=LibraryOption,
            library="particles.params:Dynamics.alpha",
            help="nGPT step size (--norm ngpt).",
        ),
        click.option(
            "--t-switch",
            type=float,
            default=None,
            help="Mix-LN: time of the switch from Post-LN to Pre-LN (required by --norm mix).",
        ),
    ]


def _norms():
    from particles.params import NORMS

    return NORMS


def scheme_kwargs(norm, alpha, t_switch) -> dict:
    """The scheme's keywords that were given (for Dynamics or PhaseParams); --t-switch only with
    --norm mix."""
    if t_switch is not None and (norm or "").lower() != "mix":
        raise click.BadParameter("--t-switch goes with --norm mix", param_hint="--t-switch")
    return given(norm=None if norm is None else norm.lower(), alpha=alpha, t_switch=t_switch)
