"""Tests of particles.scansnap (arXiv 2305.16380): data, gradients, SGD, reduced ODE,
measurements."""

import numpy as np
import pytest

from particles.errors import ParticlesError
from particles.scansnap import (
    SweepGrid,
    SyntheticTask,
    TextTask,
    TrainConfig,
    attention_weights,
    builtin_texts,
    class_attention,
    common_mass,
    counts_from_sequences,
    distinct_entropy,
    distinct_order,
    forward,
    integrate_reduced,
    kendall_tau,
    load_text,
    loss_and_grad,
    max_weight,
    position_entropy,
    probe_attention,
    probe_positions,
    reduced_field,
    reduced_loss,
    run_sweep,
    snap_time,
    tokenize,
    train,
    train_record,
)
from particles.storage.npz import load_npz, save_npz


@pytest.fixture
def rng():
    return np.random.default_rng(20230526)


SMALL = SyntheticTask(
    num_classes=4, classes_per_query=2, num_common=3, num_distinct=4, context_len=9
)


# -- data -----------------------------------------------------------------------------------
def test_layout_of_the_authors_fig4_task():
    t = SyntheticTask()
    assert t.vocab_size == 34  # 10 common + 2*10 distinct + 2 queries + 2 next tokens
    kinds = t.kinds
    assert [np.sum(kinds == k) for k in ("common", "distinct", "query", "next")] == [10, 20, 2, 2]
    assert np.allclose(t.probs.sum(axis=1), 1)
    # common tokens weight 1, distinct linspace(0.1, 1, 10), normalised over 15.5
    assert np.allclose(t.probs[0, :10], 1 / 15.5)
    assert np.allclose(t.probs[0, t.distinct_tokens(0)], np.linspace(0.1, 1, 10) / 15.5)
    assert np.all(t.probs[0, t.distinct_tokens(1)] == 0)  # distinct: one class only
    assert np.all(kinds[t.query_tokens] == "query") and np.all(kinds[t.next_tokens] == "next")


def test_shared_queries_and_sampling():
    t = SMALL
    assert t.num_queries == 2 and t.vocab_size == 3 + 16 + 2 + 4
    assert list(t.query_tokens) == [19, 19, 20, 20]
    counts, q, y = t.sample(500, 3)
    assert counts.shape == (500, t.vocab_size) and np.all(counts.sum(axis=1) == t.context_len)
    cls = y - t.next_tokens[0]
    assert np.array_equal(q, t.query_tokens[cls])
    # contexts only hold tokens of their class; seeded runs repeat exactly
    assert np.all(counts[t.probs[cls] == 0] == 0)
    c2, q2, y2 = t.sample(500, 3)
    assert np.array_equal(counts, c2) and np.array_equal(y, y2)
    # empirical frequencies match P(l|n) (5 sigma)
    k0 = cls == 0
    freq = counts[k0].sum(axis=0) / counts[k0].sum()
    sd = np.sqrt(t.probs[0] * (1 - t.probs[0]) / counts[k0].sum())
    assert np.all(np.abs(freq - t.probs[0]) <= 5 * sd + 1e-12)


def test_sequences_match_probabilities():
    t = SMALL
    ctx, q, y = t.sample_sequences(400, 1)
    assert ctx.shape == (400, t.context_len)
    cls = y - t.next_tokens[0]
    counts = counts_from_sequences(ctx, t.vocab_size)
    assert np.all(counts[t.probs[cls] == 0] == 0)


@pytest.mark.parametrize(
    "kw",
    [
        {"num_classes": 0},
        {"num_classes": -2},
        {"context_len": 0},
        {"num_classes": 3, "classes_per_query": 2},
        {"num_distinct": 0},
        {"num_classes": 2.5},
    ],
)
def test_bad_task_raises(kw):
    with pytest.raises(ParticlesError):
        SyntheticTask(**kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"eta_z": -1.0},
        {"ratio": -0.5},
        {"eta_z": float("nan")},
        {"momentum": 1.0},
        {"batch": 0},
        {"iters": -1},
        {"init": "ones"},
        {"record_every": 0},
    ],
)
def test_bad_config_raises(kw):
    with pytest.raises(ParticlesError):
        TrainConfig(**kw)


# -- model ----------------------------------------------------------------------------------
def _random_params(m, rng, scale=0.7):
    return rng.normal(0, scale, (m, m)), rng.normal(0, scale, (m, m))


