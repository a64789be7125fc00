"""Cluster measurements on the sphere (arXiv 2312.10794, §§4–6): who is clustered with whom, when.

Two particles are *linked* when ``<x_i, x_j> > 1 - delta``; clusters are the connected components
of this graph (the rule of the authors' phase-diagrams.py, delta = 1e-3). Everything here is a pure
function of positions ``x`` (n, d) or of a stack of saved states ``xs`` (T, n, d); the functions
with a ``_over_time`` suffix, and :func:`summary`, also accept a :class:`particles.Trajectory`.
A trajectory read from a zarr store (its ``x`` a :class:`particles.storage.zarr.Frames`) is streamed: the
measurements over time read one saved state (or a bounded block of them) at a time, never the whole
store, so they run in O(n d) memory however many times were saved.

Pairwise quantities are computed in row tiles (``config.TILE_ROWS`` rows against all n columns), so
memory stays O(TILE_ROWS * n) however large n is; no n x n matrix is formed.

Names other modules rely on: :func:`cluster_labels`, :func:`count_clusters`, :func:`pair_fraction`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .. import config
from ..errors import ParticlesError, count, finite, real_array
from .energy import min_inner_product as _mip
from .states import _lazy, _states, bounded_points

DEFAULT_DELTA = 1e-3
_DENSE_MAX = 128  # up to this n, components by boolean matrix squaring; above, scipy.sparse.csgraph


def _check_delta(delta: float) -> float:
    delta = finite(delta, "delta", "(0, 2]")
    if 1.0 - delta == 1.0:  # <x_i, x_j> > 1 - delta could never hold: every particle alone
        raise ParticlesError(f"delta = {delta:g} is below float64 resolution at 1 (need > 1.2e-16)")
    return delta


def _blocks(n: int, rows: int | None = None):
    rows = rows or config.TILE_ROWS
    for r0 in range(0, n, rows):
        yield r0, min(n, r0 + rows)


def _gram_stack(g) -> np.ndarray:
    """Validated Gram matrices (..., n, n)."""
    g = real_array(g, "g", "(..., n, n) (Gram matrices)")
    if g.ndim < 2 or g.shape[-1] != g.shape[-2] or g.shape[-1] < 1:
        raise ParticlesError(f"g must have shape (..., n, n), got {g.shape}")
    return g


def cluster_labels(x, delta: float = DEFAULT_DELTA, *, tile_rows: int | None = None) -> np.ndarray:
    """Cluster label of every particle: components of the graph ``<x_i, x_j> > 1 - delta``.

    ``x`` (n, d) -> labels (n,) int64 in 0..k-1, numbered in order of first appearance (particle 0
    is in cluster 0). Tiled: each row block's links are merged with the components found so far,
    so at most ``tile_rows * n`` links are held at once.
    """
    x = bounded_points(x)
    delta = _check_delta(delta)
    if tile_rows is not None:
        tile_rows = count(tile_rows, "tile_rows")
    n = x.shape[0]
    thr = 1.0 - delta
    if n <= min(_DENSE_MAX, tile_rows or config.TILE_ROWS):  # small: the whole graph at once
        labels = _dense_components(x @ x.T > thr)
    else:
        # component id of every particle, refined block by block: a block's links are reduced
        # to (component of i, component of j) pairs, and the components are merged on that small graph
        labels = np.arange(n)
        for r0, r1 in _blocks(n, tile_rows):
            links = x[r0:r1] @ x.T > thr  # (B, n)
            order = np.argsort(labels, kind="stable")
            lab_sorted = labels[order]
            starts = np.flatnonzero(np.r_[True, lab_sorted[1:] != lab_sorted[:-1]])
            touch = np.logical_or.reduceat(links[:, order], starts, axis=1)  # (B, k)
            rows, comps = np.nonzero(touch)
            k = starts.size
            src = labels[rows + r0]
            adj = sp.coo_matrix((np.ones(src.size, dtype=np.int8), (src, comps)), shape=(k, k))
            _, merged = connected_components(adj.tocsr(), directed=False)
            labels = merged[labels]
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse].astype(np.int64)


def _dense_components(adj: np.ndarray) -> np.ndarray:
    """Component of each node of a small dense graph: the smallest node index it can reach.

    Boolean squaring R <- (R R > 0) of the reachability matrix doubles the path length covered,
    so it stops after about log2(component diameter) + 1 products; cliques (the usual clusters)
    need one. Much faster than scipy.sparse for the small n of phase-diagram ensembles.
    """
    n = adj.shape[0]
    r = (adj | adj.T | np.eye(n, dtype=bool)).astype(np.float32)
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2))))) + 1):
        r2 = ((r @ r) > 0).astype(np.float32)
        if np.array_equal(r2, r):
            break
        r = r2
    return np.argmax(r > 0, axis=1)


def count_clusters(x, delta: float = DEFAULT_DELTA) -> int:
    """Number of clusters (connected components of ``<x_i, x_j> > 1 - delta``) of x (n, d)."""
    return int(cluster_labels(x, delta).max()) + 1


def _batched_components(adj: np.ndarray) -> np.ndarray:
    """Component labels (smallest reachable index) for a stack of small graphs adj (B, n, n) bool."""
    n = adj.shape[-1]
    eye = np.eye(n, dtype=bool)
    r = (adj | np.swapaxes(adj, -1, -2) | eye).astype(np.float32)
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2))))) + 1):
        r2 = (np.matmul(r, r) > 0).astype(np.float32)
        if np.array_equal(r2, r):
            break
        r = r2
    return np.argmax(r > 0, axis=-1)


def count_clusters_gram(g, delta: float = DEFAULT_DELTA) -> np.ndarray | int:
    """Number of clusters from Gram matrices g (..., n, n) of unit vectors: int or array (...,).

    For ensembles kept as Gram matrices (:mod:`particles.solvers.ensemble`): no positions needed. Works on
    any stack of small systems at once (batched boolean matrix squaring).
    """
    g = _gram_stack(g)
    delta = _check_delta(delta)
    lead = g.shape[:-2]
    n = g.shape[-1]
    labels = _batched_components(g.reshape(-1, n, n) > 1.0 - delta)
    # number of distinct labels = number of nodes that are their own component's smallest index
    counts = np.count_nonzero(labels == np.arange(n), axis=-1).reshape(lead)
    return int(counts) if counts.ndim == 0 else counts


def pair_fraction_gram(g, delta: float = DEFAULT_DELTA) -> np.ndarray | float:
    """:func:`pair_fraction` from Gram matrices g (..., n, n): float or array (...,)."""
    g = _gram_stack(g)
    delta = _check_delta(delta)
    n = g.shape[-1]
    if n == 1:
        out = np.ones(g.shape[:-2])
    else:
        above = np.count_nonzero(g > 1.0 - delta, axis=(-2, -1))
        diag = np.count_nonzero(np.diagonal(g, axis1=-2, axis2=-1) > 1.0 - delta, axis=-1)
        out = (above - diag) / (n * (n - 1))
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True, kw_only=True)
class Clusters:
    """The clusters of one configuration.

    ``labels`` (n,), ``sizes`` (k,) and ``centres`` (k, d): the normalised mean of each cluster's
    particles (the mean itself if it is zero). Clusters are numbered in order of first appearance.
    """

    labels: np.ndarray
    sizes: np.ndarray
    centres: np.ndarray

    @property
    def count(self) -> int:
        return int(self.sizes.size)


def find_clusters(x, delta: float = DEFAULT_DELTA) -> Clusters:
    """Labels, sizes and centres of the clusters of x (n, d); see :class:`Clusters`."""
    x = bounded_points(x)
    labels = cluster_labels(x, delta)
    k = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=k)
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, labels, x)
    nrm = np.linalg.norm(sums, axis=1, keepdims=True)
    centres = np.where(nrm > 0, sums / np.where(nrm > 0, nrm, 1.0), sums)
    return Clusters(labels=labels, sizes=sizes, centres=centres)


def cluster_sizes(x, delta: float = DEFAULT_DELTA) -> np.ndarray:
    """Sizes (k,) of the clusters of x (n, d), in label order."""
    return find_clusters(x, delta).sizes


def cluster_centres(x, delta: float = DEFAULT_DELTA) -> np.ndarray:
    """Unit centres (k, d) of the clusters of x (n, d), in label order."""
    return find_clusters(x, delta).centres


def min_inner_product(x) -> float:
    """min_{i != j} <x_i, x_j> of x (n, d); 1.0 when n = 1."""
    return _mip(x)


def diameter(x) -> float:
    """Euclidean diameter max_{i,j} |x_i - x_j| = sqrt(2 - 2 min <x_i, x_j>) of x (n, d) on the sphere."""
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * min_inner_product(x))))


def pair_fraction(x, delta: float = DEFAULT_DELTA) -> float:
    """Fraction of ordered pairs i != j with ``<x_i, x_j> > 1 - delta`` (the phase-diagram statistic).

    It estimates P(<x_1(t), x_2(t)> >= 1 - delta) of arXiv 2312.10794, Fig. 3, from one system.
    1.0 when n = 1.
    """
    x = bounded_points(x)
    delta = _check_delta(delta)
    n = x.shape[0]
    if n == 1:
        return 1.0
    thr = 1.0 - delta
    count = 0
    for r0, r1 in _blocks(n):
        g = x[r0:r1] @ x.T
        count += int(np.count_nonzero(g > thr))
        # the diagonal: <x_i, x_i> = 1 (up to rounding) is always above threshold
        idx = np.arange(r0, r1)
        count -= int(np.count_nonzero(g[idx - r0, idx] > thr))
    return count / (n * (n - 1))


def pairwise_inner_products(x, *, max_pairs: int = 20_000_000) -> np.ndarray:
    """All <x_i, x_j> with i < j of x (n, d) as a flat array of length n (n - 1) / 2.

    Refuses more than ``max_pairs`` pairs; use :func:`inner_product_histogram` for large n.
    """
    x = bounded_points(x)
    max_pairs = count(max_pairs, "max_pairs", 0)
    n = x.shape[0]
    m = n * (n - 1) // 2
    if m > max_pairs:
        raise ParticlesError(
            f"{m} pairs is more than max_pairs = {max_pairs}; use inner_product_histogram"
        )
    iu = np.triu_indices(n, k=1)
    return (x @ x.T)[iu]


def _edges(bins, range) -> np.ndarray:
    """The bin edges of a histogram of inner products: ``bins`` equal bins of ``range`` (a count
    in 1..10^6), or ``bins`` itself, an increasing array of finite edges."""
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        try:
            lo, hi = (finite(v, "range") for v in range)
        except (TypeError, ValueError):
            raise ParticlesError(f"range must be a pair (low, high), got {range!r}") from None
        if not lo < hi:
            raise ParticlesError(f"range must be a pair (low, high) with low < high, got {range!r}")
        return np.linspace(lo, hi, count(bins, "bins", 1, 10**6) + 1)
    edges = real_array(bins, "bins (a count or an array of edges)", finite=True)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ParticlesError("bins must be a count or an increasing array of edges")
    return edges


def inner_product_histogram(
    x, bins: int | np.ndarray = 50, *, range: tuple[float, float] = (-1.0, 1.0), density=True
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of <x_i, x_j> over pairs i < j of x (n, d), computed tile by tile.

    Returns ``(values (B,), edges (B + 1,))``; with ``density=True`` the values integrate to 1.
    Inner products are clipped into ``range`` so that 1 + rounding lands in the last bin.
    """
    x = bounded_points(x)
    n = x.shape[0]
    edges = _edges(bins, range)
    counts = np.zeros(edges.size - 1)
    lo, hi = edges[0], edges[-1]
    for r0, r1 in _blocks(n):
        g = x[r0:r1] @ x.T
        mask = np.arange(n)[None, :] > np.arange(r0, r1)[:, None]  # j > i only
        vals = np.clip(g[mask], lo, hi)
        counts += np.histogram(vals, bins=edges)[0]
    total = counts.sum()
    if density and total > 0:
        counts = counts / (total * np.diff(edges))
    return counts, edges


