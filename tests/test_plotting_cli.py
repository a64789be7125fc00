"""Plot helpers and the histogram / clusters / animate / figure commands (tiny sizes)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

import particles as pt
from particles import plotting as P
from particles.cli.main import main
from particles.errors import ParticlesError


def make_run(tmp_path, d=3, n=12, name="run.npz", beta=1.0, t_end=6.0):
    x0 = pt.random_points(n, d, 0)
    traj = pt.simulate(
        x0, pt.Dynamics(beta=beta), t_end, method="rk4", dt=0.1, save_at=np.linspace(0, t_end, 13)
    )
    path = tmp_path / name
    traj.save(path)
    return traj, path


def is_png(path):
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_helpers_take_an_ax(tmp_path):
    traj, _ = make_run(tmp_path)
    fig = P.new_figure((8, 8))
    ax3 = fig.add_subplot(2, 2, 1, projection="3d")
    P.plot_sphere(ax3, traj.final)
    ax = fig.add_subplot(2, 2, 2)
    P.plot_circle(ax, np.linspace(0, 6, 10))
    ax = fig.add_subplot(2, 2, 3)
    picked = P.plot_histograms(ax, traj.t, traj.x, [0, 3, 6])
    assert np.allclose(picked, [0, 3, 6]) and len(ax.patches) == 3
    ax = fig.add_subplot(2, 2, 4)
    P.plot_cluster_counts(ax, traj.t, np.arange(13)[::-1])
    P.plot_energy(ax.twinx(), traj.t, traj.energy(), reference={"Dirac": np.e / 2})
    fig.savefig(tmp_path / "all.png")
    assert is_png(tmp_path / "all.png")
    with pytest.raises(ParticlesError, match="3-D"):
        P.plot_sphere(fig.add_subplot(3, 3, 9), traj.final)
    with pytest.raises(ParticlesError):
        P.plot_circle(ax, np.ones((3, 3)))
    with pytest.raises(ParticlesError):
        P.plot_cluster_counts(ax, [0, 1], [1])


@pytest.mark.parametrize("d", [2, 3, 5])
def test_plot_run(tmp_path, d):
    traj, _ = make_run(tmp_path, d=d)
    out = P.plot_run(traj, tmp_path / f"run{d}.png")
    assert is_png(out)
    with pytest.raises(ParticlesError, match="does not exist"):
        P.plot_run(traj, tmp_path / "missing" / "x.png")


def test_animate_gif(tmp_path):
    traj, _ = make_run(tmp_path, d=2, n=6)
    out = P.animate(traj, tmp_path / "a.gif", max_frames=4, dpi=30)
    from PIL import Image

    with Image.open(out) as im:
        assert im.format == "GIF" and im.n_frames == 4
    with pytest.raises(ParticlesError, match="gif or .mp4"):
        P.animate(traj, tmp_path / "a.avi")
    if not P.ffmpeg_available():
        with pytest.raises(ParticlesError, match="ffmpeg"):
            P.animate(traj, tmp_path / "a.mp4")


def test_no_pyplot_state(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    traj, _ = make_run(tmp_path, d=3)
    P.plot_run(traj, tmp_path / "r.png")
    assert plt.get_fignums() == before
    assert isinstance(P.new_figure(), Figure)


# --- commands ------------------------------------------------------------------------------------


def test_cli_histogram(tmp_path):
    _, run = make_run(tmp_path, d=4)
    out = tmp_path / "h.png"
    r = CliRunner().invoke(main, ["histogram", str(run), "--times", "0,3,6", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert is_png(out)
    r = CliRunner().invoke(main, ["histogram", str(run), "--times", "0:6:2", "--out", str(out)])
    assert r.exit_code == 0, r.output


def test_cli_clusters(tmp_path):
    traj, run = make_run(tmp_path, d=3, beta=0.0, t_end=12.0)
    r = CliRunner().invoke(main, ["clusters", str(run), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert set(data) == {"t", "n_clusters"}
    assert data["t"] == traj.t.tolist()
    assert data["n_clusters"][0] == 12 and data["n_clusters"][-1] == 1
    r = CliRunner().invoke(main, ["clusters", str(run), "--delta", "1e-4"])
    assert r.exit_code == 0, r.output
    assert "consensus" in r.output and len(r.output.splitlines()) == 13 + 2


def test_cli_animate(tmp_path):
    _, run = make_run(tmp_path, d=3, n=5)
    out = tmp_path / "run.gif"
    r = CliRunner().invoke(
        main, ["animate", str(run), "--out", str(out), "--max-frames", "3", "--dpi", "30"]
    )
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:3] == b"GIF"


@pytest.mark.parametrize(
    "args, message",
    [
        (["clusters", "nope.npz"], "no such file"),
        (["clusters", "{run}", "--delta", "0"], "delta"),
        (["clusters", "{bad}"], "not a"),
        (["histogram", "{run}", "--times", "0,99", "--out", "{tmp}/h.png"], "outside"),
        (["histogram", "{run}", "--times", "a,b", "--out", "{tmp}/h.png"], "expected numbers"),
        (["histogram", "{run}", "--out", "{tmp}/nodir/h.png"], "does not exist"),
        (["animate", "{run}", "--out", "{tmp}/x.avi"], ".gif or .mp4"),
        (["figure", "no_such_figure"], "unknown figure"),
    ],
)
def test_cli_bad_input(tmp_path, args, message):
    _, run = make_run(tmp_path, d=3, n=4)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    args = [a.format(run=run, bad=bad, tmp=tmp_path) for a in args]
    r = CliRunner().invoke(main, args)
    assert r.exit_code != 0
    assert message in r.output
    assert "Traceback" not in r.output
    assert len([ln for ln in r.output.splitlines() if ln.strip()]) <= 3


def test_cli_figure(tmp_path):
    r = CliRunner().invoke(main, ["figure", "--list"])
    assert r.exit_code == 0 and "fig6_hessian_g" in r.output.split()
    r = CliRunner().invoke(
        main, ["figure", "fig6_hessian_g.py", "--quick", "--outdir", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    assert is_png(tmp_path / "fig6_hessian_g.png") and (tmp_path / "fig6_hessian_g.npz").exists()
    r = CliRunner().invoke(
        main, ["figure", "fig6_hessian_g", "--quick", "--outdir", str(tmp_path / "new" / "dir")]
    )
    assert r.exit_code == 0, r.output  # --outdir is created when missing
    assert is_png(tmp_path / "new" / "dir" / "fig6_hessian_g.png")


def test_cli_figure_redraw(tmp_path):
    """``particles figure NAME --redraw`` draws the PNG from the npz in --outdir, nothing else."""
    import shutil

    from particles.plotting.figures import figures_dir

    r = CliRunner().invoke(main, ["figure", "wendel", "--redraw", "--outdir", str(tmp_path)])
    assert r.exit_code != 0 and "wendel.npz: no such file" in r.output
    shutil.copy(figures_dir() / "wendel.npz", tmp_path)
    before = (tmp_path / "wendel.npz").read_bytes()
    r = CliRunner().invoke(main, ["figure", "wendel", "--redraw", "--outdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert is_png(tmp_path / "wendel.png") and (tmp_path / "wendel.npz").read_bytes() == before


def test_cli_figure_without_directory(tmp_path, monkeypatch):
    import particles.plotting.figures as F

    monkeypatch.setattr(F, "figures_dir", lambda: tmp_path / "absent")
    for args in (["figure", "fig6_hessian_g"], ["figure", "--list"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code != 0 and "no figures directory" in r.output


def test_help_has_examples():
    for cmd in ("histogram", "clusters", "animate", "figure"):
        r = CliRunner().invoke(main, [cmd, "--help"])
        assert r.exit_code == 0 and "Examples" in r.output


@pytest.mark.parametrize("d", [2, 3])
def test_simulate_plot(tmp_path, d):
    out, png = tmp_path / "s.npz", tmp_path / "s.png"
    args = ["simulate", "--n", "8", "--d", str(d), "--beta", "1", "--t-end", "1", "--seed", "0"]
    r = CliRunner().invoke(main, args + ["--out", str(out), "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert is_png(png)
