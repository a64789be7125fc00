"""Atomic ``.npz`` files with a JSON metadata record.

Every file written by ``particles`` is an ``.npz`` archive holding arrays plus one entry
``__meta__``: a JSON string with at least ``{"format": <kind>, "version": <package version>}``
and whatever parameters produced the arrays (seed included). Writes go to a temporary file in
the same directory, are flushed to disk, then renamed over the target, so an interrupted run
never leaves a truncated file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from importlib import resources
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import Any

import numpy as np

from .. import interrupts as _interrupts
from ..errors import ParticlesError

META_KEY = "__meta__"


def _default_mode() -> int:
    """The permission bits a plain ``open()`` would give a new file (0o666 minus the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def package_version() -> str:
    try:
        return _pkg_version("particles")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def sigint_held(deliver: bool = True):
    """Hold Ctrl-C (SIGINT) and SIGTERM while the block runs: a signal that arrives inside is
    recorded, and with ``deliver`` raised (as ``KeyboardInterrupt``, or
    :class:`~particles.interrupts.Terminated` for SIGTERM) once the block has finished, never in its
    middle; ``deliver=False`` drops it (:func:`particles.interrupts.held`)."""
    return _interrupts.held(deliver)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike):
    """Open a temporary binary file beside ``path``; on success it is fsynced and renamed onto
    ``path`` (atomic on POSIX), on any error it is removed and ``path`` is untouched. Ctrl-C is held
    for the whole write (:func:`sigint_held`), so an interrupt cannot lose a file being written."""
    with sigint_held():
        with _atomic_open(path) as f:
            yield f


