"""Every command and option of the ``particles`` command line, driven with generated bad values
(issue 12 §2).

The commands are found by walking the click group (``list_commands``/``get_command``, recursively;
a group that runs without a sub-command, like ``transformer``, is a command too). For every
parameter, bad values are generated from its click type (:func:`bad_values`):

- ``INT``: not a number, a fraction, NaN, empty, a float spelling; negative, zero and huge (1e12)
- ``FLOAT``: not a number, empty; NaN, +-inf, negative, zero, huge (1e300, -1e300), tiny (1e-300)
- ``IntRange``/``FloatRange``: just outside each bound, not a number
- ``Choice`` (and the library-backed ``LazyChoice``/``MethodChoice``): an unknown name, empty
- ``Path`` read as input (:data:`INPUTS`): missing, a directory, empty string, and files of the
  wrong kind (a .npy array, a text file, an empty file, a truncated .npz, a particles file of
  another format, a checkpoint that holds no saved state; for ``.npy`` inputs a .npz, an empty/truncated .npy, complex, NaN and badly
  shaped arrays; for text inputs a binary file and an empty file)
- ``Path`` written as output: in a missing directory, a directory, empty, a wrong suffix
- ``Path`` of a directory to write into: an existing file, empty
- free text (``STRING``): per option, by what it holds (:data:`TEXT`): number lists, names, ...

plus the omission of every required parameter, and a table of options given where they do not
apply (:data:`NOT_APPLICABLE`). An option that applies only with others is tried with them
(:data:`CONTEXT`), so its values meet its own checks.

Each value replaces the parameter in a minimal valid invocation of its command (:data:`BASE`: tiny
sizes, in a scratch directory holding the fixture files), and the invocation must fail cleanly:

- exit code != 0, and only ``SystemExit`` raised (CliRunner turns any other exception into a result
  with ``exception`` set: that would be a traceback at the terminal);
- nothing on stdout, no Python warning of a kind shown by default, no "Traceback" anywhere;
- stderr is exactly one error line ``Error: <message>`` with a non-empty message; for click's
  usage errors (exit code 2) it may be preceded only by click's ``Usage: ...`` line, its
  ``Try '... --help' for help.`` line and blank lines (:func:`check_clean_error`);
- no file or directory is left behind in the scratch directory, and the fixtures are unchanged.

Values that are legitimately valid for an option are not papered over: they are classified in
:data:`VALID` with the reason, and run too (they must then succeed).
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from particles.cli.main import main
from tests.transformer_helpers import make_tiny_bert

# ------------------------------------------------------------------------------------------------
# the commands


def walk(group: click.Group, path: tuple[str, ...] = ()):
    """(path, command) of every command under ``group``; a group that can run without a
    sub-command is listed as a command too."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        p = (*path, name)
        if isinstance(cmd, click.Group):
            if cmd.invoke_without_command:
                yield p, cmd
            yield from walk(cmd, p)
        else:
            yield p, cmd


COMMANDS = {" ".join(p): cmd for p, cmd in walk(main)}

_SIM = ["--n", "4", "--d", "3", "--t-end", "0.2", "--saves", "3"]
_PHASE = ["--n", "4", "--d", "2", "--beta", "1", "--t-end", "0.2", "--seeds", "2", "--quiet"]
_SVM = ["--n", "2", "--T", "3", "--d", "3"]
_TRANSFORMER = ["--model", "tinybert", "--max-tokens", "8"]  # a random 2-layer BERT: no download

#: a minimal valid invocation of every command (tiny sizes); an option under test replaces its
#: value here or is added
BASE: dict[str, list[str]] = {
    "simulate": [*_SIM, "--out", "out.npz", "--quiet"],
    "info": ["run.npz"],
    "clusters": ["run.npz"],
    "histogram": ["run.npz", "--out", "h.png"],
    "animate": ["run.npz", "--out", "a.gif", "--max-frames", "2", "--dpi", "20"],
    "view": ["run.npz", "--out", "v.html"],
    "phase": [*_PHASE, "--out", "p.png"],
    "sweep": [*_PHASE, "--store", "st"],
    "bench": ["--n", "256", "--quiet"],
    "figure": ["wendel", "--quick", "--outdir", "."],
    "svm train": [*_SVM, "--iters", "2", "--out", "s.npz", "--quiet"],
    "svm solve": [*_SVM, "--out", "s.npz"],
    "svm figure": ["E1", "--quick", "--quiet", "--outdir", "."],
    "scansnap train": ["--iters", "5", "--out", "ss.npz", "--quiet"],
    "scansnap sweep": [
        *("--classes", "2", "--eta-z", "1", "--ratio", "1", "--seeds", "1", "--iters", "5"),
        *("--outdir", "sd", "--quiet"),
    ],
    "scansnap figure": ["fig4", "--quick", "--outdir", "."],
    "transformer": [*_TRANSFORMER, "--layers", "0,1", "--out", "t.npz", "--quiet"],
    "transformer compare-ode": [
        *_TRANSFORMER,
        *("--depth", "2", "--dt", "0.5", "--variants", "attention", "--steps-per-layer", "1"),
        *("--out", "c.npz", "--quiet"),
    ],
    "meanfield solve": [
        *("--beta", "4", "--kappa", "0.5", "--N", "16", "--dt", "0.05", "--t-end", "0.1"),
        *("--saves", "3", "--out", "mf.npz", "--quiet"),
    ],
    "meanfield theory": ["--beta", "1", "--d", "2", "--modes", "2"],
    "transition": [
        *("--d", "2", "--beta", "1.5", "--kappa", "1", "--n", "8", "--seeds", "1"),
        *("--dt", "0.05", "--t-relax", "0.1", "--t-avg", "0.5", "--out", "tr.npz", "--quiet"),
    ],
    "models fetch": ["minilm"],
    "models path": ["minilm"],
}