def test_histogram_forward_equals_attention_over_positions(rng):
    t = SMALL
    Y, Z = _random_params(t.vocab_size, rng)
    ctx, q, _ = t.sample_sequences(7, rng)
    b = attention_weights(Z, ctx, q)  # [B, T], softmax over positions
    ft_pos = np.zeros((7, t.vocab_size))
    for i in range(7):
        np.add.at(ft_pos[i], ctx[i], b[i])
    ft, f, logits = forward(Y, Z, counts_from_sequences(ctx, t.vocab_size), q)
    assert np.allclose(ft, ft_pos, rtol=1e-12, atol=1e-14)
    assert np.allclose(np.linalg.norm(f, axis=1), 1)
    assert np.allclose(logits, f @ Y)


def test_gradients_match_finite_differences(rng):
    t = SMALL
    m = t.vocab_size
    Y, Z = _random_params(m, rng)
    counts, q, y = t.sample(6, rng)
    loss, gY, gZ = loss_and_grad(Y, Z, counts, q, y)
    h = 1e-6

    def L(Y_, Z_):
        return loss_and_grad(Y_, Z_, counts, q, y)[0]

    # every entry of the query rows of Z, and 150 random entries of Y and of the rest of Z
    zidx = [(r, c) for r in np.unique(q) for c in range(m)]
    zidx += [tuple(i) for i in rng.integers(m, size=(150, 2))]
    for A, g, pick, is_y in (
        (Y, gY, [tuple(i) for i in rng.integers(m, size=(150, 2))], True),
        (Z, gZ, zidx, False),
    ):
        for idx in pick:
            e = np.zeros_like(A)
            e[idx] = h
            num = (L(Y + e, Z) - L(Y - e, Z)) if is_y else (L(Y, Z + e) - L(Y, Z - e))
            assert g[idx] == pytest.approx(num / (2 * h), rel=1e-6, abs=1e-9)
    assert np.abs(gZ).max() > 1e-3  # the check is not vacuous
    # only the query rows of Z receive gradient
    other = np.setdiff1d(np.arange(m), q)
    assert np.all(gZ[other] == 0)


def test_zero_init_loss_is_log_m():
    t = SyntheticTask()
    counts, q, y = t.sample(16, 0)
    m = t.vocab_size
    loss, _, gZ = loss_and_grad(np.zeros((m, m)), np.zeros((m, m)), counts, q, y)
    assert loss == pytest.approx(np.log(m), rel=1e-12)
    assert np.all(gZ == 0)  # with Y = 0 the attention gets no signal yet


def test_bad_batches_raise():
    m = SMALL.vocab_size
    Y = Z = np.zeros((m, m))
    counts, q, y = SMALL.sample(3, 0)
    with pytest.raises(ParticlesError):
        loss_and_grad(Y, Z, counts[:, :-1], q, y)
    with pytest.raises(ParticlesError):
        loss_and_grad(Y, Z, np.zeros_like(counts), q, y)
    with pytest.raises(ParticlesError):
        loss_and_grad(Y, Z, counts, q, y + 100)


def test_sgd_momentum_and_separate_rates_match_a_manual_loop():
    t = SMALL
    cfg = TrainConfig(eta_z=0.7, ratio=3.0, momentum=0.9, batch=5, iters=4, init="zero")
    res = train(t, cfg, 11)
    rng = np.random.default_rng(11)
    m = t.vocab_size
    Y, Z = np.zeros((m, m)), np.zeros((m, m))
    vY, vZ = np.zeros_like(Y), np.zeros_like(Z)
    for it in range(4):
        counts, q, y = t.sample(5, rng)
        loss, gY, gZ = loss_and_grad(Y, Z, counts, q, y)
        assert res.loss[it] == pytest.approx(loss, rel=1e-13)
        vY, vZ = 0.9 * vY + gY, 0.9 * vZ + gZ
        Y, Z = Y - 2.1 * vY, Z - 0.7 * vZ  # eta_y = ratio * eta_z = 3 * 0.7
        assert np.allclose(res.Y[it + 1], Y, rtol=1e-12, atol=1e-14)
        assert np.allclose(res.Z[it + 1], Z, rtol=1e-12, atol=1e-14)
    assert np.allclose(res.c[-1], class_attention(Z, t))
    assert res.c.shape == (5, t.num_classes, m)


