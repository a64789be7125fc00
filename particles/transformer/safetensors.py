"""A numpy reader for the safetensors format (no dependency on the ``safetensors`` package).

Layout: an 8-byte little-endian header length ``N``, then ``N`` bytes of JSON mapping each tensor
name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the byte after
the header; an optional ``"__metadata__"`` entry holds strings), then the raw little-endian data.
Tensors are returned as read-only views of a memory map, so loading a model costs no copy.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from ..errors import ParticlesError

_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}
_MAX_HEADER = 100 * 1024 * 1024


def read_header(path: str | os.PathLike) -> tuple[dict, int]:
    """Return ``(header, data_start)``: the JSON header (without ``__metadata__``) and the byte
    offset where the tensor data begins."""
    path = Path(path)
    if not path.is_file():
        raise ParticlesError(f"{path}: no such safetensors file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ParticlesError(f"{path}: not a safetensors file (too short)")
        (n,) = struct.unpack("<Q", raw)
        if n == 0 or n > _MAX_HEADER or 8 + n > size:
            raise ParticlesError(f"{path}: not a safetensors file (bad header length {n})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ParticlesError(f"{path}: not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise ParticlesError(f"{path}: not a safetensors file (header is not a JSON object)")
    header.pop("__metadata__", None)
    data_len = size - 8 - n
    for name, info in header.items():
        try:
            dtype, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ParticlesError(f"{path}: malformed header entry for tensor {name!r}") from None
        if dtype not in _DTYPES:
            raise ParticlesError(f"{path}: tensor {name!r} has unsupported dtype {dtype}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(_DTYPES[dtype]).itemsize
        if not (0 <= b <= e <= data_len) or e - b != nbytes:
            raise ParticlesError(f"{path}: tensor {name!r} has inconsistent offsets (truncated?)")
    return header, 8 + n


def read_safetensors(path: str | os.PathLike, names=None) -> dict[str, np.ndarray]:
    """Read tensors from a ``.safetensors`` file as read-only numpy arrays (memory-mapped).

    **Arguments:** ``path``; ``names``: an iterable of tensor names to read (default: all).
    **Returns:** ``{name: array}`` with the stored dtype and shape.
    **Raises:** :class:`ParticlesError` for a missing, truncated or malformed file, or an
    unknown tensor name.
    """
    header, start = read_header(path)
    if names is None:
        names = list(header)
    else:
        names = list(names)
        missing = [k for k in names if k not in header]
        if missing:
            raise ParticlesError(f"{path}: no tensor named {missing[0]!r}")
    out: dict[str, np.ndarray] = {}
    if not names:
        return out
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    for k in names:
        info = header[k]
        b, e = info["data_offsets"]
        arr = mm[start + b : start + e].view(np.dtype(_DTYPES[info["dtype"]]))
        out[k] = arr.reshape(info["shape"])
    return out


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``tensors`` in the safetensors format (used for small test fixtures)."""
    rev = {np.dtype(v): k for k, v in _DTYPES.items()}
    header: dict = {}
    blobs = []
    off = 0
    for k, a in tensors.items():
        a = np.ascontiguousarray(a)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if np.dtype(dt) not in rev:
            raise ParticlesError(f"cannot write tensor {k!r} of dtype {a.dtype}")
        data = a.astype(dt, copy=False).tobytes()
        header[k] = {
            "dtype": rev[np.dtype(dt)],
            "shape": list(a.shape),
            "data_offsets": [off, off + len(data)],
        }
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    from ..storage.npz import atomic_write_bytes

    return atomic_write_bytes(path, struct.pack("<Q", len(h)) + h + b"".join(blobs))
