"""Att-SVM: attention as a max-margin token selector (arXiv 2308.16898).

Model and data (:mod:`.model`), gradient descent on W or (K, Q) (:mod:`.train`), the Att-SVM
problems, SVM-neighbour test, regularisation path and generalised SVM-equivalence
(:mod:`.solvers`), the experiments E1-E5 (:mod:`.experiments`) and their figures (:mod:`.figures`).
Convention throughout: logits = X W z (the paper's W; the authors' nn.Linear stores W^T).
"""

from .model import (
    LOSSES,
    AttentionData,
    correlation,
    forward,
    logits,
    loss_and_grad,
    loss_and_grad_kq,
    make_data,
    make_data_batch,
    optimal_tokens,
    softmax_probs,
    token_scores,
    w_from_torch,
)
from .solvers import (
    LocalOptimality,
    SVMEquivalence,
    SVMSolution,
    att_svm,
    cvxpy_available,
    local_optimality,
    numerical_rank,
    regularization_path,
    solve_problem,
    solve_random,
    svm_equivalence,
    svm_features,
)
from .train import TrainConfig, TrainResult, default_init, train, train_random

__all__ = [
    "LOSSES",
    "AttentionData",
    "LocalOptimality",
    "SVMEquivalence",
    "SVMSolution",
    "TrainConfig",
    "TrainResult",
    "att_svm",
    "correlation",
    "cvxpy_available",
    "default_init",
    "forward",
    "local_optimality",
    "logits",
    "loss_and_grad",
    "loss_and_grad_kq",
    "make_data",
    "make_data_batch",
    "numerical_rank",
    "optimal_tokens",
    "regularization_path",
    "softmax_probs",
    "solve_problem",
    "solve_random",
    "svm_equivalence",
    "svm_features",
    "token_scores",
    "train",
    "train_random",
    "w_from_torch",
]
