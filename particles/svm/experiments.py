"""The experiments E1-E5 of SPEC B §A8 as functions returning arrays (no plotting, no files).

Each returns ``(arrays, meta)`` ready for :func:`particles.io.save_npz`; ``quick=True`` shrinks
sizes so the whole experiment takes seconds (for CI).
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..errors import ParticlesError
from .model import (
    AttentionData,
    correlation,
    make_data,
    make_data_batch,
    optimal_tokens,
    token_scores,
)
from .solvers import att_svm, local_optimality, numerical_rank, svm_equivalence
from .train import TrainConfig, train

__all__ = ["experiment_e1", "experiment_e2", "experiment_e3", "experiment_e4", "experiment_e5"]


def e1_data(seed: int = 1) -> AttentionData:
    """E1 data (SPEC B §A8): n=2, T=3, d=2, Y=(+1,+1), unit v, X_i = 0.3 N(0, I) + (-/+1, 0),
    z_i random unit; drawn in the order v, X, z from ``default_rng(seed)``."""
    g = np.random.default_rng(seed)
    v = g.standard_normal(2)
    v /= np.linalg.norm(v)
    X = 0.3 * g.standard_normal((2, 3, 2))
    X[0] += [-1.0, 0.0]
    X[1] += [1.0, 0.0]
    z = g.standard_normal((2, 2))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return AttentionData(X=X, Y=np.ones(2), z=z, v=v)


def experiment_e1(*, quick: bool = False, seed: int = 1):
    """E1: 2-D GD trajectories W(k) z_i (W- and (K,Q)-param) against the SVM rays W^mm z_i and
    W^mm_* z_i. Init W = 0; Q = 0, K = 0.1 N(0, 1); normalised GD, lr 0.1, 2000 steps."""
    data = e1_data(seed)
    iters = 200 if quick else 2000
    g = np.random.default_rng([seed, 1])
    rW = train(data, TrainConfig(param="W", iters=iters, record_every=1), init=np.zeros((2, 2)))
    K0 = 0.1 * g.standard_normal((2, 2))
    rK = train(
        data, TrainConfig(param="KQ", iters=iters, record_every=1), init=(K0, np.zeros((2, 2)))
    )
    opt = optimal_tokens(data)
    Wmm = att_svm(data, opt).W
    Wnuc = att_svm(data, opt, norm="nuc").W
    arrays = {
        **data.arrays(),
        "opt": opt,
        "iters": rW.iters,
        "Ws_W": rW.Ws,
        "Ws_KQ": rK.Ws,
        "W_mm": Wmm,
        "W_nuc": Wnuc,
        "corr_W": correlation(rW.Ws[-1], Wmm),
        "corr_KQ": correlation(rK.Ws[-1], Wnuc),
    }
    meta = {"experiment": "E1", "seed": seed, "iters": iters, "lr": 0.1, "quick": quick}
    return arrays, meta


def experiment_e2(*, quick: bool = False, progress: bool = False, seeds=None):
    """E2 (local convergence): n=6, T=8, d=10, seeds 0..99, default init, 2000 normalised GD
    steps lr 0.1, logistic loss, W- and (K,Q)-param. alpha = argmax of the final softmax.

    Records mean_i max_t s_it and corr(W(k), W^mm_alpha) (W) / corr(W_KQ(k), W^mm_{*,alpha})
    (K,Q) plus the cross-correlations, and the SVM-neighbour test of alpha for every run.
    """
    n, T, d = 6, 8, 10
    iters = 200 if quick else 2000
    seeds = list(range(3 if quick else 100)) if seeds is None else list(seeds)
    data = make_data_batch(n, T, d, seeds)
    # init drawn from a generator independent of the data stream, one per seed
    rngs = [np.random.default_rng([s, 2]) for s in seeds]
    out = {"seeds": np.array(seeds)}
    for param in ("W", "KQ"):
        r = train(
            data,
            TrainConfig(param=param, iters=iters, record_every=10),
            rng=rngs,
            progress=progress,
        )
        alpha = r.selected  # (S, n)
        S = len(seeds)
        corr_fro = np.empty((len(r.iters), S))
        corr_nuc = np.empty((len(r.iters), S))
        lo = np.zeros(S, bool)
        is_opt = np.zeros(S, bool)
        for b in tqdm(range(S), disable=not progress, desc=f"SVMs {param}", leave=False):
            db = data[b]
            loc = local_optimality(db, alpha[b])
            lo[b] = loc.locally_optimal
            is_opt[b] = np.array_equal(alpha[b], optimal_tokens(db))
            Wn = att_svm(db, alpha[b], norm="nuc").W
            corr_fro[:, b] = correlation(r.Ws[:, b], loc.solution.W)
            corr_nuc[:, b] = correlation(r.Ws[:, b], Wn)
        out["iters"] = r.iters
        out[f"maxprob_{param}"] = r.probs.max(-1).mean(-1)  # (k, S)
        out[f"corr_fro_{param}"] = corr_fro
        out[f"corr_nuc_{param}"] = corr_nuc
        out[f"alpha_{param}"] = alpha
        out[f"locally_optimal_{param}"] = lo
        out[f"is_opt_{param}"] = is_opt
        out[f"norm_{param}"] = r.norms
    meta = {
        "experiment": "E2",
        "n": n,
        "T": T,
        "d": d,
        "iters": iters,
        "lr": 0.1,
        "loss": "logistic",
        "init": "uniform(+-1/sqrt(d)) from default_rng([seed, 2])",
        "quick": quick,
    }
    return out, meta


E3_SETTINGS = [(5, 5), (10, 5), (15, 5), (5, 10), (5, 15)]  # (n, T)
E3_DIMS = [1, 2, 3, 4, 5, 10, 15, 20]


def experiment_e3(*, quick: bool = False, progress: bool = False, rtol: float = 1e-4):
    """E3: mean numerical rank of W^mm (Frobenius) and W^mm_* (nuclear) for alpha = opt, over
    100 feasible seeds per (n, T, d) (infeasible seeds skipped, at most 20x as many tried).
    Rank counts sigma_i > rtol sigma_1 (SPEC B §A8 E3 pitfall)."""
    settings = E3_SETTINGS[:2] if quick else E3_SETTINGS
    dims = [3, 6] if quick else E3_DIMS
    want = 2 if quick else 100
    max_tries = 20 * want
    rank_fro = np.full((len(settings), len(dims)), np.nan)
    rank_nuc = np.full((len(settings), len(dims)), np.nan)
    std_fro = np.full_like(rank_fro, np.nan)
    std_nuc = np.full_like(rank_fro, np.nan)
    feasible = np.zeros((len(settings), len(dims)), int)
    tried = np.zeros_like(feasible)
    pbar = tqdm(total=len(settings) * len(dims), disable=not progress, desc="E3", leave=False)
    for a, (n, T) in enumerate(settings):
        for b, d in enumerate(dims):
            rf, rn = [], []
            seed = 0
            while len(rf) < want and seed < max_tries:
                data = make_data(n, T, d, seed)
                seed += 1
                try:
                    Wf = att_svm(data).W
                    Wn = att_svm(data, norm="nuc").W
                except ParticlesError:
                    continue
                rf.append(numerical_rank(Wf, rtol))
                rn.append(numerical_rank(Wn, rtol))
            tried[a, b] = seed
            feasible[a, b] = len(rf)
            if rf:
                rank_fro[a, b], std_fro[a, b] = np.mean(rf), np.std(rf)
                rank_nuc[a, b], std_nuc[a, b] = np.mean(rn), np.std(rn)
            pbar.update()
    pbar.close()
    arrays = {
        "settings": np.array(settings),
        "dims": np.array(dims),
        "rank_fro": rank_fro,
        "rank_nuc": rank_nuc,
        "std_fro": std_fro,
        "std_nuc": std_nuc,
        "feasible": feasible,
        "tried": tried,
    }
    meta = {
        "experiment": "E3",
        "runs_per_point": want,
        "rtol": rtol,
        "alpha": "opt",
        "quick": quick,
    }
    return arrays, meta


def experiment_e4(*, quick: bool = False, progress: bool = False):
    """E4 (multi-token, nonlinear head h(u) = 1^T ReLU(V^T u), V (d, d) ~ N(0,I)/|.|_F): n=3,
    T=4, d in {4, 6, 8, 10}, W-param, default init, 2001 normalised GD steps lr 0.1, snapshots
    every 100; 500 accepted runs per d. A run is accepted if its labels contain a -1, no final
    softmax value lies in (1e-6, 1e-3], one is <= 1e-6, and W^mm(O), W^1token solve.
    Records 1 - corr of W(k) with W^SVMeq, W^mm(O), W^1token."""
    n, T = 3, 4
    dims = [4] if quick else [4, 6, 8, 10]
    want = 8 if quick else 500
    iters = 200 if quick else 2000
    every = 50 if quick else 100
    batch = 40 if quick else 1000
    res = {}
    for d in dims:
        acc = {"eq": [], "dir": [], "one": [], "leak": [], "nsel": [], "seed": []}
        start = 0
        while len(acc["seed"]) < want and start < 20 * want:
            seeds = list(range(start, start + batch))
            start += batch
            data = make_data_batch(n, T, d, seeds, head="relu")
            r = train(
                data,
                TrainConfig(param="W", iters=iters, record_every=every),
                rng=[np.random.default_rng([s, 4]) for s in seeds],
                progress=progress,
            )
            sfin = r.probs[-1]  # (S, n, T)
            for b, s in enumerate(seeds):
                if len(acc["seed"]) >= want:
                    break
                p = sfin[b]
                if not np.any(data.Y[b] < 0):
                    continue
                if np.any((p > 1e-6) & (p <= 1e-3)) or not np.any(p <= 1e-6):
                    continue
                try:
                    eq = svm_equivalence(data[b], r.W[b])
                except ParticlesError:
                    continue
                if eq.W_1token is None:
                    continue
                Wk = r.Ws[:, b]
                acc["eq"].append(1 - correlation(Wk, eq.W_eq))
                acc["dir"].append(1 - correlation(Wk, eq.W_dir))
                acc["one"].append(1 - correlation(Wk, eq.W_1token))
                acc["leak"].append(float(p[~eq.selected].max()))
                acc["nsel"].append(eq.selected.sum(1))
                acc["seed"].append(s)
        res[d] = {k: np.array(v) for k, v in acc.items()}
        res[d]["iters"] = r.iters
    arrays = {"dims": np.array(dims)}
    for d, a in res.items():
        for k, v in a.items():
            arrays[f"{k}_d{d}"] = v
    meta = {
        "experiment": "E4",
        "n": n,
        "T": T,
        "iters": iters,
        "record_every": every,
        "runs_per_d": want,
        "head": "relu, V (d, d) ~ N(0,I)/|V|_F",
        "threshold": 1e-3,
        "quick": quick,
    }
    return arrays, meta


E5_DIMS = [2, 3, 4, 5, 6, 8, 10, 15, 20, 30]


def classify_run(data: AttentionData, W: np.ndarray, alpha, *, threshold: float = 0.99):
    """Label a GD run: 0 global (alpha = opt, corr(W, W^mm) > threshold), 1 local (alpha != opt
    locally optimal, corr(W, W^mm_alpha) > threshold), 2 neither. Returns (label, corr, lo)."""
    opt = optimal_tokens(data)
    try:
        loc = local_optimality(data, alpha)
    except ParticlesError:
        return 2, np.nan, False
    c = float(correlation(W, loc.solution.W))
    if c <= threshold:
        return 2, c, loc.locally_optimal
    if np.array_equal(alpha, opt):
        return 0, c, loc.locally_optimal
    return (1 if loc.locally_optimal else 2), c, loc.locally_optimal


def experiment_e5(*, quick: bool = False, progress: bool = False, n: int = 6, T: int = 8):
    """E5 (new): fraction of GD runs converging to the global SVM W^mm, to a local W^mm_alpha
    (alpha != opt, locally optimal), or to neither, as d grows. n=6, T=8, 100 seeds per d,
    default init, 2000 normalised GD steps lr 0.1, W-param; convergence = corr > 0.99."""
    dims = [2, 6, 10] if quick else E5_DIMS
    S = 6 if quick else 100
    iters = 300 if quick else 2000
    labels = np.zeros((len(dims), S), int)
    corr = np.full((len(dims), S), np.nan)
    lo = np.zeros((len(dims), S), bool)
    gap = np.full((len(dims), S), np.nan)  # score gap of the selected token to opt (mean over i)
    for a, d in enumerate(dims):
        seeds = list(range(S))
        data = make_data_batch(n, T, d, seeds)
        r = train(
            data,
            TrainConfig(param="W", iters=iters, record_every=iters),
            rng=[np.random.default_rng([s, 5]) for s in seeds],
            progress=progress,
        )
        alpha = r.selected
        g = token_scores(data)
        for b in range(S):
            labels[a, b], corr[a, b], lo[a, b] = classify_run(data[b], r.W[b], alpha[b])
            gb = g[b]
            gap[a, b] = np.mean(gb.max(1) - gb[np.arange(n), alpha[b]])
    frac = np.stack([(labels == k).mean(1) for k in range(3)], axis=1)  # (len(dims), 3)
    arrays = {
        "dims": np.array(dims),
        "labels": labels,
        "corr": corr,
        "locally_optimal": lo,
        "score_gap": gap,
        "fractions": frac,
    }
    meta = {
        "experiment": "E5",
        "n": n,
        "T": T,
        "runs_per_d": S,
        "iters": iters,
        "lr": 0.1,
        "threshold": 0.99,
        "labels": ["global", "local", "neither"],
        "quick": quick,
    }
    return arrays, meta
