"""Clustering through depth: the statistics of normalised token representations layer by layer.

For hidden states ``h`` of shape ``(L+1, n, d)``, each token is L2-normalised, ``x_i = h_i/|h_i|``
(as in arXiv 2312.10794, Fig. 1), and the pair similarities ``<x_i, x_j>`` (i < j) are summarised
per layer: a histogram on [-1, 1], mean and standard deviation, the fraction above a threshold, and
the number of clusters (connected components of the graph ``<x_i, x_j> > 1 - delta``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ParticlesError, count, finite, real_array
from ..storage.npz import read_text, shipped_texts


def normalize_tokens(h) -> np.ndarray:
    """``h / |h|`` along the last axis (a zero vector stays zero)."""
    h = real_array(h, "h (token representations)", finite=True)
    if h.ndim < 1:
        raise ParticlesError("token representations must be arrays (..., d), got a scalar")
    if np.max(np.abs(h), initial=0.0) > 1e150:
        raise ParticlesError("token representations have entries beyond 1e150 (norms overflow)")
    nrm = np.linalg.norm(h, axis=-1, keepdims=True)
    return h / np.where(nrm > 0, nrm, 1.0)


def pair_similarities(x) -> np.ndarray:
    """``<x_i, x_j>`` for i < j of normalised tokens ``x`` ``(n, d)``; shape ``(n(n-1)/2,)``."""
    x = normalize_tokens(x)
    g = x @ x.T
    iu = np.triu_indices(x.shape[0], 1)
    return np.clip(g[iu], -1.0, 1.0)


def cluster_labels(x, delta: float = 1e-2) -> np.ndarray:
    """Cluster labels ``(n,)`` of the normalised tokens: connected components of
    ``<x_i, x_j> > 1 - delta``, numbered by first appearance (:func:`particles.analysis.clusters.cluster_labels`
    applied to ``x/|x|``)."""
    from ..analysis.clusters import cluster_labels as _labels

    delta = finite(delta, "delta", "(0, 2)")
    return _labels(normalize_tokens(x), delta)


def cluster_count(x, delta: float = 1e-2) -> int:
    """Number of clusters (see :func:`cluster_labels`)."""
    return int(cluster_labels(x, delta).max() + 1)


@dataclass(frozen=True, kw_only=True)
class DepthStats:
    """Per-layer summary of pair similarities; every array has one row/entry per layer.

    ``hist`` ``(L+1, bins)`` is a density on ``edges`` ``(bins+1,)`` over [-1, 1]; ``mean``,
    ``std``, ``frac_above`` (fraction of pairs with ``<x_i, x_j> > threshold``), ``clusters``
    (count at tolerance ``delta``), ``norms`` (mean token norm before normalisation).
    """

    edges: np.ndarray
    hist: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    frac_above: np.ndarray
    clusters: np.ndarray
    norms: np.ndarray
    threshold: float
    delta: float

    _ARRAYS = ("edges", "hist", "mean", "std", "frac_above", "clusters", "norms")

    def as_arrays(self, prefix: str = "") -> dict:
        """The arrays by name, each name prefixed with ``prefix`` (for a result file)."""
        return {prefix + k: getattr(self, k) for k in self._ARRAYS}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "", *, threshold: float, delta: float):
        """The statistics saved by :meth:`as_arrays` (a ``KeyError`` if one is missing)."""
        return cls(**{k: arrays[prefix + k] for k in cls._ARRAYS}, threshold=threshold, delta=delta)


def depth_stats(
    hidden, *, bins: int = 70, threshold: float = 0.9, delta: float = 1e-2, exclude=None
) -> DepthStats:
    """Summaries of ``hidden`` ``(L+1, n, d)`` (or any stack of token sets) per layer.

    ``exclude``: indices of tokens to leave out (e.g. ``[CLS]`` and ``[SEP]``).
    """
    h = real_array(hidden, "hidden", "(layers, n, d)", finite=True)
    threshold = finite(threshold, "threshold", "[-1, 1]")
    if h.ndim != 3 or h.shape[1] < 2:
        raise ParticlesError(f"hidden states must have shape (layers, n >= 2, d), got {h.shape}")
    ex = None
    if exclude is not None:
        try:
            ex = np.asarray(exclude)
        except ValueError:
            raise ParticlesError("exclude must be a list of token indices") from None
        if ex.size and (ex.dtype.kind not in "iu" or ex.ndim > 1):
            raise ParticlesError(f"exclude must be a list of token indices, got {exclude!r}")
    if ex is not None and ex.size:
        keep = np.setdiff1d(np.arange(h.shape[1]), ex)
        if keep.size < 2:
            raise ParticlesError("fewer than 2 tokens left after exclusion")
        h = h[:, keep]
    bins = count(bins, "bins", 2, 10**6)
    edges = np.linspace(-1.0, 1.0, bins + 1)
    L = h.shape[0]
    hist = np.empty((L, bins))
    mean, std, frac, clus, norms = (np.empty(L) for _ in range(5))
    for k in range(L):
        s = pair_similarities(h[k])
        hist[k], _ = np.histogram(s, bins=edges, density=True)
        mean[k], std[k] = s.mean(), s.std()
        frac[k] = np.mean(s > threshold)
        clus[k] = cluster_count(h[k], delta)
        norms[k] = np.linalg.norm(h[k], axis=-1).mean()
    return DepthStats(
        edges=edges,
        hist=hist,
        mean=mean,
        std=std,
        frac_above=frac,
        clusters=clus.astype(int),
        norms=norms,
        threshold=threshold,
        delta=finite(delta, "delta", "(0, 2)"),
    )


# ---------------------------------------------------------------------------------------------
# shipped texts


def list_passages() -> list[str]:
    """Names of the public-domain passages shipped in ``particles/data/texts``."""
    return shipped_texts()


DEFAULT_PASSAGE = "darwin_entangled_bank"


def read_passage(name_or_path: str | Path | None = None) -> str:
    """The text of a shipped passage (by name) or of a UTF-8 file (by path)."""
    if name_or_path is None:
        name_or_path = DEFAULT_PASSAGE
    if not str(name_or_path).strip():
        raise ParticlesError(
            f"empty passage name; give a file or one of: {', '.join(list_passages())}"
        )
    text = read_text(name_or_path)
    if not text.strip():
        raise ParticlesError(f"{name_or_path}: the text is empty")
    return text


def load_passage(name_or_path: str | Path | None = None) -> tuple[str, str]:
    """``(text, source)``: :func:`read_passage`'s text and the name or path it came from
    (:data:`DEFAULT_PASSAGE` when none is given), as result files record it."""
    source = DEFAULT_PASSAGE if name_or_path is None else name_or_path
    return read_passage(source), str(source)
