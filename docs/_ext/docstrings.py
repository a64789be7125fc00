"""Read the project's docstrings as reStructuredText without editing them.

The docstrings follow the diffrax convention (``**Arguments:**`` then a list) and often start a
list right under a paragraph line; reStructuredText wants a blank line before a list. This hook
inserts it, so the docstrings stay as they read in ``help()``.
"""

from __future__ import annotations

import re

BULLET = re.compile(r"^(\s*)([-*+]|\d+\.) \S")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def blank_before_lists(lines: list[str]) -> list[str]:
    """``lines`` with a blank line before each list that follows a paragraph line directly, and
    after a list that a less-indented paragraph continues."""
    out: list[str] = []
    in_list_at: int | None = None
    block_at: int | None = None  # inside a literal block (after a ``::`` paragraph)
    for line in lines:
        if block_at is not None and line.strip() and _indent(line) <= block_at:
            block_at = None
        if block_at is not None and not line.rstrip().endswith("::"):
            out.append(line)
            continue
        if line.rstrip().endswith("::"):
            block_at = _indent(line)
        m = BULLET.match(line)
        prev = out[-1] if out else ""
        if m:
            if prev.strip() and in_list_at is None:
                out.append("")
            in_list_at = len(m.group(1)) if in_list_at is None else min(in_list_at, len(m.group(1)))
        elif line.strip() and in_list_at is not None and _indent(line) <= in_list_at:
            if prev.strip():
                out.append("")
            in_list_at = None
        elif not line.strip():
            pass
        out.append(line)
    return out


LITERAL = re.compile(r"(``.*?``|`[^`]*`_?|:\w+:`[^`]*`)")


def literal_blocks(lines: list[str]) -> list[str]:
    """An indented block after a blank line (a formula set apart) reads as preformatted text, as in
    ``help()``: a ``::`` paragraph is put before it unless the paragraph above ends with ``::`` or
    is a list item, a field or a directive (whose bodies are indented)."""
    out: list[str] = []
    para: str | None = None  # first line of the paragraph above
    last: str | None = None  # last non-blank line
    blank = False
    block_at: int | None = None
    for line in lines:
        stripped = line.strip()
        if not stripped:
            blank = True
            out.append(line)
            continue
        if block_at is not None and _indent(line) <= block_at:
            block_at = None
        if (
            block_at is None
            and blank
            and last is not None
            and _indent(line) > _indent(last)
            and not last.rstrip().endswith("::")
            and not BULLET.match(para or "")
            and not (para or "").lstrip().startswith((".. ", ":", ">>>"))
        ):
            out += [" " * _indent(last) + "::", ""]
            block_at = _indent(last)
        elif block_at is None and last is not None and last.rstrip().endswith("::") and blank:
            block_at = _indent(last)
        if (blank or BULLET.match(line)) and block_at is None:
            para = line
        elif para is None:
            para = line
        out.append(line)
        if block_at is None:
            last = line
        blank = False
    return out


def _escape(text: str) -> str:
    """``|``, a lone ``*`` (not part of ``**bold**``) and a ``word_`` reference end escaped."""
    text = text.replace("|", "\\|")
    text = re.sub(r"(?<=\w)_(?=\W|$)", r"\\_", text)
    return re.sub(r"(?<![*\\])\*(?!\*)", r"\\*", text)


def escape_bars(lines: list[str]) -> list[str]:
    """``|x_i|`` (a norm) is written plainly in the docstrings; reStructuredText reads ``|x|`` as a
    substitution, and ``beta_*`` or ``h * rho`` as the start of emphasis. Escape ``|`` and a lone ``*`` in prose; literal text, literal blocks and tables keep theirs."""
    out: list[str] = []
    block_at: int | None = None  # indent of the paragraph that opened a literal block (``::``)
    for line in lines:
        stripped = line.strip()
        if block_at is not None and stripped and _indent(line) <= block_at:
            block_at = None
        if (
            block_at is not None
            or stripped.startswith((">>>", "... ", "+-", "+=", "| "))
            or not re.search(r"[|*]", line)
        ):
            out.append(line)
        else:
            bullet = re.match(r"^\s*\* ", line)  # a list's marker stays
            head, line = (bullet.group(0), line[bullet.end() :]) if bullet else ("", line)
            parts = LITERAL.split(line)
            out.append(head + "".join(p if i % 2 else _escape(p) for i, p in enumerate(parts)))
        if block_at is None and stripped.endswith("::"):
            block_at = _indent(line)
    return out


RELATIVE = re.compile(r":(mod|func|class|data|attr|meth):`\.([\w.]+)`")


def absolute_refs(lines: list[str], base: str) -> list[str]:
    """``:mod:`.sphere``` in the docstring of the package ``particles.model`` names
    ``particles.model.sphere``; written out, it stays unambiguous in the tables of other pages."""
    return [RELATIVE.sub(lambda m: f":{m.group(1)}:`~{base}.{m.group(2)}`", ln) for ln in lines]


def _process(app, what, name, obj, options, lines):
    if what == "module":
        base = name if hasattr(obj, "__path__") else name.rpartition(".")[0]
        lines[:] = absolute_refs(lines, base)
    if what in ("data", "attribute") and not callable(obj):
        doc = getattr(type(obj), "__doc__", None)
        own = doc.strip().splitlines() if isinstance(doc, str) else []
        if (
            own
            and [ln.strip() for ln in lines if ln.strip()][: len(own)]
            == [ln.strip() for ln in own if ln.strip()][: len(own)]
        ):
            lines[:] = []  # a constant without a doc comment: not its type's docstring
            return
    lines[:] = escape_bars(blank_before_lists(literal_blocks(lines)))


def _click_lines(app, ctx, lines):
    lines[:] = escape_bars(blank_before_lists(lines))


def setup(app):
    app.connect("autodoc-process-docstring", _process)
    for part in ("description", "options", "arguments", "epilog"):
        app.connect(f"sphinx-click-process-{part}", _click_lines)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