@contextlib.contextmanager
def _atomic_open(path: str | os.PathLike):
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ParticlesError(f"cannot write {path}: directory {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise ParticlesError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    with atomic_open(path) as f:
        f.write(data)
    return Path(path)


def check_writable(
    path: str | os.PathLike, what: str = "output", suffix: str | None = None
) -> Path:
    """Fail early, with a clear message, if ``path`` cannot be written: its directory must exist and
    be writable and, when ``suffix`` is given (e.g. ``".npz"``), its name must end with it. A
    ``".zarr"`` store is itself a directory."""
    path = Path(path)
    if path.is_dir() and suffix != ".zarr":
        raise ParticlesError(f"cannot write {what} {path}: it is a directory")
    if suffix is not None and path.suffix.lower() != suffix:
        raise ParticlesError(f"cannot write {what} {path}: {what} files end in {suffix}")
    parent = path.parent
    if not parent.is_dir():
        raise ParticlesError(f"cannot write {what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ParticlesError(f"cannot write {what} {path}: directory {parent} is not writable")
    return path


@contextlib.contextmanager
def results_dir(path: str | os.PathLike, what: str):
    """The directory ``path`` of a run's results (``what``: its name in messages), created if
    missing; when the block fails, a directory it created that is still empty is removed again."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ParticlesError(f"{what} {path} is a file, not a directory")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ParticlesError(f"cannot create {what} {path}: {e.strerror}") from None
    try:
        yield path
    except BaseException:
        if created and not any(path.iterdir()):  # nothing done: leave no empty directory behind
            path.rmdir()
        raise


_NPY_MAGIC = b"\x93NUMPY"


def _magic(path: Path, k: int) -> bytes:
    """The first ``k`` bytes of the file ``path``."""
    try:
        with open(path, "rb") as f:
            return f.read(k)
    except OSError as e:
        raise ParticlesError(f"{path}: cannot read ({e.strerror})") from None


def shipped_texts(prefix: str = "") -> list[str]:
    """Names of the passages shipped as ``particles/data/texts/{prefix}{name}.txt``."""
    root = resources.files("particles").joinpath("data", "texts")
    if not root.is_dir():
        return []
    return sorted(
        p.name[len(prefix) : -len(".txt")]
        for p in root.iterdir()
        if p.name.startswith(prefix) and p.name.endswith(".txt")
    )


def read_text(source: str | os.PathLike, prefix: str = "") -> str:
    """The text of a shipped passage (by name, see :func:`shipped_texts`) or of a UTF-8 file,
    or a one-line :class:`ParticlesError` (listing the shipped passages)."""
    shipped = shipped_texts(prefix)
    if str(source) in shipped:
        res = resources.files("particles").joinpath("data", "texts", f"{prefix}{source}.txt")
        return res.read_text(encoding="utf-8")
    path = Path(source)
    if not path.is_file():
        raise ParticlesError(
            f"{source}: no such text file (shipped passages: {', '.join(shipped)})"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ParticlesError(f"{source}: not a UTF-8 text file") from None
    except OSError as e:
        raise ParticlesError(f"{source}: cannot read ({e.strerror})") from None


def load_array(path: str | os.PathLike) -> np.ndarray:
    """One array from a ``.npy`` file (no pickles), or a one-line :class:`ParticlesError`."""
    path = Path(path)
    if path.is_dir():
        raise ParticlesError(f"{path}: is a directory, not a .npy file")
    if not path.is_file():
        raise ParticlesError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ParticlesError(f"{path}: is empty, not a .npy file")
    if _magic(path, len(_NPY_MAGIC)) != _NPY_MAGIC:
        what = "a .npz archive" if zipfile.is_zipfile(path) else "no numpy header"
        raise ParticlesError(
            f"{path}: not a readable .npy file ({what}); expected one array saved by numpy.save"
        )
    _check_npy_size(path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, MemoryError) as e:
        raise ParticlesError(
            f"{path}: not a readable .npy file (corrupted or truncated?): {e}"
        ) from None


def _check_npy_size(path: Path) -> None:
    """Refuse a ``.npy`` file whose header claims more bytes than the file holds, or more than
    this machine's memory, before anything is allocated."""
    from numpy.lib import format as npy

    from ..resources import check_memory

    try:
        with open(path, "rb") as f:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy.read_array_header_1_0(f, max_header_size=1 << 16)
            else:
                shape, _, dtype = npy.read_array_header_2_0(f, max_header_size=1 << 16)
            stored = path.stat().st_size - f.tell()
    except (ValueError, OSError, EOFError, TypeError) as e:
        raise ParticlesError(f"{path}: not a readable .npy file (corrupted header?): {e}") from None
    if dtype.hasobject:
        return  # refused by np.load(allow_pickle=False) with its own message
    nbytes = float(np.prod([float(k) for k in shape])) * dtype.itemsize
    if nbytes > stored:
        raise ParticlesError(
            f"{path}: corrupted .npy file: its header claims shape {tuple(shape)} of {dtype} "
            f"({nbytes:.3g} bytes) but {stored} bytes are stored"
        )
    check_memory(nbytes, f"reading {path}")


def dumps(record: dict, where: str) -> str:
    """``record`` as JSON, or a :class:`ParticlesError` naming the entry that is not JSON-able."""
    try:
        return json.dumps(record)
    except (TypeError, ValueError) as e:
        raise ParticlesError(f"{where}: the metadata is not JSON-able ({e})") from None


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Save ``arrays`` and the JSON ``meta`` record to ``path`` atomically.

    ``meta`` must contain ``"format"`` (a short name such as ``"trajectory"``); the package
    version is added.
    """
    if "format" not in meta:
        raise ParticlesError("meta needs a 'format' entry")
    meta = {**_jsonable(meta), "version": package_version()}
    path = Path(path)
    if path.suffix != ".npz":
        raise ParticlesError(f"{path}: output files must end in .npz")
    out = {k: np.asarray(v) for k, v in arrays.items()}
    out[META_KEY] = np.array(dumps(meta, f"cannot write {path}"))
    with atomic_open(path) as f:
        np.savez(f, **out)
    return path


def npz_headers(path: str | os.PathLike) -> dict[str, tuple[tuple[int, ...], np.dtype, int]]:
    """``{name: (shape, dtype, stored bytes)}`` of the arrays of an ``.npz`` archive, read from the
    ``.npy`` headers alone (nothing is allocated), or a one-line :class:`ParticlesError`."""
    from numpy.lib import format as npy

    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    version = npy.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = npy.read_array_header_1_0(f, max_header_size=1 << 16)
                    elif version in ((2, 0), (3, 0)):
                        shape, _, dtype = npy.read_array_header_2_0(f, max_header_size=1 << 16)
                    else:
                        raise ValueError(f"unknown .npy version {version}")
                    out[info.filename[: -len(".npy")]] = (
                        tuple(int(k) for k in shape),
                        dtype,
                        info.file_size - f.tell(),
                    )
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, TypeError) as e:
        raise ParticlesError(
            f"{path}: not a readable .npz file (corrupted or truncated?): {e}"
        ) from None
    return out


def check_npz_sizes(path: str | os.PathLike) -> None:
    """Refuse an ``.npz`` archive whose arrays' headers claim more bytes than the archive stores
    (a corrupted or lying file) or more than this machine's memory, before anything is read."""
    from ..resources import check_memory

    total = 0.0
    for name, (shape, dtype, stored) in npz_headers(path).items():
        nbytes = float(np.prod([float(k) for k in shape])) * dtype.itemsize
        if dtype.hasobject:
            raise ParticlesError(f"{path}: array {name!r} holds Python objects (not loaded)")
        if nbytes > stored:
            raise ParticlesError(
                f"{path}: corrupted .npz file: array {name!r} claims shape {shape} of {dtype} "
                f"({nbytes:.3g} bytes) but {stored} bytes are stored"
            )
        total += nbytes
    check_memory(total, f"reading {path}")


def load_npz(path: str | os.PathLike, fmt: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Load a file written by :func:`save_npz`; returns ``(arrays, meta)``.

    Raises :class:`ParticlesError` with a clear message if the file is missing, is not a
    ``particles`` file, is corrupted, or (when ``fmt`` is given) holds another kind of result.
    """
    path = Path(path)
    if not path.exists():
        raise ParticlesError(f"{path}: no such file")
    if path.is_dir():
        raise ParticlesError(f"{path}: is a directory, not a .npz file")
    if path.stat().st_size == 0:
        raise ParticlesError(f"{path}: is empty, not a .npz file")
    if _magic(path, len(_NPY_MAGIC)) == _NPY_MAGIC:
        raise ParticlesError(f"{path}: is a .npy array, not a .npz file written by particles")
    if not zipfile.is_zipfile(path):
        raise ParticlesError(
            f"{path}: not a readable .npz file (corrupted or truncated, or another format: "
            "not a zip archive)"
        )
    check_npz_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, MemoryError) as e:
        raise ParticlesError(
            f"{path}: not a readable .npz file (corrupted or truncated?): {e}"
        ) from None
    if META_KEY not in arrays:
        raise ParticlesError(f"{path}: not a particles file (no metadata record)")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except json.JSONDecodeError:
        raise ParticlesError(f"{path}: corrupted metadata record") from None
    if not isinstance(meta, dict) or "format" not in meta:
        raise ParticlesError(f"{path}: corrupted metadata record")
    if fmt is not None and meta["format"] != fmt:
        raise ParticlesError(f"{path}: holds a {meta['format']!r} result, expected {fmt!r}")
    return arrays, meta