# --- over a trajectory ------------------------------------------------------------------------


def cluster_counts_over_time(xs, delta: float = DEFAULT_DELTA) -> np.ndarray:
    """Number of clusters at every saved time (the metastability staircase): (T,) int."""
    _, xs = _states(xs)
    if _lazy(xs):  # bounded blocks of saved times
        return np.concatenate([cluster_counts_over_time(b, delta) for b in xs.blocks()])
    if xs.shape[1] <= _DENSE_MAX and np.all(np.isfinite(xs)):  # all saved times at once
        return np.asarray(count_clusters_gram(xs @ np.swapaxes(xs, 1, 2), delta), dtype=np.int64)
    return np.array([count_clusters(x, delta) for x in xs], dtype=np.int64)


def min_inner_products_over_time(xs) -> np.ndarray:
    """min_{i != j} <x_i(t), x_j(t)> at every saved time: (T,)."""
    _, xs = _states(xs)
    return np.array([min_inner_product(x) for x in xs])


def diameters_over_time(xs) -> np.ndarray:
    """Euclidean diameter at every saved time: (T,)."""
    m = min_inner_products_over_time(xs)
    return np.sqrt(np.maximum(0.0, 2.0 - 2.0 * m))


def pair_fractions_over_time(xs, delta: float = DEFAULT_DELTA) -> np.ndarray:
    """:func:`pair_fraction` at every saved time: (T,)."""
    _, xs = _states(xs)
    return np.array([pair_fraction(x, delta) for x in xs])


