"""The one exception type the library raises for bad input; the CLI turns it into a one-line error."""


class ParticlesError(ValueError):
    """Bad input or a bad file: the message says what is wrong and, where it can, what to do."""
