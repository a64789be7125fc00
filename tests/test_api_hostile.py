"""Every public function of the library, driven with hostile arguments one at a time.

The functions are found by walking the public modules (:data:`MODULES`: ``__all__`` where a module
has one, else its own public names). Each gets a minimal valid call (:data:`CALLS`, completed from
the table of valid values by parameter name, :data:`NAMES`); a public function with neither is a
test failure (:func:`test_every_public_function_is_driven`), so a new function or a new required
argument is driven as soon as it exists, or listed in :data:`SKIP` with the reason.

Then every parameter of the signature (required or not, but the ones in :data:`LEAVE`) is given,
one at a time, each value of :data:`SCALARS` (NaN, +-inf, 1e308, a subnormal, 0, -1, huge ints,
fractions where ints are expected, bools, strings, None, complex, empty containers, objects) and,
where its valid value is an array, the arrays derived from it (:func:`array_variants`: empty,
wrong ndim, wrong width, NaN/inf/huge/subnormal entries, zero rows, ragged, object, string, int
and complex dtypes). The call must either

- return an output whose numbers are finite (:func:`non_finite`: NaN never, inf only where
  :data:`MAY_BE_INFINITE` says the answer is infinite), or
- raise :class:`~particles.errors.ParticlesError` (or a subclass) with a one-line message;

never another exception (TypeError, IndexError, ZeroDivisionError, MemoryError, a numba error).
Sizes in the valid calls are tiny, so each case runs in milliseconds.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import signal
import warnings
from fractions import Fraction

import numpy as np
import pytest

import particles as pt
from particles.errors import ParticlesError

# ------------------------------------------------------------------------------------------------
# the public functions

MODULES = [
    "particles",
    "particles.meanfield",
    "particles.analysis.clusters",
    "particles.analysis.energy",
    "particles.analysis.equiangular",
    "particles.analysis.circle",
    "particles.analysis.modes",
    "particles.analysis.wendel",
    "particles.analysis.repulsive",
    "particles.analysis.long_context",
    "particles.analysis.hardmax",
    "particles.field.norms",
    "particles.sweeps.grids",
    "particles.solvers.ensemble",
    "particles.svm",
    "particles.scansnap",
    "particles.transformer",
    "particles.analysis.phase",
    "particles.analysis.transition",
    "particles.sweeps.sweep",
    "particles.storage.npz",
    "particles.field",
    "particles.analysis.sinkhorn",
    "particles.plotting.viewer",
    "particles.plotting.view_file",
]

#: public names not driven here, with the reason
SKIP: dict[str, str] = {
    # exceptions and constants
    "particles.ParticlesError": "the exception itself",
    "particles.Interrupted": "raised by simulate on Ctrl-C, not called",
    # result containers: built by the library from checked computations, not user input
    **{
        f"particles.meanfield.{n}": "a result container"
        for n in ("Branch", "CircleParticles", "CircleSolution")
    },
    "particles.analysis.clusters.Clusters": "a result container",
    "particles.analysis.clusters.Summary": "a result container",
    "particles.analysis.repulsive.Relaxed": "a result container",
    "particles.analysis.hardmax.Equilibrium": "a result container",
    "particles.solvers.ensemble.EnsembleResult": "a result container",
    "particles.solvers.ensemble.NoisyEnsembleResult": "a result container",
    **{
        f"particles.svm.{n}": "a result container"
        for n in ("LocalOptimality", "SVMEquivalence", "SVMSolution", "TrainResult")
    },
    **{f"particles.scansnap.{n}": "a result container" for n in ("ReducedSolution", "TrainResult")},
    **{
        f"particles.transformer.{n}": "weights read from a checked model file (tests/test_transformer*)"
        for n in ("Encoder", "EncoderConfig", "LayerWeights", "WordPieceTokenizer", "encoder_layer")
    },
    "particles.plotting.viewer.write_html": "writes a file (tests/test_viewer.py's tables)",
    "particles.plotting.view_file.figure_for_file": "reads files (tests/test_viewer.py's tables)",
    "particles.plotting.viewer.embedded": "wraps a plotly Figure (tests/test_viewer.py)",
    "particles.plotting.viewer.Embedded": "a result container",
    # files, network, the environment: their hostile inputs are files (tests/test_cli_hostile.py)
    **{
        f"particles.transformer.{n}": "reads model files or the network (CLI tables)"
        for n in (
            "compare_text",
            "fetch_model",
            "load_encoder",
            "load_model",
            "load_tokenizer",
            "model_path",
            "read_passage",
            "read_safetensors",
            "resolve_model",
            "run_text",
            "list_passages",
        )
    },
    "particles.svm.cvxpy_available": "no arguments",
    "particles.svm.seeding": "formats a seed (or a placeholder name) into a description",
    "particles.svm.w_from_torch": "needs torch tensors",
    "particles.svm.solve_random": "reads data files (CLI tables: svm solve)",
    "particles.svm.solve_record": "reads data files (CLI tables: svm solve)",
    "particles.svm.train_record": "train_random plus recording (driven: train_random)",
    "particles.scansnap.run_sweep": "writes a directory of runs (CLI tables: scansnap sweep)",
    "particles.scansnap.figure_sweep": "writes a figure (CLI tables: scansnap figure)",
    "particles.scansnap.save_summary": "writes a file (CLI tables: scansnap sweep)",
    "particles.scansnap.summary_path": "a path helper",
    "particles.scansnap.entropy_report": "formats a sweep result",
    "particles.scansnap.sweep_arrays": "formats a sweep result",
    "particles.scansnap.fig6_grid": "a figure's fixed grid",
    "particles.scansnap.builtin_texts": "no arguments",
    "particles.scansnap.load_text": "reads files (CLI tables: scansnap train --text)",
    "particles.scansnap.train_run": "train_record from options (CLI tables: scansnap train)",
    "particles.scansnap.run_one": "train_record plus measures (driven: train)",
    "particles.scansnap.train_record": "train plus recording (driven: train)",
    "particles.scansnap.probe_attention": "needs a TextTask (a text file)",
    "particles.scansnap.probe_positions": "needs a TextTask (a text file)",
    "particles.scansnap.TextTask": "reads a text (CLI tables: scansnap train --text)",
    "particles.solvers.ensemble.compile_kernels": "no arguments",
    "particles.solvers.ensemble.compile_noisy_kernels": "no arguments",
    "particles.analysis.long_context.one_layer_random": "a study (minutes at its sizes)",
    "particles.analysis.repulsive.relax": "runs to convergence (t_max 2e4): a study",
    "particles.analysis.equiangular.critical_beta": "a root search over beta (seconds)",
    # stores, files and figures: their hostile inputs are paths (tests/test_cli_hostile.py)
    **{
        f"particles.analysis.phase.{n}": "reads or writes a store, a table or a figure"
        for n in (
            "assemble",
            "check_table_path",
            "phase_diagrams",
            "phase_figure",
            "plot_phase",
            "plot_phase_figure",
            "scan",
            "PhaseDiagram",
            "ScanTable",
            "band_width",
            "boundary_t",
            "run_beta",
        )
    },
    **{
        f"particles.analysis.transition.{n}": "writes a store (CLI tables: transition)"
        for n in ("transition", "run_branch", "TransitionResult")
    },
    **{
        f"particles.sweeps.sweep.{n}": "runs or reads a store's tasks (tests/test_sweep.py, test_hostile.py)"
        for n in ("Task", "execute_task", "is_done", "load_result", "run_sweep")
    },
    **{
        f"particles.storage.npz.{n}": "files: tests/test_cli_hostile.py's input tables and tests/test_io*"
        for n in (
            "atomic_open",
            "atomic_write_bytes",
            "check_writable",
            "load_array",
            "load_npz",
            "read_text",
            "results_dir",
            "save_npz",
            "package_version",
            "shipped_texts",
            "sigint_held",
            "check_npz_sizes",
            "dumps",
            "npz_headers",
        )
    },
    **{
        f"particles.field.{n}": "a kernel-level helper of velocity (driven through it)"
        for n in (
            "attention",
            "feedforward",
            "check_dtype",
            "head_inputs",
            "raw_field",
            "repaired",
        )
    },
}

#: parameters left at their valid value: callbacks and switches whose hostile values are not input
#: errors (progress bars), or that would reach the network (a Dask scheduler address)
LEAVE = {"progress", "scheduler", "quiet", "self", "keep_weights"}


def public_functions() -> dict[str, object]:
    out = {}
    for modname in MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [
                n
                for n in dir(mod)
                if not n.startswith("_")
                and getattr(getattr(mod, n), "__module__", None) == modname
                and (inspect.isfunction(getattr(mod, n)) or inspect.isclass(getattr(mod, n)))
            ]
        for n in names:
            obj = getattr(mod, n)
            if callable(obj):
                out[f"{modname}.{n}"] = obj
    return out


# ------------------------------------------------------------------------------------------------
# valid calls


def _pts(n=8, d=3, seed=0):
    return pt.random_points(n, d, rng=seed)


def _angles(n=8):
    return np.linspace(0.0, 2 * np.pi, n, endpoint=False) + 0.1 * np.arange(n) ** 0.5


def _traj():
    return pt.simulate(_pts(), pt.Dynamics(), 0.2, dt=0.05, saves=3)


def _circle_solution():
    from particles import meanfield as mf

    return mf.solve_circle(mf.initial_density("perturbed", N=16), 2.0, 1.0, 0.1, dt=0.05, saves=3)


def _branch():
    from particles import meanfield as mf

    return mf.stationary_branch(6.0, 2, points=12)


def _svm_data():
    from particles import svm

    return svm.make_data(2, 3, 3, rng=0)


def _task():
    from particles import scansnap

    return scansnap.SyntheticTask(num_classes=2, num_common=2, num_distinct=2, context_len=7)


def _ss_params():
    from particles import scansnap

    task = _task()
    Y, Z = scansnap.init_params(task.vocab_size, "random", rng=0)
    return task, Y, Z


def _hm_tokens():
    return np.random.default_rng(0).standard_normal((8, 2))


def _hm_matrix():
    return np.array([[2.0, 0.3], [0.3, 1.0]])


#: valid values by parameter name (the valid call's missing arguments are taken from here)
NAMES = {
    "x": _pts,
    "x0": _pts,
    "h": lambda: 2.0 * _pts(),
    "xs": lambda: np.stack([_pts(seed=s) for s in range(3)]),
    "theta": _angles,
    "theta0": _angles,
    "beta": 1.0,
    "n": 8,
    "d": 3,
    "t_end": 0.2,
    "dyn": pt.Dynamics,
    "traj": _traj,
    "sol": _circle_solution,
    "branch": _branch,
    "data": _svm_data,
    "task": _task,
    "seed": 0,
    "T": 3,
    "tau": 1.0,
    "t": 1.0,
}

#: the valid call of each function: {parameter: value or factory}; missing required parameters
#: come from NAMES
CALLS: dict[str, dict] = {
    "particles.Dynamics": {"beta": 1.0},
    "particles.analysis.sinkhorn.heat_velocity_error": {
        "theta": lambda: np.linspace(0.0, 6.0, 8),
        "dlogrho": lambda: np.sin(np.linspace(0.0, 6.0, 8)),
        "beta": 4.0,
    },
    "particles.FeedForward": {
        "W1": lambda: np.ones((4, 3)),
        "b1": lambda: np.zeros(4),
        "W2": lambda: np.ones((3, 4)) / 4,
    },
    "particles.Piecewise": {"segments": lambda: ((pt.Dynamics(), 0.5), (pt.Dynamics(beta=2), 0.5))},
    "particles.Trajectory": {
        "t": lambda: np.array([0.0, 0.1]),
        "x": lambda: np.stack([_pts(), _pts()]),
        "dynamics": pt.Dynamics,
        "method": "rk4",
    },
    "particles.simulate": {"t_end": 0.2, "dt": 0.05, "saves": 3},
    "particles.random_points": {"rng": 0},
    # meanfield
    "particles.meanfield.circle_field": {"theta": _angles},
    "particles.meanfield.circle_particles": {
        "theta0": _angles,
        "kappa": 1.0,
        "t_end": 0.1,
        "dt": 0.05,
        "rng": 0,
    },
    "particles.meanfield.solve_circle": {
        "rho0": lambda: pt.meanfield.initial_density("perturbed", N=16),
        "kappa": 1.0,
        "t_end": 0.1,
        "dt": 0.05,
        "saves": 3,
    },
    "particles.meanfield.initial_density": {"N": 16},
    "particles.meanfield.sample_density": {"sol_or_rho": _circle_solution, "n": 16, "rng": 0},
    "particles.meanfield.w1_circle": {"theta": _angles, "grid": 64},
    "particles.meanfield.funk_hecke": {"ells": lambda: np.arange(3)},
    "particles.meanfield.stationary_branch": {"beta": 6.0, "d": 2, "points": 12},
    "particles.meanfield.critical_kappas": {"modes": 3},
    "particles.meanfield.growth_rates": {"modes": 3},
    # analysis
    **{
        f"particles.analysis.hardmax.{n}": {"z": _hm_tokens, "A": _hm_matrix}
        for n in ("layer", "leaders")
    },
    "particles.analysis.hardmax.equilibrium": {"z0": _hm_tokens, "A": _hm_matrix},
    "particles.analysis.hardmax.layers": {"z0": _hm_tokens, "n_layers": 3, "A": _hm_matrix},
    "particles.analysis.hardmax.exit_layers": {
        "z0": _hm_tokens,
        "beta": 8.0,
        "A": _hm_matrix,
        "max_layers": 40,
    },
    "particles.analysis.hardmax.leader_gap": {"v": _hm_tokens, "A": _hm_matrix},
    "particles.analysis.hardmax.predicted_layers": {"distance": 1.0, "alpha": 1.0, "eps": 1e-6},
    "particles.analysis.clusters.consensus_time": {
        "t": lambda: np.array([0.0, 0.1, 0.2]),
        "xs": NAMES["xs"],
    },
    "particles.analysis.clusters.histograms_at": {
        "t": lambda: np.array([0.0, 0.1, 0.2]),
        "times": lambda: np.array([0.1]),
        "bins": 8,
    },
    "particles.analysis.clusters.inner_product_histogram": {"bins": 8},
    "particles.analysis.clusters.count_clusters_gram": {"g": lambda: _pts() @ _pts().T},
    "particles.analysis.clusters.pair_fraction_gram": {"g": lambda: _pts() @ _pts().T},
    "particles.analysis.equiangular.attention_terms": {"rho": 0.2},
    "particles.analysis.equiangular.weights": {"rho": 0.2},
    "particles.analysis.equiangular.rates": {"rho": 0.2, "r": 1.0},
    "particles.analysis.equiangular.rhs": {"gamma": 0.2},
    "particles.analysis.equiangular.configuration": {"n": 4, "d": 4, "rho": 0.2, "rng": 0},
    "particles.analysis.equiangular.euler_gamma": {"steps": 4},
    "particles.analysis.equiangular.layer_map": {"steps": 4},
    "particles.analysis.equiangular.gamma": {"t": lambda: np.array([0.0, 1.0])},
    "particles.analysis.equiangular.solve": {"t": lambda: np.array([0.0, 1.0])},
    "particles.analysis.equiangular.radius": {"t": lambda: np.array([0.0, 1.0])},
    "particles.analysis.equiangular.gamma_beta0": {"t": lambda: np.array([0.0, 1.0])},
    "particles.analysis.equiangular.gamma_curve": {
        "n": 8,
        "betas": lambda: [1.0, 2.0],
    },
    "particles.analysis.equiangular.euler_hitting_time": {"t_max": 100.0},
    "particles.analysis.circle.g": {"x": 0.3},
    "particles.analysis.circle.simulate_angles": {
        "t_end": 0.5,
        "save_at": lambda: np.array([0.0, 0.5]),
    },
    "particles.analysis.circle.staircase": {"t_end": 0.5},
    "particles.analysis.circle.equally_spaced": {},
    "particles.analysis.circle.tau_star": {"d": 2},
    "particles.analysis.circle.to_angles": {"x": lambda: _pts(d=2)},
    "particles.analysis.circle.kuramoto_velocity": {},
    "particles.analysis.modes.harmonic_modes": {"x": lambda: _pts(d=2), "modes": 3},
    "particles.analysis.modes.order_parameter": {},
    "particles.analysis.wendel.hemisphere_probability_mc": {"samples": 50, "rng": 0},
    "particles.analysis.repulsive.identify_shape": {"x": lambda: _pts(4, 3)},
    "particles.analysis.repulsive.inner_product_spectrum": {"x": lambda: _pts(4, 3)},
    "particles.analysis.repulsive.expected_spectrum": {"shape": "tetrahedron", "n": 4, "d": 3},
    "particles.analysis.repulsive.candidate_shapes": {"n": 4},
    "particles.analysis.long_context.almost_simplex": {"rho": 0.2, "rng": 0},
    "particles.analysis.long_context.beta_n": {"gamma": 1.0},
    "particles.analysis.long_context.critical_gamma": {"rho": 0.2},
    "particles.analysis.long_context.flow": {
        "t": lambda: np.array([0.0, 1.0]),
        "gamma": 1.0,
        "rho0": 0.2,
    },
    "particles.analysis.long_context.flow_limit": {
        "t": lambda: np.array([0.0, 1.0]),
        "gamma": 1.0,
        "rho0": 0.2,
    },
    "particles.analysis.long_context.one_layer_inner": {"gamma": 1.0, "rho": 0.2},
    "particles.analysis.long_context.one_layer_limit": {"gamma": 1.0, "rho": 0.2},
    "particles.field.norms.clock": {"t": 1.0},
    "particles.sweeps.grids.parse_numbers": {"text": "1,2,3"},
    # ensembles
    "particles.solvers.ensemble.ensemble_coords": {
        "X0": lambda: pt.solvers.ensemble.random_points_batch(4, 2, 2, 0),
        "betas": 1.0,
        "t_end": 0.2,
        "dt": 0.1,
    },
    "particles.solvers.ensemble.ensemble_gram": {
        "G0": lambda: pt.solvers.ensemble.random_gram(4, 2, 2, 0),
        "betas": 1.0,
        "t_end": 0.2,
        "dt": 0.1,
    },
    "particles.solvers.ensemble.ensemble_noisy": {
        "X0": lambda: pt.solvers.ensemble.random_points_batch(4, 2, 2, 0),
        "betas": 1.0,
        "kappas": 1.0,
        "t_end": 0.2,
        "dt": 0.1,
        "seeds": lambda: [0, 1],
        "modes": 2,
    },
    "particles.solvers.ensemble.noise_keys": {"seeds": lambda: [0, 1]},
    "particles.solvers.ensemble.noisy_method": {"method": "euler-maruyama"},
    "particles.solvers.ensemble.random_gram": {"n": 4, "d": 2, "size": 2, "rng": 0},
    "particles.solvers.ensemble.random_points_batch": {"n": 4, "d": 2, "size": 2, "rng": 0},
    "particles.solvers.ensemble.random_weights": {"ensemble": "goe", "d": 3, "size": 2, "rng": 0},
    # svm
    "particles.svm.AttentionData": {
        "X": lambda: _svm_data().X,
        "Y": lambda: _svm_data().Y,
        "z": lambda: _svm_data().z,
        "v": lambda: _svm_data().v,
    },
    "particles.svm.TrainConfig": {"iters": 3},
    "particles.svm.make_data": {"n": 2, "T": 3, "d": 3, "rng": 0},
    "particles.svm.make_data_batch": {"n": 2, "T": 3, "d": 3, "seeds": lambda: [0, 1]},
    "particles.svm.att_svm": {"maxiter": 20},
    "particles.svm.correlation": {"A": lambda: np.eye(3), "B": lambda: np.ones((3, 3))},
    "particles.svm.default_init": {"rng": 0},
    "particles.svm.init_rng": {},
    "particles.svm.forward": {"W": lambda: 0.1 * np.eye(3)},
    "particles.svm.logits": {"W": lambda: 0.1 * np.eye(3)},
    "particles.svm.softmax_probs": {"W": lambda: 0.1 * np.eye(3)},
    "particles.svm.loss_and_grad": {"W": lambda: 0.1 * np.eye(3)},
    "particles.svm.loss_and_grad_kq": {"K": lambda: 0.1 * np.eye(3), "Q": lambda: np.eye(3)},
    "particles.svm.numerical_rank": {"W": lambda: np.eye(3)},
    "particles.svm.regularization_path": {"radii": lambda: [1.0, 2.0], "maxiter": 20, "rng": 0},
    "particles.svm.svm_equivalence": {
        "W_gd": lambda: pt.svm.train(_svm_data(), pt.svm.TrainConfig(iters=200), rng=0).W
    },
    "particles.svm.train": {"config": lambda: pt.svm.TrainConfig(iters=3), "rng": 0},
    "particles.svm.train_random": {
        "n": 2,
        "T": 3,
        "d": 3,
        "seed": 0,
        "config": lambda: pt.svm.TrainConfig(iters=3),
    },
    # scansnap
    "particles.scansnap.SyntheticTask": {"num_common": 2, "num_distinct": 2, "context_len": 7},
    "particles.scansnap.TrainConfig": {"iters": 3},
    "particles.scansnap.SweepGrid": {
        "classes": (2,),
        "eta_z": (1.0,),
        "ratio": (1.0,),
        "seeds": (1,),
    },
    "particles.scansnap.train": {
        "config": lambda: pt.scansnap.TrainConfig(iters=3, batch=4),
        "rng": 0,
    },
    "particles.scansnap.make_task": {"num_common": 2, "num_distinct": 2, "context_len": 7},
    "particles.scansnap.default_record_every": {"iters": 100},
    "particles.scansnap.init_params": {"m": 6, "init": "random", "rng": 0},
    "particles.scansnap.position_entropy": {"weights": lambda: np.full((2, 4), 0.25)},
    "particles.scansnap.kendall_tau": {"a": lambda: [1.0, 2.0, 3.0], "b": lambda: [1.0, 3.0, 2.0]},
    "particles.scansnap.tokenize": {"text": "a b, c."},
    "particles.scansnap.counts_from_sequences": {
        "contexts": lambda: np.array([[0, 1, 1], [2, 2, 0]]),
        "vocab_size": 4,
    },
    "particles.scansnap.snap_time": {
        "c": lambda: np.linspace(0, 1, 5)[:, None] * np.ones((5, 3)),
        "steps": lambda: np.arange(5),
    },
    "particles.scansnap.integrate_reduced": {
        "eta_y": 1.0,
        "eta_z": 1.0,
        "ts": lambda: np.array([0.0, 0.5]),
    },
    "particles.scansnap.reduced_field": {"eta_y": 1.0, "eta_z": 1.0},
    "particles.transformer.cluster_count": {},
    "particles.analysis.phase.PhaseParams": {"n": 4, "d": 2, "betas": (1.0,), "seeds": 2},
    "particles.analysis.phase.phase_diagram": {
        "params": lambda: pt.analysis.phase.PhaseParams(n=4, d=2, betas=(1.0,), t_end=0.2, seeds=2),
    },
    "particles.analysis.phase.initial_conditions": {
        "p": lambda: pt.analysis.phase.PhaseParams(n=4, d=2, betas=(1.0,), seeds=2),
    },
    "particles.analysis.phase.phase_tasks": {
        "p": lambda: pt.analysis.phase.PhaseParams(n=4, d=2, betas=(1.0,), seeds=2),
    },
    "particles.analysis.phase.with_d": {
        "p": lambda: pt.analysis.phase.PhaseParams(n=4, d=2, betas=(1.0,), seeds=2),
        "d": 3,
    },
    "particles.analysis.transition.TransitionParams": {"n": 8, "seeds": 1},
    "particles.analysis.transition.transition_tasks": {
        "p": lambda: pt.analysis.transition.TransitionParams(n=8, seeds=1)
    },
    "particles.analysis.transition.sphere_perturbation": {"L": 4, "eps": 0.1, "rng": 0},
    "particles.sweeps.sweep.check_scheduler": {"scheduler": "local"},
    "particles.sweeps.sweep.check_workers": {"workers": 2},
    "particles.sweeps.sweep.fingerprint": {"obj": lambda: {"a": 1}},
    "particles.sweeps.sweep.task_path": {"store": "st", "key": "k"},
    "particles.field.velocity_rows": {"rows": lambda: [0, 3]},
    "particles.plotting.viewer.subsample": {"size": 10, "budget": 4},
    "particles.plotting.viewer.transformer_figure": {
        "hidden": lambda: np.stack([_pts(8, 6), _pts(8, 6, 1)]),
        "layers": lambda: np.array([0, 1]),
        "tokens": lambda: [f"w{i}" for i in range(8)],
    },
    "particles.plotting.viewer.phase_figure": {
        "t": lambda: np.array([0.0, 1.0, 2.0]),
        "betas": lambda: np.array([1.0, 2.0]),
        "P": lambda: np.array([[0.0, 0.5, 1.0], [0.2, 0.4, 0.9]]),
    },
    "particles.plotting.viewer.transition_figure": {
        "kappas": lambda: np.array([1.0, 2.0]),
        "betas": lambda: np.array([1.5]),
        "r_up": lambda: np.full((1, 2, 2), 0.5),
        "r_down": lambda: np.full((1, 2, 2), 0.7),
    },
    "particles.transformer.depth_stats": {
        "hidden": lambda: np.stack([_pts(8, 6), _pts(8, 6, 1)]),
        "bins": 8,
    },
}


def _fill_scansnap():
    """Valid calls of the scansnap functions that take the model's parameters and a batch."""

    def params():
        task, Y, Z = _ss_params()
        return {"task": task, "Y": Y, "Z": Z}

    def batch():
        task, Y, Z = _ss_params()
        ctx, q, tgt = task.sample_sequences(4, 0)
        counts, _, _ = task.sample(4, 0)
        return {"Y": Y, "Z": Z, "counts": counts, "queries": q, "targets": tgt, "contexts": ctx}

    return params, batch


