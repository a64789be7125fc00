"""Helpers for the transformer tests: a tiny random BERT model directory (no download), and the
command line."""

import json

import numpy as np

TINY_VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    ".",
    ",",
    "!",
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    "un",
    "##believ",
    "##able",
    "##s",
    "cafe",
    "token",
    "cluster",
    "layer",
    "deep",
    "net",
]


def make_tiny_bert(
    path, *, d=32, heads=4, layers=2, inter=64, vocab=TINY_VOCAB, seed=0, act="gelu", gain=1.0
):
    """Write a random BERT (config.json, model.safetensors, vocab.txt) to ``path``."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    V = len(vocab)
    cfg = {
        "model_type": "bert",
        "vocab_size": V,
        "hidden_size": d,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "hidden_act": act,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
    }
    (path / "config.json").write_text(json.dumps(cfg))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    f = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)
    t = {
        "embeddings.word_embeddings.weight": f(V, d),
        "embeddings.position_embeddings.weight": f(64, d),
        "embeddings.token_type_embeddings.weight": f(2, d),
        "embeddings.LayerNorm.weight": (gain + 0.1 * rng.standard_normal(d)).astype(np.float32),
        "embeddings.LayerNorm.bias": f(d) * 0.1,
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for k in ("query", "key", "value"):
            t[p + f"attention.self.{k}.weight"] = f(d, d)
            t[p + f"attention.self.{k}.bias"] = f(d) * 0.1
        t[p + "attention.output.dense.weight"] = f(d, d)
        t[p + "attention.output.dense.bias"] = f(d) * 0.1
        t[p + "attention.output.LayerNorm.weight"] = (gain + 0.1 * rng.standard_normal(d)).astype(
            np.float32
        )
        t[p + "attention.output.LayerNorm.bias"] = f(d) * 0.1
        t[p + "intermediate.dense.weight"] = f(inter, d)
        t[p + "intermediate.dense.bias"] = f(inter) * 0.1
        t[p + "output.dense.weight"] = f(d, inter)
        t[p + "output.dense.bias"] = f(d) * 0.1
        t[p + "output.LayerNorm.weight"] = (gain + 0.1 * rng.standard_normal(d)).astype(np.float32)
        t[p + "output.LayerNorm.bias"] = f(d) * 0.1
    save_file(t, str(path / "model.safetensors"))
    return path


def cli(*args):
    """``particles ARGS...`` through click's test runner (arguments turned into strings)."""
    from click.testing import CliRunner

    from particles.cli.main import main

    return CliRunner().invoke(main, [str(a) for a in args])
