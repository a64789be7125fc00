"""One call from text to per-layer results: tokenise, run the network (past its trained depth
if asked), summarise every layer, and save/load the result through :mod:`particles.storage.npz`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, count
from ..resources import check_count, check_memory
from ..storage.npz import load_npz, save_npz
from .depth import DepthStats, depth_stats
from .hub import DEFAULT_MODEL, resolve_model
from .model import Encoder, load_encoder
from .tokenizer import WordPieceTokenizer, load_tokenizer

FORMAT = "transformer_depth"
FORMAT_ODE = "transformer_ode"


def load_model(model: str | os.PathLike | None = None) -> tuple[Encoder, WordPieceTokenizer]:
    """``(encoder, tokenizer)`` for a known model name (default :data:`.hub.DEFAULT_MODEL`,
    fetched first) or a local model directory."""
    d = resolve_model(model)
    return load_encoder(d, name=str(model or DEFAULT_MODEL)), load_tokenizer(d)


#: tokens kept by default: run_text, compare_text (at most the model's positions)
DEFAULT_MAX_TOKENS = 512
DEFAULT_ODE_TOKENS = 96


def _check_max_tokens(max_tokens) -> int | None:
    if max_tokens is None:
        return None
    return check_count(count(max_tokens, "max_tokens", 3), "max_tokens", 1e7)


def _token_limit(encoder: Encoder, max_tokens: int | None, default: int) -> int:
    """``max_tokens`` if the model can take that many tokens, else a clear error (never a silent
    cap): a model with learned positions has ``max_position`` of them. None: ``default``, capped
    at the model's positions."""
    c = encoder.config
    learned = c.position == "learned"
    if max_tokens is None:
        return min(default, c.max_position) if learned else default
    if learned and max_tokens > c.max_position:
        raise ParticlesError(
            f"max_tokens = {max_tokens} is above the {c.max_position} positions of "
            f"{encoder.name} (learned position embeddings); give at most {c.max_position}"
        )
    return max_tokens


def _check_depth_memory(depth: int, n: int, width: int, copies: int, what: str) -> None:
    check_memory(
        8.0 * (depth + 1) * n * width * copies, f"{what} of {n} tokens through {depth} layers"
    )