#: commands whose valid invocation is not run here (each takes seconds to minutes, or the network)
SLOW = {"bench", "figure", "svm figure", "scansnap figure"}

# ------------------------------------------------------------------------------------------------
# the values

INT_BAD = [
    *("abc", "1.5", "nan", "", "1e3", "-1", "0", "-1000000000000", "1000000000000"),
    *("9223372036854775808", "1+1j", "true"),  # 2**63 (past int64), complex, a bool spelling
]
FLOAT_BAD = [
    *("abc", "", "nan", "inf", "-inf", "-1", "0", "1e300", "-1e300", "1e-300"),
    *("1e308", "1e-320", "1+1j"),  # the largest float, a subnormal, complex
]
CHOICE_BAD = ["nonesuch", ""]

#: input files by what they should hold, and the wrong files to give instead
NPZ_IN = [
    *("missing.npz", "adir", "", "array.npy", "text.txt", "empty.npz", "trunc.npz", "other.npz"),
    *("garbage.npz", "notazip.npz"),  # random bytes; a zip archive that holds no arrays
    "nostate.npz",  # a checkpoint written before the first save time: no state to analyse
]
NPY_IN = [
    *("missing.npy", "adir", "", "run.npz", "text.txt", "empty.npy", "trunc.npy"),
    *("complex.npy", "nan.npy", "vector.npy", "noparticles.npy", "offsphere.npy", "ints3d.npy"),
    *("garbage.npy", "objects.npy", "strings.npy", "subnormal.npy", "inf.npy", "onecolumn.npy"),
]
TEXT_IN = ["missing.txt", "adir", "", "run.npz", "empty.txt"]
WHEEL_IN = ["missing.whl", "adir", "", "text.txt", "empty.npz", "run.npz"]
#: (command, parameter name) -> the kind of file it reads; every other Path parameter is an output
INPUTS = {
    ("info", "path"): NPZ_IN,
    ("clusters", "run"): NPZ_IN,
    ("histogram", "run"): NPZ_IN,
    ("animate", "run"): NPZ_IN,
    ("view", "run"): NPZ_IN,
    ("svm solve", "data_file"): NPZ_IN,
    ("simulate", "x0_path"): NPY_IN,
    ("transformer", "text_path"): TEXT_IN,
    ("transformer compare-ode", "text_path"): TEXT_IN,
    ("models fetch", "wheel"): WHEEL_IN,
}
FILE_OUT = ["nodir/out.npz", "adir", "", "out.txt"]
DIR_OUT = ["text.txt", ""]

