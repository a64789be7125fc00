"""What a result file holds: :func:`describe` reads any ``.npz`` file the package writes (and zarr
trajectory stores) and returns its kind, the command that writes it, its parameters and its arrays,
as a JSON-able record (what ``particles info`` prints).

Trajectories (``particles simulate``) are described by :meth:`particles.Trajectory.summary`; every
other kind (phase diagrams, sweeps, transition sweeps, mean-field solutions, svm and scansnap runs,
transformer runs, figure data) by its metadata record and the shapes of its arrays.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import ParticlesError
from . import npz as io
from .records import _is_store

#: every ``format`` of :func:`particles.storage.npz.save_npz` files: (what the file holds, what writes it)
KINDS: dict[str, tuple[str, str]] = {
    "trajectory": ("a trajectory of the particles", "particles simulate"),
    "phase_diagram": (
        "one phase diagram P(t, beta) at one (n, d): a task of a phase sweep",
        "particles phase / particles sweep (in --store)",
    ),
    "phase_diagrams": (
        "phase diagrams P(t, beta), one per (n, d)",
        "particles phase --data",
    ),
    "sweep_table": ("a scan table over n, d and beta", "particles sweep --out"),
    "sweep_task": ("one finished task of a resumable sweep", "particles.sweeps.sweep"),
    "transition": (
        "a sweep of the order parameter r over kappa, up and down (hysteresis)",
        "particles transition",
    ),
    "meanfield_circle": (
        "a solution of the mean-field (Fokker-Planck) equation on the circle",
        "particles meanfield solve",
    ),
    "svm_train": ("a gradient-descent run of the attention SVM model", "particles svm train"),
    "svm_solve": ("a solution of the attention SVM (Att-SVM)", "particles svm solve"),
    "svm_figure": ("the data of an svm figure", "particles svm figure"),
    "scansnap_train": ("a training run of the Scan and Snap model", "particles scansnap train"),
    "scansnap_run": ("one run of a Scan and Snap sweep", "particles scansnap sweep"),
    "scansnap_sweep": ("the summary of a Scan and Snap sweep", "particles scansnap sweep"),
    "transformer_depth": (
        "token representations through the layers of a Transformer",
        "particles transformer",
    ),
    "transformer_ode": (
        "a Transformer's layers against the attention ODE",
        "particles transformer compare-ode",
    ),
    "figure": ("the data of a figure", "particles figure"),
    "figure_data": ("the data of a figure", "particles figure"),
}

#: a list longer than this is shown by its length and end values
_SHORT = 8


def kind_of(fmt: str) -> tuple[str, str]:
    """(what the file holds, what writes it) for a ``format`` string (``figure_<stem>`` included);
    an unknown format is described as such."""
    if fmt in KINDS:
        return KINDS[fmt]
    if fmt.startswith("figure_"):
        return (f"the data of the figure {fmt[len('figure_') :]}", "particles figure")
    return (f"a {fmt!r} result", "particles")


def _value(v):
    """A short JSON-able rendering of one metadata value."""
    if isinstance(v, list) and len(v) > _SHORT:
        if all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v):
            return f"{len(v)} values in [{min(v):g}, {max(v):g}]"
        return f"{len(v)} entries"
    if isinstance(v, list) and any(isinstance(e, (dict, list)) for e in v):
        return f"{len(v)} entries"
    return v


def _flatten(meta: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in meta.items():
        if k in ("format", "version") and not prefix:
            continue
        if isinstance(v, dict):  # a "params" record is the file's parameters: no prefix
            out.update(_flatten(v, prefix if k == "params" else f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = _value(v)
    return out


def _arrays(arrays: dict) -> dict:
    return {
        k: {"shape": list(np.shape(a)), "dtype": str(np.asarray(a).dtype)}
        for k, a in arrays.items()
    }


#: the text formats of a scan table (``ScanTable.save``), and the columns every one of them has
TEXT_TABLES = (".csv", ".json")
TABLE_COLUMNS = ("n", "d", "beta")


def read_text_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The columns of a scan table saved as ``.csv`` or ``.json``, as float arrays; anything else
    (not readable, not a table of numbers, columns of unequal length, no n, d and beta columns) is
    a one-line :class:`~particles.errors.ParticlesError`."""
    path = Path(path)
    bad = ParticlesError(
        f"{path}: not a scan table (particles sweep --out writes columns "
        f"{', '.join(TABLE_COLUMNS)}, ... as .csv or .json)"
    )
    if not path.is_file():
        raise ParticlesError(f"{path}: no such file")
    try:
        text = path.read_text()
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise bad
            cols = {str(k): v for k, v in raw.items()}
        else:
            lines = [ln.split(",") for ln in text.splitlines() if ln.strip()]
            if not lines:
                raise bad
            cols = {h.strip(): [r[i] for r in lines[1:]] for i, h in enumerate(lines[0])}
        out = {}
        for k, v in cols.items():
            if not isinstance(v, list) or any(isinstance(e, (bool, dict, list)) for e in v):
                raise bad
            out[k] = np.array([np.nan if e is None else float(e) for e in v], dtype=np.float64)
    except (OSError, UnicodeDecodeError, ValueError, TypeError, IndexError):
        raise bad from None
    if not set(TABLE_COLUMNS) <= set(out) or len({a.size for a in out.values()}) != 1:
        raise bad
    return out


