"""Command line of ``particles`` (click), one module per command group.

This folder is installed as the package ``particles.cli``; it is not a top-level package.
"""

if __name__ == "cli":  # imported through the repository root on sys.path, not as particles.cli
    raise ImportError("the command line is the package particles.cli; import that, not cli")
