"""``particles info`` describes a scan table saved as .csv or .json (no metadata: its columns),
and refuses any other text file in one line."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from particles.analysis.phase import ScanTable
from particles.cli.main import main as cli
from particles.storage.results import describe, read_text_table

COLUMNS = {
    "n": np.array([8.0, 8.0]),
    "d": np.array([2.0, 3.0]),
    "beta": np.array([1.0, 2.0]),
    "P_end": np.array([0.5, np.nan]),
}


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_info_describes_a_text_scan_table(tmp_path, suffix):
    path = ScanTable(dict(COLUMNS)).save(tmp_path / f"scan{suffix}")
    cols = read_text_table(path)
    for k, v in COLUMNS.items():
        np.testing.assert_array_equal(cols[k], v)
    rec = describe(path)
    assert rec["format"] == "sweep_table" and set(rec["arrays"]) == set(COLUMNS)
    res = CliRunner().invoke(cli, ["info", str(path)])
    assert res.exit_code == 0 and "scan table" in res.output and "P_end" in res.output
    res = CliRunner().invoke(cli, ["info", str(path), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["arrays"]["beta"]["shape"] == [2]


BAD = {
    "empty.csv": b"",
    "no_columns.csv": b"a,b\n1,2\n",
    "text.csv": b"n,d,beta\nx,y,z\n",
    "ragged.csv": b"n,d,beta\n1,2\n",
    "binary.csv": b"\xff\xfe\x00\x01",
    "list.json": b"[1, 2]",
    "nested.json": b'{"n": [[1]], "d": [2], "beta": [1]}',
    "unequal.json": b'{"n": [1, 2], "d": [2], "beta": [1]}',
    "bools.json": b'{"n": [true], "d": [2], "beta": [1]}',
    "garbage.json": b"{not json",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_info_refuses_a_text_file_that_is_no_scan_table(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(BAD[name])
    res = CliRunner().invoke(cli, ["info", str(path)])
    assert res.exit_code != 0 and "not a scan table" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


def test_info_names_a_missing_table(tmp_path):
    res = CliRunner().invoke(cli, ["info", str(tmp_path / "none.csv")])
    assert res.exit_code != 0 and "no such file" in res.output
