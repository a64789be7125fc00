"""README.md and the documentation pages it points to stay true: their Python snippets run (at
reduced sizes) and every command they show, and every example in the commands' --help, names
commands and options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import numpy as np
import pytest

from particles.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
#: the README and the site's pages that took over its reference text (the getting-started page, the
#: user guide's pages and the development page): their snippets and commands are checked here
PAGES = [
    "README.md",
    "docs/getting_started.md",
    "docs/develop.md",
    *(
        f"docs/guide/{name}.md"
        for name in (
            "model",
            "integrators",
            "clustering",
            "phase",
            "noise",
            "normalisation",
            "transformer",
            "svm",
            "scansnap",
            "scale",
            "cli",
        )
    ),
]
README = "\n".join((ROOT / page).read_text() for page in PAGES)


def blocks(lang: str) -> list[str]:
    """The distinct ``lang`` blocks of the pages (a block shown on two pages counts once)."""
    found = re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)
    return list(dict.fromkeys(found))


def block(first_line: str) -> str:
    """The python block of the pages that contains ``first_line``."""
    (b,) = [b for b in blocks("python") if first_line in b]
    return b


def shrink(src: str, reps: list[tuple[str, str]]) -> str:
    """``src`` with each (old, new) replaced; every old must occur (else the README changed)."""
    for old, new in reps:
        assert old in src, f"README snippet changed, update tests/test_readme.py: {old!r}"
        src = src.replace(old, new)
    return src


def run_block(src: str, cwd: Path) -> str:
    """Run ``src`` as a script (``python script.py``) in a fresh interpreter in ``cwd``: no names
    from other blocks, and ``__name__ == "__main__"`` as when a reader saves and runs it. Returns
    its output; a failure shows it."""
    import subprocess
    import sys

    script = cwd / "snippet.py"
    script.write_text(src)
    r = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, f"README block failed:\n{src}\n--- output:\n{r.stdout}{r.stderr}"
    return r.stdout


#: each Python block of the README at reduced sizes (every old string must occur in the block)
BASIC = [("t_end=30.0", "t_end=3.0")]
NOISE = [
    ("t_end=20.0", "t_end=1.0"),
    ("10_000", "500"),
    ("4.0, 1.0, 10.0, rng=1", "4.0, 1.0, 1.0, rng=1"),
]
NORMS = [("t_end=100.0", "t_end=10.0")]
DASK = [
    ("n=2000", "n=64"),
    ("np.linspace(0, 2, 21)", "np.linspace(0, 0.5, 6)"),
    ("t_end=2.0", "t_end=0.5"),
]
CHECKS = {
    "x0 = pt.random_points(n=64, d=3, rng=0)  # uniform": (
        BASIC,
        "assert traj.x.shape[1:] == (64, 3) and np.all(np.diff(traj.energy()) >= -1e-12)\n"
        'import os; assert os.path.exists("traj.npz")',
    ),
    "kappa=2.0": (NOISE, 'assert traj.meta["noise_seed"] == 7 and branch.fold is not None'),
    'norm="pre"': (NORMS, "assert np.all(traj.radii()[-1] > 1)  # the Pre-LN stream grows"),
}


def test_readme_python_blocks_are_all_checked():
    # basic, Dask/zarr, noise, normalisations, and the getting-started page's simulation and
    # figure: one test each
    assert len(blocks("python")) == 6
    assert len(CHECKS) == 3  # + the Dask/zarr block and the getting-started pair, below


def test_getting_started_blocks_run_in_order(tmp_path):
    """The getting-started page's simulation, then its figure (which uses the simulation's
    ``traj``), as one script."""
    first = shrink(block("print(traj.x.shape, pt.min_inner"), [("t_end=20.0", "t_end=2.0")])
    src = first + "\n" + block("plot_cluster_counts(ax") + "\n"
    out = run_block(src, tmp_path)
    assert "(101, 64, 3)" in out and (tmp_path / "counts.png").exists()


def test_readme_is_short_and_points_into_the_site():
    """The README keeps what a visitor needs first (the two commands, the ten-line example, a
    picture, links into the site); its reference text lives in the site's pages."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 80
    assert "pip install -e . && particles simulate" in text and "python -m pytest" in text
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert "docs/getting_started.md" in links and "docs/api.md" in links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing


