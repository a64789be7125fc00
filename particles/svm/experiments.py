"""The experiments E1-E5 (arXiv 2308.16898 Fig. 1, the authors' TF-as-SVM notebooks; E5 is new)
as functions returning arrays (no plotting, no files).

Each returns ``(arrays, meta)`` ready for :func:`particles.storage.npz.save_npz`; ``quick=True`` shrinks
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
from .train import TrainConfig, init_rng, seeding, train

__all__ = [
    "EXPERIMENTS",
    "FIGURE_FORMAT",
    "FIGURE_STEMS",
    "e2_report",
    "run_experiment",
    "experiment_e1",
    "experiment_local_global",
    "experiment_e2",
    "experiment_e3",
    "experiment_e4",
    "experiment_e5",
]


def e1_data(seed: int = 1) -> AttentionData:
    """E1 data (arXiv 2308.16898, Fig. 1): n=2, T=3, d=2, Y=(+1,+1), unit v,
    X_i = 0.3 N(0, I) + (-/+1, 0), z_i random unit; drawn in the order v, X, z from
    ``default_rng(seed)``."""
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


def local_global_data(seed: int = 0) -> AttentionData:
    """Data of the local/global picture (arXiv 2308.16898; the authors' notebook
    ``visualization2``): n=2, T=5, d=2, Y=(+1,+1), unit v; token 0 of sequence 1 (2) fixed at
    (1, 0.5) ((1, -0.5)), tokens 1..4 at 0.5 N(0, I) + (-1, 0), z_i random unit; drawn in the
    order v, X, z from ``default_rng(seed)``."""
    g = np.random.default_rng(seed)
    v = g.standard_normal(2)
    v /= np.linalg.norm(v)
    X = 0.5 * g.standard_normal((2, 5, 2))
    X[0, 0] = [1.0, 0.5]
    X[1, 0] = [1.0, -0.5]
    X[:, 1:] += [-1.0, 0.0]
    z = g.standard_normal((2, 2))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return AttentionData(X=X, Y=np.ones(2), z=z, v=v)


def experiment_local_global(*, quick: bool = False, progress: bool = False, seed: int = 0):
    """Local vs global convergence in 2-D (n=2, T=5, d=2): normalised GD on W (lr 0.1) from
    ``inits`` default initialisations of one data set; each run is classified by the token
    selection alpha it converges to (corr(W, W^mm_alpha) > 0.99, alpha locally optimal by the
    SVM-neighbour test). Keeps the paths of the first run that reaches the global W^mm and of the
    first that reaches a local W^mm_alpha (alpha != opt), and every locally optimal alpha."""
    import itertools

    data = local_global_data(seed)
    iters = 600 if quick else 3000
    S = 8 if quick else 40
    opt = optimal_tokens(data)
    local = []  # every locally optimal alpha != opt
    for a in itertools.product(range(data.T), repeat=data.n):
        a = np.array(a)
        if np.array_equal(a, opt):
            continue
        try:
            if local_optimality(data, a).locally_optimal:
                local.append(a)
        except ParticlesError:  # Att-SVM(alpha) infeasible
            continue
    batch = make_batch_of(data, S)
    r = train(
        batch,
        TrainConfig(param="W", iters=iters, record_every=10),
        rng=[np.random.default_rng([seed, 8, s]) for s in range(S)],
        progress=progress,
    )
    alpha = r.selected
    labels, corr = np.zeros(S, int), np.full(S, np.nan)
    for s in range(S):
        labels[s], corr[s], _ = classify_run(data, r.W[s], alpha[s])
    Wmm = att_svm(data, opt).W
    arrays = {**data.arrays(), "opt": opt, "iters": r.iters, "W_mm": Wmm, "labels": labels}
    arrays["corr_final"] = corr
    arrays["alpha_runs"] = alpha
    arrays["local_alphas"] = np.array(local, dtype=int).reshape(-1, data.n)
    for name, lab in (("global", 0), ("local", 1)):
        idx = np.nonzero(labels == lab)[0]
        if idx.size == 0:
            continue
        s = int(idx[0])
        W_a = att_svm(data, alpha[s]).W
        arrays[f"run_{name}"] = np.array(s)
        arrays[f"alpha_{name}"] = alpha[s]
        arrays[f"W_{name}"] = W_a
        arrays[f"Ws_{name}"] = r.Ws[:, s]
        arrays[f"corr_{name}_own"] = correlation(r.Ws[:, s], W_a)
        arrays[f"corr_{name}_mm"] = correlation(r.Ws[:, s], Wmm)
    meta = {
        "experiment": "local_global",
        "seed": seed,
        "iters": iters,
        "inits": S,
        "lr": 0.1,
        "threshold": 0.99,
        "init": "default: uniform(+-1/sqrt(d)), rng [seed, 8, run]",
        "fractions": {
            "global": float(np.mean(labels == 0)),
            "local": float(np.mean(labels == 1)),
            "neither": float(np.mean(labels == 2)),
        },
        "quick": quick,
    }
    return arrays, meta


def make_batch_of(data: AttentionData, S: int) -> AttentionData:
    """S copies of one (unbatched) problem as a batch (to train S initialisations at once)."""
    return AttentionData(
        X=np.repeat(data.X[None], S, 0),
        Y=np.repeat(data.Y[None], S, 0),
        z=np.repeat(data.z[None], S, 0),
        v=np.repeat(data.v[None], S, 0),
    )


E2_ITERS = 100_000  # full-size run length (the paper's protocol stops at E2_CHECKPOINT)
E2_CHECKPOINT = 2000
#: the jointly normalised (K,Q) run is continued along its path with constant angular steps
#: E2_CONT_LR (normalised GD, step length lr |theta|) until |W|_F = E2_CONT_NORM
E2_CONT_NORM = 1e12
E2_CONT_LR = 1e-3
E2_CONT_MAX_ITERS = 100_000
E2_CONT_RECORD = 250
#: E2's three GD runs: W, (K,Q) normalised separately (the authors'), (K,Q) normalised jointly
E2_RUNS = (
    ("W", {"param": "W"}),
    ("KQ", {"param": "KQ", "normalize": "separate"}),
    ("KQj", {"param": "KQ", "normalize": "joint"}),
)


def e2_record_steps(iters: int, checkpoint: int, num: int = 150) -> tuple[int, ...]:
    """Steps recorded by E2: 0, ~log-spaced 1..iters, every 50 up to ``checkpoint``, the end."""
    log = np.unique(np.geomspace(1, max(iters, 1), num).astype(int))
    lin = np.arange(0, checkpoint + 1, 50)
    return tuple(sorted({0, checkpoint, iters, *log.tolist(), *lin.tolist()}))


def nuclear_gap(data: AttentionData, W: np.ndarray, sol) -> float:
    """|W~|_* / |W^mm_*|_* - 1 for W rescaled to margin 1, W~ = W / min_(i,t) margin (the
    scale-free nuclear-norm suboptimality of a direction; 0 exactly at the nuclear SVM)."""
    m = float(np.min(_margins_of(data, sol.alpha, W)))
    if not m > 0:
        return float("inf")  # W does not separate alpha: not a direction of the cone
    return float(np.linalg.svd(W / m, compute_uv=False).sum() / sol.objective - 1.0)


def _margins_of(data: AttentionData, alpha, W) -> np.ndarray:
    a = np.einsum("ntd,de,ne->nt", data.X, W, data.z)
    m = a[np.arange(data.n), alpha][:, None] - a
    m[np.arange(data.n), alpha] = np.inf
    return m


def _summary(corr, lo, is_opt, gap) -> dict:
    return {
        "corr_mean": float(np.mean(corr)),
        "corr_std": float(np.std(corr)),
        "corr_median": float(np.median(corr)),
        "corr_min": float(np.min(corr)),
        "frac_corr_ge_0.99": float(np.mean(corr >= 0.99)),
        "frac_locally_optimal": float(np.mean(lo)),
        "frac_alpha_opt": float(np.mean(is_opt)),
        "nuc_gap_median": float(np.median(gap)),
        "nuc_gap_max": float(np.max(gap)),
    }


def _e2_svm_tests(data, stages, alphas, r, cont, own: str, desc: str, progress: bool):
    """E2's SVM tests of one run, per stage and seed: (corr_t, lo_fro, lo_nuc, is_opt, gap) of
    shape (stages, S): the correlation with the ``own`` norm's target, the neighbour tests of
    the Frobenius and nuclear supports, alpha = opt, the nuclear-norm suboptimality; and the
    curves (corr_fro, corr_nuc of the recorded steps, corr_cont of the continuation or None)
    against the last stage's targets."""
    ns, S = alphas.shape[:2]
    corr_t = np.empty((ns, S))
    lo_fro = np.zeros((ns, S), bool)
    lo_nuc = np.zeros((ns, S), bool)
    is_opt = np.zeros((ns, S), bool)
    gap = np.empty((ns, S))
    corr_fro = np.empty((len(r.Ws), S))
    corr_nuc = np.empty((len(r.Ws), S))
    corr_cont = None if cont is None else np.empty((len(cont.iters), S))
    for b in tqdm(range(S), disable=not progress, desc=desc, leave=False):
        db = data[b]
        opt = optimal_tokens(db)
        cache = {}
        for j, st in enumerate(stages):
            key = tuple(alphas[j, b])
            if key not in cache:
                fro = att_svm(db, alphas[j, b])
                nuc = att_svm(db, alphas[j, b], norm="nuc")
                cache[key] = (
                    fro,
                    nuc,
                    local_optimality(db, alphas[j, b], solution=fro).locally_optimal,
                    local_optimality(db, alphas[j, b], norm="nuc", solution=nuc).locally_optimal,
                )
            fro, nuc, lf, ln = cache[key]
            Wb = st[2][b]
            corr_t[j, b] = correlation(Wb, fro.W if own == "fro" else nuc.W)
            lo_fro[j, b], lo_nuc[j, b] = lf, ln
            is_opt[j, b] = np.array_equal(alphas[j, b], opt)
            gap[j, b] = nuclear_gap(db, Wb, nuc)
        corr_fro[:, b] = correlation(r.Ws[:, b], fro.W)  # the last stage's targets
        corr_nuc[:, b] = correlation(r.Ws[:, b], nuc.W)
        if cont is not None:
            corr_cont[:, b] = correlation(cont.Ws[:, b], nuc.W)
    return corr_t, lo_fro, lo_nuc, is_opt, gap, corr_fro, corr_nuc, corr_cont


