"""BERT WordPiece tokenisation in pure Python, matching the ``tokenizers`` library exactly.

The pipeline is the one a BERT ``tokenizer.json`` declares (BertNormalizer, BertPreTokenizer,
WordPiece, ``[CLS] ... [SEP]`` template):

1. special tokens written in the text (``[CLS]``, ``[MASK]``, ...) are kept whole;
2. *clean text*: drop NUL, U+FFFD and "other" characters (Unicode category C*, except tab, newline,
   carriage return); map whitespace (tab, newline, CR, categories Zs/Zl/Zp) to a space;
3. put spaces around CJK ideographs;
4. *strip accents* (NFD, then drop non-spacing marks, category Mn) and *lowercase* character by
   character (for uncased models);
5. split on whitespace and isolate every punctuation character (ASCII punctuation or Unicode P*);
6. WordPiece: greedy longest-match-first against the vocabulary, continuation pieces prefixed
   with ``##``; a word with no segmentation, or longer than ``max_input_chars_per_word``,
   becomes ``[UNK]``.

It is tested against ``tokenizers`` on sentences with punctuation, accents, CJK and unknown words.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParticlesError

_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_cjk(cp: int) -> bool:
    return any(a <= cp <= b for a, b in _CJK_RANGES)


def _is_whitespace(c: str) -> bool:
    return c in " \t\n\r" or unicodedata.category(c) in ("Zs", "Zl", "Zp")


def _is_control(c: str) -> bool:
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def _is_punctuation(c: str) -> bool:
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


@dataclass(frozen=True, kw_only=True)
class WordPieceTokenizer:
    """A BERT WordPiece tokenizer.

    **Fields:** ``vocab`` (token -> id), ``lowercase``, ``strip_accents`` (None: follow
    ``lowercase``), ``handle_chinese_chars``, ``unk_token``, ``cls_token``, ``sep_token``,
    ``special_tokens`` (kept whole when they appear in the text), ``max_input_chars_per_word``.
    """

    vocab: dict[str, int]
    lowercase: bool = True
    strip_accents: bool | None = None
    handle_chinese_chars: bool = True
    clean_text: bool = True
    unk_token: str = "[UNK]"
    cls_token: str = "[CLS]"
    sep_token: str = "[SEP]"
    prefix: str = "##"
    special_tokens: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    max_input_chars_per_word: int = 100
    inverse: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not self.vocab:
            raise ParticlesError("tokenizer vocabulary is empty")
        for t in (self.unk_token, self.cls_token, self.sep_token):
            if t not in self.vocab:
                raise ParticlesError(f"tokenizer vocabulary lacks the special token {t!r}")
        object.__setattr__(self, "inverse", {i: t for t, i in self.vocab.items()})

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_vocab_txt(cls, path: str | os.PathLike, **kw) -> WordPieceTokenizer:
        """Read ``vocab.txt`` (one token per line, id = line number)."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except OSError as e:
            raise ParticlesError(f"{path}: cannot read vocabulary: {e.strerror}") from None
        if lines and lines[-1] == "":
            lines.pop()
        vocab: dict[str, int] = {}
        for i, tok in enumerate(lines):
            vocab.setdefault(tok.rstrip("\r"), i)
        return cls(vocab=vocab, **kw)

    @classmethod
    def from_tokenizer_json(cls, path: str | os.PathLike) -> WordPieceTokenizer:
        """Read a ``tokenizers`` ``tokenizer.json`` whose model is WordPiece with a BertNormalizer."""
        path = Path(path)
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
            model = spec["model"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            raise ParticlesError(f"{path}: not a readable tokenizer.json") from None
        if model.get("type") != "WordPiece":
            raise ParticlesError(
                f"{path}: tokenizer model is {model.get('type')!r}; only WordPiece is supported"
            )
        norm = spec.get("normalizer") or {}
        if norm and norm.get("type") != "BertNormalizer":
            raise ParticlesError(f"{path}: normalizer {norm.get('type')!r} is not supported")
        specials = tuple(t["content"] for t in spec.get("added_tokens", []) if t.get("special"))
        post = spec.get("post_processor") or {}
        cls_tok, sep_tok = "[CLS]", "[SEP]"
        st = post.get("special_tokens") or {}
        if post.get("type") == "TemplateProcessing" and len(post.get("single", [])) >= 2:
            first, last = post["single"][0], post["single"][-1]
            cls_tok = first.get("SpecialToken", {}).get("id", cls_tok)
            sep_tok = last.get("SpecialToken", {}).get("id", sep_tok)
        elif post.get("type") == "BertProcessing":
            sep_tok, cls_tok = post["sep"][0], post["cls"][0]
        del st
        return cls(
            vocab=dict(model["vocab"]),
            lowercase=bool(norm.get("lowercase", True)),
            strip_accents=norm.get("strip_accents"),
            handle_chinese_chars=bool(norm.get("handle_chinese_chars", True)),
            clean_text=bool(norm.get("clean_text", True)),
            unk_token=model.get("unk_token", "[UNK]"),
            prefix=model.get("continuing_subword_prefix", "##"),
            max_input_chars_per_word=int(model.get("max_input_chars_per_word", 100)),
            special_tokens=specials or ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
            cls_token=cls_tok,
            sep_token=sep_tok,
        )

    # -- the pipeline --------------------------------------------------------------------------
    def normalize(self, text: str) -> str:
        """Steps 2-4: clean text, space out CJK, strip accents, lowercase."""
        if self.clean_text:
            text = "".join(
                " " if _is_whitespace(c) else c
                for c in text
                if not (c == "\x00" or c == "\ufffd" or _is_control(c))
            )
        if self.handle_chinese_chars:
            text = "".join(f" {c} " if _is_cjk(ord(c)) else c for c in text)
        strip = self.lowercase if self.strip_accents is None else self.strip_accents
        if strip:
            text = "".join(
                c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
            )
        if self.lowercase:
            text = "".join(c.lower() for c in text)
        return text

    @staticmethod
    def pre_tokenize(text: str) -> list[str]:
        """Step 5: split on whitespace, isolate punctuation characters."""
        words: list[str] = []
        for chunk in text.split():
            cur = []
            for c in chunk:
                if _is_punctuation(c):
                    if cur:
                        words.append("".join(cur))
                        cur = []
                    words.append(c)
                elif _is_whitespace(c):
                    if cur:
                        words.append("".join(cur))
                        cur = []
                else:
                    cur.append(c)
            if cur:
                words.append("".join(cur))
        return words

    def wordpiece(self, word: str) -> list[str]:
        """Step 6: greedy longest-match-first segmentation of one word."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            cur = None
            while start < end:
                sub = word[start:end]
                if start > 0:
                    sub = self.prefix + sub
                if sub in self.vocab:
                    cur = sub
                    break
                end -= 1
            if cur is None:
                return [self.unk_token]
            pieces.append(cur)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Text -> word pieces, without ``[CLS]``/``[SEP]``."""
        if not isinstance(text, str):
            raise ParticlesError(f"text must be a string, got {type(text).__name__}")
        specials = [s for s in self.special_tokens if s in self.vocab]
        parts = [text]
        if specials:
            pattern = (
                "(" + "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")"
            )
            parts = re.split(pattern, text)
        out: list[str] = []
        for k, part in enumerate(parts):
            if k % 2 == 1 and specials:
                out.append(part)
                continue
            for w in self.pre_tokenize(self.normalize(part)):
                out.extend(self.wordpiece(w))
        return out

    def encode(self, text: str, *, add_special_tokens: bool = True, max_length: int | None = None):
        """Text -> ``(ids, tokens)``: lists of ints and strings, ``[CLS] ... [SEP]`` around.

        ``max_length`` truncates the word pieces so that the whole sequence fits.
        """
        toks = self.tokenize(text)
        if max_length is not None:
            room = max_length - (2 if add_special_tokens else 0)
            if room < 1:
                raise ParticlesError(f"max_length={max_length} leaves no room for any token")
            toks = toks[:room]
        if add_special_tokens:
            toks = [self.cls_token, *toks, self.sep_token]
        unk = self.vocab[self.unk_token]
        return [self.vocab.get(t, unk) for t in toks], toks

    def decode(self, ids) -> list[str]:
        """Ids -> token strings."""
        return [self.inverse.get(int(i), self.unk_token) for i in ids]


def load_tokenizer(model_dir: str | os.PathLike) -> WordPieceTokenizer:
    """The tokenizer of a model directory: ``tokenizer.json`` if present, else ``vocab.txt``
    (with ``do_lower_case`` from ``tokenizer_config.json``, default True)."""
    model_dir = Path(model_dir)
    tj = model_dir / "tokenizer.json"
    if tj.is_file():
        return WordPieceTokenizer.from_tokenizer_json(tj)
    vt = model_dir / "vocab.txt"
    if vt.is_file():
        lower = True
        cfg = model_dir / "tokenizer_config.json"
        if cfg.is_file():
            try:
                c = json.loads(cfg.read_text(encoding="utf-8"))
                lower = bool(c.get("do_lower_case", True))
                sa = c.get("strip_accents")
            except (OSError, json.JSONDecodeError):
                raise ParticlesError(f"{cfg}: not readable JSON") from None
            return WordPieceTokenizer.from_vocab_txt(vt, lowercase=lower, strip_accents=sa)
        return WordPieceTokenizer.from_vocab_txt(vt, lowercase=lower)
    raise ParticlesError(f"{model_dir}: no tokenizer.json or vocab.txt (not a model directory?)")
