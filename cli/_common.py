"""Shared helpers for the click commands: one-line errors, parsing of number lists, choices and
defaults read from the library."""

from __future__ import annotations

import functools
import importlib
import inspect
import os

import click

from particles.errors import ParticlesError


def clean_errors(fn):
    """Turn library errors (ParticlesError, bad values, missing files) into a one-line click error;
    anything else too (a bug), unless ``PARTICLES_TRACEBACK`` is set (then it propagates, with its
    traceback: the tests set it, so that no bug hides behind the one line)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except (ParticlesError, ValueError, FileNotFoundError, PermissionError) as e:
            raise click.ClickException(one_line(str(e))) from None
        except MemoryError as e:  # an estimate fell short: still one line, not a traceback
            why = f" ({one_line(str(e))})" if str(e).strip() else ""
            raise click.ClickException(
                f"out of memory{why}; ask for less (fewer particles, saved times, seeds or grid "
                "points)"
            ) from None
        except Exception as e:  # a bug: one line at the terminal; the traceback on request
            if os.environ.get("PARTICLES_TRACEBACK"):
                raise
            raise click.ClickException(
                f"unexpected {type(e).__name__}: {one_line(str(e))} (a bug in particles; run "
                "again with PARTICLES_TRACEBACK=1 to see where)"
            ) from None

    return wrapper


def one_line(message: str) -> str:
    """``message`` on one line (its lines joined with "; "): a command's error is one line."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return "; ".join(lines) or "failed (no message)"


