"""A pretrained Transformer encoder in numpy: configuration, weights, and every layer's states.

Supported: BERT-family encoders (``model_type`` bert, e.g. all-MiniLM-L6-v2) and ALBERT (one
shared layer, factorised embeddings), read from a local directory in the standard layout
(``config.json``, ``model.safetensors``, ``tokenizer.json`` or ``vocab.txt``). The layer itself
is generic: post-LN or pre-LN, LayerNorm or RMSNorm, learned or sinusoidal positions, padding
and causal masks, any activation of :mod:`.layers`.

The forward pass runs in float64 on float32 weights; it returns the hidden states after the
embedding and after each layer, ``(L+1, n, d)``, exactly what the reference library returns as
``output_hidden_states`` (before any normalisation onto the sphere).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, count, finite
from .layers import (
    activation,
    attention_mask,
    layer_norm,
    multi_head_attention,
    rms_norm,
    sinusoidal_encoding,
)

_NORMS = ("layernorm", "rmsnorm")


@dataclass(frozen=True, kw_only=True)
class EncoderConfig:
    """Architecture of an encoder.

    ``norm_position``: ``"post"`` (x ↦ N(x + f(x)), BERT/ALBERT) or ``"pre"`` (x ↦ x + f(N(x)),
    with a final norm). ``position``: ``"learned"``, ``"sinusoidal"`` or ``"none"``.
    ``embedding_size`` < ``hidden_size`` means ALBERT's factorised embedding (a projection
    follows). ``shared_layers``: one set of layer weights used at every depth (ALBERT).
    """

    model_type: str = "bert"
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    activation: str = "gelu"
    norm: str = "layernorm"
    norm_position: str = "post"
    eps: float = 1e-12
    position: str = "learned"
    max_position: int = 512
    type_vocab_size: int = 2
    embedding_size: int | None = None
    shared_layers: bool = False
    causal: bool = False
    embed_scale: float = 1.0

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size"):
            count(getattr(self, name), f"config: {name}")
        if self.hidden_size % self.num_heads:
            raise ParticlesError(
                f"config: hidden_size {self.hidden_size} not divisible by {self.num_heads} heads"
            )
        if self.norm not in _NORMS:
            raise ParticlesError(f"config: norm must be one of {_NORMS}, got {self.norm!r}")
        if self.norm_position not in ("post", "pre"):
            raise ParticlesError(
                f"config: norm_position must be 'post' or 'pre', got {self.norm_position!r}"
            )
        if self.position not in ("learned", "sinusoidal", "none"):
            raise ParticlesError(f"config: unknown position encoding {self.position!r}")
        activation(self.activation)
        finite(self.eps, "config: eps", "> 0")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @classmethod
    def from_hf(cls, cfg: dict) -> EncoderConfig:
        """From a Hugging Face ``config.json`` dictionary (bert, albert and close relatives)."""
        mt = cfg.get("model_type", "bert")
        if mt not in ("bert", "albert", "roberta", "xlm-roberta", "electra"):
            raise ParticlesError(f"model_type {mt!r} is not supported (bert, albert)")
        pet = cfg.get("position_embedding_type", "absolute")
        if pet != "absolute":
            raise ParticlesError(f"position_embedding_type {pet!r} is not supported (absolute)")
        try:
            kw = dict(
                model_type=mt,
                vocab_size=int(cfg["vocab_size"]),
                hidden_size=int(cfg["hidden_size"]),
                num_layers=int(cfg["num_hidden_layers"]),
                num_heads=int(cfg["num_attention_heads"]),
                intermediate_size=int(cfg["intermediate_size"]),
                activation=str(cfg.get("hidden_act", "gelu")),
                eps=float(cfg.get("layer_norm_eps", 1e-12)),
                max_position=int(cfg.get("max_position_embeddings", 512)),
                type_vocab_size=int(cfg.get("type_vocab_size", 2)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ParticlesError(f"config.json lacks or has a bad entry: {e}") from None
        if mt == "albert":
            if cfg.get("num_hidden_groups", 1) != 1 or cfg.get("inner_group_num", 1) != 1:
                raise ParticlesError("ALBERT with several layer groups is not supported")
            kw.update(embedding_size=int(cfg.get("embedding_size", 128)), shared_layers=True)
        return cls(**kw)


_LAYER_KEYS = (
    "wq",
    "bq",
    "wk",
    "bk",
    "wv",
    "bv",
    "wo",
    "bo",
    "n1_w",
    "n1_b",
    "w1",
    "b1",
    "w2",
    "b2",
    "n2_w",
    "n2_b",
)


@dataclass(frozen=True, kw_only=True)
class LayerWeights:
    """One encoder layer's weights (float64, ``nn.Linear`` layout ``(out, in)``).

    ``n1_*`` is the norm around attention, ``n2_*`` the one around the feed-forward (after the
    residual in post-LN, before the sub-layer in pre-LN). Biases may be None.
    """

    wq: np.ndarray
    bq: np.ndarray | None
    wk: np.ndarray
    bk: np.ndarray | None
    wv: np.ndarray
    bv: np.ndarray | None
    wo: np.ndarray
    bo: np.ndarray | None
    n1_w: np.ndarray | None
    n1_b: np.ndarray | None
    w1: np.ndarray
    b1: np.ndarray | None
    w2: np.ndarray
    b2: np.ndarray | None
    n2_w: np.ndarray | None
    n2_b: np.ndarray | None

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                a = np.array(v, dtype=np.float64)
                if not np.all(np.isfinite(a)):
                    raise ParticlesError(f"layer weight {f.name} has non-finite entries")
                a.setflags(write=False)
                object.__setattr__(self, f.name, a)
        d = self.wq.shape[1]
        checks = {
            "wk": (self.wq.shape[0], d),
            "wv": (self.wv.shape[0], d),
            "wo": (d, self.wv.shape[0]),
            "w1": (self.w1.shape[0], d),
            "w2": (d, self.w1.shape[0]),
        }
        for k, shp in checks.items():
            if getattr(self, k).shape != shp:
                raise ParticlesError(
                    f"layer weight {k} has shape {getattr(self, k).shape}, expected {shp}"
                )


def _norm(x, w, b, cfg: EncoderConfig):
    if cfg.norm == "rmsnorm":
        return rms_norm(x, w, cfg.eps)
    return layer_norm(x, w, b, cfg.eps)


def encoder_layer(
    x, lw: LayerWeights, cfg: EncoderConfig, *, mask=None, return_attention: bool = False
):
    """One encoder layer on ``x`` ``(n, d)``; returns the new ``(n, d)`` (and ``A (H, n, n)``).

    post-LN: ``y = N1(x + MHA(x))``, ``out = N2(y + FFN(y))``;
    pre-LN: ``y = x + MHA(N1(x))``, ``out = y + FFN(N2(y))``.
    """
    act = activation(cfg.activation)
    attn_args = (lw.wq, lw.bq, lw.wk, lw.bk, lw.wv, lw.bv, lw.wo, lw.bo, cfg.num_heads)

    def ffn(h):
        u = h @ lw.w1.T
        if lw.b1 is not None:
            u = u + lw.b1
        u = act(u) @ lw.w2.T
        return u if lw.b2 is None else u + lw.b2

    if cfg.norm_position == "post":
        a, att = multi_head_attention(x, *attn_args, mask=mask, return_attention=True)
        y = _norm(x + a, lw.n1_w, lw.n1_b, cfg)
        out = _norm(y + ffn(y), lw.n2_w, lw.n2_b, cfg)
    else:
        a, att = multi_head_attention(
            _norm(x, lw.n1_w, lw.n1_b, cfg), *attn_args, mask=mask, return_attention=True
        )
        y = x + a
        out = y + ffn(_norm(y, lw.n2_w, lw.n2_b, cfg))
    return (out, att) if return_attention else out


@dataclass(frozen=True, kw_only=True)
class Encoder:
    """A whole encoder: config, embedding tables, layer weights (``layers``; one entry when the
    layers are shared), optional final norm (pre-LN), and where it came from."""

    config: EncoderConfig
    word_embeddings: np.ndarray
    position_embeddings: np.ndarray | None = None
    token_type_embeddings: np.ndarray | None = None
    emb_norm_w: np.ndarray | None = None
    emb_norm_b: np.ndarray | None = None
    emb_proj_w: np.ndarray | None = None
    emb_proj_b: np.ndarray | None = None
    layers: tuple[LayerWeights, ...]
    final_norm_w: np.ndarray | None = None
    final_norm_b: np.ndarray | None = None
    name: str = ""
    path: str = ""
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        c = self.config
        if self.word_embeddings.ndim != 2 or self.word_embeddings.shape[0] != c.vocab_size:
            raise ParticlesError(
                f"word embeddings have shape {self.word_embeddings.shape}, expected ({c.vocab_size}, ·)"
            )
        want = 1 if c.shared_layers else c.num_layers
        if len(self.layers) != want:
            raise ParticlesError(f"expected {want} layer weight sets, got {len(self.layers)}")

    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    def layer(self, k: int) -> LayerWeights:
        """Weights used at depth ``k`` (0-based); any k for shared layers."""
        if self.config.shared_layers:
            return self.layers[0]
        if not 0 <= k < len(self.layers):
            raise ParticlesError(f"layer index {k} out of range 0..{len(self.layers) - 1}")
        return self.layers[k]

    def embed(self, ids, token_type_ids=None) -> np.ndarray:
        """Token ids ``(n,)`` -> layer-0 hidden states ``(n, d)`` (the embedding output)."""
        c = self.config
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
            raise ParticlesError("token ids must be a non-empty 1-D integer array")
        if ids.min() < 0 or ids.max() >= c.vocab_size:
            raise ParticlesError(f"token ids must lie in 0..{c.vocab_size - 1}")
        n = ids.size
        x = np.asarray(self.word_embeddings[ids], dtype=np.float64) * c.embed_scale
        if c.position == "learned":
            if n > self.position_embeddings.shape[0]:
                raise ParticlesError(
                    f"{n} tokens exceed the model's {self.position_embeddings.shape[0]} positions; "
                    "use a shorter text or --max-tokens"
                )
            x = x + self.position_embeddings[:n]
        elif c.position == "sinusoidal":
            x = x + sinusoidal_encoding(n, x.shape[1])
        if self.token_type_embeddings is not None:
            tt = (
                np.zeros(n, dtype=np.int64)
                if token_type_ids is None
                else np.asarray(token_type_ids)
            )
            x = x + self.token_type_embeddings[tt]
        if self.emb_norm_w is not None:
            x = _norm(x, self.emb_norm_w, self.emb_norm_b, c)
        if self.emb_proj_w is not None:
            x = x @ np.asarray(self.emb_proj_w, dtype=np.float64).T
            if self.emb_proj_b is not None:
                x = x + self.emb_proj_b
        return x

    def schedule(self, depth: int | None = None, repeat: int | None = None) -> list[int]:
        """Layer indices applied at depths 1..depth: the trained layers, then layer ``repeat``
        (default: the last one) repeated up to ``depth`` (weight tying, as in ALBERT)."""
        L = self.num_layers
        depth = L if depth is None else count(depth, "depth", 0)
        if self.config.shared_layers:
            return [0] * depth
        rep = L - 1 if repeat is None else int(repeat)
        if not 0 <= rep < L:
            raise ParticlesError(f"repeat layer {rep} out of range 0..{L - 1}")
        return [k if k < L else rep for k in range(depth)]

    def hidden_states(
        self,
        ids,
        *,
        depth: int | None = None,
        repeat: int | None = None,
        valid=None,
        token_type_ids=None,
        causal: bool | None = None,
        return_attention: bool = False,
        progress: bool = False,
    ):
        """Every layer's hidden states for one sequence.

        **Arguments:** ``ids`` ``(n,)``; ``depth``: number of layers to apply (default: the
        trained depth; more repeats layer ``repeat``, default the last); ``valid`` ``(n,)`` bool
        padding mask; ``causal`` (default from the config).
        **Returns:** ``hidden`` ``(depth+1, n, d)`` float64 (index 0 = embedding output; for pre-LN
        models the final norm is applied to the last entry, as the reference does), and with
        ``return_attention`` also ``attn`` ``(depth, H, n, n)``.
        """
        x = self.embed(ids, token_type_ids)
        n = x.shape[0]
        causal = self.config.causal if causal is None else causal
        mask = attention_mask(n, valid=valid, causal=causal)
        sched = self.schedule(depth, repeat)
        hid = np.empty((len(sched) + 1, n, x.shape[1]))
        hid[0] = x
        attn = np.empty((len(sched), self.config.num_heads, n, n)) if return_attention else None
        it = sched
        if progress:
            from tqdm import tqdm

            it = tqdm(sched, desc="layers", leave=False)
        for k, li in enumerate(it):
            res = encoder_layer(
                x, self.layer(li), self.config, mask=mask, return_attention=return_attention
            )
            if return_attention:
                x, attn[k] = res
            else:
                x = res
            hid[k + 1] = x
        if self.final_norm_w is not None and len(sched):
            hid[-1] = _norm(hid[-1], self.final_norm_w, self.final_norm_b, self.config)
        return (hid, attn) if return_attention else hid


# ---------------------------------------------------------------------------------------------
# loading from a directory


def read_safetensors(path: str | os.PathLike, names=None) -> dict[str, np.ndarray]:
    """Read tensors from a ``.safetensors`` file with the ``safetensors`` library (the
    ``transformer`` extra), as read-only numpy arrays.

    **Arguments:** ``path``; ``names``: an iterable of tensor names to read (default: all).
    **Returns:** ``{name: array}`` with the stored dtype and shape.
    **Raises:** :class:`ParticlesError` for a missing, truncated or malformed file, or an
    unknown tensor name.
    """
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError:
        raise ParticlesError(
            "reading model weights needs the safetensors package: pip install safetensors "
            "tokenizers, or pip install -e '.[transformer]' in the repository"
        ) from None
    path = Path(path)
    if not path.is_file():
        raise ParticlesError(f"{path}: no such safetensors file")
    out: dict[str, np.ndarray] = {}
    try:
        with safe_open(str(path), framework="numpy") as f:
            keys = list(f.keys())
            names = keys if names is None else list(names)
            missing = [k for k in names if k not in keys]
            if missing:
                raise ParticlesError(f"{path}: no tensor named {missing[0]!r}")
            for k in names:
                a = f.get_tensor(k)
                a.setflags(write=False)
                out[k] = a
    except ParticlesError:
        raise
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ParticlesError(f"{path}: not a readable safetensors file ({msg})") from None
    return out


def _strip_prefix(tensors: dict, prefixes=("bert.", "albert.", "roberta.", "electra.", "model.")):
    out = {}
    for k, v in tensors.items():
        for p in prefixes:
            if k.startswith(p):
                k = k[len(p) :]
                break
        out[k] = v
    return out


def _get(t: dict, key: str, where: Path, optional: bool = False):
    if key in t:
        return t[key]
    if optional:
        return None
    raise ParticlesError(f"{where}: weight {key!r} missing (not a supported checkpoint?)")


#: LayerWeights field -> (BERT key, ALBERT key) of the weight matrix (``.weight``); the matching
#: ``.bias`` is optional. BERT keys follow ``encoder.layer.{i}.``, ALBERT's the one shared layer.
_LAYER_KEYS = {
    "q": ("attention.self.query", "attention.query"),
    "k": ("attention.self.key", "attention.key"),
    "v": ("attention.self.value", "attention.value"),
    "o": ("attention.output.dense", "attention.dense"),
    "n1": ("attention.output.LayerNorm", "attention.LayerNorm"),
    "1": ("intermediate.dense", "ffn"),
    "2": ("output.dense", "ffn_output"),
    "n2": ("output.LayerNorm", "full_layer_layer_norm"),
}


def _layer(t, prefix: str, which: int, where) -> LayerWeights:
    """One layer's weights under ``prefix``; ``which`` 0 for BERT names, 1 for ALBERT names."""
    kw = {}
    for f, keys in _LAYER_KEYS.items():
        key = prefix + keys[which]
        w, b = ("w" + f, "b" + f) if not f.startswith("n") else (f + "_w", f + "_b")
        kw[w] = _get(t, key + ".weight", where)
        kw[b] = _get(t, key + ".bias", where, True)
    return LayerWeights(**kw)


