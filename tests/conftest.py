import os
import signal

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def default_sigint_handler():
    """Python's own SIGINT handler in every test: an earlier test's library (a Dask cluster, a
    progress bar) may leave another handler installed, and the interrupt tests inject Ctrl-C."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


#: reproducibility and regression tests (whole files, or file::test for every parametrisation):
#: marked ``repro``; .ci/run runs them a second time under another OpenBLAS kernel
#: (python -m pytest -m "repro and not slow")
REPRO = {
    "test_regression.py",
    "test_noisy_regression.py",
    "test_distributed.py",
    "test_field_tiles.py",
    "test_factored_heads.py",
    "test_online_tiles.py",
    "test_fixed_costs.py",
    "test_hardmax_toolchain.py::test_row_blocks_are_the_local_hardmax_field_bit_for_bit",
    "test_hardmax_toolchain.py::test_ensemble_hardmax_members_are_simulate_bit_for_bit",
    "test_interrupts.py",
    "test_cli_core.py::test_simulate_writes_reproducible_trajectory",
    "test_core.py::test_interrupt_then_resume_gives_the_same_result",
    "test_expansion.py::test_auto_small_n_is_exact_bits",
    "test_field_stable.py::test_the_rows_that_were_right_keep_their_bits",
    "test_expansion.py::test_expansion_bits_do_not_depend_on_the_thread_count",
    "test_expansion.py::test_expansion_is_deterministic",
    "test_fields.py::test_threads_agree",
    "test_meanfield.py::test_circle_particles_reproducible_and_threads_independent",
    "test_noise.py::test_same_seed_same_path_on_any_number_of_threads",
    "test_noise.py::test_noisy_ensemble_is_reproducible_and_independent_of_threads_and_neighbours",
    "test_noise.py::test_interrupted_noisy_run_resumes_on_the_same_path",
    "test_norms.py::test_post_drift_is_velocity_bit_for_bit",
    "test_store.py::test_a_noisy_run_resumes_from_a_store_on_the_same_path",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        if name in REPRO or f"{name}::{getattr(item, 'originalname', item.name)}" in REPRO:
            item.add_marker(pytest.mark.repro)