@pytest.mark.parametrize("first", list(CHECKS), ids=["basic", "noise", "norms"])
def test_readme_python_block_runs_on_its_own(tmp_path, first):
    """Each block runs pasted alone into a fresh interpreter (every name it uses it defines)."""
    reps, check = CHECKS[first]
    run_block(shrink(block(first), reps) + "\n" + check + "\n", tmp_path)


def test_readme_dask_block_is_a_script_that_fits_the_machine():
    """The Dask block guards its work by ``if __name__ == "__main__":`` (workers are new processes
    that import the script) and asks for no more workers than a small machine has cores."""
    src = block("LocalCluster")
    assert 'if __name__ == "__main__":' in src
    workers = [int(w) for w in re.findall(r"n_workers=(\d+)", src)]
    assert workers and max(workers) <= 2, workers


def test_readme_python_dask_and_zarr(tmp_path):
    pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    pytest.importorskip("xarray")
    out = run_block(shrink(block("LocalCluster"), DASK), tmp_path)
    assert "xarray.Dataset" in out and (tmp_path / "run.zarr").is_dir()


def command_lines(text: str) -> list[str]:
    """The ``particles ...`` command lines of ``text`` as written (continuations joined, comments
    dropped; a line chaining commands with ``&&`` gives its ``particles`` parts)."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        out += [p.strip() for p in line.split("&&") if p.strip().startswith("particles ")]
    return out


def commands(text: str) -> list[list[str]]:
    """The ``particles ...`` commands of ``text``, split into arguments (program name dropped)."""
    return [shlex.split(line)[1:] for line in command_lines(text)]


def check_names(args: list[str]) -> None:
    """The sub-command path of ``args`` exists and each option it passes is one of that command's."""
    cmd, ctx = main, click.Context(main, info_name="particles")
    while isinstance(cmd, click.Group) and args and not args[0].startswith("-"):
        sub = cmd.get_command(ctx, args[0])
        if sub is None and cmd is not main:  # a group with a default command (transformer)
            break
        assert sub is not None, f"no command {args[0]!r}"
        cmd, ctx, args = sub, click.Context(sub, info_name=args[0], parent=ctx), args[1:]
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}
    for a in args:
        if a.startswith("-") and not re.fullmatch(r"-[\d.]+(e-?\d+)?", a):
            assert a.split("=")[0] in known, f"{cmd.name}: no option {a}"


def readme_commands() -> list[list[str]]:
    return [c for b in blocks("bash") for c in commands(b)]


def test_readme_commands_are_commands_not_placeholders():
    """A line shown as a command runs as written: no ``...``, no ``[--optional]`` brackets, no
    ``NAME``/``FILE`` to fill in."""
    lines = [ln for b in blocks("bash") for ln in command_lines(b)]
    assert len(lines) > 20
    for line in lines:
        assert "..." not in line and "…" not in line, line
        assert not re.search(r"\[-", line), line
        assert not re.search(r"\b(FILE|NAME|DIR|HOST|ADDRESS|PATH|RUN|OPTIONS)\b", line), line


#: the options through which a command writes a file or directory
WRITES = ("--out", "--plot", "--data", "--store", "--outdir")


def test_readme_commands_do_not_overwrite_each_others_output():
    """No two different README commands write the same file (one would silently replace the
    other); the same command twice (the quick start and the command list) is the same file."""
    writer: dict[str, str] = {}
    for b in blocks("bash"):
        for line in command_lines(b):
            args = shlex.split(line)
            for opt, val in zip(args, args[1:], strict=False):
                if opt in WRITES:
                    assert writer.setdefault(val, line) == line, (val, writer[val], line)
    assert {"run.npz", "t.npz", "tr.npz", "big.zarr"} <= set(writer)


@pytest.mark.parametrize("args", readme_commands(), ids=lambda a: " ".join(a)[:60])
def test_readme_commands_name_existing_options(args):
    check_names(args)


def help_examples() -> list[list[str]]:
    out = []

    def walk(cmd, ctx):
        out.extend(commands(cmd.help or ""))
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                walk(sub, click.Context(sub, info_name=name, parent=ctx))

    walk(main, click.Context(main, info_name="particles"))
    return out


def test_every_help_example_names_existing_options():
    examples = help_examples()
    assert len(examples) > 50
    for args in examples:
        check_names(args)


