"""The Att-SVM problems of arXiv 2308.16898, its locally-optimal tokens, regularisation paths and
generalised SVM-equivalence for nonlinear heads.

Every constraint of Att-SVM(alpha) is linear in W:  <W, (x_{i alpha_i} - x_it) z_i^T> >= 1 for
t != alpha_i, so with the row-major features F_k = vec((x_{i alpha_i} - x_it) z_i^T)

* Frobenius:  min |W|_F  s.t. F vec(W) >= 1   -- a bias-free hard-margin SVM in R^{d^2}. Solved
  exactly as a least-distance program through its dual NNLS (Lawson & Hanson, *Solving Least
  Squares Problems*, ch. 23): u = argmin_{u >= 0} |[F^T; 1^T] u - e_last|, r = [F^T; 1^T] u - e,
  W = -r[:-1]/r[-1]; r = 0 certifies infeasibility. The support set is then polished by solving
  F_S F_S^T lambda_S = 1, so the margins of the support tokens are 1 to rounding.
* Nuclear:  min |W|_*  s.t. F vec(W) >= 1. Default: Burer-Monteiro, min (|K|^2 + |Q|^2)/2 with
  W = K Q^T (equal to |W|_* at the optimum when K, Q have >= rank(W) columns), by an augmented
  Lagrangian with L-BFGS inner solves (numpy/scipy only). Optional: cvxpy + Clarabel
  (extra ``svm``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, nnls

from ..errors import ParticlesError, count, finite, real_array
from .model import (
    LOSSES,
    AttentionData,
    _check_data,
    _loss_grad,
    as_rng,
    optimal_tokens,
    softmax_probs,
    token_scores,
)

__all__ = [
    "SVMSolution",
    "LocalOptimality",
    "SVMEquivalence",
    "svm_features",
    "att_svm",
    "numerical_rank",
    "local_optimality",
    "regularization_path",
    "svm_equivalence",
    "cvxpy_available",
    "solve_problem",
    "solve_random",
]

# |W^mm|_F above this counts as infeasible (the LDP residual r[-1] = -1/(1 + |W|^2)).
_INFEASIBLE_NORM = 1e6


def cvxpy_available() -> bool:
    try:
        import cvxpy  # noqa: F401
    except ImportError:
        return False
    return True


def _single(data: AttentionData) -> AttentionData:
    if not isinstance(data, AttentionData):
        raise ParticlesError("data must be an AttentionData")
    if data.batched:
        raise ParticlesError("the SVM solvers take one problem; index the batch first (data[b])")
    return data


def _check_alpha(data: AttentionData, alpha) -> np.ndarray:
    if alpha is None:
        return optimal_tokens(data)
    a = np.asarray(alpha)
    if a.shape != (data.n,):
        raise ParticlesError(f"alpha must have one token index per sequence, shape ({data.n},)")
    if not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.equal(np.mod(a, 1), 0)):
            raise ParticlesError("alpha must hold integer token indices")
        a = a.astype(int)
    if np.any(a < 0) or np.any(a >= data.T):
        raise ParticlesError(f"alpha entries must lie in 0..{data.T - 1}")
    return a


def svm_features(data: AttentionData, alpha=None) -> tuple[np.ndarray, np.ndarray]:
    """Row-major features F (n(T-1), d*d), F_k = vec((x_{i alpha_i} - x_it) z_i^T), and the (i, t)
    index of each row (int (n(T-1), 2)); the constraints of Att-SVM(alpha) read F vec(W) >= 1."""
    _check_data(data)
    data = _single(data)
    a = _check_alpha(data, alpha)
    n, T, d = data.n, data.T, data.d
    D = data.X[np.arange(n), a][:, None, :] - data.X  # (n, T, d)
    mask = np.ones((n, T), bool)
    mask[np.arange(n), a] = False
    idx = np.argwhere(mask)
    F = np.einsum("ntd,ne->ntde", D, data.z)[mask].reshape(-1, d * d)
    return F, idx


def _ldp(F: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """min |w| s.t. F w >= 1. Returns (w, lambda) with w = F^T lambda, lambda >= 0, or None if
    infeasible (no w with F w > 0)."""
    m, p = F.shape
    if m == 0:
        return np.zeros(p), np.zeros(0)
    E = np.vstack([F.T, np.ones((1, m))])
    f = np.zeros(p + 1)
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * max(m, p))
    r = E @ u - f
    if not (-r[-1] > 1.0 / (1.0 + _INFEASIBLE_NORM**2)):
        return None
    lam = u / (-r[-1])
    w = F.T @ lam
    # polish on the support set: F_S F_S^T lambda_S = 1 (exact active margins)
    S = lam > 0
    if np.any(S):
        FS = F[S]
        lamS, *_ = np.linalg.lstsq(FS @ FS.T, np.ones(S.sum()), rcond=None)
        if np.all(lamS > 0):
            w2 = FS.T @ lamS
            if np.min(F @ w2) >= 1 - 1e-9 and np.linalg.norm(w2) <= np.linalg.norm(w) * (1 + 1e-9):
                lam = np.zeros(m)
                lam[S] = lamS
                w = w2
    if np.linalg.norm(w) > _INFEASIBLE_NORM or np.min(F @ w) < 1 - 1e-6:
        return None
    return w, lam


@dataclass(frozen=True, kw_only=True, eq=False)
class SVMSolution:
    """Solution of Att-SVM(alpha).

    W (d, d) in the convention logits = X W z; alpha (n,); norm "fro" | "nuc"; objective |W|_F or
    |W|_*; margins (n, T) = (x_{i alpha_i} - x_it)^T W z_i (0 at t = alpha_i); dual (n, T) the
    multipliers lambda_it (Frobenius solver; NaN otherwise); solver name.
    """

    W: np.ndarray
    alpha: np.ndarray
    norm: str
    objective: float
    margins: np.ndarray
    dual: np.ndarray
    solver: str

    def arrays(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "alpha": self.alpha, "margins": self.margins, "dual": self.dual}


def _margins(data: AttentionData, alpha: np.ndarray, W: np.ndarray) -> np.ndarray:
    a = data.X @ (W @ data.z[..., None])  # (n, T, 1)
    a = a[..., 0]
    return a[np.arange(data.n), alpha][:, None] - a


def _infeasible(norm: str, alpha) -> ParticlesError:
    return ParticlesError(
        f"Att-SVM ({norm}) is infeasible for alpha={list(map(int, alpha))}: no W separates each "
        "selected token from the other tokens of its sequence with a positive margin "
        "(ties or too small d; d >= max(T-1, n) makes every alpha feasible for generic data)"
    )


def att_svm(
    data: AttentionData,
    alpha=None,
    *,
    norm: str = "fro",
    solver: str = "auto",
    tol: float = 1e-8,
    maxiter: int = 100,
) -> SVMSolution:
    """Solve Att-SVM(alpha) (``norm="fro"``, arXiv 2308.16898) or Att-SVM* (``norm="nuc"``).

    alpha defaults to the optimal tokens opt_i = argmax_t Y_i v^T x_it. ``solver``: for "fro"
    "ldp" (NNLS dual, exact active set); for "nuc" "bm" (Burer-Monteiro augmented Lagrangian,
    numpy/scipy) or "cvxpy" (Clarabel); "auto" picks "ldp" / "bm". Raises ParticlesError when
    the problem is infeasible.
    """
    _check_data(data)
    data = _single(data)
    a = _check_alpha(data, alpha)
    F, idx = svm_features(data, a)
    d = data.d
    if norm not in ("fro", "nuc"):
        raise ParticlesError(f"norm must be 'fro' or 'nuc', got {norm!r}")
    if np.any(np.linalg.norm(F, axis=1) == 0):
        raise _infeasible(norm, a)
    res = _ldp(F)
    if res is None:
        raise _infeasible(norm, a)
    wf, lam = res
    dual = np.full((data.n, data.T), np.nan)
    if norm == "fro":
        if solver not in ("auto", "ldp"):
            raise ParticlesError(f"solver for norm 'fro' must be 'ldp' or 'auto', got {solver!r}")
        W = wf.reshape(d, d)
        dual = np.zeros((data.n, data.T))
        dual[idx[:, 0], idx[:, 1]] = lam
        obj = float(np.linalg.norm(W))
        used = "ldp"
    else:
        if solver == "auto":
            solver = "bm"
        if solver == "bm":
            W = _nuclear_bm(F, d, wf.reshape(d, d), rank=data.n, tol=tol, maxiter=maxiter)
        elif solver == "cvxpy":
            W = _nuclear_cvxpy(F, d)
        else:
            raise ParticlesError(
                f"solver for norm 'nuc' must be 'bm', 'cvxpy' or 'auto', not {solver!r}"
            )
        # exact feasibility: rescale so the smallest margin is >= 1
        mmin = float(np.min(F @ W.ravel()))
        if not mmin > 0:
            raise _infeasible(norm, a)
        if mmin < 1:
            W = W / mmin
        obj = float(np.linalg.svd(W, compute_uv=False).sum())
        used = solver
    return SVMSolution(
        W=W, alpha=a, norm=norm, objective=obj, margins=_margins(data, a, W), dual=dual, solver=used
    )


def _nuclear_bm(F, d, W0, *, rank=None, tol=1e-8, maxiter=100, rho=10.0) -> np.ndarray:
    """min (|K|^2+|Q|^2)/2 s.t. F vec(K Q^T) >= 1 by an augmented Lagrangian (Burer-Monteiro).

    K, Q are d x r with r = min(d, rank): the optimum has rank <= n (its singular vectors are
    the top ones of the dual certificate sum_k lambda_k A_k, a rank-<=n matrix), so ``rank=n``
    loses nothing. Started from the Frobenius solution's balanced factors (feasible). Inner
    problems by L-BFGS with the analytic gradient; multipliers mu_k >= 0 updated as
    max(0, mu + rho c).
    """
    U, s, Vt = np.linalg.svd(W0)
    r = min(d, rank) if rank else d
    K = U[:, :r] * np.sqrt(s[:r])
    Q = Vt[:r].T * np.sqrt(s[:r])
    m = F.shape[0]
    nv = d * r
    mu = np.zeros(m)
    theta = np.concatenate([K.ravel(), Q.ravel()])
    prev_viol = np.inf

    def fg(th, mu, rho):
        K = th[:nv].reshape(d, r)
        Q = th[nv:].reshape(d, r)
        c = 1.0 - F @ (K @ Q.T).ravel()
        w = np.maximum(0.0, mu + rho * c)
        val = 0.5 * (th @ th) + (w @ w - mu @ mu) / (2 * rho)
        M = (F.T @ w).reshape(d, d)
        gK = K - M @ Q
        gQ = Q - M.T @ K
        return val, np.concatenate([gK.ravel(), gQ.ravel()])

    for _ in range(maxiter):
        res = minimize(
            fg,
            theta,
            args=(mu, rho),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 2000, "gtol": 1e-12, "ftol": 1e-15, "maxcor": 30},
        )
        theta = res.x
        K = theta[:nv].reshape(d, r)
        Q = theta[nv:].reshape(d, r)
        c = 1.0 - F @ (K @ Q.T).ravel()
        mu_new = np.maximum(0.0, mu + rho * c)
        viol = float(np.max(np.maximum(c, 0.0)))
        comp = float(np.max(np.abs(np.minimum(-c, mu_new)))) if m else 0.0
        mu = mu_new
        if viol <= tol and comp <= tol * max(1.0, float(np.max(mu, initial=0.0))):
            break
        if viol > 0.25 * prev_viol:
            rho = min(rho * 10.0, 1e6)
        prev_viol = viol
    K = theta[:nv].reshape(d, r)
    Q = theta[nv:].reshape(d, r)
    return K @ Q.T


def _nuclear_cvxpy(F, d) -> np.ndarray:
    try:
        import cvxpy as cp
    except ImportError:
        raise ParticlesError(
            "solver 'cvxpy' needs cvxpy: pip install cvxpy, or pip install -e '.[svm]' in the "
            "repository (or use solver='bm')"
        ) from None
    W = cp.Variable((d, d))
    prob = cp.Problem(cp.Minimize(cp.normNuc(W)), [F @ cp.reshape(W, (d * d,), order="C") >= 1])
    try:
        prob.solve(solver=cp.CLARABEL)
    except cp.error.SolverError as e:
        raise ParticlesError(f"cvxpy/Clarabel failed on the nuclear Att-SVM: {e}") from None
    if prob.status not in ("optimal", "optimal_inaccurate") or W.value is None:
        raise ParticlesError(f"cvxpy/Clarabel: nuclear Att-SVM status {prob.status}")
    return np.asarray(W.value, dtype=float)


def numerical_rank(W: np.ndarray, rtol: float = 1e-4) -> int:
    """Number of singular values sigma_i > rtol * sigma_1 (experiment E3: a relative tolerance,
    so solver noise at the 1e-6 level is not counted)."""
    W = real_array(W, "W", finite=True)
    if W.ndim != 2:
        raise ParticlesError(f"W must be a matrix, got shape {W.shape}")
    rtol = finite(rtol, "rtol", ">= 0")
    s = np.linalg.svd(W, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    return int(np.sum(s > rtol * s[0]))


@dataclass(frozen=True, kw_only=True, eq=False)
class LocalOptimality:
    """Result of the SVM-neighbour test of arXiv 2308.16898 (locally-optimal tokens).

    locally_optimal: alpha passes; neighbours (n, T) bool: the support tokens T_i (active
    constraints, margin <= 1 + tol); beaten (n, T) bool: neighbours whose score is >= the selected
    token's (these make alpha fail); solution: the Att-SVM(alpha) whose support was used.
    """

    alpha: np.ndarray
    locally_optimal: bool
    neighbours: np.ndarray
    beaten: np.ndarray
    solution: SVMSolution


def local_optimality(
    data: AttentionData, alpha=None, *, tol: float = 1e-5, norm: str = "fro", solution=None
) -> LocalOptimality:
    """SVM-neighbour test: alpha is locally optimal iff gamma_{i alpha_i} > gamma_it for every
    support token t in T_i = {t != alpha_i : (x_{i alpha_i} - x_it)^T W^mm_alpha z_i <= 1 + tol}.

    ``norm="fro"`` takes the support tokens of the Frobenius Att-SVM(alpha) (the paper's test, the
    W-parameterisation); ``norm="nuc"`` those of the nuclear Att-SVM*(alpha), the SVM the (K,Q)
    iterates converge to. ``solution``: an already computed Att-SVM(alpha) of that norm (reused).
    Raises ParticlesError if Att-SVM(alpha) is infeasible."""
    _check_data(data)
    data = _single(data)
    if norm not in ("fro", "nuc"):
        raise ParticlesError(f"norm must be 'fro' or 'nuc', got {norm!r}")
    tol = finite(tol, "tol", ">= 0")
    if solution is not None and not isinstance(solution, SVMSolution):
        raise ParticlesError(f"solution must be an SVMSolution, got {type(solution).__name__}")
    if solution is None:
        sol = att_svm(data, alpha, norm=norm)
    else:
        sol = solution
        if sol.norm != norm or (alpha is not None and not np.array_equal(sol.alpha, alpha)):
            raise ParticlesError("solution does not match the given alpha and norm")
    a = sol.alpha
    nb = sol.margins <= 1.0 + tol
    nb[np.arange(data.n), a] = False
    g = token_scores(data)
    beaten = nb & (g >= g[np.arange(data.n), a][:, None])
    return LocalOptimality(
        alpha=a, locally_optimal=not bool(beaten.any()), neighbours=nb, beaten=beaten, solution=sol
    )


def regularization_path(
    data: AttentionData,
    radii,
    *,
    param: str = "W",
    loss: str = "logistic",
    rng=None,
    maxiter: int = 1000,
) -> np.ndarray:
    """W_R = argmin_{|W|_F <= R} L(W) ("W") or K Q^T over |K|^2 + |Q|^2 <= 2R ("KQ"): the
    regularization paths of the paper.

    Solved on the boundary sphere (where the minimiser lies once R is large, as L has no finite
    minimiser for separable data): the direction is optimised by L-BFGS, warm-started from the
    previous radius; radii are processed in increasing order. Returns (len(radii), d, d).
    """
    _check_data(data)
    data = _single(data)
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ParticlesError(f"unknown loss {loss!r}")
    radii = real_array(radii, "radii")
    maxiter = count(maxiter, "maxiter", 1, 10**7)
    if radii.ndim != 1 or np.any(~np.isfinite(radii)) or np.any(radii <= 0):
        raise ParticlesError("radii must be a 1-D array of positive numbers")
    if param not in ("W", "KQ"):
        raise ParticlesError(f"param must be 'W' or 'KQ', got {param!r}")
    b = data.as_batch()
    d = data.d
    g = as_rng(rng)
    order = np.argsort(radii)
    out = np.empty((len(radii), d, d))

    def LG(W):
        L, G, _ = _loss_grad(b.X, b.Y, b.z, b.v, b.V, W[None], loss)
        return L[0], G[0]

    if param == "W":
        _, G0 = LG(np.zeros((d, d)))
        theta = -G0.ravel() + 1e-3 * g.standard_normal(d * d)
    else:
        theta = g.standard_normal(2 * d * d)
    for j in order:
        R = radii[j]

        if param == "W":

            def fg(th, R=R):
                nt = np.linalg.norm(th)
                u = th / nt
                W = R * u.reshape(d, d)
                L, G = LG(W)
                gv = G.ravel()
                return L, (R / nt) * (gv - (gv @ u) * u)

        else:
            scale = np.sqrt(2 * R)

            def fg(th, scale=scale):
                nt = np.linalg.norm(th)
                u = th / nt
                K = scale * u[: d * d].reshape(d, d)
                Q = scale * u[d * d :].reshape(d, d)
                L, G = LG(K @ Q.T)
                gv = np.concatenate([(G @ Q).ravel(), (G.T @ K).ravel()])
                return L, (scale / nt) * (gv - (gv @ u) * u)

        r = minimize(
            fg,
            theta / np.linalg.norm(theta),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": maxiter, "gtol": 1e-14, "ftol": 1e-16},
        )
        theta = r.x / np.linalg.norm(r.x)
        if param == "W":
            out[j] = R * theta.reshape(d, d)
        else:
            s = np.sqrt(2 * R)
            out[j] = (s * theta[: d * d].reshape(d, d)) @ (s * theta[d * d :].reshape(d, d)).T
    return out


@dataclass(frozen=True, kw_only=True, eq=False)
class SVMEquivalence:
    """The generalised SVM-equivalence of arXiv 2308.16898 (nonlinear heads) for a GD iterate W_gd.

    selected (n, T) bool: O_i = {t : s_it >= threshold}; W_fin: min-norm W reproducing the
    softmax log-ratios inside each O_i; W_dir = W^mm(O); R: least-squares fit of
    W_fin + R W_dir to W_gd; W_eq = W_fin + R W_dir; W_1token: Att-SVM with alpha = argmax s
    (None if infeasible).
    """

    selected: np.ndarray
    W_fin: np.ndarray
    W_dir: np.ndarray
    R: float
    W_eq: np.ndarray
    W_1token: np.ndarray | None


def svm_equivalence(
    data: AttentionData, W_gd: np.ndarray, *, threshold: float = 1e-3
) -> SVMEquivalence:
    """Build W^fin, W^dir = W^mm(O), W^SVMeq = W^fin + R W^dir and W^1token from W_gd."""
    _check_data(data)
    data = _single(data)
    W_gd = real_array(W_gd, "W_gd")
    threshold = finite(threshold, "threshold", ">= 0")
    if W_gd.shape != (data.d, data.d) or not np.all(np.isfinite(W_gd)):
        raise ParticlesError(f"W_gd must be a finite ({data.d}, {data.d}) array")
    n, d = data.n, data.d
    s = softmax_probs(data, W_gd)
    O = s >= threshold
    top = np.argmax(s, axis=1)
    rows, rhs, dirs = [], [], []
    for i in range(n):
        x, z = data.X[i], data.z[i]
        t0 = top[i]
        for t in np.flatnonzero(O[i]):
            if t != t0:
                rows.append(np.outer(x[t0] - x[t], z).ravel())
                rhs.append(np.log(s[i, t0] / s[i, t]))
        for t in np.flatnonzero(O[i]):
            for tau in np.flatnonzero(~O[i]):
                dirs.append(np.outer(x[t] - x[tau], z).ravel())
    if not dirs:
        raise ParticlesError("every token is selected (s >= threshold): W^mm(O) is undefined")
    Fd = np.array(dirs)
    if rows:
        E = np.array(rows)
        w_fin, *_ = np.linalg.lstsq(E, np.array(rhs), rcond=None)
        # projector onto S_fin^perp through an orthonormal basis of the row space of E
        U, sv, Vt = np.linalg.svd(E, full_matrices=False)
        B = Vt[sv > 1e-10 * sv[0]]
        Fd = Fd - (Fd @ B.T) @ B
    else:
        w_fin = np.zeros(d * d)
    res = _ldp(Fd)
    if res is None:
        raise ParticlesError("W^mm(O) is infeasible for the selected token sets O_i")
    w_dir = res[0]
    W_fin = w_fin.reshape(d, d)
    W_dir = w_dir.reshape(d, d)
    R = float(np.sum((W_gd - W_fin) * W_dir) / np.sum(W_dir * W_dir))
    try:
        W1 = att_svm(data, top).W
    except ParticlesError:
        W1 = None
    return SVMEquivalence(
        selected=O, W_fin=W_fin, W_dir=W_dir, R=R, W_eq=W_fin + R * W_dir, W_1token=W1
    )


def solve_problem(
    data: AttentionData, alpha=None, *, norm: str = "fro", solver: str = "auto"
) -> tuple[SVMSolution, LocalOptimality]:
    """Att-SVM(alpha) with the chosen norm plus the SVM-neighbour test of alpha on that
    solution's support tokens (Frobenius: the paper's test; nuclear: the (K,Q) analogue)."""
    _check_data(data)
    if norm == "fro":
        if solver not in ("auto", "ldp"):
            raise ParticlesError(f"solver for norm 'fro' must be 'ldp' or 'auto', got {solver!r}")
        loc = local_optimality(data, alpha)
        return loc.solution, loc
    sol = att_svm(data, alpha, norm=norm, solver=solver)
    return sol, local_optimality(data, sol.alpha, norm="nuc", solution=sol)


def solve_random(
    n: int,
    T: int,
    d: int,
    seed: int,
    *,
    norm: str = "fro",
    alpha="opt",
    solver: str = "auto",
    self_attention: bool = False,
    data_file=None,
):
    """Data (drawn with ``seed``, or read from ``data_file``), Att-SVM(alpha) and the SVM-neighbour
    test. ``alpha``: "opt", "selected" (the alpha stored in ``data_file``), a comma list or an
    array. Returns (data, solution, local_optimality, meta)."""
    from ..storage.npz import load_npz
    from .model import make_data

    stored_alpha = None
    if data_file is not None:
        arr, fmeta = load_npz(data_file)
        if fmeta["format"] not in ("svm_train", "svm_solve"):
            raise ParticlesError(f"{data_file}: holds a {fmeta['format']!r} result, not svm data")
        missing = [k for k in ("X", "Y", "z", "v") if k not in arr]
        if missing:
            raise ParticlesError(f"{data_file}: missing arrays {missing}")
        data = AttentionData(X=arr["X"], Y=arr["Y"], z=arr["z"], v=arr["v"], V=arr.get("V"))
        stored_alpha = arr.get("alpha")
        src = {"data_file": str(data_file), "seed": fmeta.get("seed")}
    else:
        data = make_data(n, T, d, seed, self_attention=self_attention)
        src = {"n": n, "T": T, "d": d, "seed": seed, "self_attention": self_attention}
    if isinstance(alpha, str):
        key = alpha.strip().lower()
        if key == "opt":
            a = None
        elif key == "selected":
            if stored_alpha is None:
                raise ParticlesError("--alpha selected needs --data FILE holding an alpha array")
            a = stored_alpha
        else:
            try:
                a = np.array([int(p) for p in alpha.split(",") if p.strip()])
            except ValueError:
                raise ParticlesError(
                    f"alpha {alpha!r}: expected 'opt', 'selected' or integers '0,3,1,...'"
                ) from None
    else:
        a = alpha
    sol, loc = solve_problem(data, a, norm=norm, solver=solver)
    meta = {
        **src,
        "norm": norm,
        "solver": sol.solver,
        "objective": sol.objective,
        "rank": numerical_rank(sol.W),
        "alpha": sol.alpha,
        "locally_optimal": loc.locally_optimal,
    }
    return data, sol, loc, meta


SOLVE_FORMAT = "svm_solve"


def solve_record(n: int, T: int, d: int, seed: int, **kw) -> tuple[dict[str, np.ndarray], dict]:
    """:func:`solve_random` (same arguments) as a result record ``(arrays, meta)`` for
    :func:`particles.storage.npz.save_npz`: the data, :meth:`SVMSolution.arrays`, ``neighbours`` and
    ``locally_optimal``; ``meta`` as :func:`solve_random`'s, with its format."""
    data, sol, loc, meta = solve_random(n, T, d, seed, **kw)
    arrays = {
        **data.arrays(),
        **sol.arrays(),
        "neighbours": loc.neighbours,
        "locally_optimal": loc.locally_optimal,
    }
    return arrays, {"format": SOLVE_FORMAT, **meta}