def test_class_attention():
    t = SMALL
    c = class_attention(np.zeros((t.vocab_size,) * 2), t)
    assert np.allclose(c, t.probs)  # uniform logits: c_n = P(.|n)
    rng = np.random.default_rng(0)
    c = class_attention(rng.normal(size=(3, t.vocab_size, t.vocab_size)), t)
    assert c.shape == (3, t.num_classes, t.vocab_size) and np.allclose(c.sum(-1), 1)
    assert np.all(c[:, t.probs == 0] == 0)


# -- reduced ODE ----------------------------------------------------------------------------
def test_reduced_field_is_minus_eta_times_gradient_of_reduced_loss(rng):
    t = SMALL
    m = t.vocab_size
    Y, Z = _random_params(m, rng)
    dY, dZ = reduced_field(Y, Z, t, eta_y=2.0, eta_z=0.5)
    h = 1e-6
    for A, dA, eta, is_y in ((Y, dY, 2.0, True), (Z, dZ, 0.5, False)):
        num = np.zeros_like(A)
        for idx in np.ndindex(*A.shape):
            e = np.zeros_like(A)
            e[idx] = h
            Jp = reduced_loss(Y + e, Z, t) if is_y else reduced_loss(Y, Z + e, t)
            Jm = reduced_loss(Y - e, Z, t) if is_y else reduced_loss(Y, Z - e, t)
            num[idx] = (Jp - Jm) / (2 * h)
        assert np.allclose(dA, -eta * num, rtol=1e-6, atol=1e-9)
    assert np.abs(dZ).max() > 1e-3


def test_single_class_gives_no_attention_signal():
    # ablation of the reduced flow (derived here): with K = 1 the projection removes the whole
    # decoder signal
    t = SyntheticTask(num_classes=1)
    sol = integrate_reduced(t, eta_y=10, eta_z=10, ts=np.linspace(0, 50, 6))
    assert sol.loss[-1] < 0.1 * sol.loss[0]
    assert np.abs(sol.Z).max() < 1e-10


def test_plain_sgd_with_small_rates_tracks_the_reduced_flow():
    t = SyntheticTask()
    cfg = TrainConfig(eta_z=0.1, ratio=1.0, momentum=0.0, iters=300, init="zero")
    res = train(t, cfg, 4, keep_weights=False)
    sol = integrate_reduced(t, eta_y=0.1, eta_z=0.1, ts=np.arange(301.0))
    assert np.abs(res.c - sol.c).max() < 0.01
    assert common_mass(sol.c[-1], t).mean() < common_mass(sol.c[0], t).mean() - 0.05


# -- measurements ---------------------------------------------------------------------------
def test_kendall_tau_matches_pair_counting(rng):
    a, b = rng.normal(size=12), rng.normal(size=12)
    conc = sum(
        np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i in range(12) for j in range(i + 1, 12)
    )
    assert kendall_tau(a, b) == pytest.approx(conc / 66, abs=1e-12)
    assert kendall_tau(a, a) == 1 and kendall_tau(a, -a) == -1
    assert kendall_tau(np.ones(5), a[:5]) == 0


def test_entropy_mass_and_order_on_known_inputs():
    t = SyntheticTask()
    m = t.vocab_size
    Z = np.zeros((m, m))
    c = class_attention(Z, t)
    assert np.allclose(common_mass(c, t), 10 / 15.5)
    assert distinct_order(Z, t) == 0  # ties: no order yet
    # logits increasing with P: perfect order; reversed: -1
    for k in range(2):
        Z[t.query_tokens[k], t.distinct_tokens(k)] = np.arange(10.0)
    assert distinct_order(Z, t) == 1 and distinct_order(-Z, t) == -1
    uniform = np.zeros((2, m))
    for k in range(2):
        uniform[k, t.distinct_tokens(k)] = 0.1
    assert distinct_entropy(uniform, t) == pytest.approx(np.log(10))
    assert np.allclose(max_weight(uniform, t), 0.1)


def test_snap_time():
    steps = np.arange(10)
    c = np.concatenate([np.linspace(0, 1, 5), np.ones(5)])[:, None]
    assert snap_time(c, steps) == 4  # reaches its final value at step 4, then frozen
    assert snap_time(np.ones((10, 3)), steps) == 0
    with pytest.raises(ParticlesError):
        snap_time(c, steps[:-1])