class PathArg(click.Path):
    """``click.Path`` that refuses an empty name (``""``, which would silently mean the current
    directory); every path option and argument of the commands has this type."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("empty path; give a file or directory name", param, ctx)
        return super().convert(value, param, ctx)


def parse_floats(text: str, name: str, allow_inf: bool = False) -> list[float]:
    """The numbers of option ``name``: ``"0,5,10"`` or a range ``"start:stop:step"`` (stop included
    when on the grid), parsed and counted by the library (:func:`particles.sweeps.grids.parse_numbers`;
    ``allow_inf``: ``inf`` may be one of a list's values)."""
    from particles.sweeps.grids import parse_numbers

    return parse_numbers(text, name, allow_inf=allow_inf)


def parse_ints(text: str, name: str) -> list[int]:
    """Like :func:`parse_floats`, for whole numbers."""
    from particles.sweeps.grids import parse_numbers

    return parse_numbers(text, name, integer=True)


class Choice(click.Choice):
    """``click.Choice`` for every choice of the commands: any case is accepted (``--kind sa``), and
    help and errors show the choices as the library spells them, on one line."""

    def __init__(self, choices, case_sensitive: bool = False):
        super().__init__(choices, case_sensitive=case_sensitive)

    def _listed(self) -> str:
        return ", ".join(str(c) for c in self.choices)

    def get_metavar(self, param, ctx=None):
        text = "|".join(str(c) for c in self.choices)
        if param.required and param.param_type_name == "argument":
            return f"{{{text}}}"
        return f"[{text}]"

    def get_missing_message(self, param, ctx=None) -> str:
        return f"Choose from {self._listed()}."

    def get_invalid_choice_message(self, value, ctx=None) -> str:
        return f"{value!r} is not one of {self._listed()}."


class LazyChoice(Choice):
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
    ``batched=True`` offers only those the ensembles can run, ``stochastic`` the noisy or the
    deterministic ones (the filters of :func:`particles.solvers.registry.names`)."""

    def __init__(self, batched: bool | None = None, stochastic: bool | None = None):
        def load():
            from particles.solvers import registry

            return registry.names(batched=batched, stochastic=stochastic)

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


def explicit(ctx: click.Context, name: str) -> bool:
    """Whether parameter ``name`` was given on the command line (or in the environment), not left
    at its default: for refusing options that do not apply."""
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
    )


def refuse_given(ctx: click.Context, names, why: str) -> None:
    """A usage error naming those of the parameters ``names`` given explicitly (:func:`explicit`):
    they do not apply ``why`` (e.g. ``"with --x0"``) and would otherwise be silently ignored."""
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    hit = [flags[n] for n in names if explicit(ctx, n)]
    if hit:
        verb = "does" if len(hit) == 1 else "do"
        raise click.UsageError(f"{', '.join(hit)} {verb} not apply {why}", ctx)


NORM_HELP = (
    "where the LayerNorm sits (arXiv 2510.22026): post (tokens on the sphere), pre (residual "
    "stream in R^d, attention on h/|h|), peri (pre + normalised attention output), ngpt (on the "
    "sphere, step --alpha), mix (post for t < --t-switch, pre after), lns (LN-Scaling: post "
    "slowed by sqrt(t + --t-offset))"
)


def norm_options() -> list:
    """``--norm``, ``--alpha``, ``--t-switch``, ``--t-offset``: the normalisation scheme
    (particles.field.norms)."""
    return [
        click.option(
            "--norm",
            type=LazyChoice(_norms, case_sensitive=False),
            cls=LibraryOption,
            library="particles.model.params:Dynamics.norm",
            help=NORM_HELP,
        ),
        click.option(
            "--alpha",
            type=float,
            cls=LibraryOption,
            library="particles.model.params:Dynamics.alpha",
            help="nGPT step size (--norm ngpt).",
        ),
        click.option(
            "--t-switch",
            type=float,
            default=None,
            help="Mix-LN: time of the switch from Post-LN to Pre-LN (required by --norm mix).",
        ),
        click.option(
            "--t-offset",
            type=float,
            cls=LibraryOption,
            library="particles.model.params:Dynamics.t_offset",
            help="LN-Scaling's clock offset c > 0: speed factor sqrt(t + c) (--norm lns).",
        ),
    ]


def _norms():
    from particles.model.params import NORMS

    return NORMS


def scheme_kwargs(norm, alpha, t_switch, t_offset=None) -> dict:
    """The scheme's keywords that were given (for Dynamics or PhaseParams); --alpha only with
    --norm ngpt, --t-switch with mix, --t-offset with lns."""
    if t_switch is not None and (norm or "").lower() != "mix":
        raise click.BadParameter("--t-switch goes with --norm mix", param_hint="--t-switch")
    if alpha is not None and (norm or "").lower() != "ngpt":
        raise click.BadParameter(
            "--alpha (nGPT's step size) goes with --norm ngpt", param_hint="--alpha"
        )
    if t_offset is not None and (norm or "").lower() != "lns":
        raise click.BadParameter(
            "--t-offset (LN-Scaling's clock offset) goes with --norm lns", param_hint="--t-offset"
        )
    return given(
        norm=None if norm is None else norm.lower(),
        alpha=alpha,
        t_switch=t_switch,
        t_offset=t_offset,
    )


def apply(options):
    """A decorator applying the click ``options`` (a list) in the order they are listed."""

    def decorate(fn):
        for o in reversed(options):
            fn = o(fn)
        return fn

    return decorate


def cluster_options(json_help: str):
    """``--delta`` (the library's cluster threshold) and ``--json`` (help ``json_help``): the
    options of the commands that summarise a saved run's clusters."""
    return apply(
        [
            click.option(
                "--delta",
                type=float,
                cls=LibraryOption,
                library="particles.analysis.clusters:DEFAULT_DELTA",
                help="Cluster threshold: particles i, j are linked when <x_i, x_j> > 1 - delta.",
            ),
            click.option("--json", "as_json", is_flag=True, help=json_help),
        ]
    )


#: ``--outdir``, ``--quick`` and ``--redraw`` of the modules' figure commands (``svm figure``,
#: ``scansnap figure``; ``particles figure`` writes into figures/ by default)
figure_options = apply(
    [
        click.option(
            "--outdir",
            type=PathArg(file_okay=False),
            default=".",
            show_default=True,
            help="Where the PNG and its .npz go.",
        ),
        click.option("--quick", is_flag=True, help="Small, fast version (seconds)."),
        click.option(
            "--redraw",
            is_flag=True,
            help="Draw the PNG again from the .npz saved in the output directory (no computation).",
        ),
    ]
)


def echo_run(run) -> None:
    """Print what a figure run (:class:`particles.plotting.figures.FigureRun`) wrote, and its
    report if the script has one."""
    click.echo(f"wrote {run.png}")
    if run.report:
        click.echo(run.report)