def experiment_e2(
    *,
    quick: bool = False,
    progress: bool = False,
    seeds=None,
    iters: int | None = None,
    checkpoint: int | None = None,
    cont_norm: float | None = -1.0,
):
    """E2 (local convergence): n=6, T=8, d=10, seeds 0..99, default init, normalised GD lr 0.1,
    logistic loss, ``iters`` steps (default 100 000; quick 300), summarised both at
    ``checkpoint`` (default 2000, the paper's run length; quick 100) and at the end. Three runs
    (:data:`E2_RUNS`, keys "W", "KQ", "KQj"): W-param; (K,Q) with K and Q normalised separately
    (the authors' protocol); (K,Q) normalised jointly (a reparametrised gradient flow). The
    joint run is then continued along the same path with constant angular steps
    (``step="proportional"``, lr :data:`E2_CONT_LR`) until |W|_F = ``cont_norm`` (default
    :data:`E2_CONT_NORM` = 1e12, quick 1e4; None: no continuation), a third stage "continued".

    At each stage alpha = argmax of the softmax at that step; the target is W^mm_alpha (W) or
    W^mm_{*,alpha} (K,Q). Curves: mean_i max_t s_it and corr(W(k), target of the final alpha)
    plus the cross-correlations. Per run and stage: corr with the target, the SVM-neighbour test
    of alpha (support tokens of W^mm_alpha; for (K,Q) also of W^mm_{*,alpha}), alpha = opt, and
    the nuclear-norm suboptimality of the rescaled iterate. ``meta["summary"]`` holds the
    statistics (see :func:`e2_report`).
    """
    n, T, d = 6, 8, 10
    iters = (300 if quick else E2_ITERS) if iters is None else int(iters)
    if checkpoint is None:
        checkpoint = min(100 if quick else E2_CHECKPOINT, iters)
    checkpoint = int(checkpoint)
    if iters < 1 or not 0 < checkpoint <= iters:
        raise ParticlesError(
            f"need iters >= 1 and 0 < checkpoint <= iters, got {iters}, {checkpoint}"
        )
    if cont_norm is not None and cont_norm < 0:
        cont_norm = 1e4 if quick else E2_CONT_NORM
    seeds = list(range(2 if quick else 100)) if seeds is None else list(seeds)
    data = make_data_batch(n, T, d, seeds)
    rec = e2_record_steps(iters, checkpoint, num=40 if quick else 150)
    kc = rec.index(checkpoint)
    out = {
        "seeds": np.array(seeds),
        "iters": np.array(rec),
        "stages": np.array([checkpoint, iters]),
    }
    summary = {}
    for param, kw in E2_RUNS:
        # init drawn from a generator independent of the data stream, one per seed (the same
        # init for both (K,Q) normalisations)
        r = train(
            data,
            TrainConfig(iters=iters, record_at=rec, **kw),
            rng=[init_rng(s) for s in seeds],
            progress=progress,
        )
        # stages: (name, step, W (S, d, d), softmax (S, n, T))
        stages = [
            ("checkpoint", rec[kc], r.Ws[kc], r.probs[kc]),
            ("final", rec[-1], r.Ws[-1], r.probs[-1]),
        ]
        cont = None
        if param == "KQj" and cont_norm is not None:
            # the same gradient-flow path, continued with constant angular steps to |W| = cont_norm
            cont = train(
                data,
                TrainConfig(
                    **kw,
                    step="proportional",
                    lr=E2_CONT_LR,
                    iters=E2_CONT_MAX_ITERS,
                    max_norm=cont_norm,
                    record_every=E2_CONT_RECORD,
                ),
                init=(r.K, r.Q),
                progress=progress,
            )
            stages.append(("continued", rec[-1], cont.Ws[-1], cont.probs[-1]))
        own = "fro" if param == "W" else "nuc"
        alphas = np.stack([st[3].argmax(-1) for st in stages])  # (ns, S, n)
        tests = _e2_svm_tests(data, stages, alphas, r, cont, own, f"SVMs {param}", progress)
        corr_t, lo_fro, lo_nuc, is_opt, gap, corr_fro, corr_nuc, corr_cont = tests
        lo_own = lo_fro if own == "fro" else lo_nuc
        cross = corr_nuc if own == "fro" else corr_fro
        cross_at = {"checkpoint": float(np.mean(cross[kc])), "final": float(np.mean(cross[-1]))}
        summary[param] = {
            name: {
                "step": int(step),
                **_summary(corr_t[j], lo_own[j], is_opt[j], gap[j]),
                "frac_locally_optimal_fro_support": float(np.mean(lo_fro[j])),
                "frac_locally_optimal_nuc_support": float(np.mean(lo_nuc[j])),
                "maxprob_min": float(P.max(-1).mean(-1).min()),
                "norm_median": float(np.median(np.linalg.norm(Ws, axis=(-2, -1)))),
                "cross_corr_mean": cross_at.get(name),  # recorded curves only
                "fail_corr_seeds": [int(seeds[b]) for b in np.flatnonzero(corr_t[j] < 0.99)],
                "fail_local_seeds": [int(seeds[b]) for b in np.flatnonzero(~lo_own[j])],
            }
            for j, (name, step, Ws, P) in enumerate(stages)
        }
        summary[param]["alpha_changed_seeds"] = [
            int(seeds[b]) for b in np.flatnonzero(np.any(alphas[0] != alphas[-1], axis=-1))
        ]
        out[f"maxprob_{param}"] = r.probs.max(-1).mean(-1)  # (k, S)
        out[f"corr_fro_{param}"] = corr_fro
        out[f"corr_nuc_{param}"] = corr_nuc
        out[f"alpha_{param}"] = alphas[-1]
        out[f"alpha_stages_{param}"] = alphas
        out[f"corr_target_{param}"] = corr_t  # (stages, S): checkpoint, final[, continued]
        out[f"locally_optimal_{param}"] = lo_own
        out[f"locally_optimal_fro_{param}"] = lo_fro
        out[f"locally_optimal_nuc_{param}"] = lo_nuc
        out[f"is_opt_{param}"] = is_opt
        out[f"nuc_gap_{param}"] = gap
        out[f"norm_{param}"] = r.norms
        if cont is not None:
            out[f"cont_norm_{param}"] = cont.norms  # (k', S)
            out[f"cont_corr_nuc_{param}"] = corr_cont
        last = r if cont is None else cont
        if last.K is not None:
            # |K^T K - Q^T Q|_F / |K|_F^2 at the end: conserved (so -> 0 relative) by gradient flow
            Kt = np.swapaxes(last.K, -1, -2)
            bal = np.linalg.norm(Kt @ last.K - np.swapaxes(last.Q, -1, -2) @ last.Q, axis=(-2, -1))
            out[f"balance_{param}"] = bal / np.linalg.norm(last.K, axis=(-2, -1)) ** 2
            summary[param][stages[-1][0]]["balance_median"] = float(
                np.median(out[f"balance_{param}"])
            )
    meta = {
        "experiment": "E2",
        "n": n,
        "T": T,
        "d": d,
        "iters": iters,
        "checkpoint": checkpoint,
        "lr": 0.1,
        "loss": "logistic",
        "init": "uniform(+-1/sqrt(d)) from " + seeding("seed")["init_rng"],
        "runs": {name: kw for name, kw in E2_RUNS},
        "continuation": None
        if cont_norm is None
        else {"run": "KQj", "step": "proportional", "lr": E2_CONT_LR, "max_norm": cont_norm},
        "neighbour_test": "support of W^mm_alpha (W), of W^mm_{*,alpha} (KQ); tol 1e-5",
        "quick": quick,
        "summary": summary,
    }
    return out, meta