# -- the claims of arXiv 2305.16380 (abstract, Figs. 4 and 6) -------------------------------------
def test_fig4_setting_scans_then_snaps():
    """Fig. 4 setting, scan then snap: loss from ln M, common mass falls then freezes, no winner,
    order by P."""
    t = SyntheticTask()
    res = train(t, TrainConfig(eta_z=1, ratio=1, iters=300, init="zero"), 2, keep_weights=False)
    assert res.loss[0] == pytest.approx(np.log(34))
    assert res.loss[10] < 0.05 and res.loss[-20:].mean() < 1e-3
    cm = common_mass(res.c, t)
    assert np.all(cm[-1] < cm[0] - 0.15)  # discriminative bias
    assert np.abs(cm[-1] - cm[100]).max() < 0.01  # frozen after ~100 steps
    assert max_weight(res.c[-1], t).max() < 0.5  # no winner-takes-all
    assert distinct_order(res.Z[-1], t) >= 0.9  # frequency bias
    assert snap_time(res.c, res.steps) < 100


def test_learning_rates_control_freeze_and_sparsity():
    """The abstract's learning-rate control: larger η_Y/η_Z moves attention less; larger η_Z gives
    sparser attention."""
    t = SyntheticTask()

    def final(eta_z, ratio):
        cs = [
            train(t, TrainConfig(eta_z=eta_z, ratio=ratio, iters=100), s, keep_weights=False).c[-1]
            for s in (1,)
        ]
        return common_mass(np.array(cs), t).mean(), distinct_entropy(np.array(cs), t).mean()

    cm_r1, _ = final(1.0, 1.0)
    cm_r10, _ = final(1.0, 10.0)
    assert cm_r10 > cm_r1 + 0.05
    _, ent_small = final(0.5, 1.0)
    _, ent_large = final(3.0, 1.0)
    assert ent_large < ent_small - 0.1


def test_reduced_flow_tracks_momentum_sgd_qualitatively():
    """Reduced flow (derived here) vs momentum SGD: same distinct-token order, same fall and freeze
    of the common mass."""
    t = SyntheticTask()
    res = train(t, TrainConfig(eta_z=1, ratio=1, iters=300), 2, keep_weights=False)
    sol = integrate_reduced(t, eta_y=10.0, eta_z=10.0, ts=np.arange(301.0))
    for k in range(2):
        d = t.distinct_tokens(k)
        assert np.array_equal(np.argsort(res.c[-1, k, d]), np.argsort(sol.c[-1, k, d]))
    cm_s, cm_o = common_mass(res.c, t).mean(-1), common_mass(sol.c, t).mean(-1)
    for cm in (cm_s, cm_o):
        assert cm[-1] < cm[0] - 0.15
        assert abs(cm[-1] - cm[150]) < 0.1 * (cm[0] - cm[-1])  # frozen in the second half
    assert abs(cm_s[-1] - cm_o[-1]) < 0.1


# -- text mode --------------------------------------------------------------------------------
def test_tokenize_and_builtin_texts():
    assert tokenize('"It is," she said. Don\'t!') == [
        '"',
        "it",
        "is",
        ",",
        '"',
        "she",
        "said",
        ".",
        "don't",
        "!",
    ]
    assert {"austen", "melville"} <= set(builtin_texts())
    txt = load_text("austen")
    assert txt.startswith("It is a truth universally acknowledged")
    with pytest.raises(ParticlesError):
        load_text("no_such_passage_or_file.txt")


def test_text_task_samples():
    task = TextTask(text=load_text("melville"), vocab_size=50, context_len=6)
    assert task.vocab_size == 50 and task.vocab[0] == "<unk>"
    ctx, q, y = task.sequences_at(np.array([6, 10]))
    assert np.array_equal(ctx[1], task.ids[4:10]) and q[1] == task.ids[10] and y[1] == task.ids[11]
    counts, q, y = task.sample(32, 0)
    assert counts.shape == (32, 50) and np.all(counts.sum(1) == 6)
    with pytest.raises(ParticlesError):
        TextTask(text="too short", context_len=5)
    with pytest.raises(ParticlesError):
        TextTask(text=load_text("melville"), context_len=0)


