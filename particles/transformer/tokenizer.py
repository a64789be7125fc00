"""Text -> token ids and token texts, through the ``tokenizers`` library (the ``transformer``
extra: ``pip install -e '.[transformer]'``).

A model directory's ``tokenizer.json`` is read as it is (for BERT: BertNormalizer, i.e. clean
text, spaces around CJK ideographs, accents stripped and lowercase for uncased models;
BertPreTokenizer; WordPiece; the ``[CLS] ... [SEP]`` template); its stored padding and
truncation are switched off, :meth:`WordPieceTokenizer.encode` truncates on request. Without a
``tokenizer.json``, ``vocab.txt`` builds the same BERT WordPiece pipeline, with ``do_lower_case``
and ``strip_accents`` from ``tokenizer_config.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParticlesError


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ParticlesError(
            "the Transformer tokenizer needs the tokenizers package: pip install tokenizers "
            "safetensors, or pip install -e '.[transformer]' in the repository"
        ) from None
    return tokenizers


def _first_line(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


@dataclass(frozen=True)
class WordPieceTokenizer:
    """A ``tokenizers.Tokenizer`` (field ``tokenizer``) with the calls the analyses use.

    Build one with :func:`load_tokenizer` (a model directory), :meth:`from_tokenizer_json`,
    :meth:`from_vocab_txt` or :meth:`from_vocab` (a ``{token: id}`` dict).
    """

    tokenizer: object

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_vocab(
        cls, vocab: dict[str, int], *, lowercase: bool = True, strip_accents: bool | None = None
    ) -> WordPieceTokenizer:
        """BERT WordPiece on ``vocab``: ``tokenizers``' ``BertWordPieceTokenizer`` pipeline
        (``strip_accents=None`` follows ``lowercase``)."""
        tk = _tokenizers()
        from tokenizers.implementations import BertWordPieceTokenizer

        if not isinstance(vocab, dict):
            raise ParticlesError(f"vocab must be a dict of token -> id, got {type(vocab).__name__}")
        if not vocab:
            raise ParticlesError("tokenizer vocabulary is empty")
        for t in ("[UNK]", "[CLS]", "[SEP]"):
            if t not in vocab:
                raise ParticlesError(f"tokenizer vocabulary lacks the special token {t!r}")
        try:
            bert = BertWordPieceTokenizer(
                vocab, lowercase=bool(lowercase), strip_accents=strip_accents
            )
        except Exception as e:  # ids that are not integers, ...
            raise ParticlesError(f"not a usable WordPiece vocabulary: {_first_line(e)}") from None
        return cls(tk.Tokenizer.from_str(bert.to_str()))

    @classmethod
    def from_vocab_txt(cls, path: str | os.PathLike, **kw) -> WordPieceTokenizer:
        """Read ``vocab.txt`` (one token per line, id = line number); ``kw`` as :meth:`from_vocab`."""
        _tokenizers()
        from tokenizers.models import WordPiece

        path = Path(path)
        if not path.is_file():
            raise ParticlesError(f"{path}: cannot read vocabulary: no such file")
        try:
            vocab = WordPiece.read_file(str(path))
        except Exception as e:  # the library's reader raises a plain Exception
            raise ParticlesError(f"{path}: cannot read vocabulary: {_first_line(e)}") from None
        return cls.from_vocab(vocab, **kw)

    @classmethod
    def from_tokenizer_json(cls, path: str | os.PathLike) -> WordPieceTokenizer:
        """Read a ``tokenizers`` ``tokenizer.json`` (its padding and truncation switched off)."""
        tk = _tokenizers()
        path = Path(path)
        try:
            tok = tk.Tokenizer.from_file(str(path))
        except Exception as e:  # the library raises a plain Exception for unreadable files
            raise ParticlesError(
                f"{path}: not a readable tokenizer.json ({_first_line(e)})"
            ) from None
        tok.no_padding()
        tok.no_truncation()
        return cls(tok)

    # -- use -----------------------------------------------------------------------------------
    def _encoding(self, text, add_special_tokens: bool, max_length: int | None):
        if not isinstance(text, str):
            raise ParticlesError(f"text must be a string, got {type(text).__name__}")
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        if max_length is not None:
            extra = self.tokenizer.num_special_tokens_to_add(False) if add_special_tokens else 0
            room = max_length - extra
            if room < 1:
                raise ParticlesError(f"max_length={max_length} leaves no room for any token")
            enc.truncate(room)
        return self.tokenizer.post_process(enc, add_special_tokens=add_special_tokens)

    def tokenize(self, text: str) -> list[str]:
        """Text -> token texts, without ``[CLS]``/``[SEP]``."""
        return list(self._encoding(text, False, None).tokens)

    def encode(self, text: str, *, add_special_tokens: bool = True, max_length: int | None = None):
        """Text -> ``(ids, tokens)``: lists of ints and strings, ``[CLS] ... [SEP]`` around.

        ``max_length`` truncates the word pieces so that the whole sequence fits.
        """
        enc = self._encoding(text, add_special_tokens, max_length)
        return list(enc.ids), list(enc.tokens)

    def decode(self, ids) -> list[str]:
        """Ids -> token texts (unknown ids -> the unknown token)."""
        unk = getattr(self.tokenizer.model, "unk_token", None) or "[UNK]"
        return [self.tokenizer.id_to_token(int(i)) or unk for i in ids]

    @property
    def vocab(self) -> dict[str, int]:
        """``{token: id}``, added tokens included."""
        return self.tokenizer.get_vocab(with_added_tokens=True)


def load_tokenizer(model_dir: str | os.PathLike) -> WordPieceTokenizer:
    """The tokenizer of a model directory: ``tokenizer.json`` if present, else ``vocab.txt``
    (with ``do_lower_case`` and ``strip_accents`` from ``tokenizer_config.json``; default
    lowercase)."""
    model_dir = Path(model_dir)
    tj = model_dir / "tokenizer.json"
    if tj.is_file():
        return WordPieceTokenizer.from_tokenizer_json(tj)
    vt = model_dir / "vocab.txt"
    if vt.is_file():
        cfg = model_dir / "tokenizer_config.json"
        c = {}
        if cfg.is_file():
            try:
                c = json.loads(cfg.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                raise ParticlesError(f"{cfg}: not readable JSON") from None
            if not isinstance(c, dict):
                raise ParticlesError(f"{cfg}: not a JSON object")
        sa = c.get("strip_accents")
        return WordPieceTokenizer.from_vocab_txt(
            vt,
            lowercase=bool(c.get("do_lower_case", True)),
            strip_accents=None if sa is None else bool(sa),
        )
    raise ParticlesError(f"{model_dir}: no tokenizer.json or vocab.txt (not a model directory?)")