def format_of(path: str | os.PathLike) -> str:
    """The ``format`` of the result file ``path`` (``"trajectory"`` for a zarr trajectory store),
    reading only its metadata record; a file that is not a ``particles`` file gives a one-line
    :class:`~particles.errors.ParticlesError`."""
    if _is_store(path):
        return "trajectory"
    if Path(path).suffix.lower() in TEXT_TABLES:
        return "sweep_table"
    try:
        with np.load(path, allow_pickle=False) as z:
            fmt = json.loads(str(z[io.META_KEY]))["format"]
        if isinstance(fmt, str):
            return fmt
    except Exception:  # noqa: BLE001 - load_npz below names what is wrong with the file
        pass
    return str(io.load_npz(path)[1]["format"])


def describe(path: str | os.PathLike) -> dict:
    """A JSON-able record of the result file ``path``: ``file``, ``format``, ``what`` (what it
    holds), ``written_by`` (the command), ``version`` (of the package that wrote it),
    ``parameters`` (its metadata, nested records flattened to ``a.b`` keys, the ``params``
    record to its own keys, long lists summarised) and ``arrays`` (name -> shape and dtype). A file
    that is not a ``particles`` file gives a one-line :class:`~particles.errors.ParticlesError`.
    A scan table written as ``.csv`` or ``.json`` (``particles sweep --out``) has no metadata: its
    columns are its arrays."""
    if Path(path).suffix.lower() in TEXT_TABLES:
        arrays, meta = read_text_table(path), {"format": "sweep_table"}
    else:
        arrays, meta = io.load_npz(path)
    fmt = str(meta["format"])
    what, by = kind_of(fmt)
    return {
        "file": str(Path(path)),
        "format": fmt,
        "what": what,
        "written_by": by,
        "version": meta.get("version"),
        "parameters": _flatten(meta),
        "arrays": _arrays(arrays),
    }


def describe_text(rec: dict) -> str:
    """:func:`describe`'s record as lines for a terminal."""
    lines = [
        f"{rec['file']}: {rec['what']} (format {rec['format']!r}, written by {rec['written_by']})"
    ]
    if rec.get("version"):
        lines.append(f"  version     particles {rec['version']}")
    params = rec["parameters"]
    if params:
        width = max(len(k) for k in params)
        lines.append("  parameters")
        lines += [f"    {k:<{width}}  {_text(v)}" for k, v in params.items()]
    if rec["arrays"]:
        width = max(len(k) for k in rec["arrays"])
        lines.append("  arrays")
        for k, a in rec["arrays"].items():
            shape = (
                "("
                + ", ".join(str(s) for s in a["shape"])
                + ("," if len(a["shape"]) == 1 else "")
                + ")"
            )
            lines.append(f"    {k:<{width}}  {a['dtype']} {shape}")
    return "\n".join(lines)


def _text(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return ", ".join(_text(e) for e in v) if v else "[]"
    return str(v)