INT_LIST = ["abc", "", "0", "-1", "1.5", "nan", "1e12", "4,abc", "1:0:1", "0:1e12:1", "0:4:0"]
FLOAT_LIST = ["abc", "", "nan", "inf", "-1", "1e300", "1:0:1", "0:1e12:1", "0:1:0", "1,nan"]
#: free-text options (click.STRING), by what they hold
TEXT = {
    ("phase", "n"): INT_LIST,
    ("phase", "d"): INT_LIST,
    ("phase", "beta"): FLOAT_LIST,
    ("phase", "scheduler"): ["", "nonesuch", "tcp://"],
    ("sweep", "n"): INT_LIST,
    ("sweep", "d"): INT_LIST,
    ("sweep", "beta"): FLOAT_LIST,
    ("sweep", "scheduler"): ["", "nonesuch", "tcp://"],
    ("histogram", "times"): [*FLOAT_LIST, "100", "-1,0"],
    ("view", "coords"): ["abc", "", "0,1", "0,0,1", "-1,0,1", "0,1,3", "1.5,0,1", "0,1,2,3", "nan"],
    ("bench", "sizes"): ["abc", "", "0", "-1", "1.5", "1e12", "7"],
    ("figure", "name"): ["nonesuch", "", "../pyproject", "adir"],
    ("svm solve", "alpha"): ["abc", "", "-1", "0", "0,1,2", "9,9", "nan", "1.5,0"],
    ("scansnap train", "text"): ["nonesuch", "", "adir", "empty.txt", "run.npz"],
    ("scansnap sweep", "classes"): INT_LIST,
    ("scansnap sweep", "seeds"): [*INT_LIST[:4], "1.5", "nan", "0:1e12:1"],
    ("scansnap sweep", "eta_z"): FLOAT_LIST,
    ("scansnap sweep", "ratio"): FLOAT_LIST,
    ("transformer", "passage"): ["nonesuch", "", "../x"],
    ("transformer", "model"): ["nonesuch", "", "adir", "text.txt"],
    ("transformer", "layers"): ["abc", "", "-1", "99", "1.5", "nan", "0,,99"],
    ("transformer compare-ode", "passage"): ["nonesuch", "", "../x"],
    ("transformer compare-ode", "model"): ["nonesuch", "", "adir", "text.txt"],
    ("transformer compare-ode", "variants"): ["nonesuch", "", ",", "attention,nonesuch"],
    ("meanfield theory", "beta"): FLOAT_LIST,
    ("meanfield theory", "d"): INT_LIST,
    ("transition", "beta"): FLOAT_LIST,
    ("transition", "kappa"): FLOAT_LIST,
    ("transition", "scheduler"): ["", "nonesuch", "tcp://"],
    ("simulate", "scheduler"): ["", "nonesuch", "tcp://"],
    ("models fetch", "name"): ["nonesuch", "", "../x", "adir"],
    ("models path", "name"): ["nonesuch", "", "../x", "adir"],
}

