# SPDX-License-Identifier: BSD-3-Clause
"""The documentation lists every flag of the table and every deviation of the parser."""
from pathlib import Path

from nbnumba.argv.flags import BY_NAME
from nbnumba.argv.parse import DEVIATIONS

USAGE = (Path(__file__).resolve().parent.parent / "docs" / "usage.md").read_text()


def test_every_flag_and_alias_is_documented():
    missing = [name for name in BY_NAME if f"`{name}`" not in USAGE]
    assert not missing


def test_every_parser_deviation_is_documented():
    assert all(line in USAGE for line in DEVIATIONS)
