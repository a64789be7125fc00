"""The field's tiles (particles.field.tiles): one implementation, a fixed order of sums on request.

Inside ``field.fixed_order()`` (the noisy runs of simulate) the exact field is bitwise the same on
any number of threads (config.THREADS, numba's, OpenBLAS's), also at large n where OpenBLAS's own
split of a tile used to change the bits (RESULTS §6a item 2), and equal to the one-thread field.
"""

import numba
import numpy as np
import pytest

import particles as pt
from particles import config
from particles.field import fixed_order
from particles.field import tiles as field_tiles


def _threads(monkeypatch, k: int):
    """Every thread count the evaluation could depend on set to k (Python tile threads, numba,
    OpenBLAS); returns the BLAS context to enter."""
    monkeypatch.setattr(config, "THREADS", k)
    numba.set_num_threads(min(k, numba.config.NUMBA_NUM_THREADS))
    return config.blas_threads(k)


@pytest.fixture
def restore_numba():
    yield
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@pytest.mark.parametrize(
    "n, d, dyn",
    [  # before fixed_order pinned OpenBLAS to one thread, both differed in the last bits
        (1500, 8, pt.Dynamics(beta=2.0, kind="USA", kappa=3.0)),  # Gram path
        (2500, 4, pt.Dynamics(beta=1.0, kappa=5.0, Q=np.eye(4), K=2 * np.eye(4))),  # online path
    ],
    ids=["gram", "online"],
)
def test_noisy_run_is_the_same_on_any_number_of_threads(monkeypatch, restore_numba, n, d, dyn):
    x0 = pt.random_points(n, d, rng=4)
    runs = []
    for k in (1, 2, 1):
        with _threads(monkeypatch, k):
            tr = pt.simulate(x0, dyn, 0.1, method="euler-maruyama", dt=0.05, rng=3, save_at=[0.1])
        runs.append(tr.final)
    assert not np.array_equal(runs[0], x0)
    np.testing.assert_array_equal(runs[1], runs[0])
    np.testing.assert_array_equal(runs[2], runs[0])


@pytest.mark.parametrize("name", ["identity", "identity-usa", "causal", "general"])
def test_fixed_order_is_the_one_thread_field(monkeypatch, restore_numba, name):
    """Fixed order on 2 threads (the ordered Gram runner) = the one-thread field, BLAS on 1 thread."""
    dyn = {
        "identity": pt.Dynamics(beta=1.0),
        "identity-usa": pt.Dynamics(beta=2.0, kind="USA"),
        "causal": pt.Dynamics(beta=1.0, causal=True),
        "general": pt.Dynamics(beta=1.0, Q=np.eye(4)[:3], K=np.eye(4)[1:]),
    }[name]
    monkeypatch.setattr(config, "TILE_GRAM", 64)
    monkeypatch.setattr(config, "TILE_ROWS", 48)
    monkeypatch.setattr(config, "THREADED_MIN_WORK", 0)
    x = pt.random_points(333, 4, rng=1)
    with _threads(monkeypatch, 1), config.blas_threads(1):
        ref = pt.velocity(x, dyn)
    with _threads(monkeypatch, 2), fixed_order():
        got = pt.velocity(x, dyn)
    np.testing.assert_array_equal(got, ref)
    with _threads(monkeypatch, 2):  # free: other tiles or other sums, same field to rounding
        free = pt.velocity(x, dyn)
    np.testing.assert_allclose(free, ref, rtol=0, atol=1e-14)


@pytest.mark.parametrize("causal", [False, True])
def test_one_thread_task_order_adds_each_row_block_in_its_order(causal):
    """Running GramTasks in its order adds into each row block in gram_row_order: the order the
    row blocks (field_rows) and the ordered runner repeat."""
    nb = 5
    seen = {r: [] for r in range(nb)}
    for i, j in field_tiles.GramTasks(nb, causal):
        seen[i].append((i, j))
        if i != j and not causal:
            seen[j].append((i, j))
    for r in range(nb):
        assert seen[r] == field_tiles.gram_row_order(r, nb, causal)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("nb", [1, 2, 5, 8])
def test_gram_tasks_are_generated_in_the_orders_a_list_would_give(nb, causal):
    """The tiles are generated as they are taken (a list of nb^2 / 2 tuples would need GiBs at
    n ~ 1e6): one-thread order I then J, and the wavefront order, I + J then I."""
    full = [(i, j) for i in range(nb) for j in range(nb) if (j <= i if causal else j >= i)]
    tasks = field_tiles.GramTasks(nb, causal)
    assert list(tasks) == full and len(tasks) == len(full)
    wave = field_tiles.GramTasks(nb, causal, wavefront=True)
    assert list(wave) == sorted(full, key=lambda t: (t[0] + t[1], t[0])) and len(wave) == len(full)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_ordered_gram_sums_are_the_one_thread_sums_whatever_order_the_tiles_run_in(causal, threads):
    """Tiles run in a shuffled order (so that most products arrive before their turn): each row
    block still adds them by increasing partner, as one thread in list order does."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((300, 5))
    v = rng.standard_normal((300, 4))
    c = 0.5 * 1.5 * np.einsum("ij,ij->i", q, q)
    g, _ = field_tiles.gram_setup(q, v, 1.5, c, causal, 40)
    ref = field_tiles.gram_run(g, 4, 1)
    tasks = list(field_tiles.GramTasks(g.blocks, causal))
    shuffled = [tasks[i] for i in rng.permutation(len(tasks))]
    got = field_tiles.gram_sums(g, 4, shuffled, threads)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(field_tiles.gram_sums(g, 4, tasks[::-1], threads), ref)
