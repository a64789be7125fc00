"""The package's form: an acyclic import graph and short functions.

- The import graph of ``particles`` (including ``particles.cli``, the top-level ``cli/`` folder) is
  read from the source, imports inside functions included, and must have no cycle: a module low in
  the layers never reaches up, not even lazily.
- No function in ``particles/`` or ``cli/`` is longer than ``MAX_LINES`` lines, docstring excluded;
  a kernel that must be longer says why on the line before its ``def`` (``# long: <reason>``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 120


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the installed package."""
    mods = {}
    for base, prefix in ((ROOT / "particles", "particles"), (ROOT / "cli", "particles.cli")):
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([prefix, *parts])] = path
    return mods


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    pkg = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = pkg[: len(pkg) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in its body)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, path, node)
                # `from pkg import sub` imports the submodule; `from pkg import name` needs pkg
                targets = [f"{base}.{a.name}" for a in node.names]
                targets = [t if t in mods else base for t in targets]
            for t in targets:
                # the longest known module that t names (a module, or a name inside one)
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                return stack[stack.index(v) :] + [v]
            if v not in state and (c := visit(v)):
                return c
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (c := visit(u)):
            return c
    return None


def test_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def _long_functions():
    for path in [
        *sorted((ROOT / "particles").rglob("*.py")),
        *sorted((ROOT / "cli").rglob("*.py")),
    ]:
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines), str(path))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            doc = ast.get_docstring(node, clean=False) is not None
            start = body[1].lineno if doc and len(body) > 1 else body[0].lineno
            length = node.end_lineno - start + 1
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            excused = first >= 2 and lines[first - 2].strip().startswith("# long:")
            if length > MAX_LINES and not excused:
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)"


def test_no_function_is_longer_than_max_lines():
    long = list(_long_functions())
    assert not long, f"functions over {MAX_LINES} lines: " + "; ".join(long)


@pytest.mark.parametrize("module", ["particles.cli", "particles.cli.main"])
def test_the_cli_is_in_the_graph(module):
    assert module in import_graph()
