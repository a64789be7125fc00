"""particles: Transformer tokens as interacting particles on the unit sphere."""

from .errors import ParticlesError

__all__ = ["ParticlesError"]
