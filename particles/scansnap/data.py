"""Data of *Scan and Snap* (arXiv 2305.16380): synthetic sequence classes and a real-text mode.

A sample is (context, query m, next token n). The model has no positional encoding, so a context
enters only through its token histogram ``counts`` (shape ``[batch, M]``); both tasks hand out
batches as ``(counts, queries, targets)``.

Synthetic layout (the authors' ``Dataset2``): token ids are
``[common | distinct of class 0 | ... | distinct of class K-1 | query tokens | next tokens]``,
so ``M = num_common + K * num_distinct + K / classes_per_query + K``. Class ``k`` has next token
``n_k`` and query ``psi(n_k)``; its context tokens are drawn i.i.d. from ``P(l | n_k)`` with
unnormalised weight 1 per common token and ``linspace(distinct_low, 1, num_distinct)`` for its own
distinct tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, count, finite
from ..model.sphere import as_rng
from ..resources import check_count, check_memory
from ..storage.npz import read_text, shipped_texts

__all__ = [
    "SyntheticTask",
    "TextTask",
    "as_rng",
    "builtin_texts",
    "counts_from_sequences",
    "load_text",
    "tokenize",
]

KIND_NAMES = ("common", "distinct", "query", "next")


def _check_int(name: str, value, low: int) -> None:
    check_count(count(value, name, low), name, 1e12)


def _ids(a, name: str) -> np.ndarray:
    """Token ids: an integer array (whole floats are taken), else a one-line error."""
    try:
        arr = np.asarray(a)
    except ValueError:
        raise ParticlesError(f"{name} must be an array of token ids") from None
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ParticlesError(f"{name} must be an array of integer token ids, got dtype {arr.dtype}")
    return arr


def counts_from_sequences(contexts: np.ndarray, vocab_size: int) -> np.ndarray:
    """Token histograms ``[batch, vocab_size]`` (float64) of integer contexts ``[batch, T]``."""
    vocab_size = count(vocab_size, "vocab_size")
    contexts = _ids(contexts, "contexts")
    if contexts.ndim != 2 or contexts.shape[1] < 1:
        raise ParticlesError(f"contexts must have shape [batch, T>=1], got {contexts.shape}")
    check_memory(8.0 * 2 * contexts.shape[0] * vocab_size, f"histograms over {vocab_size} tokens")
    if contexts.size and (contexts.min() < 0 or contexts.max() >= vocab_size):
        raise ParticlesError(f"context token ids must lie in [0, {vocab_size})")
    b = contexts.shape[0]
    flat = (np.arange(b)[:, None] * vocab_size + contexts).ravel()
    return np.bincount(flat, minlength=b * vocab_size).reshape(b, vocab_size).astype(np.float64)


@dataclass(frozen=True, kw_only=True)
class SyntheticTask:
    """The sequence classes of arXiv 2305.16380 (defaults: the authors' Fig. 4 setting, K=2).

    Parameters
    ----------
    num_classes : K >= 1, the number of classes (next tokens).
    classes_per_query : how many classes share one query token; must divide K.
    num_common : common tokens (shared by every class, unnormalised weight 1 each).
    num_distinct : distinct tokens per class (weights ``linspace(distinct_low, 1, num_distinct)``).
    context_len : number of context tokens before the query (the authors' L - 1 = 127).
    distinct_low : smallest unnormalised distinct-token weight.
    """

    num_classes: int = 2
    classes_per_query: int = 1
    num_common: int = 10
    num_distinct: int = 10
    context_len: int = 127
    distinct_low: float = 0.1
    probs: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        _check_int("num_classes", self.num_classes, 1)
        _check_int("classes_per_query", self.classes_per_query, 1)
        _check_int("num_common", self.num_common, 0)
        _check_int("num_distinct", self.num_distinct, 1)
        _check_int("context_len", self.context_len, 1)
        if self.num_classes % self.classes_per_query:
            raise ParticlesError(
                f"classes_per_query={self.classes_per_query} must divide "
                f"num_classes={self.num_classes}"
            )
        finite(self.distinct_low, "distinct_low", "(0, 1]")
        check_memory(  # P(l | n), and the model's Y and Z (M x M each)
            8.0 * (self.num_classes + 4 * self.vocab_size) * self.vocab_size,
            f"a task of {self.num_classes} classes and {self.vocab_size} tokens",
        )
        p = np.zeros((self.num_classes, self.vocab_size))
        p[:, : self.num_common] = 1.0
        w = np.linspace(self.distinct_low, 1.0, self.num_distinct)
        for k in range(self.num_classes):
            p[k, self.distinct_tokens(k)] = w
        p /= p.sum(axis=1, keepdims=True)
        p.setflags(write=False)
        object.__setattr__(self, "probs", p)

    # -- layout -----------------------------------------------------------------------------
    @property
    def num_queries(self) -> int:
        return self.num_classes // self.classes_per_query

    @property
    def vocab_size(self) -> int:
        """M, the number of tokens (and of output classes of the decoder)."""
        k = self.num_classes
        return self.num_common + k * self.num_distinct + self.num_queries + k

    def distinct_tokens(self, k: int) -> np.ndarray:
        """Token ids of class k's distinct tokens, in increasing P(l | n_k)."""
        start = self.num_common + k * self.num_distinct
        return np.arange(start, start + self.num_distinct)

    @property
    def common_tokens(self) -> np.ndarray:
        return np.arange(self.num_common)

    @property
    def query_tokens(self) -> np.ndarray:
        """Query token ``psi(n_k)`` of each class, shape ``[K]``."""
        base = self.num_common + self.num_classes * self.num_distinct
        return base + np.arange(self.num_classes) // self.classes_per_query

    @property
    def next_tokens(self) -> np.ndarray:
        """Next token ``n_k`` of each class, shape ``[K]``."""
        base = self.num_common + self.num_classes * self.num_distinct + self.num_queries
        return base + np.arange(self.num_classes)

    @property
    def kinds(self) -> np.ndarray:
        """Kind of each token, shape ``[M]``: 'common', 'distinct', 'query' or 'next'."""
        out = np.empty(self.vocab_size, dtype="<U8")
        c, kd = self.num_common, self.num_classes * self.num_distinct
        out[:c] = "common"
        out[c : c + kd] = "distinct"
        out[c + kd : c + kd + self.num_queries] = "query"
        out[c + kd + self.num_queries :] = "next"
        return out

    @property
    def support(self) -> np.ndarray:
        """Token ids with P(l | n) > 0 for some class: common then all distinct, ``[C + K D]``."""
        return np.arange(self.num_common + self.num_classes * self.num_distinct)

    def class_support(self, k: int) -> np.ndarray:
        """Class k's context tokens: its common then its distinct tokens (Fig. 4's columns)."""
        return np.concatenate([self.common_tokens, self.distinct_tokens(k)])

    def meta(self) -> dict:
        return {
            "mode": "synthetic",
            "num_classes": self.num_classes,
            "classes_per_query": self.classes_per_query,
            "num_common": self.num_common,
            "num_distinct": self.num_distinct,
            "context_len": self.context_len,
            "distinct_low": self.distinct_low,
        }

    # -- sampling ---------------------------------------------------------------------------
    def sample_classes(self, batch: int, rng) -> np.ndarray:
        return as_rng(rng).integers(self.num_classes, size=batch)

    def sample(self, batch: int, rng=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A batch ``(counts [B, M], queries [B], targets [B])``; classes uniform.

        The histogram of ``context_len`` i.i.d. draws is multinomial, so it is drawn directly.
        """
        _check_int("batch", batch, 1)
        rng = as_rng(rng)
        cls = self.sample_classes(batch, rng)
        counts = rng.multinomial(self.context_len, self.probs[cls]).astype(np.float64)
        return counts, self.query_tokens[cls], self.next_tokens[cls]

    def sample_sequences(self, batch: int, rng=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Explicit token sequences ``(contexts [B, T], queries [B], targets [B])``."""
        _check_int("batch", batch, 1)
        rng = as_rng(rng)
        cls = self.sample_classes(batch, rng)
        cdf = np.cumsum(self.probs, axis=1)
        cdf[:, -1] = 1.0
        u = rng.random((batch, self.context_len))
        ctx = np.empty((batch, self.context_len), dtype=np.int64)
        for k in range(self.num_classes):
            rows = cls == k
            ctx[rows] = np.searchsorted(cdf[k], u[rows], side="right")
        return ctx, self.query_tokens[cls], self.next_tokens[cls]


# -- real text -----------------------------------------------------------------------------
_TOKEN_RE = re.compile(r"[a-z]+(?:'[a-z]+)*|[.,;:!?\"]")


def tokenize(text: str) -> list[str]:
    """Lower-case words (with inner apostrophes) and punctuation marks, in order."""
    if not isinstance(text, str):
        raise ParticlesError(f"text must be a string, got {type(text).__name__}")
    return _TOKEN_RE.findall(text.lower())


def builtin_texts() -> list[str]:
    """Names of the passages shipped with the package (``particles/data/texts/scansnap_*.txt``)."""
    return shipped_texts("scansnap_")


def load_text(source: str | Path) -> str:
    """Text of a shipped passage (by name, e.g. ``"austen"``) or of a file; '#' lines dropped."""
    raw = read_text(source, "scansnap_")
    return "\n".join(ln for ln in raw.splitlines() if not ln.lstrip().startswith("#"))


@dataclass(frozen=True, kw_only=True)
class TextTask:
    """Next-token samples from a real text (text mode; cf. the paper's WikiText-2 Fig. 7).

    The text is tokenized with :func:`tokenize`; the ``vocab_size - 1`` most frequent tokens
    are kept and the rest map to ``"<unk>"`` (id 0). A sample at position t has context
    ``tokens[t - context_len : t]``, query ``tokens[t]`` and target ``tokens[t + 1]``.
    """

    text: str
    vocab_size: int = 200
    context_len: int = 32
    vocab: tuple = field(init=False, repr=False, compare=False)
    ids: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        _check_int("vocab_size", self.vocab_size, 2)
        _check_int("context_len", self.context_len, 1)
        words = tokenize(self.text)
        if len(words) < self.context_len + 2:
            raise ParticlesError(
                f"text has {len(words)} tokens; need at least context_len + 2 = "
                f"{self.context_len + 2}"
            )
        uniq, cnt = np.unique(np.array(words), return_counts=True)
        order = np.lexsort((uniq, -cnt))  # by frequency, ties alphabetical
        kept = [str(w) for w in uniq[order][: self.vocab_size - 1]]
        vocab = ("<unk>", *kept)
        index = {w: i for i, w in enumerate(vocab)}
        ids = np.array([index.get(w, 0) for w in words], dtype=np.int64)
        ids.setflags(write=False)
        object.__setattr__(self, "vocab", vocab)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "vocab_size", len(vocab))

    @property
    def num_positions(self) -> int:
        return len(self.ids) - self.context_len - 1

    def meta(self) -> dict:
        return {
            "mode": "text",
            "vocab_size": self.vocab_size,
            "context_len": self.context_len,
            "num_tokens": len(self.ids),
        }

    def sequences_at(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(contexts [B, T], queries [B], targets [B])`` at query positions ``t``."""
        t = np.asarray(positions, dtype=np.int64)
        if t.size and (t.min() < self.context_len or t.max() > len(self.ids) - 2):
            raise ParticlesError(f"positions must lie in [{self.context_len}, {len(self.ids) - 2}]")
        ctx = self.ids[t[:, None] + np.arange(-self.context_len, 0)[None, :]]
        return ctx, self.ids[t], self.ids[t + 1]

    def sample_sequences(self, batch: int, rng=None):
        _check_int("batch", batch, 1)
        t = as_rng(rng).integers(self.context_len, len(self.ids) - 1, size=batch)
        return self.sequences_at(t)

    def sample(self, batch: int, rng=None):
        ctx, q, y = self.sample_sequences(batch, rng)
        return counts_from_sequences(ctx, self.vocab_size), q, y