def _bert_layers(t, cfg, where):
    return tuple(_layer(t, f"encoder.layer.{i}.", 0, where) for i in range(cfg.num_layers))


def _albert_layers(t, where):
    return (_layer(t, "encoder.albert_layer_groups.0.albert_layers.0.", 1, where),)


def load_encoder(model_dir: str | os.PathLike, *, name: str = "") -> Encoder:
    """Load an encoder from a local model directory (``config.json`` + ``model.safetensors``).

    **Raises:** :class:`ParticlesError` naming the missing or malformed file.
    """
    d = Path(model_dir).expanduser()
    if not d.is_dir():
        raise ParticlesError(
            f"{d}: no such model directory (run `particles models fetch minilm`, or give --model "
            "a directory holding config.json and model.safetensors)"
        )
    cfg_path, st_path = d / "config.json", d / "model.safetensors"
    for p in (cfg_path, st_path):
        if not p.is_file():
            raise ParticlesError(
                f"{d}: malformed model directory, {p.name} missing "
                "(re-run `particles models fetch minilm` for the default model)"
            )
    try:
        raw_cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ParticlesError(f"{cfg_path}: not readable JSON") from None
    if not isinstance(raw_cfg, dict):
        raise ParticlesError(f"{cfg_path}: not a JSON object")
    cfg = EncoderConfig.from_hf(raw_cfg)
    t = _strip_prefix(read_safetensors(st_path))
    g = lambda k, o=False: _get(t, k, st_path, o)
    if cfg.model_type == "albert":
        layers = _albert_layers(t, st_path)
        proj_w = g("encoder.embedding_hidden_mapping_in.weight")
        proj_b = g("encoder.embedding_hidden_mapping_in.bias", True)
    else:
        layers = _bert_layers(t, cfg, st_path)
        proj_w = proj_b = None
    f64 = lambda a: None if a is None else np.asarray(a, dtype=np.float64)
    return Encoder(
        config=cfg,
        word_embeddings=g("embeddings.word_embeddings.weight"),
        position_embeddings=f64(g("embeddings.position_embeddings.weight")),
        token_type_embeddings=f64(g("embeddings.token_type_embeddings.weight", True)),
        emb_norm_w=f64(g("embeddings.LayerNorm.weight", True)),
        emb_norm_b=f64(g("embeddings.LayerNorm.bias", True)),
        emb_proj_w=f64(proj_w),
        emb_proj_b=f64(proj_b),
        layers=layers,
        name=name or d.name,
        path=str(d),
        extra={"config": raw_cfg},
    )