_SS_PARAMS, _SS_BATCH = _fill_scansnap()
#: functions whose valid arguments are built together (they must agree in size)
JOINT: dict[str, object] = {
    "particles.scansnap.reduced_field": lambda: {**_SS_PARAMS(), "eta_y": 1.0, "eta_z": 1.0},
    "particles.scansnap.reduced_loss": _SS_PARAMS,
    "particles.scansnap.class_attention": lambda: {
        k: v for k, v in _SS_PARAMS().items() if k != "Y"
    },
    "particles.scansnap.distinct_order": lambda: {
        k: v for k, v in _SS_PARAMS().items() if k != "Y"
    },
    "particles.scansnap.common_mass": lambda: _c_task(),
    "particles.scansnap.distinct_entropy": lambda: _c_task(),
    "particles.scansnap.max_weight": lambda: _c_task(),
    "particles.scansnap.forward": lambda: {
        k: v for k, v in _SS_BATCH().items() if k in ("Y", "Z", "counts", "queries")
    },
    "particles.scansnap.loss_and_grad": lambda: {
        k: v for k, v in _SS_BATCH().items() if k in ("Y", "Z", "counts", "queries", "targets")
    },
    "particles.scansnap.attention_weights": lambda: {
        k: v for k, v in _SS_BATCH().items() if k in ("Z", "contexts", "queries")
    },
}


