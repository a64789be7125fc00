"""The one solver registry: a method registered once runs through simulate, the ensembles and the
command line; every consumer reads its choices from the registry."""

from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

import particles as pt
from particles.cli.main import main
from particles.errors import ParticlesError
from particles.solvers import ensemble, registry
from particles.storage.npz import load_npz

HEUN = registry.Method(
    name="heun",
    order=2,
    description="Heun's method (explicit trapezoid), a toy method for the tests",
    tableau=registry.Tableau(a=((), (Fraction(1),)), b=(Fraction(1, 2), Fraction(1, 2))),
)


@pytest.fixture
def heun():
    registry.register(HEUN)
    yield HEUN
    registry.unregister("heun")


def _heun_by_hand(x, h, f, steps):
    for _ in range(steps):
        k1 = f(x)
        k2 = f(x + h * k1)
        y = x + (h / 2) * (k1 + k2)
        x = y / np.linalg.norm(y, axis=1, keepdims=True)
    return x


def test_toy_method_runs_through_simulate(heun):
    assert "heun" in pt.METHODS and "heun" in registry.names(fixed=True)
    x0 = pt.random_points(7, 3, rng=0)
    dyn = pt.Dynamics(beta=2.0)
    tr = pt.simulate(x0, dyn, 1.0, method="Heun", dt=0.1, save_at=[1.0])
    assert tr.method == "heun" and tr.stats["nfev"] == 20
    ref = _heun_by_hand(x0, 0.1, lambda y: pt.velocity(y, dyn), 10)
    np.testing.assert_allclose(tr.final, ref, atol=1e-13)


def test_toy_method_has_its_order(heun):
    x0 = pt.random_points(6, 3, rng=1)
    dyn = pt.Dynamics(beta=1.0)
    exact = pt.simulate(x0, dyn, 1.0, method="DOP853", rtol=1e-13, atol=1e-14).final
    errs = [
        np.max(np.abs(pt.simulate(x0, dyn, 1.0, method="heun", dt=h, save_at=[1.0]).final - exact))
        for h in (0.1, 0.05, 0.025)
    ]
    slopes = np.diff(np.log(errs)) / np.diff(np.log([0.1, 0.05, 0.025]))
    assert np.all(np.abs(slopes - 2) < 0.3), slopes


def test_toy_method_runs_through_the_ensembles(heun):
    x0 = pt.random_points(8, 4, rng=2)
    dyn = pt.Dynamics(beta=1.5)
    tr = pt.simulate(x0, dyn, 1.0, method="heun", dt=0.1, save_at=[1.0])
    r = ensemble.ensemble_coords(x0[None], 1.5, 1.0, dt=0.1, method="heun")
    np.testing.assert_allclose(r.final[0], tr.final, atol=1e-12)
    rg = ensemble.ensemble_gram((x0 @ x0.T)[None], 1.5, 1.0, dt=0.1, method="heun")
    np.testing.assert_allclose(rg.final[0], tr.final @ tr.final.T, atol=1e-12)
    assert r.meta["method"] == "heun"


def test_toy_method_runs_through_the_cli(heun, tmp_path):
    out = tmp_path / "h.npz"
    args = ["simulate", "--n", "6", "--d", "3", "--t-end", "1", "--method", "heun"]
    res = CliRunner().invoke(main, [*args, "--dt", "0.1", "--seed", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert pt.Trajectory.load(out).method == "heun"
    res = CliRunner().invoke(main, ["simulate", "--help"])
    assert "heun" in res.output
    ph = tmp_path / "p.npz"
    res = CliRunner().invoke(
        main,
        ["phase", "--n", "4", "--d", "3", "--beta", "0,1", "--t-end", "1", "--seeds", "4"]
        + ["--method", "heun", "--data", str(ph), "--out", str(tmp_path / "p.png")],
    )
    assert res.exit_code == 0, res.output
    assert load_npz(ph)[1]["params"][0]["method"] == "heun"


def test_unregistered_and_unbatchable_methods_are_clear_errors():
    x0 = pt.random_points(4, 3, rng=0)
    with pytest.raises(ParticlesError, match="unknown method 'heun'"):
        pt.simulate(x0, pt.Dynamics(), 1.0, method="heun")
    with pytest.raises(ParticlesError, match="no Runge–Kutta tableau"):
        ensemble.ensemble_coords(x0[None], 1.0, 1.0, method="geometric")
    with pytest.raises(ParticlesError, match="already registered"):
        registry.register(registry.get("rk4"))
    with pytest.raises(ParticlesError, match="sum to 1"):
        registry.Tableau(a=((),), b=(Fraction(1, 2),))
    with pytest.raises(ParticlesError, match="exactly one"):
        registry.Method(name="x", order=1, description="")


def test_every_consumer_reads_the_registry():
    """No consumer keeps its own list: the CLI's choices and the ensembles' are the registry's."""
    from particles.cli._common import MethodChoice

    assert tuple(MethodChoice().choices) == registry.names()
    det = MethodChoice(batched=True, stochastic=False)
    assert tuple(det.choices) == ("euler", "euler-tangent", "rk4")
    assert tuple(ensemble.METHODS) == registry.names(batched=True, stochastic=False)
    noisy = MethodChoice(batched=True, stochastic=True)
    assert tuple(noisy.choices) == ("euler-maruyama", "lie-euler-maruyama", "strang")
    assert tuple(ensemble.NOISY_METHODS) == registry.names(batched=True, stochastic=True)
    for name in registry.names():
        m = registry.get(name)
        assert m.order >= 1 and m.description