def e2_report(meta: dict) -> str:
    """The E2 summary table (from ``meta["summary"]`` of :func:`experiment_e2`) as text."""
    sm = meta["summary"]
    lines = []
    for param in sm:
        target = "W^mm_a" if param == "W" else "W^mm_*a"
        for stage in ("checkpoint", "final", "continued"):
            if stage not in sm[param]:
                continue
            x = sm[param][stage]
            where = (
                f"|W| = {x['norm_median']:.0e}" if stage == "continued" else f"step {x['step']:>6}"
            )
            lines.append(
                f"{param:>3} {where}: corr with {target}: mean {x['corr_mean']:.4f}"
                f" +- {x['corr_std']:.4f}, median {x['corr_median']:.4f}, min {x['corr_min']:.4f};"
                f" >= 0.99: {100 * x['frac_corr_ge_0.99']:.0f}%; neighbour test passed:"
                f" {100 * x['frac_locally_optimal']:.0f}% (Frobenius support"
                f" {100 * x['frac_locally_optimal_fro_support']:.0f}%, nuclear support"
                f" {100 * x['frac_locally_optimal_nuc_support']:.0f}%); alpha = opt"
                f" {100 * x['frac_alpha_opt']:.0f}%; nuclear gap median {x['nuc_gap_median']:.1e}"
            )
            if x["fail_local_seeds"]:
                lines.append(f"   failing the neighbour test: seeds {x['fail_local_seeds']}")
    return "\n".join(lines)


