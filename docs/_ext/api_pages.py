"""The API reference: one page per module of ``particles``, written to ``docs/generated/api/``
when the build starts.

Each page shows the module's docstring, an autosummary table of its public names (its
``__all__``, or where it has none the public names it defines) and the full documentation of the
names it defines. A name a package re-exports (``particles.Dynamics``) is documented once, where
it is defined (``particles.model.params.Dynamics``), and the package's table links there.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import particles

DOCS = Path(__file__).resolve().parents[1]
OUT = DOCS / "generated" / "api"
SKIP = ("particles.cli",)  # the command line has its own page (sphinx-click)


def modules() -> list[str]:
    names = ["particles"]
    for info in pkgutil.walk_packages(particles.__path__, "particles."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        if info.name.startswith(SKIP):
            continue
        names.append(info.name)
    return sorted(names)


def _source(mod) -> str:
    try:
        return inspect.getsource(mod)
    except (OSError, TypeError):
        return ""


def public_names(mod) -> list[str]:
    if hasattr(mod, "__all__"):
        return list(mod.__all__)
    out = []
    for name, obj in vars(mod).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj) or hasattr(obj, "py_func"):
            if getattr(obj, "__module__", None) == mod.__name__:
                out.append(name)
        elif getattr(obj, "__module__", None) in (mod.__name__, None) and not callable(obj):
            if re.search(rf"^{re.escape(name)}\s*[:=]", _source(mod), flags=re.M):
                out.append(name)
    return out


def home(modname: str, name: str, all_modules: dict) -> str:
    """The module that defines ``modname.name``."""
    obj = getattr(all_modules[modname], name)
    if inspect.ismodule(obj):
        return obj.__name__
    where = getattr(obj, "__module__", None)
    if (inspect.isclass(obj) or inspect.isfunction(obj) or callable(obj)) and where in all_modules:
        return where
    for other, mod in all_modules.items():  # data: the module whose source assigns it
        if getattr(mod, name, None) is obj and re.search(
            rf"^{re.escape(name)}\s*[:=]", _source(mod), flags=re.M
        ):
            return other
    return modname


def directive(obj) -> str:
    if inspect.isclass(obj):
        return "autoclass"
    if callable(obj):
        return "autofunction"
    return "autodata"


def page(modname: str, all_modules: dict) -> str:
    mod = all_modules[modname]
    names = public_names(mod)
    # the tables name full paths: no current module for them (autosummary would refuse it)
    lines = [modname, "=" * len(modname), "", f".. automodule:: {modname}", ""]
    lines += [".. py:currentmodule:: None", ""]
    subs = [m for m in all_modules if m.rpartition(".")[0] == modname]
    if names:
        lines += [".. rubric:: Names", "", ".. autosummary::", ""]
        for name in names:
            obj = getattr(mod, name)
            if inspect.ismodule(obj):
                target = obj.__name__
            else:  # an alias (``Plan = Tiling``) links to the defined name
                own = getattr(obj, "__name__", name) if inspect.isclass(obj) else name
                target = f"{home(modname, name, all_modules)}.{own}"
            lines.append(f"   ~{target}")
        lines.append("")
    if subs:
        lines += [".. rubric:: Modules", "", ".. autosummary::", ""]
        lines += [f"   {s}" for s in subs] + [""]
    own = [
        n
        for n in names
        if not inspect.ismodule(getattr(mod, n)) and home(modname, n, all_modules) == modname
    ]
    for name in own:
        obj = getattr(mod, name)
        opts = ["   :members:", "   :show-inheritance:"] if inspect.isclass(obj) else []
        if directive(obj) == "autodata":
            opts = ["   :no-value:"]
        lines += [f".. {directive(obj)}:: {modname}.{name}", *opts, ""]
    return "\n".join(lines)


def write_pages(app=None) -> list[Path]:
    all_modules = {m: importlib.import_module(m) for m in modules()}
    OUT.mkdir(parents=True, exist_ok=True)
    written = []
    for modname in all_modules:
        path = OUT / f"{modname}.rst"
        text = page(modname, all_modules)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    for stale in set(OUT.glob("*.rst")) - set(written):
        stale.unlink()
    return written


def setup(app):
    app.connect("builder-inited", write_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
