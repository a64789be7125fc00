"""The module names of releases before the one-core layout, kept as aliases of the new modules.

``import particles.clusters`` gives the very module ``particles.analysis.clusters`` (same object,
so monkeypatching either name patches both); nothing is imported until an old name is used.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: old name -> module that now holds it
ALIASES = {
    "particles.energy": "particles.analysis.energy",
    "particles.clusters": "particles.analysis.clusters",
    "particles.equiangular": "particles.analysis.equiangular",
    "particles.circle": "particles.analysis.circle",
    "particles.repulsive": "particles.analysis.repulsive",
    "particles.wendel": "particles.analysis.wendel",
    "particles.phase": "particles.analysis.phase",
    "particles.integrate": "particles.solvers.integrate",
    "particles.ensemble": "particles.solvers.ensemble",
    "particles.fields": "particles.field",
    "particles.figscript": "particles.plotting.figures",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):  # the target module is already executed
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in ALIASES:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(ALIASES[fullname]))


def install() -> None:
    """Map the old names: at once for modules already imported (so that importing one later does
    not rebind an attribute of ``particles``, e.g. the function ``particles.energy``), lazily for
    the rest."""
    for old, new in ALIASES.items():
        if new in sys.modules:
            sys.modules.setdefault(old, sys.modules[new])
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
