"""Sinkhorn attention (kind "SK") through the toolchain: every integrator of simulate, the batched
ensembles (Gram, coordinates, noisy), noise, the normalisation schemes, npz and zarr, phase
diagrams and the CLI."""

import numpy as np
import pytest
from click.testing import CliRunner

import particles as pt
from particles.solvers import ensemble, registry

X0 = pt.random_points(12, 3, rng=0)


@pytest.mark.parametrize("method", [m for m in pt.METHODS if not registry.get(m).stochastic])
def test_every_deterministic_integrator(method):
    dyn = pt.Dynamics(beta=2.0, kind="SK")
    kw = (
        dict(dt=0.05)
        if registry.get(method).tableau is not None
        or method
        in (
            "lie-euler",
            "geometric",
        )
        else dict(rtol=1e-6, atol=1e-8)
    )
    traj = pt.simulate(X0, dyn, t_end=0.5, method=method, saves=3, **kw)
    assert np.allclose(np.linalg.norm(traj.final, axis=1), 1.0, atol=1e-9)
    ref = pt.simulate(X0, dyn, t_end=0.5, method="rk4", dt=0.01, saves=3)
    assert np.max(np.abs(traj.final - ref.final)) < 2e-2


@pytest.mark.parametrize("method", [m for m in pt.METHODS if registry.get(m).stochastic])
def test_noise_every_stochastic_integrator(method):
    dyn = pt.Dynamics(beta=2.0, kind="SK", kappa=20.0)
    a = pt.simulate(X0, dyn, t_end=0.2, method=method, dt=0.02, rng=3)
    b = pt.simulate(X0, dyn, t_end=0.2, method=method, dt=0.02, rng=3)
    np.testing.assert_array_equal(a.final, b.final)  # a seed fixes the path
    assert np.allclose(np.linalg.norm(a.final, axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize(
    "norm, extra",
    [("post", {}), ("pre", {}), ("peri", {}), ("ngpt", {"alpha": 0.5}), ("mix", {"t_switch": 0.1}),
     ("lns", {})],
)  # fmt: skip
def test_every_normalisation_scheme(norm, extra):
    dyn = pt.Dynamics(beta=2.0, kind="SK", norm=norm, **extra)
    traj = pt.simulate(X0, dyn, t_end=0.2, method="rk4", dt=0.05)
    assert np.all(np.isfinite(traj.final))
    # the schemes read the attention output on normalised tokens: SK's rows are convex combinations
    th = X0
    a = pt.field.drift(th, dyn.replace(norm="pre"), t=0.0)
    assert np.all(np.linalg.norm(a, axis=1) <= 1.0 + 1e-12)


def test_ensembles_match_simulate():
    """The ensembles' Sinkhorn kernel (tolerance 1e-10) against simulate (tolerance 1e-12)."""
    X = np.stack([pt.random_points(10, 3, rng=s) for s in range(3)])
    betas = np.array([0.5, 2.0, 6.0])
    res = ensemble.ensemble_coords(X, betas, 1.0, dt=0.1, method="rk4", kind="SK",
                                   count_clusters=False, early_stop=False)  # fmt: skip
    assert res.meta["kind"] == "SK"
    for s in range(3):
        dyn = pt.Dynamics(beta=betas[s], kind="SK", sinkhorn_tol=1e-12)
        ref = pt.simulate(X[s], dyn, t_end=1.0, method="rk4", dt=0.1).final
        # marginals within 1e-10 leave the matrix within 1e-10 / (spectral gap): ~1e-8 here
        np.testing.assert_allclose(res.final[s], ref, atol=1e-7)
    G = np.einsum("sid,sjd->sij", X, X)
    rg = ensemble.ensemble_gram(G, betas, 1.0, dt=0.1, method="rk4", kind="SK",
                                count_clusters=False, early_stop=False)  # fmt: skip
    fin = np.einsum("sid,sjd->sij", res.final, res.final)
    np.testing.assert_allclose(rg.final, fin, atol=1e-8)


def test_noisy_ensemble_runs_sk():
    X = np.stack([pt.random_points(8, 2, rng=s) for s in range(2)])
    res = ensemble.ensemble_noisy(X, [1.0, 3.0], [10.0, 10.0], 0.5, dt=0.05, kind="SK",
                                  seeds=[0, 1])  # fmt: skip
    assert res.meta["kind"] == "SK"


def test_ensemble_non_convergence_is_a_clear_error(monkeypatch):
    import particles.solvers.kernels as k

    # a general B at huge beta: the alternating iteration cannot reach 1e-10 in 5000 iterations
    X = np.stack([pt.random_points(12, 3, rng=1)])
    B = np.random.default_rng(0).standard_normal((1, 3, 3)) * 3
    with pytest.raises(pt.ParticlesError, match="Sinkhorn"):
        ensemble.ensemble_coords(X, [400.0], 0.1, B=B, dt=0.1, method="euler", kind="SK",
                                 count_clusters=False, early_stop=False)  # fmt: skip
    assert k.SK_MAX_ITER == 5000


@pytest.mark.parametrize("suffix", [".npz", ".zarr"])
def test_storage_round_trip(tmp_path, suffix):
    dyn = pt.Dynamics(beta=2.0, kind="SK", sinkhorn_tol=1e-8)
    path = tmp_path / f"run{suffix}"
    traj = pt.simulate(X0, dyn, t_end=0.2, method="rk4", dt=0.05, checkpoint=str(path))
    back = pt.Trajectory.load(str(path))
    assert back.dynamics == dyn
    np.testing.assert_array_equal(np.asarray(back.x[-1]), traj.final)


def test_phase_diagram_sk():
    from particles.analysis import phase

    p = phase.PhaseParams(n=8, d=3, betas=(0.5, 4.0), seeds=2, t_end=1.0, dt=0.1, kind="SK")
    (res,) = phase.phase_diagrams(p, progress=False)
    assert res.P.shape == (2, 11) and np.all((res.P >= 0) & (res.P <= 1))


CLI = [
    ["simulate", "--n", "10", "--d", "3", "--beta", "2", "--kind", "SK", "--t-end", "0.2",
     "--method", "rk4", "--dt", "0.05"],
    ["simulate", "--n", "10", "--d", "3", "--beta", "2", "--kind", "sk", "--t-end", "0.2",
     "--kappa", "10", "--dt", "0.05"],
]  # fmt: skip


@pytest.mark.parametrize("args", CLI)
def test_cli(args, tmp_path):
    from particles.cli.main import main

    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o.npz")])
    assert r.exit_code == 0, r.output
    assert pt.Trajectory.load(str(tmp_path / "o.npz")).dynamics.kind == "SK"


CLI_REFUSED = [
    (["simulate", "--kind", "SK", "--sinkhorn-tol", "0.5", "--t-end", "0.1"], "sinkhorn_tol"),
    (["simulate", "--kind", "SK", "--causal", "--t-end", "0.1"], "cannot be causal"),
]  # fmt: skip


@pytest.mark.parametrize("args, match", CLI_REFUSED)
def test_cli_refusals(args, match, tmp_path):
    from particles.cli.main import main

    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o.npz")])
    assert r.exit_code != 0 and match in r.output, r.output
    assert "Traceback" not in r.output


def test_cli_phase(tmp_path):
    from particles.cli.main import main

    out = tmp_path / "p.png"
    args = ["phase", "--n", "6", "--d", "2", "--beta", "1,3", "--t-end", "1", "--seeds", "2",
            "--kind", "SK", "--quiet", "--out", str(out)]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert out.exists()