def _c_task():
    from particles import scansnap

    task, Y, Z = _ss_params()
    c = scansnap.class_attention(Z, task)
    return {"c": c, "task": task}


#: functions whose answer may be infinite for finite input (documented): hitting times of runs that
#: never hit, the time to a consensus never reached
MAY_BE_INFINITE = {
    "particles.Dynamics",  # beta = inf is the hardmax attention
    "particles.analysis.phase.PhaseParams",  # a beta = inf column: hardmax attention
    "particles.analysis.hardmax.leader_gap",  # inf for a single leader
    "particles.analysis.equiangular.hitting_time",
    "particles.analysis.equiangular.euler_hitting_time",
    "particles.analysis.equiangular.gamma_curve",
    "particles.analysis.long_context.beta_n",
    "particles.analysis.circle.tau_star",
    "particles.meanfield.critical_kappa",
    "particles.meanfield.critical_kappas",
    "particles.meanfield.fastest_mode",
    "particles.meanfield.first_order_kappa",
    "particles.scansnap.snap_time",
    "particles.svm.TrainConfig",
    "particles.scansnap.SweepGrid",
}


def _materialise(v):
    return v() if callable(v) and not isinstance(v, type) or v is pt.Dynamics else v


def valid_call(name: str, fn) -> dict | None:
    """The keyword arguments of the valid call of ``name`` (None: no valid call known)."""
    if name in JOINT:
        kw = dict(JOINT[name]())
    else:
        kw = {k: _materialise(v) for k, v in CALLS.get(name, {}).items()}
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return kw if name in CALLS or name in JOINT else None
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in kw:
            continue
        if p.default is p.empty:
            if p.name not in NAMES:
                return None
            kw[p.name] = _materialise(NAMES[p.name])
    return kw


