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