def parse_layers(spec, depth: int) -> np.ndarray:
    """``"all"`` -> 0..depth; ``"0,1,6,48"`` -> those (each in 0..depth), sorted, unique."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "all"):
        return np.arange(depth + 1)
    if isinstance(spec, str):
        try:
            vals = [int(v) for v in spec.split(",") if v.strip()]
        except ValueError:
            raise ParticlesError(
                f"--layers {spec!r}: expected 'all' or integers like 0,1,6"
            ) from None
    else:
        vals = [int(v) for v in spec]
    if not vals:
        raise ParticlesError("no layers selected")
    bad = [v for v in vals if not 0 <= v <= depth]
    if bad:
        raise ParticlesError(f"layer {bad[0]} out of range 0..{depth}")
    return np.unique(vals)


@dataclass(frozen=True, kw_only=True)
class DepthRun:
    """Hidden states of a text through depth and their per-layer statistics.

    ``hidden`` ``(len(layers), n, d)``: hidden states (before any normalisation) at ``layers``;
    ``tokens``/``ids`` ``(n,)``; ``stats``: :class:`DepthStats` over every depth 0..``depth``;
    ``meta``: model, depth, trained depth, repeat layer, text source, parameters."""

    hidden: np.ndarray
    layers: np.ndarray
    tokens: np.ndarray
    ids: np.ndarray
    stats: DepthStats
    meta: dict


def run_text(
    text: str,
    *,
    model=None,
    encoder: Encoder | None = None,
    tokenizer: WordPieceTokenizer | None = None,
    extend: int | None = None,
    repeat: int | None = None,
    layers="all",
    max_tokens: int | None = None,
    bins: int = 70,
    delta: float = 1e-2,
    threshold: float = 0.9,
    source: str = "",
    progress: bool = False,
) -> DepthRun:
    """Tokenise ``text`` (first ``max_tokens`` pieces, default :data:`DEFAULT_MAX_TOKENS` or the
    model's positions if fewer; more than the model's positions is an error), run the network to
    depth ``extend`` (default: its trained depth; deeper repeats layer ``repeat``, default the
    last; ``repeat`` without layers past the trained depth is an error), and summarise every
    layer."""
    _check_max_tokens(max_tokens)
    check_count(count(bins, "bins"), "bins", 1e6)
    if extend is not None:
        check_count(extend, "extend (the depth)", 1e6)
    if repeat is not None and extend is None:
        raise ParticlesError(
            "repeat (CLI: --repeat) applies only past the trained depth: give extend (--extend)"
        )
    if encoder is None or tokenizer is None:
        encoder, tokenizer = load_model(model)
    L = encoder.num_layers
    depth = L if extend is None else int(extend)
    if depth < L and not encoder.config.shared_layers:
        raise ParticlesError(f"--extend {depth} is below the trained depth {L}")
    if repeat is not None and (depth <= L or encoder.config.shared_layers):
        raise ParticlesError(
            f"repeat (CLI: --repeat) does not apply: extend = {depth} adds no layer past the "
            f"trained depth {L}"
            + (" (the model shares one layer)" if encoder.config.shared_layers else "")
        )
    encoder.schedule(depth, repeat)  # checks repeat
    sel = parse_layers(layers, depth)
    max_tokens = _token_limit(encoder, max_tokens, DEFAULT_MAX_TOKENS)
    ids, toks = tokenizer.encode(text, max_length=max_tokens)
    if len(ids) < 3:
        raise ParticlesError("the text has no tokens")
    _check_depth_memory(depth, len(ids), encoder.config.hidden_size, 3, "hidden states")
    hidden = encoder.hidden_states(np.asarray(ids), depth=depth, repeat=repeat, progress=progress)
    stats = depth_stats(hidden, bins=bins, delta=delta, threshold=threshold)
    meta = {
        "model": encoder.name,
        "model_path": encoder.path,
        "depth": depth,
        "trained_depth": L,
        "repeat": (encoder.schedule(depth, repeat)[-1] if depth > L else None),
        "max_tokens": max_tokens,
        "n_tokens": len(ids),
        "bins": bins,
        "delta": delta,
        "threshold": threshold,
        "source": source,
        "seed": None,
    }
    return DepthRun(
        hidden=hidden[sel],
        layers=sel,
        tokens=np.array(toks),
        ids=np.array(ids),
        stats=stats,
        meta=meta,
    )


def save_depth_run(path, run: DepthRun, dtype=np.float32) -> Path:
    """Write a :class:`DepthRun` (hidden states stored as ``dtype``, float32 by default)."""
    dtype = np.dtype(dtype)
    arrays = {
        "hidden": run.hidden.astype(dtype),
        "layers": run.layers,
        "tokens": run.tokens,
        "ids": run.ids,
        **run.stats.as_arrays("stats_"),
    }
    meta = {"format": FORMAT, **run.meta, "hidden_dtype": dtype.name}
    return save_npz(path, arrays, meta)


def load_depth_run(path) -> DepthRun:
    a, meta = load_npz(path, FORMAT)
    try:
        stats = DepthStats.from_arrays(
            a, "stats_", threshold=meta["threshold"], delta=meta["delta"]
        )
        return DepthRun(
            hidden=a["hidden"],
            layers=a["layers"],
            tokens=a["tokens"],
            ids=a["ids"],
            stats=stats,
            meta=meta,
        )
    except KeyError as e:
        raise ParticlesError(f"{path}: incomplete {FORMAT} file (missing {e})") from None


def save_comparison(path, cmp, *, tokens, meta: dict, layers=None, dtype=np.float32) -> Path:
    """Write a :class:`.bridge.Comparison`: the states of the network (``hidden``) and of each
    ODE variant (``ode_<variant>``, "+" written "_") at ``layers`` (default: all) as ``dtype``,
    and, for every layer, each system's statistics ``<system>_mean``, ``_std``, ``_clusters``,
    ``_hist`` (``<system>`` = ``network`` or ``ode_<variant>``)."""
    depth = cmp.hidden.shape[0] - 1
    sel = parse_layers(layers, depth) if not isinstance(layers, np.ndarray) else layers
    dtype = np.dtype(dtype)
    arrays = {
        "hidden": cmp.hidden[sel].astype(dtype),
        "layers": sel,
        "tokens": np.asarray(tokens),
        "beta": cmp.beta,
        "betas": cmp.betas,
        "scale": cmp.scale,
    }
    systems = {"network": cmp.hidden}
    for v in cmp.variants:
        key = "ode_" + v.replace("+", "_")
        arrays[key] = cmp.ode[v][sel].astype(dtype)
        systems[key] = cmp.ode[v]
    for name, x in systems.items():
        st = depth_stats(x, delta=1e-2)
        arrays.update(
            {
                f"{name}_mean": st.mean,
                f"{name}_std": st.std,
                f"{name}_clusters": st.clusters,
                f"{name}_hist": st.hist.astype(np.float32),
            }
        )
    arrays["edges"] = st.edges
    m = {
        "format": FORMAT_ODE,
        **meta,
        "variants": list(cmp.variants),
        "dt": cmp.dt,
        "loss": cmp.loss,
        "scale_kind": cmp.scale_kind,
        "fit_depth": cmp.fit_depth,
        "states_dtype": dtype.name,
        "delta": 1e-2,
    }
    return save_npz(path, arrays, m)


def compare_text(
    text: str,
    *,
    model=None,
    encoder: Encoder | None = None,
    tokenizer: WordPieceTokenizer | None = None,
    depth: int | None = None,
    max_tokens: int | None = None,
    variants=("attention", "attention+ffn"),
    dt: float | None = None,
    scale: str = "measured",
    steps_per_layer: int = 2,
    source: str = "",
    progress: bool = False,
):
    """Tokenise ``text`` (first ``max_tokens`` pieces, default :data:`DEFAULT_ODE_TOKENS` or the
    model's positions if fewer; more than the model's positions is an error) and run
    :func:`.bridge.compare_ode`.

    **Returns:** ``(comparison, tokens, meta)``."""
    from .bridge import compare_ode

    _check_max_tokens(max_tokens)
    if depth is not None:
        check_count(depth, "depth", 1e6)
    if encoder is None or tokenizer is None:
        encoder, tokenizer = load_model(model)
    max_tokens = _token_limit(encoder, max_tokens, DEFAULT_ODE_TOKENS)
    ids, toks = tokenizer.encode(text, max_length=max_tokens)
    if depth is not None:
        copies = 2 + 2 * len(tuple(variants))
        _check_depth_memory(int(depth), len(ids), encoder.config.hidden_size, copies, "states")
    cmp = compare_ode(
        encoder,
        np.asarray(ids),
        depth=depth,
        variants=variants,
        dt=dt,
        scale=scale,
        steps_per_layer=steps_per_layer,
        progress=progress,
    )
    meta = {
        "model": encoder.name,
        "model_path": encoder.path,
        "n_tokens": len(ids),
        "depth": int(cmp.hidden.shape[0] - 1),
        "trained_depth": encoder.num_layers,
        "steps_per_layer": steps_per_layer,
        "method": "rk4",
        "source": source,
        "seed": None,
    }
    return cmp, np.array(toks), meta