# ------------------------------------------------------------------------------------------------
# hostile values


class _Opaque:
    def __repr__(self):
        return "<object>"


SCALARS: dict[str, object] = {
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    "1e308": 1e308,
    "-1e308": -1e308,
    "subnormal": 1e-320,
    "0": 0,
    "0.0": 0.0,
    "-1": -1,
    "-0.5": -0.5,
    "1e12": 10**12,
    "2**63": 2**63,
    "1.7": 1.7,
    "True": True,
    "False": False,
    "'hot'": "hot",
    "''": "",
    "None": None,
    "1+1j": 1 + 1j,
    "[]": [],
    "()": (),
    "{}": {},
    "object": _Opaque(),
    "np.nan32": np.float32("nan"),
    "Fraction": Fraction(1, 3),
}


def array_variants(valid) -> dict[str, object]:
    """Bad arrays derived from a valid one (same shape with bad entries, wrong shapes, dtypes)."""
    a = np.asarray(valid)
    if a.dtype.kind not in "fiu" or a.ndim == 0 or a.size == 0:
        return {}
    f = a.astype(np.float64)
    out = {
        "empty": np.zeros((0,) + a.shape[1:]),
        "empty1d": np.zeros(0),
        "scalar-array": np.float64(f.flat[0]),
        "extra-dim": f[None],
        "flat": f.ravel(),
        "zeros": np.zeros_like(f),
        "ragged": [[1.0, 2.0], [3.0]],
        "strings": np.full(a.shape, "a"),
        "objects": np.array([_Opaque()] * a.size, dtype=object).reshape(a.shape),
        "complex": f * (1 + 1j),
        "ints": np.round(f).astype(np.int64),
        "float32": f.astype(np.float32),
        "list": f.tolist(),
    }
    for label, value in (("nan", np.nan), ("inf", np.inf), ("1e308", 1e308), ("sub", 1e-320)):
        b = f.copy()
        b.flat[0] = value
        out[f"{label}-entry"] = b
    out["all-1e308"] = np.full_like(f, 1e308)
    out["all-subnormal"] = np.full_like(f, 1e-320)
    if a.ndim >= 2:
        out["wider"] = np.concatenate([f, f[..., :1]], axis=-1)
        out["narrower"] = f[..., :1]
        out["transposed"] = np.ascontiguousarray(np.swapaxes(f, -1, -2))
        out["one-row"] = f[:1]
        sub = f.copy()
        sub[0] = 1e-320  # a subnormal row
        out["subnormal-row"] = sub
    return out


