"""Command line of ``particles`` (click). Each command lives in its own module."""
