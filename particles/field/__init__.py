"""The attention vector field (arXiv 2312.10794, eqs. 2.3–2.8)."""

from .inputs import *  # noqa: F403
from .inputs import METHODS, drift, velocity, velocity_rows  # noqa: F401
