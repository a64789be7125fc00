"""Imported first by ``particles/__init__``: under the ``particles`` console script, a Ctrl-C or
SIGTERM during the heavy imports that follow ends the program quietly
(:func:`particles.interrupts.startup_guard`); elsewhere nothing happens."""

from .interrupts import startup_guard

startup_guard()
