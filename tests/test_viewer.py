"""The interactive viewer (particles.plotting.viewer, ``particles view``, ``Trajectory.show()``):
the figures it builds from arrays, the files it reads (and the lying ones it refuses), the pages it
writes, and those pages in headless Chromium (skipped where Chromium is absent)."""

from __future__ import annotations

import io
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import particles as pt
from particles.analysis.clusters import cluster_labels, count_clusters
from particles.cli.main import main
from particles.errors import ParticlesError
from particles.storage.npz import save_npz

go = pytest.importorskip("plotly.graph_objects", reason="the viewer needs plotly (the view extra)")
from particles.plotting import view_file, viewer  # noqa: E402


def _traj(n=12, d=3, saves=6, seed=0, beta=4.0, t_end=6.0):
    x0 = pt.random_points(n, d, rng=seed)
    return pt.simulate(x0, pt.Dynamics(beta=beta), t_end, method="rk4", dt=0.05, saves=saves)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Result files of every kind the viewer shows, tiny, and lying versions of them."""
    root = tmp_path_factory.mktemp("viewer")
    _traj(d=3).save(root / "run3.npz")
    _traj(n=20, d=2).save(root / "run2.npz")
    _traj(n=16, d=6, saves=5).save(root / "run6.npz")
    rng = np.random.default_rng(0)
    toks = np.array(["[CLS]", "the", "cat", "<b>sat</b>", "on", "the", "mat", "[SEP]"])
    hidden = rng.normal(size=(4, 8, 10)).astype(np.float32)
    tmeta = {"format": "transformer_depth", "model": "tiny", "n_tokens": 8}
    save_npz(root / "tf.npz", {"hidden": hidden, "layers": np.arange(4), "tokens": toks}, tmeta)
    t, betas = np.linspace(0, 8, 5), np.array([0.5, 1.0, 2.0])
    P = np.clip(rng.uniform(size=(2, 3, 5)), 0, 1)
    from particles.analysis.phase import PhaseParams

    recs = [PhaseParams(n=4, d=d, betas=(0.5, 1.0, 2.0)).record() for d in (2, 3)]
    parr = {"t": t, "betas": betas, "d": np.array([2, 3]), "n": np.array([4, 4]), "P": P}
    parr.update(P_se=0.1 * P, mean_clusters=1 + P)
    save_npz(root / "ph.npz", parr, {"format": "phase_diagrams", "params": recs, "seed": 0})
    from particles.analysis.phase import PhaseDiagram

    one = dict(t=t, betas=betas, P=P[0], P_se=0.1 * P[0], mean_clusters=1 + P[0])
    PhaseDiagram(params=PhaseParams(**recs[0]), **one, final_clusters=np.ones((3, 4))).save(
        root / "ph1.npz"
    )
    ode = {"hidden": hidden, "layers": np.arange(4), "tokens": toks, "ode_attention": hidden}
    save_npz(root / "tfode.npz", ode, {**tmeta, "format": "transformer_ode"})
    from particles.analysis.transition import TransitionParams, TransitionResult

    tp = TransitionParams(n=8, seeds=2, betas=(1.5, 6.0), kappas=(1.0, 2.0, 3.0))
    r = rng.uniform(size=(2, 3, 2))
    TransitionResult(tp, r_up=r, r_down=r[::-1].copy(), r2_up=r**2, r2_down=r**2).save(
        root / "tr.npz"
    )
    # lying files: each is refused in one line
    save_npz(root / "other.npz", {"a": np.zeros(2)}, {"format": "svm_train"})
    bad_h = hidden.copy()
    bad_h[1, 2, 3] = np.nan
    lies = {
        "tf_nan.npz": ({"hidden": bad_h, "layers": np.arange(4), "tokens": toks}, tmeta),
        "tf_shape.npz": ({"hidden": hidden, "layers": np.arange(3), "tokens": toks}, tmeta),
        "tf_tokens.npz": ({"hidden": hidden, "layers": np.arange(4), "tokens": toks[:5]}, tmeta),
        "tf_numtokens.npz": (
            {"hidden": hidden, "layers": np.arange(4), "tokens": np.ones(8)},
            tmeta,
        ),
        "tf_layers.npz": (
            {"hidden": hidden, "layers": np.array([0, 2, 1, 3]), "tokens": toks},
            tmeta,
        ),
        "tf_zero.npz": (
            {"hidden": np.zeros_like(hidden), "layers": np.arange(4), "tokens": toks},
            tmeta,
        ),
        "tf_missing.npz": ({"hidden": hidden, "tokens": toks}, tmeta),
        "ph_shape.npz": ({**parr, "P": P[:, :2]}, {"format": "phase_diagrams", "params": recs}),
        "ph_range.npz": ({**parr, "P": 2 * P + 1}, {"format": "phase_diagrams", "params": recs}),
        "ph_nan.npz": (
            {**parr, "P_se": np.full(P.shape, np.nan)},
            {"format": "phase_diagrams", "params": recs},
        ),
        "ph_params.npz": (parr, {"format": "phase_diagrams", "params": recs[:1]}),
        "ph_noparams.npz": (parr, {"format": "phase_diagrams"}),
        "ph_badparams.npz": (parr, {"format": "phase_diagrams", "params": [{"n": -1}, {}]}),
        "ph_seshape.npz": (
            {**parr, "P_se": np.zeros(3)},
            {"format": "phase_diagrams", "params": recs},
        ),
        "tr_shape.npz": (
            {"r_up": r, "r_down": r[:1], "r2_up": r, "r2_down": r},
            {"format": "transition", "params": tp.record()},
        ),
        "tr_range.npz": (
            {"r_up": r + 2, "r_down": r, "r2_up": r, "r2_down": r},
            {"format": "transition", "params": tp.record()},
        ),
        "tr_params.npz": (
            {"r_up": r, "r_down": r, "r2_up": r, "r2_down": r},
            {"format": "transition", "params": {"n": 0}},
        ),
    }
    for name, (arrays, meta) in lies.items():
        save_npz(root / name, arrays, meta)
    (root / "text.txt").write_text("hello\n")
    (root / "empty.npz").write_bytes(b"")
    data = (root / "run3.npz").read_bytes()
    (root / "trunc.npz").write_bytes(data[: len(data) // 2])
    (root / "adir").mkdir()
    empty = pt.Trajectory(
        t=np.zeros(0), x=np.zeros((0, 4, 3)), dynamics=pt.Dynamics(), method="rk4"
    )
    empty.meta["complete"] = False
    empty.save(root / "nostate.npz")
    return root


def _one_line_error(res) -> str:
    """The one error line of a failed command (asserted to be exactly that)."""
    assert res.exit_code != 0, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    assert not res.stdout.strip(), res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Usage: ", "Try '"))]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    return lines[0]


def _view(*args):
    return CliRunner(env={"PARTICLES_TRACEBACK": "1"}).invoke(main, ["view", *map(str, args)])


# ------------------------------------------------------------------------------------------------
# figures from arrays


@pytest.mark.parametrize("d", [2, 3, 5])
def test_states_figure_has_one_frame_per_drawn_state(d):
    xs = np.stack([pt.random_points(30, d, rng=s) for s in range(7)])
    fig = viewer.states_figure(xs, np.linspace(0, 3, 7), max_frames=4, max_particles=10)
    assert isinstance(fig, go.Figure)
    assert len(fig.frames) == 4  # indices 0, 2, 4, 6
    assert len(fig.layout.sliders[0].steps) == 4
    assert [s.label for s in fig.layout.sliders[0].steps] == ["0", "1", "2", "3"]
    assert fig.layout.updatemenus[0].buttons[0].label.endswith("play")
    drawn = fig.data[1]
    assert len(drawn.x) == 10 and len(drawn.text) == 10
    assert type(drawn).__name__ == ("Scatter" if d == 2 else "Scatter3d")
    sub = fig.layout.title.subtitle.text
    assert "showing 10 of 30 particles and 4 of 7 saved states" in sub
    assert "δ = 0.001" in sub
    assert ("PCA of all drawn states" in sub) == (d == 5)


def test_everything_is_shown_when_within_the_budgets():
    fig = viewer.states_figure(np.stack([pt.random_points(9, 3, rng=s) for s in range(3)]))
    assert len(fig.frames) == 3 and len(fig.data[1].x) == 9
    assert "all 9 particles, all 3 saved states" in fig.layout.title.subtitle.text


def test_colours_are_the_clusters_of_the_drawn_state():
    traj = _traj(n=24, d=3, saves=8)
    delta = 1e-2
    fig = traj.show(delta=delta)
    assert fig.layout.meta["delta"] == delta
    for frame, x in zip(fig.frames, traj.x, strict=True):
        lab = cluster_labels(x, delta)
        data = frame.data[0]
        assert np.array_equal(np.asarray(data.marker.color), lab % len(viewer.PALETTE))
        custom = np.asarray(data.customdata)
        assert np.array_equal(custom[:, 0], lab)
        assert np.array_equal(custom[:, 1], np.bincount(lab)[lab])
    counts = fig.layout.meta["clusters"]
    assert counts == [count_clusters(x, delta) for x in traj.x]
    assert counts[0] > counts[-1]  # the particles cluster as time goes on


def test_drawn_positions_are_the_states():
    traj = _traj(d=3)
    fig = traj.show()
    for frame, x in zip(fig.frames, traj.x, strict=True):
        d = frame.data[0]
        y = np.stack([np.asarray(d.x), np.asarray(d.y), np.asarray(d.z)], axis=1)
        np.testing.assert_allclose(y, x, atol=1e-6)  # drawn as float32


def test_show_returns_the_figure_jupyter_displays():
    traj = _traj(saves=9)
    fig = traj.show(max_frames=5)
    assert isinstance(fig, go.Figure) and len(fig.frames) == 5
    assert hasattr(fig, "_repr_html_") or hasattr(fig, "_repr_mimebundle_")
    assert "n = 12, d = 3" in fig.layout.title.text and "SA, β = 4" in fig.layout.title.text


def test_show_displays_in_a_jupyter_kernel():
    """A notebook cell ending in ``traj.show()`` displays the figure (plotly's mime type), run in
    a real kernel; skipped where no kernel is installed (nbclient and ipykernel come with the test
    extra)."""
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (the view extra)")
    nbclient = pytest.importorskip(
        "nbclient", reason="no Jupyter kernel client (pip install nbclient)"
    )
    pytest.importorskip("ipykernel", reason="no Jupyter kernel (pip install ipykernel)")
    code = (
        "import particles as pt\n"
        "x0 = pt.random_points(16, 3, rng=0)\n"
        "traj = pt.simulate(x0, pt.Dynamics(beta=4.0), 2.0, dt=0.1, saves=5)\n"
        "traj.show()"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=None, kernel_name="python3").execute()
    (out,) = nb.cells[0].outputs
    assert out["output_type"] == "display_data", out
    fig = out["data"]["application/vnd.plotly.v1+json"]
    assert len(fig["frames"]) == 5 and fig["layout"]["title"]["text"].startswith("n = 16, d = 3")


def test_tokens_recorded_by_a_run_are_hovered():
    traj = _traj(n=5)
    words = ["the", "cat", "<sat>", "on", "mat"]
    traj.meta["tokens"] = words
    fig = traj.show()
    assert list(fig.data[1].text) == [
        "token 0: the",
        "token 1: cat",
        "token 2: &lt;sat&gt;",
        "token 3: on",
        "token 4: mat",
    ]
    assert "particle 0" in _traj(n=5).show().data[1].text[0]


def test_pca_axes_span_the_moving_coordinates():
    """States that move in coordinates 1, 3, 4 of d = 6: PCA finds those three axes, whether of
    all drawn states (scatter matrix accumulated state by state) or of one state (SVD)."""
    rng = np.random.default_rng(1)
    xs = np.zeros((5, 40, 6))
    xs[..., [1, 3, 4]] = rng.normal(size=(5, 40, 3))
    xs /= np.linalg.norm(xs, axis=-1, keepdims=True)
    for kw in ({}, {"pca_time": 2.0}):
        fig = viewer.states_figure(xs, **kw)
        for frame, x in zip(fig.frames, xs, strict=True):
            d = frame.data[0]
            y = np.stack([np.asarray(d.x), np.asarray(d.y), np.asarray(d.z)], axis=1)
            # an orthogonal map of the 3 moving coordinates: norms kept (the points stay on S^2)
            np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)
        assert "(100% of" in fig.layout.title.subtitle.text
    assert (
        "of the state at t = 2" in viewer.states_figure(xs, pca_time=2.2).layout.meta["projection"]
    )


def test_pooled_pca_matches_the_svd_of_the_stacked_states():
    """The scatter matrix accumulated one state at a time gives the axes of the SVD of all the
    drawn states stacked (the plain twin), to rounding."""
    xs = np.stack([pt.random_points(15, 7, rng=s) for s in range(4)])
    xs[2:] += np.array([2.0, 0, 0, 1.0, 0, 0, 0])  # a drift: a leading axis
    xs /= np.linalg.norm(xs, axis=-1, keepdims=True)
    stacked = xs.reshape(-1, 7)
    P_svd, kept_svd = viewer._pca_axes(stacked[:6])  # fewer points than d: the SVD path
    assert P_svd.shape == (7, 3)
    P_eig, kept = viewer._pca_axes(stacked)  # N >= d: the scatter matrix
    c = stacked - stacked.mean(axis=0)
    _, s, vt = np.linalg.svd(c)
    twin = vt[:3].T * np.sign(vt[:3].T[np.argmax(np.abs(vt[:3].T), axis=0), [0, 1, 2]])
    np.testing.assert_allclose(P_eig, twin, atol=1e-10)
    np.testing.assert_allclose(kept, np.sum(s[:3] ** 2) / np.sum(s**2), rtol=1e-12)
    fig = viewer.states_figure(xs)
    d = fig.frames[0].data[0]
    y = np.stack([np.asarray(d.x), np.asarray(d.y), np.asarray(d.z)], axis=1)
    np.testing.assert_allclose(y, xs[0] @ twin, atol=1e-6)


def test_coords_choose_three_coordinates():
    xs = np.stack([pt.random_points(10, 5, rng=s) for s in range(2)])
    fig = viewer.states_figure(xs, coords="4,0,2")
    d = fig.frames[1].data[0]
    np.testing.assert_allclose(np.asarray(d.x), xs[1, :, 4], atol=1e-6)
    np.testing.assert_allclose(np.asarray(d.z), xs[1, :, 2], atol=1e-6)
    assert fig.layout.scene.xaxis.title.text == "x4"
    assert "coordinates 4, 0, 2 of 5" in fig.layout.title.subtitle.text


def test_subsample_is_even_and_keeps_the_ends():
    assert viewer.subsample(5, 10).tolist() == [0, 1, 2, 3, 4]
    assert viewer.subsample(101, 5).tolist() == [0, 25, 50, 75, 100]
    idx = viewer.subsample(10**6, 1000)
    assert idx.size == 1000 and idx[0] == 0 and idx[-1] == 10**6 - 1


def test_residual_stream_runs_are_drawn_by_their_directions():
    x0 = pt.random_points(10, 3, rng=0)
    traj = pt.simulate(x0, pt.Dynamics(beta=2.0, norm="pre"), 2.0, method="rk4", dt=0.05, saves=3)
    assert not traj.on_sphere
    fig = traj.show()
    d = fig.frames[-1].data[0]
    y = np.stack([np.asarray(d.x), np.asarray(d.y), np.asarray(d.z)], axis=1)
    np.testing.assert_allclose(y, traj.theta[-1], atol=1e-6)
    assert "token directions x/|x|" in fig.layout.title.text


def test_phase_and_transition_figures_hover_their_values(files):
    fig = view_file.figure_for_file(files / "ph.npz")
    maps = [tr for tr in fig.data if isinstance(tr, go.Heatmap)]
    assert len(maps) == 2
    z = np.load(files / "ph.npz")["P"]
    for m, p in zip(maps, z, strict=True):
        np.testing.assert_array_equal(np.asarray(m.z), p)
        assert "P = %{z" in m.hovertemplate and "mean clusters" in m.hovertemplate
    assert [a.text for a in fig.layout.annotations] == ["d = 2", "d = 3"]  # the panels' titles
    assert any(isinstance(tr, go.Scatter) for tr in fig.data)  # Gamma_{inf,delta} (SA)
    fig = view_file.figure_for_file(files / "tr.npz")
    assert len(fig.data) == 4  # up and down for each of the 2 betas
    r = np.load(files / "tr.npz")["r_up"]
    np.testing.assert_allclose(np.asarray(fig.data[0].y), r[0].mean(axis=1))
    assert "κ = %{x" in fig.data[0].hovertemplate


def test_transformer_runs_hover_token_text(files):
    fig = view_file.figure_for_file(files / "tf.npz")
    assert len(fig.frames) == 4
    assert fig.layout.sliders[0].currentvalue.prefix == "layer = "
    assert fig.data[1].text[3] == "token 3: &lt;b&gt;sat&lt;/b&gt;"  # escaped, not markup
    assert "tiny: 8 tokens" in fig.layout.title.text


def test_zarr_store_gives_the_npz_figure(files, tmp_path):
    pytest.importorskip("zarr")
    traj = pt.Trajectory.load(files / "run3.npz")
    traj.save(tmp_path / "run.zarr")
    a = view_file.figure_for_file(files / "run3.npz")
    b = view_file.figure_for_file(tmp_path / "run.zarr")
    assert len(a.frames) == len(b.frames)
    for fa, fb in zip(a.frames, b.frames, strict=True):
        np.testing.assert_array_equal(np.asarray(fa.data[0].x), np.asarray(fb.data[0].x))
        np.testing.assert_array_equal(fa.data[0].marker.color, fb.data[0].marker.color)


# ------------------------------------------------------------------------------------------------
# the page


def test_page_is_self_contained(files, tmp_path):
    out = tmp_path / "run.html"
    res = _view(files / "run3.npz", "--out", out)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"wrote {out}"
    page = out.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", page), "a script is fetched"
    assert not re.search(r"<link[^>]*\bhref=", page), "a stylesheet is fetched"
    assert "plotly.js v" in page and len(page) > 3_000_000  # plotly.min.js is embedded
    assert "<title>n = 12, d = 3; SA, β = 4; rk4</title>" in page
    assert not list(tmp_path.glob(".*tmp"))  # written atomically


@pytest.mark.parametrize(
    "name",
    ["run2.npz", "run6.npz", "tf.npz", "tfode.npz", "ph.npz", "ph1.npz", "tr.npz"],
    ids=lambda s: s[:-4],
)
def test_every_kind_of_file_gives_a_page(files, tmp_path, name):
    res = _view(files / name, "--out", tmp_path / "p.html")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p.html").stat().st_size > 3_000_000


def test_embedded_fragment_fetches_nothing():
    frag = viewer.embedded(_traj().show())._repr_html_()
    assert not re.search(r"<script[^>]*\bsrc=", frag) and "<html" not in frag
    assert "plotly.js v" in frag  # embedded, no MathJax (it would come from a CDN)


def test_without_plotly_one_line(files, tmp_path, monkeypatch):
    for mod in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly raises ImportError
    with pytest.raises(ParticlesError, match=r'needs plotly: pip install -e "\.\[view\]"$'):
        _traj().show()
    msg = _one_line_error(_view(files / "run3.npz", "--out", tmp_path / "p.html"))
    assert "needs plotly" in msg
    assert not (tmp_path / "p.html").exists()


# ------------------------------------------------------------------------------------------------
# hostile input: tables

#: files that are not what the viewer shows, or that lie: (file, words the one line must hold)
BAD_FILES = [
    ("missing.npz", "missing.npz"),
    ("adir", "adir"),
    ("text.txt", "text.txt"),
    ("empty.npz", "empty.npz"),
    ("trunc.npz", "trunc.npz"),
    ("other.npz", "has no interactive view"),
    ("nostate.npz", "no saved state"),
    ("tf_nan.npz", "tf_nan.npz"),
    ("tf_shape.npz", "layers (3,)"),
    ("tf_tokens.npz", "tokens (5,)"),
    ("tf_numtokens.npz", "tokens must be strings"),
    ("tf_layers.npz", "layers must be increasing"),
    ("tf_zero.npz", "zero row"),
    ("tf_missing.npz", "no 'layers'"),
    ("ph_shape.npz", "P must have shape"),
    ("ph_range.npz", "[0, 1]"),
    ("ph_nan.npz", "P_se"),
    ("ph_params.npz", "1 parameter records for 2 panels"),
    ("ph_noparams.npz", "parameters"),
    ("ph_badparams.npz", "parameters"),
    ("ph_seshape.npz", "P_se must have"),
    ("tr_shape.npz", "r_down must have shape"),
    ("tr_range.npz", "r_up"),
    ("tr_params.npz", "tr_params.npz"),
]


@pytest.mark.parametrize(("name", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_files_that_lie_are_one_line(files, tmp_path, name, words):
    msg = _one_line_error(_view(files / name, "--out", tmp_path / "p.html"))
    assert words in msg, msg
    assert not list(tmp_path.iterdir())
    with pytest.raises(ParticlesError):
        view_file.figure_for_file(files / name)


#: options and the files they are given with: (file, arguments, words the one line must hold)
BAD_OPTIONS = [
    ("run3.npz", ["--delta", "0"], "delta"),
    ("run3.npz", ["--delta", "nan"], "delta"),
    ("run3.npz", ["--delta", "3"], "delta"),
    ("run3.npz", ["--delta", "1e-300"], "delta"),
    ("run3.npz", ["--max-frames", "0"], "max-frames"),
    ("run3.npz", ["--max-frames", "1.5"], "max-frames"),
    ("run3.npz", ["--max-particles", "-4"], "max-particles"),
    ("run3.npz", ["--max-particles", "10000000"], "max-particles"),
    ("run2.npz", ["--coords", "0,1,2"], "d = 2"),
    ("run3.npz", ["--coords", "0,1,3"], "coords"),
    ("run6.npz", ["--coords", "0,1"], "three"),
    ("run6.npz", ["--coords", "0,0,1"], "different"),
    ("run6.npz", ["--coords", "a,b,c"], "coords"),
    ("run6.npz", ["--coords", "-1,0,1"], "coords"),
    ("run6.npz", ["--coords", "0,1,6"], "coords"),
    ("run6.npz", ["--coords", ""], "coords"),
    ("run3.npz", ["--pca-time", "1"], "not to d = 3"),
    ("run6.npz", ["--pca-time", "1", "--coords", "0,1,2"], "not with coords"),
    ("run6.npz", ["--pca-time", "-1"], "outside the saved t"),
    ("run6.npz", ["--pca-time", "1e300"], "outside the saved t"),
    ("run6.npz", ["--pca-time", "nan"], "pca_time"),
    ("run6.npz", ["--pca-time", "inf"], "pca_time"),
    ("tf.npz", ["--pca-time", "9"], "outside the saved layer"),
    ("ph.npz", ["--delta", "0.1"], "delta applies to trajectories"),
    ("tr.npz", ["--max-frames", "3", "--coords", "0,1,2"], "apply to trajectories"),
    ("run3.npz", ["--out", "p.png"], ".html"),
    ("run3.npz", ["--out", "nodir/p.html"], "nodir"),
]


@pytest.mark.parametrize(("name", "args", "words"), BAD_OPTIONS, ids=lambda v: str(v))
def test_hostile_options_are_one_line(files, tmp_path, monkeypatch, name, args, words):
    monkeypatch.chdir(tmp_path)
    out = [] if "--out" in args else ["--out", "p.html"]
    msg = _one_line_error(_view(files / name, *out, *args))
    assert words in msg, msg
    assert not list(tmp_path.iterdir())


#: bad arguments of the library's figure functions (beyond test_api_hostile's generic values)
_XS = np.stack([pt.random_points(6, 3, rng=s) for s in range(3)])
BAD_CALLS = [
    ("xs of 1 coordinate", dict(xs=_XS[..., :1]), "d >= 2"),
    ("xs 2-d", dict(xs=_XS[0]), "(T, n, d)"),
    ("xs no particles", dict(xs=_XS[:, :0]), "empty"),
    ("t too short", dict(t=[0.0, 1.0]), "2 times for 3"),
    ("t decreasing", dict(t=[0.0, 2.0, 1.0]), "increasing"),
    ("t NaN", dict(t=[0.0, np.nan, 1.0]), "t"),
    ("tokens too few", dict(tokens=["a", "b"]), "6 strings"),
    ("tokens numbers", dict(tokens=list(range(6))), "6 strings"),
    ("tokens a string", dict(tokens="abcdef"), "sequence"),
    ("coords 4 of 3", dict(coords=(0, 1, 2, 0)), "three"),
    ("coords floats", dict(coords=(0.0, 1.0, 2.0)), "coords"),
    ("coords bools", dict(coords=(True, False, 2)), "coords"),
    ("pca_time on d = 3", dict(pca_time=1.0), "not to d = 3"),
    ("time_name empty", dict(time_name=" "), "time_name"),
    ("title a number", dict(title=3), "title"),
]


@pytest.mark.parametrize(("label", "kw", "words"), BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_states_figure_refuses_bad_arguments(label, kw, words):
    kw = {"xs": _XS, **kw}
    with pytest.raises(ParticlesError) as e:
        viewer.states_figure(**kw)
    assert words in str(e.value) and "\n" not in str(e.value)


BAD_FIGURES = [
    (viewer.trajectory_figure, dict(traj=_XS), "Trajectory"),
    (viewer.trajectory_figure, dict(traj=None, t=[0.0]), "Trajectory"),
    (
        viewer.phase_figure,
        dict(t=[0.0, 1.0], betas=[1.0], P=[[0.5, 0.5]], curves=[None, None]),
        "curves",
    ),
    (
        viewer.phase_figure,
        dict(t=[0.0, 1.0], betas=[1.0], P=[[0.5, 0.5]], titles=["a", "b"]),
        "titles",
    ),
    (viewer.phase_figure, dict(t=[0.0, 1.0], betas=[1.0], P=[[0.5, 0.5]], P_se=[[0.1]]), "P_se"),
    (
        viewer.phase_figure,
        dict(t=[0.0, 1.0], betas=[1.0], P=[[0.5, 0.5]], curves=[([0.0, 1.0], [1.0])]),
        "equal lengths",
    ),
    (
        viewer.transition_figure,
        dict(kappas=[1.0], betas=[1.0], r_up=[[[0.5]]], r_down=[[[-0.5]]]),
        "[0, 1]",
    ),
    (
        viewer.transition_figure,
        dict(kappas=[1.0], betas=[1.0], r_up=[[[0.5]]], r_down=[[]]),
        "r_down",
    ),
    (viewer.write_html, dict(fig="<html>", path="x.html"), "plotly Figure"),
]


@pytest.mark.parametrize(
    ("fn", "kw", "words"), BAD_FIGURES, ids=lambda v: getattr(v, "__name__", "")
)
def test_figure_functions_refuse_bad_arguments(fn, kw, words):
    with pytest.raises(ParticlesError) as e:
        fn(**kw)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_trajectory_options_are_its_own():
    traj = _traj()
    for kw in ({"t": [0.0]}, {"time_name": "layer"}):
        with pytest.raises(ParticlesError, match="trajectory's own"):
            traj.show(**kw)


# ------------------------------------------------------------------------------------------------
# in the browser: headless Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "headless Chromium is not installed (Debian: apt install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')"
    )
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1000,900",
        "--use-angle=swiftshader",  # WebGL (the 3-D scenes) in software
        "--enable-unsafe-swiftshader",
        "--hide-scrollbars",
    ):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver, page: Path) -> None:
    """Load ``page`` and wait until plotly has drawn it (no limit but the test run's own)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.as_uri())
    WebDriverWait(driver, 300).until(
        lambda d: d.execute_script(
            "const g = document.querySelector('.js-plotly-plot');"
            "return !!(g && g._fullLayout && document.querySelector('.main-svg'));"
        )
    )
    time.sleep(1.0)  # WebGL draws on the next animation frames


def _screenshot(driver) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB"))


def _console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _fetched(driver) -> list[str]:
    """The URLs the page asked the network for (none: it is self-contained)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return [u for u in urls if not u.startswith(("file:", "data:", "blob:", "about:"))]


def _palette_pixels(img: np.ndarray) -> int:
    """Pixels of a cluster colour (the particles)."""
    img = img.astype(np.int16)
    hit = np.zeros(img.shape[:2], dtype=bool)
    for c in viewer.PALETTE:
        rgb = np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
        hit |= np.abs(img - rgb).sum(axis=-1) < 30
    return int(hit.sum())


def _scene_rows(driver) -> int:
    """The rows of the screenshot above the slider (what the slider does not itself change)."""
    top = driver.execute_script(
        "return document.querySelector('.slider-container').getBoundingClientRect().top"
    )
    return int(top * driver.execute_script("return window.devicePixelRatio"))


@pytest.mark.parametrize("name", ["run3.npz", "run2.npz", "tf.npz"], ids=lambda s: s[:-4])
def test_page_in_chromium_draws_and_the_slider_moves_it(browser, files, tmp_path, name):
    page = tmp_path / "p.html"
    fig = view_file.figure_for_file(files / name)
    viewer.write_html(fig, page)
    browser.get_log("browser"), browser.get_log("performance")  # start from empty logs
    _open(browser, page)
    assert _console_errors(browser) == []
    assert _fetched(browser) == []
    rows = _scene_rows(browser)
    before = _screenshot(browser)[:rows]
    shots = Path(tmp_path)
    (shots / "before.png").write_bytes(browser.get_screenshot_as_png())
    assert _palette_pixels(before) > 100, "no particles drawn"
    # drag the slider to its end: the last drawn state
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    grip = browser.find_element(By.CSS_SELECTOR, ".slider-grip-rect")
    rail = browser.find_element(By.CSS_SELECTOR, ".slider-rail-rect")
    ActionChains(browser).click_and_hold(grip).move_to_element_with_offset(
        rail, rail.size["width"] // 2, 0
    ).release().perform()
    last = len(fig.frames) - 1
    WebDriverWait(browser, 300).until(
        lambda d: (
            d.execute_script(
                "return document.querySelector('.js-plotly-plot')._fullLayout.sliders[0].active"
            )
            == last
        )
    )
    time.sleep(1.0)
    after = _screenshot(browser)[:rows]
    (shots / "after.png").write_bytes(browser.get_screenshot_as_png())
    changed = np.any(before != after, axis=-1)
    assert changed.sum() > 200, "moving the slider did not change the drawing"
    assert _palette_pixels(after) > 20, "no particles drawn at the end"
    if name == "run2.npz":  # a 2-d scene: hover a particle through plotly's own hover
        label = browser.execute_script(
            "const g = document.querySelector('.js-plotly-plot');"
            "Plotly.Fx.hover(g, [{curveNumber: 1, pointNumber: 3}]);"
            "return document.querySelector('.hoverlayer').textContent;"
        )
        assert label.startswith("particle 3cluster "), label
    else:  # WebGL scenes hover under the mouse: the hovered text is the trace's
        text = browser.execute_script(
            "return document.querySelector('.js-plotly-plot').data[1].text[3]"
        )
        assert text == ("token 3: &lt;b&gt;sat&lt;/b&gt;" if name == "tf.npz" else "particle 3"), (
            text
        )
    assert _console_errors(browser) == []


@pytest.mark.parametrize("name", ["ph.npz", "tr.npz"], ids=lambda s: s[:-4])
def test_figure_pages_in_chromium(browser, files, tmp_path, name):
    page = tmp_path / "p.html"
    viewer.write_html(view_file.figure_for_file(files / name), page)
    browser.get_log("browser"), browser.get_log("performance")
    _open(browser, page)
    assert _console_errors(browser) == [] and _fetched(browser) == []
    img = _screenshot(browser)
    (tmp_path / "shot.png").write_bytes(browser.get_screenshot_as_png())
    coloured = np.sum(np.ptp(img.astype(int), axis=-1) > 60)  # saturated: the map or the curves
    assert coloured > 2000