#: values that are legitimately valid, by (command, parameter) -> {value: why}; they are run and
#: must succeed (unless the command is in SLOW)
_BIG, _HUGE = "1000000000000", "9223372036854775808"
_SEED_OK = {"0": "seed 0 is a seed", _BIG: "any non-negative integer is a seed"}
_BETA_OK = {"0": "beta = 0 is the uniform-attention case", "1e-300": "tiny beta: nearly uniform"}
_T_OFFSET_OK = {
    "1e300": "LN-Scaling with a huge clock offset: the tokens barely move",
    "1e-300": "c -> 0: the clock 2 sqrt(t), which every integrator steps exactly",
}
VALID: dict[tuple[str, str], dict[str, str]] = {
    ("simulate", "seed"): _SEED_OK,
    ("simulate", "noise_seed"): _SEED_OK,
    ("simulate", "kappa"): {
        "inf": "no noise",
        "1e300": "nearly no noise",
        "1e-300": "overwhelming noise: every step draws a uniform direction",
    },
    ("simulate", "noise"): {
        "0": "no noise",
        "1e300": "overwhelming noise",
        "1e-300": "nearly no noise",
    },
    # rtol below scipy's floor (100 eps) is refused: scipy would warn and raise it silently
    ("simulate", "atol"): {
        "1e-300": "a pure relative tolerance",
        "1e300": "a pure absolute tolerance (a stream off the sphere may be large)",
    },
    ("simulate", "alpha"): {"1e-300": "a tiny nGPT step: the tokens barely move"},
    ("simulate", "checkpoint_every"): {
        "0": "a checkpoint at every saved time",
        "1e-300": "a checkpoint at every saved time",
        "1e300": "checkpoints only at the start, on a signal and at the end",
    },
    ("phase", "alpha"): {"1e-300": "a tiny nGPT step"},
    ("sweep", "alpha"): {"1e-300": "a tiny nGPT step"},
    ("simulate", "t_switch"): {
        "0": "Mix-LN switching at once: Pre-LN throughout",
        "1e-300": "switching at once",
        "1e300": "never switching: Post-LN throughout",
    },
    ("phase", "t_switch"): {
        "0": "Pre-LN throughout",
        "1e-300": "switching at once",
        "1e300": "Post-LN throughout",
    },
    ("sweep", "t_switch"): {
        "0": "Pre-LN throughout",
        "1e-300": "switching at once",
        "1e300": "Post-LN throughout",
    },
    ("simulate", "t_offset"): _T_OFFSET_OK,
    ("phase", "t_offset"): _T_OFFSET_OK,
    ("sweep", "t_offset"): _T_OFFSET_OK,
    ("transformer", "repeat"): {"0": "repeat the first layer past the trained depth"},
    ("meanfield solve", "concentration"): {"0": "the uniform density", "1e-300": "nearly uniform"},
    ("info", "path"): {
        "nostate.npz": "info shows a checkpoint that holds no state yet",
        "other.npz": "info describes every kind of particles result file",
    },
    ("simulate", "beta"): {**_BETA_OK, "inf": "hardmax attention (the euler layer map)"},
    ("phase", "beta"): {"inf": "the hardmax column alone (beta = inf, the euler layer map)"},
    ("sweep", "beta"): {"inf": "the hardmax column alone (beta = inf, the euler layer map)"},
    ("simulate", "t_end"): {"1e-300": "a tiny horizon: one step of that size"},
    ("simulate", "dt"): {"1e300": "dt above t_end: one step of size t_end"},
    ("phase", "seed"): _SEED_OK,
    ("sweep", "seed"): _SEED_OK,
    ("svm train", "seed"): _SEED_OK,
    ("svm solve", "seed"): _SEED_OK,
    ("scansnap train", "seed"): _SEED_OK,
    ("svm train", "iters"): {"0": "0 steps: the initialisation is the result"},
    ("scansnap train", "iters"): {"0": "0 steps: the initialisation is the result"},
    ("scansnap sweep", "iters"): {"0": "0 steps: the initialisation is the result"},
    ("svm train", "max_norm"): {
        "1e300": "a bound never reached: a plain run",
        "1e-300": "already reached at the start: W stays at its initialisation",
    },
    ("svm train", "lr"): {"1e-300": "a tiny step: W stays at its initialisation"},
    ("svm train", "record_every"): {"1000000000000": "only the start and the end are recorded"},
    ("scansnap train", "momentum"): {"0": "no momentum: plain SGD", "1e-300": "tiny momentum"},
    ("scansnap train", "eta_z"): {
        "0": "a frozen attention layer (eta_Z = 0) is a valid ablation",
        "1e-300": "a tiny rate: nearly frozen attention",
    },
    ("scansnap train", "ratio"): {
        "0": "eta_Y = 0: a frozen decoder",
        "1e-300": "a tiny decoder rate",
    },
    ("scansnap sweep", "eta_z"): {"0": "a frozen attention layer"},
    ("scansnap sweep", "ratio"): {"0": "a frozen decoder"},
    ("scansnap sweep", "seeds"): {"0": "seed 0 is a seed"},
    ("scansnap train", "common"): {"0": "no common tokens: every context token is distinct"},
    ("scansnap train", "context"): {
        "1000000000000": "the model sees token counts only: a long context costs nothing"
    },
    ("scansnap sweep", "context"): {
        "1000000000000": "the model sees token counts only: a long context costs nothing"
    },
    ("scansnap train", "record_every"): {"1000000000000": "only the start and the end recorded"},
    ("scansnap sweep", "momentum"): {"0": "no momentum: plain SGD", "1e-300": "tiny momentum"},
    ("transformer compare-ode", "dt"): {"1e-300": "tiny dt: the particles barely move"},
    ("meanfield solve", "beta"): {"0": "uniform interaction", "1e-300": "nearly uniform"},
    ("meanfield solve", "kappa"): {
        "inf": "no noise (the continuity equation)",
        "1e300": "nearly no noise",
        "1e-300": "overwhelming noise: the density is uniform at once",
    },
    ("meanfield solve", "eps"): {"0": "exactly uniform data", "1e-300": "nearly uniform data"},
    ("meanfield solve", "seed"): _SEED_OK,
    ("meanfield solve", "dt"): {"1e300": "dt above t_end: one step of size t_end"},
    ("meanfield solve", "t_end"): {"1e-300": "a tiny horizon: one step of that size"},
    ("transition", "seed"): _SEED_OK,
    ("transition", "kappa"): {"1e300": "nearly no noise"},
    ("meanfield theory", "kappa"): {
        "inf": "the noiseless rates",
        "1e300": "nearly noiseless",
        "1e-300": "every mode damped",
    },
}
# a value valid at 1e300 (1e-300) is valid at the largest float (at a subnormal) too, where the
# run's numbers stay finite: the same reason
#: refused instead: a subnormal kappa or beta (1/kappa, 1/beta overflow), a seed past int64 sums
_NOT_DERIVED = {
    ("simulate", "kappa", "1e-320"),
    ("simulate", "noise", "1e308"),
    ("meanfield solve", "kappa", "1e-320"),
    ("meanfield theory", "kappa", "1e-320"),
    ("meanfield solve", "beta", "1e-320"),
    ("transition", "seed", "9223372036854775808"),
    ("scansnap train", "context", "9223372036854775808"),  # refused: beyond 1e12 tokens
    ("scansnap sweep", "context", "9223372036854775808"),
}
for (_cmd, _name), _values in VALID.items():
    _values = VALID[_cmd, _name] = dict(_values)  # the tables share dicts: copy before adding
    for _near, _far in (("1e300", "1e308"), ("1e-300", "1e-320"), (_BIG, _HUGE)):
        if _near in _values and (_cmd, _name, _far) not in _NOT_DERIVED:
            _values.setdefault(_far, _values[_near])
    if (_cmd, _name, _HUGE) in _NOT_DERIVED:
        _values.pop(_HUGE, None)

