"""The ``particles`` command: one click group whose sub-commands are loaded lazily.

Each sub-command lives in ``cli/<module>.py``; listing it here keeps ``particles --help`` fast
(no numba import) and lets a command whose module is absent simply not appear.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

# command name -> (module, attribute)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("cli.simulate", "simulate"),
    "info": ("cli.simulate", "info"),
    "histogram": ("cli.analyze", "histogram"),
    "clusters": ("cli.analyze", "clusters"),
    "animate": ("cli.analyze", "animate"),
    "figure": ("cli.figure", "figure"),
    "phase": ("cli.phase", "phase"),
    "sweep": ("cli.phase", "sweep"),
    "bench": ("cli.bench", "bench"),
    "svm": ("cli.svm", "svm"),
    "scansnap": ("cli.scansnap", "scansnap"),
    "transformer": ("cli.transformer", "transformer"),
    "models": ("cli.transformer", "models"),
}


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when it is used."""

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
