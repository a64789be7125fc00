"""How the figures show the normalisation schemes (:mod:`particles.field.norms`): one name and one colour
per scheme, shared by every figure that compares them."""

from __future__ import annotations

#: display names of the schemes of ``Dynamics(norm=...)``
NAMES = {
    "post": "Post-LN",
    "pre": "Pre-LN",
    "peri": "Peri-LN",
    "ngpt": "nGPT",
    "mix": "Mix-LN",
    "lns": "LN-Scaling",
}
#: matplotlib colours of the schemes
COLORS = {"post": "C0", "pre": "C3", "peri": "C2", "ngpt": "C1", "mix": "C4", "lns": "C5"}
#: every scheme, in the order the figures draw them
SCHEMES = tuple(NAMES)
#: line styles of the schemes: schemes whose curves can coincide (Post-LN and Mix-LN before the
#: switch, Pre-LN and Peri-LN in the equiangular model) differ in style, so both stay visible
LINESTYLES = {
    "post": "-",
    "pre": "-",
    "peri": (0, (5, 2)),
    "ngpt": "-",
    "mix": (0, (2, 1.5)),
    "lns": "-",
}
#: marker shapes of the schemes, for the same reason
MARKERS = {"post": "o", "pre": "s", "peri": "D", "ngpt": "v", "mix": "^", "lns": "P"}
