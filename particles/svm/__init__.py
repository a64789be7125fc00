"""Att-SVM: attention as a max-margin token selector (arXiv 2308.16898).

The inner roles every paper package shares:

============  ===============================================================================
model         :mod:`.model`: data, logits, loss and gradients
train/solve   :mod:`.train` (gradient descent on W or (K, Q)); :mod:`.solvers` (the Att-SVM
              problems, regularisation path, generalised SVM-equivalence)
measure       :mod:`.solvers` (SVM-neighbour test, numerical rank), :func:`.model.correlation`
experiments   :mod:`.experiments` (E1-E5, LG: the 2-D local/global picture)
plotting      :mod:`.plotting` (:func:`.plotting.draw_experiment`: the E1-E5 and LG figures, which
              the scripts ``figures/svm_*.py`` write through :mod:`particles.plotting.figures`)
============  ===============================================================================

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
    solve_record,
    svm_equivalence,
    svm_features,
)
from .train import (
    TrainConfig,
    TrainResult,
    default_init,
    init_rng,
    seeding,
    train,
    train_random,
    train_record,
)

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
    "init_rng",
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
    "seeding",
    "softmax_probs",
    "solve_problem",
    "solve_random",
    "solve_record",
    "svm_equivalence",
    "svm_features",
    "token_scores",
    "train",
    "train_random",
    "train_record",
    "w_from_torch",
]