# ------------------------------------------------------------------------------------------------
# the check


def non_finite(obj, depth: int = 0) -> str | None:
    """Where ``obj`` (an output) holds a NaN or an infinity, or None."""
    if depth > 4:
        return None
    if isinstance(obj, (float, np.floating, complex, np.complexfloating)):
        return None if np.isfinite(obj) else repr(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc" and not np.all(np.isfinite(obj)):
            return f"array with {int(np.sum(~np.isfinite(obj)))} non-finite entries"
        return None
    if isinstance(obj, (list, tuple)):
        for v in obj[:50]:
            if (w := non_finite(v, depth + 1)) is not None:
                return w
        return None
    if isinstance(obj, dict):
        for v in list(obj.values())[:50]:
            if (w := non_finite(v, depth + 1)) is not None:
                return w
        return None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if (w := non_finite(getattr(obj, f.name, None), depth + 1)) is not None:
                return f"{f.name}: {w}"
    return None


def _nan_only(obj) -> str | None:
    """Like :func:`non_finite` for NaN only (infinite answers allowed)."""
    if isinstance(obj, (float, np.floating)):
        return None if not np.isnan(obj) else "nan"
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "fc":
        return "array with NaN" if np.any(np.isnan(obj)) else None
    if isinstance(obj, (list, tuple)):
        for v in obj:
            if (w := _nan_only(v)) is not None:
                return w
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if (w := _nan_only(getattr(obj, f.name, None))) is not None:
                return f"{f.name}: {w}"
    return None


#: seconds a case may take before it counts as a hang: only with PARTICLES_HOSTILE_ALARM set (a
#: development aid; the tests themselves have no wall-clock limit)
_ALARM = int(os.environ.get("PARTICLES_HOSTILE_ALARM", "0"))


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang


def run_case(name: str, fn, kw: dict) -> str | None:
    """Why calling ``fn(**kw)`` is not clean (None when it is)."""
    old = None
    if _ALARM:
        old = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(_ALARM)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                out = fn(**kw)
    except ParticlesError as e:
        msg = str(e)
        if not msg.strip() or "\n" in msg.strip():
            return f"ParticlesError message is not one line: {msg!r}"
        return None
    except _Hang:
        return f"no answer in {_ALARM} s"
    except Exception as e:  # noqa: BLE001 - the point of the test
        return f"{type(e).__name__}: {str(e)[:160]}"
    finally:
        if _ALARM:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    bad = _nan_only(out) if name in MAY_BE_INFINITE else non_finite(out)
    if bad is not None:
        return f"non-finite output ({bad})"
    return None


# ------------------------------------------------------------------------------------------------
# the cases

FUNCTIONS = public_functions()


def _params(name, fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in sig.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in LEAVE
    ]


CASES = [
    (name, param)
    for name, fn in FUNCTIONS.items()
    if name not in SKIP
    for param in _params(name, fn)
]

#: (function, parameter) -> the gap it shows, left to the module's owner: marked xfail(strict) so
#: that the case flips to a failure (and this entry must go) once it is fixed
KNOWN: dict[tuple[str, str], str] = {}


def _case_id(case):
    return f"{case[0].removeprefix('particles.')}-{case[1]}"


def test_every_public_function_is_driven():
    """A public function needs a valid call (CALLS, JOINT or NAMES) or a reason in SKIP."""
    missing = [
        name for name, fn in FUNCTIONS.items() if name not in SKIP and valid_call(name, fn) is None
    ]
    assert not missing, f"no valid call for {missing}: add it to CALLS or SKIP"
    assert set(SKIP) <= set(FUNCTIONS), set(SKIP) - set(FUNCTIONS)
    assert {n for n in CALLS} <= set(FUNCTIONS), set(CALLS) - set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(n for n in FUNCTIONS if n not in SKIP))
def test_valid_calls_succeed(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fn = FUNCTIONS[name]
    with np.errstate(all="ignore"):
        out = fn(**valid_call(name, fn))  # no exception at all: the base of every case is valid
    bad = _nan_only(out) if name in MAY_BE_INFINITE else non_finite(out)
    assert bad is None, bad


def _xfail(cases):
    out = []
    for case in cases:
        reason = KNOWN.get(case)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(*case, marks=marks, id=_case_id(case)))
    return out


@pytest.mark.parametrize(("name", "param"), _xfail(CASES))
def test_hostile_arguments_are_refused_in_one_line(name, param, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fn = FUNCTIONS[name]
    base = valid_call(name, fn)
    assert base is not None
    values = dict(SCALARS)
    if param in base:
        values.update(array_variants(base[param]))
    failures = []
    for label, value in values.items():
        kw = valid_call(name, fn)  # fresh objects: a call may not see another's mutations
        kw[param] = value
        why = run_case(name, fn, kw)
        if why is not None:
            failures.append(f"{param}={label}: {why}")
    assert not failures, f"{name}:\n  " + "\n  ".join(failures)
