"""Shared helpers for the click commands: one-line errors, parsing of number lists."""

from __future__ import annotations

import functools

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


class MethodChoice(click.Choice):
    """A ``--method`` option's type: the methods of the registry (:mod:`particles.solvers.registry`),
    read when the option is parsed or its help shown, so a method registered later is offered too.
    ``batched=True`` offers only those the ensembles can run (with a Runge–Kutta tableau)."""

    def __init__(self, batched: bool | None = None):
        self._batched = batched
        super().__init__((), case_sensitive=False)

    @property
    def choices(self):
        from particles.solvers import registry

        return registry.names(batched=self._batched)

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ assigns; the registry is the source
        pass


NORM_HELP = (
    "where the LayerNorm sits (arXiv 2510.22026): post (tokens on the sphere, default), pre "
    "(residual stream in R^d, attention on h/|h|), peri (pre + normalised attention output), "
    "ngpt (on the sphere, step --alpha), mix (post for t < --t-switch, pre after)"
)


def norm_options() -> list:
    """``--norm``, ``--alpha``, ``--t-switch``: the normalisation scheme (particles.norms)."""
    return [
        click.option(
            "--norm",
            type=click.Choice(["post", "pre", "peri", "ngpt", "mix"], case_sensitive=False),
            default="post",
            show_default=True,
            help=NORM_HELP,
        ),
        click.option(
            "--alpha",
            type=float,
            default=1.0,
            show_default=True,
            help="nGPT step size (--norm ngpt).",
        ),
        click.option(
            "--t-switch",
            type=float,
            default=None,
            help="Mix-LN: time of the switch from Post-LN to Pre-LN (required by --norm mix).",
        ),
    ]


def scheme_kwargs(norm, alpha, t_switch) -> dict:
    """The keywords of :class:`particles.Dynamics` for the scheme options (t_switch only for mix)."""
    norm = norm.lower()
    if t_switch is not None and norm != "mix":
        raise click.BadParameter("--t-switch goes with --norm mix", param_hint="--t-switch")
    return {"norm": norm, "alpha": alpha, "t_switch": t_switch}