E3_SETTINGS = [(5, 5), (10, 5), (15, 5), (5, 10), (5, 15)]  # (n, T)
E3_DIMS = [1, 2, 3, 4, 5, 10, 15, 20]


def experiment_e3(*, quick: bool = False, progress: bool = False, rtol: float = 1e-4):
    """E3: mean numerical rank of W^mm (Frobenius) and W^mm_* (nuclear) for alpha = opt, over
    100 feasible seeds per (n, T, d) (infeasible seeds skipped, at most 20x as many tried).
    Rank counts sigma_i > rtol sigma_1 (a fixed 1e-7 tolerance would count SCS's ~1e-5 noise)."""
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
                rng=[init_rng(s, 4) for s in seeds],
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
            rng=[init_rng(s, 5) for s in seeds],
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


#: experiment name -> function returning (arrays, meta)
EXPERIMENTS = {
    "E1": experiment_e1,
    "E2": experiment_e2,
    "E3": experiment_e3,
    "E4": experiment_e4,
    "E5": experiment_e5,
    "LG": experiment_local_global,
}
#: experiment name -> its figure script in figures/ (what ``particles svm figure NAME`` runs)
FIGURE_STEMS = {
    "E1": "svm_e1_trajectories",
    "E2": "svm_e2_local_convergence",
    "E3": "svm_e3_rank",
    "E4": "svm_e4_multitoken",
    "E5": "svm_e5_global_vs_local",
    "LG": "svm_local_global_2d",
}
FIGURE_FORMAT = "svm_figure"


def run_experiment(
    name: str, *, quick: bool = False, progress: bool = False, **kw
) -> tuple[dict[str, np.ndarray], dict]:
    """Experiment ``name`` ("E1".."E5", "LG") as a figure's data: ``(arrays, meta)`` with the figure's
    format and name in ``meta``; ``kw`` go to the experiment (E2: ``iters``). E1 shows no
    progress bar (it is instantaneous)."""
    key = str(name).upper()
    if key not in EXPERIMENTS:
        raise ParticlesError(f"unknown experiment {name!r}; choose from {sorted(EXPERIMENTS)}")
    if key != "E1":
        kw["progress"] = progress
    arrays, meta = EXPERIMENTS[key](quick=quick, **kw)
    return {k: np.asarray(v) for k, v in arrays.items()}, {
        "format": FIGURE_FORMAT,
        "figure": key,
        **meta,
    }