def test_check_names_catches_stale_options():
    with pytest.raises(AssertionError, match="no option --nope"):
        check_names(["simulate", "--n", "4", "--nope", "1"])
    with pytest.raises(AssertionError, match="no command"):
        check_names(["simulat", "--n", "4"])
    check_names(["meanfield", "theory", "--beta", "-1"])  # a negative number is a value


def test_shared_options_have_the_same_help_everywhere():
    """An option that means the same in every command says so in the same words."""
    helps: dict[str, set] = {}

    def walk(cmd, ctx):
        for p in cmd.params:
            if isinstance(p, click.Option):
                helps.setdefault(p.opts[0], set()).add((p.help or "").strip())
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                walk(sub, click.Context(sub, info_name=name, parent=ctx))

    walk(main, click.Context(main, info_name="particles"))
    for opt in ("--quiet", "--quick", "--redraw", "--kind"):
        assert len(helps[opt]) == 1 and "" not in helps[opt], (opt, helps[opt])


def guide_pages() -> list[Path]:
    return sorted((ROOT / "docs" / "guide").glob("*.md"))


def test_cited_tests_exist():
    """Every ``test_x.py::test_name`` that README.md and docs/ cite is a test of that file."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *guide_pages()]
    refs = {r for p in docs for r in re.findall(r"(test_\w+\.py)::(\w+)", p.read_text())}
    assert refs
    for file, name in sorted(refs):
        src = (ROOT / "tests" / file).read_text()
        assert re.search(rf"^def {name}\(", src, flags=re.M), f"{file}::{name} is cited but gone"


def resolve(name: str):
    """The object a dotted name ``particles.a.b`` stands for (module, then attributes)."""
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    for a in parts[i:]:
        obj = getattr(obj, a)
    return obj


def test_cited_names_and_paths_exist():
    """The ``particles.x.y`` names and the repository paths README.md and docs/ cite exist."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *guide_pages()]
    text = "\n".join(p.read_text() for p in docs)
    names = set(re.findall(r"`(particles(?:\.\w+)+)", text))
    assert len(names) > 20
    for name in sorted(names):
        resolve(name)  # AttributeError / ImportError name what went stale
    paths = set(re.findall(r"`((?:particles|tests|benchmarks|figures|cli|docs)/[\w./-]+)", text))
    assert len(paths) > 10
    missing = [p for p in sorted(paths) if not (ROOT / p.split("::")[0]).exists()]
    assert not missing, missing


#: README command lines that run in about a second each: run verbatim, in this order (the later
#: ones read run.npz); the others are checked for names only (above) and run by their own tests
FAST = (
    "simulate --n 64 --d 3 --beta 1 --kind SA",
    "info run.npz",
    "clusters run.npz",
    "histogram run.npz",
    "meanfield solve",
    "meanfield theory",
    "svm train",
    "svm solve",
    "scansnap train",
    "figure --list",
    "figure fig3_phase_diagrams --quick",
)


def test_fast_readme_commands_run_verbatim(tmp_path, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.chdir(tmp_path)
    lines = readme_commands()
    for prefix in FAST:
        (args,) = {tuple(a) for a in lines if " ".join(a).startswith(prefix)}  # one command
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, (args, r.output)
        assert "Traceback" not in r.output
    assert (tmp_path / "run.png").exists() and (tmp_path / "h.png").exists()
    assert (tmp_path / "figs" / "fig3_phase_diagrams.png").exists()  # --outdir made for it


@pytest.mark.slow
def test_readme_transition_command_runs_verbatim(tmp_path, monkeypatch):
    """The PDE sweep of the README (~20 s): it resolves the beta = 6 cluster (the grid it showed
    before, kappa up to 2 at dt = 0.01, blew up)."""
    from click.testing import CliRunner

    from particles.analysis.transition import TransitionResult

    monkeypatch.chdir(tmp_path)
    (args,) = [a for a in readme_commands() if a[0] == "transition" and "pde" in a]
    r = CliRunner().invoke(main, [*args, "--quiet"])
    assert r.exit_code == 0, r.output
    res = TransitionResult.load(tmp_path / "t.npz")
    assert np.any((res.r_down > 0.7) & (res.r_up < 0.05))  # hysteresis: both states, one kappa