def test_text_training_sharpens_attention():
    task = TextTask(text=load_text("austen"), vocab_size=60, context_len=8)
    res = train(task, TrainConfig(eta_z=5, ratio=1, iters=150, record_every=50), 0)
    assert res.c is None and res.Z.shape == (4, 60, 60)
    att = probe_attention(task, res.Z, probe_positions(task, 10))
    ent = position_entropy(att)
    assert ent[0] == pytest.approx(np.log(8))  # zero init: uniform over positions
    assert ent[-1] < ent[0] - 0.1
    assert res.loss[-10:].mean() < 0.7 * res.loss[0]


# -- records and sweeps -----------------------------------------------------------------------
def test_train_record_roundtrip(tmp_path):
    arrays, meta = train_record(SMALL, TrainConfig(iters=5), 3)
    p = save_npz(tmp_path / "r.npz", arrays, meta)
    a, m = load_npz(p, "scansnap_train")
    assert a["c"].shape == (6, 4, SMALL.vocab_size) and a["loss"].shape == (5,)
    assert list(a["kinds"][:3]) == ["common"] * 3 and np.allclose(a["probs"], SMALL.probs)
    assert m["seed"] == 3 and m["task"]["num_classes"] == 4


def test_sweep_is_resumable(tmp_path):
    grid = SweepGrid(
        classes=(2,),
        eta_z=(0.5, 1.0),
        ratio=(2.0,),
        seeds=(1,),
        classes_per_query=1,
        config=TrainConfig(iters=5),
    )
    r1 = run_sweep(grid, tmp_path, progress=False)
    assert r1["n_run"] == 2 and r1["entropy"].shape == (1, 2, 1, 1)
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == 2
    r2 = run_sweep(grid, tmp_path, progress=False)
    assert r2["n_run"] == 0 and r2["n_skipped"] == 2
    assert np.array_equal(r1["entropy"], r2["entropy"])
    files[0].write_bytes(b"garbage")  # an unreadable file is trained again
    r3 = run_sweep(grid, tmp_path, progress=False)
    assert r3["n_run"] == 1 and np.array_equal(r1["snap_time"], r3["snap_time"])
    other = SweepGrid(
        classes=(2,),
        eta_z=(0.5,),
        ratio=(2.0,),
        seeds=(1,),
        classes_per_query=1,
        config=TrainConfig(iters=7),
    )
    with pytest.raises(ParticlesError, match="other settings"):
        run_sweep(other, tmp_path, progress=False)


def test_bad_sweep_grid():
    with pytest.raises(ParticlesError):
        SweepGrid(classes=(0,))
    with pytest.raises(ParticlesError):
        SweepGrid(eta_z=(-1.0,))
    with pytest.raises(ParticlesError):
        SweepGrid(ratio=())


def test_train_run_and_sweep_options_take_library_defaults(tmp_path):
    from particles.scansnap import (
        SweepGrid,
        SyntheticTask,
        TextTask,
        entropy_report,
        make_task,
        run_sweep,
        save_summary,
        train_run,
    )
    from particles.storage.npz import load_npz

    assert make_task(num_classes=None) == SyntheticTask()
    assert make_task("melville", context_len=5).context_len == 5
    assert isinstance(make_task("melville"), TextTask)
    with pytest.raises(ParticlesError, match="num_classes"):
        make_task("melville", num_classes=3)
    with pytest.raises(ParticlesError, match="vocab_size"):
        make_task(vocab_size=30)
    arrays, meta = train_run(
        2, text="melville", task_options={"context_len": 5}, config_options={"iters": 10}
    )
    assert meta["train"]["record_every"] == 1 and meta["text"] == "melville"
    arrays, meta = train_run(2, config_options={"iters": 20, "batch": 8})
    assert meta["train"]["record_every"] == 1 and arrays["c"].shape[0] == 21
    grid = SweepGrid.from_options(
        classes=[2], eta_z=[1.0], ratio=[1.0], seeds=[1], iters=3, init=None
    )
    assert grid.config == TrainConfig(init="random", iters=3) and grid.context_len == 127
    with pytest.raises(ParticlesError, match="not an option"):
        SweepGrid.from_options(bogus=1)
    res = run_sweep(grid, tmp_path / "runs", progress=False)
    a, m = load_npz(save_summary(res, grid, tmp_path / "runs"), "scansnap_sweep")
    assert a["entropy"].shape == (1, 1, 1, 1) and "n_run" not in a and m["seeds"] == [1]
    assert entropy_report(res, grid).startswith("K=2 eta_z=1: entropy vs ratio [1.0]: ")
