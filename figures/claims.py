"""The checker of figures/README.md: every number it quotes is recomputed from the figures' saved
.npz files.

Each figure script ``figures/<stem>.py`` defines ``claims(arrays, meta) -> dict``, computed from the
arrays and meta of its saved ``<stem>.npz`` alone (never from numbers the script stored ready-made):
``{name: value}`` for every number the README quotes about that figure: floats, ints, lists of
numbers, booleans (for qualitative claims that reduce to a yes/no test of the data) and markdown
tables (strings); shared helpers are in ``particles.plotting.claimtools``. ``FIGURES`` maps each tag
prefix to its script's stem (one figure, Fig. 4, whose claims read another figure's data, has its
function here). The README refers to them by ``prefix.name`` with HTML comments that GitHub does not
render:

- ``0.9946<!--claim:svm_e2.kqj_final_mean-->``: the number just before the tag (``**`` around it
  is allowed) must equal the value rounded to the printed precision (``0.9946`` has four
  decimals, ``6e-7`` one significant digit, ``97`` none, ``−0.14`` uses a Unicode minus);
- ``0.40, 0.30, 0.18<!--claims:ss_snap.drop_k2_z1-->``: a list (separated by ", " or " / "),
  checked element by element against a list value;
- ``<!--check:fig6h.g_sign-->``: a qualitative statement; the value must be ``True``;
- ``<!--table:fig3.boundary_table-->`` on its own line, followed by a markdown table that must
  equal the string value line for line;
- ``<!--inputs: 0.1 1e-3-->``: numbers of the section (heading to heading) that are inputs
  (parameters, paper values), not results, and so carry no tag;
- ``<!--untracked: reason-->``: a section whose numbers are not figure data (tests, solver
  checks); only allowed for a section that names no figure with a saved .npz.

``tests/test_figure_claims.py`` checks every tag and that every non-integer number (and every
percentage) of a checked section is either tagged or listed as an input; wall times (a number
followed by s, ms, min or h) are exempt.

Command line (from the repository root)::

    python figures/claims.py            # check figures/README.md against the .npz files
    python figures/claims.py --write    # rewrite the tagged numbers and tables in place
    python figures/claims.py --list     # print every claim name and value

``--write`` keeps each number's printed format (decimals, exponent, sign) and replaces tables
whole; review the diff, then fix any sentence whose wording no longer fits the new numbers.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"


def _load(data_dir: Path, stem: str):
    from particles.storage.npz import load_npz

    return load_npz(Path(data_dir) / f"{stem}.npz")


def fig4(data_dir=HERE) -> dict:
    """Fig. 4 of arXiv 2312.10794 (its claims read Fig. 3's data too, so they stay here)."""
    from scipy.sparse.csgraph import connected_components

    from particles.plotting.claimtools import grid_index

    a, meta = _load(data_dir, "fig4_circle_metastability")
    betas, P = a["betas"], a["P"]
    delta = meta["params"]["delta"]
    c: dict = {}
    for b in (4, 9):
        x = a[f"traj_beta{b}"]
        counts = [connected_components(xi @ xi.T > 1 - delta, directed=False)[0] for xi in x]
        c[f"traj_clusters_b{b}"] = counts[1:]  # t = 18, 30
        fc = a[f"final_clusters_beta{b}"]
        for k in range(1, int(fc.max()) + 1):
            if np.any(fc == k):
                c[f"pct_b{b}_k{k}"] = 100 * float(np.mean(fc == k))
    c["seeds"] = int(a["final_clusters_beta4"].size)
    p30 = P[:, -1]
    c["P30_b2"] = float(p30[grid_index(betas, 2)])
    c["P30_ge_0.8_up_to"] = float(betas[p30 >= 0.8].max())
    c["P30_ge_0.5_up_to"] = float(betas[p30 >= 0.5].max())
    # the d = 2 panel is the d = 2 panel of Fig. 3
    f3, _ = _load(data_dir, "fig3_phase_diagrams")
    c["same_as_fig3_d2"] = bool(np.array_equal(f3["P"][list(f3["d"]).index(2)], P))
    return c


def _script(stem: str):
    """The figure script ``figures/<stem>.py`` as a module."""
    import importlib.util

    name = f"figure_script_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{stem}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


#: prefix -> the function computing its claims from a data directory, or the stem of the figure
#: script whose ``claims(arrays, meta) -> dict`` computes them from its saved ``<stem>.npz``
FIGURES: dict[str, Callable[..., dict] | str] = {
    "fig2": "fig2_phase_regions",
    "fig3": "fig3_phase_diagrams",
    "fig4": fig4,
    "fig5": "fig5_random_weights",
    "fig6h": "fig6_hessian_g",
    "wendel": "wendel",
    "repulsive": "repulsive_shapes",
    "staircase": "staircase_d2",
    "ss_fig4": "scansnap_fig4",
    "ss_fig6": "scansnap_fig6",
    "ss_fig6a": "scansnap_fig6_authors",
    "ss_snap": "scansnap_snaptime",
    "ss_ode": "scansnap_ode",
    "ss_text": "scansnap_text",
    "tdepth": "transformer_depth",
    "tode": "transformer_ode",
    "norm_eq": "norm_equiangular",
    "norm_speed": "norm_clustering_speed",
    "norm_rw": "norm_random_weights",
    "norm_ngpt": "norm_ngpt_rate_portrait",
    "long_ctx": "long_context",
    "pre_ln": "transformer_pre_ln",
    "svm_e1": "svm_e1_trajectories",
    "svm_e2": "svm_e2_local_convergence",
    "svm_e3": "svm_e3_rank",
    "svm_e4": "svm_e4_multitoken",
    "svm_e5": "svm_e5_global_vs_local",
    "svm_lg": "svm_local_global_2d",
    "nbif": "noise_bifurcation",
    "nmode": "noise_mode_growth",
    "npp": "noise_pde_particles",
    "nphase": "noise_phase_diagram",
    "nfluct": "noise_fluctuations",
    "nesc": "noise_escape",
    "sk_clust": "sinkhorn_clustering",
    "nsph": "noise_pde_sphere",
    "hlead": "hardmax_leaders",
    "hlim": "hardmax_limit",
    "hchain": "hardmax_chain",
    "causal": "causal_renyi",
    "catlas": "causal_atlas",
}


@functools.cache
def _compute(prefix: str, data_dir: str) -> dict:
    f = FIGURES[prefix]
    if isinstance(f, str):
        return _script(f).claims(*_load(data_dir, f))
    return f(Path(data_dir))


def claim(key: str, data_dir=HERE):
    """The value of ``prefix.name`` (KeyError if unknown)."""
    prefix, _, name = key.partition(".")
    if prefix not in FIGURES:
        raise KeyError(f"unknown figure prefix {prefix!r} in {key!r}")
    values = _compute(prefix, str(Path(data_dir).resolve()))
    if name not in values:
        raise KeyError(f"{prefix}() has no claim {name!r}")
    return values[name]


NUM = r"[−-]?\d+(?:\.\d+)?(?:e[−-]?\d+)?"
_GROUPED = r"[−-]?\d{1,3}(?: \d{3})+(?:\.\d+)?"
_TAG = re.compile(r"<!--(claim|claims|check|table):([\w.]+)-->")
_CODE = re.compile(r"`[^`\n]*`")
_SEP = r"(?:, | / )"
_NUM_BEFORE = re.compile(rf"(?:(?<![\w.])({_GROUPED})|(?<![\w.])({NUM}))(\*\*)?$")
_LIST_BEFORE = re.compile(rf"(?<![\w.])((?:{NUM}){_SEP})+{NUM}(\*\*)?$")


def format_like(printed: str, value) -> str:
    """``value`` printed in the style of ``printed``: same decimals or significant digits in
    scientific notation, same minus sign, same thousands grouping ("100 000")."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"cannot print {value!r} as a number")
    uminus = "−" in printed
    grouped = " " in printed
    s = printed.replace("−", "-").replace(" ", "")
    m = re.fullmatch(r"-?\d+(?:\.(\d+))?(?:e(-?\d+))?", s)
    if not m:
        raise ValueError(f"not a number: {printed!r}")
    dec = len(m.group(1) or "")
    value = float(value)
    if m.group(2) is not None:
        mant, exp = f"{value:.{dec}e}".split("e")
        out = f"{mant}e{int(exp)}"
    else:
        out = f"{value:.{dec}f}"
        if re.fullmatch(r"-0(\.0*)?", out):
            out = out[1:]
        if grouped:
            whole, _, frac = out.partition(".")
            neg = whole.startswith("-")
            whole = whole.lstrip("-")
            groups = []
            while len(whole) > 3:
                groups.insert(0, whole[-3:])
                whole = whole[:-3]
            out = ("-" if neg else "") + " ".join([whole, *groups]) + ("." + frac if frac else "")
    return out.replace("-", "−") if uminus else out


@dataclass
class Tag:
    kind: str  # claim, claims, check, table
    key: str
    line: int  # 1-based
    start: int  # offset in the text of the printed number(s) or table
    end: int
    printed: str  # the number, the list or the table as printed ("" for check)


def parse_tags(text: str) -> list[Tag]:
    """Every tag of the README with the text it refers to."""
    tags = []
    code = [(c.start(), c.end()) for c in _CODE.finditer(text)]
    for m in _TAG.finditer(text):
        if any(a <= m.start() < b for a, b in code):
            continue  # an example in a code span, not a tag
        kind, key = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        before = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
        base = m.start() - len(before)
        if kind == "claim":
            nm = _NUM_BEFORE.search(before)
            if not nm:
                tags.append(Tag(kind, key, line, m.start(), m.start(), ""))
                continue
            g = 1 if nm.group(1) else 2
            tags.append(Tag(kind, key, line, base + nm.start(g), base + nm.end(g), nm.group(g)))
        elif kind == "claims":
            lm = _LIST_BEFORE.search(before)
            if not lm:
                tags.append(Tag(kind, key, line, m.start(), m.start(), ""))
                continue
            body = lm.group(0).removesuffix("**")
            tags.append(
                Tag(kind, key, line, base + lm.start(), base + lm.start() + len(body), body)
            )
        elif kind == "check":
            tags.append(Tag(kind, key, line, m.start(), m.start(), ""))
        else:  # table: the lines after the tag that start with "|"
            start = text.find("\n", m.end()) + 1
            end = start
            while end < len(text) and text.startswith("|", end):
                nxt = text.find("\n", end)
                end = len(text) if nxt < 0 else nxt + 1
            table = text[start:end].rstrip("\n")
            tags.append(Tag(kind, key, line, start, start + len(table), table))
    return tags


def _split_list(printed: str) -> list[str]:
    return re.split(_SEP, printed)


def _expected(tag: Tag, value) -> str:
    """What the README should print for ``tag`` given the claim's value."""
    if tag.kind == "claim":
        return format_like(tag.printed, value)
    if tag.kind == "claims":
        parts = _split_list(tag.printed)
        sep = ", " if ", " in tag.printed else " / "
        if not isinstance(value, list | tuple) or len(value) != len(parts):
            raise ValueError(f"list of {len(parts)} printed, claim has {value!r}")
        return sep.join(format_like(p, v) for p, v in zip(parts, value, strict=True))
    if tag.kind == "table":
        return str(value)
    raise ValueError(tag.kind)


def check(text: str | None = None, data_dir=HERE) -> tuple[list[str], int]:
    """Check every tag of ``text`` (default: figures/README.md) against the data.

    Returns ``(errors, count)``: one message per disagreement, and how many numbers, lists,
    checks and tables were verified (a list counts each of its numbers, a table each cell).
    """
    text = README.read_text() if text is None else text
    errors, count = [], 0
    for tag in parse_tags(text):
        where = f"README line {tag.line} [{tag.kind}:{tag.key}]"
        try:
            value = claim(tag.key, data_dir)
        except KeyError as e:
            errors.append(f"{where}: {e}")
            continue
        if tag.kind == "check":
            count += 1
            if not isinstance(value, bool | np.bool_) or not value:
                errors.append(f"{where}: the data say {value!r}, the text states it holds")
            continue
        if not tag.printed:
            errors.append(f"{where}: no number right before the tag")
            continue
        try:
            want = _expected(tag, value)
        except (TypeError, ValueError) as e:
            errors.append(f"{where}: {e}")
            continue
        count += (
            len(_split_list(tag.printed))
            if tag.kind == "claims"
            else (
                sum(r.count("|") - 1 for r in tag.printed.splitlines()[2:])
                if tag.kind == "table"
                else 1
            )
        )
        if want != tag.printed and tag.kind == "table":
            old, new = tag.printed.splitlines(), want.splitlines()
            diff = [
                f"\n    printed: {a}\n    data:    {b}"
                for a, b in zip(old, new, strict=False)
                if a != b
            ]
            if len(old) != len(new):
                diff.append(f"\n    {len(old)} rows printed, {len(new)} from the data")
            errors.append(f"{where}: the table differs from the data:" + "".join(diff))
        elif want != tag.printed:
            errors.append(f"{where}: printed {tag.printed!r}, the data give {want!r}")
    return errors, count


def write(path: Path = README, data_dir=HERE) -> int:
    """Rewrite the tagged numbers, lists and tables of ``path`` from the data; returns how many
    changed. Checks (``check:``) are not rewritten: a failing one needs new wording."""
    text = path.read_text()
    changed, out, pos = 0, [], 0
    for tag in sorted(parse_tags(text), key=lambda t: t.start):
        if tag.kind == "check" or not tag.printed:
            continue
        want = _expected(tag, claim(tag.key, data_dir))
        if want != tag.printed:
            out.append(text[pos : tag.start] + want)
            pos = tag.end
            changed += 1
    out.append(text[pos:])
    if changed:
        path.write_text("".join(out))
    return changed


# ---------------------------------------------------------------------------------------------
# Untagged numbers

_INPUTS = re.compile(r"<!--inputs:([^>]*)-->")
_UNTRACKED = re.compile(r"<!--untracked:[^>]*-->")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
#: words after which a number is a reference, not a value (theorem, figure, section, ...)
_REF_WORDS = (
    r"(?:Thm|Thms|Theorem|Fig\.|Figs\.|Figure|Prop|Lemma|Rem\.|Problem|App\.|Eq\.|p\.|item|items|v)"
)
_TOKEN = re.compile(rf"(?<![\w.§]){NUM}(?![\w.]\d)|(?<![\w.§])\d+(?= ?%)")
_UNITS = re.compile(r"^\s?(?:s|ms|min|h|µs)\b")


@dataclass
class Section:
    title: str
    line: int
    text: str


def sections(text: str) -> list[Section]:
    out, cur, start, title = [], [], 1, "(top)"
    for i, ln in enumerate(text.splitlines(keepends=True), 1):
        if ln.startswith("#"):
            out.append(Section(title, start, "".join(cur)))
            cur, start, title = [], i, ln.strip("# \n")
        cur.append(ln)
    out.append(Section(title, start, "".join(cur)))
    return out


def figure_stems(data_dir=HERE) -> set[str]:
    return {p.stem for p in Path(data_dir).glob("*.npz")}


def untagged(text: str | None = None, data_dir=HERE) -> list[str]:
    """Numbers of checked sections that carry no tag and are not listed as inputs.

    A number counts if it has a decimal point or an exponent, or is followed by "%". Numbers
    in code spans, references (Thm 6.7, Fig. 5, §9.1, (6.9), arXiv ids) and wall times are
    skipped. A section marked ``<!--untracked: ...-->`` is skipped, unless it names a figure
    with a saved .npz (then the marker is itself an error)."""
    text = README.read_text() if text is None else text
    stems = figure_stems(data_dir)
    problems = []
    for sec in sections(text):
        names_figure = any(f"{s}.png" in sec.text or f"{s}.py" in sec.text for s in stems)
        if _UNTRACKED.search(sec.text):
            if names_figure:
                problems.append(f"section {sec.title!r}: marked untracked but names a figure")
            continue
        allowed = set()
        for m in _INPUTS.finditer(sec.text):
            allowed.update(m.group(1).split())
        # blank out tagged spans, comments and code, keeping offsets (so lines stay right)
        body = sec.text
        spans = [
            (t.start, t.end) for t in parse_tags(body) if t.kind in ("claim", "claims", "table")
        ]
        chars = list(body)
        for a, b in spans:
            chars[a:b] = " " * (b - a)
        body = "".join(chars)
        for rx in (_COMMENT, _CODE):
            body = rx.sub(lambda m: " " * len(m.group(0)), body)
        used = set()
        for m in _TOKEN.finditer(body):
            tok = m.group(0)
            is_pct = not re.search(r"[.e]", tok) and re.match(r"\s?%", body[m.end() : m.end() + 2])
            if not (re.search(r"[.e]", tok.lstrip("−-")) or is_pct):
                continue
            pre = body[max(0, m.start() - 12) : m.start()]
            if re.search(rf"{_REF_WORDS}\s?$", pre) or re.search(r"arXiv\s*$", pre):
                continue
            if body[m.start() - 1 : m.start()] == "(" and body[m.end() : m.end() + 1] == ")":
                continue  # an equation number, e.g. (6.9)
            if _UNITS.match(body[m.end() : m.end() + 5]):
                continue
            if tok in allowed:
                used.add(tok)
                continue
            line = sec.line + body.count("\n", 0, m.start())
            problems.append(f"line {line} (section {sec.title!r}): untagged number {tok!r}")
        for tok in sorted(allowed - used):
            problems.append(f"section {sec.title!r}: input {tok!r} is listed but not used")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="rewrite tagged numbers and tables")
    ap.add_argument("--list", action="store_true", help="print every claim")
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--data-dir", type=Path, default=HERE)
    args = ap.parse_args(argv)
    if args.list:
        for prefix in FIGURES:
            for k, v in _compute(prefix, str(args.data_dir.resolve())).items():
                v = v if not isinstance(v, str) else "\n  " + v.replace("\n", "\n  ")
                print(f"{prefix}.{k} = {v}")
        return 0
    if args.write:
        n = write(args.readme, args.data_dir)
        print(f"{n} tagged values rewritten in {args.readme}")
    errors, count = check(args.readme.read_text(), args.data_dir)
    problems = untagged(args.readme.read_text(), args.data_dir)
    for e in errors + problems:
        print(e)
    print(f"{count} numbers checked, {len(errors)} disagree, {len(problems)} untagged or unused")
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
