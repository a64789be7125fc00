"""The ``repro`` list in conftest.py names tests that exist: a renamed test or file would
otherwise silently drop out of the second-kernel run in .ci/run."""

import re
from pathlib import Path

import pytest
from conftest import REPRO

HERE = Path(__file__).parent


@pytest.mark.parametrize("entry", sorted(REPRO))
def test_repro_entry_names_an_existing_test(entry):
    name, _, test = entry.partition("::")
    path = HERE / name
    assert path.is_file(), f"{entry}: no file tests/{name}"
    text = path.read_text()
    if test:
        assert re.search(rf"^def {re.escape(test)}\(", text, re.M), f"{entry}: no test {test}"
    else:
        assert re.search(r"^def test_", text, re.M), f"{entry}: no test in tests/{name}"
