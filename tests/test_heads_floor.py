"""benchmarks/heads_floor.py: its quick path on a tiny cell (no timing checked), the GEMM list
it times against the flops of the factored computation, and the verdict per cell."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hf():
    spec = importlib.util.spec_from_file_location(
        "heads_floor", ROOT / "benchmarks" / "heads_floor.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_row(hf, r):
    assert "errors" not in r, r.get("errors")
    assert r["ours"] > 0
    parts = [r[p] for p in hf.GEMM_PARTS]
    assert all(t > 0 for t in parts + [r["exp"]])
    assert r["gemm"] == pytest.approx(math.fsum(parts), rel=1e-12)
    assert r["floor"] == pytest.approx(r["gemm"] + r["exp"], rel=1e-12)
    assert r["overhead"] == pytest.approx(r["ours"] - r["floor"], rel=1e-12, abs=1e-15)
    assert r["exp_elements"] == r["H"] * r["n"] ** 2
    assert {"tr", "tc", "threads", "proj_threads"} <= set(r["plan"])


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_quick_tiny_cell_gives_wellformed_json(hf, tmp_path, clock):
    out = tmp_path / "floor.json"
    argv = [
        "--quick",
        "--inline",
        "--no-torch",
        "--n",
        "200",
        "--shape",
        "32,2,8",
        "--clock",
        clock,
    ]
    argv += ["--dtype", "float64", "--rounds", "1", "--min-time", "0", "--json", str(out)]
    res = hf.main(argv)
    saved = json.loads(out.read_text())
    assert saved["clock"] == clock
    assert saved["table"] == json.loads(json.dumps(res["table"]))
    (r,) = saved["table"]
    assert (r["d"], r["H"], r["dk"], r["n"], r["dtype"]) == (32, 2, 8, 200, "float64")
    _check_row(hf, r)
    assert "target" not in r  # no torch: no verdict
    for stat in ("median", "best"):
        (b,) = hf.table(saved, stat)
        _check_row(hf, b)
        text = hf.markdown(saved, stat)
        assert "| 32, 2, 8 | 200 | float64 |" in text
        assert text.startswith("Command: `")


def test_quick_with_torch_gives_a_verdict(hf, tmp_path):
    pytest.importorskip("torch")
    argv = ["--quick", "--inline", "--n", "128", "--shape", "16,2,8", "--dtype", "float32"]
    argv += ["--rounds", "1", "--min-time", "0", "--json", str(tmp_path / "f.json")]
    (r,) = hf.main(argv)["table"]
    _check_row(hf, r)
    assert r["torch"] > 0 and r["target"] == pytest.approx(r["torch"] / hf.GOAL)
    assert r["torch_mm"] == pytest.approx(math.fsum(r["torch_mm_" + p] for p in hf.GEMM_PARTS))
    assert r["floor_torch_mm"] == pytest.approx(r["torch_mm"] + r["exp"])


@pytest.mark.parametrize(
    "n, d, H, dk, tr, tc",
    [(1024, 384, 12, 32, 256, 512), (2048, 64, 1, 64, 512, 512), (1000, 48, 3, 16, 256, 512)],
)
def test_gemm_list_is_the_factored_flops(hf, n, d, H, dk, tr, tc):
    """proj 2 n d 3 H d_k + logits 2 n^2 d_k H + values 2 n^2 d_v H + outmap 2 n H d_v d, whatever
    the tiles (ragged last tiles included)."""
    p = dict(n=n, d=d, H=H, dk=dk, dv=dk, tr=tr, tc=tc)
    f = hf.gemm_flops(p)
    assert f["proj"] == 2.0 * n * d * 3 * H * dk
    assert f["logits"] == 2.0 * n * n * dk * H
    assert f["values"] == 2.0 * n * n * dk * H
    assert f["outmap"] == 2.0 * n * H * dk * d
    calls = {part: sum(c for *_, c in g) for part, g in hf.gemm_list(p).items()}
    rows, cols = -(-n // tr), -(-n // tc)
    assert calls == dict(proj=rows, logits=rows * cols * H, values=rows * cols * H, outmap=rows)


@pytest.mark.parametrize(
    "ours, torch, floor, expect",
    [
        (1.0, 1.5, 0.8, "met"),  # ours <= torch / 1.2
        (1.0, 1.0, 0.9, "out"),  # floor above the target 0.833
        (1.0, 1.0, 0.5, "cut"),  # cut 1 - 0.833 of 0.5 overhead
        (0.9, 1.2, 0.95, "met"),  # met though the floor is above (noise): no cut, no short_by
    ],
)
def test_verdict(hf, ours, torch, floor, expect):
    row = dict(ours=ours, torch=torch, floor=floor)
    hf.verdict(row)
    assert row["overhead"] == pytest.approx(ours - floor)
    assert row["target"] == pytest.approx(torch / 1.2)
    assert row["met"] == (expect == "met")
    assert ("short_by" in row) == (expect == "out")
    assert ("cut" in row) == (expect == "cut")
    if expect == "out":
        assert row["short_by"] == pytest.approx(floor / (torch / 1.2) - 1)
    if expect == "cut":
        assert row["cut_share"] == pytest.approx((ours - torch / 1.2) / (ours - floor))
    assert hf._verdict_text(row)


def test_coretype_answers_and_environment(hf, monkeypatch):
    """With several OpenBLAS kernels a cell's ours/floor answers are named kind@kernel and share
    torch's; the worker environment is restored after each start."""
    got = {"torch": [1], "torch_mm": [2], "ours@A": [3], "floor@A": [4], "ours@B": [5]}
    assert hf._sub(got, "A", True) == {"torch": [1], "torch_mm": [2], "ours": [3], "floor": [4]}
    assert hf._sub(got, "B", True)["floor"] == []
    assert hf._sub({"ours": [7]}, None, False)["ours"] == [7]
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    with hf._coretype("SkylakeX"):
        assert hf.os.environ["OPENBLAS_CORETYPE"] == "SkylakeX"
    assert hf.os.environ["OPENBLAS_CORETYPE"] == "Haswell"
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    with hf._coretype("SkylakeX"):
        pass
    assert "OPENBLAS_CORETYPE" not in hf.os.environ