#: options given where they do not apply: (command, extra arguments replacing BASE's) -> the
#: option the error must name
NOT_APPLICABLE: list[tuple[str, list[str], str]] = [
    ("simulate", ["--method", "rk4", "--rtol", "1e-3"], "rtol"),
    ("simulate", ["--method", "euler", "--atol", "1e-3"], "atol"),
    ("simulate", ["--method", "RK45", "--dt", "0.1"], "dt"),
    ("simulate", ["--normalize"], "--normalize"),
    ("simulate", ["--x0", "x0.npy", "--seed", "3"], "--seed"),
    ("simulate", ["--x0", "x0.npy", "--n", "5"], "--n"),
    ("simulate", ["--alpha", "0.5"], "alpha"),
    ("simulate", ["--norm", "pre", "--t-switch", "1"], "t-switch"),
    ("phase", ["--alpha", "0.5"], "alpha"),
    ("simulate", ["--t-offset", "2"], "t-offset"),
    ("simulate", ["--norm", "mix", "--t-switch", "1", "--t-offset", "2"], "t-offset"),
    ("phase", ["--norm", "ngpt", "--t-offset", "2"], "t-offset"),
    ("sweep", ["--t-offset", "2"], "t-offset"),
    ("meanfield solve", ["--concentration", "2"], "--concentration"),
    ("meanfield solve", ["--init", "uniform", "--eps", "0.1"], "--eps"),
    ("transition", ["--workers", "3"], "--workers"),
    ("transition", ["--engine", "pde", "--n", "8"], "--n"),
    ("transition", ["--N", "64"], "--N"),
    ("transition", ["--engine", "circle", "--method", "strang"], "--method"),
    ("transition", ["--engine", "pde-sphere", "--d", "3", "--seeds", "2"], "--seeds"),
    ("transition", ["--engine", "pde-sphere", "--d", "3", "--method", "strang"], "--method"),
    ("transition", ["--backend", "processes", "--scheduler", "local"], "--backend"),
    ("phase", ["--workers", "2"], "--workers"),
    ("simulate", ["--workers", "2"], "--workers"),
    ("simulate", ["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers"),
    ("transition", ["--scheduler", "tcp://127.0.0.1:1", "--workers", "3"], "--workers"),
    ("sweep", ["--workers", "2"], "--workers"),
    ("transformer", ["--repeat", "3"], "--repeat"),
    ("transformer", ["--max-tokens", "1000"], "max"),
    ("transformer compare-ode", ["--max-tokens", "1000"], "max"),
    ("svm figure", ["--iters", "10"], "iters"),
    ("svm train", ["--plain", "--step", "proportional"], "step"),
    ("svm train", ["--normalize", "joint"], "normalize"),
    ("svm solve", ["--data", "s_train.npz", "--n", "3"], "--n"),
    ("scansnap train", ["--text", "austen", "--classes", "3"], "classes"),
    ("scansnap train", ["--vocab", "50"], "vocab"),
    ("svm solve", ["--norm", "fro", "--solver", "bm"], "solver"),
    ("svm train", ["--param", "KQ", "--plain", "--normalize", "joint"], "--normalize"),
    ("figure", ["--list"], "--list"),
    ("models fetch", ["--wheel", "text.txt", "--force"], "--force"),
]


#: where an option applies only with others: (command, parameter) -> (flags dropped from BASE,
#: arguments added), so that its bad values meet its own checks, not the "does not apply" refusal
CONTEXT: dict[tuple[str, str], tuple[list[str], list[str]]] = {
    ("simulate", "x0_path"): (["--n", "--d"], []),
    ("simulate", "rtol"): ([], ["--method", "RK45"]),
    ("simulate", "atol"): ([], ["--method", "RK45"]),
    ("simulate", "alpha"): ([], ["--norm", "ngpt"]),
    ("simulate", "t_switch"): ([], ["--norm", "mix"]),
    ("simulate", "noise_seed"): ([], ["--kappa", "2", "--method", "euler-maruyama"]),
    ("phase", "alpha"): ([], ["--norm", "ngpt"]),
    ("phase", "t_switch"): ([], ["--norm", "mix"]),
    ("sweep", "alpha"): ([], ["--norm", "ngpt"]),
    ("sweep", "t_switch"): ([], ["--norm", "mix"]),
    ("simulate", "t_offset"): ([], ["--norm", "lns"]),
    ("phase", "t_offset"): ([], ["--norm", "lns"]),
    ("sweep", "t_offset"): ([], ["--norm", "lns"]),
    ("svm solve", "data_file"): (["--n", "--T", "--d"], []),
    ("svm train", "normalize"): ([], ["--param", "KQ"]),
    ("transformer", "repeat"): ([], ["--extend", "4"]),
    ("meanfield solve", "concentration"): ([], ["--init", "von-mises"]),
    ("transition", "workers"): ([], ["--backend", "processes"]),
    ("transition", "N"): (["--n", "--seeds"], ["--engine", "pde"]),
}


def bad_values(command: str, param: click.Parameter) -> list[str]:
    """The bad values of ``param`` of ``command``, by its type (see the module docstring)."""
    t = param.type
    key = (command, param.name)
    if isinstance(param, click.Option) and param.is_flag:
        return []
    if key in TEXT:
        return TEXT[key]
    if isinstance(t, click.Path):
        if key in INPUTS:
            return INPUTS[key]
        return DIR_OUT if not t.file_okay else FILE_OUT
    if isinstance(t, click.Choice):
        return CHOICE_BAD
    if isinstance(t, (click.IntRange, click.FloatRange)):
        vals = ["abc", ""]
        if t.min is not None:
            vals.append(str(t.min - 1))
        if t.max is not None:
            vals.append(str(t.max + 1))
        return vals
    if t is click.INT:
        return INT_BAD
    if t is click.FLOAT:
        return FLOAT_BAD
    raise AssertionError(
        f"{command} {param.name}: no bad values for type {t!r}; classify it in TEXT or bad_values"
    )


def option_flag(param: click.Parameter) -> str | None:
    return param.opts[0] if isinstance(param, click.Option) else None


def invocation(command: str, param: click.Parameter, value: str | None) -> list[str]:
    """BASE of ``command`` with ``param`` set to ``value`` (``None``: left out)."""
    args = list(BASE[command])
    flag = option_flag(param)
    if flag is None:  # the positional argument: BASE's first word
        assert args and not args[0].startswith("-"), command
        return ([] if value is None else [value]) + args[1:]
    drop, add = CONTEXT.get((command, param.name), ([], []))
    names = set(param.opts) | set(drop) | {a for a in add if a.startswith("--")}
    out, i = [], 0
    while i < len(args):
        if args[i] in names:
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out + add + ([] if value is None else [flag, value])


CASES = [
    (command, param.name, value)
    for command, cmd in COMMANDS.items()
    for param in cmd.params
    if param.name not in ("help",)
    for value in bad_values(command, param)
]


# ------------------------------------------------------------------------------------------------
# the fixtures and the check


def _make_fixtures(root: Path) -> None:
    import particles as pt
    from particles.storage.npz import save_npz

    rng = np.random.default_rng(0)
    x0 = pt.random_points(4, 3, rng=0)
    np.save(root / "x0.npy", x0)
    traj = pt.simulate(x0, pt.Dynamics(), 0.2, saves=3)
    traj.save(root / "run.npz")
    empty = pt.Trajectory(
        t=np.zeros(0), x=np.zeros((0, 4, 3)), dynamics=pt.Dynamics(), method="rk4"
    )
    empty.meta["complete"] = False
    empty.save(root / "nostate.npz")
    save_npz(root / "other.npz", {"a": np.zeros(2)}, {"format": "something_else"})
    np.save(root / "array.npy", rng.normal(size=(3, 3)))
    (root / "text.txt").write_text("hello\n")
    (root / "empty.npz").write_bytes(b"")
    (root / "empty.npy").write_bytes(b"")
    (root / "empty.txt").write_bytes(b"")
    data = (root / "run.npz").read_bytes()
    (root / "trunc.npz").write_bytes(data[: len(data) // 2])
    npy = (root / "x0.npy").read_bytes()
    (root / "trunc.npy").write_bytes(npy[: len(npy) - 20])
    np.save(root / "complex.npy", x0 * (1 + 1j))
    bad = x0.copy()
    bad[1, 1] = np.nan
    np.save(root / "nan.npy", bad)
    np.save(root / "vector.npy", x0[0])
    np.save(root / "noparticles.npy", np.zeros((0, 3)))
    np.save(root / "offsphere.npy", 2 * x0)
    np.save(root / "ints3d.npy", np.ones((2, 4, 3), dtype=int))
    (root / "garbage.npz").write_bytes(rng.bytes(300))
    (root / "garbage.npy").write_bytes(b"\x93NUMPY" + rng.bytes(300))
    import zipfile

    with zipfile.ZipFile(root / "notazip.npz", "w") as z:
        z.writestr("readme.txt", "no arrays here")
    np.save(root / "objects.npy", np.array([[object()] * 3] * 4, dtype=object), allow_pickle=True)
    np.save(root / "strings.npy", np.full((4, 3), "a"))
    sub = x0.copy()
    sub[0] = 1e-320  # a row of subnormals: off the sphere, and its norm underflows
    np.save(root / "subnormal.npy", sub)
    big = x0.copy()
    big[0] = np.inf
    np.save(root / "inf.npy", big)
    np.save(root / "onecolumn.npy", x0[:, :1])
    (root / "adir").mkdir()
    make_tiny_bert(root / "tinybert")
    args = ["svm", "train", *_SVM, "--iters", "2", "--out", str(root / "s_train.npz"), "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    _make_fixtures(root)
    old = os.getcwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(old)


def _snapshot(root: Path) -> dict[str, float]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns if p.is_file() else 0)
        for p in root.rglob("*")
    }


def _clean_to(root: Path, before: dict[str, float]) -> list[str]:
    """Remove what is new under ``root``; return its names."""
    new = sorted(set(_snapshot(root)) - set(before))
    for name in reversed(new):
        p = root / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()
    return new


#: warning categories Python does not show by default (they never reach a user's terminal)
_HIDDEN = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def invoke(command: str, args: list[str]):
    """Run ``particles COMMAND ARGS``; returns (result, warnings recorded)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        # a bug must show as the exception it is, not as the one line users get
        res = CliRunner(env={"PARTICLES_TRACEBACK": "1"}).invoke(main, [*command.split(), *args])
    return res, [str(x.message) for x in w if not issubclass(x.category, _HIDDEN)]


def check_clean_error(res, warned) -> str | None:
    """Why ``res`` is not a clean one-line error (None when it is)."""
    if res.exit_code == 0:
        return "exit code 0"
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return f"raised {type(res.exception).__name__}: {res.exception}"
    if "Traceback" in res.output:
        return "a traceback"
    if res.stdout.strip():
        return f"stdout {res.stdout.strip()[:200]!r}"
    if warned:
        return f"warnings {warned}"
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    if len(errors) != 1 or lines[-1] != errors[0] or not errors[0][7:].strip():
        return f"stderr is not one 'Error: ...' line: {res.stderr[-400:]!r}"
    rest = lines[:-1]
    if res.exit_code == 2:  # click's usage error: its Usage and Try lines may come first
        rest = [
            line
            for line in rest
            if not (line.startswith("Usage: ") or (line.startswith("Try '") and "--help" in line))
        ]
    if rest:
        return f"extra stderr lines {rest}"
    return None


def _run_case(root: Path, command: str, args: list[str]):
    """Run a case that must fail; returns (why it is not a clean failure or None, result)."""
    before = _snapshot(root)
    res, warned = invoke(command, args)
    why = check_clean_error(res, warned)
    new = _clean_to(root, before)
    if why is None and new:
        why = f"left {new} behind"
    changed = [k for k, v in _snapshot(root).items() if before.get(k) != v]
    if why is None and changed:
        why = f"changed {changed}"
    return why, res


#: how the library's messages name a parameter besides its flag and name (an error must name the
#: parameter, or quote the bad value)
SYNONYMS = {
    "x0_path": ["x0"],
    "times": ["time"],
    "sizes": ["n in"],
    "name": ["figure", "model", "is not one of"],
    "common": ["tokens"],
    "distinct": ["tokens"],
    "saves": ["saved times"],
    "layers": ["layer"],
    "variants": ["variant"],
}


def names_it(message: str, param: click.Parameter, value: str) -> bool:
    """Whether the error ``message`` names ``param`` (flag, name, a synonym) or quotes ``value``."""
    keys = {param.name, param.name.replace("_", "-"), *getattr(param, "opts", [])}
    keys |= set(SYNONYMS.get(param.name, []))
    if value.strip():
        keys.add(value)
    low = message.lower()
    return any(k.lower() in low for k in keys)


def _valid(command: str, name: str, value: str) -> bool:
    return value in VALID.get((command, name), {})


# ------------------------------------------------------------------------------------------------
# the tests


def test_every_command_has_a_base_invocation():
    assert set(COMMANDS) == set(BASE), set(COMMANDS) ^ set(BASE)


def test_every_parameter_has_values_or_is_a_flag():
    for command, cmd in COMMANDS.items():
        for param in cmd.params:
            if param.name == "help" or (isinstance(param, click.Option) and param.is_flag):
                continue
            assert bad_values(command, param), (command, param.name)
    # the tables name existing parameters only
    names = {(c, p.name) for c, cmd in COMMANDS.items() for p in cmd.params}
    for table in (TEXT, INPUTS, VALID, CONTEXT):
        assert set(table) <= names, set(table) - names


@pytest.mark.parametrize("command", sorted(set(BASE) - SLOW))
def test_base_invocations_succeed(scratch, command):
    """The invocations the bad values are put into are valid: a failure below is the value's."""
    before = _snapshot(scratch)
    res, _ = invoke(command, BASE[command])
    _clean_to(scratch, before)
    assert res.exit_code == 0, res.output


_BY_COMMAND = sorted({c for c, _, _ in CASES})


@pytest.mark.parametrize("command", _BY_COMMAND)
def test_bad_values_are_one_line_errors(scratch, command):
    cmd = COMMANDS[command]
    params = {p.name: p for p in cmd.params}
    failures = []
    for c, name, value in CASES:
        if c != command or _valid(command, name, value):
            continue
        args = invocation(command, params[name], value)
        why, res = _run_case(scratch, command, args)
        if why is None:
            if not names_it(res.stderr.strip().splitlines()[-1], params[name], value):
                why = f"the error does not name the option: {res.stderr.strip()!r}"
        if why:
            failures.append(f"particles {command} {name}={value!r}: {why}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("command", sorted(set(BASE) - SLOW))
def test_valid_values_succeed(scratch, command):
    params = {p.name: p for p in COMMANDS[command].params}
    failures = []
    for (c, name), values in VALID.items():
        if c != command:
            continue
        for value, _why in values.items():
            before = _snapshot(scratch)
            res, _ = invoke(command, invocation(command, params[name], value))
            _clean_to(scratch, before)
            if res.exit_code != 0:
                failures.append(f"{name}={value!r}: {res.output[-300:]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("command", sorted(BASE))
def test_required_parameters_cannot_be_omitted(scratch, command):
    failures = []
    for param in COMMANDS[command].params:
        if not param.required:
            continue
        why, _ = _run_case(scratch, command, invocation(command, param, None))
        if why:
            failures.append(f"without {param.name}: {why}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("command", "extra", "named"), NOT_APPLICABLE)
def test_options_that_do_not_apply_are_refused(scratch, command, extra, named):
    args = list(BASE[command])
    for flag in (a for a in extra if a.startswith("--")):
        if flag in args and args.index(flag) + 1 < len(args):
            k = args.index(flag)
            del args[k : k + 2]
    why, res = _run_case(scratch, command, args + extra)
    assert why is None, why
    assert named in res.stderr, res.stderr


def test_choices_ignore_case():
    """Every Choice of every command takes any case (``--kind sa``) and gives the library's spelling."""
    seen = 0
    for command, cmd in COMMANDS.items():
        ctx = click.Context(cmd)
        for param in cmd.params:
            if isinstance(param.type, click.Choice):
                for choice in param.type.choices:
                    for spelling in (choice.lower(), choice.upper(), choice.swapcase()):
                        got = param.type.convert(spelling, param, ctx)
                        assert got == choice, (command, param.name, spelling, got)
                        seen += 1
    assert seen > 50


def test_group_options_do_not_apply_to_a_subcommand(scratch):
    """``particles transformer --out X compare-ode ...``: the group's options would be ignored."""
    args = ["--out", "t.npz", "compare-ode", *BASE["transformer compare-ode"]]
    why, res = _run_case(scratch, "transformer", args)
    assert why is None, why
    assert "--out" in res.stderr


# ------------------------------------------------------------------------------------------------
# states the generated values do not reach, and the real exit codes


def test_tiny_and_huge_rows_are_normalised_not_a_traceback(scratch):
    """``--x0`` with a row of subnormals (its squared norm underflows to 0) or of huge entries
    (it overflows) and ``--normalize``: the row is scaled first, so its direction is kept."""
    import particles as pt

    x0 = pt.random_points(4, 3, rng=0)
    for name, row in (("sub_row.npy", 1e-320), ("big_row.npy", 1e200)):
        x = x0.copy()
        x[0] = row * np.array([1.0, 2.0, 2.0])
        np.save(scratch / name, x)
        before = _snapshot(scratch)
        args = ["--x0", name, "--normalize", "--t-end", "0.1", "--saves", "2", "--out", "out.npz"]
        res, _ = invoke("simulate", [*args, "--quiet"])
        res_out = (scratch / "out.npz").exists()
        _clean_to(scratch, before)
        (scratch / name).unlink()
        assert res.exit_code == 0, res.output
        assert res_out


def test_workers_without_a_local_scheduler_is_refused(scratch):
    for extra in (["--workers", "2"], ["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]):
        why, res = _run_case(scratch, "simulate", BASE["simulate"] + extra)
        assert why is None, why
        assert "--scheduler local" in res.stderr


_SUBPROCESS_CASES = [
    ["simulate", "--n", "4", "--t-end", "0.1", "--out", "o.npz", "--workers", "2"],
    ["simulate", "--x0", "nan.npy", "--out", "o.npz"],
    ["simulate", "--n", "-3", "--out", "o.npz"],
    ["info", "garbage.npz"],
    ["meanfield", "solve", "--beta", "nan", "--out", "m.npz"],
]


@pytest.mark.parametrize("args", _SUBPROCESS_CASES, ids=lambda a: " ".join(a[:3]))
def test_real_processes_exit_non_zero_with_one_error_line(scratch, args):
    """The installed command, in a process of its own: exit status, stderr and no traceback."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "particles.cli.main", *args],
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: "), proc.stderr
    assert sum(line.startswith("Error") for line in lines) == 1, proc.stderr
    for name in ("o.npz", "m.npz"):
        assert not (scratch / name).exists()


def _limit_address_space(nbytes: int):
    def apply():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))

    return apply


def test_a_request_beyond_ulimit_v_is_refused_with_the_limit(tmp_path):
    """Under ``ulimit -v`` (RLIMIT_AS) far below physical memory, a run that does not fit is refused
    in one line naming the limit: not a MemoryError traceback. The limit leaves room to start."""
    import subprocess
    import sys

    pytest.importorskip("resource")
    limit = 3 * 2**30
    code = (
        "from particles.cli.main import main; main(['simulate', '--n', '30000000', '--d', '3', "
        "'--out', 'big.npz', '--quiet'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_address_space(limit),
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "(ulimit -v)" in lines[0] and "this process may use" in lines[0]
    assert not (tmp_path / "big.npz").exists()
