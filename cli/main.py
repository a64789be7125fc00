"""The ``particles`` command: one click group whose sub-commands are loaded lazily.

Each sub-command lives in ``cli/<module>.py`` (installed as ``particles.cli.<module>``); listing it here keeps ``particles --help`` fast
(no numba import) and lets a command whose module is absent simply not appear.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from particles import interrupts

# command name -> (module, attribute)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("particles.cli.simulate", "simulate"),
    "info": ("particles.cli.simulate", "info"),
    "histogram": ("particles.cli.analyze", "histogram"),
    "clusters": ("particles.cli.analyze", "clusters"),
    "animate": ("particles.cli.analyze", "animate"),
    "view": ("particles.cli.view", "view"),
    "figure": ("particles.cli.figure", "figure"),
    "phase": ("particles.cli.phase", "phase"),
    "sweep": ("particles.cli.phase", "sweep"),
    "bench": ("particles.cli.bench", "bench"),
    "svm": ("particles.cli.svm", "svm"),
    "scansnap": ("particles.cli.scansnap", "scansnap"),
    "transformer": ("particles.cli.transformer", "transformer"),
    "models": ("particles.cli.transformer", "models"),
    "meanfield": ("particles.cli.meanfield", "meanfield"),
    "transition": ("particles.cli.meanfield", "transition"),
}


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when it is used.

    Ctrl-C and SIGTERM end any command with one line on stderr and exit status 130 (Ctrl-C) or 143
    (SIGTERM), 128 + the signal's number; the first signal interrupts, later ones are ignored
    while the command saves what it has (:mod:`particles.interrupts`)."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=standalone_mode, **kwargs)
        code = None
        with interrupts.command_line():
            while True:  # a signal that arrives while the first one is reported is ignored
                try:
                    if code is None:
                        return super().main(*args, standalone_mode=standalone_mode, **kwargs)
                    interrupts.ignore_further()
                    sys.exit(code)
                except KeyboardInterrupt as e:
                    if code is None:
                        code = interrupts.exit_code(e)
                        _report(e)

    def make_context(self, *args, **kwargs):
        try:  # parsing the arguments (and loading a sub-command's module)
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as e:
            _exit_interrupted(e)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            _exit_interrupted(e)

    def list_commands(self, ctx):
        return sorted(
            name for name, (mod, _) in COMMANDS.items() if importlib.util.find_spec(mod) is not None
        )

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        mod, attr = COMMANDS[name]
        if importlib.util.find_spec(mod) is None:
            return None
        return getattr(importlib.import_module(mod), attr)


def _exit_interrupted(e: KeyboardInterrupt):
    """Report ``e`` and exit with 128 + its signal, before click turns it into "Aborted!" and
    status 1."""
    interrupts.ignore_further()
    _report(e)
    raise click.exceptions.Exit(interrupts.exit_code(e)) from None


def _report(e: BaseException) -> None:
    """One line on stderr for an interrupt that no command reported."""
    what = interrupts.signal_name(interrupts.signum_of(e))
    msg = str(e) if isinstance(e, KeyboardInterrupt) and str(e) and str(e) != "SIGTERM" else ""
    click.echo(msg or f"interrupted ({what})", err=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="particles")
def main():
    """Attention dynamics: Transformer tokens as interacting particles on the unit sphere.

    \b
    Examples:
      particles simulate --n 64 --d 3 --beta 1 --t-end 20 --seed 0 --out run.npz --plot run.png
      particles info run.npz
    """


if __name__ == "__main__":
    main()