def consensus_time(t, xs=None, delta: float = DEFAULT_DELTA) -> float | None:
    """First saved time at which every pair has ``<x_i, x_j> > 1 - delta``; None if never.

    Call as ``consensus_time(t, xs, delta)`` with t (T,) and xs (T, n, d), or ``consensus_time(traj)``.
    """
    if xs is None:
        t, xs = _states(t, "trajectory")
        if t is None:
            raise ParticlesError(
                "consensus_time needs the save times: pass (t, xs) or a Trajectory"
            )
    else:
        t = real_array(t, "t (the save times)", finite=True)
        _, xs = _states(xs)
    if t.shape != (xs.shape[0],):
        raise ParticlesError(f"t has shape {t.shape}, expected ({xs.shape[0]},) to match xs")
    delta = _check_delta(delta)
    for tk, x in zip(t, xs, strict=True):
        if min_inner_product(x) > 1.0 - delta:
            return float(tk)
    return None


def histograms_at(
    t, xs, times, bins: int | np.ndarray = 50, *, range=(-1.0, 1.0), density=True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inner-product histograms at the saved states closest to ``times``.

    Returns ``(picked_times (m,), values (m, B), edges (B + 1,))``.
    """
    t = real_array(t, "t (the save times)", finite=True)
    _, xs = _states(xs)
    times = np.atleast_1d(real_array(times, "times", finite=True))
    if times.size == 0:
        raise ParticlesError("no times given")
    if t.shape != (xs.shape[0],):
        raise ParticlesError(f"t has shape {t.shape}, expected ({xs.shape[0]},) to match xs")
    lo, hi = t.min(), t.max()
    bad = times[(times < lo - 1e-9) | (times > hi + 1e-9)]
    if bad.size:
        raise ParticlesError(f"time {bad[0]:g} is outside the saved range [{lo:g}, {hi:g}]")
    idx = np.array([int(np.argmin(np.abs(t - s))) for s in times])
    rows, edges = [], None
    for k in idx:
        v, edges = inner_product_histogram(xs[k], bins, range=range, density=density)
        rows.append(v)
    return t[idx], np.array(rows), edges


@dataclass(frozen=True, kw_only=True)
class Summary:
    """Cluster measurements at every saved time of a trajectory (all arrays of shape (T,))."""

    t: np.ndarray
    n_clusters: np.ndarray
    largest: np.ndarray
    min_inner: np.ndarray
    diameter: np.ndarray
    pair_fraction: np.ndarray
    delta: float
    consensus_time: float | None

    def as_dict(self) -> dict:
        return {
            "t": self.t.tolist(),
            "n_clusters": self.n_clusters.tolist(),
            "largest": self.largest.tolist(),
            "min_inner": self.min_inner.tolist(),
            "diameter": self.diameter.tolist(),
            "pair_fraction": self.pair_fraction.tolist(),
            "delta": self.delta,
            "consensus_time": self.consensus_time,
        }


def summary(
    traj, delta: float | None = DEFAULT_DELTA, t=None, *, progress: bool = False
) -> Summary:
    """All cluster measurements of a :class:`Trajectory` (or of ``xs`` with save times ``t``);
    ``delta=None`` means :data:`DEFAULT_DELTA`. ``progress``: a progress bar over the saved
    states (on stderr, shown once the pass has taken more than a second)."""
    tt, xs = _states(traj, "trajectory")
    if tt is None:
        if t is None:
            raise ParticlesError("summary needs save times: pass a Trajectory or t=")
        tt = np.asarray(t, dtype=np.float64)
    if tt.shape != (xs.shape[0],):
        raise ParticlesError(f"t has shape {tt.shape}, expected ({xs.shape[0]},)")
    delta = _check_delta(DEFAULT_DELTA if delta is None else delta)
    counts, largest, mins, pairs = [], [], [], []
    states = xs
    if progress:
        from tqdm.auto import tqdm

        states = tqdm(xs, total=len(tt), desc="clusters", unit="state", delay=1.0, leave=False)
    for x in states:  # one pass: each saved state is read once (a store is streamed)
        c = find_clusters(x, delta)
        counts.append(c.count)
        largest.append(int(c.sizes.max()))
        mins.append(min_inner_product(x))
        pairs.append(pair_fraction(x, delta))
    mins = np.array(mins)
    ct = next((float(s) for s, m in zip(tt, mins, strict=True) if m > 1.0 - delta), None)
    return Summary(
        t=tt,
        n_clusters=np.array(counts, dtype=np.int64),
        largest=np.array(largest, dtype=np.int64),
        min_inner=mins,
        diameter=np.sqrt(np.maximum(0.0, 2.0 - 2.0 * mins)),
        pair_fraction=np.array(pairs),
        delta=delta,
        consensus_time=ct,
    )
