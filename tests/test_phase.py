"""Phase diagrams: pooling, resumability, the approach to Gamma_{inf,delta} in high d, plots and CLI."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from particles.analysis import equiangular as eq
from particles.analysis import phase as P
from particles.cli.main import main as cli
from particles.errors import ParticlesError
from particles.solvers import ensemble as E


def small(**kw):
    base = dict(n=6, d=3, betas=(0.0, 2.0, 6.0), t_end=3.0, seeds=8)
    base.update(kw)
    return P.PhaseParams(**base)


def test_pooled_probability_is_the_mean_pair_fraction():
    p = small()
    dg = P.phase_diagram(p, progress=False)
    X, _, _ = P.initial_conditions(p)
    for i, b in enumerate(p.betas):
        r = E.ensemble_coords(X, b, p.t_end, dt=p.dt, delta=p.delta)
        np.testing.assert_allclose(dg.P[i], r.pair_fraction.mean(axis=0), atol=1e-15)
        np.testing.assert_array_equal(dg.final_clusters[i], r.n_clusters[:, -1])
    assert dg.P.shape == (3, 31) and np.all((dg.P >= 0) & (dg.P <= 1))
    assert np.all(dg.P[:, 0] == 0)  # random points are not clustered at t = 0


def test_seeds_do_not_depend_on_chunking_or_beta():
    a = P.phase_diagram(small(chunk=3), progress=False)
    b = P.phase_diagram(small(chunk=100), progress=False)
    np.testing.assert_array_equal(a.P, b.P)
    c = P.phase_diagram(small(betas=(6.0,)), progress=False)
    np.testing.assert_array_equal(c.P[0], a.P[2])


def test_resumable_store(tmp_path):
    p = small()
    P.phase_diagram(p, store=tmp_path, progress=False)
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == 3
    mtimes = {f: f.stat().st_mtime_ns for f in files}
    files[1].unlink()
    dg = P.phase_diagram(p, store=tmp_path, progress=False)
    assert sorted(tmp_path.glob("*.npz")) == files
    assert files[0].stat().st_mtime_ns == mtimes[files[0]]  # not recomputed
    assert files[2].stat().st_mtime_ns == mtimes[files[2]]
    np.testing.assert_array_equal(dg.P, P.phase_diagram(p, progress=False).P)
    # a diagram round-trips through a file
    dg.save(tmp_path / "dg.npz")
    dg2 = P.PhaseDiagram.load(tmp_path / "dg.npz")
    np.testing.assert_array_equal(dg2.P, dg.P)
    assert dg2.params == p


def test_high_dimension_follows_the_equiangular_curve():
    """Thm 6.9: for d >> n the boundary sits on the equiangular hitting time (of the same scheme)."""
    n, d = 8, 4096
    betas = (0.5, 3.0)
    p = P.PhaseParams(n=n, d=d, betas=betas, t_end=12.0, seeds=8)
    assert p.gram
    dg = P.phase_diagram(p, progress=False)
    th = P.boundary_t(dg, 0.5)
    for b, t in zip(betas, th, strict=True):
        assert t == pytest.approx(eq.euler_hitting_time(b, n, 1e-3, 0.1), abs=0.35)
    # and the transition is sharp: from 0.1 to 0.9 within a few steps
    assert np.all(P.band_width(dg) <= 0.6)


def test_random_weights_diagram_runs():
    p = small(d=5, weights="ginibre", betas=(1.0,))
    assert not p.gram
    dg = P.phase_diagram(p, progress=False)
    assert np.all(np.isfinite(dg.P))


def test_params_validation():
    with pytest.raises(ParticlesError, match="betas"):
        small(betas=())
    with pytest.raises(ParticlesError, match="repeat"):
        small(betas=(1.0, 1.0))
    with pytest.raises(ParticlesError, match="unknown weights"):
        small(weights="cauchy")
    with pytest.raises(ParticlesError, match="whole number"):
        small(t_end=1.05)
    with pytest.raises(ParticlesError, match="method"):
        small(method="leapfrog")


def test_plot_phase_draws_heat_map_and_curve():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = P.PhaseParams(n=32, d=2, betas=(0.5, 5.0), t_end=12.0, seeds=2)
    dg = P.phase_diagram(p, progress=False)
    fig, ax = plt.subplots()
    mesh = P.plot_phase(ax, dg, euler_curve=True)
    assert mesh.get_cmap().name == "RdBu_r" and mesh.get_clim() == (0.0, 1.0)
    lines = ax.get_lines()
    assert len(lines) == 2
    t_curve, b_curve = lines[0].get_data()
    assert t_curve[0] == pytest.approx(eq.hitting_time(0.0, 32), abs=1e-6)
    assert np.all(np.diff(t_curve) > 0)
    plt.close(fig)


def test_cli_phase(tmp_path):
    out, data = tmp_path / "p.png", tmp_path / "p.npz"
    args = [
        "phase",
        "--n",
        "6",
        "--d",
        "2,8",
        "--beta",
        "0.5,3",
        "--t-end",
        "2",
        "--seeds",
        "4",
        "--out",
        str(out),
        "--data",
        str(data),
        "--quiet",
    ]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 1000
    assert len(list((tmp_path / "p.store").glob("*.npz"))) == 4
    from particles.storage.npz import load_npz

    a, meta = load_npz(data, "phase_diagrams")
    assert a["P"].shape == (2, 2, 21) and meta["seed"] == 0
    r = CliRunner().invoke(cli, args)  # resumes: nothing to compute
    assert r.exit_code == 0


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--beta", "a:b"], "expected numbers"),
        (["--d", "1"], "d must be an integer >= 2"),
        (["--out", "x.txt"], ".png"),
        (["--t-end", "0.15"], "whole number"),
    ],
)
def test_cli_phase_bad_input(tmp_path, args, msg):
    base = [
        "phase",
        "--n",
        "4",
        "--beta",
        "1",
        "--t-end",
        "1",
        "--seeds",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "p.png"),
    ]
    r = CliRunner().invoke(cli, base + args)
    assert r.exit_code != 0
    assert msg in r.output
    assert "Traceback" not in r.output


def test_scan_table_formats(tmp_path):
    from particles.analysis.phase import PhaseParams, ScanTable, check_table_path, scan
    from particles.storage.npz import load_npz

    p = PhaseParams(n=4, d=3, betas=(0.0, 4.0), t_end=1.0, seeds=2)
    table = scan([p], progress=False)  # a temporary store
    assert isinstance(table, ScanTable) and list(table)[:3] == ["n", "d", "beta"]
    assert table["beta"].tolist() == [0.0, 4.0] and len(table.rows()) == 2
    assert table.text().splitlines()[0].split() == list(table)
    a, meta = load_npz(table.save(tmp_path / "t.npz"), "sweep_table")
    assert meta["params"] == [p.record()] and meta["seed"] == 0
    np.testing.assert_array_equal(a["t_half"], table["t_half"])
    js = json.loads(table.save(tmp_path / "t.json").read_text())
    assert js["n"] == [4, 4] and all(v is None or v == v for v in js["t_half"])
    csv = table.save(tmp_path / "t.csv").read_text().splitlines()
    assert csv[0] == ",".join(table) and len(csv) == 3
    for bad, msg in (
        (tmp_path / "t.txt", ".npz, .json or .csv"),
        (tmp_path / "no" / "t.csv", "does not exist"),
    ):
        with pytest.raises(ParticlesError, match=msg):
            check_table_path(bad)


def test_cli_sweep(tmp_path):
    base = [
        "sweep",
        "--n",
        "4,6",
        "--d",
        "3",
        "--beta",
        "0,4",
        "--t-end",
        "6",
        "--seeds",
        "4",
        "--store",
        str(tmp_path / "s"),
        "--quiet",
    ]
    r = CliRunner().invoke(cli, base)
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].split()[:3] == ["n", "d", "beta"] and len(lines) == 5
    r = CliRunner().invoke(cli, base + ["--out", str(tmp_path / "t.json")])
    assert r.exit_code == 0, r.output
    table = json.loads((tmp_path / "t.json").read_text())
    assert table["n"] == [4, 4, 6, 6] and table["beta"] == [0.0, 4.0, 0.0, 4.0]
    assert table["P_end"][0] == 1.0  # beta = 0 collapses by t = 6 for n = 4
    r = CliRunner().invoke(cli, base + ["--out", str(tmp_path / "t.csv")])
    assert (tmp_path / "t.csv").read_text().startswith("n,d,beta,P_end")
    r = CliRunner().invoke(cli, ["sweep", "--beta", "1", "--seeds", "2", "--t-end", "1"])
    assert r.exit_code != 0 and "--store" in r.output
