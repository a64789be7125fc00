"""The signals that stop a run: Ctrl-C (SIGINT) and SIGTERM (what batch schedulers such as Slurm
send before SIGKILL) are handled alike.

- In the library, both become a ``KeyboardInterrupt`` (SIGTERM as its subclass :class:`Terminated`)
  while :func:`particles.simulate` runs (:func:`sigterm_raises`), so a run saves its state
  whichever arrives; writes hold both until the file is complete (:func:`held`).
- The command line exits with 128 + the signal's number (:func:`exit_code`): 130 after Ctrl-C, 143
  after SIGTERM, with one line saying what was saved. Its handler (:class:`Latch`) raises on the
  first signal and ignores the next ones, so a double Ctrl-C cannot cut the saving short; the
  program then exits with the first signal's code.
- While ``particles`` is being imported by the ``particles`` console script (numpy, numba, scipy:
  about a second), a signal ends the program at once with one line and the same exit codes
  (:func:`startup_guard`).

Standard library only: this module is imported first, before the heavy imports.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading

#: the signals that stop a run (the second exists on POSIX and, as a constant, on Windows)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's ``KeyboardInterrupt`` (so every ``except KeyboardInterrupt``
    that saves a run's state saves it for SIGTERM too)."""

    signum = int(signal.SIGTERM)


def signum_of(exc: BaseException) -> int:
    """The signal an interrupt came from: SIGTERM for :class:`Terminated` (and an
    :class:`~particles.Interrupted` that records it), else SIGINT."""
    return int(getattr(exc, "signum", signal.SIGINT))


def exit_code(exc: BaseException) -> int:
    """The command line's exit status after the interrupt ``exc``: 128 + the signal's number
    (130 for Ctrl-C, 143 for SIGTERM), the shell's convention."""
    return 128 + signum_of(exc)


def signal_name(signum: int) -> str:
    return "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"


def _raise_for(signum: int):
    if signum == signal.SIGTERM:
        raise Terminated("SIGTERM")
    raise KeyboardInterrupt


def _raise_terminated(signum, frame):
    _raise_for(signum)


class Latch:
    """The command line's handler of SIGINT and SIGTERM: the first signal raises
    (``KeyboardInterrupt`` or :class:`Terminated`), later ones are ignored: the program is saving
    and exiting."""

    def __init__(self):
        self.signum: int | None = None

    def __call__(self, signum, frame):
        if self.signum is None:
            self.signum = int(signum)
            _raise_for(signum)


def _raising(handler) -> bool:
    """Whether ``handler`` turns its signal into an exception (the ones :func:`held` may hold)."""
    return (
        handler is signal.default_int_handler
        or handler is _raise_terminated
        or isinstance(handler, Latch)
    )


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_raises():
    """Within the block, SIGTERM raises :class:`Terminated` instead of ending the process (main
    thread, and only while SIGTERM has its default action: a handler of the caller is kept)."""
    if not _main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def held(deliver: bool = True):
    """Hold SIGINT and SIGTERM while the block runs: a signal that arrives inside is recorded and,
    with ``deliver``, raised once the block has finished (never in its middle); ``deliver=False``
    drops it. Effective in the main thread for the signals whose handler raises (Python's default
    SIGINT handler, :func:`sigterm_raises`, the command line's :class:`Latch`); inside an outer
    ``held`` the block runs unchanged."""
    if not _main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    mine = [s for s, h in previous.items() if _raising(h)]
    if not mine:
        yield
        return
    pending: list[int] = []
    for s in mine:
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for s in mine:
            signal.signal(s, previous[s])
    if pending and deliver:
        previous[pending[0]](pending[0], None)  # raises as that signal would have


@contextlib.contextmanager
def command_line():
    """For the command line's whole run: SIGINT and SIGTERM go to one :class:`Latch` (main thread,
    signals with their default action only; the previous handlers are restored at the end)."""
    if not _main_thread():
        yield None
        return
    latch = Latch()
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    # an ignored signal stays ignored (nohup, a background job), a handler of the caller is kept
    mine = [
        s
        for s, h in previous.items()
        if h in (signal.default_int_handler, signal.SIG_DFL, _quit_while_starting)
    ]
    for s in mine:
        signal.signal(s, latch)
    try:
        yield latch
    finally:
        for s in mine:
            # the console script's process is exiting: Python's finalisation would reset a Python
            # handler to the default action, so a second Ctrl-C there would kill it (status -2)
            exiting = previous[s] is _quit_while_starting
            signal.signal(s, signal.SIG_IGN if exiting else previous[s])


def ignore_further() -> None:
    """From now on ignore SIGINT and SIGTERM (the program is exiting)."""
    if _main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)


# --- the console script's start ----------------------------------------------------------------

_SCRIPT = re.compile(r"particles(-script\.pyw?|\.exe)?")


def _quit_while_starting(signum, frame):
    ignore_further()
    sys.stderr.write(f"particles: {signal_name(signum)} while starting; nothing was done\n")
    sys.stderr.flush()
    raise SystemExit(128 + int(signum))


def startup_guard() -> None:
    """When the process is the ``particles`` console script, make SIGINT and SIGTERM end it
    quietly (one line, exit 130 or 143) until the command line installs its own handlers: the
    imports of numpy, numba and scipy take about a second. Does nothing otherwise (a program that
    imports ``particles`` keeps its signal handling)."""
    main = sys.modules.get("__main__")
    name = os.path.basename(getattr(main, "__file__", None) or "")
    if not _SCRIPT.fullmatch(name) or not _main_thread():
        return
    for s in STOP_SIGNALS:
        if signal.getsignal(s) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(s, _quit_while_starting)
